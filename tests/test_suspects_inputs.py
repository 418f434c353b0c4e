"""A failure after an input changed: the step that read it is a suspect, compared with the last green run.

``prep`` copies an external file (``data.csv``) to its output and ``score`` reads the ``region`` column
of it. A run goes green; ``data.csv`` loses that column; the next run fails in ``score`` with
``KeyError: 'region'``, and its root failure names ``prep``, whose input ``data`` changed since the
green run, in its suspects, its cause sentence, the report's graph and the debugger's. Real runs in a
real workspace throughout; only the record-level ranking test makes records up.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from pipelines import hard_wall, write_pipeline

from pipetest_nb import Session
from pipetest_nb.records.cache import Deadline
from pipetest_nb.records.changes import last_green_run, step_digests
from pipetest_nb.records.record import load_record
from pipetest_nb.records.suspects import CHANGED, cause_message, find_suspects
from pipetest_nb.views.notebook.layout import MARK_TRACES, NODE_TRACE, SUSPECT

PIPELINE = """\
name: regions
defaults: {isolation: inprocess}
steps:
  prep:
    script: prep.py
    inputs:
      data: {path: data.csv}
    outputs:
      table: {}
  score:
    script: score.py
    inputs:
      table: {from: prep.table}
      codes: {path: codes.txt}
    outputs:
      scores: {}
"""
SCRIPTS = {
    "prep.py": """\
        import shutil
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            shutil.copy(input_paths["data"], Path(output_paths["table"]) / "table.csv")
        """,
    "score.py": """\
        import csv
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            codes = Path(input_paths["codes"]).read_text().split()
            with open(Path(input_paths["table"]) / "table.csv") as fh:
                regions = sorted({row["region"] for row in csv.DictReader(fh)})
            (Path(output_paths["scores"]) / "scores.txt").write_text(" ".join(regions + codes))
        """,
}
WITH_REGION = "customer,region\n1,north\n2,south\n"
WITHOUT_REGION = "customer\n1\n2\n"
KEY_ERROR = "the failure in score is a KeyError on 'region'"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_pipeline(tmp_path, PIPELINE, SCRIPTS)
    (tmp_path / "data.csv").write_text(WITH_REGION)
    (tmp_path / "codes.txt").write_text("a b\n")
    return tmp_path


def run(folder: Path, **options) -> dict:
    """Run the whole pipeline in a new run of the folder's workspace; its record."""
    with Session(folder / "pipeline.yaml", folder / "ws", progress=False, **options) as session:
        result = session.run_all()
        record = load_record(session.run_dir).data
    assert record["status"] == ("succeeded" if result.success else "failed")
    return record


def changed(record: dict) -> list[dict]:
    return [s for s in record["root_failure"]["suspects"] if s["kind"] == CHANGED]


def folder_state(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.iterdir() if p.is_file()}


def test_each_step_records_the_digests_of_its_external_inputs_and_of_its_script(folder):
    green = run(folder, cache=False)
    prep, score = green["steps"]["prep"], green["steps"]["score"]
    assert set(prep["input_digests"]) == {"data"} and set(score["input_digests"]) == {"codes"}  # not prep.table
    assert all(len(d) == 64 for d in (*prep["input_digests"].values(), prep["script_digest"]))
    again = run(folder, cache=False)
    assert again["steps"]["prep"]["input_digests"] == prep["input_digests"]  # content, not the run
    (folder / "data.csv").write_text(WITH_REGION.replace("south", "east"))
    assert run(folder, cache=False)["steps"]["prep"]["input_digests"] != prep["input_digests"]


def test_an_input_edited_since_the_green_run_names_its_reader_as_suspect_and_the_cause_says_so(folder):
    green = run(folder)
    green_dir = folder / "ws" / "runs" / green["run_id"]
    before = folder_state(green_dir)
    (folder / "data.csv").write_text(WITHOUT_REGION)
    with Session(folder / "pipeline.yaml", folder / "ws", progress=False) as session:
        result = session.run_all()
        failed = load_record(session.run_dir).data
    root = failed["root_failure"]
    assert root["step"] == "score" and root["last_green_run"] == green["run_id"]
    (suspect,) = changed(failed)  # codes.txt did not change: score is no such suspect
    assert suspect["step"] == "prep" and suspect["changed_inputs"] == ["data"]
    assert suspect["since_run"] == green["run_id"] and suspect["distance"] == 1 and not suspect["script_changed"]
    cause = f"prep's input 'data' changed since the last green run {green['run_id']}; {KEY_ERROR}"
    assert root["cause"] == cause
    assert f"Likely cause: {cause}" in result.error
    assert folder_state(green_dir) == before  # the green run was read, never written


def test_the_report_and_the_debugger_ring_the_step_whose_input_changed(folder):
    from pipetest_nb import Debugger
    from pipetest_nb.views.report.data import report_json
    from pipetest_nb.views.report.html import report_dag_figure

    green = run(folder)
    (folder / "data.csv").write_text(WITHOUT_REGION)
    failed = run(folder)
    finding = f"prep's input 'data' changed since the last green run {green['run_id']}"
    run_dir = folder / "ws" / "runs" / failed["run_id"]
    figure = report_dag_figure(report_json(run_dir), failed["plan"], "regions")
    nodes, rings = figure.data[NODE_TRACE], figure.data[MARK_TRACES[SUSPECT]]
    at = {(x, y): step for x, y, step in zip(nodes.x, nodes.y, failed["plan"]["execution_order"], strict=True)}
    assert {at[p] for p in zip(rings.x, rings.y, strict=True) if p[0] is not None} == {"prep"}
    assert html.escape(finding) in nodes.hovertext[failed["plan"]["execution_order"].index("prep")]
    dbg = Debugger(run_dir)
    try:
        assert dbg.suspects == {"prep": finding}
        assert dbg.cause == failed["root_failure"]["cause"]
    finally:
        dbg.close()


def test_a_changed_script_is_said_and_an_unchanged_input_is_no_suspect(folder):
    green = run(folder)
    script = folder / "score.py"
    script.write_text(script.read_text().replace('row["region"]', 'row["regions"]'))
    failed = run(folder)
    (suspect,) = changed(failed)
    assert suspect["step"] == "score" and suspect["script_changed"] and suspect["changed_inputs"] == []
    assert failed["root_failure"]["cause"] == (
        f"score's script changed since the last green run {green['run_id']}; the failure in score is a "
        "KeyError on 'regions'")


def test_the_newest_green_run_before_the_failure_is_the_one_compared_with(folder):
    run(folder)
    (folder / "data.csv").write_text(WITH_REGION.replace("south", "east"))
    newer = run(folder)
    (folder / "data.csv").write_text(WITHOUT_REGION)
    failed = run(folder)
    assert failed["root_failure"]["last_green_run"] == newer["run_id"]
    assert [s["since_run"] for s in changed(failed)] == [newer["run_id"]]


def test_a_first_failing_run_has_no_green_run_to_compare_with(folder):
    (folder / "data.csv").write_text(WITHOUT_REGION)
    failed = run(folder)
    root = failed["root_failure"]
    assert root["step"] == "score" and root["last_green_run"] is None
    assert changed(failed) == [] and root["cause"] is None


def test_a_green_run_recorded_before_input_digests_loads_and_names_no_change(folder):
    green = run(folder)
    green_dir = folder / "ws" / "runs" / green["run_id"]
    _forget_digests(green_dir)  # as a pipetest_nb without this field wrote it
    old = load_record(green_dir).data
    assert all("input_digests" not in s and "script_digest" not in s for s in old["steps"].values())
    (folder / "data.csv").write_text(WITHOUT_REGION)
    failed = run(folder)
    assert failed["root_failure"]["last_green_run"] == green["run_id"]
    assert changed(failed) == []
    assert find_suspects(failed, "score", baseline=old) == []


def _forget_digests(run_dir: Path) -> None:
    record = json.loads((run_dir / "run.json").read_text())
    for entry in record["steps"].values():
        entry.pop("input_digests", None)
        entry.pop("script_digest", None)
    (run_dir / "run.json").write_text(json.dumps(record))
    lines = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        for key in ("input_digests", "script_digest"):
            (event.get("data") or {}).pop(key, None)
        lines.append(json.dumps(event) + "\n")
    (run_dir / "events.jsonl").write_text("".join(lines))


def test_runs_of_other_pipelines_and_later_runs_are_not_the_baseline(folder):
    green = run(folder)
    runs = folder / "ws" / "runs"
    other = runs / green["run_id"].replace("-regions-", "-other-")
    shutil.copytree(runs / green["run_id"], other)  # named as another pipeline's run: not even read
    (folder / "data.csv").write_text(WITHOUT_REGION)
    failed = run(folder)
    assert failed["root_failure"]["last_green_run"] == green["run_id"]
    assert last_green_run(runs, {**failed, "started_at": green["started_at"]}) is None  # none started before
    assert last_green_run(runs, {**failed, "pipeline": {"name": "elsewhere"}}) is None


def test_a_run_folder_without_an_event_log_is_read_whole_and_a_damaged_one_is_passed_over(folder):
    green = run(folder)
    (folder / "data.csv").write_text(WITHOUT_REGION)
    failed = run(folder)
    runs = folder / "ws" / "runs"
    kept = json.loads((runs / green["run_id"] / "run.json").read_text())
    (runs / "kept-by-hand").mkdir()  # a green run brought back as its snapshot alone, started later
    middle = (green["started_at"] + failed["started_at"]) / 2
    (runs / "kept-by-hand" / "run.json").write_text(json.dumps({**kept, "run_id": "kept-by-hand",
                                                                 "started_at": middle}))
    (runs / "damaged").mkdir()
    (runs / "damaged" / "run.json").write_text('{"status": 7}')
    (runs / "damaged" / "events.jsonl").write_text("[1, 2]\n")
    assert last_green_run(runs, failed)["run_id"] == "kept-by-hand"


def test_an_input_that_cannot_be_hashed_gets_no_digest_and_the_step_no_delay(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("pass\n")
    os.mkfifo(tmp_path / "fifo")  # reading it would block: refused, never opened for reading
    (tmp_path / "small.csv").write_text("a\n1\n")
    with hard_wall(10):
        found = step_digests(str(script), {"fifo": str(tmp_path / "fifo"), "small": str(tmp_path / "small.csv")},
                             boundary=tmp_path, deadline=Deadline(60, "hashing"))
    assert set(found["input_digests"]) == {"small"} and len(found["script_digest"]) == 64
    (tmp_path / "big.bin").write_bytes(os.urandom(3 * 2**20))
    spent = Deadline(0.0, "hashing")  # the time limit is used up: nothing more is hashed
    time.sleep(0.01)
    assert step_digests("", {"big": str(tmp_path / "big.bin")}, boundary=tmp_path, deadline=spent) == {}


def _record(steps: dict, edges: dict) -> dict:
    return {"run_id": "now", "plan": {"dependencies": {"a": [], "b": ["a"], "c": ["b"]}},
            "steps": steps, "edges": edges}


def test_a_change_ranks_after_an_edge_the_error_names_and_before_edges_farther_away():
    green = _record({s: {"input_digests": {"in": "1"}, "script_digest": "s"} for s in "abc"}, {})
    green["run_id"] = "green"
    now = {"a": {"input_digests": {"in": "1"}}, "b": {"input_digests": {"in": "1"}, "script_digest": "s"},
           "c": {"status": "failed", "exception_type": "KeyError", "error_message": "KeyError: 'x'",
                 "input_digests": {"in": "2", "new": "3"}}}  # 'new' was not there to compare with
    named = {"b.o->c.i": {"source": "b.o", "target": "c.i", "state": "warned",
                          "expectations": [{"failures": [{"type": "expect_column_to_exist", "column": "x"}]}]}}
    far = {"a.o->b.i": {"source": "a.o", "target": "b.i", "state": "failed"}}
    found = find_suspects(_record(now, {**named, **far}), "c", baseline=green)
    assert [(s.step, s.kind, s.distance) for s in found] == [("b", "edge", 0), ("c", CHANGED, 0), ("a", "edge", 1)]
    assert found[1].changed_inputs == ["in"]
    assert find_suspects(_record(now, {**named, **far}), "c") == [found[0], found[2]]  # the record alone
    alone = find_suspects(_record(now, {}), "c", baseline=green)
    assert cause_message(_record(now, {}), alone, "c") == (
        "c's input 'in' changed since the last green run green; the failure in c is a KeyError on 'x'")
