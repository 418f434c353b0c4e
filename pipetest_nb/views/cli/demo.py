"""``pipetest demo``: copy the demo pipeline into the workspace, run it with progress, write its report."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipetest_nb.demo import demo_pipeline
from pipetest_nb.spec.keys import ISOLATIONS
from pipetest_nb.views.cli.printing import load_pipeline, print_run_summary, print_step_event


class _Progress:
    """Prints one line as each step starts and finishes, and every edge check that did not pass."""

    def __init__(self, total: int):
        self.total = total
        self.started = 0

    def __call__(self, event) -> None:
        from pipetest_nb.events import EdgeState, EventKind

        if event.kind == EventKind.STEP_STARTED:
            self.started += 1
            print(f"[{self.started}/{self.total}] {event.step} ...", flush=True)
        elif event.kind == EventKind.EDGE_CHECKED and event.data.get("state") in (EdgeState.WARNED,
                                                                                   EdgeState.FAILED):
            source, target = event.data.get("edge") or ("?", "?")
            suites = [c for c in event.data.get("expectations") or [] if not c.get("success")]
            columns = sorted({str(f.get("column")) for c in suites for f in c.get("failures") or [] if f.get("column")})
            what = f"; columns: {', '.join(columns)}" if columns else ""
            print(f"  ! edge {source} -> {target}: {event.data['state']}"
                  + (f" (suite {', '.join(c.get('suite', '?') for c in suites)}{what})" if suites else ""), flush=True)
        else:
            print_step_event(event)


def cmd_demo(args: argparse.Namespace) -> int:
    """Copy the demo into the workspace, run it end to end, write the HTML report; exit 1 if a step failed."""
    from pipetest_nb.engine.options import RunOptions
    from pipetest_nb.engine.start import start_run
    from pipetest_nb.views.report.html import write_html_report

    workspace = Path(args.workspace)
    pipeline = demo_pipeline(workspace, broken=args.broken, reset=args.reset)
    dag = load_pipeline(str(pipeline))
    progress = _Progress(len(dag.steps))
    run = start_run(dag, RunOptions(workspace=workspace, isolation=args.isolation, cache=not args.no_cache),
                    subscribers=[progress])
    try:
        print(f"Demo pipeline: {pipeline}" + (" (the broken variant)" if args.broken else ""))
        print(f"Running '{dag.name}' ({len(run.plan.execution_order)} steps) in {run.run_dir}", flush=True)
        run.run()
    finally:
        run.close()
    record = run.record
    print()
    print_run_summary(record)
    report = write_html_report(run.run_dir, Path(args.report) if args.report else None)
    print(f"Run folder: {run.run_dir}")
    print(f"Report:     {report}")
    if args.broken:
        print("\nThis run was meant to fail: see the root failure at the top of the report, then compare the "
              "edges out of missing_value_imputation with a green run (session.diff).")
    if args.open:
        import webbrowser

        webbrowser.open(report.absolute().as_uri())
    return 0 if record.get("status") == "succeeded" else 1


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest demo``."""
    p = sub.add_parser("demo", help="copy the demo pipeline into the workspace, run it, write its report")
    p.add_argument("--broken", action="store_true", help="run the variant with a planted bug (exits 1)")
    p.add_argument("--workspace", default="pipetest_workspace",
                   help="where the demo is copied (<workspace>/demo), and where runs and the cache live")
    p.add_argument("--isolation", choices=ISOLATIONS, help="override the pipeline's")
    p.add_argument("--report", metavar="FILE", help="where to write the HTML report (default: in the run folder)")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.add_argument("--reset", action="store_true", help="restore the demo's files in the workspace to the originals")
    p.add_argument("--no-cache", action="store_true", help="run every step even if its inputs are unchanged")
    p.set_defaults(func=cmd_demo)
