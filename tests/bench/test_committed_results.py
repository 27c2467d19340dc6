"""The committed benchmark reports are what the code draws from their JSON, and name no machine path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mmgraph.bench.report import render_markdown, summarize
from mmgraph.bench.ssl_report import render_markdown as render_ssl_markdown
from mmgraph.bench.ssl_report import summarize_ssl

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
SUITES = sorted(p.parent.name for p in RESULTS.glob("*/results.json"))


@pytest.mark.parametrize("suite", SUITES)
def test_a_suite_table_is_drawn_from_its_json(suite):
    report = json.loads((RESULTS / suite / "results.json").read_text())
    committed = (RESULTS / suite / "results.md").read_text()
    if "jobs" in report:  # a kind = "ssl" suite
        plots = re.findall(r"!\[[^]]*\]\(([^)]+)\)", committed)
        assert committed == render_ssl_markdown(report, summarize_ssl(report), plots)
    else:
        assert committed.startswith(render_markdown(report, summarize(report)))
    assert report.get("compute_seconds", 0) > 0  # the runs' own time, not the last invocation's


def test_no_result_names_a_path_of_this_machine():
    texts = [p for p in RESULTS.rglob("*") if p.suffix in (".md", ".json")] + [RESULTS.parents[1] / "README.md"]
    for path in texts:
        text = path.read_text()
        assert "/work/" not in text and "/tmp/" not in text, path


def test_a_builtin_suite_is_recorded_by_its_package_path():
    from mmgraph.bench.suite import SUITES_DIR, recorded_source

    assert recorded_source(str(SUITES_DIR / "emoji.toml")) == "mmgraph/bench/suites/emoji.toml"
    assert recorded_source("my/suite.toml") == "my/suite.toml" and recorded_source(None) is None
