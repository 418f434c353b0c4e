"""``pipetest run`` and ``pipetest resume``: a pipeline (or a slice of it) run with progress and a summary.

SIGTERM and SIGHUP stop the running steps (recorded ``interrupted``), print the summary and exit
128 + the signal's number (143, 129).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipetest_nb.spec.keys import CHECKS_ENGINES, ISOLATIONS
from pipetest_nb.views.cli.printing import load_pipeline, print_run_summary, print_step_event
from pipetest_nb.views.cli.runs import add_run_argument, run_folder


def _finish_run(run: Any, args: argparse.Namespace, steps: list[str] | None = None) -> int:
    """The summary, the run folder and the JSON report if asked; exit 1 if a step of ``steps`` failed."""
    print()
    print_run_summary(run.record)
    print(f"Run folder: {run.run_dir}")
    if getattr(args, "report_json", None):
        from pipetest_nb.json_values import dumps
        from pipetest_nb.views.report.data import report_json

        Path(args.report_json).write_text(dumps(report_json(run.run_dir), indent=2))
        print(f"JSON report: {args.report_json}")
    return 0 if run.result(steps).success else 1


def cmd_run(args: argparse.Namespace) -> int:
    """Run a pipeline (or a slice of it) and print a summary; exit 1 if anything failed."""
    from pipetest_nb.engine.options import RunOptions
    from pipetest_nb.engine.start import run_selected, start_run
    from pipetest_nb.launch._shutdown import exit_on_signals

    dag = load_pipeline(args.pipeline)
    options = RunOptions(workspace=args.workspace, isolation=args.isolation, cache=not args.no_cache,
                         checks=not args.no_checks, checks_engine=args.checks_engine,
                         data_source=args.data_source, jobs=args.jobs,
                         from_steps=args.from_step, to_steps=args.to_step)
    if args.upload:
        from pipetest_nb.remote.runs import check_upload_url

        check_upload_url(args.upload)  # before the run, not after it
        options = options.replace(upload=args.upload)
    run = start_run(dag, options, subscribers=[print_step_event])
    try:
        print(f"Running '{dag.name}' ({len(run.plan.execution_order)} steps) in {run.run_dir}", flush=True)
        with exit_on_signals() as signalled:
            steps = run_selected(run, options)
            code = _finish_run(run, args, steps)
            if args.upload:
                print(f"Uploaded: {args.upload.rstrip('/')}/{run.run_id} (reopen it with "
                      f"Session.open('{args.upload.rstrip('/')}/{run.run_id}'))")
        return 128 + signalled() if signalled() else code
    finally:
        run.close()


def cmd_resume(args: argparse.Namespace) -> int:
    """Reopen a run (also one killed mid-step) and run what is left; SIGTERM and SIGHUP as for ``run``."""
    from pipetest_nb.engine.reopen import reopen_run
    from pipetest_nb.launch._shutdown import exit_on_signals

    options = {"isolation": args.isolation} if args.isolation else {}
    run = reopen_run(run_folder(args.run, args.workspace), subscribers=[print_step_event], **options)
    try:
        retry = [s for s, st in run.statuses.items() if st in ("failed", "blocked")]
        run.reset_steps(retry)
        print(f"Resuming {run.run_dir}", flush=True)
        with exit_on_signals() as signalled:
            run.run(jobs=args.jobs)
            code = _finish_run(run, args)
        return 128 + signalled() if signalled() else code
    finally:
        run.close()


def add_run_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest run`` and ``pipetest resume``."""
    p = sub.add_parser("run", help="run a pipeline and print a summary (exit 1 if a step failed)")
    p.add_argument("pipeline", help="pipeline file (.yaml, .yml or .json)")
    p.add_argument("--from", dest="from_step", metavar="STEP", help="start here (earlier outputs are reused)")
    p.add_argument("--to", dest="to_step", metavar="STEP", help="stop after this step")
    p.add_argument("--jobs", type=int, default=1, help="independent steps to run side by side")
    p.add_argument("--workspace", default="pipetest_workspace", help="where runs and the cache live")
    p.add_argument("--isolation", choices=ISOLATIONS, help="override the file's")
    p.add_argument("--data-source", choices=["files", "synthetic"], default="files",
                   help="synthetic: generate external inputs from their schemas")
    p.add_argument("--no-cache", action="store_true", help="run every step even if its inputs are unchanged")
    p.add_argument("--no-checks", action="store_true", help="skip the edge checks (compatibility and suites)")
    p.add_argument("--checks-engine", choices=CHECKS_ENGINES,
                   help="what evaluates the suites: native where supported (auto), native or gx; overrides the file's")
    p.add_argument("--report-json", metavar="FILE", help="write the run report as JSON (for CI)")
    p.add_argument("--upload", metavar="URL", help="copy the run folder to URL/<run_id>/ after the run "
                   "(s3://bucket/prefix/)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="reopen a run (also one killed mid-step) and run what is left")
    add_run_argument(p)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--isolation", choices=ISOLATIONS)
    p.add_argument("--report-json", metavar="FILE", help="write the run report as JSON (for CI)")
    p.set_defaults(func=cmd_resume)
