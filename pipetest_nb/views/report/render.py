"""The run report: one self-contained HTML file that works offline, and its JSON form for CI.

Both are built from the run folder alone (run.json, events.jsonl, the step logs), so the report of
an old run, or of a run folder copied out of CI, needs neither the pipeline's scripts nor the engine.
The JSON form is ``PipelineMonitor.generate_report``'s shape of the original plan plus the run's
status, root failure, steps, edge checks and log tails; the HTML page renders that dict, with the
DAG coloured by status (the figure of ``notebook/``) and a timeline, and plotly's JavaScript inlined
once. Everything that comes from data, logs or error messages is escaped. Secrets: the record and the
logs hold none (they are masked as they are written, see ``masking``); the report masks env and args
by name and every text by the shape of secrets once more (for logs of older runs), and never reads the
pipeline file for secret values.
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
from pipetest_nb.json_values import display_value, dumps
from pipetest_nb.records.masking import mask_args, mask_env, scrub
from pipetest_nb.records.schema import RunStatus, inside, read_tail_inside
from pipetest_nb.records.workspace import RunRecord, load_record

if TYPE_CHECKING:
    from pipetest_nb.session import Session

REPORT_FORMAT = 1
LOG_TAIL_BYTES = 8192
LOG_TAIL_LINES = 60
MAX_FAILURES_SHOWN = 50
_PLOT_CONFIG = {"displaylogo": False, "responsive": True, "typesetMath": False}


# --------------------------------------------------------------------------------------------------
# The JSON form
# --------------------------------------------------------------------------------------------------


def report_json(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The report of a run as plain JSON-ready data (what ``pipetest run --report-json`` writes)."""
    return _printable(_build(load_record(Path(run_dir)), Path(run_dir)))


def _build(record: RunRecord, run_dir: Path) -> dict[str, Any]:
    from pipetest_nb.records.monitor import PipelineMonitor

    data = record.data
    monitor, run_id = PipelineMonitor.from_record(record)
    base = monitor.generate_report(run_id)
    order = list((data.get("plan") or {}).get("execution_order") or record.steps)
    order += [s for s in record.steps if s not in order]
    steps = {name: _step(name, record.steps.get(name, {}), record.shown_step_status(name), run_dir, scrub)
             for name in order}
    for name, detail in base.get("step_details", {}).items():
        if detail["rows"]["input"] is None and name in steps:
            detail["rows"]["input"] = steps[name]["rows_in"]
    counts: dict[str, int] = {}
    for step in steps.values():
        counts[step["status"]] = counts.get(step["status"], 0) + 1
    root = data.get("root_failure")
    if root:
        entry = steps.get(root.get("step"), {})
        root = {**root, "error_message": scrub(root.get("error_message")),
                "exception_type": entry.get("exception_type"), "traceback": entry.get("traceback")}
    return {
        **base,
        "format": REPORT_FORMAT,
        "run_id": run_id,
        "run_dir": str(run_dir.absolute()),
        "status": record.shown_status,
        "success": record.shown_status == RunStatus.SUCCEEDED,
        "started_at": data.get("started_at"),
        "finished_at": data.get("finished_at"),
        "duration": data.get("duration"),
        "root_failure": root,
        "not_run": list(data.get("not_run") or []),
        "other_failures": list(data.get("other_failures") or []),
        "counts": counts,
        "steps": steps,
        "edges": [_edge(e, scrub) for e in record.edges.values()] + _output_checks(record, scrub),
        "options": data.get("options") or {},
        "versions": data.get("versions") or {},
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
    }


def _step(name: str, entry: dict[str, Any], status: str, run_dir: Path, scrub: Any) -> dict[str, Any]:
    metrics = entry.get("metrics") or {}
    duration, cpu_time = metrics.get("duration"), metrics.get("cpu_time")
    rows_in = metrics.get("rows_in")
    if rows_in is None and entry.get("inputs") and entry.get("status") == StepStatus.FAILED:
        rows_in = _rows_in(run_dir, entry["inputs"].values())  # the engine counts them only for steps that succeed
    return {
        "status": status,
        "attempts": entry.get("attempts", 0),
        "started_at": entry.get("started_at"),
        "finished_at": entry.get("finished_at"),
        "duration": duration,
        "peak_rss": metrics.get("peak_rss"),
        "cpu_time": cpu_time,
        "cpu_usage": cpu_time / duration if cpu_time is not None and duration else None,
        "rows_in": rows_in,
        "rows_out": metrics.get("rows_out"),
        "input_size": metrics.get("input_size"),
        "output_size": metrics.get("output_size"),
        "error_type": entry.get("error_type"),
        "error_message": scrub(entry.get("error_message")),
        "exception_type": entry.get("exception_type"),
        "traceback": scrub(entry.get("traceback")),
        "blocked_by": entry.get("blocked_by"),
        "cached_from": entry.get("cached_from"),
        "warnings": [scrub(w) for w in entry.get("warnings") or []],
        "isolation": entry.get("isolation"),
        "env": mask_env(entry.get("env") or {}),
        "args": mask_args(entry.get("args") or {}),
        "log_tail": {stream: scrub(_tail(run_dir, f"steps/{name}/{stream}.log")) for stream in ("stdout", "stderr")},
    }


def _rows_in(run_dir: Path, paths: Any) -> int | None:
    """Rows of the tables a failed step was given, from file metadata; only of inputs inside the run
    folder (the report reads nothing else)."""
    from pipetest_nb.validation.artifacts import inspect_output

    total = 0
    for path in paths:
        if not inside(run_dir, path):
            return None
        try:
            rows = inspect_output(path).total_rows
        except Exception:  # an input that is gone or unreadable: the report still renders
            return None
        if rows is None:
            return None
        total += rows
    return total


def _edge(entry: dict[str, Any], scrub: Any) -> dict[str, Any]:
    compat = entry.get("compatibility") or {}
    checks = entry.get("expectations") or []
    return {
        "source": entry.get("source"), "target": entry.get("target"),
        "state": entry.get("state", EdgeState.UNCHECKED),
        "compatibility": {"compatible": compat.get("compatible"), "issues": [scrub(i) for i in compat.get("issues") or []],
                          "warnings": [scrub(w) for w in compat.get("warnings") or []]} if compat else None,
        "expectations": [{
            "suite": c.get("suite"), "suite_file": c.get("suite_file"), "state": c.get("state"),
            "success": c.get("success"), "tables": c.get("tables") or [], "statistics": c.get("statistics") or {},
            "error": scrub(c.get("error")), "failures": (c.get("failures") or [])[:MAX_FAILURES_SHOWN],
        } for c in checks],
    }


def _output_checks(record: RunRecord, scrub: Any) -> list[dict[str, Any]]:
    """Suites on outputs that no step reads, as edges without a target."""
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in record.steps.values():
        for check in entry.get("output_checks") or []:
            found.setdefault(check.get("edge"), []).append(check)
    states = (EdgeState.UNCHECKED, EdgeState.PASSED, EdgeState.WARNED, EdgeState.FAILED)
    return [_edge({"source": output, "target": None, "expectations": checks,
                   "state": max((c.get("state") or EdgeState.UNCHECKED for c in checks), key=states.index)}, scrub)
            for output, checks in found.items()]


def _tail(run_dir: Path, relative: str) -> str:
    """The last lines of a log (bounded), decoded leniently: logs may hold any bytes. Only a regular file
    inside the run folder is read (not a symlink out of it, never a FIFO)."""
    data, size = read_tail_inside(run_dir, relative, LOG_TAIL_BYTES)
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is cut
    return "\n".join(lines[-LOG_TAIL_LINES:])


# --------------------------------------------------------------------------------------------------
# The HTML page
# --------------------------------------------------------------------------------------------------


def write_html_report(run: str | os.PathLike | Session, path: str | os.PathLike | None = None) -> Path:
    """Write the report of a run (its folder, or a ``Session``) as one self-contained HTML file that
    works offline (default: ``<run folder>/report.html``)."""
    run_dir = run.flush_record() if hasattr(run, "flush_record") else Path(run)  # a Session, not imported
    record = load_record(run_dir)
    report = _printable(_build(record, run_dir))
    target = Path(path) if path is not None else run_dir / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(render_html(report, _printable(record.data.get("plan") or {})), encoding="utf-8")
    os.replace(tmp, target)
    return target


def render_html(report: dict[str, Any], plan: dict[str, Any]) -> str:
    """The page for a report dict (``report_json``) and the run's plan (for the DAG figure)."""
    import plotly.offline

    name = report.get("pipeline_name") or "pipeline"
    sections = [
        _root_failure_html(report),
        _section("summary", "Summary", _summary_html(report)),
        _section("dag", "Pipeline", _figure_html(_dag_figure(report, plan, name), "pipetest-dag")),
        _section("steps", "Steps", _steps_html(report)),
        _section("edges", "Edge checks", _edges_html(report)),
        _section("timeline", "Timeline", _figure_html(_timeline_figure(report), "pipetest-timeline")),
        _section("insights", "Performance insights", _insights_html(report)),
        _section("logs", "Logs (tail)", _logs_html(report)),
        _section("environment", "Environment", _environment_html(report)),
    ]
    title = f"pipetest report: {name} — {report.get('run_id', '')}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>'
        f"<header><h1>{_e(name)}</h1><div class=\"meta\">run {_e(report.get('run_id'))} · "
        f"{_badge(report.get('status') or 'unknown')} · started {_e(_when(report.get('started_at')))} · "
        f"{_e(_seconds(report.get('duration')))}</div></header>"
        + "".join(sections)
        + f"<footer>pipetest_nb {_e(report.get('versions', {}).get('pipetest_nb', ''))} · "
        f"generated {_e(report.get('generated_at'))} · run folder {_e(report.get('run_dir'))}</footer>"
        "</body></html>\n")


def _root_failure_html(report: dict[str, Any]) -> str:
    root = report.get("root_failure")
    if not root:
        ok = report.get("success")
        text = "Run succeeded" if ok else f"Run {report.get('status')}: no step failed"
        return f'<section id="root-failure" class="banner {"ok" if ok else "neutral"}"><b>{_e(text)}</b></section>'
    parts = [f"<h2>Root failure: step <code>{_e(root.get('step'))}</code> "
             f"<span class=\"etype\">{_e(root.get('error_type'))}</span></h2>",
             f"<pre>{_e(root.get('error_message'))}</pre>"]
    if root.get("traceback"):
        parts.append(f"<details><summary>traceback</summary><pre>{_e(root['traceback'])}</pre></details>")
    suspects = [e for e in report.get("edges") or [] if str(e["target"]).split(".", 1)[0] == root.get("step")
                and e.get("state") in (EdgeState.WARNED, EdgeState.FAILED)]
    for edge in suspects:  # the data it was given did not pass its checks: often the real cause
        columns = sorted({str(f["column"]) for c in edge["expectations"] for f in c["failures"] if f.get("column")})
        parts.append(f"<p>Its input <code>{_e(edge['target'])}</code> from <code>{_e(edge['source'])}</code> "
                     f"did not pass its checks ({_e(edge['state'])})"
                     + (f"; columns concerned: {_e(', '.join(columns))}" if columns else "")
                     + ' — see <a href="#edges">Edge checks</a>.</p>')
    if report.get("not_run"):
        parts.append(f"<p>Not run because of it: {_e(', '.join(report['not_run']))}</p>")
    if report.get("other_failures"):
        parts.append(f"<p>Other failed steps: {_e(', '.join(report['other_failures']))}</p>")
    return f'<section id="root-failure" class="banner bad">{"".join(parts)}</section>'


def _summary_html(report: dict[str, Any]) -> str:
    counts = report.get("counts") or {}
    rows = [("success", _badge("succeeded" if report.get("success") else "failed",
                               "yes" if report.get("success") else "no")),
            ("status", _badge(report.get("status") or "unknown")),
            ("duration", _e(_seconds(report.get("duration")))),
            ("steps", _e(str(len(report.get("steps") or {}))))]
    rows += [(status, _e(str(counts.get(status, 0))))
             for status in ("succeeded", "failed", "skipped", "cached", "blocked", "interrupted", "pending")
             if counts.get(status) or status in ("succeeded", "failed", "skipped", "cached")]
    return _kv_table(rows)


def _steps_html(report: dict[str, Any]) -> str:
    rows = []
    for name, s in (report.get("steps") or {}).items():
        cpu = f"{s['cpu_usage'] * 100:.0f}%" if s.get("cpu_usage") is not None else "—"
        error = s.get("error_type") or ""
        if s.get("blocked_by"):
            error = f"needs {s['blocked_by']}"
        rows.append([f"<code>{_e(name)}</code>", _badge(s["status"]), _e(str(s.get("attempts") or 0)),
                     _e(_seconds(s.get("duration"))), _e(_bytes(s.get("peak_rss"))), _e(cpu),
                     _e(_count(s.get("rows_in"))), _e(_count(s.get("rows_out"))), _e(_bytes(s.get("input_size"))),
                     _e(_bytes(s.get("output_size"))), _e(error)])
    table = _table(["step", "status", "attempts", "duration", "peak memory", "CPU", "rows in", "rows out",
                    "input size", "output size", "error"], rows, numeric=range(2, 10))
    warnings = [f"<li><code>{_e(name)}</code>: {_e(w)}</li>"
                for name, s in (report.get("steps") or {}).items() for w in s.get("warnings") or []]
    return table + (f"<h3>Warnings</h3><ul>{''.join(warnings)}</ul>" if warnings else "")


def _edges_html(report: dict[str, Any]) -> str:
    edges = report.get("edges") or []
    if not edges:
        return "<p class=\"muted\">No edge was checked in this run.</p>"
    rows, details = [], []
    for edge in edges:
        compat = edge.get("compatibility")
        compat_text = "—" if compat is None else (
            f"{len(compat['issues'])} issue(s), {len(compat['warnings'])} warning(s)"
            if compat["issues"] or compat["warnings"] else "ok")
        suites = ", ".join(f"{c.get('suite')}: {_passed(c)}" for c in edge["expectations"]) or "—"
        label = f"{edge.get('source')} → {edge['target'] or '(output read by no step)'}"
        rows.append([f"<code>{_e(label)}</code>", _badge(edge.get("state") or EdgeState.UNCHECKED),
                     _e(compat_text), _e(suites)])
        body = []
        if compat:
            body += [f'<li class="issue">{_e(i)}</li>' for i in compat["issues"]]
            body += [f'<li class="warning">{_e(w)}</li>' for w in compat["warnings"]]
        items = f"<ul>{''.join(body)}</ul>" if body else ""
        failures = "".join(_failures_html(c) for c in edge["expectations"] if not c.get("success"))
        if items or failures:
            details.append(f"<div class=\"edge-detail\"><h3>{_e(label)} {_badge(edge.get('state') or '')}</h3>"
                           f"{items}{failures}</div>")
    return _table(["edge", "state", "compatibility", "expectation suites"], rows) + "".join(details)


def _failures_html(check: dict[str, Any]) -> str:
    head = (f"<p>Suite <b>{_e(check.get('suite'))}</b> {_badge(check.get('state') or 'failed')} "
            f"on {_e(', '.join(check.get('tables') or []) or 'the output')}: {_e(_passed(check))}</p>")
    if check.get("error"):
        head += f"<pre>{_e(check['error'])}</pre>"
    rows = []
    for f in check.get("failures") or []:
        kwargs = {k: v for k, v in (f.get("kwargs") or {}).items() if k != "column"}
        unexpected = "—"
        if f.get("unexpected_count") is not None:
            pct = f.get("unexpected_percent")
            unexpected = f"{f['unexpected_count']:,}" + (f" ({pct:.2f}%)" if isinstance(pct, (int, float)) else "")
        found = f.get("exception") or (display_value(f["observed_value"]) if "observed_value" in f else "")
        rows.append([_e(f.get("table") or ""), f"<code>{_e(f.get('type'))}</code>", _e(f.get("column") or ""),
                     _e(_short(display_value(kwargs))), _e(unexpected),
                     _e(_short(", ".join(display_value(v) for v in f.get("unexpected_values") or []))),
                     _e(_short(found))])
    table = _table(["table", "expectation", "column", "arguments", "unexpected", "sample values",
                    "observed / error"], rows) if rows else ""
    return head + table


def _insights_html(report: dict[str, Any]) -> str:
    insights = report.get("performance_insights") or {}
    rows = []
    if "slowest_step" in insights:
        s = insights["slowest_step"]
        rows.append(("slowest step", f"<code>{_e(s['step'])}</code> ({_e(_seconds(s.get('duration')))})"))
    if "most_memory" in insights:
        m = insights["most_memory"]
        rows.append(("most memory", f"<code>{_e(m['step'])}</code> ({_e(_bytes(m.get('peak_rss')))} peak)"))
    if "critical_path" in insights:
        c = insights["critical_path"]
        rows.append(("critical path", f"{_e(' → '.join(c.get('steps') or []))} ({_e(_seconds(c.get('duration')))})"))
    body = _kv_table(rows) if rows else "<p class=\"muted\">No finished step to learn from.</p>"
    growth = insights.get("data_growth") or {}
    if growth:
        body += "<h3>Data growth per step</h3>" + _table(
            ["step", "input size", "output size", "output / input"],
            [[f"<code>{_e(n)}</code>", _e(_bytes(g.get("input_size"))), _e(_bytes(g.get("output_size"))),
              _e(f"{g['ratio']:.2f}×")] for n, g in growth.items()], numeric=range(1, 4))
    return body


def _logs_html(report: dict[str, Any]) -> str:
    parts = []
    for name, s in (report.get("steps") or {}).items():
        logs = s.get("log_tail") or {}
        if not any(logs.values()):
            continue
        opened = " open" if s.get("status") == StepStatus.FAILED else ""
        body = "".join(f"<div class=\"stream\">{_e(stream)}</div><pre class=\"log\">{_e(text)}</pre>"
                       for stream, text in logs.items() if text)
        parts.append(f"<details{opened}><summary><code>{_e(name)}</code> {_badge(s['status'])}</summary>"
                     f"{body}</details>")
    return "".join(parts) or "<p class=\"muted\">No step wrote anything.</p>"


def _environment_html(report: dict[str, Any]) -> str:
    versions = report.get("versions") or {}
    options = {k: v for k, v in (report.get("options") or {}).items() if v is not None}
    body = _kv_table([(k, _e(str(v))) for k, v in {**versions, **options}.items()])
    rows = [[f"<code>{_e(n)}</code>", _e(s.get("isolation") or ""),
             _e(", ".join(f"{k}={v}" for k, v in (s.get("env") or {}).items())),
             _e(", ".join(f"{k}={v}" for k, v in (s.get("args") or {}).items()))]
            for n, s in (report.get("steps") or {}).items() if s.get("env") or s.get("args")]
    if rows:
        body += "<h3>Step settings</h3>" + _table(["step", "isolation", "env (secrets masked)", "args"], rows)
    return body


# -- figures -----------------------------------------------------------------------------------------


def _dag_figure(report: dict[str, Any], plan: dict[str, Any], name: str) -> Any:
    """The notebook's static DAG figure (same layout and palette), coloured by this run."""
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
    return dag_figure(plan_view, statuses, edge_states, info)


def _timeline_figure(report: dict[str, Any]) -> Any:
    """A Gantt chart: one bar per step from its start to its end, coloured by status."""
    import plotly.graph_objects as go

    from pipetest_nb.views.notebook.graph import STATUS_COLORS

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
                       f"<br>{d:.2f} s with launch and checks, script {_seconds(steps[n].get('duration'))}"
                       for n, d in zip(names, durations, strict=True)],
            hovertemplate="%{hovertext}<extra></extra>")
    order = [n for n in (report.get("steps") or {}) if n in steps]
    figure.update_layout(
        barmode="overlay", height=max(220, 60 + 28 * len(order)), margin=dict(l=20, r=20, t=20, b=40),
        plot_bgcolor="white", xaxis=dict(title="seconds since the first step started", gridcolor="#eee"),
        yaxis=dict(categoryorder="array", categoryarray=order, autorange="reversed"), legend=dict(orientation="h"))
    return figure


def _figure_html(figure: Any, div_id: str) -> str:
    """A plotly figure drawn by the inlined plotly.js; the JSON is made safe inside ``<script>``."""
    import plotly.io

    payload = _script_safe(plotly.io.to_json(figure, remove_uids=False))  # keep the graph's trace uids
    config = _script_safe(json.dumps(_PLOT_CONFIG))
    return (f'<div id="{div_id}" class="plot"></div><script type="text/javascript">'
            f"(function(){{var f={payload};Plotly.newPlot({json.dumps(div_id)},f.data,f.layout,{config});}})();"
            "</script>")


def _script_safe(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- small pieces ------------------------------------------------------------------------------------


def _printable(value: Any) -> Any:
    """``value`` with every string writable as UTF-8: file names with undecodable bytes (which Python
    holds as lone surrogates) shown as ``\\xNN``, so that neither the HTML nor the JSON write fails."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            from pipetest_nb.files import display_path

            return display_path(value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(v) for v in value]
    return value


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


def _badge(status: str, text: str | None = None) -> str:
    from pipetest_nb.views.notebook.graph import EDGE_COLORS, STATUS_COLORS

    color = STATUS_COLORS.get(status) or EDGE_COLORS.get(status) or "#999999"
    return f'<span class="badge" style="background:{color}">{_e(text or status)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: Any = ()) -> str:
    """A table; cells must already be HTML."""
    right = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in right else ""}>{c}</td>' for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv_table(rows: list[tuple[str, str]]) -> str:
    return "<table class=\"kv\">" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _passed(check: dict[str, Any]) -> str:
    stats = check.get("statistics") or {}
    if "evaluated_expectations" in stats:
        return f"{stats.get('successful_expectations', 0)}/{stats['evaluated_expectations']} passed"
    return "passed" if check.get("success") else "failed"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _seconds(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s" if value < 120 else f"{value / 60:.1f} min"


def _bytes(value: Any) -> str:
    if not value:
        return "—"
    n = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _count(value: Any) -> str:
    return "—" if value is None else f"{value:,}"


def _when(timestamp: Any) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "—"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;color:#222;margin:0 auto;
max-width:1200px;padding:16px 24px}
h1{margin:0 0 4px;font-size:22px}h2{font-size:17px;margin:0 0 8px}h3{font-size:14px;margin:12px 0 6px}
header{border-bottom:1px solid #ddd;padding-bottom:8px;margin-bottom:12px}.meta{color:#555}
section{margin:0 0 20px}table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{text-align:left;vertical-align:top;padding:3px 10px;border-bottom:1px solid #eee}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}table.kv th{background:none;color:#555}
.badge{display:inline-block;padding:0 7px;border-radius:9px;color:#000;font-size:12px}
.banner{padding:10px 14px;border-radius:6px;border-left:6px solid}
.banner.bad{background:#fdf0e8;border-color:#D55E00}.banner.ok{background:#e8f6f0;border-color:#009E73}
.banner.neutral{background:#f4f4f4;border-color:#999}.etype{color:#D55E00;font-weight:normal}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-word;margin:4px 0}
pre.log{max-height:320px;overflow-y:auto}.stream{color:#777;font-size:12px;margin-top:6px}
li.issue{color:#a03c00}li.warning{color:#8a5a00}.muted{color:#777}.edge-detail{margin:10px 0 14px}
details{margin:4px 0}summary{cursor:pointer}footer{color:#888;font-size:12px;border-top:1px solid #ddd;padding-top:8px}
code{font-size:12.5px}
"""


# --------------------------------------------------------------------------------------------------
# pipetest report
# --------------------------------------------------------------------------------------------------


def cmd_report(args: Any) -> int:
    """``pipetest report RUN_DIR [-o report.html] [--json out.json]``."""
    run_dir = Path(args.run_dir)
    path = write_html_report(run_dir, args.output)
    print(f"HTML report: {path}")
    if args.json:
        Path(args.json).write_text(dumps(report_json(run_dir), indent=2))
        print(f"JSON report: {args.json}")
    return 0


def add_report_arguments(p: Any) -> None:
    """The options of ``pipetest report``."""
    p.add_argument("run_dir", help="a run folder (<workspace>/runs/<run_id>)")
    p.add_argument("-o", "--output", metavar="FILE", help="the HTML file (default: <run_dir>/report.html)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON (for CI)")
    p.set_defaults(func=cmd_report)
