"""CrossModalAttention: shapes, gradients, and dense path ≡ sparse path (float64)."""

import pytest
import torch

from mmgraph.graph import materialize_dense_edges
from mmgraph.nn import BatchContext, CrossModalAttention, HeteroGATv2Layer, HeteroSAGELayer, HGTLayer
from tests.nn.conftest import random_x


def make_layer(config, channels=16, seed=0):
    torch.manual_seed(seed)
    return CrossModalAttention(channels, config.node_types, config.edge_types, heads=4).double()


def run(layer, batch, config, x, **ctx_kwargs):
    ctx = BatchContext.from_batch(batch, config.node_types, config.edge_types, **ctx_kwargs)
    return layer(x, ctx)


def test_shapes_gradients_repr(mixed_batch_factory):
    batch, config = mixed_batch_factory()
    layer = make_layer(config)
    x = random_x(batch)
    out = run(layer, batch, config, x)
    for t in config.node_types:
        assert out[t].shape == x[t].shape
    sum(o.sum() for o in out.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters() if p.requires_grad)
    assert repr(layer) == "CrossModalAttention(16, heads=4, node_types=3, edge_types=9)"
    with pytest.raises(ValueError, match="'channels' \\(got 30\\) must be divisible by 'heads' \\(got 4\\)"):
        CrossModalAttention(30, ["a"], [], heads=4)


@pytest.mark.parametrize("hub", [False, True])
@pytest.mark.parametrize("intra", ["window:2", "full", "knn:2"])
def test_dense_path_equals_sparse_path(mixed_batch_factory, hub, intra):
    batch, config = mixed_batch_factory(hub=hub, edges={"audio": intra, "text": intra, "audio-text": "full"},
                                        full_edges="list")
    layer = make_layer(config)
    layer.eval()
    x = random_x(batch)
    dense = run(layer, batch, config, x, use_dense=True, dense_block_limit=0)
    sparse = run(layer, batch, config, x, use_dense=False)
    blocks = run(layer, batch, config, x, use_dense=True, dense_block_limit=10**6)
    for t in config.node_types:
        assert torch.allclose(dense[t], sparse[t], atol=1e-10, rtol=0), t
        assert torch.allclose(blocks[t], sparse[t], atol=1e-10, rtol=0), t
    # the dense path never needed the full blocks' edge lists
    implicit, _ = mixed_batch_factory(hub=hub, edges={"audio": intra, "text": intra, "audio-text": "full"})
    again = run(layer, implicit, config, x, use_dense=True)
    for t in config.node_types:
        assert torch.allclose(again[t], sparse[t], atol=1e-10, rtol=0), t


def test_gradients_agree_between_paths(mixed_batch_factory):
    batch, config = mixed_batch_factory(full_edges="list")
    layer = make_layer(config)
    grads = []
    for kwargs in ({"use_dense": True, "dense_block_limit": 10**6}, {"use_dense": False}):
        layer.zero_grad()
        x = random_x(batch)
        out = run(layer, batch, config, x, **kwargs)
        sum((o * o).sum() for o in out.values()).backward()
        grads.append([p.grad.clone() for p in layer.parameters()] + [x[t].grad for t in sorted(x)])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-9)


def test_missing_modality_gets_normalised_messages_and_no_nan(mixed_batch_factory):
    batch, config = mixed_batch_factory(sets=[("image",), ("image",)])
    layer = make_layer(config)
    out = run(layer, batch, config, random_x(batch))
    assert out["audio"].shape[0] == 0 and torch.isfinite(out["image"]).all()


def test_independent_of_node_type_order(mixed_batch_factory):
    batch, config = mixed_batch_factory()
    a = make_layer(config)
    b = CrossModalAttention(16, list(reversed(config.node_types)), list(reversed(config.edge_types)), heads=4)
    b = b.double()
    b.load_state_dict(a.state_dict())
    x = random_x(batch)
    xa = run(a, batch, config, x)
    xb = run(b, batch, config, dict(reversed(list(x.items()))))
    for t in config.node_types:
        assert torch.allclose(xa[t], xb[t])


def test_modality_dropout_masks_sources(mixed_batch_factory):
    batch, config = mixed_batch_factory(full_edges="list")
    layer = make_layer(config).eval()
    x = random_x(batch)
    ctx = BatchContext.from_batch(batch, config.node_types, config.edge_types)
    keep = {"audio": torch.zeros(batch["audio"].num_nodes, dtype=torch.bool)}
    dropped = layer(x, ctx.drop_nodes(keep))
    # same as a batch in which audio sends nothing: compare with the sparse path without audio edges
    ctx_sparse = BatchContext.from_batch(batch, config.node_types, config.edge_types, use_dense=False)
    reference = layer(x, ctx_sparse.drop_nodes(keep))
    for t in ("image", "text"):
        assert torch.allclose(dropped[t], reference[t], atol=1e-10)
    full = layer(x, ctx)
    assert not torch.allclose(full["image"], dropped["image"])


@pytest.mark.parametrize("cls", [HGTLayer, HeteroGATv2Layer, HeteroSAGELayer])
def test_pyg_wrappers(mixed_batch_factory, cls):
    batch, config = mixed_batch_factory()
    torch.manual_seed(0)
    layer = cls(16, config.node_types, config.edge_types, heads=4)
    x = {t: v.float().detach().requires_grad_() for t, v in random_x(batch).items()}
    ctx = BatchContext.from_batch(batch, config.node_types, config.edge_types)
    out = layer(x, ctx)
    assert all(out[t].shape == x[t].shape for t in x)
    sum(o.sum() for o in out.values()).backward()
    assert x["image"].grad is not None
    # complete blocks were materialised for PyG: same edges as the list form
    listed = materialize_dense_edges(batch)
    for et in config.dense_edge_types:
        assert ctx.all_edges()[et].shape == listed[et].edge_index.shape
