"""A modality registered by a user (``tabular``: a vector of floats) goes the whole way through public API only.

Sample → graph → batch → graph model → manifest → ``convert`` → converted folder → ``mmgraph bench``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from mmgraph import GraphConfig, MultimodalSample, Tokenizer, build_graph, collate
from mmgraph.bench import load_suite, run_suite
from mmgraph.config import ConfigMixin
from mmgraph.convert import convert
from mmgraph.datasets import load_dataset
from mmgraph.datasets.manifest import ManifestDataset, Rejection
from mmgraph.featurize import FEATURIZERS, ModalityFeaturizer, NodeSet, register_featurizer
from mmgraph.modality import MODALITIES, register_modality
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.nn.encoders import ENCODERS
from mmgraph.task import Task

NUM_FEATURES = 7


# ------------------------------------------------------------------------- the user's code (as in the README)


def check_vector(value: Any) -> np.ndarray:
    """``tabular``: a non-empty 1-D vector of finite numbers (a list or an array)."""
    array = np.asarray(value) if isinstance(value, (list, tuple)) else value
    if not isinstance(array, np.ndarray) or array.ndim != 1 or array.size == 0:
        raise TypeError(f"tabular: expected a non-empty 1-D vector of numbers, got {value!r:.60}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"tabular: expected numbers, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError("tabular: contains NaN or infinite values")
    array = array.astype(np.float32)  # a copy: the sample owns its data
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class TabularSettings(ConfigMixin):
    """The ``tabular`` table of a GraphConfig: features per node."""

    group_size: int = 1


class TabularFeaturizer(ModalityFeaturizer):
    """One node per group of ``group_size`` features (the last group zero-padded); ``pos`` = group index."""

    modality = "tabular"
    settings_class: ClassVar[type[TabularSettings]] = TabularSettings

    def __init__(self, group_size: int = 1) -> None:
        self.group_size = group_size

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.group_size,)

    def __call__(self, vector: np.ndarray) -> NodeSet:
        n = math.ceil(len(vector) / self.group_size)
        x = torch.zeros(n * self.group_size)
        x[: len(vector)] = torch.tensor(vector)
        return NodeSet(x.reshape(n, self.group_size), torch.arange(n, dtype=torch.float32)[:, None], (n,))


class TabularEncoder(nn.Module):
    """Feature groups → embeddings: a linear map of the values plus a learned embedding of the group index.

    Shapes:
        - input: ``x``: ``(N_tabular, group_size)``; ``pos``: ``(N_tabular, 1)``
        - output: ``(N_tabular, d)``
    """

    def __init__(self, in_features: int, channels: int, max_groups: int = 64) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, channels)
        self.index = nn.Embedding(max_groups, channels)

    @classmethod
    def from_config(cls, node_type: str, config: Any, spec: Any) -> TabularEncoder:
        """The ``ENCODERS`` builder: input width from the data spec, width ``d`` from the model config."""
        return cls(spec.in_features[node_type], config.hidden)

    def forward(self, x: Tensor, pos: Tensor, layout: Any = None) -> Tensor:
        return self.linear(x) + self.index(pos[:, 0].long())


@pytest.fixture(scope="module")
def tabular():
    """Register the modality, its featurizer and its encoder for this module; remove them afterwards."""
    register_modality("tabular", layout="sequence", validate=check_vector, default_encoder="tabular")
    register_featurizer(TabularFeaturizer)
    ENCODERS.register("tabular", TabularEncoder.from_config)
    yield
    for registry in (ENCODERS, FEATURIZERS, MODALITIES):
        registry.unregister("tabular")


# ------------------------------------------------------------------------------------------------- data

WORDS = ["low", "high"]


def make_record(i: int, rng: np.random.Generator) -> dict[str, Any]:
    """Label 1 when the features sum above 0; the text says so only half of the time (the table is needed)."""
    features = rng.normal(size=NUM_FEATURES).round(3)
    label = int(features.sum() > 0)
    word = WORDS[label] if i % 2 else WORDS[int(rng.integers(2))]
    return {"id": f"r{i}", "tabular": features.tolist(), "text": f"reading {word}", "label": label,
            "split": "train" if i < 48 else "val" if i < 56 else "test"}


def write_manifest(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = [json.dumps(make_record(i, rng)) for i in range(64)]
    lines.insert(5, json.dumps({"id": "bad", "tabular": "not numbers", "text": "x", "label": 0}))
    path = folder / "table.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------------------ tests


def test_sample_graph_batch_and_model(tabular):
    sample = MultimodalSample(text="reading high", extra={"tabular": [0.5, -1.0, 2.0]}, y=1)
    assert sample.modalities == ("tabular", "text") and sample.get("tabular").dtype == np.float32
    with pytest.raises(ValueError, match="tabular: contains NaN"):
        MultimodalSample(extra={"tabular": [1.0, float("nan")]})
    with pytest.raises(TypeError, match="tabular: expected a non-empty 1-D vector"):
        MultimodalSample(extra={"tabular": [[1.0]]})

    config = GraphConfig(modalities=("tabular", "text"), tabular={"group_size": 2},
                         text={"tokenizer": Tokenizer.fit(["reading low high"])})
    assert config.settings["tabular"] == TabularSettings(group_size=2)
    assert config.edges == {"tabular": "window:2", "tabular-text": "full", "text": "window:2"}  # sequence layout
    assert GraphConfig.from_dict(json.loads(config.to_json())) == config

    graph = build_graph(sample, config)
    assert graph["tabular"].x.tolist() == [[0.5, -1.0], [2.0, 0.0]]  # two groups, the last padded
    assert graph["tabular", "intra", "tabular"].edge_index.tolist() == [[1, 0], [0, 1]]
    assert graph["tabular", "cross", "text"].edge_index.shape == (2, 4)  # 2 groups × 2 tokens

    rng = np.random.default_rng(0)
    records = [make_record(i, rng) for i in range(32)]
    samples = [MultimodalSample(text=r["text"], extra={"tabular": r["tabular"]}, y=r["label"]) for r in records]
    samples[3] = samples[3].without("tabular")  # a sample missing the user's modality
    batch = collate(samples, config)
    assert batch["tabular"].x.shape == (31 * 4, 2)
    assert torch.bincount(batch["tabular"].batch, minlength=32).tolist() == [4] * 3 + [0] + [4] * 28

    spec = DataSpec.from_graph_config(config, {"label": Task("label", "classification", "y", num_classes=2)})
    assert spec.in_features["tabular"] == 2
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=16, layers=1, heads=2, modality_dropout=0.0), spec)
    assert isinstance(model.encoders["tabular"], TabularEncoder)  # the modality's default encoder
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss, _ = model.loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        assert model.encoders["tabular"].linear.weight.grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_manifest_convert_load_and_bench(tabular, tmp_path):
    manifest = write_manifest(tmp_path)
    rejected = [item for item in ManifestDataset(manifest) if isinstance(item, Rejection)]
    assert [r.id for r in rejected] == ["bad"]
    assert rejected[0].reason.startswith("tabular: expected a non-empty 1-D vector")

    config = GraphConfig(modalities=("tabular", "text"), tabular={"group_size": 2})
    out = tmp_path / "converted"
    report = convert(manifest, out, graph_config=config, progress=False)
    assert report.rejected == 1
    converted = load_dataset(str(out))
    assert converted.graph_config.modalities == ("tabular", "text")
    assert converted.graph_config.settings["tabular"] == TabularSettings(group_size=2)
    # the converted graphs are the direct featurization of the manifest's samples
    direct = ManifestDataset(manifest).to_dataset().featurize("train", converted.graph_config)
    stored = converted.splits["train"]
    assert torch.equal(stored.columns["tabular"].x, direct.columns["tabular"].x)
    assert stored.columns["tabular"].x.shape == (48 * 4, 2)

    # the benchmark runner featurizes raw samples itself: its suite names the manifest (a converted folder as a
    # suite's dataset is a runner limitation of its own: prepare_data re-featurizes stored graphs)
    suite_path = tmp_path / "tabular.toml"
    suite_path.write_text(f"""
name = "tabular"
dataset = "{manifest.as_posix()}"
tasks = ["label"]
seeds = [0]

[graph.tabular]
group_size = 2

[train]
epochs = 3
batch_size = 16
lr = 1e-2

[[models]]
label = "graph"
name = "mmgnn"
hidden = 16
layers = 1
heads = 2
""")
    results = run_suite(load_suite(str(suite_path)), tmp_path / "bench", isolate=False, progress=False)
    (run,) = results["runs"]
    assert results["modalities"] == ["tabular", "text"]
    assert 0.0 <= run["test"]["label/accuracy"] <= 1.0
    assert set(run["robustness"]) == {"without_tabular", "without_text"}
    assert (tmp_path / "bench" / "results.json").exists()


@pytest.fixture
def series():
    """A modality whose manifest values are .npy files, read by its from_record hook."""
    register_modality("series", layout="sequence", validate=check_vector, record="file", from_record=np.load)
    yield
    MODALITIES.unregister("series")


def test_manifest_reads_registered_columns_with_their_record_kind(series, tabular, tmp_path):
    np.save(tmp_path / "a.npy", np.array([1.0, 2.0, 3.0]))
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    rows = [
        {"id": "a", "series": "a.npy", "tabular": [0.5, 1.5]},
        {"id": "escape", "series": "../outside.npy"},
        {"id": "missing", "series": "nope.npy"},
        {"id": "broken", "series": "broken.npy"},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = {item.id: item for item in ManifestDataset(tmp_path / "m.jsonl")}
    assert items["a"].modalities == ("series", "tabular")
    assert items["a"].get("series").tolist() == [1.0, 2.0, 3.0] and items["a"].get("tabular").tolist() == [0.5, 1.5]
    assert "series: path '../outside.npy' leaves the manifest folder" in items["escape"].reason
    assert items["missing"].reason == "series: file not found: nope.npy"
    assert items["broken"].reason.startswith("series: cannot read broken.npy: ")  # the hook's error, named
    # a CSV cell of a JSON modality is parsed as JSON
    (tmp_path / "m.csv").write_text('id,tabular,series\nc,"[1, 2]",a.npy\nd,"[1, 2",\n')
    items = {item.id: item for item in ManifestDataset(tmp_path / "m.csv")}
    assert items["c"].get("tabular").tolist() == [1.0, 2.0]
    assert items["d"].reason == "tabular: expected a JSON value in the CSV cell, got '[1, 2'"
