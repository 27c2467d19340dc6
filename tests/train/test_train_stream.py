"""Training from a stream: the same run as in memory when the buffer holds the split; mmgraph train --stream."""

import json

import pytest
import torch

from mmgraph.cli import main
from mmgraph.convert import convert
from mmgraph.datasets.on_disk import load_converted
from mmgraph.datasets.streaming import StreamingGraphDataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.train import TrainConfig, Trainer, seed_everything


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("train-stream") / "digits"
    convert("digits", out, chunk_size=100, progress=False)
    return out


def _fit(train, val, spec, **config):
    torch.set_num_threads(1)
    seed_everything(0)
    model = build_model(ModelConfig(hidden=16, layers=1), spec)  # modality dropout on: the RNG streams must agree
    return Trainer(model, TrainConfig(epochs=2, batch_size=64, progress=False, **config)).fit(train, val).history


def test_stream_with_a_whole_split_buffer_trains_as_in_memory(converted):
    dataset = load_converted(converted)
    spec = DataSpec.from_graph_config(dataset.graph_config, dataset.tasks)
    in_memory = _fit(dataset.splits["train"], dataset.splits["val"], spec)
    streamed = _fit(StreamingGraphDataset(converted, batch_size=64, buffer_size=10**6), dataset.splits["val"], spec)
    for a, b in zip(in_memory, streamed, strict=True):
        assert {k: v for k, v in a.items() if k != "epoch_seconds"} == {k: v for k, v in b.items()
                                                                        if k != "epoch_seconds"}
    # a small buffer shuffles otherwise but trains all the same
    small = _fit(StreamingGraphDataset(converted, batch_size=64, buffer_size=128), dataset.splits["val"], spec)
    assert small[0]["train_loss"] != in_memory[0]["train_loss"] and small[-1]["lr"] == in_memory[-1]["lr"]


def test_stream_must_match_the_train_config(converted):
    dataset = load_converted(converted)
    spec = DataSpec.from_graph_config(dataset.graph_config, dataset.tasks)
    with pytest.raises(ValueError, match=r"stream's batch_size \(32\) differs from the trainer's \(64\)"):
        _fit(StreamingGraphDataset(converted, batch_size=32), None, spec)
    with pytest.raises(ValueError, match=r"stream's seed \(1\) differs from the trainer's \(0\)"):
        _fit(StreamingGraphDataset(converted, batch_size=64, seed=1), None, spec)


def test_cli_train_stream(converted, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", str(converted), "--out", str(out), "--epochs", "1", "--batch-size", "128",
            "--stream", "--buffer-size", "256", "--no-progress"]
    assert main(argv) == 0
    assert "val: {" in capsys.readouterr().out
    metrics = json.loads((out / "test_metrics.json").read_text())
    assert set(metrics["test"]) >= {"loss", "digit/accuracy"}
    history = json.loads((out / "metrics.json").read_text())
    assert len(history) == 1 and history[0]["lr"] == 0.0  # the schedule ran to its end: steps known up front
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "x"), "--stream"]) == 2
    assert "--stream trains from a converted folder" in capsys.readouterr().err
