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
