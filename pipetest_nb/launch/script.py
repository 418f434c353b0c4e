"""Run one step script in the current process and say what happened; every launcher ends up here.

``mode: main`` (the Cursus / SageMaker-processing convention): the script is imported under its own
module name (its file stem, with its folder first on ``sys.path`` and the module registered in
``sys.modules``, so that process pools started by the script can import it again) and
``main(input_paths, output_paths, environ_vars, job_args)`` is called. ``environ_vars`` is also set
in ``os.environ`` for the call; ``job_args`` is an ``argparse.Namespace`` of the step's ``args`` or
``None`` when it has none; ``logger=`` (``print`` writing to the step's stdout log) is passed only
when ``main`` has a parameter named ``logger``.

``mode: cli``: the script runs as a program, exactly as ``python script.py --key value ...`` would
(``__name__ == "__main__"``, ``sys.argv``, its folder first on ``sys.path``). Job arguments become
``--key value``; ``True`` becomes a bare ``--key`` flag, ``False``/``None`` are left out and a list
gives ``--key v1 v2``. The folders are passed in environment variables, with the logical name
upper-cased and every character other than a letter, digit or ``_`` turned into ``_``:

* ``PIPETEST_INPUT_<NAME>``: the folder (or file) of input ``<name>``;
* ``PIPETEST_OUTPUT_<NAME>``: the folder where output ``<name>`` must be written.

The step's ``env`` is set in ``os.environ`` too. In both modes the working directory is the job's
``workdir``, and ``sys.exit(0)`` / ``sys.exit(None)`` count as success.

Everything the call changes in this process (``os.environ``, ``sys.path``, the working directory,
``sys.argv``, the modules imported from the script's folder) is put back afterwards, so that the
in-process launcher leaves the notebook kernel as it found it; a step process, which exits after the
step, skips that (``restore=False``).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import inspect
import os
import re
import runpy
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipetest_nb.launch.base import StepJob
from pipetest_nb.text import safe_str

_LAUNCH_DIR = os.path.dirname(os.path.abspath(__file__))
_RUNPY_FILE = os.path.abspath(runpy.__file__)
_TRACEBACK_LIMIT = 20_000  # characters of traceback kept in a result

#: Import names whose pip package is called something else.
_PIP_NAMES = {
    "sklearn": "scikit-learn", "yaml": "pyyaml", "cv2": "opencv-python", "PIL": "pillow",
    "bs4": "beautifulsoup4", "skimage": "scikit-image", "dateutil": "python-dateutil",
    "Bio": "biopython", "dotenv": "python-dotenv", "jwt": "pyjwt", "attr": "attrs",
}


class StepInterrupted(BaseException):
    """Raised inside an in-process step when ``stop()`` is called (a BaseException, so that a script's
    ``except Exception`` does not swallow it)."""


class StepTimedOut(BaseException):
    """Raised inside an in-process step when its timeout passes."""


class Guard(Protocol):
    """Lets another thread interrupt the script only while the script's own code runs."""

    def arm(self) -> None: ...

    def disarm(self) -> None: ...


@dataclass
class ScriptResult:
    """What the script did, in the terms of ``StepOutcome`` (plain data, except ``exception``)."""

    status: str = "succeeded"
    error_type: str | None = None
    error_message: str | None = None
    exception_type: str | None = None
    traceback: str | None = None
    returncode: int | None = None
    script_time: float = 0.0
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["exception"]
        return out


def env_name(kind: str, name: str) -> str:
    """``PIPETEST_INPUT_<NAME>`` / ``PIPETEST_OUTPUT_<NAME>`` for a logical input or output name."""
    return f"PIPETEST_{kind.upper()}_{re.sub(r'[^0-9A-Za-z_]', '_', name).upper()}"


def cli_arguments(job_args: dict[str, Any] | None) -> list[str]:
    """``--key value`` arguments for a ``mode: cli`` script (see the module docstring)."""
    argv: list[str] = []
    for key, value in (job_args or {}).items():
        flag = f"--{key}"
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            argv += [flag, *(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


@dataclass(frozen=True)
class StepCall:
    """How ``run_step`` calls a step's script, as data, so that ``%pipetest load_step`` writes the same
    call into its cell (module name, paths, env, args, ``logger=``) and the two cannot drift apart."""

    mode: str  # "main" | "cli"
    script: str
    module: str  # mode main: the name the script is imported under (its file stem)
    input_paths: dict[str, str]
    output_paths: dict[str, str]
    environ_vars: dict[str, str]  # main's environ_vars, also set in os.environ
    path_variables: dict[str, tuple[str, str]]  # mode cli: PIPETEST_INPUT_<NAME> -> ("input", name)
    job_args: dict[str, Any] | None
    workdir: str

    @property
    def environ(self) -> dict[str, str]:
        """The variables the step sees in ``os.environ`` on top of the caller's."""
        env = {key: str(value) for key, value in self.environ_vars.items()}
        paths = {"input": self.input_paths, "output": self.output_paths}
        env.update({var: paths[kind][name] for var, (kind, name) in self.path_variables.items()})
        return env

    @property
    def folder(self) -> str:
        """The script's folder, put first on ``sys.path``."""
        return os.path.dirname(os.path.abspath(self.script))

    @property
    def argv(self) -> list[str]:
        """``sys.argv`` of a ``mode: cli`` script."""
        return [self.script, *cli_arguments(self.job_args)]

    @property
    def namespace(self) -> argparse.Namespace | None:
        """``main``'s ``job_args``: a Namespace of the step's args, None when it has none."""
        return argparse.Namespace(**self.job_args) if self.job_args else None


def step_call(job: StepJob) -> StepCall:
    """The call ``run_step`` makes for ``job`` (see the module docstring)."""
    cli = job.mode == "cli"
    variables = {env_name(kind, name): (kind, name) for kind, paths in
                 (("input", job.input_paths), ("output", job.output_paths)) for name in paths} if cli else {}
    return StepCall(mode=job.mode, script=job.script, module=Path(job.script).stem,
                    input_paths=dict(job.input_paths), output_paths=dict(job.output_paths),
                    environ_vars=dict(job.environ_vars), path_variables=variables,
                    job_args=dict(job.job_args) if job.job_args else None, workdir=job.workdir)


def main_keywords(main: Any) -> dict[str, Any]:
    """The keywords ``main`` gets besides its four arguments: ``logger=`` (print, flushed) when it takes one."""
    try:
        accepts = "logger" in inspect.signature(main).parameters
    except (TypeError, ValueError):
        accepts = False
    return {"logger": functools.partial(print, flush=True)} if accepts else {}


def run_step(job: StepJob, guard: Guard | None = None, restore: bool = True) -> ScriptResult:
    """Run ``job``'s script here and now; never raises for anything the script does. ``restore=False``
    in a process that exits after the step: what the step changes is not put back."""
    if not os.path.isfile(job.script):
        return script_not_found(job)
    start = time.perf_counter()
    try:
        with _step_context(job) if restore else _entered(step_call(job)):
            if guard is not None:
                guard.arm()
            try:
                result = _call_script(job)
            finally:
                if guard is not None:
                    guard.disarm()
    except BaseException as exc:  # noqa: BLE001 - classifying the script's failure is the point
        if guard is not None:  # the interrupt may have fired inside disarm() itself
            guard.disarm()
        result = classify_exception(exc, job)
    result.script_time = time.perf_counter() - start
    return result


def script_not_found(job: StepJob) -> ScriptResult:
    return ScriptResult(
        status="failed", error_type="script_not_found",
        error_message=(f"step '{job.step}': script {job.script} does not exist; check 'script' "
                       "(or source_dir + entry_point) in the pipeline file"))


def _call_script(job: StepJob) -> ScriptResult:
    call = step_call(job)
    if call.mode == "cli":
        runpy.run_path(call.script, run_name="__main__")
        return ScriptResult()
    spec = importlib.util.spec_from_file_location(call.module, call.script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[call.module] = module
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if not callable(main):
        return ScriptResult(
            status="failed", error_type="execution_error",
            error_message=(f"{Path(call.script).name} has no main(input_paths, output_paths, environ_vars, "
                           "job_args) function; define one, or set 'mode: cli' to run it as a program"))
    main(dict(call.input_paths), dict(call.output_paths), dict(call.environ_vars), call.namespace,
         **main_keywords(main))
    return ScriptResult()


@contextmanager
def _step_context(job: StepJob) -> Iterator[None]:
    """Set the environment, path, working directory and argv of the step; put them back after."""
    saved_env = dict(os.environ)
    saved_path = list(sys.path)
    saved_argv = list(sys.argv)
    try:
        saved_cwd: str | None = os.getcwd()
    except FileNotFoundError:  # the caller's working directory was deleted
        saved_cwd = None
    call = step_call(job)
    stem = call.module
    saved_module = sys.modules.get(stem)
    modules_before = set(sys.modules)
    script_dir = call.folder
    try:
        with _entered(call):
            yield
    finally:
        if saved_cwd is not None:
            os.chdir(saved_cwd)
        sys.argv = saved_argv
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)
        for name in set(sys.modules) - modules_before:
            if name == stem or _inside(getattr(sys.modules[name], "__file__", None), script_dir):
                del sys.modules[name]
        if saved_module is not None:
            sys.modules[stem] = saved_module


@contextmanager
def _entered(call: StepCall) -> Iterator[None]:
    """The step's environment, path, argv and working directory, set (and left so)."""
    os.environ.update(call.environ)
    sys.path.insert(0, call.folder)
    if call.mode == "cli":
        sys.argv = call.argv
    if call.workdir:
        os.chdir(call.workdir)
    yield


def _inside(path: str | None, folder: str) -> bool:
    return bool(path) and os.path.abspath(path).startswith(folder + os.sep)


def classify_exception(exc: BaseException, job: StepJob) -> ScriptResult:
    """Turn what the script raised into one of the stable error types of ``policy.ERROR_TYPES``."""
    name = Path(job.script).name
    if isinstance(exc, StepTimedOut):
        return ScriptResult("failed", "timeout", f"{name} timed out after {job.timeout:g} s", exception=exc)
    if isinstance(exc, (StepInterrupted, KeyboardInterrupt)):
        return ScriptResult("interrupted", "interrupted", f"{name} was stopped on request", exception=exc)
    if isinstance(exc, SystemExit):
        return _system_exit(exc, name)
    result = ScriptResult("failed", exception_type=type(exc).__name__, traceback=script_traceback(exc),
                          exception=exc)
    where = _where(exc, job.script)
    if isinstance(exc, MemoryError):
        result.error_type = "out_of_memory"
        limit = f" (memory limit {job.memory / 2**20:.0f} MiB)" if job.memory else ""
        result.error_message = f"{name} ran out of memory{limit}: {type(exc).__name__}{where}"
    elif isinstance(exc, ImportError):
        result.error_type = "import_error"
        result.error_message = f"{name}: {import_hint(exc)}{where}"
    else:
        result.error_type = "execution_error"
        text = safe_str(exc)  # a script's exception whose __str__ raises is still its own failure
        result.error_message = f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"
    return result


def _system_exit(exc: SystemExit, name: str) -> ScriptResult:
    code = exc.code
    if code is None or code == 0:
        return ScriptResult()
    if isinstance(code, int):
        return ScriptResult("failed", "exit_code", f"{name} exited with code {code}", returncode=int(code),
                            exception=exc)
    print(code, file=sys.stderr)  # what the interpreter does with sys.exit("message")
    return ScriptResult("failed", "exit_code", f"{name} exited with code 1: {code}", returncode=1,
                        exception=exc)


def import_hint(exc: ImportError) -> str:
    """Name the missing module and what to install."""
    missing = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not missing:
        return f"{type(exc).__name__}: {exc}"
    top = missing.split(".")[0]
    if top != missing and importlib.util.find_spec(top) is not None:
        return (f"module '{missing}' not found, although '{top}' is installed; check the installed "
                f"version of {top}")
    package = _PIP_NAMES.get(top, top)
    return (f"module '{missing}' is not installed: pip install {package} "
            f"(or put {top}.py next to the script if it is a helper module of yours)")


def script_traceback(exc: BaseException) -> str:
    """The traceback without pipetest's own frames (runpy, importlib, this package)."""
    te = traceback.TracebackException.from_exception(exc)
    _drop_our_frames(te)
    text = "".join(te.format())
    if len(text) > _TRACEBACK_LIMIT:
        text = text[:1000] + "\n[... traceback shortened ...]\n" + text[-(_TRACEBACK_LIMIT - 1000):]
    return text


def _drop_our_frames(te: traceback.TracebackException) -> None:
    seen: set[int] = set()
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        kept = [f for f in te.stack if not _ours(f.filename)]
        if kept:
            te.stack = traceback.StackSummary.from_list(kept)
        te = te.__cause__ or te.__context__


def _ours(filename: str) -> bool:
    return (filename.startswith("<frozen importlib") or os.path.abspath(filename) == _RUNPY_FILE
            or os.path.abspath(filename).startswith(_LAUNCH_DIR + os.sep))


def _where(exc: BaseException, script: str) -> str:
    """`` (train.py, line 12, in main)``: the deepest frame of the script itself, if any."""
    script = os.path.abspath(script)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == script]
    if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == script:
        return f" ({Path(script).name}, line {exc.lineno})"
    if not frames:
        return ""
    last = frames[-1]
    return f" ({Path(script).name}, line {last.lineno}, in {last.name})"
