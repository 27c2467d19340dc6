"""Benchmark runner: suite parsing, a tiny end-to-end run, report files, resume."""

import json

import pytest

from mmgraph.bench import list_suites, load_suite, parse_suite, run_suite
from mmgraph.bench.report import lower_is_better, summarize
from mmgraph.cli import main

TINY = """
name = "tiny"
dataset = "digits"
tasks = ["digit"]
seeds = [0]
max_train = 160
max_eval = 60

[train]
epochs = 2
batch_size = 32
lr = 5e-3

[tokenizer]
min_freq = 2

[robustness]
audio_snr_db = [10, -10]
image_noise_std = [0.0, 0.3]
image_contrast = [1.0, 0.25]
text_rare_other = [0, 2]
text_unknown = [0, 1]

[quick]
epochs = 1

[[models]]
label = "graph"
name = "mmgnn"
hidden = 16
layers = 1

[[models]]
label = "image only"
name = "mmgnn"
hidden = 16
layers = 1
modalities = ["image"]
"""


def test_builtin_suites_parse():
    from mmgraph.bench.ssl import load_ssl_suite
    from mmgraph.bench.suite import SUITES_DIR
    from mmgraph.files import load_toml

    names = list_suites()
    assert "quick" in names and "avmnist_ssl" in names
    for name in names:
        if load_toml(SUITES_DIR / f"{name}.toml").get("kind") == "ssl":
            with pytest.raises(ValueError, match="self-supervised suite"):
                load_suite(name)
            assert load_ssl_suite(name).seeds
            continue
        suite = load_suite(name)
        assert suite.models and suite.dataset


def test_suite_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        load_suite("nope")
    with pytest.raises(ValueError, match="missing 'dataset'"):
        parse_suite({"models": [{"name": "mmgnn"}]})
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        parse_suite({"dataset": "digits", "models": [{"name": "mmgnn", "hiden": 3}]})
    with pytest.raises(ValueError, match="labels must be unique"):
        parse_suite({"dataset": "digits", "models": [{"name": "mmgnn"}, {"name": "mmgnn"}]})


def test_suite_imports_register_models_once(tmp_path):
    from mmgraph.bench.suite import import_plugins
    from mmgraph.models import MODELS

    plugin = tmp_path / "plugins" / "extra_model.py"
    plugin.parent.mkdir()
    plugin.write_text("from mmgraph.models import MODELS\n"
                      "MODELS.register('suite_test_model', lambda config, spec: None)\n")
    (tmp_path / "s.toml").write_text('dataset = "digits"\nimports = ["plugins/extra_model.py"]\n'
                                     '[[models]]\nname = "suite_test_model"\n')
    suite = load_suite(str(tmp_path / "s.toml"))
    assert suite.imports == [str(plugin.resolve())]  # relative to the suite file
    try:
        import_plugins(suite.imports)
        import_plugins(suite.imports)  # a second import would register the name twice: once per process
        assert "suite_test_model" in MODELS
    finally:
        if "suite_test_model" in MODELS:
            MODELS.unregister("suite_test_model")
    with pytest.raises(ValueError, match="no such file"):
        import_plugins([str(tmp_path / "missing.py")])
    with pytest.raises(ValueError, match="'imports' must be a list"):
        parse_suite({"dataset": "digits", "imports": "a.py", "models": [{"name": "mmgnn"}]})
    unregistered = parse_suite({"dataset": "digits", "models": [{"name": "not_registered"}]})
    with pytest.raises(ValueError, match="name no registered model"):
        run_suite(unregistered, tmp_path / "o", isolate=False, progress=False)


def test_tiny_suite_end_to_end(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    suite = load_suite(str(tmp_path / "tiny.toml"))
    out = tmp_path / "out"
    report = run_suite(suite, out, progress=False, isolate=False)
    for name in ("results.json", "results.csv", "results.md", "robustness_audio_snr_db.png",
                 "robustness_image_noise_std.png", "accuracy_vs_cost.png"):
        assert (out / name).exists(), name
    runs = {r["label"]: r for r in report["runs"]}
    graph = runs["graph"]
    assert 0.0 <= graph["test"]["digit/accuracy"] <= 1.0
    assert set(graph["robustness"]) == {"without_audio", "without_image", "without_text", "audio_snr_db",
                                        "image_noise_std", "image_contrast", "text_rare_other", "text_unknown"}
    assert graph["robustness"]["audio_snr_db"]["levels"] == [10.0, -10.0]
    for kind in ("image_contrast", "text_rare_other", "text_unknown"):  # level 0 / factor 1: the clean test set
        assert graph["robustness"][kind]["values"][0] == graph["test"]["digit/accuracy"]
    image_only = runs["image only"]["robustness"]
    assert image_only["text_unknown"]["values"] == [runs["image only"]["test"]["digit/accuracy"]] * 2
    assert graph["cost"]["parameters"] > runs["image only"]["cost"]["parameters"]
    # an image-only model is unaffected by removing audio, and blind without the image
    assert runs["image only"]["robustness"]["without_audio"] == runs["image only"]["test"]["digit/accuracy"]
    md = (out / "results.md").read_text()
    assert "| graph |" in md and "**" in md
    assert "AUC rare-words sweep" in md and "AUC image-contrast sweep" in md
    saved = json.loads((out / "results.json").read_text())
    assert saved["summary"]["graph"]["test/digit/accuracy"]["n"] == 1
    # every benchmark run is a run folder like mmgraph train's: it loads and scores the same
    from mmgraph.datasets import GraphDataset
    from mmgraph.train import Trainer
    from mmgraph.train.runs import load_run

    loaded = load_run(out / "runs" / "graph" / "seed0")
    (manifest,) = (out / "cache").glob("*/manifest.json")
    test = GraphDataset.load(json.loads(manifest.read_text())["files"]["test"])
    assert Trainer(loaded.model).evaluate(test)["digit/accuracy"] == pytest.approx(
        graph["test"]["digit/accuracy"], abs=1e-6)
    assert loaded.info["label"] == "graph" and loaded.info["dataset"] == "digits"
    # the suite's [tokenizer] table: words seen twice (min_freq 2), not every training word (the default)
    from mmgraph.datasets import load_dataset
    from mmgraph.featurize import Tokenizer

    texts = [s.text for s in load_dataset("digits").splits["train"] if s.text]
    assert loaded.graph_config.settings["text"].tokenizer == Tokenizer.fit(texts, min_freq=2)
    assert len(Tokenizer.fit(texts, min_freq=2)) < len(Tokenizer.fit(texts))
    # a rerun resumes: finished jobs are read back, not retrained
    mtime = (out / "runs" / "graph" / "seed0" / "result.json").stat().st_mtime
    run_suite(suite, out, progress=False, isolate=False)
    assert (out / "runs" / "graph" / "seed0" / "result.json").stat().st_mtime == mtime


@pytest.mark.slow  # spawns several processes; CI runs the slow tests as a step of their own
def test_cli_bench_isolated_quick(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY.replace('[[models]]\nlabel = "image only"', '[[unused]]\nlabel = "x"')
                                        .split("[[unused]]")[0])
    # --graph FILE.toml: applied over the dataset's config and the suite's own [graph] (none here)
    (tmp_path / "g.toml").write_text('[graph.image]\npatch_size = 2\n[graph.edges]\n"audio-text" = "aligned:0.2"\n')
    assert main(["bench", "--suite", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "o"), "--quick",
                 "--graph", str(tmp_path / "g.toml"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| graph |" in out
    report = json.loads((tmp_path / "o" / "results.json").read_text())
    assert report["quick"] and report["runs"][0]["cost"]["epochs"] == 1
    graph = json.loads((tmp_path / "o" / "runs" / "graph" / "seed0" / "run.json").read_text())["graph_config"]
    assert graph["image"]["patch_size"] == 2 and graph["image"]["channels"] == 1  # digits' grey kept
    assert graph["edges"]["audio-text"] == "aligned:0.2" and graph["edges"]["text"] == "window:1"


@pytest.mark.slow  # spawns several processes; CI runs the slow tests as a step of their own
def test_parallel_workers_give_the_sequential_numbers(tmp_path, capsys):
    """``--workers 2``: the jobs run side by side in their own processes, with the numbers of one after another."""
    import torch

    (tmp_path / "tiny.toml").write_text(TINY)
    assert main(["bench", "--suite", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "par"), "--quick",
                 "--workers", "2", "--threads", "1", "--no-progress"]) == 0
    assert "| graph |" in capsys.readouterr().out
    threads = torch.get_num_threads()
    try:
        sequential = run_suite(load_suite(str(tmp_path / "tiny.toml")), tmp_path / "seq", quick=True, progress=False,
                               isolate=False, threads=1)
    finally:
        torch.set_num_threads(threads)
    parallel = json.loads((tmp_path / "par" / "results.json").read_text())
    assert [r["label"] for r in parallel["runs"]] == [r["label"] for r in sequential["runs"]] == ["graph", "image only"]
    for a, b in zip(parallel["runs"], sequential["runs"]):
        assert a["test"] == b["test"] and a["robustness"] == b["robustness"]
        assert a["environment"]["threads"] == 1


def test_suite_workers_and_threads_are_checked(tmp_path):
    import tomllib

    suite = parse_suite(tomllib.loads(TINY.replace('seeds = [0]', 'seeds = [0]\nworkers = 2\nthreads = 1')))
    assert (suite.workers, suite.threads) == (2, 1)
    assert parse_suite(tomllib.loads(TINY)).workers == 1
    for bad in ("workers = 0", "threads = -1", "workers = true"):
        with pytest.raises(ValueError, match="must be a positive integer"):
            parse_suite(tomllib.loads(TINY.replace('seeds = [0]', f'seeds = [0]\n{bad}')))


def test_summary_and_directions():
    assert lower_is_better("test/snr_db/mae") and not lower_is_better("test/digit/accuracy")
    report = {"models": ["a"], "runs": [
        {"label": "a", "seed": 0, "test": {"t/accuracy": 0.5}, "robustness": {}, "cost": {}},
        {"label": "a", "seed": 1, "test": {"t/accuracy": 0.7}, "robustness": {}, "cost": {}},
    ]}
    s = summarize(report)["a"]["test/t/accuracy"]
    assert s["mean"] == pytest.approx(0.6) and s["std"] == pytest.approx(0.1414, abs=1e-3)


def test_suite_over_a_converted_folder(tmp_path, caplog):
    """A suite whose dataset is a folder written by ``mmgraph convert`` trains on the stored graphs."""
    from mmgraph.convert import convert
    from mmgraph.datasets import load_dataset

    convert("digits", tmp_path / "digits-graphs", progress=False)
    suite_text = TINY.replace('dataset = "digits"', f'dataset = "{(tmp_path / "digits-graphs").as_posix()}"')
    (tmp_path / "tiny.toml").write_text(suite_text)
    with caplog.at_level("WARNING", logger="mmgraph.bench.runner"):
        report = run_suite(load_suite(str(tmp_path / "tiny.toml")), tmp_path / "out", progress=False, isolate=False)
    assert "noise sweeps" in caplog.text  # no raw samples to perturb: said, not silently dropped
    assert report["sizes"] == {"train": 160, "val": 60, "test": 60}
    graph = {r["label"]: r for r in report["runs"]}["graph"]
    assert set(graph["robustness"]) == {"without_audio", "without_image", "without_text"}
    stored = load_dataset(str(tmp_path / "digits-graphs"))
    (manifest,) = (tmp_path / "out" / "cache").glob("*/manifest.json")
    from mmgraph.datasets import GraphDataset

    test = GraphDataset.load(json.loads(manifest.read_text())["files"]["test"])
    assert set(test.ids) <= set(stored.splits["test"].ids) and len(test) == 60
