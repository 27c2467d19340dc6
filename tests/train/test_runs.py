"""Training runs from the command line: nothing given is silently ignored (model file [train] table, --resume
--epochs, data without a val split), and the run folder's files get the umask's permissions."""

import json
import logging
import math
import os
import stat

import pytest

import mmgraph
from mmgraph.cli import EXIT_USER_ERROR, main
from mmgraph.datasets import load_dataset
from mmgraph.train import RunFolder
from mmgraph.train.trainer import warmup_cosine
from tests.conftest import write_manifest

MODEL = """
[model]
hidden = 8
layers = 1
heads = 2

[train]
epochs = 2
batch_size = 8
lr = 0.005
"""


@pytest.fixture
def data(tmp_path):
    return write_manifest(tmp_path / "data", 40, label="float", splits=True)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text(MODEL)
    return path


def train(*argv) -> int:
    return main(["train", *map(str, argv), "--no-progress"])


def test_the_model_file_train_table_is_read_and_flags_override_it(tmp_path, data, model):
    run = tmp_path / "run"
    old = os.umask(0o027)
    try:
        assert train("--data", data, "--model", model, "--out", run, "--epochs", 3) == 0
    finally:
        os.umask(old)
    config = RunFolder(run).read_info().train_config
    assert (config.epochs, config.batch_size, config.lr) == (3, 8, 0.005)  # flag, table, table
    rows = json.loads((run / "metrics.json").read_text())
    assert len(rows) == 3 and all(r["lr"] <= 0.005 for r in rows)
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"run.json", "metrics.json", "metrics.csv", "curves.png", "test_metrics.json",
                                        "best.pt", "best.pt.json", "last.pt", "last.pt.json"}
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o640}, modes  # 0o666 minus the umask 0o027, as open() would give


def test_a_model_file_with_an_unknown_table_is_refused(tmp_path, data, capsys):
    path = tmp_path / "model.toml"
    path.write_text("[model]\nhidden = 8\n[trian]\nepochs = 1\n")
    assert train("--data", data, "--model", path, "--out", tmp_path / "run") == EXIT_USER_ERROR
    assert "unknown tables or keys ['trian']; a model file holds the tables ['model', 'train']" in \
        capsys.readouterr().err
    path.write_text("[model]\nhidden = 8\n[train]\nepohcs = 1\n")
    assert train("--data", data, "--model", path, "--out", tmp_path / "run") == EXIT_USER_ERROR
    assert f"{path}: [train]: unknown TrainConfig fields ['epohcs']" in capsys.readouterr().err


def test_resume_with_more_epochs_extends_the_run(tmp_path, data, model, caplog, capsys):
    run = tmp_path / "run"
    assert train("--data", data, "--model", model, "--out", run) == 0
    first = json.loads((run / "metrics.json").read_text())
    with caplog.at_level(logging.WARNING):
        assert train("--data", data, "--out", run, "--resume", "--epochs", 4) == 0
    assert "extending" in caplog.text and "from 2 to 4 epochs" in caplog.text
    rows = json.loads((run / "metrics.json").read_text())
    assert len(rows) == 4 and rows[:2] == first
    assert RunFolder(run).read_info().train_config.epochs == 4
    # the schedule is recomputed for 4 epochs: from the resumed step on, the rate is a 4-epoch run's
    steps_per_epoch = math.ceil(24 / 8)  # 24 training records (train x3 of every 5), batch 8
    total = 4 * steps_per_epoch
    factor = warmup_cosine(total, max(1, round(0.05 * total)))
    for row in rows[2:]:
        assert row["lr"] == pytest.approx(0.005 * factor((row["epoch"] + 1) * steps_per_epoch))
    assert rows[2]["lr"] > rows[1]["lr"]  # it rises again after the first schedule's end

    capsys.readouterr()
    assert train("--data", data, "--out", run, "--resume", "--epochs", 3) == EXIT_USER_ERROR
    assert "--epochs 3: the run has already trained 4 epoch(s); give more epochs to extend it" in \
        capsys.readouterr().err
    assert train("--data", data, "--out", run, "--resume", "--epochs", 6, "--lr", 0.1) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "--resume continues a run with its stored settings; these cannot change: lr (stored 0.005, given 0.1)" \
        in err
    assert train("--data", data, "--model", "transformer", "--out", run, "--resume") == EXIT_USER_ERROR
    assert "was trained with another model config" in capsys.readouterr().err


def test_data_without_a_val_split_holds_one_out_and_says_so(tmp_path, model, caplog):
    data = write_manifest(tmp_path / "data", 40, label="int", splits=False)
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        assert train("--data", data, "--model", model, "--out", run, "--epochs", 1) == 0
    assert "has no val split: 4 of its training samples (10%, seed 0) are held out for validation" in caplog.text
    info = json.loads((run / "run.json").read_text())
    assert info["val_split"] == {"from": "train", "fraction": 0.1, "seed": 0, "samples": 4}
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["best_val"] is not None and "label/accuracy" in metrics["val"]


def test_hold_out_val_is_seeded_and_keeps_order(tmp_path):
    dataset = load_dataset(str(write_manifest(tmp_path, 40, label=None)))
    a, held = dataset.hold_out_val(0.25, seed=3)
    b, _ = dataset.hold_out_val(0.25, seed=3)
    c, _ = dataset.hold_out_val(0.25, seed=4)
    ids = {k: [s.id for s in v] for k, v in a.splits.items()}
    assert held == {"from": "train", "fraction": 0.25, "seed": 3, "samples": 10}
    assert len(ids["val"]) == 10 and len(ids["train"]) == 30
    assert sorted(ids["val"] + ids["train"]) == [s.id for s in dataset.splits["train"]]
    assert ids["val"] == sorted(ids["val"]) and ids["train"] == sorted(ids["train"])
    assert ids["val"] == [s.id for s in b.splits["val"]] != [s.id for s in c.splits["val"]]
    with pytest.raises(ValueError, match="already has a val split"):
        a.hold_out_val()


def test_load_run_from_the_package_root(tmp_path, data, model):
    run = tmp_path / "run"
    assert train("--data", data, "--model", model, "--out", run, "--epochs", 1) == 0
    loaded = mmgraph.load_run(run)
    assert not loaded.model.training
    assert loaded.tasks["label"].kind == "regression" and loaded.class_names == {}
    assert set(loaded.graph_config.modalities) == {"audio", "image", "text"}
    assert loaded.info["data"] == str(data)


def test_resuming_a_run_on_class_names_reads_them_with_the_runs_names(tmp_path, caplog):
    data = write_manifest(tmp_path / "data", 16, label="name", splits=True)
    model = tmp_path / "model.toml"
    model.write_text(MODEL)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", str(model), "--out", str(run), "--epochs", "1",
                 "--no-progress"]) == 0
    names = ("high", "low", "mid")
    assert mmgraph.load_run(run).class_names == {"label": names}
    # a record with a name the run does not know, added before resuming: rejected, the others read as before
    with data.open("a") as f:
        f.write(json.dumps({"id": "new", "text": "red bird", "label": "unseen"}) + "\n")
    caplog.clear()
    assert main(["train", "--data", str(data), "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert "line 17 (id 'new'): label: 'unseen' is not a known class (the classes: 'high', 'low', 'mid')" in caplog.text
    assert mmgraph.load_run(run).class_names == {"label": names}
