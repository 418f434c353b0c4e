"""The ``pipetest`` command line: validate, plan, run, resume and report pipelines, from the shell or CI.

Every command returns an exit code; user mistakes print the tool's own message, never a traceback.
Each command group lives in a module of its own and registers its subcommands here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from pipetest_nb import __version__
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.views.cli.cursus import add_cursus_commands
from pipetest_nb.views.cli.demo import add_demo_command
from pipetest_nb.views.cli.pipeline import add_pipeline_commands
from pipetest_nb.views.cli.report import add_report_command
from pipetest_nb.views.cli.run import add_run_commands
from pipetest_nb.views.cli.runs import add_runs_command
from pipetest_nb.views.cli.sagemaker import add_sagemaker_commands
from pipetest_nb.views.cli.schema import add_schema_command
from pipetest_nb.views.cli.suites import add_expectations_command


def build_parser() -> argparse.ArgumentParser:
    """The ``pipetest`` parser with every command group's subcommands, in the order ``--help`` lists them."""
    parser = argparse.ArgumentParser(prog="pipetest", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pipetest {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (add_pipeline_commands, add_expectations_command, add_run_commands, add_runs_command,
                     add_demo_command, add_report_command, add_cursus_commands, add_sagemaker_commands,
                     add_schema_command):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pipetest`` console script."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        code = func(args)
        sys.stdout.flush()  # a closed pipe (`pipetest runs | head`) shows here, not at interpreter exit
        return code
    except PipetestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader of our output went away: stop quietly, as ``head`` expects, and exit 128 + SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # what is left in stdout's buffer goes nowhere at exit
    os.close(devnull)
    return 141
