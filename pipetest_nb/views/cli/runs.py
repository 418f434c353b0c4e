"""``pipetest runs``: the runs of a workspace, newest first, unreadable ones listed with the reason.

``run_folder`` is how every command that opens a run reads its argument: the run id ``runs``
prints, or a run folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipetest_nb.views.cli.printing import format_table


def cmd_runs(args: argparse.Namespace) -> int:
    """The runs in a workspace, newest first."""
    import datetime as dt

    from pipetest_nb.records.workspace import Workspace

    rows = []
    for record in Workspace(Path(args.workspace)).runs():
        summary = record.summary()
        if record.problem is not None:  # listed with the reason, never hiding the others
            rows.append((summary["run_id"], "-", summary["status"], "-", "", ""))
            continue
        started = summary["started_at"]
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items()))
        root = summary["root_failure"] or {}
        rows.append((summary["run_id"], summary["pipeline"], summary["status"],
                     dt.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M:%S") if started else "-",
                     counts, f"{root.get('step')}: {root.get('error_type')}" if root else ""))
    if not rows:
        print(f"No runs in {args.workspace}")
        return 0
    print(format_table(["run", "pipeline", "status", "started", "steps", "root failure"], rows))
    return 0


def run_folder(value: str, workspace: str) -> Path:
    """The run folder that ``value`` names: a run folder itself, or a run id of ``workspace``."""
    from pipetest_nb.exceptions import PipetestError
    from pipetest_nb.text import did_you_mean

    given = Path(value)
    if (given / "run.json").exists() or (given / "events.jsonl").exists():
        return given
    by_id = Path(workspace) / "runs" / value
    if "/" not in value and by_id.is_dir():
        return by_id
    if given.is_dir():  # a folder of another shape: the command says what it lacks
        return given
    runs_dir = Path(workspace) / "runs"
    ids = sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    hint = did_you_mean(value, ids, cutoff=0.5) if ids else None
    raise PipetestError(f"'{value}' is neither a run folder nor the id of a run in {runs_dir}"
                        + (f" ({hint})" if hint else "") + f"; `pipetest runs --workspace {workspace}` lists them")


def add_run_argument(p: argparse.ArgumentParser) -> None:
    """The RUN argument (run id or run folder) and the ``--workspace`` a run id is looked up in."""
    p.add_argument("run", metavar="RUN", help="a run id (as `pipetest runs` lists them) or a run folder")
    p.add_argument("--workspace", default="pipetest_workspace", help="where a run id is looked up")


def add_runs_command(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest runs``."""
    p = sub.add_parser("runs", help="list the runs in a workspace, newest first")
    p.add_argument("--workspace", default="pipetest_workspace")
    p.set_defaults(func=cmd_runs)
