"""``pipetest schema``: the JSON Schema of the pipeline file, for editors and CI checks."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the schema, or write it to ``-o FILE``."""
    from pipetest_nb.spec.schema import json_schema_text

    text = json_schema_text()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def add_schema_command(sub: argparse._SubParsersAction) -> None:
    """Register ``schema`` on the ``pipetest`` subcommands."""
    p = sub.add_parser("schema", help="print the JSON Schema of the pipeline file (for editors)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the schema to FILE instead")
    p.set_defaults(func=cmd_schema)
