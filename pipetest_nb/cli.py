"""The ``pipetest`` command line: validate and plan pipelines (run, replay and report build on these).

Every command returns an exit code; user mistakes print the tool's own message, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .exceptions import PipetestError


def load_pipeline(path: str):
    """Read a pipeline file by its extension; the one place the CLI turns a path into a ``PipelineDAG``."""
    from .dag import PipelineDAG

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
    from .resolver import PipelineDAGResolver

    dag = load_pipeline(args.pipeline)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    from .exceptions import PipelineSpecError
    from .expectations import check_suite_files

    suite_problems = check_suite_files(dag)
    if suite_problems:
        raise PipelineSpecError(suite_problems, source=str(args.pipeline))
    print(f"OK: pipeline '{dag.name}' from {args.pipeline}: {len(plan.execution_order)} steps, "
          f"{len(dag.data_edges())} data edges, {len(plan.generations)} generations")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the execution order, the generations and the data-flow map."""
    from .resolver import PipelineDAGResolver

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


def cmd_expectations_draft(args: argparse.Namespace) -> int:
    """Draft a starter suite from a run's output; print it, or write it with -o."""
    from .expectations import draft_suite, write_suite

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

    from .cursus import add_cursus_commands

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
