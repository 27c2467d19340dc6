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


# ------------------------------------------------------------------ against a reference computation

# node type "a" is the source of two relations: ("a", "near", "a") first, ("a", "to", "b") second in sorted order
TWO_OUT = [("a", "near", "a"), ("a", "to", "b"), ("b", "to", "a")]


def two_outgoing_batch():
    """Two graphs (a: 3 + 2 nodes, b: 2 + 1) with every relation present; "b" hears only ``("a", "to", "b")``."""
    from torch_geometric.data import Batch, HeteroData

    graphs = []
    for n_a, n_b, near, a_to_b, b_to_a in [
        (3, 2, [[0, 1, 2, 2], [1, 2, 0, 1]], [[0, 1, 2, 2], [0, 0, 1, 0]], [[0, 1], [0, 2]]),
        (2, 1, [[0, 1], [1, 0]], [[0, 1], [0, 0]], [[0], [1]]),
    ]:
        g = HeteroData()
        g["a"].num_nodes, g["b"].num_nodes = n_a, n_b
        for et, edges in zip(TWO_OUT, (near, a_to_b, b_to_a)):
            g[et].edge_index = torch.tensor(edges)
        graphs.append(g)
    return Batch.from_data_list(graphs)


def reference_attention(layer, x, edges):
    """The class docstring's equations, node by node: per relation ``k = (W_K LN x) @ W_att_r`` and
    ``v = (W_V LN x) @ W_msg_r`` per head, ``mu_r q.k / sqrt(dh)`` softmaxed over all incoming edges."""
    d, H, dh = layer.channels, layer.heads, layer.head_dim
    out = {}
    for t in layer.node_types:
        h = x[t]
        incoming = [et for et in layer.edge_types if et[2] == t]
        if incoming:
            q = layer.qkv[t](layer.norm_attn[t](h))[:, :d].view(-1, H, dh)
            scored = [[] for _ in range(h.shape[0])]  # per destination node: (score (H,), value (H, dh))
            for et in incoming:
                r = layer.edge_types.index(et)
                projected = layer.qkv[et[0]](layer.norm_attn[et[0]](x[et[0]]))
                k, v = projected[:, d : 2 * d].view(-1, H, dh), projected[:, 2 * d :].view(-1, H, dh)
                for src, dst in edges[et].t().tolist():
                    k_r = torch.stack([k[src, i] @ layer.rel_att[r, i] for i in range(H)])
                    v_r = torch.stack([v[src, i] @ layer.rel_msg[r, i] for i in range(H)])
                    scored[dst].append((layer.rel_prior[r] * (q[dst] * k_r).sum(-1) / dh**0.5, v_r))
            message = torch.zeros(h.shape[0], H, dh, dtype=h.dtype)
            for i, pairs in enumerate(scored):
                if pairs:
                    alpha = torch.softmax(torch.stack([s for s, _ in pairs]), dim=0)  # (E_i, H)
                    message[i] = (alpha[..., None] * torch.stack([v for _, v in pairs])).sum(0)
            h = h + layer.out[t](message.reshape(-1, d))
        out[t] = h + layer.ff[t](layer.norm_ff[t](h))
    return out


@pytest.mark.parametrize("paths", ["sparse", "dense", "mixed"])
def test_matches_a_reference_computation_with_two_outgoing_relations(paths):
    """Every path equals the equations computed edge by edge, for a node type ("a") that is the source of
    two relations: each relation's keys and values come from its own slice of the fused projection
    (dense = sparse alone cannot see a slice mix-up that both paths share)."""
    batch = two_outgoing_batch()
    torch.manual_seed(0)
    layer = CrossModalAttention(8, ["a", "b"], TWO_OUT, heads=2).double().eval()
    with torch.no_grad():  # far from the identity start, so that every relation's transform shows
        for p in (layer.rel_att, layer.rel_msg):
            p.copy_(torch.randn_like(p))
        layer.rel_prior.copy_(torch.rand_like(layer.rel_prior) + 0.5)
        for t in layer.node_types:
            for norm in (layer.norm_attn[t], layer.norm_ff[t]):
                norm.weight.copy_(torch.rand_like(norm.weight) + 0.5)
                norm.bias.copy_(torch.randn_like(norm.bias))
    g = torch.Generator().manual_seed(1)
    x = {t: torch.randn(batch[t].num_nodes, 8, generator=g, dtype=torch.float64) for t in ("a", "b")}
    # block sizes (N_src max * N_dst max): near 9, a→b 6, b→a 6; limit 8 puts "a" on the mixed path
    kwargs = {"sparse": {"use_dense": False}, "dense": {"use_dense": True, "dense_block_limit": 10**6},
              "mixed": {"use_dense": True, "dense_block_limit": 8}}[paths]
    ctx = BatchContext.from_batch(batch, ["a", "b"], TWO_OUT, **kwargs)
    assert bool(ctx.sparse_edges) == (paths != "dense") and bool(ctx.dense_edge_types) == (paths != "sparse")
    with torch.no_grad():
        got = layer(x, ctx)
        expected = reference_attention(layer, x, {et: batch[et].edge_index for et in TWO_OUT})
    for t in ("a", "b"):
        torch.testing.assert_close(got[t], expected[t], atol=1e-10, rtol=0)
