"""The HTML of the debugger's tabs: pure functions from the run record (and files) to HTML.

Kept apart from the widgets so each panel can be checked on its own, headless. The functions here
pick and bound what a tab shows (every list and text is cut, so a huge or hostile output cannot
break or stall the page); the ``notebook_*.html`` templates draw it, and they escape everything that
comes from a step (log text, error messages, data values, column names, env).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.json_values import display_value
from pipetest_nb.records.masking import mask_args, mask_env
from pipetest_nb.records.readers import read_small_file, read_tail_inside
from pipetest_nb.text import format_bytes, format_duration
from pipetest_nb.views.notebook.layout import BADGE_COLOURS
from pipetest_nb.views.templating import render

if TYPE_CHECKING:
    from pipetest_nb.spec.model import PipelineDAG
    from pipetest_nb.spec.parts import StepConfig
    from pipetest_nb.views.notebook.pages import Page

LOG_CHARS = 20_000  # characters of each log shown (its tail)
MAX_ROWS = 200  # rows of any listing
MUTED = "#777777"
METRIC_LABELS = (("duration", "script"), ("check_time", "edge checks"), ("cpu_time", "CPU time"), ("peak_rss", "peak memory"),
                 ("rows_in", "rows in"), ("rows_out", "rows out"), ("input_size", "input size"),
                 ("output_size", "output size"))


def _render(template: str, **context: Any) -> str:
    """A panel template, with the badge colours and limits every panel uses."""
    return render(template, colours=BADGE_COLOURS, muted=MUTED, max_rows=MAX_ROWS, **context)


def message_html(text: str) -> str:
    """A panel that says only ``text`` (a muted note)."""
    return _render("notebook_note.html", text=text, trace=None)


def error_html(trace: str) -> str:
    """A panel that could not be drawn, with the traceback of why."""
    return _render("notebook_note.html", text="", trace=trace)


def _cell(value: Any) -> Any:
    """A value of a key/value table: None (a dash), ``{"code": text}`` for a structure, else its text, bounded."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return {"code": _short(display_value(value))}
    return _short(str(value))


def _short(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def _rows_html(rows: Any) -> str:
    """A page of rows as an HTML table, each cell from the Arrow value (null, NaN, ±inf and NaT apart)."""
    import pandas as pd

    from pipetest_nb.views.notebook.display import data_cell

    shown = pd.DataFrame({name: [data_cell(v) for v in rows.column(name).to_pylist()] for name in rows.column_names},
                         columns=rows.column_names)
    return shown.to_html(escape=True, max_cols=60, index=False, classes="pipetest-rows", border=0)


def data_html(page: Page, where: str) -> str:
    """A page of rows, the table's schema (types, whole-table nulls when known) and describe() of the page."""
    from markupsafe import Markup

    from pipetest_nb.views.notebook.pages import describe

    frame = page.rows.to_pandas()
    rows = _rows_html(page.rows)
    if page.null_counts is not None:
        nulls, nulls_title = page.null_counts, "nulls (whole table)"
    else:
        nulls, nulls_title = {c: int(frame[c].isna().sum()) for c in frame.columns}, "nulls (this page)"
    columns = list(page.column_types) or [str(c) for c in frame.columns]
    schema = [(c, page.column_types.get(c, frame[c].dtype if c in frame else "?"), nulls.get(c, "?"))
              for c in columns]
    stats = describe(page)
    described = stats.to_html(escape=True, max_cols=60, border=0, float_format=lambda v: f"{v:.4g}") \
        if len(stats) else None
    return _render("notebook_data.html", where=where, table=page.table, first=page.offset + 1 if len(frame) else 0,
                   end=page.end, total="?" if page.total_rows is None else f"{page.total_rows:,}",
                   rows_html=Markup(rows), schema=schema, nulls_title=nulls_title,  # pandas escapes its cells
                   described=None if described is None else Markup(described))


def files_html(step: str, outputs: list[tuple[str, Any]]) -> str:
    """Outputs that hold no tables: the files each holds (path and size), so the tab is never a dead end.

    ``outputs`` pairs an output's name with its ``OutputInfo``.
    """
    listed = [(name, info.exists, [(rel, format_bytes(float(f.size))) for rel, f in sorted(info.files.items())])
              for name, info in outputs]
    return _render("notebook_files.html", step=step, outputs=listed)


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def validation_edge_html(edge: tuple[str, str], entry: dict[str, Any] | None, failures_only: bool = False) -> str:
    """What the checks of one data edge found: compatibility issues, then each suite's expectations,
    failed ones first (only those with ``failures_only``)."""
    entry = entry or {}
    compat = entry.get("compatibility")
    return _render("notebook_validation.html", edge=edge, step=None, checked=bool(entry),
                   state=entry.get("state", EdgeState.UNCHECKED), edges=None,
                   compatibility=_compatibility(compat) if compat else None,
                   suites=[_expectations(c, failures_only) for c in entry.get("expectations") or []])


def _compatibility(report: dict[str, Any]) -> dict[str, Any]:
    findings = [(EdgeState.FAILED, m) for m in report.get("issues") or []]
    findings += [(EdgeState.WARNED, m) for m in report.get("warnings") or []]
    return {"head": "compatible" if report.get("compatible", True) else "NOT compatible", "findings": findings}


def _expectations(check: dict[str, Any], failures_only: bool = False) -> dict[str, Any]:
    """One suite's result: every expectation of the suite file, failed ones first, with unexpected values."""
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
    rows.sort(key=lambda r: r["passed"])  # stable: the suite's order within failed and within passed
    hidden = sum(r["passed"] for r in rows) if failures_only else 0
    return {"head": head, "state": check.get("state", EdgeState.UNCHECKED),
            "rows": [r for r in rows if not (failures_only and r["passed"])], "hidden": hidden,
            "tables": ", ".join(check.get("tables") or []), "error": check.get("error")}


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


def _expectation_row(kind: str, kwargs: dict[str, Any], failure: dict[str, Any] | None) -> dict[str, Any]:
    args = _short(", ".join(f"{k}={display_value(v)}" for k, v in kwargs.items() if k != "column"), 300)
    if failure is None:
        return {"passed": True, "kind": kind, "column": kwargs.get("column") or "", "args": args, "unexpected": ""}
    count, pct = failure.get("unexpected_count"), failure.get("unexpected_percent")
    unexpected = "" if count is None else f"{count:,}" + (f" ({pct:.2f}%)" if pct is not None else "")
    if failure.get("exception"):
        unexpected = f"could not run: {failure['exception']}"
    elif count is None and "observed_value" in failure:
        unexpected = f"observed {display_value(failure['observed_value'])}"
    values = ", ".join(display_value(v) for v in (failure.get("unexpected_values") or [])[:20])
    table_name = f" [{failure['table']}]" if failure.get("table") else ""
    return {"passed": False, "kind": kind + table_name, "column": failure.get("column") or kwargs.get("column") or "",
            "args": args, "unexpected": unexpected, "sample": _short(values, 500)}


def validation_step_html(step: str, entry: dict[str, Any], edges: dict[str, dict[str, Any]],
                         dag: PipelineDAG, failures_only: bool = False) -> str:
    """A step's own checks (declared outputs, output suites) and the state of the edges around it."""
    report = entry.get("data_validation_report")
    around = [(source, target, (edges.get(f"{source}->{target}") or {}).get("state", EdgeState.UNCHECKED))
              for source, target in dag.data_edges() if step in (source.split(".", 1)[0], target.split(".", 1)[0])]
    return _render("notebook_validation.html", edge=None, step=step, checked=True,
                   state=entry.get("status", StepStatus.PENDING), edges=around,
                   compatibility=_compatibility(report) if report else None,
                   suites=[_expectations(c, failures_only) for c in entry.get("output_checks") or []])


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
    error = (f"{entry.get('error_type', 'error')}: {entry.get('error_message', '')}"
             if entry.get("error_type") or entry.get("error_message") else None)
    return _render("notebook_logs.html", step=step, status=status, live=live, error=error,
                   traceback=tail(entry["traceback"]) if entry.get("traceback") else None,
                   logs=[(stream, logs.get(stream, "")) for stream in ("stderr", "stdout")],
                   pending=status == StepStatus.PENDING)


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------


def metrics_html(record: dict[str, Any], order: list[str], selected: str | None, now: float) -> str:
    """The selected step's metrics, a timeline (Gantt) of the run's steps, and peak memory per step."""
    steps = record.get("steps") or {}
    metrics = ((steps.get(selected) or {}).get("metrics") or {}) if selected is not None else {}
    rows = [(label, _metric(key, metrics.get(key))) for key, label in METRIC_LABELS]
    entry = steps.get(selected) or {} if selected is not None else {}
    if entry.get("started_at") and entry.get("finished_at"):  # what its timeline bar spans
        rows.insert(0, ("total (start to end)", format_duration(entry["finished_at"] - entry["started_at"])))
    context: dict[str, Any] = {"selected": selected, "metrics": rows, "timeline": None, "span": "", "peaks": []}
    spans = {s: (e["started_at"], e.get("finished_at") or now) for s in order
             if (e := steps.get(s) or {}).get("started_at") and e.get("status") != StepStatus.PENDING}
    if spans:
        t0 = min(a for a, _ in spans.values())
        width = max(max(b for _, b in spans.values()) - t0, 1e-9)
        context["span"], context["timeline"] = format_duration(width), []
        for step in (s for s in order if s in spans):
            context["timeline"].append(_timeline_bar(step, steps[step], *spans[step], t0, width))
        peaks = {s: float(m) for s in order if (m := ((steps.get(s) or {}).get("metrics") or {}).get("peak_rss"))}
        top = max(peaks.values(), default=0)
        context["peaks"] = [_bar(s, 0, max(100 * v / top, 0.5), "#0072B2", format_bytes(v), "peak resident memory")
                            for s, v in peaks.items()]
    return _render("notebook_metrics.html", **context)


def _timeline_bar(step: str, entry: dict[str, Any], start: float, end: float, t0: float, width: float
                  ) -> dict[str, Any]:
    """A step's bar from its start to its end, its edge checks hatched at the end (they follow the script)."""
    status = entry.get("status", StepStatus.PENDING)
    metrics = entry.get("metrics") or {}
    bar: dict[str, Any] = _bar(step, 100 * (start - t0) / width, max(100 * (end - start) / width, 0.5),
                               BADGE_COLOURS.get(status, MUTED), format_duration(end - start),
                               f"{status}, from +{format_duration(start - t0)}: script "
                               f"{format_duration(metrics.get('duration'))}, edge checks "
                               f"{format_duration(metrics.get('check_time'))}")
    checks = min(float(metrics.get("check_time") or 0.0), end - start)
    if checks > 0:
        bar["checks"] = {"left": f"{100 * (end - checks - t0) / width:.2f}", "width": f"{100 * checks / width:.2f}",
                         "title": f"edge checks {format_duration(checks)}"}
    return bar


def _metric(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in ("duration", "cpu_time", "check_time"):
        return format_duration(float(value))
    if key in ("peak_rss", "input_size", "output_size"):
        return format_bytes(float(value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def _bar(label: str, left: float, size: float, colour: str, text: str, title: str) -> dict[str, str]:
    return {"label": label, "left": f"{left:.2f}", "width": f"{min(size, 100 - left):.2f}", "colour": colour,
            "text": text, "title": title}


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
    inputs = entry.get("inputs") or {n: (spec.source or spec.url or str(spec.path or "")) for n, spec in config.inputs.items()}
    outputs = entry.get("outputs") or {n: "(in the run folder, once it runs)" for n in config.outputs}
    rows = [("script", script), ("mode", entry.get("mode") or config.mode or "main"),
            ("isolation", entry.get("isolation") or config.isolation or "subprocess (default)"),
            ("timeout", _cell(config.timeout)), ("attempts", _cell(entry.get("attempts")))]
    sections = [("env (secret-looking names masked)", env), ("args", args or {}), ("inputs", inputs),
                ("outputs", outputs)]
    return _render("notebook_config.html", edge=None, step=step, status=entry.get("status", StepStatus.PENDING),
                   rows=rows, sections=[(title, _items(values)) for title, values in sections])


def config_edge_html(edge: tuple[str, str], dag: PipelineDAG) -> str:
    """What the pipeline declares for an edge: its suite, tables and what the consumer expects."""
    spec = dag.edge(*edge)
    consumer, _, name = edge[1].partition(".")
    wanted = dag.steps[consumer].inputs.get(name)
    rows: list[tuple[str, Any]] = [("from", edge[0]), ("to", edge[1])]
    if spec is not None:
        rows += [("expectations", _cell(spec.expectations)), ("tables", _cell(spec.tables)),
                 ("on expectation failure", _cell(spec.on_expectation_failure))]
    if wanted is not None:
        rows += [("input format", _cell(wanted.format)),
                 ("input schema", _cell(wanted.schema.to_dict() if wanted.schema else None))]
    return _render("notebook_config.html", edge=edge, step=None, status=None, rows=rows, sections=[])


def _items(values: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, _cell(v)) for k, v in values.items()]
