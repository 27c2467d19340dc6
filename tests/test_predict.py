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
from tests.conftest import CLASS_NAMES, write_manifest


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


def test_a_run_trained_on_class_names_predicts_them(tmp_path, caplog):
    manifest = write_manifest(tmp_path / "data", 20, label="name", splits=True)
    model = tmp_path / "tiny.toml"
    model.write_text("[model]\nhidden = 8\nlayers = 1\nheads = 2\n")
    run = tmp_path / "run"
    assert main(["train", "--data", str(manifest), "--model", str(model), "--out", str(run), "--epochs", "1",
                 "--batch-size", "8", "--no-progress"]) == 0
    names = tuple(sorted(CLASS_NAMES))  # ("high", "low", "mid"): class 0 is "high"
    loaded = mmgraph.load_run(run)
    assert loaded.class_names == {"label": names} and loaded.tasks["label"].num_classes == 3
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    graphs = load_dataset(str(manifest)).featurize("train", loaded.graph_config)
    train = [r for r in records if r["split"] == "train"]
    assert graphs.y.tolist() == [names.index(r["label"]) for r in train]  # the ids trained on

    out = tmp_path / "preds.csv"
    assert main(["predict", str(run), str(manifest), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20
    assert list(rows[0])[3:] == ["label", "label_name", "label_prob_high", "label_prob_low", "label_prob_mid"]
    for row in rows:
        probs = [float(row[f"label_prob_{n}"]) for n in names]
        assert row["label_name"] == names[int(row["label"])] == names[probs.index(max(probs))]

    # new data is read with the run's names: a name it does not know rejects that record alone
    new = write_manifest(tmp_path / "new", 6, label="name", seed=3)
    lines = [json.loads(line) for line in new.read_text().splitlines()]
    lines[1]["label"] = "unseen"
    del lines[2]["label"]  # unlabelled: predicted
    new.write_text("".join(json.dumps(r) + "\n" for r in lines))
    caplog.clear()
    assert main(["predict", str(run), str(new), "--out", str(tmp_path / "new.jsonl")]) == 0
    predicted = [json.loads(line) for line in (tmp_path / "new.jsonl").read_text().splitlines()]
    assert [r["id"] for r in predicted] == [r["id"] for i, r in enumerate(lines) if i != 1]
    assert all(r["predictions"]["label"]["name"] in names for r in predicted)
    assert "1 record(s) rejected; first: line 2 (id 'r01'): label: 'unseen' is not a known class (the classes: " \
           "'high', 'low', 'mid')" in caplog.text


def test_a_manifest_mixing_names_and_class_ids_rejects_the_other_kind_naming_it(tmp_path):
    manifest = write_manifest(tmp_path / "data", 12, label="name")
    lines = manifest.read_text().splitlines()
    lines[4] = json.dumps({**json.loads(lines[4]), "label": 2})
    manifest.write_text("\n".join(lines) + "\n")
    dataset = load_dataset(str(manifest))
    assert dataset.info["rejected"] == 1
    assert dataset.info["rejections"][0] == {
        "record": 4, "line": 5, "id": "r04",
        "reason": "label: 2 is an integer (class id) but the manifest's first label (line 1) is a class name "
                  "(string): labels must be all integers (class ids), all floats (regression values) or all class "
                  "names (strings)"}


def test_class_names_for_a_run_whose_classes_are_numbers_are_refused(tmp_path, capsys):
    from mmgraph.models import ModelConfig
    from mmgraph.train.runs import train_run

    manifest = write_manifest(tmp_path / "data", 12, label="int")
    train_run(str(manifest), ModelConfig(hidden=8, layers=1, heads=2), tmp_path / "run",
              train_config=TrainConfig(epochs=1, batch_size=8, progress=False))
    named = write_manifest(tmp_path / "named", 12, label="name")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(named), "--out", str(tmp_path / "p.csv")]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith(
        "task 'label' of manifest names its classes (high, low, mid) but the run's classes are numbers: give "
        "the class ids it was trained on")
