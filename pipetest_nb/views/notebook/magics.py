"""``%pipetest``: drive the debugger from cells (``%load_ext pipetest_nb``).

    %pipetest load PIPELINE|RUN [--workspace DIR] [--isolation MODE] [--synthetic] [--as NAME]
    %pipetest step [N]
    %pipetest run [--to STEP] [--from STEP] [--jobs N]
    %pipetest load_step STEP     a new cell with the step's paths, env and args and its main(...) call
    %pipetest debug STEP         re-run STEP in this kernel and open the post-mortem debugger on its error

The commands act on the debugger of the last ``%pipetest load``, which is also bound to a name in
the notebook (``dbg`` unless ``--as`` says otherwise), so ``dbg.session`` is at hand.
"""

from __future__ import annotations

import argparse
import pprint
import shlex
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from pipetest_nb.exceptions import PipetestError
from pipetest_nb.records.masking import mask_args, mask_env, pipeline_secrets, scrub


class _HelpShown(Exception):
    """``--help`` printed its text: the command ends there, without an error."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as IPython's UsageError instead of exiting."""

    def error(self, message: str) -> Any:
        raise UsageError(f"%pipetest: {message}\n{self.format_usage()}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if status == 0:
            raise _HelpShown
        raise UsageError(message or f"%pipetest: exit {status}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%pipetest", description="Drive the pipetest debugger from a notebook cell.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    load = sub.add_parser("load", help="load a pipeline file or run folder and show the debugger")
    load.add_argument("pipeline", nargs="+", help="pipeline file, run folder or run id, or Cursus DAG and config")
    load.add_argument("--workspace", help="where runs are kept (default: pipetest_workspace)")
    load.add_argument("--isolation", help="how steps run: subprocess, inprocess, pool")
    load.add_argument("--synthetic", action="store_true", help="generate inputs from their schemas")
    load.add_argument("--as", dest="name", default="dbg", help="name to bind the debugger to (default: dbg)")
    step = sub.add_parser("step", help="run the next N ready steps (default 1)")
    step.add_argument("count", nargs="?", type=int, default=1)
    run = sub.add_parser("run", help="run every step, or up to --to / from --from")
    run.add_argument("--to", dest="until")
    run.add_argument("--from", dest="from_")
    run.add_argument("--jobs", type=int, default=1)
    load_step = sub.add_parser("load_step", help="a new cell that runs STEP by hand, in this kernel")
    load_step.add_argument("step")
    debug = sub.add_parser("debug", help="re-run STEP in this kernel and debug its exception post-mortem")
    debug.add_argument("step")
    return parser


@magics_class
class PipetestMagics(Magics):
    """The ``%pipetest`` line magic; ``debugger`` is the one the commands act on."""

    def __init__(self, shell: Any):
        super().__init__(shell)
        self.debugger: Any = None
        self.parser = build_parser()

    @line_magic
    def pipetest(self, line: str) -> Any:
        """Drive the pipetest debugger; ``%pipetest --help`` lists the commands."""
        try:
            args = self.parser.parse_args(shlex.split(line))
        except _HelpShown:  # argparse printed the help once; nothing else to say
            return None
        try:
            return getattr(self, f"_{args.command}")(args)
        except PipetestError as exc:  # a user mistake: the message says what to do, no traceback
            raise UsageError(str(exc)) from None

    # -- commands ----------------------------------------------------------------------------------

    def _load(self, args: argparse.Namespace) -> None:
        from IPython.display import display

        from pipetest_nb.views.notebook.debugger import Debugger

        options: dict[str, Any] = {}
        if args.workspace:
            options["workspace"] = args.workspace
        if args.isolation:
            options["isolation"] = args.isolation
        if args.synthetic:
            options["data_source"] = "synthetic"
        source = args.pipeline[0] if len(args.pipeline) == 1 else shlex.join(args.pipeline)
        run = Path(args.workspace or "pipetest_workspace") / "runs" / source
        if len(args.pipeline) == 1 and "/" not in source and not Path(source).exists() and run.is_dir():
            source = str(run)  # a run id, as `pipetest runs` lists them
        if self.debugger is not None and self.debugger.busy:
            raise UsageError(f"the debugger is still running {self.debugger.task}; Stop it first")
        self.debugger = Debugger(source, **options)
        self.shell.user_ns[args.name] = self.debugger
        display(self.debugger)
        print(f"{args.name} = the debugger; {args.name}.session is its Session")

    def _step(self, args: argparse.Namespace) -> Any:
        session = self._session()
        result = None
        for _ in range(max(args.count, 1)):
            result = session.step()
            if result is None:
                print("nothing left to run: every step is done or blocked")
                break
            line = f"{result.step_name}: {result.status} ({result.duration:.2f} s)"
            print(line + (f" — {result.error_type}: {result.error_message}" if result.error_message else ""))
            if not result.success:
                break
        return result

    def _run(self, args: argparse.Namespace) -> Any:
        return self._session().run(until=args.until, from_=args.from_, jobs=args.jobs)

    def _load_step(self, args: argparse.Namespace) -> None:
        session = self._session()
        session.take_run_folder()  # the cell writes into this run's folder: it must exist and be this run's
        self.shell.set_next_input(step_code(session, args.step), replace=False)

    def _debug(self, args: argparse.Namespace) -> None:
        session = self._session()
        exc = session.debug_step(args.step)
        if exc is None:
            print(_nothing_raised(session, args.step))
            return
        message = scrub(f"{type(exc).__name__}: {exc}", pipeline_secrets(session.dag))
        print(f"step '{args.step}' raised {message}\nentering the post-mortem debugger "
              "(q to quit, u/d to move, p to print)")
        debugger = self.shell.debugger_cls()
        debugger.reset()
        debugger.interaction(None, exc.__traceback__)

    def _session(self) -> Any:
        if self.debugger is None or self.debugger.session is None:
            raise UsageError("no pipeline loaded: run %pipetest load PIPELINE first")
        if self.debugger.busy:
            raise UsageError(f"the debugger is still running {self.debugger.task}; wait for it or press Stop")
        return self.debugger.session


def _nothing_raised(session: Any, step: str) -> str:
    """Why there is no exception to debug: the step passed, or it failed after its script returned."""
    status = session.status[step]
    if status != "failed":
        return f"step '{step}' did not fail ({status}): nothing to debug"
    entry = session.record.get("steps", {}).get(step, {})
    error_type = entry.get("error_type")
    first = str(entry.get("error_message") or "").splitlines()[:1]
    why = f"{error_type}: {first[0]}" if first else str(error_type)
    if error_type in ("expectation_failed", "data_compatibility_error"):
        return (f"step '{step}' ran without raising, then its output failed the edge checks ({why}); there is "
                "no exception to debug: the debugger's Validation tab shows what failed")
    return f"step '{step}' ran without raising in this kernel, but it failed ({why}); there is no exception to debug"


def step_code(session: Any, step: str) -> str:
    """Python that runs ``step`` by hand in this kernel, with the paths, env and args of the session's run.

    The call is the launcher's own (``launch.script.step_call``): the same module name, ``sys.path``,
    working directory, env, job arguments and ``logger=``. Env and args values that are secrets (by
    name or by shape) are read from the pipeline (or the environment) when the cell runs, so they are
    never written into the notebook. Every value from the pipeline or the run (names, paths,
    descriptions) enters the code only as a ``repr()`` literal, even in comments, so no value can add
    a line of code.
    """
    from pipetest_nb.launch.script import step_call

    call = step_call(_step_job(session, step))
    env, args = call.environ_vars, call.job_args
    masked_env = mask_env(env)
    secrets = sorted(k for k in env if masked_env[k] != env[k])
    secret_args = sorted(k for k, v in (args or {}).items() if mask_args({k: v}) != {k: v})
    lines = [f"# step {step!r} of pipeline {session.dag.name!r} (run {session.run_id!r}), by hand in this kernel:",
             "# edit the values below, then run the cell",
             "import argparse, os, sys, importlib.util, runpy", "",
             f"input_paths = {_literal(call.input_paths)}", f"output_paths = {_literal(call.output_paths)}",
             f"environ_vars = {_literal({k: v for k, v in env.items() if k not in secrets})}"]
    if secret_args:
        # the secrets' places are kept (None until filled in below): the arguments stay in the launcher's order
        lines.append(f"args = {_literal({k: None if k in secret_args else v for k, v in (args or {}).items()})}")
    if secrets or secret_args:
        lines += _secret_lines(session, step, secrets, secret_args, args or {})
    lines += ["job_args = argparse.Namespace(**args)" if secret_args else
              f"job_args = argparse.Namespace(**{_literal(args)})" if args else "job_args = None",
              f"script = {call.script!r}",
              "for folder in output_paths.values():", "    os.makedirs(folder, exist_ok=True)",
              "os.environ.update(environ_vars)",
              "sys.path.insert(0, os.path.dirname(os.path.abspath(script)))",
              "_cwd = os.getcwd()", f"os.chdir({call.workdir!r})  # as the launcher does",
              "try:"]
    lines += _cli_lines(call, bool(secret_args)) if call.mode == "cli" else _main_lines(call)
    lines += ["finally:", "    os.chdir(_cwd)"]
    return "\n".join(lines) + "\n"


def _step_job(session: Any, step: str) -> Any:
    """The job the engine would launch for ``step`` in the session's run (its inputs as recorded, or as bound)."""
    from pipetest_nb.launch.base import StepJob

    session._check(step)
    config = session.plan.step_configs[step]
    entry = session.record.get("steps", {}).get(step, {})
    inputs = dict(entry.get("inputs") or {})
    for name, spec in config.inputs.items():
        if name not in inputs:
            if spec.source:
                inputs[name] = str(session.outputs(spec.producer)[spec.output])
            elif spec.path is not None:
                inputs[name] = str(spec.path)
    outputs = {name: str(path) for name, path in session.outputs(step).items()}
    return StepJob(step=step, script=str(config.script), mode=config.mode or "main", input_paths=inputs,
                   output_paths=outputs, environ_vars={k: str(v) for k, v in config.env.items()},
                   job_args=dict(config.args) or None, step_dir="", workdir=str(session.dag.base_dir))


def _secret_lines(session: Any, step: str, secrets: list[str], secret_args: list[str],
                  args: dict[str, Any]) -> list[str]:
    """Lines that fill in the secret env values and args when the cell runs."""
    lines = ["# secrets are read when the cell runs, never written here"]
    source = getattr(session.dag, "source", None)
    if source:
        lines += ["from pipetest_nb import PipelineDAG",
                  f"_step = PipelineDAG.load({str(source)!r}).resolved({step!r})", "_secrets = _step.env"]
        lines += [f"environ_vars[{k!r}] = str(_secrets[{k!r}])" for k in secrets]
        lines += [f"args[{k!r}] = _step.args[{k!r}]" for k in secret_args]
    else:
        lines += [f"environ_vars[{k!r}] = os.environ[{k!r}]" for k in secrets]
        lines += [f"args[{k!r}] = {mask_args({k: args[k]})[k]!r}  # a secret: fill it in" for k in secret_args]
    return lines


def _cli_lines(call: Any, secret_args: bool) -> list[str]:
    """The body of the cell's ``try:`` for a ``mode: cli`` script: its folders in env, its argv, run as __main__."""
    paths = {"input": "input_paths", "output": "output_paths"}
    lines = ["    os.environ.update({"]
    lines += [f"        {var!r}: {paths[kind]}[{name!r}]," for var, (kind, name) in call.path_variables.items()]
    lines += ["    })"]
    lines += (["    from pipetest_nb.launch.script import cli_arguments",  # secrets: built when the cell runs
               "    sys.argv = [script, *cli_arguments(args)]"] if secret_args else
              [f"    sys.argv = [script, *{call.argv[1:]!r}]"])
    return [*lines, '    runpy.run_path(script, run_name="__main__")']


def _main_lines(call: Any) -> list[str]:
    """The body of the cell's ``try:`` for a ``mode: main`` script: imported under the launcher's module name."""
    return [f"    spec = importlib.util.spec_from_file_location({call.module!r}, script)",
            "    module = importlib.util.module_from_spec(spec)",
            f"    sys.modules[{call.module!r}] = module",
            "    spec.loader.exec_module(module)",
            "    from pipetest_nb.launch.script import main_keywords",
            "    keywords = main_keywords(module.main)  # logger=, as the launcher passes it when main takes one",
            "    if keywords:",
            "        module.main(input_paths, output_paths, environ_vars, job_args, **keywords)",
            "    else:",
            "        module.main(input_paths, output_paths, environ_vars, job_args)"]


def _literal(value: Any) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def load_ipython_extension(shell: Any) -> None:
    """Register ``%pipetest`` with ``shell``."""
    shell.register_magics(PipetestMagics)
