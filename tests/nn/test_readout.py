"""Readouts: per-type pooling and the modality gate."""

import pytest
import torch

from mmgraph.nn import BatchContext, DenseLayout, GatedReadout
from mmgraph.nn.readout import HubReadout, MeanReadout


def _ctx(counts):
    layouts, batch = {}, {}
    for t, c in counts.items():
        c = torch.tensor(c)
        layouts[t] = DenseLayout(torch.cat([torch.zeros(1, dtype=torch.long), c.cumsum(0)]))
        batch[t] = torch.repeat_interleave(torch.arange(len(c)), c)
    return BatchContext(len(next(iter(counts.values()))), layouts, batch, {}, [])


def test_gated_readout_gate_sums_to_one_over_present_types():
    torch.manual_seed(0)
    ctx = _ctx({"audio": [2, 0, 3], "image": [1, 2, 0]})
    x = {"audio": torch.randn(5, 8), "image": torch.randn(3, 8)}
    r = GatedReadout(8, ["image", "audio"])(x, ctx)
    assert r.graph.shape == (3, 8) and r.node_types == ["audio", "image"]
    assert torch.allclose(r.gate.sum(1), torch.ones(3))
    assert r.gate[1, 0] == 0 and r.gate[2, 1] == 0  # absent types get no weight
    assert r.present.tolist() == [[True, True], [False, True], [True, False]]
    assert torch.equal(r.per_type[1, 0], torch.zeros(8))
    m = MeanReadout(8, ["audio", "image"])(x, ctx)
    assert torch.allclose(m.per_type[0, 0], x["audio"][:2].mean(0))


def test_hub_readout_needs_hub():
    ctx = _ctx({"audio": [1]})
    with pytest.raises(ValueError, match="needs the 'sample' hub"):
        HubReadout(4, ["audio"])({"audio": torch.randn(1, 4)}, ctx)


def test_mean_readout_averages_over_the_present_types_only():
    """Graph 1 has only audio: its embedding is the audio mean itself, not a third of it (not divided by
    every type); graph 0 has both: the mean of the two type means."""
    torch.manual_seed(0)
    ctx = _ctx({"audio": [2, 3, 0], "image": [1, 0, 2], "text": [0, 0, 0]})
    x = {"audio": torch.randn(5, 4), "image": torch.randn(3, 4), "text": torch.randn(0, 4)}
    out = MeanReadout(4, ["audio", "image", "text"])(x, ctx)
    audio0, image0 = x["audio"][:2].mean(0), x["image"][:1].mean(0)
    torch.testing.assert_close(out.graph[0], (audio0 + image0) / 2)
    torch.testing.assert_close(out.graph[1], x["audio"][2:].mean(0))
    torch.testing.assert_close(out.graph[2], x["image"][1:].mean(0))
    assert out.gate.tolist() == [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_hub_readout_returns_the_hub_embedding_itself():
    """The graph embedding is the hub node's, whatever the other nodes hold; per-type pooling is still reported."""
    torch.manual_seed(0)
    ctx = _ctx({"audio": [2, 1], "sample": [1, 1]})
    x = {"audio": torch.randn(3, 4), "sample": torch.randn(2, 4)}
    readout = HubReadout(4, ["audio", "sample"])
    out = readout(x, ctx)
    assert torch.equal(out.graph, x["sample"]) and out.gate is None and out.node_types == ["audio"]
    moved = readout({"audio": x["audio"] + 10.0, "sample": x["sample"]}, ctx)
    assert torch.equal(moved.graph, x["sample"])  # the other nodes do not enter the graph embedding
    assert not torch.allclose(moved.per_type, out.per_type)
    other_hub = readout({"audio": x["audio"], "sample": -x["sample"]}, ctx)
    assert torch.equal(other_hub.graph, -x["sample"])
