"""The drawing layout (``graph_layout``), ``to_networkx(layout=True)`` and ``plot_graph``."""

import networkx as nx
import numpy as np
import pytest

from mmgraph import build_graph, collate, plot_graph, to_networkx
from mmgraph.graph import graph_layout
from tests.conftest import make_sample


def test_layout_puts_patches_on_their_grid_and_sequences_on_lines(config):
    g = build_graph(make_sample(np.random.default_rng(0), n_words=3), config.replace(hub=True))
    layout = graph_layout(g)
    assert set(layout) == {(t, i) for t in g.node_types for i in range(g[t].num_nodes)}
    side = 7  # 28 × 28 pixels in 4 × 4 patches
    for i, (r, c) in enumerate(g["image"].pos.long().tolist()):
        assert layout[("image", i)] == pytest.approx(((c + 0.5) / side, 1.0 - (r + 0.5) / side))
    assert [c for i in range(3) for c in layout[("text", i)]] == pytest.approx([1 / 6, -0.65, 0.5, -0.65, 5 / 6, -0.65])
    assert {layout[("audio", i)][1] for i in range(g["audio"].num_nodes)} == {-0.35}
    assert layout[("sample", 0)] == pytest.approx((1.25, 0.3))


def test_batch_layout_sets_graphs_side_by_side(config):
    rng = np.random.default_rng(1)
    samples = [make_sample(rng, n_words=2), make_sample(rng, ("text",), n_words=2)]
    batch = collate(samples, config, full_edges="dense")
    layout = graph_layout(batch)
    xs = {0: [], 1: []}
    for t in batch.node_types:
        for i, g in enumerate(batch[t].batch.tolist()):
            xs[g].append(layout[(t, i)][0])
    assert max(xs[0]) < min(xs[1])  # graph 1 right of graph 0
    assert layout[("text", 0)][1] == layout[("text", 2)][1]  # token 0 of each graph: same line
    g = to_networkx(batch, layout=True)
    assert nx.get_node_attributes(g, "xy") == layout
    assert g.number_of_edges() > 0  # dense blocks materialised
    assert "xy" not in next(iter(to_networkx(batch).nodes.values()))


def test_plot_graph_writes_a_png(config, tmp_path):
    rng = np.random.default_rng(2)
    batch = collate([make_sample(rng), make_sample(rng, ("image", "text"))], config)
    fig = plot_graph(batch, tmp_path / "g.png", title="two graphs")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert fig.axes[0].get_title() == "two graphs"
    values = {t: batch[t].pos[:, 0] for t in batch.node_types}
    assert len(plot_graph(batch, node_values=values).axes) == 2  # the graph and its colour bar
