"""The likely culprit of a failure, on the broken demo: ``missing_value_imputation`` drops ``region``, the
edge check after it warns, and ``risk_table_mapping`` fails with ``KeyError: 'region'``.

The run goes through the console command (its summary), then the same workspace is opened in the
Debugger (the graph's marks and the message line), the HTML report, and ``find_suspects`` on records
made up to show what is and is not a suspect.
"""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

import pytest

from pipetest_nb import Debugger
from pipetest_nb.demo import copy_demo
from pipetest_nb.records.record import load_record
from pipetest_nb.records.suspects import cause_message, describe_error, find_suspects
from pipetest_nb.views.notebook.layout import MARK_TRACES, NODE_TRACE, SUSPECT
from pipetest_nb.views.report.html import write_html_report

CAUSE = ("missing_value_imputation's output lost column 'region' (warned on edge "
         "missing_value_imputation.processed_data → risk_table_mapping.input_data); "
         "the failure in risk_table_mapping is a KeyError on 'region'")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("broken")
    copy_demo(folder / "demo")
    done = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "run", "demo/pipeline_broken.yaml",
                           "--workspace", "ws"], capture_output=True, text=True, timeout=300, cwd=folder)
    return folder, done


def ringed(debugger: Debugger, kind: str) -> set[str]:
    """The steps the figure draws a ``kind`` ring around (read from the ring trace's points)."""
    trace = debugger.graph.figure.data[MARK_TRACES[kind]]
    at = {debugger.graph.model.pos[s]: s for s in debugger.graph.model.steps}
    return {at[(x, y)] for x, y in zip(trace.x, trace.y, strict=True) if x is not None}


def run_dir(folder: Path) -> Path:
    (only,) = (folder / "ws" / "runs").iterdir()
    return only


@pytest.mark.slow
def test_the_record_and_the_run_summary_name_the_step_that_dropped_the_column(broken):
    folder, done = broken
    assert done.returncode != 0, done.stdout
    assert f"Likely cause: {CAUSE}" in done.stdout, done.stdout[-3000:]
    root = load_record(run_dir(folder)).data["root_failure"]
    assert root["step"] == "risk_table_mapping" and root["cause"] == CAUSE
    best = root["suspects"][0]
    assert best["step"] == "missing_value_imputation" and best["lost_columns"] == ["region"]
    assert best["named_in_error"] and best["distance"] == 0 and best["state"] == "warned"


@pytest.mark.slow
def test_the_report_says_the_likely_cause(broken):
    folder, _ = broken
    page = write_html_report(run_dir(folder)).read_text()
    assert f"<b>Likely cause:</b> {html.escape(CAUSE)}" in page


@pytest.mark.slow
def test_the_debugger_marks_the_suspect_on_the_graph_and_says_why(broken):
    folder, _ = broken
    dbg = Debugger(run_dir(folder))  # the recorded run
    try:
        assert dbg.suspects == {"missing_value_imputation": "missing_value_imputation's output lost column 'region'"}
        assert dbg.cause == CAUSE
        assert ringed(dbg, SUSPECT) == {"missing_value_imputation"}
        assert "lost column" in dbg.graph.figure.data[NODE_TRACE].hovertext[
            dbg.graph.model.steps.index("missing_value_imputation")]
        dbg.replay_to(0)  # before anything failed: no suspect
        assert dbg.suspects == {} and ringed(dbg, SUSPECT) == set()
        dbg.live()
        assert "missing_value_imputation" in dbg.suspects
    finally:
        dbg.close()

    live = Debugger(folder / "demo" / "pipeline_broken.yaml", workspace=folder / "ws")  # a new run, by the button
    try:
        live.run_all_button.click()
        assert live.wait(300)
        assert "likely cause: " + html.escape(CAUSE) in live.message.value, live.message.value
        assert list(live.suspects) == ["missing_value_imputation"]
    finally:
        live.close()


def _record(edges: dict, error: str = "KeyError: 'b'") -> dict:
    return {"plan": {"dependencies": {"a": [], "b": ["a"], "c": ["b"], "side": ["a"]}},
            "root_failure": {"step": "c"},
            "steps": {"c": {"status": "failed", "exception_type": "KeyError", "error_message": error}},
            "edges": edges}


def _edge(source: str, target: str, state: str, column: str | None = None) -> dict:
    failures = [{"type": "expect_column_values_to_not_be_null", "column": column}] if column else []
    return {"source": source, "target": target, "state": state,
            "expectations": [{"suite": "s", "state": state, "failures": failures}]}


def test_suspects_are_the_producers_of_bad_edges_upstream_nearest_and_named_in_the_error_first():
    edges = {"a.o->b.i": _edge("a.o", "b.i", "failed", "x"), "b.o->c.i": _edge("b.o", "c.i", "warned", "y"),
             "a.o->side.i": _edge("a.o", "side.i", "failed", "b"),  # not upstream of c
             "a.p->b.j": _edge("a.p", "b.j", "passed")}
    found = find_suspects(_record(edges))
    assert [(s.step, s.distance) for s in found] == [("b", 0), ("a", 1)]
    assert cause_message(_record(edges), found) == (
        "b's output failed its checks on column 'y' (warned on edge b.o → c.i); the failure in c is a KeyError "
        "on 'b'; also suspect: a")
    named = find_suspects(_record(edges, error="KeyError: 'x'"))
    assert [s.step for s in named] == ["a", "b"]  # the error names a's column: a first
    assert find_suspects(_record({"a.p->b.j": _edge("a.p", "b.j", "passed")})) == []
    assert find_suspects({"steps": {}}) == []
    assert describe_error({"exception_type": "ValueError", "error_message": "ValueError: bad (s.py, line 3, in f)"}) \
        == "a ValueError: bad"
