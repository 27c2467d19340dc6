"""``mmgraph predict``: one row per sample, equal to the trainer's own predictions, on digits and on a manifest
with missing modalities and a regression target."""

import csv
import json

import pytest
import torch

import mmgraph
from mmgraph.cli import EXIT_USER_ERROR, main
from mmgraph.datasets import load_dataset
from mmgraph.train import TrainConfig, Trainer
from tests.conftest import write_manifest


def trainer_predictions(run_dir, data, split):
    run = mmgraph.load_run(run_dir)
    graphs = load_dataset(data).featurize(split, run.graph_config)
    trainer = Trainer(run.model, TrainConfig(progress=False, device="cpu"))
    raw, _, _ = trainer.predict_raw(graphs)
    return graphs, raw, trainer


def test_predict_digits_csv_matches_the_trainer(digits_run, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    assert main(["predict", str(digits_run), "digits", "--out", str(out), "--split", "test"]) == 0
    assert capsys.readouterr().out.strip() == f"270 prediction(s) for tasks ['digit', 'snr_db']: {out}"
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:6] == ["id", "split", "modalities", "digit", "digit_name", "digit_prob_0"]
    assert list(rows[0])[-1] == "snr_db" and "digit_prob_9" in rows[0]
    graphs, raw, _ = trainer_predictions(digits_run, "digits", "test")
    assert [r["id"] for r in rows] == graphs.ids and {r["split"] for r in rows} == {"test"}
    probs = torch.softmax(raw["digit"], dim=1)
    for i, row in enumerate(rows):
        assert int(row["digit"]) == int(probs[i].argmax()) and row["digit_name"] == row["digit"]
        assert [float(row[f"digit_prob_{k}"]) for k in range(10)] == pytest.approx(probs[i].tolist(), abs=1e-6)
        assert row["modalities"] == "audio+image+text"
    snr = mmgraph.load_run(digits_run).model.task_heads["snr_db"].decode(raw["snr_db"])
    assert [float(r["snr_db"]) for r in rows] == pytest.approx(snr.tolist(), abs=1e-5)


def test_predict_jsonl_with_modality_importance(digits_run, tmp_path):
    out = tmp_path / "preds.jsonl"
    assert main(["predict", str(digits_run), "digits", "--out", str(out), "--split", "val", "--explain"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 270
    first = rows[0]
    assert set(first) == {"id", "split", "modalities", "predictions", "importance"}
    digit = first["predictions"]["digit"]
    assert digit["name"] == str(digit["class"]) and sum(digit["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert set(first["predictions"]["snr_db"]) == {"value"}
    for row in rows:
        assert set(row["importance"]) == set(row["modalities"])
        assert sum(row["importance"].values()) == pytest.approx(1.0, abs=1e-4)


def test_predict_a_manifest_with_missing_modalities_and_a_regression_target(manifest_run, tmp_path):
    run, manifest = manifest_run
    out = tmp_path / "preds.csv"
    assert main(["predict", str(run), str(manifest), "--out", str(out)]) == 0  # default: every split
    rows = list(csv.DictReader(out.open()))
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    by_split = {s: [r["id"] for r in records if r["split"] == s] for s in ("train", "val", "test")}
    assert [r["id"] for r in rows] == by_split["train"] + by_split["val"] + by_split["test"]
    present = {r["id"]: "+".join(m for m in ("audio", "image", "text") if m in r) for r in records}
    assert all(row["modalities"] == present[row["id"]] for row in rows)
    assert list(rows[0]) == ["id", "split", "modalities", "label"]
    graphs, raw, trainer = trainer_predictions(run, str(manifest), "test")
    values = trainer.heads["label"].decode(raw["label"]).tolist()
    test_rows = [r for r in rows if r["split"] == "test"]
    assert [float(r["label"]) for r in test_rows] == pytest.approx(values, abs=1e-5)


def test_predict_unlabelled_data_of_fewer_modalities(manifest_run, tmp_path):
    run, _ = manifest_run
    data = write_manifest(tmp_path / "new", 8, label=None, seed=5)
    text = "\n".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "audio"})
                     for line in data.read_text().splitlines())
    data.write_text(text + "\n")
    out = tmp_path / "new.jsonl"
    assert main(["predict", str(run), str(data), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and all("audio" not in r["modalities"] for r in rows)
    assert all(isinstance(r["predictions"]["label"]["value"], float) for r in rows)


def test_predict_refuses_what_it_cannot_do(digits_run, manifest_run, tmp_path, capsys):
    assert main(["predict", str(digits_run), "digits", "--out", str(tmp_path / "p.txt")]) == EXIT_USER_ERROR
    assert "--out must end in .csv or .jsonl" in capsys.readouterr().err
    assert main(["predict", str(digits_run), "digits", "--out", str(tmp_path / "p.csv"), "--split", "dev"]) == \
        EXIT_USER_ERROR
    assert "digits has no split 'dev' (splits: ['train', 'val', 'test'], or 'all')" in capsys.readouterr().err
    # a manifest whose 'digit' is a regression target: the run's 'digit' classes would mean something else
    other = write_manifest(tmp_path / "other", 8, label=None)
    other.write_text("".join(json.dumps({**json.loads(line), "targets": {"digit": 1.5}}) + "\n"
                             for line in other.read_text().splitlines()))
    assert main(["predict", str(digits_run), str(other), "--out", str(tmp_path / "p.csv")]) == EXIT_USER_ERROR
    assert "task 'digit' of manifest is regression but the run's is classification" in capsys.readouterr().err
    run, manifest = manifest_run  # regression only: nothing to explain
    assert main(["predict", str(run), str(manifest), "--out", str(tmp_path / "p.csv"), "--explain"]) == \
        EXIT_USER_ERROR
    assert "no graph-level classification task to explain" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()
