"""The declared run record: schema_version everywhere, one status vocabulary, old records still open,
and NaN, +inf, -inf, None and NaT kept apart from a real edge check to the CLI, the report and the widgets."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipetest_nb.events import Event, EventKind, StepStatus
from pipetest_nb.records.monitor import PipelineMonitor
from pipetest_nb.records.record import load_record, read_events
from pipetest_nb.records.workspace import Workspace

OLD_RUN = Path(__file__).parent / "fixtures" / "old_format_run"
OLD_RUN_ID = "20261201-201655-step-fails-suite-warns-5ea0c4"


def strict_json(text: str):
    """Parse as strict JSON: NaN and Infinity tokens are not JSON."""
    def refuse(token):
        raise AssertionError(f"non-JSON token {token} written")

    return json.loads(text, parse_constant=refuse)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------


def test_values_from_data_round_trip_distinct_in_strict_json():
    import numpy as np
    import pandas as pd

    from pipetest_nb.json_values import NaT, display_value, dumps, loads, plain_value

    values = plain_value([1.5, np.float64("inf"), -math.inf, np.nan, None, pd.NaT, np.datetime64("NaT"), "NaN",
                          {"$float": "inf"}, {"nested": [math.inf, None]}])
    text = dumps({"values": values})
    again = loads(json.dumps(strict_json(text)))["values"]
    assert again[0] == 1.5 and again[1] == math.inf and again[2] == -math.inf and math.isnan(again[3])
    assert again[4] is None and again[5] is NaT and again[6] is NaT and again[7] == "NaN"
    assert again[8] == {"$float": "inf"}  # a dict that looks like a tag stays a dict
    assert again[9] == {"nested": [math.inf, None]}
    assert display_value(again[:7]) == "[1.5, inf, -inf, nan, None, NaT, NaT]"


def test_every_record_and_every_event_line_carries_the_schema_version(tmp_path):
    from pipetest_nb.records.schema import SCHEMA_VERSION

    writer = Workspace(tmp_path).create_run("p")
    writer.emit(EventKind.RUN_STARTED, pipeline={"name": "p"}, steps=["a"])
    writer.emit(EventKind.STEP_FINISHED, "a", status=StepStatus.SUCCEEDED, metrics={"score": math.nan})
    writer.close()
    record = strict_json(writer.folder.record_path.read_text())
    assert record["schema_version"] == SCHEMA_VERSION and "format" not in record
    lines = writer.folder.events_path.read_text().splitlines()
    assert [strict_json(line)["schema_version"] for line in lines] == [SCHEMA_VERSION] * len(lines)
    assert math.isnan(load_record(writer.folder.path).steps["a"]["metrics"]["score"])


# --------------------------------------------------------------------------------------------------
# Old records, one vocabulary
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """A run folder of format 1 (no schema_version), as pipetest_nb wrote it before the schema."""
    run_dir = tmp_path / "ws" / "runs" / OLD_RUN_ID
    shutil.copytree(OLD_RUN, run_dir)
    return run_dir


def test_a_format_1_run_still_opens(old_run, tmp_path):
    from pipetest_nb import Session
    from pipetest_nb.records.schema import SCHEMA_VERSION
    from pipetest_nb.views.report.data import report_json

    assert "schema_version" not in (old_run / "run.json").read_text()
    before = {p.name: p.read_bytes() for p in old_run.iterdir()}
    record = load_record(old_run)
    assert record.data["schema_version"] == SCHEMA_VERSION  # upgraded in memory
    assert record.status == "failed" and record.steps["clean"]["status"] == "failed"
    assert [e.kind for e in read_events(old_run / "events.jsonl")][0] == EventKind.RUN_STARTED
    assert record.edges["load.raw_data->audit.DATA"]["expectations"][0]["failures"][0]["unexpected_values"] == [-3, 150]
    report = report_json(old_run)
    assert report["status"] == "failed" and report["root_failure"]["step"] == "clean"
    listed = cli("runs", "--workspace", str(tmp_path / "ws"))
    assert listed.returncode == 0 and OLD_RUN_ID in listed.stdout and "failed" in listed.stdout, listed
    assert {p.name: p.read_bytes() for p in old_run.iterdir()} == before  # reading wrote nothing
    with Session.open(old_run, progress=False) as session:
        assert session.status == {"load": "succeeded", "audit": "succeeded", "clean": "failed", "train": "blocked"}


def test_the_monitor_speaks_the_record_vocabulary():
    monitor = PipelineMonitor()
    steps = [("a", "succeeded"), ("b", "cached"), ("c", "failed")]
    monitor(Event(EventKind.RUN_STARTED, "r", 0, 0.0, data={"pipeline": {"name": "p"}, "steps": [s for s, _ in steps]}))
    for i, (step, status) in enumerate(steps):
        monitor(Event(EventKind.STEP_STARTED, "r", 2 * i + 1, 1.0, step))
        monitor(Event(EventKind.STEP_FINISHED, "r", 2 * i + 2, 2.0, step, {"status": status, "metrics": {}}))
    report = monitor.generate_report("r")
    assert {n: d["status"] for n, d in report["step_details"].items()} == dict(steps)
    assert report["execution_summary"]["steps_completed"] == 2 and report["execution_summary"]["steps_failed"] == 1

    pid = monitor.start_pipeline_monitoring("q")  # the original plan's API, same words
    monitor.start_step_monitoring(pid, "x")
    monitor.complete_step_monitoring(pid, "x", True, {"duration": 1.0})
    monitor.start_step_monitoring(pid, "y")
    monitor.complete_step_monitoring(pid, "y", False, {"duration": 1.0})
    details = monitor.generate_report(pid)["step_details"]
    assert (details["x"]["status"], details["y"]["status"]) == (StepStatus.SUCCEEDED, StepStatus.FAILED)


# --------------------------------------------------------------------------------------------------
# NaN, ±inf, None and NaT from a real edge check
# --------------------------------------------------------------------------------------------------

EDGE_PIPELINE = """
name: edge-values
defaults: {isolation: inprocess, timeout: 120}
steps:
  a:
    script: a.py
    outputs: {table: {format: parquet}}
  b:
    script: b.py
    inputs: {table: a.table}
edges:
  - {from: a.table, to: b.table, on_expectation_failure: FAILURE}
"""

EDGE_SCRIPTS = {
    "a.py": """
        from pathlib import Path
        import pandas as pd

        def main(input_paths, output_paths, environ_vars, job_args):
            frame = pd.DataFrame({
                "x": [1.0, float("inf"), float("-inf"), float("nan"), 2.0],
                "s": [b"a", None, b"b", b"c", b"d"],  # binary: read back as objects, a missing one as None
                "t": pd.to_datetime(["2020-01-01", None, "2020-01-02", "2020-01-03", "2020-01-04"]),
            })
            frame.to_parquet(Path(output_paths["table"]) / "part-0.parquet", index=False)
    """,
    "b.py": "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n",
    "expectations/a.table.json": json.dumps({"name": "a.table", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0, "max_value": 10}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "s"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "t"}},
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "x", "min_value": 0, "max_value": 10}},
    ]}),
}


def _edge_run(root: Path, on_failure: str) -> tuple[subprocess.CompletedProcess, Path]:
    folder = root / "pipeline"
    for rel, source in EDGE_SCRIPTS.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(textwrap.dedent(source))
    (folder / "pipeline.yaml").write_text(EDGE_PIPELINE.replace("FAILURE", on_failure))
    done = cli("run", str(folder / "pipeline.yaml"), "--workspace", str(root / "ws"), "--no-cache")
    [run_dir] = (root / "ws" / "runs").iterdir()
    return done, run_dir


def _failures(record) -> dict[tuple[str, str], dict]:
    [edge] = record.edges.values()
    [check] = edge["expectations"]
    return {(f["type"], f["column"]): f for f in check["failures"]}


@pytest.mark.slow
def test_nan_inf_none_and_nat_stay_distinct_from_the_check_to_every_view(tmp_path):
    from pipetest_nb import Debugger
    from pipetest_nb.json_values import NaT
    from pipetest_nb.views.report.html import write_html_report

    done, run_dir = _edge_run(tmp_path / "fail", "fail")
    assert done.returncode == 1, done.stderr
    # the CLI: the root failure (the producer's check) names each value as it is
    for shown in ("e.g. -inf, inf", "e.g. nan", "e.g. None", "e.g. NaT", "observed inf"):
        assert shown in done.stdout, (shown, done.stdout)

    record = load_record(run_dir)
    failures = _failures(record)
    assert failures[("expect_column_values_to_be_between", "x")]["unexpected_values"] == [-math.inf, math.inf]
    [nan] = failures[("expect_column_values_to_not_be_null", "x")]["unexpected_values"]
    assert isinstance(nan, float) and math.isnan(nan)
    assert failures[("expect_column_values_to_not_be_null", "s")]["unexpected_values"] == [None]
    assert failures[("expect_column_values_to_not_be_null", "t")]["unexpected_values"] == [NaT]
    assert failures[("expect_column_max_to_be_between", "x")]["observed_value"] == math.inf
    strict_json((run_dir / "run.json").read_text())
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        strict_json(line)

    page = write_html_report(run_dir, tmp_path / "report.html").read_text()
    edges = page[page.find('<section id="edges"'):page.find('<section id="timeline"')]
    for shown in ("<td>-inf, inf</td>", "<td>nan</td>", "<td>None</td>", "<td>NaT</td>", "<td>inf</td>"):
        assert shown in edges, shown

    debugger = Debugger(run_dir)
    try:
        debugger.select("edge", ("a.table", "b.table"))
        validation = debugger.inspector.validation.value
    finally:
        debugger.close()
    for shown in ("-inf, inf", "nan", "None", "NaT"):
        assert f'<code class="pipetest-unexpected">{shown}</code>' in validation, (shown, validation)
    assert "observed inf" in validation


def test_a_run_without_its_pipeline_cannot_be_reopened_and_says_so(tmp_path):
    from pipetest_nb.exceptions import RunRecordError
    from pipetest_nb.records.schema import pipeline_to_reopen

    run_dir = tmp_path / "ws" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "events.jsonl").write_text(json.dumps(
        {"seq": 0, "time": 1.0, "kind": "step_started", "run_id": "r1", "step": "a"}) + "\n")
    record = load_record(run_dir)  # the run_started event is lost: it still reads, under its folder's name
    assert record.run_id == "r1" and record.summary()["counts"] == {"running": 1}
    with pytest.raises(RunRecordError, match="r1: run.json: holds no pipeline spec"):
        pipeline_to_reopen(run_dir, record.data)
    assert pipeline_to_reopen(run_dir, {"pipeline": {"spec": {}, "base_dir": "/p"}})["base_dir"] == "/p"
