"""The Debugger widget, headless: click its buttons, then read widget traits, tab HTML and figure data.

The pipeline (tests/fixtures/step_fails_suite_warns) runs for real, in-process: `clean` raises after
writing to stderr, and the Great Expectations suite on load -> audit finds two impossible ages.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipelines import write_pipeline

from pipetest_nb import Debugger, Session
from pipetest_nb.events import EventKind
from pipetest_nb.views.notebook.layout import (
    CHANGED,
    EDGE_COLORS,
    EDGE_MARK_TRACE,
    MARK_TRACES,
    NODE_TRACE,
    STATUS_COLORS,
    SUSPECT,
)
from pipetest_nb.views.notebook.pages import read_page

FIXTURE = Path(__file__).parent / "fixtures" / "step_fails_suite_warns"
STEPS = ["load", "audit", "clean", "train"]
SUITE_EDGE = ("load.raw_data", "audit.DATA")
AFTER_FAILURE = ("clean.clean_data", "train.DATA")


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "p")
    return tmp_path / "p" / "pipeline.yaml"


@pytest.fixture
def dbg(pipeline: Path, tmp_path: Path):
    debugger = Debugger(pipeline, workspace=tmp_path / "ws")
    yield debugger
    debugger.wait(60)
    debugger.close()


def shown(trace) -> list[str]:
    """The colour each marker shows: its value read through the trace's discrete colour scale."""
    top = trace.marker.cmax
    colours = {round(position * top): colour for position, colour in trace.marker.colorscale}
    return [colours[int(v)] for v in trace.marker.color]


def node_colours(debugger: Debugger) -> dict[str, str]:
    trace = debugger.graph.figure.data[NODE_TRACE]
    return dict(zip(trace.customdata, shown(trace), strict=True))


def edge_colours(debugger: Debugger) -> dict[tuple[str, str], str]:
    return dict(zip(debugger.graph.model.data_edges, shown(debugger.graph.figure.data[EDGE_MARK_TRACE]),
                    strict=True))


def click(button) -> None:
    assert not button.disabled, f"{button.description} is disabled"
    button.click()


def test_buttons_step_and_run_all_colour_the_graph_and_fill_the_tabs(dbg):
    assert list(dbg.graph.figure.data[NODE_TRACE].customdata) == STEPS
    assert set(node_colours(dbg).values()) == {STATUS_COLORS["pending"]}
    assert dbg.stop_button.disabled and dbg.run_to_button.disabled  # nothing runs, nothing selected

    click(dbg.step_button)
    assert dbg.wait(120)
    assert node_colours(dbg) == {"load": STATUS_COLORS["succeeded"], "audit": STATUS_COLORS["pending"],
                                 "clean": STATUS_COLORS["pending"], "train": STATUS_COLORS["pending"]}
    assert edge_colours(dbg)[SUITE_EDGE] == EDGE_COLORS["warned"]
    assert "step <b>load</b>: succeeded" in dbg.message.value

    click(dbg.run_all_button)
    assert dbg.wait(120)
    assert node_colours(dbg) == {"load": STATUS_COLORS["succeeded"], "audit": STATUS_COLORS["succeeded"],
                                 "clean": STATUS_COLORS["failed"], "train": STATUS_COLORS["pending"]}
    assert edge_colours(dbg)[AFTER_FAILURE] == EDGE_COLORS["unchecked"]
    assert "step <b>clean</b> failed" in dbg.message.value and "1 failed" in dbg.status_line.value
    assert dbg.errors == []

    dbg.select("step", "clean")  # what a click on the node does (the browser test clicks for real)
    logs = dbg.inspector.logs.value
    assert "cleaning &lt;people&gt;: 2 rows with impossible ages" in logs and "<people>" not in logs
    assert "ValueError: age out of range: [-3, 150]" in logs and "pipetest-traceback" in logs
    assert "step &#x27;clean&#x27; is failed" not in dbg.inspector.data.value  # a failed step's files are shown
    assert not dbg.run_to_button.disabled and not dbg.rerun_button.disabled

    dbg.select("edge", SUITE_EDGE)
    validation = dbg.inspector.validation.value
    assert "Suite &#x27;ages&#x27; (1/2 passed, on failure: warn)" in validation
    assert validation.count("✔ passed") == 1 and validation.count("✘ failed") == 1
    assert "expect_column_values_to_be_between" in validation and "2 (4.44%)" in validation
    assert '<code class="pipetest-unexpected">-3, 150</code>' in validation

    config = (dbg.select("step", "load"), dbg.inspector.config.value)[1]
    assert "API_TOKEN" in config and "s3cret" not in config and "********" in config
    assert "job_type" in config and "timeout" in config and ">120<" in config
    metrics = dbg.inspector.metrics.value
    assert "Timeline" in metrics and "Peak memory" in metrics and metrics.count("pipetest-bar") >= 6


def test_data_tab_pages_through_a_table_and_escapes_values(dbg):
    dbg.session.step()
    dbg.select("step", "load")
    inspector = dbg.inspector
    assert [label for label, _ in inspector.table_picker.options] == ["load.raw_data · people.parquet"]
    data = inspector.data.value
    assert "rows 1–20 of 45" in data and "&lt;b&gt;Lyon&lt;/b&gt;" in data and "<b>Lyon" not in data
    assert "nulls (whole table)" in data and "describe() of this page" in data and "int64" in data
    assert inspector.prev_button.disabled and not inspector.next_button.disabled
    click(inspector.next_button)
    click(inspector.next_button)
    assert "rows 41–45 of 45" in inspector.data.value and inspector.next_button.disabled
    click(inspector.prev_button)
    assert "rows 21–40 of 45" in inspector.data.value

    dbg.select("step", "train")
    assert "step &#x27;train&#x27; is pending: no data yet" in inspector.data.value
    assert inspector.table_picker.options == ()


def test_graph_and_tabs_follow_session_calls_typed_in_a_cell(dbg):
    dbg.select("step", "load")
    assert "the step has not run" in dbg.inspector.logs.value
    first_run = dbg.session.run_id

    dbg.session.step()  # no click: the widget hears the session's events
    assert node_colours(dbg)["load"] == STATUS_COLORS["succeeded"]
    assert "wrote 45 rows for training" in dbg.inspector.logs.value
    assert "1 succeeded" in dbg.status_line.value

    dbg.session.reset()  # a new run: its first event resets the graph to it
    dbg.session.step()  # load's outputs come from the step cache this time
    assert dbg.session.run_id != first_run
    assert node_colours(dbg)["load"] == STATUS_COLORS["cached"]
    assert dbg.graph.statuses == {"load": "cached", "audit": "pending", "clean": "pending", "train": "pending"}


def test_run_to_selected_and_rerun_selected_after_a_fix(dbg, pipeline):
    dbg.select("step", "audit")
    click(dbg.run_to_button)
    assert dbg.wait(120)
    assert dbg.session.status == {"load": "succeeded", "audit": "succeeded", "clean": "pending", "train": "pending"}
    click(dbg.run_all_button)
    assert dbg.wait(120)
    assert dbg.session.status["clean"] == "failed"

    (pipeline.parent / "clean.py").write_text(
        "from pathlib import Path\n"
        "import pandas as pd\n\n"
        "def main(input_paths, output_paths, environ_vars, job_args):\n"
        "    frame = pd.read_parquet(input_paths['DATA'])\n"
        "    frame[frame.age.between(0, 120)].to_parquet(Path(output_paths['clean_data']) / 'people.parquet')\n")
    dbg.select("edge", AFTER_FAILURE)  # re-running an edge re-runs its producer
    click(dbg.rerun_button)
    assert dbg.wait(120)
    assert dbg.session.status["clean"] == "succeeded" and dbg.session.status["train"] == "pending"
    assert node_colours(dbg)["clean"] == STATUS_COLORS["succeeded"]
    assert "step <b>clean</b>: succeeded" in dbg.message.value
    assert "clean.clean_data → train.DATA" in dbg.inspector.validation.value


def test_every_handler_shows_its_error_in_the_widget(dbg, tmp_path, monkeypatch):
    click(dbg.step_button)
    dbg.wait(120)
    dbg.run_to_button.disabled = False  # as if a stale front end let the click through
    dbg.run_to_button.click()
    assert "Run to selected failed" in dbg.message.value and "select a step" in dbg.message.value

    dbg.path_box.value = str(tmp_path / "nope.yaml")
    click(dbg.load_button)
    assert "nope.yaml does not exist" in dbg.message.value and "<details>" not in dbg.message.value

    # a fault that is not a user mistake: its traceback is shown (escaped) and kept in .errors
    def broken() -> None:
        raise RuntimeError("<disk> on fire")

    monkeypatch.setattr(dbg.session, "step", broken)
    click(dbg.step_button)
    assert dbg.wait(30)
    assert "Step failed</b>: &lt;disk&gt; on fire" in dbg.message.value and "<details>" in dbg.message.value
    assert "RuntimeError: <disk> on fire" in dbg.errors[-1]
    assert not dbg.step_button.disabled and dbg.stop_button.disabled  # no dead buttons after a failure


def test_stop_kills_the_running_step(tmp_path):
    path = write_pipeline(tmp_path / "slow", """
        name: slow
        steps:
          sleepy: {script: sleepy.py, isolation: subprocess, outputs: {out: {}}}
        """, {"sleepy.py": """
        import time
        def main(input_paths, output_paths, environ_vars, job_args):
            print("going to sleep", flush=True)
            time.sleep(120)
        """})
    dbg = Debugger(path, workspace=tmp_path / "ws")
    printed = threading.Event()
    dbg.session.events.subscribe(lambda e: printed.set() if e.kind == EventKind.STEP_OUTPUT else None)
    dbg.select("step", "sleepy")
    try:
        click(dbg.step_button)
        assert printed.wait(60)
        assert dbg.busy and dbg.task == "Step" and not dbg.stop_button.disabled and dbg.step_button.disabled
        assert node_colours(dbg)["sleepy"] == STATUS_COLORS["running"]
        logs = dbg.inspector.logs.value  # live: the step is still running
        assert "going to sleep" in logs and "live: updates while the step runs" in logs
        click(dbg.stop_button)
        assert dbg.wait(60)
        assert dbg.session.status["sleepy"] == "interrupted"
        assert node_colours(dbg)["sleepy"] == STATUS_COLORS["interrupted"]
        assert dbg.stop_button.disabled and not dbg.step_button.disabled
    finally:
        dbg.wait(60)
        dbg.close()


def test_replay_and_reopening_a_recorded_run(pipeline, tmp_path):
    with Session(pipeline, workspace=tmp_path / "ws", progress=False) as session:
        session.run_all()
        run_dir = session.run_dir
        events = session.history()
    dbg = Debugger(run_dir)  # a recorded run: the graph shows it as it ended
    try:
        assert dbg.graph.statuses == {"load": "succeeded", "audit": "succeeded", "clean": "failed",
                                      "train": "pending"}
        assert dbg.replay_slider.max >= len(events) - 1
        load_done = next(i for i, e in enumerate(events) if e.kind == EventKind.STEP_FINISHED and e.step == "load")

        dbg.select("step", "clean")
        dbg.replay_slider.value = load_done  # what dragging the slider does
        assert dbg.replay_index == load_done and "replay" in dbg.status_line.value
        assert node_colours(dbg) == {"load": STATUS_COLORS["succeeded"], "audit": STATUS_COLORS["pending"],
                                     "clean": STATUS_COLORS["pending"], "train": STATUS_COLORS["pending"]}
        assert edge_colours(dbg)[SUITE_EDGE] == EDGE_COLORS["warned"]
        assert "no data at this point of the run" in dbg.inspector.data.value
        assert "age out of range" not in dbg.inspector.logs.value.split("<b>stderr</b>")[0]
        click(dbg.replay_next)
        assert dbg.replay_index == load_done + 1
        assert f"event {load_done + 2} of" in dbg.replay_label.value

        click(dbg.live_button)
        assert dbg.replay_index is None and dbg.live_button.disabled
        assert node_colours(dbg)["clean"] == STATUS_COLORS["failed"]
        assert "ValueError: age out of range" in dbg.inspector.logs.value
    finally:
        dbg.close()


def test_runs_drop_down_lists_runs_newest_first_and_opens_one(dbg):
    click(dbg.run_all_button)
    dbg.wait(120)
    failed_run = str(dbg.session.run_dir)
    click(dbg.reset_button)
    dbg.wait(60)
    assert set(node_colours(dbg).values()) == {STATUS_COLORS["pending"]}
    labels = [label for label, _ in dbg.runs_dropdown.options]
    assert len(labels) == 3 and labels[0].startswith("runs in ws/")
    assert labels[1].endswith("(shown)") and " · failed · " in labels[2]

    dbg.runs_dropdown.value = failed_run  # picking a run opens it
    assert str(dbg.session.run_dir) == failed_run, dbg.message.value
    assert node_colours(dbg)["clean"] == STATUS_COLORS["failed"]
    assert dbg.runs_dropdown.value == failed_run and dbg.path_box.value == failed_run


def test_load_bar_opens_a_cursus_pipeline(tmp_path):
    fixture = Path(__file__).parent / "fixtures" / "cursus" / "chain"
    dbg = Debugger(workspace=tmp_path / "ws")
    try:
        assert dbg.step_button.disabled and dbg.session is None
        dbg.path_box.value = f"{fixture / 'pipeline_dag.json'} {fixture / 'config.json'} {fixture / 'contracts'} {fixture / 'overrides.yaml'}"
        click(dbg.load_button)
        assert dbg.session is not None, dbg.message.value
        assert len(dbg.graph.figure.data[NODE_TRACE].x) == len(dbg.session.plan.execution_order) > 1
        assert not dbg.step_button.disabled
    finally:
        dbg.close()


def test_read_page_reads_only_the_rows_asked_for_across_row_groups_and_files(tmp_path):
    folder = tmp_path / "out"
    (folder / "part").mkdir(parents=True)
    for k in range(2):
        values = list(range(k * 250, (k + 1) * 250))
        table = pa.table({"v": values, "s": [None if v % 10 == 0 else str(v) for v in values]})
        pq.write_table(table, folder / "part" / f"part-{k}.parquet", row_group_size=40)
    page = read_page(folder, "part/part-*", offset=230, limit=30)
    assert page.rows.column("v").to_pylist() == list(range(230, 260))  # spans two files and row groups
    assert page.total_rows == 500 and page.has_next
    assert page.null_counts == {"v": 0, "s": 50}  # from the footers: the whole table, not the page
    last = read_page(folder, "part/part-*", offset=490, limit=30)
    assert last.rows.num_rows == 10 and not last.has_next

    (folder / "t.csv").write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(30)))
    csv_page = read_page(folder, "t.csv", offset=25, limit=20)
    assert csv_page.rows.column("a").to_pylist() == [25, 26, 27, 28, 29] and csv_page.null_counts is None


def test_secrets_a_step_prints_are_masked_in_the_logs_tab(tmp_path):
    token = "tok-never-show-4242"
    path = write_pipeline(tmp_path / "p", f"steps:\n  leak: {{script: leak.py, env: {{API_TOKEN: {token}}}}}\n",
                          {"leak.py": "def main(i, o, e, a):\n    print('calling with', e['API_TOKEN'])\n"})
    debugger = Debugger(path, workspace=tmp_path / "ws", isolation="inprocess")
    try:
        debugger.session.step()
        debugger.select("step", "leak")
        assert "calling with ********" in debugger.inspector.logs.value
        assert token not in debugger.inspector.logs.value and token not in debugger.inspector.config.value
    finally:
        debugger.close()


def test_a_failed_step_opens_logs_and_a_warned_edge_opens_validation_failures_first(dbg):
    dbg.session.run_all()
    tabs = dbg.inspector.widget
    dbg.select("step", "clean")
    assert tabs.titles[tabs.selected_index] == "Logs"
    logs = dbg.inspector.logs.value
    assert logs.index("ValueError: age out of range") < logs.index("<b>stderr</b>")  # the error on top

    dbg.select("step", "load")  # a step that succeeded opens on its data
    assert tabs.titles[tabs.selected_index] == "Data"

    dbg.select("edge", SUITE_EDGE)
    assert tabs.titles[tabs.selected_index] == "Validation"
    validation = dbg.inspector.validation.value
    assert validation.index("✘ failed") < validation.index("✔ passed")  # failures first
    toggle = dbg.inspector.failures_only
    toggle.value = True  # what pressing "failures only" does
    only = dbg.inspector.validation.value
    assert "✘ failed" in only and "✔ passed" not in only and "1 passed expectation hidden" in only
    dbg.select("edge", SUITE_EDGE)  # the toggle holds for the next selection
    assert "✔ passed" not in dbg.inspector.validation.value
    toggle.value = False
    assert "✔ passed" in dbg.inspector.validation.value


def test_an_output_without_tables_lists_the_files_it_holds(dbg):
    dbg.session.run(until="audit")
    dbg.select("step", "audit")
    data = dbg.inspector.data.value
    assert "hold no tables; the files they hold" in data
    assert "audit.report" in data and "report.txt" in data and "8 B" in data


def test_search_box_finds_and_selects_a_step_by_part_of_its_name_or_a_close_spelling(dbg):
    assert dbg.search_box.options == tuple(STEPS)  # the box offers every step as you type
    dbg.search_box.value = "clea"  # what typing and pressing enter does
    assert dbg.selection == ("step", "clean") and dbg.graph.selected == ("step", "clean")
    dbg.search_box.value = "AUDIT"
    assert dbg.selection == ("step", "audit")
    dbg.search_box.value = "trian"  # a typo
    assert dbg.selection == ("step", "train")
    dbg.search_box.value = "a"  # several contain it: the first in run order, the others named
    assert dbg.selection == ("step", "load") and "also matching: audit, clean, train" in dbg.message.value
    dbg.search_box.value = "zzz"
    assert "Find failed" in dbg.message.value and "no step is named like &#x27;zzz&#x27;" in dbg.message.value
    assert dbg.selection == ("step", "load")


def ringed(debugger: Debugger, kind: str) -> set[str]:
    """The steps the figure draws a ``kind`` ring around (read from the ring trace's points)."""
    trace = debugger.graph.figure.data[MARK_TRACES[kind]]
    at = {debugger.graph.model.pos[s]: s for s in debugger.graph.model.steps}
    return {at[(x, y)] for x, y in zip(trace.x, trace.y, strict=True) if x is not None}


def test_diff_tab_compares_with_another_run_and_marks_the_changed_steps(dbg, pipeline):
    dbg.session.run(until="audit")
    first = str(dbg.session.run_dir)
    load = pipeline.parent / "load.py"
    load.write_text(load.read_text().replace('n = int(environ_vars["ROWS"])', 'n = int(environ_vars["ROWS"]) - 2'))
    click(dbg.reset_button)
    assert dbg.wait(60)
    dbg.session.run(until="audit")
    picker = dbg.diff_tab.picker
    assert first in [value for _, value in picker.options]
    picker.value = first  # what picking a run does
    assert dbg.changed == {"load": "output raw_data changed"}, dbg.message.value
    tabs = dbg.inspector.widget
    assert tabs.titles[tabs.selected_index] == "Diff"
    diff = dbg.diff_tab.html.value
    assert "table people.parquet: rows 45 -&gt; 43 (-2)" in diff and "changed: output raw_data changed" in diff
    assert "load.raw_data" in diff and diff.index("<b>load</b>") < diff.index("<b>audit</b>")
    assert diff.count("pipetest-changed") == 1  # audit's report is the same file: unchanged
    assert ringed(dbg, CHANGED) == {"load"} and ringed(dbg, SUSPECT) == set()
    dbg.select("step", "audit")  # a selection keeps the marks
    assert ringed(dbg, CHANGED) == {"load"}
