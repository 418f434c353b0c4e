"""``pipetest report``: the HTML report of a run folder, and its JSON form for CI."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipetest_nb.views.cli.runs import add_run_argument, run_folder


def cmd_report(args: argparse.Namespace) -> int:
    """``pipetest report RUN [-o report.html] [--json out.json]``."""
    from pipetest_nb.json_values import dumps
    from pipetest_nb.views.report.data import report_json
    from pipetest_nb.views.report.html import write_html_report

    run_dir = run_folder(args.run, args.workspace)
    path = write_html_report(run_dir, args.output)
    print(f"HTML report: {path}")
    if args.json:
        Path(args.json).write_text(dumps(report_json(run_dir), indent=2))
        print(f"JSON report: {args.json}")
    return 0


def add_report_command(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest report``."""
    p = sub.add_parser("report", help="write the HTML report of a run (and its JSON form)")
    add_run_argument(p)
    p.add_argument("-o", "--output", metavar="FILE", help="the HTML file (default: report.html in the run folder)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON (for CI)")
    p.set_defaults(func=cmd_report)
