"""What the debugger's lines say: the message line, the status line, the replay label and the runs drop-down.

Kept apart from the widget so the wording lives in one template (``notebook_debugger.html``), where
every value from a run (step names, error text, run ids) is escaped.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import Event, StepStatus
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.views.templating import render

if TYPE_CHECKING:
    from pipetest_nb.records.workspace import Workspace
    from pipetest_nb.session import Session

ERROR = "#D55E00"
OK = "#009E73"


def message(kind: str, ok: bool = True, **values: Any) -> str:
    """The message line for ``kind`` ("loaded", "working", "stopping", "nothing", "new_run", "step", "run")."""
    return render("notebook_debugger.html", part="message", kind=kind, colour=OK if ok else ERROR, **values)


def step_message(result: Any, cause: str | None = None) -> str:
    """What a step's result says: its status, its error if it has one, and the likely cause upstream."""
    return message("step", result.status != StepStatus.FAILED, step=result.step_name, status=result.status,
                   error_type=str(result.error_type), error_message=result.error_message, cause=cause)


def run_message(record: dict[str, Any]) -> str:
    """What a run's record says: its status, and the step whose failure stopped it."""
    status = record.get("status", "?")
    return message("run", status != "failed", status=str(status), root=record.get("root_failure"))


def error_message(label: str, exc: BaseException) -> tuple[str, str]:
    """The message line for an action that failed, and its traceback; a user mistake shows no traceback."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return message("error", False, label=label, text=str(exc),
                   trace=None if isinstance(exc, PipetestError) else trace), trace


def status_line(run_id: str, statuses: dict[str, str], replaying: bool) -> str:
    """The counts of steps by status, the running steps, and whether this is a replay."""
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return render("notebook_debugger.html", part="status", run_id=run_id, replaying=replaying,
                  counts=[f"{n} {s}" for s in StepStatus.ALL if (n := counts.get(s))],
                  running=[s for s, st in statuses.items() if st == StepStatus.RUNNING])


def replay_label(index: int, count: int, event: Event) -> str:
    """Which recorded event the replay shows."""
    what = [str(p) for p in (event.kind, event.step or "", event.data.get("status") or "") if p]
    return render("notebook_debugger.html", part="replay", index=index, count=count, what=what)


def run_options(workspace: Workspace, session: Session | None) -> tuple[list[tuple[str, str]], str]:
    """The runs drop-down: the workspace's runs, newest first, with their status; and the value shown."""
    current = str(session.run_dir) if session is not None else ""
    options = [(f"runs in {workspace.root.name}/ — pick one to open", "")]
    records = workspace.runs()
    if session is not None and session.run_id not in {r.run_id for r in records}:
        options.append((f"{session.run_id} · new, nothing ran yet (shown)", current))  # not on disk yet
    for record in records:  # an unreadable run is listed as "unreadable: why"
        summary = record.summary()
        counts = ", ".join(f"{n} {s}" for s, n in summary["counts"].items())
        run_dir = str(workspace.runs_dir / summary["run_id"])
        mark = " (shown)" if run_dir == current else ""
        options.append((f"{summary['run_id']} · {summary['status']}" + (f" · {counts}" if counts else "") + mark,
                         run_dir))
    return options, current if current in {v for _, v in options} else ""
