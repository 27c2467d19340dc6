"""SSL suites: parsing, label subsets, step budgets, and a tiny end-to-end run on digits (resumable)."""

import json

import numpy as np
import pytest
import torch

from mmgraph.bench.ssl import budget_view, label_subsets, load_ssl_suite, parse_ssl_suite, plan_jobs, run_ssl_suite
from mmgraph.datasets import load_dataset
from mmgraph.train.pretrain import PretrainConfig


def test_avmnist_ssl_suite_parses():
    suite = load_ssl_suite("avmnist_ssl")
    assert suite.dataset == "avmnist" and suite.seeds == [0, 1, 2]
    assert suite.finetune.fractions == [0.01, 0.1] and suite.pretrain.objectives == ["contrastive"]
    assert suite.pretrain.steps == 1200 and suite.finetune.modes == ["probe", "lpft", "full"]
    config = suite.pretrain.pretrain_config("contrastive")
    assert config == PretrainConfig(objective="contrastive")  # the suite writes out mmgraph pretrain's defaults
    train = suite.pretrain.train_config(0, False)
    assert (train.steps, train.batch_size, train.lr, train.weight_decay, train.grad_clip) == (1200, 256, 2e-3, 0.05, 5)
    assert round(train.warmup * train.steps) == 100
    quick = suite.apply_quick()
    assert quick.seeds == [0] and quick.max_train == 800 and quick.finetune.steps == [4, 4]
    assert quick.finetune.lr == suite.finetune.lr  # untouched keys stay
    # nested tables merge key by key: the quick run turns the guard off and keeps the rest of [pretrain.config]
    assert not quick.pretrain.config["chance_guard"] and quick.pretrain.config["joint_weight"] == 0.5
    jobs = plan_jobs(suite)
    kinds = [method for _, method, _ in jobs]
    assert kinds.count("finetune_job") == 3 * 2 * (1 + 3) and kinds.count("pretrain_job") == 3
    assert "finetune-contrastive-lpft-frac0.01-seed0" in [job for job, _, _ in jobs]
    # a suite may run some stages only (pretraining always runs: the others read it)
    some = parse_ssl_suite({**suite.raw, "stages": ["finetune", "clustering"]})
    assert {method for _, method, _ in plan_jobs(some)} == {"pretrain_job", "finetune_job", "clustering_job"}


def test_ssl_suite_errors():
    with pytest.raises(ValueError, match="not an SSL suite"):
        parse_ssl_suite({"name": "x", "dataset": "digits"})
    with pytest.raises(ValueError, match=r"\[finetune\]: unknown keys \['step'\]"):
        parse_ssl_suite({"kind": "ssl", "dataset": "digits", "finetune": {"step": [1]}})
    with pytest.raises(ValueError, match="one step budget per fraction"):
        parse_ssl_suite({"kind": "ssl", "dataset": "digits", "finetune": {"fractions": [0.1], "steps": [1, 2]}})
    with pytest.raises(ValueError, match="unknown keys"):
        parse_ssl_suite({"kind": "ssl", "dataset": "digits", "epochs": 3})
    with pytest.raises(ValueError, match=r"unknown stages \['distill'\]"):
        parse_ssl_suite({"kind": "ssl", "dataset": "digits", "stages": ["distill"]})
    with pytest.raises(ValueError, match="--finetune must be one of"):
        parse_ssl_suite({"kind": "ssl", "dataset": "digits", "finetune": {"modes": ["lp"]}})


def test_label_subsets_are_stratified_nested_and_seeded():
    y = torch.arange(1000) % 10
    subsets = label_subsets(y, [0.01, 0.1, 1.0], seed=0)
    assert [len(subsets[f]) for f in (0.01, 0.1, 1.0)] == [10, 100, 1000]
    assert np.bincount(y.numpy()[subsets[0.1]]).tolist() == [10] * 10
    assert set(subsets[0.01]) <= set(subsets[0.1]) <= set(subsets[1.0])
    again, other = label_subsets(y, [0.01, 0.1], seed=0), label_subsets(y, [0.01, 0.1], seed=1)
    assert np.array_equal(again[0.1], subsets[0.1]) and not np.array_equal(other[0.1], subsets[0.1])


def test_budget_view_is_exactly_the_step_budget():
    ds = load_dataset("digits")
    train = ds.featurize("val", ds.fit_graph_config())
    pool = np.arange(0, 60, 3)  # 20 labelled samples
    view = budget_view(train, pool, steps=5, batch_size=16, seed=0)
    assert len(view) == 80
    counts = np.unique(np.array(view.ids), return_counts=True)[1]
    assert set(counts.tolist()) == {4} and len(counts) == 20
    assert set(view.ids) == {train.ids[i] for i in pool}


def test_tiny_ssl_suite_runs_end_to_end_and_resumes(tmp_path):
    suite = parse_ssl_suite({
        "name": "tiny", "kind": "ssl", "dataset": "digits", "seeds": [0], "threads": 1,
        "max_train": 120, "max_eval": 60,
        "model": {"name": "mmgnn", "hidden": 8, "layers": 1, "heads": 2},
        "pretrain": {"objectives": ["masked", "contrastive"], "batch_size": 60, "steps": 2, "warmup_steps": 1,
                     "config": {"chance_guard": False}},
        "finetune": {"fractions": [0.1, 1.0], "steps": [2, 2], "batch_size": 16, "modes": ["probe", "lpft"]},
        "clustering": {"num_clusters": 10, "kmeans_objectives": ["contrastive"], "dec_objective": "contrastive",
                       "dec_samples": 60, "dec_steps": 2, "dec_batch_size": 30},
        "transfer": {"steps": 2, "batch_size": 16},
    })
    report = run_ssl_suite(suite, tmp_path / "work", tmp_path / "out", command="test")
    summary = report["summary"]
    assert set(summary["label_efficiency"]) == {"none", "masked/probe", "masked/lpft", "contrastive/probe",
                                                "contrastive/lpft"}
    assert 10 <= summary["label_efficiency"]["masked/probe"]["0.1"]["labels"] <= 14  # ~10 % of 120, per class
    methods = summary["clustering"]
    assert "k-means: raw pixels" in methods and "DEC: per-modality projections (contrastive)" in methods
    assert "k-means: joint graph embedding (contrastive)" in methods
    assert all(0.0 <= m["nmi"]["mean"] <= 1.0 for m in methods.values())
    assert set(summary["modality_dropout"]["0.3"]) == {"full", "without_audio", "without_image", "without_text"}
    assert summary["distillation"]["teacher"]["n"] == 1
    assert any(row["target"].startswith("distillation") for row in summary["targets"])
    for name in ("results.json", "results.csv", "results.md", "label_efficiency.png", "clustering.png"):
        assert (tmp_path / "out" / name).exists(), name
    assert "## Label efficiency" in (tmp_path / "out" / "results.md").read_text()
    # a rerun redoes nothing: every job record is reused as it is
    records = {p.name: p.read_text() for p in (tmp_path / "work" / "jobs").glob("*.json")}
    again = run_ssl_suite(suite, tmp_path / "work", tmp_path / "out2", command="test")
    assert {p.name: p.read_text() for p in (tmp_path / "work" / "jobs").glob("*.json")} == records
    assert json.loads((tmp_path / "out2" / "results.json").read_text())["jobs"] == again["jobs"]


def test_cli_bench_runs_an_ssl_suite_with_the_ssl_runner(tmp_path, monkeypatch, capsys):
    """``mmgraph bench`` picks the runner from the suite's kind; --out/--quick/--seeds/--root reach it."""
    import mmgraph.bench.run
    from mmgraph.bench import SSLSuite, suite_kind
    from mmgraph.cli import main

    (tmp_path / "tiny_ssl.toml").write_text('name = "tiny_ssl"\nkind = "ssl"\ndataset = "digits"\ntask = "digit"\n'
                                            '[quick]\nmax_train = 50\n')
    assert suite_kind(str(tmp_path / "tiny_ssl.toml")) == "ssl" and suite_kind("quick") == "models"
    calls = []

    def fake_run_ssl_suite(suite, work, out, **kwargs):
        calls.append((suite, work, out, kwargs))
        target = {"target": "distillation helps", "met": False, "value": {"mean": 0.25}}
        return {"dataset": "digits", "seeds": kwargs["seeds"], "compute_seconds": 3.0, "summary": {"targets": [target]}}

    monkeypatch.setattr(mmgraph.bench.run, "run_ssl_suite", fake_run_ssl_suite)
    out = tmp_path / "o"
    assert main(["bench", "--suite", str(tmp_path / "tiny_ssl.toml"), "--out", str(out), "--quick", "--seeds", "2",
                 "--root", "/data", "--threads", "3", "--no-progress"]) == 0
    (suite, work, report_dir, kwargs), = calls
    assert isinstance(suite, SSLSuite) and suite.task == "digit" and suite.root == "/data" and suite.threads == 3
    assert work == report_dir == out and kwargs["quick"] and kwargs["seeds"] == [0, 1] and not kwargs["progress"]
    printed = capsys.readouterr().out
    assert "MISSED: distillation helps (measured 0.2500)" in printed and f"results: {out}/results.md" in printed


def test_ssl_suite_task_must_be_a_classification_task_of_the_data(tmp_path):
    from mmgraph.bench.ssl import SSLHarness

    suite = parse_ssl_suite({"kind": "ssl", "dataset": "digits", "task": "snr_db", "max_train": 40, "max_eval": 20})
    with pytest.raises(ValueError, match="'snr_db' is 'regression': set 'task' to one of \\['digit'\\]"):
        SSLHarness(suite, tmp_path)
    default = SSLHarness(parse_ssl_suite({"kind": "ssl", "dataset": "digits", "max_train": 40, "max_eval": 20}),
                         tmp_path)
    assert default.task.name == "digit" and torch.equal(default.labels(default.test), default.test.y)
