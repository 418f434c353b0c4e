"""The report's data: one JSON-ready dict built from a run folder alone (what ``report_json`` returns).

It needs neither the pipeline's scripts nor the engine: run.json, events.jsonl and the step logs are
enough, so the report of an old run, or of a run folder copied out of CI, still builds. The dict is
``PipelineMonitor.generate_report``'s shape of the original plan plus the run's status, root failure,
steps, edge checks and log tails. Secrets: the record and the logs hold none (they are masked as they
are written, see ``masking``); the report masks env and args by name and every text by the shape of
secrets once more (for logs of older runs), and never reads the pipeline file for secret values.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.records.masking import mask_args, mask_env, scrub
from pipetest_nb.records.readers import inside, read_tail_inside
from pipetest_nb.records.record import RunRecord, load_record
from pipetest_nb.records.schema import RunStatus

REPORT_FORMAT = 1
LOG_TAIL_BYTES = 8192
LOG_TAIL_LINES = 60
MAX_FAILURES_SHOWN = 50


def report_json(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The report of a run as plain JSON-ready data (what ``pipetest run --report-json`` writes)."""
    return printable(build_report(load_record(Path(run_dir)), Path(run_dir)))


def build_report(record: RunRecord, run_dir: Path) -> dict[str, Any]:
    """The report dict of a loaded record (strings may still hold undecodable names: see ``printable``)."""
    from pipetest_nb.records.monitor import PipelineMonitor

    data = record.data
    monitor, run_id = PipelineMonitor.from_record(record)
    base = monitor.generate_report(run_id)
    order = list((data.get("plan") or {}).get("execution_order") or record.steps)
    order += [s for s in record.steps if s not in order]
    steps = {name: _step(name, record.steps.get(name, {}), record.shown_step_status(name), run_dir)
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
        root = {**root, "error_message": scrub(root.get("error_message")), "cause": scrub(root.get("cause")),
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
        "edges": [_edge(e) for e in record.edges.values()] + _output_checks(record),
        "options": data.get("options") or {},
        "versions": data.get("versions") or {},
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
    }


def _step(name: str, entry: dict[str, Any], status: str, run_dir: Path) -> dict[str, Any]:
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
        "check_time": metrics.get("check_time"),
        "elapsed": _elapsed(entry),
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


def _elapsed(entry: dict[str, Any]) -> float | None:
    """Start to end of a step (launch, script, edge checks): the length of its timeline bar."""
    started, finished = entry.get("started_at"), entry.get("finished_at")
    return max(finished - started, 0.0) if started and finished else None


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


def _edge(entry: dict[str, Any]) -> dict[str, Any]:
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


def _output_checks(record: RunRecord) -> list[dict[str, Any]]:
    """Suites on outputs that no step reads, as edges without a target."""
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in record.steps.values():
        for check in entry.get("output_checks") or []:
            found.setdefault(check.get("edge"), []).append(check)
    states = (EdgeState.UNCHECKED, EdgeState.PASSED, EdgeState.WARNED, EdgeState.FAILED)
    return [_edge({"source": output, "target": None, "expectations": checks,
                   "state": max((c.get("state") or EdgeState.UNCHECKED for c in checks), key=states.index)})
            for output, checks in found.items()]


def _tail(run_dir: Path, relative: str) -> str:
    """The last lines of a log (bounded), decoded leniently: logs may hold any bytes. Only a regular file
    inside the run folder is read (not a symlink out of it, never a FIFO)."""
    data, size = read_tail_inside(run_dir, relative, LOG_TAIL_BYTES)
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is cut
    return "\n".join(lines[-LOG_TAIL_LINES:])


def printable(value: Any) -> Any:
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
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(v) for v in value]
    return value
