import pytest
import torch

from mmgraph.graph.edges import EdgeStrategy, aligned_edges, full_edges, grid_edges, knn_edges, window_edges


def edge_set(e):
    return set(map(tuple, e.t().tolist()))


def test_parse_and_str():
    assert EdgeStrategy.parse("grid") == EdgeStrategy("grid", 4)
    assert str(EdgeStrategy.parse("window:3")) == "window:3"
    assert str(EdgeStrategy.parse("aligned:0.1")) == "aligned:0.1"
    assert EdgeStrategy.parse("FULL").is_dense
    for bad, msg in [("star", "unknown edge strategy"), ("grid:6", "grid takes 4 or 8"), ("window:x", "integer"),
                     ("full:2", "takes no parameter"), ("aligned:2", "0 <= w <= 1"), ("knn:0", "k >= 1")]:
        with pytest.raises(ValueError, match=msg):
            EdgeStrategy.parse(bad)


def test_grid_4_and_8():
    e4 = grid_edges(2, 3, 4)
    assert edge_set(e4) == {(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3), (4, 5), (5, 4),
                            (0, 3), (3, 0), (1, 4), (4, 1), (2, 5), (5, 2)}
    e8 = grid_edges(2, 3, 8)
    assert edge_set(e8) - edge_set(e4) == {(0, 4), (4, 0), (1, 5), (5, 1), (1, 3), (3, 1), (2, 4), (4, 2)}


def test_window_knn_full_aligned():
    assert edge_set(window_edges(4, 2)) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (0, 2), (2, 0),
                                            (1, 3), (3, 1)}
    assert window_edges(1, 2).shape == (2, 0)
    knn = knn_edges(torch.arange(5.0).unsqueeze(1), 1)  # nearest neighbour on a line, ties → lower index
    assert edge_set(knn) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)}
    assert full_edges(2, 3, intra=False).shape == (2, 6)
    assert edge_set(full_edges(3, 3, intra=True)) == {(i, j) for i in range(3) for j in range(3) if i != j}
    al = aligned_edges(4, 2, 0.0)  # each node linked to its proportional counterpart only
    assert edge_set(al) == {(0, 0), (1, 0), (2, 1), (3, 1)}
    assert aligned_edges(4, 2, 1.0).shape[1] == 8


def test_layout_checks():
    with pytest.raises(ValueError, match="'grid' links patches of one grid modality"):
        EdgeStrategy.parse("grid").check("sequence", "sequence", True)
    with pytest.raises(ValueError, match="within one modality only"):
        EdgeStrategy.parse("window:1").check("sequence", "grid", False)
    with pytest.raises(ValueError, match="two different sequence modalities"):
        EdgeStrategy.parse("aligned:0.1").check("grid", "sequence", False)


def test_templates_are_cached_and_in_range():
    s = EdgeStrategy.parse("full")
    a = s.local_edges((3,), (4,), False)
    assert a is s.local_edges((3,), (4,), False)
    assert a[0].max() < 3 and a[1].max() < 4
