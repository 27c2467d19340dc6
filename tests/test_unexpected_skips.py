"""A ``data`` or ``pretrained`` test that skips although what it needs is present fails (CI catches lost tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TESTS = '''
import pytest

@pytest.mark.data
@pytest.mark.skipif(True, reason="looked in the wrong folder")
def test_data_skipped_by_a_mark():
    pass

@pytest.mark.data
def test_data_skipped_inside():
    pytest.skip("file not found")

@pytest.mark.data
def test_data_that_runs():
    pass

def test_unmarked_skip():
    pytest.skip("no tmpfs here")
'''


def run_pytest(tmp_path: Path, data_root: Path) -> subprocess.CompletedProcess:
    (tmp_path / "test_marked.py").write_text(TESTS)
    env = {**os.environ, "MMGRAPH_DATA": str(data_root), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",  # our hook
               "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"), str(tmp_path)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_a_data_test_skipping_while_the_data_is_present_fails(tmp_path):
    (tmp_path / "data").mkdir()
    result = run_pytest(tmp_path, tmp_path / "data")
    assert result.returncode == 1, result.stdout
    # a skip in setup (a skipif mark) becomes an error, one in the test body a failure; the unmarked skip stays
    assert "1 failed, 1 passed, 1 skipped, 1 error" in result.stdout, result.stdout
    assert "is marked 'data' and the raw data folder" in result.stdout
    assert "yet it skipped: looked in the wrong folder" in result.stdout
    assert "yet it skipped: file not found" in result.stdout


def test_without_the_data_its_tests_skip_as_usual(tmp_path):
    result = run_pytest(tmp_path, tmp_path / "absent")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 3 skipped" in result.stdout, result.stdout
