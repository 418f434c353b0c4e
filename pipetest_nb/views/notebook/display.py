"""Static displays: a bare pipeline, run result, step result or edge check at the end of a cell shows itself.

A ``PipelineDAG`` draws as a plain plotly ``Figure`` (the same layout and palette as the live
``DagGraph``) plus an HTML table of its steps for front ends without plotly. Results render as HTML
tables from their attributes or their ``to_dict()``; every value is escaped and every list is
bounded, so a huge or hostile value cannot break the page.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.views.notebook.graph import EDGE_COLORS, STATUS_COLORS, as_plan, build_model, figure_spec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetest_nb.plan import PipelineExecutionPlan
    from pipetest_nb.spec.model import PipelineDAG

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
MAX_ITEMS = 50
MAX_TEXT = 4000
MAX_DEPTH = 4
_GOOD = "#009E73"
_BAD = "#D55E00"
_MUTED = "#777777"


# --------------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------------


def dag_figure(plan_or_dag: PipelineExecutionPlan | PipelineDAG, statuses: dict[str, str] | None = None,
               edge_states: dict[tuple[str, str], str] | None = None,
               info: dict[str, dict[str, Any]] | None = None) -> go.Figure:
    """A static plotly figure of the pipeline, optionally coloured by statuses and edge states."""
    import plotly.graph_objects as go

    model = build_model(plan_or_dag)
    statuses = {s: (statuses or {}).get(s, StepStatus.PENDING) for s in model.steps}
    edge_states = {e: (edge_states or {}).get(e, EdgeState.UNCHECKED) for e in model.data_edges}
    info = {s: dict((info or {}).get(s, {})) for s in model.steps}
    data, layout = figure_spec(model, statuses, edge_states, info)
    return go.Figure(data=data, layout=layout)


def dag_mimebundle(plan_or_dag: PipelineExecutionPlan | PipelineDAG) -> dict[str, Any]:
    """The plotly mimetype of the static figure (JupyterLab and VS Code draw it without extra JS)."""
    figure = dag_figure(plan_or_dag)
    spec = json.loads(figure.to_json())
    spec["config"] = {"displaylogo": False, "scrollZoom": True}
    return {PLOTLY_MIMETYPE: spec}


def dag_html(plan_or_dag: PipelineExecutionPlan | PipelineDAG) -> str:
    """The steps of a pipeline as a table: generation, script, inputs and outputs."""
    plan = as_plan(plan_or_dag)
    dag = getattr(plan, "dag", None) or plan_or_dag
    base = getattr(dag, "base_dir", None)
    generation = {s: i for i, g in enumerate(plan.generations) for s in g}
    rows = []
    for name in plan.execution_order:
        step = plan.step_configs[name]
        inputs = [f"{html.escape(i)} ← {html.escape(spec.source or _path(spec.path, base))}"
                  for i, spec in step.inputs.items()]
        try:
            script = _path(step.script, base)
        except Exception:  # a step without a script still has a row
            script = ""
        rows.append([html.escape(name), str(generation.get(name, "")), html.escape(script),
                     "<br>".join(inputs), html.escape(", ".join(step.outputs))])
    edges = sum(len(v) for v in plan.data_flow_map.values())
    title = (f"<b>PipelineDAG {html.escape(str(getattr(dag, 'name', '')))}</b>: {len(rows)} steps, "
             f"{edges} data edges, {len(plan.generations)} generations")
    return _box(title, _table(["step", "gen", "script", "inputs", "outputs"], rows))


def _path(path: Any, base: Any) -> str:
    if path is None:
        return ""
    if base is not None:
        try:
            return os.path.relpath(path, base)
        except ValueError:
            pass
    return str(path)


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


def step_result_html(result: Any) -> str:
    """A ``StepResult`` (or its ``to_dict()``): status, duration, error, outputs, metrics, checks."""
    data = _to_data(result)
    name = data.get("step_name") or data.get("step") or "?"
    return result_html(data, f"Step {name}", badge="status",
                       order=("status", "duration", "error_type", "error_message", "outputs", "inputs",
                              "metrics", "edge_checks", "data_validation_report", "warnings", "attempts",
                              "cached_from", "run_dir", "traceback"),
                       skip=("step_name",))


def execution_result_html(result: Any) -> str:
    """A ``PipelineExecutionResult``: success, duration, one row per step, the first error."""
    data = _to_data(result)
    steps = data.get("steps") or {}
    step_list = list(steps.values()) if isinstance(steps, dict) else list(steps)
    if not step_list:
        step_list = list(data.get("completed_steps") or [])
    rows = []
    for r in map(_to_data, step_list[:MAX_ITEMS * 10]):
        error = r.get("error_message") or r.get("error") or ""
        rows.append([html.escape(str(r.get("step_name") or r.get("step") or "")),
                     _status_badge(str(r.get("status") or "")), _value_html(r.get("duration")),
                     _value_html(error)])
    run_id = data.get("run_id")
    title = "Pipeline run" + (f" {html.escape(str(run_id))}" if run_id else "")
    body = result_html(data, title, badge="success",
                       order=("success", "total_duration", "error", "root_failure", "not_run", "run_dir"),
                       skip=("steps", "completed_steps", "execution_plan", "run_id"), boxed=False)
    return _box(title, body + _table(["step", "status", "duration", "error"], rows))


def edge_check_html(check: Any) -> str:
    """An ``EdgeCheck``: success, statistics, and each failed expectation with unexpected values."""
    data = _to_data(check)
    source, target, edge = data.get("source"), data.get("target"), data.get("edge")
    if source is None and isinstance(edge, (list, tuple)) and len(edge) == 2:
        source, target = edge
    title = f"Edge check {source} → {target}" if source else "Edge check"
    return result_html(data, title, badge="success",
                       order=("success", "state", "suite", "table", "statistics", "failed", "results"),
                       skip=("source", "target", "edge"))


def compatibility_report_html(report: Any) -> str:
    """A ``DataCompatibilityReport``: compatible or not, its issues, warnings and data summary."""
    return result_html(report, "Data compatibility", badge="compatible",
                       order=("compatible", "issues", "warnings", "data_summary"))


def result_html(obj: Any, title: str, badge: str | None = None, order: tuple[str, ...] = (),
                skip: tuple[str, ...] = (), boxed: bool = True) -> str:
    """Any result as a key/value table: ``order`` first, empty values left out, values escaped."""
    data = _to_data(obj)
    keys = [k for k in order if k in data] + [k for k in data if k not in order]
    rows = [[html.escape(str(k)), _value_html(data[k])] for k in keys
            if k not in skip and not _empty(data[k])]
    head = html.escape(title)
    if badge and badge in data:
        value = data[badge]
        head += " " + (_bool_badge(value) if isinstance(value, bool) else _status_badge(str(value)))
    body = _table(["", ""], rows, header=False)
    return _box(f"<b>{head}</b>", body) if boxed else body


# --------------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------------


def _to_data(obj: Any) -> dict[str, Any]:
    """The fields of a result: its dict, its ``to_dict()``, its dataclass fields or its public attributes."""
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
        if isinstance(data, dict):
            return data
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")} if hasattr(obj, "__dict__") else {}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, dict, set)) and not value)


def _value_html(value: Any, depth: int = 0) -> str:
    if value is None:
        return f'<span style="color:{_MUTED}">—</span>'
    if isinstance(value, bool):
        return _bool_badge(value)
    if isinstance(value, float):
        return html.escape(f"{value:.3g}" if abs(value) < 1e5 else f"{value:,.0f}")
    if isinstance(value, int):
        return html.escape(f"{value:,}")
    if isinstance(value, (str, os.PathLike)):
        text = str(value)
        more = f" … ({len(text) - MAX_TEXT:,} more characters)" if len(text) > MAX_TEXT else ""
        text = html.escape(text[:MAX_TEXT]) + more
        return f'<pre style="margin:0;white-space:pre-wrap">{text}</pre>' if "\n" in text else text
    if depth >= MAX_DEPTH:
        return html.escape(_short(repr(value)))
    if isinstance(value, dict):
        items = list(value.items())
        rows = [[html.escape(str(k)), _value_html(v, depth + 1)] for k, v in items[:MAX_ITEMS]]
        return _table(["", ""], rows, header=False) + _more(len(items))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if items and all(_is_record(v) for v in items):
            records = [_to_data(v) for v in items[:MAX_ITEMS]]
            columns: list[str] = []
            for r in records:
                columns += [k for k in r if k not in columns]
            rows = [[_value_html(r.get(c), depth + 1) for c in columns] for r in records]
            return _table([html.escape(str(c)) for c in columns], rows) + _more(len(items))
        return ", ".join(_NONE_IN_LIST if v is None else _value_html(v, depth + 1)
                         for v in items[:MAX_ITEMS]) + _more(len(items))
    if _is_record(value):
        return _value_html(_to_data(value), depth)
    return html.escape(_short(str(value)))


_NONE_IN_LIST = f'<span style="color:{_MUTED}">None</span>'  # beside nan, inf and NaT: a value, not a blank


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) or callable(getattr(value, "to_dict", None)) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type))


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " …"


def _more(count: int) -> str:
    return f'<div style="color:{_MUTED}">… {count - MAX_ITEMS:,} more</div>' if count > MAX_ITEMS else ""


def _bool_badge(value: bool) -> str:
    color, text = (_GOOD, "✔ yes") if value else (_BAD, "✘ no")
    return f'<span style="color:{color};font-weight:bold">{text}</span>'


def _status_badge(status: str) -> str:
    color = STATUS_COLORS.get(status) or EDGE_COLORS.get(status) or _MUTED
    return (f'<span style="background:{color};color:#000;padding:0 6px;border-radius:8px">'
            f"{html.escape(status)}</span>")


def _table(headers: list[str], rows: list[list[str]], header: bool = True) -> str:
    """A compact table; ``headers`` and cells must already be HTML."""
    cell = 'style="text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid #eee"'
    head = "<tr>" + "".join(f"<th {cell}>{h}</th>" for h in headers) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td {cell}>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table style="border-collapse:collapse;font-size:12px">{head}{body}</table>'


def _box(title: str, body: str) -> str:
    return (f'<div class="pipetest-display" style="font-family:sans-serif;font-size:12px">'
            f'<div style="margin-bottom:4px">{title}</div>{body}</div>')
