"""Honest timings: a step's edge checks are their own figure, and the slowest step, the critical path and
the timeline bars all count the same time (start to end); memory reads in MiB everywhere."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from pipelines import NOOP_SCRIPT, write_pipeline

from pipetest_nb import Session
from pipetest_nb.records.record import load_record
from pipetest_nb.text import format_bytes
from pipetest_nb.views.notebook.display import step_result_html
from pipetest_nb.views.notebook.panels import metrics_html
from pipetest_nb.views.report.data import report_json
from pipetest_nb.views.report.html import write_html_report

ROWS = """\
import os
import pandas as pd
def main(input_paths, output_paths, environ_vars, job_args):
    pd.DataFrame({"age": list(range(50)), "city": ["a", "b"] * 25}).to_parquet(
        os.path.join(output_paths["rows"], "t.parquet"))
"""
SUITE = {"name": "rows", "expectations": [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "city", "value_set": ["a", "b"]}}]}
PIPELINE = """\
name: timed
defaults: {isolation: inprocess}
steps:
  make: {script: make.py, outputs: {rows: {format: parquet}}}
  use: {script: use.py, inputs: {DATA: make.rows}}
edges:
  - {from: make.rows, to: use.DATA, expectations: rows}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timed")
    path = write_pipeline(folder / "p", PIPELINE, {"make.py": ROWS, "use.py": NOOP_SCRIPT,
                                                   "expectations/rows.json": json.dumps(SUITE)})
    with Session(path, workspace=folder / "ws", progress=False) as session:
        assert session.run_all().success
        return session.flush_record()


def test_edge_check_time_is_recorded_apart_from_the_script(run_dir):
    make = load_record(run_dir).steps["make"]
    metrics = make["metrics"]
    assert metrics["check_time"] > 0 and metrics["duration"] > 0
    elapsed = make["finished_at"] - make["started_at"]
    assert metrics["duration"] + metrics["check_time"] <= elapsed + 1e-3  # both inside the step's bar


def test_slowest_step_and_critical_path_count_what_the_timeline_draws(run_dir):
    report = report_json(run_dir)
    steps = load_record(run_dir).steps
    bars = {n: s["finished_at"] - s["started_at"] for n, s in steps.items()}
    slowest = report["performance_insights"]["slowest_step"]
    assert slowest["step"] == max(bars, key=bars.get)
    assert slowest["duration"] == pytest.approx(bars[slowest["step"]])
    assert slowest["check_time"] == steps[slowest["step"]]["metrics"]["check_time"]
    path = report["performance_insights"]["critical_path"]
    assert path["steps"] == ["make", "use"] and path["duration"] == pytest.approx(sum(bars.values()))
    assert report["steps"]["make"]["elapsed"] == pytest.approx(bars["make"])


def test_every_view_shows_the_edge_checks_and_memory_in_mib(run_dir):
    record = load_record(run_dir)
    make = record.steps["make"]
    peak = format_bytes(make["metrics"]["peak_rss"])
    assert peak.endswith(" MiB")

    html = write_html_report(run_dir).read_text()
    assert '"name":"edge checks"' in html  # the timeline's own bars for the checks
    assert re.search(r"slowest step</th><td><code>\w+</code> \([\d.]+ m?s: script [\d.]+ m?s, edge checks", html)
    assert "<th>edge checks</th>" in html and peak in html

    tab = metrics_html(record.data, ["make", "use"], "make", now=0.0)
    assert "edge checks" in tab and "pipetest-checks" in tab and "total (start to end)" in tab and peak in tab

    with Session.open(run_dir, progress=False) as session:
        shown = step_result_html(session.result("make"))
    assert "edge checks" in shown and peak in shown

    done = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "report", str(run_dir), "--json",
                           str(run_dir / "r.json")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for text in (html, tab, shown):
        assert not re.search(r"\d MB\b", text)  # one unit: binary MiB
