"""The real entry point under ``torchrun``: ``--batch-size`` is the global batch, divided among the ranks.

``torchrun --nproc-per-node 2 -m mmgraph train ... --batch-size 32`` takes the same optimisation steps
on the same global batches as ``mmgraph train ... --batch-size 32`` in one process, so every epoch
lands on the same numbers (to float noise: the two ranks sum gradients in another order, and the
sampler pads the odd-sized train split by one sample). Killing one rank mid-run and rerunning with
``--resume`` ends exactly like the uninterrupted two-process run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# no random draws (modality dropout, <unk> replacement): each rank would draw its own
MODEL = '[model]\nname = "mmgnn"\nhidden = 16\nlayers = 1\nmodality_dropout = 0.0\ntoken_unk_rate = 0.0\n'
EPOCHS = 3


def _args(model: Path, out: Path, resume: bool = False) -> list[str]:
    args = ["train", "--data", "digits", "--model", str(model), "--out", str(out), "--epochs", str(EPOCHS),
            "--batch-size", "32", "--seed", "0", "--lr", "5e-3", "--no-progress"]
    return args + (["--resume"] if resume else [])


def _one(model: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "mmgraph", *_args(model, out)]


def _two(model: Path, out: Path, resume: bool = False) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "mmgraph", *_args(model, out, resume)]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _rows(out: Path) -> list[dict]:
    rows = json.loads((out / "metrics.json").read_text())
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]


def _epochs_done(out: Path) -> int:
    try:
        return len(json.loads((out / "metrics.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow  # four training runs, two of them under torchrun
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the rank processes through /proc")
def test_torchrun_two_ranks_equal_one_process_and_resume_after_a_rank_is_killed(tmp_path):
    model = tmp_path / "model.toml"
    model.write_text(MODEL)
    one, two, killed = tmp_path / "one", tmp_path / "two", tmp_path / "killed"
    subprocess.run(_one(model, one), env=_env(), check=True, capture_output=True, timeout=600)
    subprocess.run(_two(model, two), env=_env(), check=True, capture_output=True, timeout=600)

    single, ddp = _rows(one), _rows(two)
    assert len(single) == len(ddp) == EPOCHS
    for a, b in zip(ddp, single):
        assert a["lr"] == b["lr"]  # the same number of steps: the schedule is the same
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=2e-3)
        assert a["val/loss"] == pytest.approx(b["val/loss"], rel=2e-3)
        assert a["val/digit/accuracy"] == pytest.approx(b["val/digit/accuracy"], abs=2 / 270 + 1e-9)

    # kill one rank during epoch 1: torchrun stops the other; --resume continues from epoch 0's checkpoint
    proc = subprocess.Popen(_two(model, killed), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _epochs_done(killed) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    ranks = _children(proc.pid)
    assert proc.poll() is None and len(ranks) == 2, "torchrun finished before the kill"
    os.kill(ranks[1], signal.SIGKILL)
    assert proc.wait(timeout=120) != 0
    assert _epochs_done(killed) < EPOCHS
    subprocess.run(_two(model, killed, resume=True), env=_env(), check=True, capture_output=True, timeout=600)
    assert _rows(killed) == ddp
    final, reference = (json.loads((o / "test_metrics.json").read_text()) for o in (killed, two))
    assert final["test"] == reference["test"] and final["best_epoch"] == reference["best_epoch"]
