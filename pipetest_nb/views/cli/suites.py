"""``pipetest expectations draft``: a starter Great Expectations suite drafted from a run's output or a data file."""

from __future__ import annotations

import argparse
import json


def cmd_expectations_draft(args: argparse.Namespace) -> int:
    """Draft a starter suite from a run's output; print it, or write it with -o."""
    from pipetest_nb.exceptions import PipetestError
    from pipetest_nb.validation.expectations.drafting import draft_from_data, draft_suite, write_suite
    from pipetest_nb.views.cli.runs import run_folder

    if args.data:
        given = [v for v in (args.run, args.target) if v]  # with --from, a lone positional is the suite's name
        if len(given) > 1 or not (args.name or given):
            raise PipetestError("with --from DATA give the suite's name, not a run: pipetest expectations draft "
                                "--from DATA.parquet --name NAME -o expectations/NAME.json")
        suite = draft_from_data(args.data, args.name or given[0], table=args.table)
    elif args.run and args.target:
        suite = draft_suite(run_folder(args.run, args.workspace), args.target, table=args.table, name=args.name)
    else:
        raise PipetestError("say what to draft from: a run and its output (pipetest expectations draft RUN "
                            "STEP.OUTPUT) or a data file (pipetest expectations draft --from DATA.parquet --name NAME)")
    if not args.output_file:
        print(json.dumps(suite, indent=2))
        return 0
    path = write_suite(suite, args.output_file, overwrite=args.force)
    print(f"wrote {path}: {len(suite['expectations'])} expectations drafted from "
          f"{suite['meta']['drafted_from_rows']} rows; edit it before relying on it")
    return 0


def add_expectations_command(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest expectations draft``."""
    p = sub.add_parser("expectations", help="work with Great Expectations suites")
    exp = p.add_subparsers(dest="expectations_command", required=True, metavar="ACTION")
    p = exp.add_parser("draft", help="draft a suite from a run's output (RUN STEP.OUTPUT) or a file (--from)")
    p.add_argument("run", metavar="RUN", nargs="?", help="a run id (as `pipetest runs` lists them) or a run folder")
    p.add_argument("target", metavar="STEP.OUTPUT", nargs="?", help="the output to describe, e.g. load.raw_data")
    p.add_argument("--from", dest="data", metavar="DATA", help="draft from a .parquet or .csv file (or a folder "
                   "of tables) instead of a run")
    p.add_argument("--workspace", default="pipetest_workspace", help="where a run id is looked up")
    p.add_argument("-o", "--output-file", help="write the suite here (e.g. expectations/load.raw_data.json)")
    p.add_argument("--table", help="table name or glob inside the output (default: every table)")
    p.add_argument("--name", help="suite name (default: STEP.OUTPUT)")
    p.add_argument("--force", action="store_true", help="replace an existing suite file")
    p.set_defaults(func=cmd_expectations_draft)
