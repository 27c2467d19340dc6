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


def _scored_readout(cls, channels, node_types):
    """A readout whose pooling score is the node's first feature (x @ e_0) and gate logit its second."""
    readout = cls(channels, node_types)
    with torch.no_grad():
        for t in readout.node_types:
            for lin, axis in ((readout.score[t], 0), (readout.gate[t], 1)):
                lin.weight.zero_()
                lin.weight[0, axis] = 1.0
                lin.bias.zero_()
    return readout


def test_attention_pooling_weights_nodes_by_their_scores_not_uniformly():
    """Non-uniform scores: each type's pooled vector is the softmax(score)-weighted sum of its nodes (not their
    mean), the graph embedding the gate-weighted sum of those; the weights are returned only when asked for."""
    ctx = _ctx({"audio": [3, 1, 0], "image": [2, 0, 0]})
    x = {"audio": torch.tensor([[0.0, 1.0], [1.0, -1.0], [3.0, 0.5], [2.0, 2.0]], dtype=torch.float64),
         "image": torch.tensor([[-1.0, 0.0], [1.0, 3.0]], dtype=torch.float64)}
    readout = _scored_readout(GatedReadout, 2, ["audio", "image"]).double()
    assert repr(readout) == "GatedReadout(2, node_types=['audio', 'image'])"
    out = readout(x, ctx)
    a = torch.softmax(torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64), 0)  # scores = first feature
    i = torch.softmax(torch.tensor([-1.0, 1.0], dtype=torch.float64), 0)
    audio0, image0 = a @ x["audio"][:3], i @ x["image"]
    torch.testing.assert_close(out.per_type[0], torch.stack([audio0, image0]), rtol=0, atol=1e-12)
    assert not torch.allclose(audio0, x["audio"][:3].mean(0))  # a mean would not pass
    torch.testing.assert_close(out.per_type[1, 0], x["audio"][3])  # a type with one node: that node
    gate0 = torch.softmax(torch.stack([audio0[1], image0[1]]), 0)  # gate logit = second feature
    torch.testing.assert_close(out.gate[0], gate0, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.graph[0], gate0[0] * audio0 + gate0[1] * image0, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.graph[1], x["audio"][3])
    # graph 2 has no node at all: zero gate, zero embedding, no NaN
    assert out.gate[2].tolist() == [0.0, 0.0] and out.graph[2].tolist() == [0.0, 0.0]
    assert out.pool_weights is None
    weights = readout(x, ctx, return_pool_weights=True).pool_weights
    torch.testing.assert_close(weights["audio"], torch.cat([a, torch.ones(1, dtype=torch.float64)]))
    torch.testing.assert_close(weights["image"], i)


def test_hub_and_mean_readouts_report_pooling_and_presence():
    ctx = _ctx({"audio": [3, 0], "sample": [1, 1], "text": [0, 1]})
    x = {"audio": torch.tensor([[0.0, 1.0], [1.0, -1.0], [3.0, 0.5]], dtype=torch.float64),
         "sample": torch.zeros(2, 2, dtype=torch.float64), "text": torch.tensor([[4.0, 5.0]], dtype=torch.float64)}
    hub = _scored_readout(HubReadout, 2, ["audio", "sample", "text"]).double()
    assert hub(x, ctx).pool_weights is None
    out = hub(x, ctx, return_pool_weights=True)
    a = torch.softmax(torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64), 0)
    torch.testing.assert_close(out.pool_weights["audio"], a)
    torch.testing.assert_close(out.per_type[0, 0], a @ x["audio"])
    assert out.per_type[1, 1].tolist() == [4.0, 5.0]  # at most one node per graph: that node
    assert out.present.tolist() == [[True, False], [False, True]]
    mean = MeanReadout(2, ["audio"])(x, ctx)  # float64 in, float64 out
    assert mean.graph.dtype == torch.float64 and mean.present.tolist() == [[True], [False]]
    assert mean.node_types == ["audio"]
    torch.testing.assert_close(mean.graph[0], x["audio"].mean(0))
