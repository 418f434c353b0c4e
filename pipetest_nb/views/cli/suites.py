"""``pipetest expectations draft``: a starter Great Expectations suite drafted from a run's output."""

from __future__ import annotations

import argparse
import json


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


def add_expectations_command(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest expectations draft``."""
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
