"""What a regular (non-editable) install lacks, users lack: every data file the package reads ships."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _package_data_globs() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["setuptools"]["package-data"]["mmgraph"])


def test_every_non_python_file_of_the_package_is_package_data() -> None:
    package = ROOT / "mmgraph"
    globs = _package_data_globs()
    data_files = [p.relative_to(package).as_posix() for p in package.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data_files, "the package has no data files: this test would prove nothing"
    unshipped = [f for f in data_files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not unshipped, f"not in [tool.setuptools.package-data]: {unshipped} (globs: {globs})"


def test_every_package_data_glob_matches_something() -> None:
    package = ROOT / "mmgraph"
    for glob in _package_data_globs():
        assert list(package.glob(glob)), f"package-data glob {glob!r} matches no file under mmgraph/"


@pytest.mark.parametrize("name", ["quick", "digits_baselines", "avmnist", "emoji", "avmnist_ssl"])
def test_built_in_suites_are_found(name: str) -> None:
    from mmgraph.bench.suite import list_suites

    assert name in list_suites()


def test_bench_list_parses_every_suite(capsys: pytest.CaptureFixture[str]) -> None:
    from mmgraph.cli import main

    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    from mmgraph.bench.suite import list_suites

    assert [line.split()[0] for line in out] == list_suites()
