"""CrossModalConv: CrossModalAttention called as PyG calls a heterogeneous layer (float64)."""

import pytest
import torch
from torch_geometric.nn import Linear

from mmgraph.nn import BatchContext
from mmgraph.nn.conv import CrossModalAttention, CrossModalConv
from tests.nn.conftest import random_x


def test_pyg_call_equals_the_batch_context_call(mixed_batch_factory):
    batch, config = mixed_batch_factory(hub=True, full_edges="list")
    torch.manual_seed(0)
    conv = CrossModalConv(16, *config.metadata(), heads=4).double().eval()
    torch.manual_seed(0)
    ref = CrossModalAttention(16, *config.metadata(), heads=4).double().eval()
    assert conv.state_dict().keys() == ref.state_dict().keys()
    x = random_x(batch)
    expected = ref(x, BatchContext.from_batch(batch, *config.metadata()))  # dense blocks from the marks
    for batch_dict in (batch.batch_dict, None):  # per-graph blocks, or the batch as one graph with its edges
        out = conv(x, batch.edge_index_dict, batch_dict)
        assert out.keys() == x.keys()
        for t in x:
            assert torch.allclose(out[t], expected[t], atol=1e-10, rtol=0), t
    # and it still takes a BatchContext, as mmgraph's models call their layers
    again = conv(x, BatchContext.from_batch(batch, *config.metadata()))
    assert all(torch.equal(again[t], expected[t]) for t in x)


def test_drops_into_a_users_pyg_model(mixed_batch_factory):
    batch, config = mixed_batch_factory(full_edges="list")
    x_dict = {t: batch[t].pos.float() for t in batch.node_types}  # any widths: projected first

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.ModuleDict({t: Linear(-1, 16) for t in config.node_types})
            self.conv = CrossModalConv(16, *config.metadata(), heads=2)

        def forward(self, x_dict, edge_index_dict):
            h = {t: self.proj[t](x) for t, x in x_dict.items()}
            return self.conv(h, edge_index_dict)

    net = Net()
    out = net(x_dict, batch.edge_index_dict)
    assert {t: v.shape for t, v in out.items()} == {t: (batch[t].num_nodes, 16) for t in config.node_types}
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    # a node type left out of x_dict has no nodes; a missing edge type sends nothing
    edges = {et: e for et, e in batch.edge_index_dict.items() if et[0] != "audio"}
    out = net({t: v for t, v in x_dict.items() if t != "audio"}, edges)
    assert set(out) == {"image", "text"} and all(torch.isfinite(v).all() for v in out.values())
    with pytest.raises(ValueError, match="node types \\['video'\\] this layer was not built for"):
        net.conv({"video": torch.zeros(1, 16)}, {})
