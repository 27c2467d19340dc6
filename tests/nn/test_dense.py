import pytest
import torch

from mmgraph.nn import DenseLayout
from mmgraph.nn.dense import GraphGroups


def test_round_trip_non_uniform():
    ptr = torch.tensor([0, 2, 2, 5])
    layout = DenseLayout(ptr)
    x = torch.arange(5.0).unsqueeze(1)
    dense = layout.to_dense(x, fill=-1)
    assert dense.shape == (3, 3, 1)
    assert dense.squeeze(-1).tolist() == [[0, 1, -1], [-1, -1, -1], [2, 3, 4]]
    assert layout.mask.tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    assert torch.equal(layout.from_dense(dense), x)


def test_uniform_is_a_view():
    layout = DenseLayout(torch.tensor([0, 3, 6]))
    x = torch.randn(6, 4)
    assert layout.uniform and layout.to_dense(x).data_ptr() == x.data_ptr()
    assert torch.equal(layout.from_dense(layout.to_dense(x)), x)


def test_empty():
    layout = DenseLayout(torch.tensor([0, 0, 0]))
    assert layout.max_nodes == 0 and layout.to_dense(torch.zeros(0, 2)).shape == (2, 0, 2)


def _layouts(counts: dict[str, list[int]]) -> dict[str, DenseLayout]:
    return {t: DenseLayout(torch.tensor([0, *torch.tensor(c).cumsum(0).tolist()])) for t, c in counts.items()}


def test_graph_groups_round_trip_and_padding():
    counts = {"audio": [40, 3, 5, 38, 4, 6, 41, 2], "image": [16, 16, 0, 16, 16, 16, 16, 16]}
    layouts = _layouts(counts)
    groups = GraphGroups(layouts, max_groups=3)
    assert 1 < groups.num_groups <= 3
    # the groups partition the graphs; each block is padded to its own largest graph
    assert sorted(torch.cat(groups.graphs).tolist()) == list(range(8))
    for g, sizes in zip(groups.graphs, groups.max_nodes):
        for t, c in counts.items():
            assert sizes[t] == max(c[i] for i in g.tolist())
    for t in counts:
        x = torch.randn(layouts[t].num_nodes, 3)
        blocks = groups.to_blocks(t, x)
        for block, g, sizes in zip(blocks, groups.graphs, groups.max_nodes):
            assert block.shape == (g.numel(), sizes[t], 3)
            dense = layouts[t].to_dense(x)[g][:, : sizes[t]]  # the same rows, in the group's order
            assert torch.equal(block, dense)
        assert torch.equal(groups.from_blocks(t, blocks), x)
    # long and short clips are not padded together: less padded work than one block
    padded = sum(g.numel() * sum(s.values()) ** 2 for g, s in zip(groups.graphs, groups.max_nodes))
    assert padded < 0.6 * 8 * (41 + 16) ** 2


def test_graph_groups_single_block_cases():
    layouts = _layouts({"audio": [4, 9, 2], "image": [16, 16, 16]})
    one = GraphGroups(layouts, max_groups=1)
    x = torch.randn(15, 2)
    assert one.num_groups == 1 and torch.equal(one.to_blocks("audio", x)[0], layouts["audio"].to_dense(x))
    same = GraphGroups(_layouts({"audio": [5, 5, 5], "image": [16, 16, 16]}))
    assert same.num_groups == 1 and torch.equal(same.graphs[0], torch.arange(3))
    with pytest.raises(ValueError, match="'max_groups' must be 1, 2 or 3 \\(got 4\\)"):
        GraphGroups(layouts, max_groups=4)


def test_graph_groups_select_cuts_masks_to_each_group():
    layouts = _layouts({"audio": [30, 2, 31, 3, 29, 4, 30, 2], "image": [16] * 8})
    groups = GraphGroups(layouts)
    assert groups.num_groups == 2
    pair = torch.rand(8, 1, 31, 16) > 0.5  # (B, 1, N_audio, N_image)
    keys = torch.rand(8, 1, 1, 31) > 0.5  # (B, 1, 1, N_audio): broadcast over queries
    for g, (graphs, sizes) in enumerate(zip(groups.graphs, groups.max_nodes)):
        assert torch.equal(groups.select(g, pair, (None, "audio", "image")), pair[graphs][:, :, : sizes["audio"]])
        assert torch.equal(groups.select(g, keys, (None, "image", "audio")), keys[graphs][..., : sizes["audio"]])
