"""``mmgraph evaluate``: a run's metrics and robustness card on any data, the benchmark's way."""

import json

import pytest

import mmgraph
from mmgraph.bench.perturb import perturbed
from mmgraph.cli import EXIT_USER_ERROR, main
from mmgraph.datasets import load_dataset
from mmgraph.datasets.base import GraphDataset
from mmgraph.evaluate import evaluate_run
from mmgraph.train import TrainConfig, Trainer
from tests.conftest import write_manifest


def test_evaluate_digits_with_its_robustness_card(digits_run, tmp_path):
    result = evaluate_run(digits_run, "digits", tmp_path / "eval", robustness=True, device="cpu",
                          sweeps={"audio_snr_db": [10.0, -20.0], "image_noise_std": [0.0, 0.4]})
    run = mmgraph.load_run(digits_run)
    dataset = load_dataset("digits")
    test = dataset.featurize("test", run.graph_config)
    trainer = Trainer(run.model, TrainConfig(progress=False, device="cpu"))
    expected = trainer.evaluate(test)
    assert result.metrics == pytest.approx(expected)
    card = result.robustness
    headline = "digit/accuracy"
    for m in ("audio", "image", "text"):
        assert card[f"without_{m}"] == pytest.approx(trainer.evaluate(test.without_modalities([m]))[headline])
    assert card["image_noise_std"]["values"][0] == pytest.approx(expected[headline])  # σ = 0: the clean set
    noisy = GraphDataset.from_samples(perturbed(dataset.splits["test"], "audio_snr_db", -20.0), run.graph_config)
    assert card["audio_snr_db"]["values"][1] == pytest.approx(trainer.evaluate(noisy)[headline])
    assert card["audio_snr_db"]["levels"] == [10.0, -20.0] and 0.0 <= card["audio_snr_db"]["auc"] <= 1.0
    files = {p.name for p in (tmp_path / "eval").iterdir()}
    assert files == {"results.json", "results.csv", "results.md", "robustness_audio_snr_db.png",
                     "robustness_image_noise_std.png"}
    report = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert report["runs"][0]["robustness"] == json.loads(json.dumps(card))
    markdown = (tmp_path / "eval" / "results.md").read_text()
    assert markdown.startswith(f"# Evaluation of run `{digits_run}` on `digits` (test)")
    assert "| audio removed | image removed | text removed | AUC audio-SNR sweep | AUC image-noise sweep |" in markdown


def test_evaluate_through_the_cli_on_a_manifest_with_missing_modalities(manifest_run, tmp_path, capsys):
    run, manifest = manifest_run
    out = tmp_path / "eval"
    assert main(["evaluate", str(run), str(manifest), "--split", "all", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("all: {'loss': ") and f"results: {out}/results.md" in printed
    metrics = json.loads((out / "results.json").read_text())["runs"][0]["test"]
    preds = tmp_path / "p.jsonl"
    assert main(["predict", str(run), str(manifest), "--out", str(preds)]) == 0
    predicted = {r["id"]: r["predictions"]["label"]["value"] for r in map(json.loads, preds.read_text().splitlines())}
    labels = {r["id"]: r["label"] for r in map(json.loads, manifest.read_text().splitlines())}
    mae = sum(abs(predicted[i] - labels[i]) for i in labels) / len(labels)
    assert metrics["label/mae"] == pytest.approx(mae, rel=1e-5)


def test_evaluate_robustness_of_a_manifest_skips_absent_modalities(manifest_run, tmp_path):
    run, manifest = manifest_run
    # the same records without any audio: no audio removal, no SNR sweep
    text = "".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "audio"}) + "\n"
                   for line in manifest.read_text().splitlines())
    no_audio = manifest.with_name("no_audio.jsonl")
    no_audio.write_text(text)
    result = evaluate_run(run, str(no_audio), tmp_path / "e", split="test", robustness=True,
                          sweeps={"audio_snr_db": [0.0], "image_noise_std": [0.2]})
    assert set(result.robustness) == {"without_image", "without_text", "image_noise_std"}


def test_evaluate_refuses_data_without_targets(manifest_run, tmp_path, capsys):
    run, _ = manifest_run
    data = write_manifest(tmp_path / "new", 8, label=None, splits=True)
    assert main(["evaluate", str(run), str(data), "--split", "all"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err.endswith("has no labels or targets for the model's tasks ['label']: nothing to evaluate "
                        "(mmgraph predict writes predictions without them)")
