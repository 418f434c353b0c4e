"""What every ``pipetest`` command prints the same way: tables, a run's progress and its end-of-run summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipetest_nb.text import format_bytes, format_duration


def load_pipeline(path: str) -> Any:
    """Read a pipeline file by its extension; the one place the CLI turns a path into a ``PipelineDAG``."""
    from pipetest_nb.spec.model import PipelineDAG

    return PipelineDAG.load(Path(path))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table with columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_run_summary(record: dict) -> None:
    """The end-of-run table: one row per step, then the root failure first and what it kept from running."""
    rows = []
    for name, step in record.get("steps", {}).items():
        metrics = step.get("metrics") or {}
        rows.append((name, step.get("status", "pending"), format_duration(step_elapsed(step)),
                     format_duration(metrics.get("duration")), format_duration(metrics.get("check_time")),
                     format_bytes(metrics.get("peak_rss")), step.get("error_type") or ""))
    print(format_table(["step", "status", "total", "script", "edge checks", "peak memory", "error"], rows))
    print_warnings(record)
    print_worker_starts(record)
    root = record.get("root_failure")
    if root:
        print(f"\nRoot failure: step '{root['step']}' ({root.get('error_type')}):")
        for line in str(root.get("error_message") or "").splitlines()[:40]:
            print(f"  {line}")
        if root.get("cause"):
            print(f"Likely cause: {root['cause']}")
        if record.get("not_run"):
            print(f"Not run because of it: {', '.join(record['not_run'])}")
        if record.get("other_failures"):
            print(f"Other failed steps: {', '.join(record['other_failures'])}")
    print(f"\nRun {record.get('run_id')}: {record.get('status')} in {format_duration(record.get('duration') or 0.0)}")


def step_elapsed(step: dict) -> float | None:
    """A step's time from start to end (launch, script and edge checks), as the timeline draws it."""
    started, finished = step.get("started_at"), step.get("finished_at")
    return max(finished - started, 0.0) if started and finished else None


def print_warnings(record: dict) -> None:
    """Every warning the run recorded, by step (each shown in full, as recorded)."""
    warned = [(name, str(w)) for name, step in record.get("steps", {}).items() for w in step.get("warnings") or []]
    if not warned:
        return
    print(f"\nWarnings ({len(warned)}):")
    for name, text in warned:
        lines = text.splitlines() or [""]
        print(f"  {name}: {lines[0]}")
        for line in lines[1:]:
            print(f"    {line}")


def print_worker_starts(record: dict) -> None:
    """The warm workers started before the steps (not part of any step's time), and imports that failed."""
    for start in record.get("worker_starts") or []:
        modules = ", ".join(start.get("preloaded") or []) or "no modules of the pipeline's"
        print(f"\nPool workers started before the steps: {start.get('workers')} in "
              f"{format_duration(start.get('seconds'))} (preloaded {modules})")
        for name, why in (start.get("failed") or {}).items():
            print(f"  could not preload {name}: {why}")


def print_step_event(event: Any) -> None:
    """A run's progress: one line as each step finishes or is blocked (a bus subscriber)."""
    from pipetest_nb.events import EventKind

    if event.kind == EventKind.STEP_FINISHED:
        metrics = event.data.get("metrics") or {}
        duration, checks = metrics.get("duration"), metrics.get("check_time")
        extra = f" ({event.data['error_type']})" if event.data.get("error_type") else ""
        print(f"  {event.data.get('status', ''):<11} {event.step}"
              + (f"  {format_duration(duration)}" if duration else "")
              + (f" + edge checks {format_duration(checks)}" if checks and checks >= 0.01 else "") + extra, flush=True)
    elif event.kind == EventKind.STEP_STATUS and event.data.get("status") == "blocked":
        print(f"  {'blocked':<11} {event.step}  (needs {event.data.get('blocked_by')})", flush=True)
