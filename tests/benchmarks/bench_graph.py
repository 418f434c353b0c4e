"""The live DAG graph: build a ``DagGraph`` and apply one update, for 50, 500 and 2,000 steps; and
its layout, for 50 and 500 steps of pipelines shaped like real ones.

Baseline: building a plain ``plotly.graph_objects.Figure`` from the same traces, the least a graph
of that size costs. Targets: one update under 5 ms at 2,000 steps; a build under 1 s. The layered
layout (grandalf) is timed against the barycentre sweeps that placed steps before it (still the
fallback for plans with very many long edges); target: a 500-step layout, labels included, under 1 s.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from pathlib import Path

from bench_plan import _spec  # the same generated DAGs as the planning benchmark
from harness import Row, compare, median_ms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dag_shapes import layered_spec  # noqa: E402  pipelines shaped like real ones


def layout_rows(folder: Path, quick: bool) -> list[Row]:
    from pipetest_nb import PipelineDAG, PipelineDAGResolver
    from pipetest_nb.views.notebook import sugiyama
    from pipetest_nb.views.notebook.layout import _EDGE_PITCH, _STEP_PITCH, build_model

    rows: list[Row] = []
    for n in ([50] if quick else [50, 500]):
        plan = PipelineDAGResolver(PipelineDAG.from_dict(layered_spec(n), base_dir=folder)).create_execution_plan()
        layers = [list(g) for g in plan.generations]
        links = [(d, s) for s in plan.execution_order for d in plan.dependencies.get(s, [])]
        layer_of = {s: i for i, g in enumerate(layers) for s in g}
        repeat = 1 if quick else 5
        sugiyama.place(layers, links, _STEP_PITCH, _EDGE_PITCH)  # grandalf's import, once, apart
        before = median_ms(lambda a=layers, b=links, c=layer_of: sugiyama._barycentre(a, b, c, _STEP_PITCH), repeat)
        place = median_ms(lambda a=layers, b=links: sugiyama.place(a, b, _STEP_PITCH, _EDGE_PITCH), repeat)
        model = median_ms(lambda p=plan: build_model(p), repeat)
        rows += compare(f"graph layout {n} steps", "barycentre sweeps (the layout before)", before,
                        {"grandalf layered layout": place, "build_model (layout, edges, labels)": model})
        rows[-1].figure, rows[-1].today = f"graph layout, {n} steps", f"{before:.1f} ms (barycentre, no labels)"
        rows[-1].target, rows[-1].new = "<= 1000 ms", f"{model:.0f} ms"
    return rows


def run(quick: bool = False) -> list[Row]:
    import plotly.graph_objects as go

    from pipetest_nb import PipelineDAG, PipelineDAGResolver
    from pipetest_nb.events import Event, EventKind, StepStatus
    from pipetest_nb.views.notebook.graph import DagGraph
    from pipetest_nb.views.notebook.layout import build_model, figure_spec

    folder = Path(tempfile.mkdtemp())
    (folder / "s.py").write_text("def main(*a): pass\n")
    rows: list[Row] = []
    start = time.perf_counter()
    go.FigureWidget()  # the first widget of a process loads plotly's validators: timed once, apart
    first = (time.perf_counter() - start) * 1000
    rows.append(Row("graph", "first FigureWidget in a process", first, note="one-off, not in the rows below"))
    rows += layout_rows(folder, quick)
    for n in ([50] if quick else [50, 500, 2000]):
        plan = PipelineDAGResolver(PipelineDAG.from_dict(_spec(n), base_dir=folder)).create_execution_plan()
        repeat = 1 if quick else 5
        model = build_model(plan)
        statuses = dict.fromkeys(model.steps, StepStatus.PENDING)
        edges = dict.fromkeys(model.data_edges, "unchecked")
        info: dict = {s: {} for s in model.steps}
        data, layout = figure_spec(model, statuses, edges, info)
        baseline = median_ms(lambda d=data, lo=layout: go.Figure(data=d, layout=lo), repeat)
        build = median_ms(lambda p=plan: DagGraph(p), repeat)
        graph = DagGraph(plan)
        middle = model.steps[n // 2]
        cycle = itertools.cycle([StepStatus.RUNNING, StepStatus.SUCCEEDED])
        updates = 3 if quick else 21
        status = median_ms(lambda g=graph, s=middle, c=cycle: g.set_status(s, next(c)), updates)
        edge = model.data_edges[len(model.data_edges) // 2]
        states = itertools.cycle(["failed", "passed"])
        edge_ms = median_ms(lambda g=graph, e=edge, c=states: g.set_edge_state(*e, next(c)), updates)
        events = itertools.cycle([
            Event(EventKind.STEP_FINISHED, "r", 0, 0.0, middle,
                  {"status": status, "metrics": {"duration": d, "peak_rss": 10**8, "rows_out": 9}})
            for status, d in ((StepStatus.FAILED, 1.5), (StepStatus.SUCCEEDED, 2.5))])
        event_ms = median_ms(lambda g=graph, c=events: g.apply(next(c)), updates)
        rows += compare(f"graph {n} steps", "go.Figure, same traces", baseline,
                        {"DagGraph build (layout + FigureWidget)": build,
                         "set_status (one restyle)": status,
                         "set_edge_state (marker + 2 line traces)": edge_ms,
                         "apply STEP_FINISHED with metrics": event_ms})
    return rows
