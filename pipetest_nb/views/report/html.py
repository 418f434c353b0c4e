"""The report's page: one self-contained HTML file that works offline, rendered from ``report.html``.

The page renders the report dict of ``data`` with the DAG coloured by status (the figure of
``notebook/``) and a timeline, and plotly's JavaScript inlined once. The templates autoescape every
value from data, logs or error messages; only the figures (built here, their JSON made safe inside
``<script>``) and plotly.js are marked safe.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.json_values import display_value
from pipetest_nb.records.record import load_record
from pipetest_nb.records.suspects import CHANGED, Suspect
from pipetest_nb.text import format_bytes, format_duration
from pipetest_nb.views.report.data import build_report, printable
from pipetest_nb.views.templating import render

if TYPE_CHECKING:
    from pipetest_nb.session import Session

_PLOT_CONFIG = {"displaylogo": False, "responsive": True, "typesetMath": False}
#: The DAG is never drawn narrower (a narrower page scrolls it): its labels are fitted to this width.
REPORT_FIGURE_WIDTH = 760
#: The step counts the summary always shows; the other statuses only when a step has them.
_ALWAYS_COUNTED = ("succeeded", "failed", "skipped", "cached")
_COUNTED = ("succeeded", "failed", "skipped", "cached", "blocked", "interrupted", "pending")


def write_html_report(run: str | os.PathLike | Session, path: str | os.PathLike | None = None) -> Path:
    """Write the report of a run (its folder, or a ``Session``) as one self-contained HTML file that
    works offline (default: ``<run folder>/report.html``)."""
    run_dir = run.flush_record() if hasattr(run, "flush_record") else Path(run)  # a Session, not imported
    record = load_record(run_dir)
    report = printable(build_report(record, run_dir))
    target = Path(path) if path is not None else run_dir / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(render_html(report, printable(record.data.get("plan") or {})), encoding="utf-8")
    os.replace(tmp, target)
    return target


def render_html(report: dict[str, Any], plan: dict[str, Any]) -> str:
    """The page for a report dict (``report_json``) and the run's plan (for the DAG figure)."""
    import plotly.offline

    from pipetest_nb.views.notebook.layout import EDGE_COLORS, STATUS_COLORS

    name = report.get("pipeline_name") or "pipeline"
    steps = report.get("steps") or {}
    counts = report.get("counts") or {}
    return render(
        "report.html", report=report, name=name, steps=steps, edges=_edges(report), root=_root(report),
        colors={**EDGE_COLORS, **STATUS_COLORS}, plotly_js=plotly.offline.get_plotlyjs(),
        dag_figure=_figure_html(report_dag_figure(report, plan, name), "pipetest-dag", REPORT_FIGURE_WIDTH),
        timeline_figure=_figure_html(_timeline_figure(report), "pipetest-timeline"),
        counts=[(s, counts.get(s, 0)) for s in _COUNTED if counts.get(s) or s in _ALWAYS_COUNTED],
        started=_when(report.get("started_at")), insights=_insights(report), settings=_settings(report),
        warnings=[(n, w) for n, s in steps.items() for w in s.get("warnings") or []],
        step_settings=_step_settings(steps))


def _root(report: dict[str, Any]) -> dict[str, Any] | None:
    """The root failure with the edges into it that did not pass their checks (often the real cause)."""
    root = report.get("root_failure")
    if not root:
        return None
    suspects = [{**e, "columns": sorted({str(f["column"]) for c in e["expectations"] for f in c["failures"]
                                         if f.get("column")})}
                for e in report.get("edges") or [] if str(e["target"]).split(".", 1)[0] == root.get("step")
                and e.get("state") in (EdgeState.WARNED, EdgeState.FAILED)]
    return {"step": root.get("step"), "error_type": root.get("error_type"), "traceback": root.get("traceback"),
            "error_message": root.get("error_message"), "suspects": suspects, "cause": root.get("cause")}


def _settings(report: dict[str, Any]) -> dict[str, Any]:
    """The versions and the run's options that were set."""
    options = {k: v for k, v in (report.get("options") or {}).items() if v is not None}
    return {**(report.get("versions") or {}), **options}


def _step_settings(steps: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The isolation, env (masked) and args of each step that has env or args, as text."""
    def pairs(values: dict[str, Any] | None) -> str:
        return ", ".join(f"{k}={v}" for k, v in (values or {}).items())

    return [(n, s.get("isolation") or "", pairs(s.get("env")), pairs(s.get("args")))
            for n, s in steps.items() if s.get("env") or s.get("args")]


def _edges(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each edge check as the table and its detail show it."""
    shown = []
    for edge in report.get("edges") or []:
        compat = edge.get("compatibility")
        compat_text = "—" if compat is None else (
            f"{len(compat['issues'])} issue(s), {len(compat['warnings'])} warning(s)"
            if compat["issues"] or compat["warnings"] else "ok")
        shown.append({
            "label": f"{edge.get('source')} → {edge['target'] or '(output read by no step)'}",
            "state": edge.get("state") or EdgeState.UNCHECKED, "compatibility": compat_text,
            "suites": ", ".join(f"{c.get('suite')}: {_passed(c)}" for c in edge["expectations"]) or "—",
            "issues": compat["issues"] if compat else [], "warnings": compat["warnings"] if compat else [],
            "failed": [_failed_check(c) for c in edge["expectations"] if not c.get("success")]})
    return shown


def _failed_check(check: dict[str, Any]) -> dict[str, Any]:
    """A suite that did not pass, with one row of text cells per failed expectation."""
    rows = []
    for f in check.get("failures") or []:
        kwargs = {k: v for k, v in (f.get("kwargs") or {}).items() if k != "column"}
        unexpected = "—"
        if f.get("unexpected_count") is not None:
            pct = f.get("unexpected_percent")
            unexpected = f"{f['unexpected_count']:,}" + (f" ({pct:.2f}%)" if isinstance(pct, (int, float)) else "")
        found = f.get("exception") or (display_value(f["observed_value"]) if "observed_value" in f else "")
        rows.append({"table": f.get("table") or "", "type": f.get("type") or "", "column": f.get("column") or "",
                     "arguments": _short(display_value(kwargs)), "unexpected": unexpected,
                     "sample": _short(", ".join(display_value(v) for v in f.get("unexpected_values") or [])),
                     "found": _short(found)})
    return {"suite": check.get("suite"), "state": check.get("state") or "failed", "error": check.get("error"),
            "tables": ", ".join(check.get("tables") or []) or "the output", "passed": _passed(check), "rows": rows}


def _insights(report: dict[str, Any]) -> dict[str, Any]:
    """The performance insights as text: the slowest step, the hungriest, the critical path, data growth."""
    insights = report.get("performance_insights") or {}
    slowest, memory, path = (insights.get(k) for k in ("slowest_step", "most_memory", "critical_path"))
    return {
        "slowest": slowest and {"step": slowest["step"], "text": _split_time(slowest)},
        "memory": memory and {"step": memory["step"], "text": f"{format_bytes(memory.get('peak_rss'))} peak"},
        "path": path and f"{' → '.join(path.get('steps') or [])} ({format_duration(path.get('duration'))})",
        "growth": [(n, format_bytes(g.get("input_size")), format_bytes(g.get("output_size")),
                    f"{g['ratio']:.2f}×") for n, g in (insights.get("data_growth") or {}).items()]}


# -- figures -----------------------------------------------------------------------------------------


def report_dag_figure(report: dict[str, Any], plan: dict[str, Any], name: str) -> Any:
    """The notebook's static DAG figure (same layout and palette), coloured by this run, the suspects of
    its root failure ringed."""
    from pipetest_nb.views.notebook.display import dag_figure

    steps = report.get("steps") or {}
    order = plan.get("execution_order") or list(steps)
    plan_view = SimpleNamespace(
        execution_order=order, generations=plan.get("generations") or [[s] for s in order],
        dependencies=plan.get("dependencies") or {s: [] for s in order},
        data_flow_map=plan.get("data_flow_map") or {}, dag=SimpleNamespace(name=name))
    statuses = {n: s["status"] for n, s in steps.items()}
    edge_states = {(e["source"], e["target"]): e["state"] for e in report.get("edges") or [] if e["target"]}
    info = {n: {k: s[k] for k in ("duration", "peak_rss", "rows_in", "rows_out") if s.get(k) is not None}
            for n, s in steps.items()}
    return dag_figure(plan_view, statuses, edge_states, info, marks={"suspect": _suspects(report)},
                      width=REPORT_FIGURE_WIDTH)


def _suspects(report: dict[str, Any]) -> dict[str, str]:
    """Step -> why it is suspected of the root failure, as the run recorded it (ringed on the DAG)."""
    found: dict[str, str] = {}
    for suspect in (report.get("root_failure") or {}).get("suspects") or []:
        if suspect.get("kind") == CHANGED:  # its inputs or script changed since the last green run
            found.setdefault(str(suspect.get("step")), Suspect.from_dict(suspect).finding())
            continue
        source, target = (list(suspect.get("edge") or []) + ["?", "?"])[:2]
        lost = suspect.get("lost_columns") or []
        why = f"{source} → {target} {suspect.get('state', 'did not pass')}" + (
            f"; lost {', '.join(map(str, lost))}" if lost else "")
        found.setdefault(str(suspect.get("step")), why)
    return found


def _timeline_figure(report: dict[str, Any]) -> Any:
    """A Gantt chart: one bar per step from its start to its end, coloured by status."""
    import plotly.graph_objects as go

    from pipetest_nb.views.notebook.layout import STATUS_COLORS

    steps = {n: s for n, s in (report.get("steps") or {}).items() if s.get("started_at")}
    origin = min((s["started_at"] for s in steps.values()), default=0.0)
    end = max((s.get("finished_at") or s["started_at"] for s in steps.values()), default=origin)
    floor = max(end - origin, 0.001) * 0.004  # a cached step still shows as a sliver
    figure = go.Figure()
    for status in StepStatus.ALL:
        names = [n for n, s in steps.items() if s["status"] == status]
        if not names:
            continue
        durations = [max((steps[n].get("finished_at") or steps[n]["started_at"]) - steps[n]["started_at"], floor)
                     for n in names]
        figure.add_bar(
            y=names, x=durations, base=[steps[n]["started_at"] - origin for n in names], orientation="h",
            name=status, marker_color=STATUS_COLORS[status],
            hovertext=[f"<b>{html.escape(n)}</b><br>{html.escape(status)}<br>start +{steps[n]['started_at'] - origin:.2f} s"
                       f"<br>{format_duration(d)} in all: script {format_duration(steps[n].get('duration'))}, "
                       f"edge checks {format_duration(steps[n].get('check_time'))}"
                       for n, d in zip(names, durations, strict=True)],
            hovertemplate="%{hovertext}<extra></extra>")
    _add_check_bars(figure, steps, origin)
    order = [n for n in (report.get("steps") or {}) if n in steps]
    figure.update_layout(
        barmode="overlay", height=max(220, 60 + 28 * len(order)), margin=dict(l=20, r=20, t=20, b=40),
        plot_bgcolor="white", xaxis=dict(title="seconds since the first step started", gridcolor="#eee"),
        yaxis=dict(categoryorder="array", categoryarray=order, autorange="reversed"), legend=dict(orientation="h"))
    return figure


def _add_check_bars(figure: Any, steps: dict[str, Any], origin: float) -> None:
    """The edge checks of each step as their own hatched bar at the end of its bar (they run after the script)."""
    checked = [n for n, s in steps.items() if (s.get("check_time") or 0) > 0 and s.get("finished_at")]
    if not checked:
        return
    figure.add_bar(
        y=checked, x=[steps[n]["check_time"] for n in checked], orientation="h", name="edge checks",
        base=[steps[n]["finished_at"] - steps[n]["check_time"] - origin for n in checked],
        marker=dict(color="rgba(60,60,60,0.35)", pattern=dict(shape="/", fgcolor="#333")),
        hovertext=[f"<b>{html.escape(n)}</b><br>edge checks {format_duration(steps[n]['check_time'])}"
                   for n in checked], hovertemplate="%{hovertext}<extra></extra>")


def _figure_html(figure: Any, div_id: str, min_width: int | None = None) -> str:
    """A plotly figure drawn by the inlined plotly.js, at least ``min_width`` px wide (its container
    scrolls); the JSON is made safe inside ``<script>``."""
    import plotly.io

    payload = _script_safe(plotly.io.to_json(figure, remove_uids=False))  # keep the graph's trace uids
    config = _script_safe(json.dumps(_PLOT_CONFIG))
    style = f' style="min-width:{min_width}px"' if min_width else ""
    return (f'<div style="overflow-x:auto"><div id="{div_id}" class="plot"{style}></div></div><script type="text/javascript">'
            f"(function(){{var f={payload};Plotly.newPlot({json.dumps(div_id)},f.data,f.layout,{config});}})();"
            "</script>")


def _script_safe(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- small pieces ------------------------------------------------------------------------------------


def _split_time(slowest: dict[str, Any]) -> str:
    """``11.2 s: script 2.8 s, edge checks 8.4 s`` (the whole first, as its timeline bar is long)."""
    parts = [f"{label} {format_duration(slowest[key])}" for key, label in (("script", "script"),
             ("check_time", "edge checks")) if slowest.get(key) is not None]
    return format_duration(slowest.get("duration")) + (f": {', '.join(parts)}" if parts else "")


def _passed(check: dict[str, Any]) -> str:
    stats = check.get("statistics") or {}
    if "evaluated_expectations" in stats:
        return f"{stats.get('successful_expectations', 0)}/{stats['evaluated_expectations']} passed"
    return "passed" if check.get("success") else "failed"


def _when(timestamp: Any) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "—"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + " …"
