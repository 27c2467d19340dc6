"""``run_benchmark``: any suite, by name or file, run by the runner its ``kind`` names.

``kind = "models"`` (the default) runs every (model, seed) with ``run_suite``; ``kind = "ssl"`` runs
the self-supervised stages with ``run_ssl_suite``. Both write their data cache, run folders and
report (``results.json/.csv/.md``, plots) into one output folder, and resume when rerun into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmgraph.bench.report import print_table
from mmgraph.bench.runner import run_suite
from mmgraph.bench.ssl import load_ssl_suite, run_ssl_suite
from mmgraph.bench.suite import SUITES_DIR, list_suites, load_suite, suite_kind
from mmgraph.graph.config import merge_graph_overrides


@dataclass
class BenchmarkRun:
    """A finished benchmark: the suite's kind and name, its report and where the files are."""

    kind: str
    suite: str
    report: dict[str, Any]
    out: Path

    def summary(self) -> str:
        """What a terminal shows: the main table (models) or each target met or missed (ssl)."""
        results = f"results: {self.out}/results.md (+ results.json, results.csv, plots)"
        if self.kind == "ssl":
            lines = [f"{'met' if row['met'] else 'MISSED'}: {row['target']} (measured {row['value']['mean']:.4f})"
                     for row in self.report["summary"]["targets"]]
            return "\n".join([f"{self.suite} on {self.report['dataset']} ({len(self.report['seeds'])} seed(s), "
                              f"{self.report['compute_seconds']:.0f} s of jobs)", *lines, results])
        return "\n".join([f"{self.suite} on {self.report['dataset']} ({len(self.report['seeds'])} seed(s), "
                          f"{self.report['wall_seconds']:.0f} s)", print_table(self.report), results])


def run_benchmark(suite: str, out: str | Path | None = None, *, quick: bool = False, seeds: list[int] | None = None,
                  root: str | None = None, threads: int | None = None, workers: int | None = None,
                  progress: bool = True,
                  command: str | None = None, graph: Mapping[str, Any] | None = None) -> BenchmarkRun:
    """Run (or resume) a suite with the runner of its ``kind``.

    Args:
        suite: suite name (``mmgraph bench --list``) or TOML file.
        out: output folder (default ``bench-out/<suite name>``): data cache, run folders, report.
        quick: apply the suite's ``[quick]`` settings.
        seeds: override the suite's seeds.
        root: raw-data folder (overrides the suite's).
        threads: torch threads per run (overrides the suite's ``threads``).
        workers: runs at once, each in its own process (overrides a models suite's ``workers``).
        progress: progress bars.
        command: the command line to record in the report.
        graph: graph-config overrides (a ``[graph]`` table, as ``mmgraph bench --graph FILE.toml`` reads
            it), merged over the suite's own ``[graph]`` (``merge_graph_overrides``).
    """
    if suite_kind(suite) == "ssl":
        ssl = load_ssl_suite(suite)
        ssl.root = root or ssl.root
        ssl.threads = threads or ssl.threads
        ssl.graph = merge_graph_overrides(ssl.graph, graph or {})
        folder = Path(out or f"bench-out/{ssl.name}")
        report = run_ssl_suite(ssl, folder, folder, quick=quick, seeds=seeds, progress=progress, command=command)
        return BenchmarkRun("ssl", ssl.name, report, folder)
    models = load_suite(suite)
    models.root = root or models.root
    models.graph = merge_graph_overrides(models.graph, graph or {})
    folder = Path(out or f"bench-out/{models.name}")
    report = run_suite(models, folder, quick=quick, seeds=seeds, progress=progress, command=command, threads=threads,
                       workers=workers)
    return BenchmarkRun("models", models.name, report, folder)


def describe_suites() -> str:
    """One line per built-in suite (name, kind, dataset, models x seeds, description), each one parsed.

    Parsing every file here is the point: a suite that does not parse (or is missing from an
    installed package) fails ``mmgraph bench --list`` rather than the user's first run.
    """
    names = list_suites()
    if not names:
        raise RuntimeError(f"no built-in suites found in {SUITES_DIR} (a broken install?)")
    lines = []
    for name in names:
        if suite_kind(name) == "ssl":
            suite = load_ssl_suite(name)
            what = f"{suite.dataset}, self-supervised, {len(suite.seeds)} seed(s)"
        else:
            suite = load_suite(name)
            what = f"{suite.dataset}, {len(suite.models)} model(s) x {len(suite.seeds)} seed(s)"
        lines.append(f"{name:<18} {what}: {suite.description}")
    return "\n".join(lines)


__all__ = ["BenchmarkRun", "describe_suites", "run_benchmark"]
