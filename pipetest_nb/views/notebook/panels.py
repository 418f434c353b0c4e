"""The HTML of the debugger's tabs: pure functions from the run record (and files) to escaped HTML.

Kept apart from the widgets so each panel can be checked on its own, headless. Everything that comes
from a step (log text, error messages, data values, column names, env) is escaped, and every list
and text is bounded, so a huge or hostile output cannot break or stall the page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.json_values import display_value
from pipetest_nb.records.masking import mask_args, mask_env
from pipetest_nb.records.readers import read_small_file, read_tail_inside
from pipetest_nb.text import format_bytes, format_duration
from pipetest_nb.views.notebook.graph import EDGE_COLORS, STATUS_COLORS

if TYPE_CHECKING:
    from pipetest_nb.spec.model import PipelineDAG, StepConfig
    from pipetest_nb.views.notebook.pages import Page

LOG_CHARS = 20_000  # characters of each log shown (its tail)
MAX_ROWS = 200  # rows of any listing
MUTED = "#777777"
METRIC_LABELS = (("duration", "duration"), ("cpu_time", "CPU time"), ("peak_rss", "peak memory"),
                 ("rows_in", "rows in"), ("rows_out", "rows out"), ("input_size", "input size"),
                 ("output_size", "output size"))


def esc(value: Any) -> str:
    return html.escape(str(value))


def badge(state: str) -> str:
    colour = STATUS_COLORS.get(state) or EDGE_COLORS.get(state) or MUTED
    return (f'<span class="pipetest-badge" style="background:{colour};color:#000;padding:0 6px;'
            f'border-radius:8px">{esc(state)}</span>')


def note(text: str) -> str:
    """A muted line; ``text`` must already be HTML."""
    return f'<div style="color:{MUTED};margin:4px 0">{text}</div>'


def table(headers: list[str], rows: list[list[str]], css: str = "") -> str:
    """A compact table; headers and cells must already be HTML. Long listings are cut at MAX_ROWS."""
    cell = 'style="text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid #eee"'
    head = "<tr>" + "".join(f"<th {cell}>{h}</th>" for h in headers) + "</tr>" if headers else ""
    body = "".join("<tr>" + "".join(f"<td {cell}>{c}</td>" for c in row) + "</tr>" for row in rows[:MAX_ROWS])
    more = note(f"… {len(rows) - MAX_ROWS:,} more") if len(rows) > MAX_ROWS else ""
    return f'<table class="{css}" style="border-collapse:collapse;font-size:12px">{head}{body}</table>{more}'


def pre(text: str, css: str = "") -> str:
    return (f'<pre class="{css}" style="white-space:pre-wrap;max-height:360px;overflow:auto;margin:2px 0;'
            f'background:#f7f7f7;padding:4px;line-height:1.35">{esc(text)}</pre>')


def section(title: str, body: str) -> str:
    return f'<div style="margin:6px 0"><b>{esc(title)}</b>{body}</div>'


def wrap(body: str) -> str:
    # the widget's own line height (28 px, for one-line labels) would double-space every line
    return f'<div class="pipetest-panel" style="font-family:sans-serif;font-size:12px;line-height:1.35">{body}</div>'


def _value(value: Any) -> str:
    if value is None:
        return f'<span style="color:{MUTED}">—</span>'
    if isinstance(value, (dict, list)):
        return f"<code>{esc(_short(display_value(value)))}</code>"
    return esc(_short(str(value)))


def _short(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def data_html(page: Page, where: str) -> str:
    """A page of rows, the table's schema (types, whole-table nulls when known) and describe() of the page."""
    from pipetest_nb.views.notebook.pages import describe

    frame = page.rows.to_pandas()
    total = "?" if page.total_rows is None else f"{page.total_rows:,}"
    head = note(f"{esc(where)} · table <b>{esc(page.table)}</b> · rows {page.offset + 1 if len(frame) else 0:,}"
                f"–{page.end:,} of {total}")
    rows = frame.to_html(escape=True, max_cols=60, index=False, classes="pipetest-rows", border=0)
    if page.null_counts is not None:
        nulls, nulls_title = page.null_counts, "nulls (whole table)"
    else:
        nulls, nulls_title = {c: int(frame[c].isna().sum()) for c in frame.columns}, "nulls (this page)"
    columns = list(page.column_types) or [str(c) for c in frame.columns]
    schema = table(["column", "type", nulls_title],
                   [[esc(c), esc(page.column_types.get(c, frame[c].dtype if c in frame else "?")),
                     esc(nulls.get(c, "?"))] for c in columns], "pipetest-schema")
    stats = describe(page)
    described = stats.to_html(escape=True, max_cols=60, border=0, float_format=lambda v: f"{v:.4g}") \
        if len(stats) else note("no rows")
    return wrap(head + f'<div style="overflow:auto">{rows}</div>' + section("Schema", schema)
                + section("describe() of this page", f'<div style="overflow:auto">{described}</div>'))


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def validation_edge_html(edge: tuple[str, str], entry: dict[str, Any] | None) -> str:
    """What the checks of one data edge found: compatibility issues and each expectation of each suite."""
    title = f"<b>{esc(edge[0])} → {esc(edge[1])}</b> "
    if not entry:
        return wrap(title + badge(EdgeState.UNCHECKED)
                    + note("not checked (yet): its producer has not finished, or the edge has no checks"))
    parts = [title + badge(entry.get("state", EdgeState.UNCHECKED))]
    compat = entry.get("compatibility")
    if compat:
        parts.append(compatibility_html(compat))
    for check in entry.get("expectations") or []:
        parts.append(expectations_html(check))
    return wrap("".join(parts))


def compatibility_html(report: dict[str, Any]) -> str:
    ok = report.get("compatible", True)
    head = "compatible" if ok else "NOT compatible"
    items = [[badge(EdgeState.FAILED), esc(m)] for m in report.get("issues") or []]
    items += [[badge(EdgeState.WARNED), esc(m)] for m in report.get("warnings") or []]
    body = table(["", "finding"], items, "pipetest-compat") if items else note("no issues")
    return section(f"Compatibility: {head}", body)


def expectations_html(check: dict[str, Any]) -> str:
    """One suite's result: every expectation of the suite file, passed or failed, with unexpected values."""
    stats = check.get("statistics") or {}
    head = (f"Suite '{check.get('suite')}' ({stats.get('successful_expectations', '?')}/"
            f"{stats.get('evaluated_expectations', '?')} passed, on failure: {check.get('on_failure', 'fail')})")
    failures = list(check.get("failures") or [])
    rows = []
    for spec in _suite_expectations(check.get("suite_file")):
        failure = _take_failure(failures, spec)
        rows.append(_expectation_row(spec.get("type") or spec.get("expectation_type") or "?",
                                     spec.get("kwargs") or {}, failure))
    rows += [_expectation_row(f.get("type", "?"), f.get("kwargs") or {}, f) for f in failures]
    body = (note(f"tables: {esc(', '.join(check.get('tables') or []))}") if check.get("tables") else "")
    if check.get("error"):
        body += pre(f"error: {check['error']}", "pipetest-error")
    body += table(["", "expectation", "column", "arguments", "unexpected", "sample unexpected values"], rows,
                  "pipetest-expectations")
    return section(head, " " + badge(check.get("state", EdgeState.UNCHECKED)) + body)


def _suite_expectations(suite_file: str | None) -> list[dict[str, Any]]:
    """The expectations of a suite file, so passing ones are listed too; [] when it cannot be read."""
    if not suite_file:
        return []
    raw = read_small_file(Path(suite_file))  # a regular file of bounded size: never a FIFO or a device
    try:
        suite = json.loads(raw.decode("utf-8")) if raw is not None else None
    except (ValueError, RecursionError):
        return []
    items = suite.get("expectations") if isinstance(suite, dict) else None
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _take_failure(failures: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any] | None:
    kind = spec.get("type") or spec.get("expectation_type")
    column = (spec.get("kwargs") or {}).get("column")
    for i, failure in enumerate(failures):
        if failure.get("type") == kind and failure.get("column") == column:
            return failures.pop(i)
    return None


def _expectation_row(kind: str, kwargs: dict[str, Any], failure: dict[str, Any] | None) -> list[str]:
    args = ", ".join(f"{k}={display_value(v)}" for k, v in kwargs.items() if k != "column")
    if failure is None:
        return ['<span style="color:#009E73">✔ passed</span>', esc(kind), esc(kwargs.get("column") or ""),
                esc(_short(args, 300)), "", ""]
    count, pct = failure.get("unexpected_count"), failure.get("unexpected_percent")
    unexpected = "" if count is None else f"{count:,}" + (f" ({pct:.2f}%)" if pct is not None else "")
    if failure.get("exception"):
        unexpected = f"could not run: {failure['exception']}"
    elif count is None and "observed_value" in failure:
        unexpected = f"observed {display_value(failure['observed_value'])}"
    values = ", ".join(display_value(v) for v in (failure.get("unexpected_values") or [])[:20])
    table_name = f" [{failure['table']}]" if failure.get("table") else ""
    return ['<span style="color:#D55E00;font-weight:bold">✘ failed</span>', esc(kind + table_name),
            esc(failure.get("column") or kwargs.get("column") or ""), esc(_short(args, 300)),
            esc(unexpected), f'<code class="pipetest-unexpected">{esc(_short(values, 500))}</code>']


def validation_step_html(step: str, entry: dict[str, Any], edges: dict[str, dict[str, Any]],
                         dag: PipelineDAG) -> str:
    """A step's own checks (declared outputs, output suites) and the state of the edges around it."""
    parts = [f"<b>{esc(step)}</b> " + badge(entry.get("status", StepStatus.PENDING))]
    report = entry.get("data_validation_report")
    if report:
        parts.append(compatibility_html(report))
    for check in entry.get("output_checks") or []:
        parts.append(expectations_html(check))
    rows = []
    for source, target in dag.data_edges():
        if step in (source.split(".", 1)[0], target.split(".", 1)[0]):
            state = (edges.get(f"{source}->{target}") or {}).get("state", EdgeState.UNCHECKED)
            rows.append([esc(source), esc(target), badge(state)])
    parts.append(section("Edges (click one in the graph for its checks)",
                         table(["from", "to", "checks"], rows) if rows else note("no data edges")))
    return wrap("".join(parts))


# --------------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------------


def read_log(path: Path) -> str:
    """The tail of a log file (LOG_CHARS characters), decoded leniently; '' when there is none."""
    data, size = read_tail_inside(Path(path).parent, Path(path).name, LOG_CHARS * 2)  # never a FIFO or a symlink
    return tail(data.decode("utf-8", errors="replace"), size)


def tail(text: str, total: int | None = None) -> str:
    """The last LOG_CHARS characters, saying how much came before."""
    total = len(text) if total is None else total
    if len(text) <= LOG_CHARS and total <= len(text):
        return text
    return f"[… {max(total - LOG_CHARS, 0):,} earlier characters not shown …]\n" + text[-LOG_CHARS:]


def logs_html(step: str, entry: dict[str, Any], logs: dict[str, str], live: bool) -> str:
    """The error of a step (type, message, traceback), then its stderr and stdout."""
    status = entry.get("status", StepStatus.PENDING)
    parts = [f"<b>{esc(step)}</b> " + badge(status) + (note("live: updates while the step runs") if live else "")]
    if entry.get("error_type") or entry.get("error_message"):
        parts.append(section("Error", pre(f"{entry.get('error_type', 'error')}: {entry.get('error_message', '')}",
                                          "pipetest-error")))
    if entry.get("traceback"):
        parts.append(section("Traceback", pre(tail(entry["traceback"]), "pipetest-traceback")))
    for stream in ("stderr", "stdout"):
        text = logs.get(stream, "")
        parts.append(section(stream, pre(text, f"pipetest-{stream}") if text else note("(empty)")))
    if status == StepStatus.PENDING:
        parts.append(note("the step has not run in this run"))
    return wrap("".join(parts))


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------


def metrics_html(record: dict[str, Any], order: list[str], selected: str | None, now: float) -> str:
    """The selected step's metrics, a timeline (Gantt) of the run's steps, and peak memory per step."""
    steps = record.get("steps") or {}
    parts = []
    if selected is not None:
        metrics = (steps.get(selected) or {}).get("metrics") or {}
        rows = [[esc(label), esc(_metric(key, metrics.get(key)))] for key, label in METRIC_LABELS]
        parts.append(section(f"Step {selected}", table([], rows, "pipetest-step-metrics")))
    spans = {s: (e["started_at"], e.get("finished_at") or now) for s in order
             if (e := steps.get(s) or {}).get("started_at") and e.get("status") != StepStatus.PENDING}
    if not spans:
        return wrap("".join(parts) + note("no step has run yet"))
    t0 = min(a for a, _ in spans.values())
    width = max(max(b for _, b in spans.values()) - t0, 1e-9)
    rows = []
    for step in order:
        if step not in spans:
            continue
        start, end = spans[step]
        status = steps[step].get("status", StepStatus.PENDING)
        left, size = 100 * (start - t0) / width, max(100 * (end - start) / width, 0.5)
        rows.append(_bar_row(step, left, size, STATUS_COLORS.get(status, MUTED), format_duration(end - start),
                             f"{status}, from +{format_duration(start - t0)}"))
    parts.append(section(f"Timeline ({format_duration(width)})", "".join(rows)))
    peaks = {s: float(m) for s in order if (m := ((steps.get(s) or {}).get("metrics") or {}).get("peak_rss"))}
    if peaks:
        top = max(peaks.values())
        parts.append(section("Peak memory", "".join(
            _bar_row(s, 0, max(100 * v / top, 0.5), "#0072B2", format_bytes(v), "peak resident memory")
            for s, v in peaks.items())))
    return wrap("".join(parts))


def _metric(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in ("duration", "cpu_time"):
        return format_duration(float(value))
    if key in ("peak_rss", "input_size", "output_size"):
        return format_bytes(float(value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def _bar_row(label: str, left: float, size: float, colour: str, text: str, title: str) -> str:
    return ('<div class="pipetest-bar" style="display:flex;align-items:center;margin:1px 0">'
            f'<span style="width:140px;overflow:hidden;text-overflow:ellipsis">{esc(label)}</span>'
            '<div style="position:relative;flex:1;height:12px;background:#f2f2f2">'
            f'<div title="{esc(title)}" style="position:absolute;left:{left:.2f}%;width:{min(size, 100 - left):.2f}%;'
            f'height:100%;background:{colour}"></div></div>'
            f'<span style="width:80px;text-align:right">{esc(text)}</span></div>')


# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------


def config_step_html(step: str, entry: dict[str, Any], config: StepConfig) -> str:
    """What the step runs with: script, mode, isolation, env (secrets masked), args, input/output paths.

    The record's values (as the step was started) when it ran, else those of the plan (defaults applied).
    """
    try:
        script = entry.get("script") or str(config.script)
    except Exception as exc:  # a step whose script cannot be resolved still shows its config
        script = f"(cannot resolve: {exc})"
    env = mask_env(entry["env"] if "env" in entry else {k: str(v) for k, v in config.env.items()})
    args = mask_args(entry["args"] if "args" in entry else (dict(config.args) or None))
    inputs = entry.get("inputs") or {n: (spec.source or str(spec.path or "")) for n, spec in config.inputs.items()}
    outputs = entry.get("outputs") or {n: "(in the run folder, once it runs)" for n in config.outputs}
    rows = [["script", esc(script)], ["mode", esc(entry.get("mode") or config.mode or "main")],
            ["isolation", esc(entry.get("isolation") or config.isolation or "subprocess (default)")],
            ["timeout", _value(config.timeout)], ["attempts", _value(entry.get("attempts"))]]
    parts = [f"<b>{esc(step)}</b> " + badge(entry.get("status", StepStatus.PENDING)),
             table([], rows, "pipetest-config"),
             section("env (secret-looking names masked)", _mapping(env)),
             section("args", _mapping(args or {})),
             section("inputs", _mapping(inputs)), section("outputs", _mapping(outputs))]
    return wrap("".join(parts))


def config_edge_html(edge: tuple[str, str], dag: PipelineDAG) -> str:
    """What the pipeline declares for an edge: its suite, tables and what the consumer expects."""
    spec = dag.edge(*edge)
    consumer, _, name = edge[1].partition(".")
    wanted = dag.steps[consumer].inputs.get(name)
    rows = [["from", esc(edge[0])], ["to", esc(edge[1])]]
    if spec is not None:
        rows += [["expectations", _value(spec.expectations)], ["tables", _value(spec.tables)],
                 ["on expectation failure", _value(spec.on_expectation_failure)]]
    if wanted is not None:
        rows += [["input format", _value(wanted.format)],
                 ["input schema", _value(wanted.schema.to_dict() if wanted.schema else None)]]
    return wrap(f"<b>{esc(edge[0])} → {esc(edge[1])}</b>" + table([], rows, "pipetest-config"))


def _mapping(values: dict[str, Any]) -> str:
    if not values:
        return note("(none)")
    return table([], [[esc(k), _value(v)] for k, v in values.items()])
