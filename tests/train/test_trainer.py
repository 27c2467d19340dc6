"""Trainer: learning, determinism, checkpoint → resume equivalence, corrupted checkpoints."""

import json

import pytest
import torch

from mmgraph.datasets import load_dataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.train import CorruptCheckpointError, TrainConfig, Trainer, read_checkpoint, seed_everything
from mmgraph.train.checkpoint import sidecar_path


@pytest.fixture(scope="module")
def digits_small():
    ds = load_dataset("digits")
    config = ds.fit_graph_config()
    train = ds.featurize("train", config).subset(range(256))
    val = ds.featurize("val", config).subset(range(96))
    return train, val, DataSpec.from_graph_config(config, ds.tasks)


def make(spec, seed=0, tasks=("digit", "snr_db"), **kw):
    seed_everything(seed)
    return build_model(ModelConfig(hidden=16, layers=1, tasks=list(tasks), **kw), spec)


def test_learns_and_writes_metrics(digits_small, tmp_path):
    train, val, spec = digits_small
    model = make(spec)
    trainer = Trainer(model, TrainConfig(epochs=6, batch_size=32, lr=1e-2, progress=False), out_dir=tmp_path)
    result = trainer.fit(train, val)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.monitor == "digit/accuracy"
    assert result.history[-1]["val/digit/accuracy"] > 0.2  # chance is 0.1
    assert "val/snr_db/mae" in result.history[-1]
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert len(rows) == 6 and (tmp_path / "metrics.csv").read_text().startswith("epoch,")
    assert (tmp_path / "checkpoints" / "best.pt").exists()
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    preds = trainer.predict(val)
    assert preds["digit"].shape == (96,) and preds["snr_db"].dtype == torch.float32


def test_same_seed_same_metrics(digits_small):
    train, val, spec = digits_small
    runs = []
    for _ in range(2):
        trainer = Trainer(make(spec), TrainConfig(epochs=2, batch_size=32, progress=False))
        runs.append(trainer.fit(train, val).history)
    for a, b in zip(*runs):
        assert {k: v for k, v in a.items() if k != "epoch_seconds"} == \
               {k: v for k, v in b.items() if k != "epoch_seconds"}


def test_resume_equals_uninterrupted(digits_small, tmp_path):
    train, val, spec = digits_small
    cfg = TrainConfig(epochs=4, batch_size=32, progress=False)
    full = Trainer(make(spec), cfg, out_dir=tmp_path / "full")
    full_hist = full.fit(train, val).history

    class Killed(Exception):
        pass

    def kill_after_epoch_1(epoch, row):
        if epoch == 1:
            raise Killed

    first = Trainer(make(spec), cfg, out_dir=tmp_path / "part")
    with pytest.raises(Killed):
        first.fit(train, val, on_epoch_end=kill_after_epoch_1)
    # a new process would rebuild the model from scratch (different init) and resume
    resumed = Trainer(make(spec, seed=123), cfg, out_dir=tmp_path / "part")
    hist = resumed.fit(train, val, resume=True).history
    assert len(hist) == 4
    for a, b in zip(full_hist, hist):
        assert {k: v for k, v in a.items() if k != "epoch_seconds"} == \
               {k: v for k, v in b.items() if k != "epoch_seconds"}
    for (n, p), (_, q) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(p, q), n


def test_corrupted_checkpoint_detected(digits_small, tmp_path):
    train, val, spec = digits_small
    Trainer(make(spec), TrainConfig(epochs=1, batch_size=64, progress=False), out_dir=tmp_path).fit(train, val)
    path = tmp_path / "checkpoints" / "last.pt"
    assert read_checkpoint(path)["epoch"] == 0
    data = path.read_bytes()
    for name, damaged in [("trunc.pt", data[: len(data) // 2]),
                          ("flip.pt", data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF])
                           + data[len(data) // 2 + 1:])]:
        (tmp_path / name).write_bytes(damaged)  # with the sidecar of the intact file
        sidecar_path(tmp_path / name).write_bytes(sidecar_path(path).read_bytes())
        with pytest.raises(CorruptCheckpointError, match="checksum mismatch"):
            read_checkpoint(tmp_path / name)
    (tmp_path / "bare.pt").write_bytes(data[: len(data) // 2])  # no sidecar, not a 0.1 checkpoint either
    with pytest.raises(CorruptCheckpointError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "bare.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer(make(spec), TrainConfig(epochs=1, progress=False), out_dir=tmp_path / "none").fit(train, resume=True)


def test_early_stopping(digits_small):
    train, val, spec = digits_small
    trainer = Trainer(make(spec), TrainConfig(epochs=30, batch_size=64, lr=0.0, patience=2, progress=False,
                                               monitor="snr_db/mae"))
    result = trainer.fit(train, val)
    assert result.stopped_early and len(result.history) < 30


def test_one_line_per_epoch_unless_progress_is_off(digits_small, tmp_path, capsys):
    train, val, spec = digits_small
    Trainer(make(spec), TrainConfig(epochs=2, batch_size=128, progress=True), out_dir=tmp_path / "a").fit(train, val)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ") and " s" in line]
    lines = [line.split("\r")[-1] for line in lines]
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2: train loss ") and ", val digit/accuracy 0." in lines[0]
    assert lines[1].startswith("epoch 2/2: ") and lines[1].endswith(" s")
    Trainer(make(spec), TrainConfig(epochs=1, batch_size=128, progress=False), out_dir=tmp_path / "b").fit(train, val)
    assert "epoch 1/1" not in capsys.readouterr().err
    rows = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert len(rows) == 2 and (tmp_path / "b" / "curves.png").exists()


def test_loader_batches_follow_the_model(digits_small):
    """The trainer's batches skip complete blocks' edge lists only for a model that reads the ``dense`` marks."""
    train, _, spec = digits_small
    dense = make(spec)
    lists = make(spec, dense_path=False)
    assert dense.supports_dense_blocks and not lists.supports_dense_blocks
    for model, has_lists in ((dense, False), (lists, True)):
        batch = next(iter(Trainer(model, TrainConfig(progress=False))._loader(train, 8, shuffle=False)))
        full = ("audio", "cross", "image")
        assert batch[full].dense and ("edge_index" in batch[full]) == has_lists
    # the default loader is PyG-safe: every edge list is there
    assert "edge_index" in next(iter(train.loader(8)))["audio", "cross", "image"]
    with pytest.raises(ValueError, match="full_edges='list'"):
        lists(train.collate_indices(range(4), full_edges="dense"))


def test_step_budget_hooks_parts_and_frozen_parameters(digits_small):
    """``steps`` ends training inside an epoch with the schedule spent; hooks run in order; each loss part's
    epoch mean is in the row; frozen parameters stay out of the optimiser, ``lr_scale`` scales the rest."""
    train, _, spec = digits_small
    model = make(spec)
    for name, p in model.named_parameters():
        p.requires_grad_(not name.startswith("encoders."))
    before = {k: v.clone() for k, v in model.named_parameters() if k.startswith("encoders.")}
    calls = []
    trainer = Trainer(model, TrainConfig(steps=10, batch_size=32, lr=1e-2, progress=False), lr_scale={"head.": 0.5})
    groups = {round(g["lr"], 9): len(g["params"]) for g in trainer.param_groups()}
    assert set(groups) == {0.01, 0.005} and sum(groups.values()) == sum(p.requires_grad for p in model.parameters())
    result = trainer.fit(train, None, on_epoch_start=lambda e: calls.append(("start", e)),
                         epoch_metrics=lambda e: {"extra": float(e)},
                         on_epoch_end=lambda e, row: calls.append(("end", e, row["extra"])))
    assert [r["steps"] for r in result.history] == [8, 10]  # 256 samples / 32: 8 steps an epoch, then 2
    assert result.history[-1]["lr"] == 0.0  # the cosine schedule spans the 10 steps
    assert calls == [("start", 0), ("end", 0, 0.0), ("start", 1), ("end", 1, 1.0)]
    assert {"train/digit", "train/snr_db"} <= set(result.history[0])
    assert all(torch.equal(p, before[k]) for k, p in model.named_parameters() if k in before)
    with pytest.raises(ValueError, match="'steps' must be >= 1"):
        TrainConfig(steps=0)
