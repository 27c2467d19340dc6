"""RunFolder / RunInfo: run.json keeps the layout every earlier version wrote; paths and checkpoint lookup."""

import json

import pytest

from mmgraph.datasets import load_dataset
from mmgraph.graph.config import GraphConfig
from mmgraph.models import ModelConfig
from mmgraph.task import Task
from mmgraph.train import RunFolder, RunInfo, TrainConfig

GRAPH = load_dataset("digits").fit_graph_config().to_dict()  # as a run stores it (with its tokenizer)


def stored(**facts):
    """A run.json as train_run / the bench runner / pretrain wrote it before RunInfo existed."""
    return {**facts, "graph_config": GRAPH, "model_config": ModelConfig(hidden=8).to_dict(),
            "train_config": TrainConfig(epochs=2).to_dict(),
            "tasks": {"digit": {"name": "digit", "kind": "classification", "target": "y", "num_classes": 10}}}


@pytest.mark.parametrize("layout", [
    stored(data="digits", root=None, data_seed=0, dataset="digits"),  # mmgraph train
    {**stored(data="avmnist", root="/data", data_seed=0, dataset="avmnist"), "label": "graph model"},  # bench
])
def test_run_json_of_training_runs_reads_and_writes_back_unchanged(tmp_path, layout):
    (tmp_path / "run.json").write_text(json.dumps(layout))
    info = RunFolder(tmp_path).read_info()
    assert info.kind == "train" and info.model_config.hidden == 8 and info.train_config.epochs == 2
    assert info.tasks == {"digit": Task("digit", "classification", "y", num_classes=10)}
    assert list(info.to_dict().items()) == list(layout.items())  # same keys, same order, same values
    RunFolder(tmp_path / "copy").write_info(info)
    assert (tmp_path / "copy" / "run.json").read_text() == json.dumps(layout, indent=2)


def test_pretraining_run_json_keeps_its_kind_config_and_extra_facts(tmp_path):
    pretrain = {"objective": "both", "mask_ratio": 0.5}
    layout = {"kind": "pretrain", "dataset": "avmnist", "samples": 800, **stored(), "tasks": {}}
    layout = {k: layout[k] for k in ("kind", "dataset", "samples", "graph_config", "model_config")}
    layout.update(pretrain_config=pretrain, train_config=TrainConfig().to_dict(), tasks={})
    info = RunInfo.from_dict(layout)
    assert info.kind == "pretrain" and info.extra == {"samples": 800} and info.data is None
    assert info.pretrain_config == pretrain and list(info.to_dict().items()) == list(layout.items())


def test_paths_and_checkpoint_lookup(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.last_checkpoint == tmp_path / "run" / "checkpoints" / "last.pt"
    assert folder.checkpoint() == folder.best_checkpoint == tmp_path / "run" / "checkpoints" / "best.pt"
    assert folder.test_metrics.name == "test_metrics.json" and folder.metrics_csv.name == "metrics.csv"
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        folder.checkpoint("middle")
    with pytest.raises(ValueError, match="is not a run folder \\(no run.json\\)"):
        folder.read_info()
    with pytest.raises(ValueError, match="--resume: .* holds no run \\(no run.json\\)"):
        folder.read_info_for_resume()
    assert not folder.has_info() and not folder.has_checkpoint() and RunFolder.containing(folder.path) is None
    folder.write_info(RunInfo(GraphConfig(), ModelConfig(), TrainConfig(), data="digits", root=None, data_seed=0))
    folder.last_checkpoint.parent.mkdir()
    folder.last_checkpoint.write_bytes(b"")
    assert folder.has_info() and folder.has_checkpoint()
    # an init source is a run folder or a checkpoint inside one
    assert RunFolder.containing(folder.path).path == folder.path
    assert RunFolder.containing(folder.last_checkpoint).path == folder.path
    assert RunFolder.checkpoint_of(folder.path) == folder.best_checkpoint
    assert RunFolder.checkpoint_of(folder.last_checkpoint) == folder.last_checkpoint


def test_run_info_errors():
    with pytest.raises(ValueError, match="lacks \\['train_config'\\]"):
        RunInfo.from_dict({"graph_config": {}, "model_config": {}}, "x/run.json")
    with pytest.raises(ValueError, match="run kind must be one of"):
        RunInfo(GraphConfig(), ModelConfig(), TrainConfig(), kind="finetune")
