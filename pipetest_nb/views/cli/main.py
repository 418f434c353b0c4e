"""The ``pipetest`` command line: validate and plan pipelines (run, replay and report build on these).

Every command returns an exit code; user mistakes print the tool's own message, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipetest_nb.exceptions import PipetestError


def load_pipeline(path: str):
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


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a pipeline file: every problem is listed; exit 1 if there is any."""
    from pipetest_nb.plan import PipelineDAGResolver

    dag = load_pipeline(args.pipeline)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    from pipetest_nb.exceptions import PipelineSpecError
    from pipetest_nb.validation.expectations.suites import check_suite_files

    suite_problems = check_suite_files(dag)
    if suite_problems:
        raise PipelineSpecError(suite_problems, source=str(args.pipeline))
    print(f"OK: pipeline '{dag.name}' from {args.pipeline}: {len(plan.execution_order)} steps, "
          f"{len(dag.data_edges())} data edges, {len(plan.generations)} generations")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the execution order, the generations and the data-flow map."""
    from pipetest_nb.plan import PipelineDAGResolver

    dag = load_pipeline(args.pipeline)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    if args.json:
        print(json.dumps({"pipeline": dag.name, **plan.to_dict()}, indent=2))
        return 0
    generation_of = {step: i for i, gen in enumerate(plan.generations) for step in gen}
    rows = []
    for i, step in enumerate(plan.execution_order, 1):
        flow = ", ".join(f"{inp} <- {src}" for inp, src in plan.data_flow_map[step].items())
        rows.append((i, step, generation_of[step], ", ".join(plan.dependencies[step]) or "-", flow or "-"))
    print(f"Pipeline '{dag.name}': {len(plan.execution_order)} steps in {len(plan.generations)} generations\n")
    print(format_table(["#", "step", "generation", "after", "inputs <- producer:output"], rows))
    print("\nGenerations (steps in one generation can run side by side):")
    for i, gen in enumerate(plan.generations):
        print(f"  {i}: {', '.join(gen)}")
    return 0


def _human_bytes(n: float | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def print_run_summary(record: dict) -> None:
    """The end-of-run table: one row per step, then the root failure first and what it kept from running."""
    rows = []
    for name, step in record.get("steps", {}).items():
        metrics = step.get("metrics") or {}
        duration = metrics.get("duration")
        error = step.get("error_type") or ""
        rows.append((name, step.get("status", "pending"), f"{duration:.2f}s" if duration else "-",
                     _human_bytes(metrics.get("peak_rss")), error))
    print(format_table(["step", "status", "duration", "peak memory", "error"], rows))
    root = record.get("root_failure")
    if root:
        print(f"\nRoot failure: step '{root['step']}' ({root.get('error_type')}):")
        for line in str(root.get("error_message") or "").splitlines()[:40]:
            print(f"  {line}")
        if record.get("not_run"):
            print(f"Not run because of it: {', '.join(record['not_run'])}")
        if record.get("other_failures"):
            print(f"Other failed steps: {', '.join(record['other_failures'])}")
    duration = record.get("duration") or 0.0
    print(f"\nRun {record.get('run_id')}: {record.get('status')} in {duration:.2f}s")


def _print_step_event(event) -> None:
    from pipetest_nb.events import EventKind

    if event.kind == EventKind.STEP_FINISHED:
        duration = (event.data.get("metrics") or {}).get("duration")
        extra = f" ({event.data['error_type']})" if event.data.get("error_type") else ""
        print(f"  {event.data.get('status', ''):<11} {event.step}" + (f"  {duration:.2f}s" if duration else "")
              + extra, flush=True)
    elif event.kind == EventKind.STEP_STATUS and event.data.get("status") == "blocked":
        print(f"  {'blocked':<11} {event.step}  (needs {event.data.get('blocked_by')})", flush=True)


def _finish_run(run, args: argparse.Namespace, steps: list[str] | None = None) -> int:
    record = run.record
    print()
    print_run_summary(record)
    print(f"Run folder: {run.run_dir}")
    if getattr(args, "report_json", None):
        from pipetest_nb.json_values import dumps
        from pipetest_nb.views.report.render import report_json

        Path(args.report_json).write_text(dumps(report_json(run.run_dir), indent=2))
        print(f"JSON report: {args.report_json}")
    return 0 if run.result(steps).success else 1


def cmd_run(args: argparse.Namespace) -> int:
    """Run a pipeline (or a slice of it) and print a summary; exit 1 if anything failed.

    SIGTERM and SIGHUP stop the running steps (recorded ``interrupted``), print the summary and exit
    128 + the signal's number (143, 129)."""
    from pipetest_nb.engine.run import PipelineRun, reuse_upstream
    from pipetest_nb.launch._shutdown import exit_on_signals

    dag = load_pipeline(args.pipeline)
    run = PipelineRun(dag, args.workspace, isolation=args.isolation, cache=not args.no_cache,
                      checks=not args.no_checks, data_source=args.data_source)
    try:
        run.bus.subscribe(_print_step_event)
        print(f"Running '{dag.name}' ({len(run.plan.execution_order)} steps) in {run.run_dir}", flush=True)
        steps = None
        if args.from_step or args.to_step:
            steps = run.plan.subset(from_steps=args.from_step, to_steps=args.to_step).execution_order
            reuse_upstream(run, steps)
        with exit_on_signals() as signalled:
            run.run(steps, jobs=args.jobs)
            code = _finish_run(run, args, steps)
        return 128 + signalled() if signalled() else code
    finally:
        run.close()


def cmd_resume(args: argparse.Namespace) -> int:
    """Reopen a run (also one killed mid-step) and run what is left; SIGTERM and SIGHUP as for ``run``."""
    from pipetest_nb.engine.run import PipelineRun
    from pipetest_nb.launch._shutdown import exit_on_signals

    run = PipelineRun.reopen(args.run_dir, **({"isolation": args.isolation} if args.isolation else {}))
    try:
        run.bus.subscribe(_print_step_event)
        retry = [s for s, st in run.statuses.items() if st in ("failed", "blocked")]
        run.reset_steps(retry)
        print(f"Resuming {run.run_dir}", flush=True)
        with exit_on_signals() as signalled:
            run.run(jobs=args.jobs)
            code = _finish_run(run, args)
        return 128 + signalled() if signalled() else code
    finally:
        run.close()


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


def cmd_expectations_draft(args: argparse.Namespace) -> int:
    """Draft a starter suite from a run's output; print it, or write it with -o."""
    from pipetest_nb.validation.expectations.drafting import draft_suite, write_suite

    suite = draft_suite(args.run_dir, args.target, table=args.table, name=args.name)
    if not args.output_file:
        print(json.dumps(suite, indent=2))
        return 0
    path = write_suite(suite, args.output_file, overwrite=args.force)
    print(f"wrote {path}: {len(suite['expectations'])} expectations drafted from "
          f"{suite['meta']['drafted_from_rows']} rows; edit it before relying on it")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipetest", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a pipeline file and list every problem")
    p.add_argument("pipeline", help="pipeline file (.yaml, .yml or .json)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="show the execution order, generations and data flow")
    p.add_argument("pipeline", help="pipeline file (.yaml, .yml or .json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("expectations", help="work with Great Expectations suites")
    exp = p.add_subparsers(dest="expectations_command", required=True, metavar="ACTION")
    p = exp.add_parser("draft", help="draft a suite from a run's output (STEP.OUTPUT)")
    p.add_argument("run_dir", help="run folder (<workspace>/runs/<run_id>)")
    p.add_argument("target", metavar="STEP.OUTPUT", help="the output to describe, e.g. load.raw_data")
    p.add_argument("-o", "--output-file", help="write the suite here (e.g. expectations/load.raw_data.json)")
    p.add_argument("--table", help="table name or glob inside the output (default: every table)")
    p.add_argument("--name", help="suite name (default: STEP.OUTPUT)")
    p.add_argument("--force", action="store_true", help="replace an existing suite file")
    p.set_defaults(func=cmd_expectations_draft)

    p = sub.add_parser("run", help="run a pipeline and print a summary (exit 1 if a step failed)")
    p.add_argument("pipeline", help="pipeline file (.yaml, .yml or .json)")
    p.add_argument("--from", dest="from_step", metavar="STEP", help="start here (earlier outputs are reused)")
    p.add_argument("--to", dest="to_step", metavar="STEP", help="stop after this step")
    p.add_argument("--jobs", type=int, default=1, help="independent steps to run side by side")
    p.add_argument("--workspace", default="pipetest_workspace", help="where runs and the cache live")
    p.add_argument("--isolation", choices=["subprocess", "inprocess", "pool"], help="override the file's")
    p.add_argument("--data-source", choices=["files", "synthetic"], default="files",
                   help="synthetic: generate external inputs from their schemas")
    p.add_argument("--no-cache", action="store_true", help="run every step even if its inputs are unchanged")
    p.add_argument("--no-checks", action="store_true", help="skip the edge checks (compatibility and suites)")
    p.add_argument("--report-json", metavar="FILE", help="write the run report as JSON (for CI)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="reopen a run (also one killed mid-step) and run what is left")
    p.add_argument("run_dir", help="a folder under <workspace>/runs/")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--isolation", choices=["subprocess", "inprocess", "pool"])
    p.add_argument("--report-json", metavar="FILE", help="write the run report as JSON (for CI)")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("runs", help="list the runs in a workspace, newest first")
    p.add_argument("--workspace", default="pipetest_workspace")
    p.set_defaults(func=cmd_runs)

    from pipetest_nb.views.cli.demo import add_demo_arguments
    from pipetest_nb.views.report.render import add_report_arguments

    add_demo_arguments(sub.add_parser("demo", help="copy the demo pipeline into the workspace, run it, write its report"))
    add_report_arguments(sub.add_parser("report", help="write the HTML report of a run (and its JSON form)"))

    from pipetest_nb.views.cli.cursus import add_cursus_commands

    add_cursus_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pipetest`` console script."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except PipetestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
