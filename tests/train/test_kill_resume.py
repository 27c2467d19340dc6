"""A training run killed (SIGKILL) at random points and resumed ends exactly like an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

MODEL = """
[model]
name = "mmgnn"
hidden = 16
layers = 1
tasks = ["digit", "snr_db"]
"""


def _cmd(out, model, resume=False):
    cmd = [sys.executable, "-m", "mmgraph", "train", "--data", "digits", "--model", str(model), "--out", str(out),
           "--epochs", "4", "--seed", "3", "--lr", "5e-3", "--no-progress"]
    return cmd + (["--resume"] if resume else [])


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _epochs_done(out) -> int:
    path = out / "metrics.json"
    try:
        return len(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _kill_during_epoch(out, model, epoch: int, rng) -> None:
    """Start (or resume) the run and SIGKILL it at a random moment while it trains ``epoch``."""
    proc = subprocess.Popen(_cmd(out, model, resume=(out / "run.json").exists()), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _epochs_done(out) < epoch and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(float(rng.uniform(0.0, 0.8)))  # somewhere inside the epoch (or its checkpoint write)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def _rows(out):
    rows = json.loads((out / "metrics.json").read_text())
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]


@pytest.mark.slow  # spawns several processes; CI runs the slow tests as a step of their own
def test_sigkill_at_random_points_then_resume_matches(tmp_path):
    model = tmp_path / "model.toml"
    model.write_text(MODEL)
    reference = tmp_path / "reference"
    subprocess.run(_cmd(reference, model), env=_env(), check=True, capture_output=True)

    killed = tmp_path / "killed"
    rng = np.random.default_rng(0)
    _kill_during_epoch(killed, model, 1, rng)  # first kill: during epoch 1
    _kill_during_epoch(killed, model, 2, rng)  # second kill, after resuming: during epoch 2
    assert _epochs_done(killed) < 4  # really interrupted
    subprocess.run(_cmd(killed, model, resume=True), env=_env(), check=True, capture_output=True)

    assert _rows(killed) == _rows(reference)
    final_ref = json.loads((reference / "test_metrics.json").read_text())
    final = json.loads((killed / "test_metrics.json").read_text())
    assert final["test"] == final_ref["test"] and final["best_epoch"] == final_ref["best_epoch"]
    assert not list((killed / "checkpoints").glob(".*.tmp"))  # torn temp files of a killed write are cleaned
