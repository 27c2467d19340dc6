"""build_graph and collate: schema, equality with PyG batching, mixed modality sets, properties."""

import importlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch

from mmgraph import FeaturizedSample, GraphConfig, Tokenizer, build_graph, collate, to_networkx
from mmgraph.graph import Featurizer, counts_by_type, dense_edge_types, materialize_dense_edges, write_graphml
from tests.conftest import WORDS, make_sample


def edge_set(e):
    return set(map(tuple, e.t().tolist()))


def assert_batches_equal(a, b):
    assert sorted(a.node_types) == sorted(b.node_types)
    assert sorted(a.edge_types) == sorted(b.edge_types)
    for nt in a.node_types:
        assert torch.equal(a[nt].x, b[nt].x), nt
        assert torch.equal(a[nt].pos, b[nt].pos), nt
        assert torch.equal(a[nt].batch, b[nt].batch), nt
        assert torch.equal(a[nt].ptr, b[nt].ptr), nt
    for et in a.edge_types:
        assert edge_set(a[et].edge_index) == edge_set(b[et].edge_index), et
        assert a[et].edge_index.shape == b[et].edge_index.shape, et
    assert torch.equal(a.y, b.y)
    assert list(a.get("id") or []) == list(b.get("id") or [])


def test_build_graph_schema(config):
    rng = np.random.default_rng(0)
    g = build_graph(make_sample(rng, y=1, sid="s0"), config)
    assert sorted(g.node_types) == ["audio", "image", "text"]
    assert g["image"].x.shape == (49, 48) and g["image"].pos.shape == (49, 2)  # RGB by default: grey repeated
    assert g["text"].x.dtype == torch.int64
    assert g["audio"].x.shape == (51, 40)
    assert ("audio", "cross", "image") in g.edge_types and ("image", "rev_cross", "audio") in g.edge_types
    e = g["audio", "cross", "image"].edge_index
    assert e.shape == (2, 51 * 49)
    assert edge_set(g["image", "rev_cross", "audio"].edge_index) == edge_set(e.flip(0))
    assert g.y.tolist() == [1] and g.id == "s0"


def test_missing_modality_is_zero_nodes_not_an_error(config):
    rng = np.random.default_rng(1)
    g = build_graph(make_sample(rng, ("image",)), config)
    assert g["audio"].num_nodes == 0 and g["audio"].x.shape == (0, 40)
    assert g["text"].x.shape == (0,)
    assert g["image", "rev_cross", "audio"].edge_index.shape == (2, 0)


def test_unknown_modality_and_missing_tokenizer_explained(tokenizer):
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="not list"):
        build_graph(make_sample(rng, ("text",)), GraphConfig(modalities=("image",)))
    with pytest.raises(ValueError, match="needs a tokenizer"):
        build_graph(make_sample(rng, ("text",)), GraphConfig())


@pytest.mark.parametrize("hub", [False, True])
def test_collate_equals_pyg_batching_on_uniform_modalities(tokenizer, hub):
    rng = np.random.default_rng(3)
    config = GraphConfig(text={"tokenizer": tokenizer}, hub=hub, edges={"audio-text": "aligned:0.1", "image": "grid:8"})
    samples = [make_sample(rng, n_words=int(rng.integers(1, 9)), audio_len=int(rng.integers(100, 6000)),
                           y=i % 3, sid=f"s{i}") for i in range(6)]
    feats = Featurizer(config).batch(samples)
    ours = collate(feats, config)
    theirs = Batch.from_data_list([build_graph(f, config) for f in feats])
    assert_batches_equal(ours, theirs)
    # from raw samples: the same graphs, features equal up to float rounding of batched STFTs
    raw = collate(samples, config)
    for nt in raw.node_types:
        assert torch.allclose(raw[nt].x.float(), ours[nt].x.float(), atol=1e-4)
    assert ours.num_graphs == 6


def test_collate_accepts_featurized_samples(config):
    rng = np.random.default_rng(4)
    samples = [make_sample(rng, y=i) for i in range(3)]
    feats = Featurizer(config).batch(samples)
    assert isinstance(feats[0], FeaturizedSample)
    assert_batches_equal(collate(feats, config), collate(samples, config))  # same batched featurizer


def test_mixed_modality_sets_keep_every_type(config):
    rng = np.random.default_rng(5)
    sets = [("image",), ("audio", "text"), ("audio", "image", "text"), ("text",), ("audio",)]
    samples = [make_sample(rng, m, y=i) for i, m in enumerate(sets)]
    batch = collate(samples, config)
    assert sorted(batch.node_types) == ["audio", "image", "text"]
    assert sorted(batch.edge_types) == sorted(config.edge_types)
    for nt in ["audio", "image", "text"]:
        expected = [s.nodes[nt].x.shape[0] if nt in s.nodes else 0 for s in Featurizer(config).batch(samples)]
        assert batch[nt].ptr.diff().tolist() == expected
        assert torch.bincount(batch[nt].batch, minlength=5).tolist() == expected
    # image-audio edges only in graph 2 (the only one with both)
    e = batch["image", "rev_cross", "audio"].edge_index
    assert set(batch["image"].batch[e[0]].tolist()) == {2}
    # plain PyG batching drops types the first sample lacks; ours does not
    assert len(collate(samples[:1], config).node_types) == 3


def test_dense_mode_and_materialize(config):
    rng = np.random.default_rng(6)
    samples = [make_sample(rng, y=i) for i in range(4)]
    full = collate(samples, config)
    dense = collate(samples, config, full_edges="dense")
    assert set(dense_edge_types(dense)) == set(config.dense_edge_types)
    for et in config.dense_edge_types:
        assert "edge_index" not in dense[et]
    back = materialize_dense_edges(dense)
    for et in config.edge_types:
        assert edge_set(back[et].edge_index) == edge_set(full[et].edge_index)


def test_labels_targets_policy(config):
    rng = np.random.default_rng(7)
    s = [make_sample(rng, ("text",), y=2), make_sample(rng, ("text",))]
    b = collate(s, config)
    assert b.y.tolist() == [2, -1]  # unlabelled → ignore index
    reg = collate([FeaturizedSample({}, y=1.5, targets={"snr": 2.0}), FeaturizedSample({}, y=None)], config)
    assert reg.y[0].item() == 1.5 and torch.isnan(reg.y[1]) and torch.isnan(reg.snr[1])
    with pytest.raises(ValueError, match="mixes class labels"):
        collate([FeaturizedSample({}, y=1), FeaturizedSample({}, y=0.5)], config)


def test_to_networkx_round_trip(config, tmp_path):
    rng = np.random.default_rng(8)
    batch = collate([make_sample(rng, ("image", "text")), make_sample(rng, ("audio",))], config, full_edges="dense")
    g = to_networkx(batch)
    nodes, edges = counts_by_type(g)
    for nt in batch.node_types:
        assert nodes.get(nt, 0) == batch[nt].num_nodes
    full = materialize_dense_edges(batch)
    for et in full.edge_types:
        assert edges.get("__".join(et), 0) == full[et].edge_index.shape[1]
    write_graphml(batch, tmp_path / "g.graphml")
    assert (tmp_path / "g.graphml").stat().st_size > 0


def test_config_round_trip(tmp_path, tokenizer):
    cfg = GraphConfig(text={"tokenizer": tokenizer}, edges={"text-audio": "aligned:0.2", "image": "knn:3"}, hub=True)
    assert GraphConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.edges["audio-text"] == "aligned:0.2"
    (tmp_path / "g.toml").write_text('[graph]\nmodalities = ["image", "text"]\n[graph.edges]\n"image" = "grid:8"\n')
    loaded = GraphConfig.from_toml(tmp_path / "g.toml")
    assert loaded.modalities == ("image", "text") and loaded.edges["image"] == "grid:8"
    with pytest.raises(ValueError, match="unknown GraphConfig fields"):
        GraphConfig.from_dict({"patch": 3})
    with pytest.raises(ValueError, match="edges key 'video'"):
        GraphConfig(edges={"video": "full"})


# ------------------------------------------------------------------------------- property tests

modality_sets = st.sets(st.sampled_from(["audio", "image", "text"]), min_size=1).map(lambda s: tuple(sorted(s)))
strategies = {
    "image": st.sampled_from(["grid", "grid:8", "window:2", "knn:3", "full", "none"]),
    "text": st.sampled_from(["window:1", "window:3", "knn:2", "full", "none"]),
    "audio": st.sampled_from(["window:2", "knn:4", "full", "none"]),
    "audio-image": st.sampled_from(["full", "none"]),
    "image-text": st.sampled_from(["full", "none"]),
    "audio-text": st.sampled_from(["full", "aligned:0.1", "aligned:0.0", "none"]),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    sets=st.lists(modality_sets, min_size=1, max_size=6),
    hub=st.booleans(),
    patch=st.sampled_from([3, 4, 7]),
)
def test_collate_properties(data, sets, hub, patch):
    edges = {k: data.draw(v) for k, v in strategies.items()}
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])}, edges=edges, hub=hub,
                         image={"patch_size": patch})
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    samples = [
        make_sample(rng, m, image_hw=tuple(rng.integers(1, 20, size=2)), n_words=int(rng.integers(1, 6)),
                    audio_len=int(rng.integers(1, 2000)), y=i)
        for i, m in enumerate(sets)
    ]
    # featurized once, so that the exact comparison below is about graph building and batching only
    # (a batched STFT and a single one differ in the last float bits)
    feats = Featurizer(config).batch(samples)
    batch = collate(feats, config)
    assert batch.num_graphs == len(samples)
    assert sorted(batch.node_types) == config.node_types
    assert sorted(batch.edge_types) == sorted(config.edge_types)
    for nt in config.modalities:
        counts = [s.num_nodes(nt) for s in feats]
        assert batch[nt].ptr.diff().tolist() == counts
        assert batch[nt].batch.tolist() == [g for g, c in enumerate(counts) for _ in range(c)]
    for et in batch.edge_types:
        src, _, dst = et
        e = batch[et].edge_index
        if e.numel():
            assert int(e[0].max()) < batch[src].num_nodes and int(e[1].max()) < batch[dst].num_nodes
            assert int(e.min()) >= 0
            # no edge crosses graphs
            assert torch.equal(batch[src].batch[e[0]], batch[dst].batch[e[1]])
    if all(s.modalities == sets[0] for s in samples):
        theirs = Batch.from_data_list([build_graph(f, config) for f in feats])
        assert_batches_equal(batch, theirs)


@pytest.mark.parametrize("seed", range(4))
def test_full_bipartite_edges_equal_the_masked_template(seed):
    from mmgraph.graph.collate import full_bipartite_edges
    from mmgraph.graph.edges import EdgeStrategy

    gen = torch.Generator().manual_seed(seed)
    num_graphs = 7
    n_src = torch.randint(0, 5, (num_graphs,), generator=gen)
    n_dst = torch.randint(0, 4, (num_graphs,), generator=gen)
    if seed == 0:
        n_src[n_dst > 0] = 3  # every graph with destinations has the same sources: the broadcast branch
    src_ptr = torch.cat([torch.zeros(1, dtype=torch.long), n_src.cumsum(0)])
    dst_ptr = torch.cat([torch.zeros(1, dtype=torch.long), n_dst.cumsum(0)])
    # reference: the largest graph's template masked per graph, graph-major (the general path)
    template = EdgeStrategy.parse("full").local_edges((int(n_src.max()),), (int(n_dst.max()),), False)
    keep = (template[0] < n_src[:, None]) & (template[1] < n_dst[:, None])
    offsets = torch.stack([src_ptr[:-1], dst_ptr[:-1]])
    expected = (template[:, None, :] + offsets[:, :, None])[:, keep]
    assert torch.equal(full_bipartite_edges(src_ptr, dst_ptr), expected)
    assert full_bipartite_edges(src_ptr, dst_ptr).shape == (2, int((n_src * n_dst).sum()))


def test_collate_runs_on_one_thread_and_restores_the_count(config, monkeypatch):
    collate_module = importlib.import_module("mmgraph.graph.collate")  # the package exports a function of that name

    seen = []
    assemble = collate_module.assemble_batch

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return assemble(*args, **kwargs)

    monkeypatch.setattr(collate_module, "assemble_batch", recording)
    rng = np.random.default_rng(0)
    samples = [make_sample(rng, ("image", "text"), y=i) for i in range(3)]
    before = torch.get_num_threads()
    with collate_module.intra_op_threads(2):
        batch = collate(samples, config, full_edges="list")
        assert torch.get_num_threads() == 2
    assert seen == [1] and torch.get_num_threads() == before
    assert_batches_equal(batch, collate(samples, config, full_edges="list"))  # at the caller's thread count
