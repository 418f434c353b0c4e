"""``pipetest runs``: the runs of a workspace, newest first, unreadable ones listed with the reason."""

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


def add_runs_command(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest runs``."""
    p = sub.add_parser("runs", help="list the runs in a workspace, newest first")
    p.add_argument("--workspace", default="pipetest_workspace")
    p.set_defaults(func=cmd_runs)
