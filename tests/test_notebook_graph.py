"""The DAG graph and the static displays, headless: assertions on figure data, no front end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import plotly.graph_objects as go
import pytest

from pipetest_nb import PipelineDAG, PipelineDAGResolver
from pipetest_nb.events import EdgeState, Event, EventKind, StepStatus
from pipetest_nb.exceptions import UnknownEdgeError, UnknownStepError
from pipetest_nb.views.notebook import display
from pipetest_nb.views.notebook.graph import DagGraph
from pipetest_nb.views.notebook.labels import LINE_HEIGHT, NODE_SIZE
from pipetest_nb.views.notebook.layout import (
    ARROW_TRACE,
    CHANGED,
    EDGE_CODE,
    EDGE_COLORS,
    EDGE_MARK_TRACE,
    EDGE_TRACES,
    MARK_TRACES,
    NODE_TRACE,
    ORDERING_CODE,
    ORDERING_TRACE,
    STATUS_COLORS,
    SUSPECT,
)
from pipetest_nb.views.report.html import report_dag_figure


def make_dag(folder, steps: dict) -> PipelineDAG:
    spec = {name: {"script": f"{name}.py", "outputs": {"out": {}}, **extra} for name, extra in steps.items()}
    return PipelineDAG.from_dict({"name": "t", "steps": spec}, base_dir=folder)


@pytest.fixture
def diamond(pipeline_dir) -> PipelineDAG:
    return make_dag(pipeline_dir, {
        "a": {},
        "b": {"inputs": {"IN": "a.out"}},
        "c": {"inputs": {"IN": "a.out"}},
        "d": {"inputs": {"L": "b.out", "R": "c.out"}, "depends_on": ["a"]},
    })


def nodes(graph: DagGraph) -> go.Scatter:
    return graph.figure.data[NODE_TRACE]


def xy(graph: DagGraph) -> dict[str, tuple[float, float]]:
    trace = nodes(graph)
    return {name: (x, y) for name, x, y in zip(trace.customdata, trace.x, trace.y, strict=True)}


def shown(trace: go.Scatter) -> list[str]:
    """The colour each marker shows: its value read through the trace's discrete colour scale."""
    top = trace.marker.cmax
    colours = {round(position * top): colour for position, colour in trace.marker.colorscale}
    return [colours[int(v)] for v in trace.marker.color]


def event(kind: str, step: str | None = None, **data) -> Event:
    return Event(kind=kind, run_id="r1", seq=0, time=0.0, step=step, data=data)


def click(graph: DagGraph, trace: int, index: int) -> None:
    """What the front end sends when a point is clicked (plotly's js -> python message)."""
    graph.figure._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"trace_indexes": [trace], "point_indexes": [index], "xs": [0], "ys": [0]},
        "device_state": None, "selector": None,
    }


# -- layout ------------------------------------------------------------------------------------------


def test_one_node_per_step_at_x_equal_generation(diamond):
    graph = DagGraph(diamond)
    pos = xy(graph)
    assert list(nodes(graph).customdata) == ["a", "b", "c", "d"]
    assert {s: x for s, (x, _) in pos.items()} == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert abs(pos["b"][1] - pos["c"][1]) >= NODE_SIZE + 3 * LINE_HEIGHT  # room for a label between them


def test_fan_out_spreads_one_layer(pipeline_dir):
    dag = make_dag(pipeline_dir, {"a": {}, **{s: {"inputs": {"IN": "a.out"}} for s in "bcde"}})
    pos = xy(DagGraph(dag))
    assert {pos[s][0] for s in "bcde"} == {1}
    ys = sorted(pos[s][1] for s in "bcde")
    gaps = {round(b - a, 6) for a, b in zip(ys, ys[1:], strict=False)}
    assert len(gaps) == 1 and gaps.pop() > NODE_SIZE  # evenly spread
    assert min(ys) < pos["a"][1] < max(ys)  # around their producer


def test_barycentre_ordering_removes_a_crossing(pipeline_dir):
    # declared order puts c (fed by b, the lower source) above d (fed by a, the upper one)
    dag = make_dag(pipeline_dir, {"a": {}, "b": {}, "c": {"inputs": {"IN": "b.out"}},
                                  "d": {"inputs": {"IN": "a.out"}}})
    plan = PipelineDAGResolver(dag).create_execution_plan()
    assert plan.generations == [["a", "b"], ["c", "d"]]
    pos = xy(DagGraph(plan))
    assert pos["a"][1] > pos["b"][1]
    assert pos["d"][1] > pos["c"][1]


def test_one_edge_per_data_edge_plus_dashed_ordering_edges(pipeline_dir):
    dag = make_dag(pipeline_dir, {
        "a": {"outputs": {"x": {}, "y": {}}},
        "b": {"inputs": {"X": "a.x", "Y": "a.y"}},
        "c": {"depends_on": ["b"]},
    })
    graph = DagGraph(dag)
    assert graph.model.data_edges == [("a.x", "b.X"), ("a.y", "b.Y")]
    marks = graph.figure.data[EDGE_MARK_TRACE]
    assert len(marks.x) == 2
    assert marks.y[0] != marks.y[1]  # parallel edges fan out instead of overlapping
    ordering = graph.figure.data[ORDERING_TRACE]
    assert ordering.line.dash == "dash"
    assert list(ordering.x) == [1, 1.5, 2, None]  # b -> c only: a -> b carries data
    unchecked = graph.figure.data[EDGE_TRACES[EdgeState.UNCHECKED]]
    assert sum(v is None for v in unchecked.x) == 2


def test_legend_has_every_status_and_edge_state(diamond):
    fig = DagGraph(diamond).figure
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["ordering only", *EdgeState.ALL, *StepStatus.ALL]
    colours = {t.name: t.marker.color for t in fig.data if t.name in StepStatus.ALL}
    assert colours == STATUS_COLORS
    assert len(set(STATUS_COLORS.values())) == len(STATUS_COLORS)


def test_edges_end_in_arrowheads_that_follow_the_edge_state(diamond):
    graph = DagGraph(diamond)
    arrows = graph.figure.data[ARROW_TRACE]
    edges = len(graph.model.data_edges) + len(graph.model.ordering_edges)
    assert len(arrows.x) == 2 * edges  # the last bend, then the end each arrowhead points at
    assert list(arrows.marker.size) == [0, 11] * edges and arrows.marker.angleref == "previous"
    assert list(arrows.x[1::2]) == [graph.model.pos[e[1].split(".")[0]][0] for e in graph.model.data_edges] + [2.0]
    graph.set_edge_state("b.out", "d.L", EdgeState.FAILED)
    i = graph.model.data_edges.index(("b.out", "d.L"))
    codes = list(graph.figure.data[ARROW_TRACE].marker.color)
    assert codes[2 * i:2 * i + 2] == [EDGE_CODE[EdgeState.FAILED]] * 2
    assert codes[-2:] == [ORDERING_CODE] * 2  # a -> d: ordering only


def test_long_names_wrap_or_shorten_and_keep_the_full_name_on_hover(pipeline_dir):
    long = "percentile_model_calibration_of_the_risk_scores"
    dag = make_dag(pipeline_dir, {"a": {}, **{f"{long}_{i}": {"script": "b.py", "inputs": {"IN": "a.out"}}
                                              for i in range(3)},
                                  "c": {"inputs": {f"I{i}": f"{long}_{i}.out" for i in range(3)}}})
    graph = DagGraph(dag)
    texts = list(nodes(graph).text)
    assert texts[0] == "a"
    for i, text in enumerate(texts[1:4], start=1):
        assert "<br>" in text or text.endswith("…")  # never one line wider than its layer
        assert f"<b>{long}_{i - 1}</b>" in nodes(graph).hovertext[i]


# -- updates -----------------------------------------------------------------------------------------


def test_set_status_recolours_only_that_node(diamond):
    graph = DagGraph(diamond)
    for status in StepStatus.ALL:
        graph.set_status("b", status)
        colours = dict(zip(nodes(graph).customdata, shown(nodes(graph)), strict=True))
        assert colours["b"] == STATUS_COLORS[status]
        assert colours["a"] == STATUS_COLORS[StepStatus.PENDING]
        assert f"status: {status}" in nodes(graph).hovertext[1]
    assert graph.statuses == {"a": "pending", "b": "interrupted", "c": "pending", "d": "pending"}


def test_edge_state_moves_the_edge_line_and_colours_its_marker(diamond):
    graph = DagGraph(diamond)
    graph.set_edge_state("b.out", "d.L", EdgeState.FAILED)
    index = graph.model.data_edges.index(("b.out", "d.L"))
    marks = graph.figure.data[EDGE_MARK_TRACE]
    assert shown(marks)[index] == EDGE_COLORS[EdgeState.FAILED]
    assert "checks: failed" in marks.hovertext[index]
    failed = graph.figure.data[EDGE_TRACES[EdgeState.FAILED]]
    assert list(failed.x[:3]) == [1.0, 1.5, 2.0]
    unchecked = graph.figure.data[EDGE_TRACES[EdgeState.UNCHECKED]]
    assert sum(v != v for v in unchecked.x) == len(graph.model.data_edges) - 1  # nan separators


def test_hover_and_label_show_metrics(diamond):
    graph = DagGraph(diamond)
    graph.set_step_info("a", duration=2.5, peak_rss=150_000_000, rows_in=1000, rows_out=990)
    hover = nodes(graph).hovertext[0]
    assert "duration: 2.5 s" in hover
    assert "peak memory: 143.1 MiB" in hover  # one formatter everywhere: binary units
    assert "rows in: 1,000 · rows out: 990" in hover
    assert nodes(graph).text[0] == "a<br>2.5 s"
    with pytest.raises(ValueError, match="unknown metric.*'a'"):
        graph.set_step_info("a", speed=3)


def test_events_drive_the_graph(diamond):
    graph = DagGraph(diamond)
    graph.apply(event(EventKind.STEP_STARTED, "a"))
    assert graph.statuses["a"] == StepStatus.RUNNING
    graph.apply(event(EventKind.STEP_FINISHED, "a", status="succeeded",
                      metrics={"duration": 0.25, "peak_rss": 2_000_000, "rows_out": 7, "cpu_time": 1}))
    graph.apply(event(EventKind.EDGE_CHECKED, edge=["a.out", "b.IN"], state="warned"))
    graph.apply(event(EventKind.STEP_FINISHED, "b", status="failed"))
    graph.apply(event(EventKind.STEP_STATUS, "d", status="blocked"))
    graph.apply(event(EventKind.STEP_FINISHED, "elsewhere", status="failed"))  # not drawn: ignored
    graph.apply(event(EventKind.EDGE_CHECKED, edge=["x.o", "y.i"], state="failed"))
    assert graph.statuses == {"a": "succeeded", "b": "failed", "c": "pending", "d": "blocked"}
    assert graph.step_info["a"] == {"duration": 0.25, "peak_rss": 2_000_000, "rows_out": 7}
    assert graph.edge_states[("a.out", "b.IN")] == "warned"
    assert shown(nodes(graph)) == [STATUS_COLORS[s] for s in ("succeeded", "failed", "pending",
                                                                          "blocked")]
    assert "duration: 250 ms" in nodes(graph).hovertext[0]


def test_replay_and_reset(diamond):
    graph = DagGraph(diamond)
    graph.apply_all([event(EventKind.STEP_STARTED, s) for s in "abcd"]
                    + [event(EventKind.STEP_FINISHED, s, status="cached") for s in "ab"])
    assert list(graph.statuses.values()) == ["cached", "cached", "running", "running"]
    graph.set_edge_state("a.out", "c.IN", "passed")
    graph.reset()
    assert set(graph.statuses.values()) == {"pending"}
    assert set(graph.edge_states.values()) == {"unchecked"}
    assert set(shown(nodes(graph))) == {STATUS_COLORS["pending"]}


def test_marks_ring_suspect_and_changed_steps_and_say_why(diamond):
    graph = DagGraph(diamond)
    graph.set_marks(suspects={"b": "its output lost column 'region'"}, changed=["c", "d"])
    suspect, changed = (graph.figure.data[MARK_TRACES[k]] for k in (SUSPECT, CHANGED))
    pos = graph.model.pos
    assert (list(suspect.x), list(suspect.y)) == ([pos["b"][0]], [pos["b"][1]]) and suspect.showlegend
    assert list(changed.x) == [pos["c"][0], pos["d"][0]]
    assert suspect.marker.symbol == "circle-open" and changed.marker.symbol == "square-open"
    assert "suspect: its output lost column &#x27;region&#x27;" in nodes(graph).hovertext[1]
    assert nodes(graph).hovertext[2].endswith("<br>changed")
    assert graph.marks == {SUSPECT: {"b": "its output lost column 'region'"}, CHANGED: {"c": "", "d": ""}}
    graph.reset()  # a replay redraws statuses, not marks
    assert graph.marks[SUSPECT] == {"b": "its output lost column 'region'"}
    state = graph.figure.get_state()["_widget_data"]  # a view opened now sees the rings too
    assert state[MARK_TRACES[SUSPECT]]["showlegend"] is True
    graph.set_marks()
    assert list(graph.figure.data[MARK_TRACES[SUSPECT]].x) == [None]
    assert graph.figure.data[MARK_TRACES[SUSPECT]].showlegend is False
    assert "suspect" not in nodes(graph).hovertext[1]
    with pytest.raises(UnknownStepError, match="no step named 'B'"):
        graph.set_marks(suspects=["B"])


def test_mistakes_are_named(diamond):
    graph = DagGraph(diamond)
    with pytest.raises(UnknownStepError, match="no step named 'A' in this pipeline; steps are: a, b, c, d"):
        graph.set_status("A", "running")
    with pytest.raises(ValueError, match="unknown status 'done' for step 'a'"):
        graph.set_status("a", "done")
    with pytest.raises(UnknownEdgeError, match="did you mean 'b.out -> d.L'"):
        graph.set_edge_state("b.out", "d.l", "passed")


def test_late_views_get_the_current_colours(diamond):
    """A page opened after the updates (reload, Voila) asks for the widget state: it must be current."""
    graph = DagGraph(diamond)
    graph.set_status("c", "failed")
    graph.set_edge_state("a.out", "b.IN", "passed")
    state = graph.figure.get_state()["_widget_data"]
    node_codes = np.frombuffer(state[NODE_TRACE]["marker"]["color"]["buffer"], dtype=np.uint8)
    edge_codes = np.frombuffer(state[EDGE_MARK_TRACE]["marker"]["color"]["buffer"], dtype=np.uint8)
    assert node_codes[2] == StepStatus.ALL.index("failed")
    assert edge_codes[0] == EdgeState.ALL.index("passed")
    assert "status: failed" in state[NODE_TRACE]["hovertext"][2]


def test_updates_from_threads_stay_consistent(diamond):
    graph = DagGraph(diamond)
    statuses = list(StepStatus.ALL)

    def work(step: str) -> None:
        for i in range(60):
            graph.set_status(step, statuses[i % len(statuses)])
            graph.set_step_info(step, duration=float(i))

    threads = [threading.Thread(target=work, args=(s,)) for s in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = statuses[59 % len(statuses)]
    assert set(graph.statuses.values()) == {expected}
    assert set(shown(nodes(graph))) == {STATUS_COLORS[expected]}
    assert all("59.0 s" in text for text in nodes(graph).text)


# -- clicks ------------------------------------------------------------------------------------------


def test_clicking_a_node_or_an_edge_selects_it(diamond):
    graph = DagGraph(diamond)
    seen = []
    graph.on_select(lambda kind, value: seen.append((kind, value)))
    click(graph, NODE_TRACE, 1)
    assert seen == [("step", "b")]
    assert list(nodes(graph).marker.line.width) == [1, 4, 1, 1]
    click(graph, EDGE_MARK_TRACE, 3)
    assert seen[-1] == ("edge", graph.model.data_edges[3])
    assert graph.selected == ("edge", ("c.out", "d.R"))
    assert list(nodes(graph).marker.line.width) == [1, 1, 1, 1]
    assert graph.figure.data[EDGE_MARK_TRACE].marker.line.width[3] == 3


def test_a_failing_callback_is_kept_and_others_still_run(diamond):
    graph = DagGraph(diamond)
    seen = []

    def broken(kind, value):
        raise RuntimeError("callback bug")

    graph.on_select(broken)
    graph.on_select(lambda kind, value: seen.append(value))
    click(graph, NODE_TRACE, 0)
    assert seen == ["a"]
    assert "callback bug" in graph.errors[0]


# -- static displays ---------------------------------------------------------------------------------


def test_static_figure_shares_the_live_figure(diamond):
    fig = display.dag_figure(diamond, statuses={"a": "failed"})
    assert type(fig) is go.Figure
    live = DagGraph(diamond).figure
    assert [t.name for t in fig.data] == [t.name for t in live.data]
    assert list(fig.data[NODE_TRACE].x) == list(live.data[NODE_TRACE].x)
    assert shown(fig.data[NODE_TRACE])[0] == STATUS_COLORS["failed"]
    marked = display.dag_figure(diamond, marks={SUSPECT: {"b": "warned", "elsewhere": "not drawn"}})
    assert list(marked.data[MARK_TRACES[SUSPECT]].x) == [live.data[NODE_TRACE].x[1]]
    bundle = display.dag_mimebundle(diamond)
    spec = bundle[display.PLOTLY_MIMETYPE]
    assert len(spec["data"]) == len(fig.data) and spec["layout"]["title"]["text"] == "t"


def test_the_report_draws_the_same_figure_with_the_recorded_suspects():
    report = {"steps": {"a": {"status": "succeeded", "duration": 1.5}, "b": {"status": "failed"}},
              "edges": [{"source": "a.out", "target": "b.IN", "state": "warned"}],
              "root_failure": {"step": "b", "suspects": [
                  {"step": "a", "edge": ["a.out", "b.IN"], "state": "warned", "lost_columns": ["region"]}]}}
    plan = {"execution_order": ["a", "b"], "generations": [["a"], ["b"]], "dependencies": {"a": [], "b": ["a"]},
            "data_flow_map": {"b": {"IN": "a:out"}}}
    fig = report_dag_figure(report, plan, "t")
    assert shown(fig.data[NODE_TRACE]) == [STATUS_COLORS["succeeded"], STATUS_COLORS["failed"]]
    assert list(fig.data[MARK_TRACES[SUSPECT]].x) == [fig.data[NODE_TRACE].x[0]]
    assert "suspect: a.out → b.IN warned; lost region" in fig.data[NODE_TRACE].hovertext[0]
    assert fig.layout.autosize and fig.layout.width is None  # as wide as the page


def test_dag_html_lists_steps_and_escapes(pipeline_dir):
    dag = make_dag(pipeline_dir, {"a": {"env": {"X": "1"}}, "b": {"inputs": {"IN": "a.out"}}})
    dag.name = "<b>evil</b>"
    text = display.dag_html(dag)
    assert "&lt;b&gt;evil&lt;/b&gt;" in text and "<b>evil</b>" not in text
    assert "2 steps, 1 data edges, 2 generations" in text
    assert "IN ← a.out" in text and "a.py" in text


def test_result_html_escapes_every_value_and_bounds_lists():
    hostile = "<script>alert(1)</script>"
    result = {
        "step_name": hostile, "status": "failed", "duration": 1.25, "error_message": hostile,
        "outputs": {hostile: "/tmp/x"}, "warnings": [hostile] * 80,
        "edge_checks": [{"expectation": hostile, "success": False, "unexpected_count": 3}],
    }
    text = display.step_result_html(result)
    assert "<script>" not in text
    assert text.count("&lt;script&gt;") >= 4
    assert "… 30 more" in text
    assert "expectations met" in text  # the edge checks as a table of suites


def test_result_html_reads_dataclasses_and_to_dict():
    from dataclasses import dataclass, field

    @dataclass
    class Step:
        step_name: str
        status: str
        duration: float = 0.0
        error_message: str | None = None

    @dataclass
    class Run:
        success: bool
        steps: dict = field(default_factory=dict)
        total_duration: float = 3.5
        run_id: str = "20240101-abc"
        error: str | None = "b failed"

    class Report:
        def to_dict(self):
            return {"compatible": False, "issues": ["column 'id' missing in a.out -> b.IN"], "warnings": []}

    run = Run(False, {"a": Step("a", "succeeded", 1.0), "b": Step("b", "failed", 2.0, "ValueError: bad")})
    text = display.execution_result_html(run)
    assert "Pipeline run 20240101-abc" in text and "✘ no" in text
    assert "ValueError: bad" in text and STATUS_COLORS["failed"] in text
    text = display.compatibility_report_html(Report())
    assert "column &#x27;id&#x27; missing" in text and "warnings" not in text
    assert "Edge check a.out → b.IN" in display.edge_check_html({"edge": ["a.out", "b.IN"], "success": True})


# -- registration with IPython -----------------------------------------------------------------------

SHELL_SCRIPT = textwrap.dedent("""
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    import pipetest_nb  # registers the displays because a shell is running
    heavy = [m for m in ("plotly", "ipywidgets", "grandalf") if m in sys.modules]
    dag = pipetest_nb.PipelineDAG.from_dict(
        {"name": "demo", "steps": {"a": {"script": "a.py", "outputs": {"o": {}}},
                                   "b": {"script": "b.py", "inputs": {"I": "a.o"}}}}, base_dir=sys.argv[1])
    data, _ = shell.display_formatter.format(dag)
    class EdgeCheck:
        def to_dict(self):
            return {"success": False, "edge": ["a.o", "b.I"], "failed": [{"column": "<x>"}]}
    EdgeCheck.__module__ = "pipetest_nb.validation.expectations.checks"
    check, _ = shell.display_formatter.format(EdgeCheck())
    from pipetest_nb.views.notebook.layout import NODE_TRACE
    print(json.dumps({"heavy_before_display": heavy, "dag": sorted(data), "check_html": check.get("text/html"),
                      "plotly_steps": data["application/vnd.plotly.v1+json"]["data"][NODE_TRACE]["customdata"]}))
""")


def test_displays_register_in_a_real_ipython_shell(pipeline_dir):
    done = subprocess.run([sys.executable, "-c", SHELL_SCRIPT, str(pipeline_dir)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["heavy_before_display"] == []
    assert out["dag"] == ["application/vnd.plotly.v1+json", "text/html", "text/plain"]
    assert out["plotly_steps"] == ["a", "b"]
    assert "Edge check a.o → b.I" in out["check_html"] and "&lt;x&gt;" in out["check_html"]


def test_no_shell_no_registration():
    code = ("import sys, IPython, pipetest_nb; "
            "print('pipetest_nb.views.notebook' in sys.modules, 'plotly' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
