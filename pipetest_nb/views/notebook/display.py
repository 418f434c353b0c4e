"""Static displays: a bare pipeline, run result, step result or edge check at the end of a cell shows itself.

A ``PipelineDAG`` draws as a plain plotly ``Figure`` (the same layout and palette as the live
``DagGraph``) plus an HTML table of its steps for front ends without plotly. Results render as HTML
tables from their attributes or their ``to_dict()`` (the ``notebook_display.html`` template, which
escapes every value); every list, text and nesting is bounded here, so a huge or hostile value
cannot break the page.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.text import format_bytes, format_duration
from pipetest_nb.views.notebook.layout import BADGE_COLOURS, as_plan, build_model, figure_spec
from pipetest_nb.views.templating import render

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
#: Texts that would read as a missing or special value; shown quoted, so NaN, ±inf, None and NaT stay apart.
_LOOKALIKES = frozenset({"", "none", "null", "nan", "nat", "<na>", "inf", "+inf", "-inf", "infinity", "-infinity"})


# --------------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------------


def dag_figure(plan_or_dag: PipelineExecutionPlan | PipelineDAG, statuses: dict[str, str] | None = None,
               edge_states: dict[tuple[str, str], str] | None = None,
               info: dict[str, dict[str, Any]] | None = None,
               marks: dict[str, dict[str, str]] | None = None, width: float | None = None) -> go.Figure:
    """A static plotly figure of the pipeline, optionally coloured by statuses and edge states, with
    ``marks`` (``{"suspect": {step: why}, "changed": {...}}``) ringed; its labels fit a figure
    ``width`` px wide or wider (default: the narrowest the debugger draws)."""
    import plotly.graph_objects as go

    model = build_model(plan_or_dag, width)
    statuses = {s: (statuses or {}).get(s, StepStatus.PENDING) for s in model.steps}
    edge_states = {e: (edge_states or {}).get(e, EdgeState.UNCHECKED) for e in model.data_edges}
    info = {s: dict((info or {}).get(s, {})) for s in model.steps}
    known = {kind: {s: why for s, why in steps.items() if s in model.step_index} for kind, steps in (marks or {}).items()}
    data, layout = figure_spec(model, statuses, edge_states, info, known)
    return go.Figure(data=data, layout=layout)


def dag_mimebundle(plan_or_dag: PipelineExecutionPlan | PipelineDAG) -> dict[str, Any]:
    """The plotly mimetype of the static figure (JupyterLab and VS Code draw it without extra JS)."""
    figure = dag_figure(plan_or_dag)
    spec = json.loads(figure.to_json())
    spec["config"] = {"displaylogo": False, "scrollZoom": True, "responsive": True}
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
        try:
            script = "(external: data you provide)" if step.external else _path(step.script, base)
        except Exception:  # a step without a script still has a row
            script = ""
        rows.append({"name": name, "gen": str(generation.get(name, "")), "script": script,
                     "inputs": [f"{i} ← {spec.source or spec.url or _path(spec.path, base)}" for i, spec in step.inputs.items()],
                     "outputs": ", ".join(step.outputs)})
    edges = sum(len(v) for v in plan.data_flow_map.values())
    return _render(title=str(getattr(dag, "name", "")), dag_rows=rows,
                   summary=f"{len(rows)} steps, {edges} data edges, {len(plan.generations)} generations")


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
    data = dict(_to_data(result))
    name = data.get("step_name") or data.get("step") or "?"
    data["edge_checks"] = [_suite_row(c) for c in data.get("edge_checks") or []]
    if data.get("metrics") is not None:
        data["metrics"] = _metrics_shown(_to_data(data["metrics"]))
    report = data.pop("data_validation_report", None)
    if report is not None:  # its own verdict covers compatibility only: never shown as the step's state
        report = _to_data(report)
        data["compatibility_checks"] = {"compatible": report.get("compatible"), "issues": report.get("issues"),
                                        "warnings": report.get("warnings")}
    return result_html(data, f"Step {name}", badge="status",
                       order=("status", "duration", "error_type", "error_message", "outputs", "inputs",
                              "metrics", "edge_checks", "compatibility_checks", "warnings", "attempts",
                              "cached_from", "run_dir", "traceback"),
                       skip=("step_name",))


def _metrics_shown(metrics: dict[str, Any]) -> dict[str, str]:
    """A step's metrics in the units every view uses: durations as text, memory and sizes in binary units."""
    shown = {}
    for key, label in (("duration", "script"), ("check_time", "edge checks"), ("cpu_time", "CPU time")):
        if metrics.get(key) is not None:
            shown[label] = format_duration(metrics[key])
    for key, label in (("peak_rss", "peak memory"), ("input_data_size", "input size"), ("input_size", "input size"),
                       ("output_data_size", "output size"), ("output_size", "output size")):
        if metrics.get(key) is not None:
            shown[label] = format_bytes(metrics[key])
    for key, label in (("rows_in", "rows in"), ("rows_out", "rows out")):
        if metrics.get(key) is not None:
            shown[label] = f"{metrics[key]:,}"
    return shown


def _suite_row(check: Any) -> dict[str, Any]:
    """One suite run on an edge of the step: its own state and how many expectations passed."""
    data = _to_data(check)
    stats = data.get("statistics") or {}
    return {"edge": data.get("edge"), "suite": data.get("suite"), "state": data.get("state"),
            "expectations met": f"{stats.get('successful_expectations', 0)}/{stats.get('evaluated_expectations', 0)}",
            "error": data.get("error")}


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
        rows.append((str(r.get("step_name") or r.get("step") or ""), str(r.get("status") or ""),
                     _node(r.get("duration")), _node(error)))
    run_id = data.get("run_id")
    return _render(title="Pipeline run" + (f" {run_id}" if run_id else ""), bold=False, steps=rows,
                   rows=_rows(data, ("success", "total_duration", "error", "root_failure", "not_run", "run_dir"),
                              ("steps", "completed_steps", "execution_plan", "run_id")))


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
                skip: tuple[str, ...] = ()) -> str:
    """Any result as a key/value table: ``order`` first, empty values left out, values escaped."""
    data = _to_data(obj)
    mark = None
    if badge and badge in data:
        value = data[badge]
        mark = ("bool", value) if isinstance(value, bool) else ("status", str(value))
    return _render(title=title, badge=mark, rows=_rows(data, order, skip))


# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------


def _render(**context: Any) -> str:
    """``notebook_display.html``: a boxed key/value table (``rows``), with a step table, or a pipeline's steps."""
    defaults = {"bold": True, "badge": None, "rows": [], "steps": None, "dag_rows": None, "summary": ""}
    return render("notebook_display.html", colours=BADGE_COLOURS, muted=_MUTED, good=_GOOD, bad=_BAD,
                  max_rows=None, **{**defaults, **context})


def _rows(data: dict[str, Any], order: tuple[str, ...], skip: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """The key/value rows of a result: ``order`` first, then the rest, without ``skip`` and empty values."""
    keys = [k for k in order if k in data] + [k for k in data if k not in order]
    return [(str(k), _node(data[k])) for k in keys if k not in skip and not _empty(data[k])]


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


def _node(value: Any, depth: int = 0) -> dict[str, Any]:
    """What ``notebook_display.html``'s ``node()`` draws for ``value``: bounded in length, items and depth."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, float):
        return _text(f"{value:.3g}" if abs(value) < 1e5 else f"{value:,.0f}")
    if isinstance(value, int):
        return _text(f"{value:,}")
    if isinstance(value, (str, os.PathLike)):
        text = str(value)
        if isinstance(value, str) and text.strip().lower() in _LOOKALIKES:
            return _text(repr(text))  # the text 'nan' or 'None', quoted: never read as NaN or None
        more = f" … ({len(text) - MAX_TEXT:,} more characters)" if len(text) > MAX_TEXT else ""
        return {"kind": "pre" if "\n" in text[:MAX_TEXT] else "text", "text": text[:MAX_TEXT] + more}
    if depth >= MAX_DEPTH:
        return _text(_short(repr(value)))
    if isinstance(value, dict):
        items = list(value.items())
        return {"kind": "pairs", "rows": [(str(k), _node(v, depth + 1)) for k, v in items[:MAX_ITEMS]],
                "more": len(items) - MAX_ITEMS}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if items and all(_is_record(v) for v in items):
            records = [_to_data(v) for v in items[:MAX_ITEMS]]
            columns: list[str] = []
            for r in records:
                columns += [k for k in r if k not in columns]
            return {"kind": "records", "columns": [str(c) for c in columns], "more": len(items) - MAX_ITEMS,
                    "rows": [[_node(r.get(c), depth + 1) for c in columns] for r in records]}
        return {"kind": "list", "more": len(items) - MAX_ITEMS,
                "rows": [{"kind": "null"} if v is None else _node(v, depth + 1) for v in items[:MAX_ITEMS]]}
    if _is_record(value):
        return _node(_to_data(value), depth)
    return _text(_short(str(value)))


def data_cell(value: Any) -> str:
    """One value of a data table as text: null as None, NaN as nan, ±inf, NaT, and a text that would read
    as one of those quoted, so each stays apart."""
    if isinstance(value, str):
        return repr(value) if value.strip().lower() in _LOOKALIKES else value
    if value is None or isinstance(value, float):
        return repr(value)
    return "NaT" if str(value) == "NaT" else str(value)


def _text(text: str) -> dict[str, Any]:
    return {"kind": "text", "text": text}


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) or callable(getattr(value, "to_dict", None)) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type))


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " …"
