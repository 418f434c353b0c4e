"""The run report: a real run of a small hostile pipeline, rendered to HTML and JSON.

Step ``a`` writes a table with ``<script>`` in a column name and ``<img onerror>`` in a value, prints
a secret and a ``<script>`` to its logs; its suite fails on the planted value (warn, so ``b`` runs);
``b`` raises with HTML in its message; ``c`` never runs. Nothing of that may reach the page as markup.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipetest_nb import PipelineDAG, PipetestError, Session
from pipetest_nb.engine.run import PipelineRun
from pipetest_nb.views.report.data import report_json
from pipetest_nb.views.report.html import write_html_report

COL = '<script>alert("col")</script>'
VAL = "<img src=x onerror=alert('val')>"
ERR = '<script>alert("err")</script>'
EXC = "<img src=y onerror=alert('exc')>"
SECRET = "tok-supersecret-123"

PIPELINE = """
name: hostile
defaults: {isolation: inprocess, timeout: 60}
steps:
  a:
    script: a.py
    outputs: {table: {format: parquet}, notes: {}}
    env: {API_TOKEN: SECRET_VALUE, ROWS: "20"}
  b:
    script: b.py
    inputs: {table: {from: a.table, format: parquet}}
    outputs: {out: {}}
  c:
    script: c.py
    inputs: {data: b.out}
edges:
  - {from: a.table, to: b.table, on_expectation_failure: warn}
""".replace("SECRET_VALUE", SECRET)

SCRIPTS = {
    "a.py": f"""
        import sys
        from pathlib import Path
        import pandas as pd

        def main(input_paths, output_paths, environ_vars, job_args):
            rows = int(environ_vars["ROWS"])
            frame = pd.DataFrame({{"id": range(rows), {COL!r}: ["ok"] * (rows - 1) + [{VAL!r}]}})
            frame.to_parquet(Path(output_paths["table"]) / "part-0.parquet", index=False)
            print("using token " + environ_vars["API_TOKEN"])
            print({ERR!r}, file=sys.stderr)
    """,
    "b.py": f"""
        def main(input_paths, output_paths, environ_vars, job_args):
            raise ValueError("bad row " + {EXC!r})
    """,
    "c.py": "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n",
    "expectations/a.table.json": json.dumps({"name": "a.table", "expectations": [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": COL, "value_set": ["ok"]}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]}),
}


def write_pipeline(folder: Path, text: str, scripts: dict[str, str]) -> Path:
    """The pipeline file and its scripts in ``folder`` (local: tests/browser has a conftest of its own)."""
    for rel, source in scripts.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(textwrap.dedent(source))
    (folder / "pipeline.yaml").write_text(textwrap.dedent(text))
    return folder / "pipeline.yaml"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    folder = tmp_path_factory.mktemp("hostile")
    path = write_pipeline(folder / "pipeline", PIPELINE, SCRIPTS)
    with Session(path, folder / "ws", progress=False, cache=False, on_error="fail_pipeline") as session:
        session.run_all()
        report = write_html_report(session, folder / "report.html")
        run_dir = session.run_dir
    return run_dir, report.read_text(encoding="utf-8"), report_json(run_dir)


def test_run_failed_where_planted(hostile_run):
    _, _, report = hostile_run
    assert report["status"] == "failed" and report["success"] is False
    assert report["root_failure"]["step"] == "b" and report["root_failure"]["error_type"] == "execution_error"
    assert report["not_run"] == ["c"]
    assert report["steps"]["a"]["status"] == "succeeded" and report["steps"]["c"]["status"] == "blocked"


def test_every_section_present_root_failure_first(hostile_run):
    _, page, _ = hostile_run
    ids = ["root-failure", "summary", "dag", "steps", "edges", "timeline", "insights", "logs", "environment"]
    positions = [page.find(f'<section id="{i}"') for i in ids]
    assert all(p > 0 for p in positions), dict(zip(ids, positions, strict=True))
    assert positions == sorted(positions)
    root = page[positions[0]:positions[1]]
    assert "Root failure" in root and "<code>b</code>" in root and "execution_error" in root
    assert "Not run because of it: c" in root
    assert page.count("Plotly.newPlot(") == 2
    assert page.count("* plotly.js v") == 1  # the library is inlined once


def test_tables_carry_metrics_and_edge_failures(hostile_run):
    _, page, report = hostile_run
    steps = page[page.find('<section id="steps"'):page.find('<section id="edges"')]
    for header in ("total", "script", "edge checks", "peak memory", "CPU", "rows in", "rows out", "input size",
                   "output size"):
        assert f"<th>{header}</th>" in steps
    assert report["steps"]["a"]["rows_out"] == 20 and report["steps"]["b"]["rows_in"] == 20
    assert "<h3>Warnings</h3>" in steps and "the step wrote nothing to output &#x27;notes&#x27;" in steps
    edges = page[page.find('<section id="edges"'):page.find('<section id="timeline"')]
    assert "a.table → b.table" in edges and "expect_column_values_to_be_in_set" in edges
    [edge] = report["edges"]
    assert edge["state"] == "warned"
    [check] = edge["expectations"]
    assert check["success"] is False and check["failures"][0]["unexpected_values"] == [VAL]


def test_data_and_logs_are_escaped(hostile_run):
    _, page, _ = hostile_run
    for planted in (COL, VAL, ERR, EXC):
        assert planted not in page, planted
    assert html.escape(ERR) in page  # stderr tail
    assert html.escape(EXC) in page  # the root failure's message
    assert html.escape(COL) in page  # the column of the failed expectation
    assert html.escape(repr(VAL)) in page  # a sample of the unexpected values
    # only our own script tags: the inlined library and the two figures
    assert len(re.findall(r"<script\b", page)) == 3


def test_nothing_is_loaded_from_the_network(hostile_run):
    _, page, _ = hostile_run
    assert not re.search(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page


def test_secret_env_values_are_masked(hostile_run):
    run_dir, page, report = hostile_run
    assert SECRET not in page and SECRET not in json.dumps(report)
    assert report["steps"]["a"]["env"]["API_TOKEN"] == "********"
    assert "using token ********" in report["steps"]["a"]["log_tail"]["stdout"]
    assert "API_TOKEN=********" in page


def test_json_form_has_the_original_report_shape(hostile_run):
    _, _, report = hostile_run
    summary = report["execution_summary"]
    assert summary["steps_completed"] == 1 and summary["steps_failed"] == 1
    assert set(summary) == {"total_duration", "steps_completed", "steps_failed", "success_rate"}
    detail = report["step_details"]["a"]
    assert set(detail) == {"duration", "status", "memory_usage", "cpu_usage", "rows", "data_processed"}
    assert detail["rows"]["output"] == 20 and report["step_details"]["b"]["rows"]["input"] == 20
    assert report["performance_insights"]["slowest_step"]["step"] in ("a", "b")
    assert report["performance_insights"]["critical_path"]["steps"][:1] == ["a"]
    json.dumps(report)  # plain JSON all the way down


def test_cli_report_writes_html_and_json(hostile_run, tmp_path):
    run_dir, _, _ = hostile_run
    done = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "report", str(run_dir), "-o",
                           str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((tmp_path / "r.json").read_text())["root_failure"]["step"] == "b"


def test_report_of_a_run_still_starting(tmp_path):
    """A run folder with only its first events (nothing ran yet) still renders."""
    path = write_pipeline(tmp_path / "p", "steps:\n  a: {script: a.py}\n",
                          {"a.py": "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n"})
    run = PipelineRun(PipelineDAG.from_yaml(path), tmp_path / "ws")
    try:
        run.writer.attach()  # what the first step does before it starts: the header is on disk, nothing ran
        page = write_html_report(run.run_dir).read_text()
    finally:
        run.close()
    assert '<section id="steps"' in page and "pending" in page


def test_a_session_where_nothing_ran_has_no_report_yet(tmp_path):
    path = write_pipeline(tmp_path / "p", "steps:\n  a: {script: a.py}\n",
                          {"a.py": "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n"})
    with Session(path, tmp_path / "ws", progress=False) as session, \
            pytest.raises(PipetestError, match="nothing has run in this session yet"):
        write_html_report(session, tmp_path / "r.html")
