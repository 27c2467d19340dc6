"""benchmarks/train_throughput.py end to end at its minimum size: every model trained and evaluated, report written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_ROOT = Path(os.environ.get("MMGRAPH_DATA") or REPO.parent / "shared" / "data")
HAVE_DATA = all((DATA_ROOT / p).exists() for p in ("mnist/mnist.npz", "fsdd/recordings", "esc50_8k/SHA256SUMS"))


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_DATA, reason=f"AV-MNIST raw data not found under {DATA_ROOT} (set $MMGRAPH_DATA)")
def test_train_throughput_smoke(tmp_path):
    out = tmp_path / "tt.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "train_throughput.py"), "--train-samples", "256",
           "--test-samples", "128", "--threads", "1", "--chunk-steps", "1", "--no-memory",
           "--root", str(DATA_ROOT), "--work", str(tmp_path / "work"), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    subprocess.run(cmd, check=True, env=env, cwd=tmp_path, capture_output=True, timeout=600)
    result = json.loads(out.read_text())
    assert result["train_samples"] == 256 and result["test_samples"] == 128
    (run,) = result["passes"]
    assert run["threads"] == 1 and run["chunks"] == 2  # 256 samples in chunks of one batch of 128
    models = [r["model"] for r in run["rows"]]
    assert models == ["graph model", "early-fusion transformer", "plain TransformerEncoder", "early fusion (CNN)"]
    for row in run["rows"]:
        assert row["train_samples_per_s"] > 0 and row["inference_samples_per_s"] > 0 and row["parameters"] > 0
    cnn = run["rows"][-1]
    assert cnn["throughput_ratio_to_cnn_wall"] == 1.0 and run["rows"][2]["step_ratio_to_plain_wall"] == 1.0
    assert run["graph_model_step_gflop_per_sample"] > 0 and run["matmul_peak_gflops"]["fp32"] > 0
    assert 0 < run["graph_model_share_of_peak"]["fp32"] < 1
    assert "| graph model |" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").stat().st_size > 0
