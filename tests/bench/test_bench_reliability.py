"""``mmgraph bench`` under kills and sharing: the same results, nothing run twice, nothing corrupt.

- a job claimed by another process (its lock held) is not run; it is waited for, and taken over
  when its process is gone without a result;
- SIGKILL at random points of a suite (the whole process group, or the parent alone, whose job
  child then finishes on its own): the rerun ends with the results of an uninterrupted run;
- two ``mmgraph bench`` processes on one ``--out``: both finish with the whole report, equal to a
  run made alone;
- the report's regression headline: MAE shown as a number and the lowest bolded (golden table);
- every run records its thread count and library versions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mmgraph.bench import load_suite, run_suite
from mmgraph.bench.report import markdown_table, render_markdown, report_columns, summarize, threads_line
from mmgraph.bench.runner import job_lock_path
from mmgraph.files import exclusive_lock

SUITE = """
name = "reliable"
dataset = "digits"
tasks = ["digit"]
seeds = [0, 1]
max_train = 64
max_eval = 32

[train]
epochs = 2
batch_size = 32
lr = 5e-3

[robustness]
audio_snr_db = [0]

[[models]]
label = "graph"
name = "mmgnn"
hidden = 8
layers = 1

[[models]]
label = "late"
name = "late_fusion"
hidden = 8
"""

TIMING = ("epoch_seconds",)


def comparable(run: dict) -> dict:
    """A run's result without what depends on the clock or on having been resumed."""
    history = [{k: v for k, v in row.items() if k not in TIMING} for row in run["history"]]
    return {"label": run["label"], "seed": run["seed"], "test": run["test"], "robustness": run["robustness"],
            "best_epoch": run["best_epoch"], "history": history, "threads": run["environment"]["threads"],
            "parameters": run["cost"]["parameters"]}


def results(out: Path) -> list[dict]:
    return [comparable(r) for r in json.loads((out / "results.json").read_text())["runs"]]


@pytest.fixture
def suite_file(tmp_path) -> Path:
    path = tmp_path / "reliable.toml"
    path.write_text(SUITE)
    return path


def test_a_claimed_job_is_not_run_but_waited_for_then_taken_over(suite_file, tmp_path):
    import mmgraph.bench.runner as runner

    suite = load_suite(str(suite_file))
    suite.seeds = [0]
    out = tmp_path / "out"
    held = out / "runs" / "graph" / "seed0"
    claimed, other_jobs_done = threading.Event(), threading.Event()
    order: list[str] = []

    def other_process():  # holds the job's claim until the other job is done, then dies without a result
        with exclusive_lock(job_lock_path(held)):
            claimed.set()
            other_jobs_done.wait(timeout=300)
            time.sleep(0.5)  # the runner is waiting on the lock by now
            order.append("released")

    real = runner._run_claimed_job

    def recording(job):
        order.append(job["label"])
        result = real(job)
        if job["label"] == "late":
            other_jobs_done.set()
        return result

    holder = threading.Thread(target=other_process)
    holder.start()
    claimed.wait()
    runner._run_claimed_job = recording
    try:
        report = run_suite(suite, out, progress=False, isolate=False)
    finally:
        runner._run_claimed_job = real
        other_jobs_done.set()
        holder.join()
    # "late" ran while "graph" was held; "graph" ran only once its holder had let go
    assert order == ["late", "released", "graph"]
    assert [r["label"] for r in report["runs"]] == ["graph", "late"]
    env = report["runs"][0]["environment"]
    assert env["threads"] == torch.get_num_threads() and env["libraries"]["torch"]
    assert json.loads((held / "run.json").read_text())["environment"] == env
    assert f"Threads per run: {env['threads']}." in (out / "results.md").read_text()


def _bench(suite_file: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "mmgraph", "bench", "--suite", str(suite_file), "--out", str(out), "--threads", "1",
            "--no-progress"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


@pytest.mark.slow  # several suite runs in subprocesses
def test_sigkill_at_random_points_then_rerun_gives_the_uninterrupted_results(suite_file, tmp_path):
    suite_file.write_text(SUITE.replace("seeds = [0, 1]", "seeds = [0]"))
    reference = tmp_path / "reference"
    t0 = time.perf_counter()
    subprocess.run(_bench(suite_file, reference), env=_env(), check=True, capture_output=True, timeout=1800)
    wall = time.perf_counter() - t0

    killed = tmp_path / "killed"
    rng = np.random.default_rng(17)
    kills = []
    for whole_group in (True, False):  # SIGKILL the process group, or the parent alone
        proc = subprocess.Popen(_bench(suite_file, killed), env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        delay = float(rng.uniform(0.1, 0.6)) * wall
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL) if whole_group else proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append(round(delay, 1))
    assert kills, "the suite finished before any kill: nothing was tested"
    subprocess.run(_bench(suite_file, killed), env=_env(), check=True, capture_output=True, timeout=1800)
    assert results(killed) == results(reference)
    assert not list(killed.rglob(".*.tmp"))


@pytest.mark.slow  # two suite runs at once in subprocesses
def test_two_bench_processes_sharing_out_finish_with_the_results_of_one(suite_file, tmp_path):
    reference, shared = tmp_path / "reference", tmp_path / "shared"
    subprocess.run(_bench(suite_file, reference), env=_env(), check=True, capture_output=True, timeout=1800)
    procs = [subprocess.Popen(_bench(suite_file, shared), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert results(shared) == results(reference)
    runs = json.loads((shared / "results.json").read_text())["runs"]
    assert not any(r["resumed"] for r in runs)  # no job was started twice (a second start would resume)
    assert len(list((shared / "cache").glob("*/manifest.json"))) == 1


# ----------------------------------------------------------------------------------- report, golden


def regression_report() -> dict:
    def run(label, seed, mae, without_audio, without_image, auc):
        return {"label": label, "seed": seed, "test": {"snr/mae": mae, "snr/rmse": mae * 1.5},
                "robustness": {"without_audio": without_audio, "without_image": without_image,
                               "audio_snr_db": {"levels": [10.0, -10.0], "values": [auc - 0.5, auc + 0.5],
                                                "auc": auc}},
                "cost": {"parameters": 12000 if label == "graph" else 8000,
                         "seconds_per_epoch": 2.0 if label == "graph" else 3.0},
                "environment": {"threads": 1}}

    return {
        "suite": "golden", "dataset": "toy", "description": "", "sizes": {"train": 10}, "seeds": [0, 1],
        "headline": "snr/mae", "tasks": {"snr": {"name": "snr", "kind": "regression", "target": "snr"}},
        "modalities": ["audio", "image"], "models": ["graph", "late"],
        "runs": [run("graph", 0, 2.0, 3.0, 2.5, 2.2), run("graph", 1, 2.2, 3.2, 2.7, 2.4),
                 run("late", 0, 2.5, 6.0, 2.4, 3.0), run("late", 1, 2.7, 6.4, 2.6, 3.2)],
        "machine": {"python": "3.11", "torch": "2", "processor": "x86_64", "mmgraph": "0.1", "threads": 2},
        "wall_seconds": 60.0, "compute_seconds": 600.0, "command": "mmgraph bench --suite golden",
    }


GOLDEN = """\
| model | test snr/mae | audio removed | image removed | AUC audio-SNR sweep | params | s/epoch |
| --- | --- | --- | --- | --- | --- | --- |
| graph | **2.10 ± 0.14** | **3.10 ± 0.14** | 2.60 ± 0.14 | **2.30 ± 0.14** | 12 k | **2.00 ± 0.00** |
| late | 2.60 ± 0.14 | 6.20 ± 0.28 | **2.50 ± 0.14** | 3.10 ± 0.14 | **8 k** | 3.00 ± 0.00 |"""


def test_regression_headline_table_is_golden():
    """An MAE headline: removed-modality and sweep columns hold MAEs, shown as numbers (not × 100 as a
    percentage) and the lowest bolded, like the headline column itself."""
    report = regression_report()
    summary = summarize(report)
    assert markdown_table(report, summary, report_columns(report)) == GOLDEN
    sweep = markdown_table(report, summary, [("audio_snr_db=10", "10"), ("audio_snr_db=-10", "-10")])
    assert sweep.splitlines()[2:] == ["| graph | **1.80 ± 0.14** | **2.80 ± 0.14** |",
                                      "| late | 2.60 ± 0.14 | 3.60 ± 0.14 |"]
    text = render_markdown(report, summary)
    assert "Threads per run: 1." in text and "Compute: 10.0 min" in text and "took 1.0 min" in text


def test_threads_line_says_when_runs_differ():
    report = regression_report()
    report["runs"][0]["environment"] = {"threads": 2}
    report["runs"][1]["environment"] = {}
    assert threads_line(report).startswith("Threads per run differ (2 run(s) with 1, 1 run(s) with 2, "
                                           "1 run(s) with not recorded)")
