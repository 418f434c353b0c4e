"""Preparing a step: where its inputs come from, fresh output folders, and whether it left its inputs alone."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import StepStatus
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.launch.base import StepJob
from pipetest_nb.records.masking import step_secrets
from pipetest_nb.spec.parts import InputSpec, StepConfig

if TYPE_CHECKING:
    from pipetest_nb.engine.context import RunContext


def fetch_remote_inputs(run: RunContext, step: str, config: StepConfig) -> tuple[dict[str, Any], list[str]]:
    """The step's URL inputs fetched into the workspace's cache (``{name: FetchedInput}``), on the bytes
    this run recorded for them if it has run the step before; and the problems (each names its URL)."""
    urls = {name: spec.url for name, spec in config.inputs.items()
            if spec.url and not (run.data_source == "synthetic" and spec.schema is not None)}
    if not urls:
        return {}, []
    from pipetest_nb.remote.errors import RemoteDataError
    from pipetest_nb.remote.inputs import fetch_inputs

    pins = run.writer.record.steps.get(step, {}).get("remote_inputs") or {}
    try:
        return fetch_inputs(urls, run.cache.root / ".remote", pins), []
    except RemoteDataError as exc:
        return {}, [f"remote input of step '{step}': {exc}"]


def prepare_job(run: RunContext, step: str, config: StepConfig,
                remote: dict[str, Path] | None = None) -> tuple[StepJob, list[str]]:
    """The job a launcher runs: input paths (generated, if synthetic; ``remote`` ones fetched), fresh output
    folders; and the problems that keep it from running (missing inputs, no script)."""
    problems: list[str] = []
    inputs = {name: (remote or {}).get(name) or _input_path(run, step, name, spec, problems)
              for name, spec in config.inputs.items()}
    outputs: dict[str, str] = {}
    for name in config.outputs:
        path = run.writer.folder.output_dir(step, name)
        shutil.rmtree(path, ignore_errors=True)  # stale files of an earlier attempt
        path.mkdir(parents=True, exist_ok=True)
        outputs[name] = str(path)
    step_dir = run.writer.folder.step_dir(step)  # made by the launcher when the step writes a log
    script = ""  # an external step runs none: its launcher provides the folders its outputs name
    if not config.external:
        try:
            script = str(config.script)
        except PipetestError as exc:
            problems.append(str(exc))
    job = StepJob(
        step=step, script=script, mode=config.mode or "main",
        input_paths={k: str(v) for k, v in inputs.items() if v is not None},
        output_paths=outputs, environ_vars=dict(config.env), job_args=dict(config.args) or None,
        step_dir=str(step_dir), workdir=str(run.dag.base_dir), timeout=config.timeout, memory=config.memory,
        preload=tuple(run.dag.preload), secrets=step_secrets(config.env, config.args),
        provided={name: str(spec.path) for name, spec in config.outputs.items() if config.external and spec.path})
    return job, problems


def _input_path(run: RunContext, step: str, name: str, spec: InputSpec, problems: list[str]) -> Path | None:
    folder = run.writer.folder
    if spec.source:
        producer, output = spec.producer, spec.output
        if run.status_of(producer) not in StepStatus.DONE_OK:
            problems.append(f"input '{name}' needs output '{spec.source}', but step '{producer}' has not "
                            f"completed ({run.status_of(producer)}); run it first")
            return None
        return folder.output_dir(producer, output)
    if run.data_source == "synthetic":
        from pipetest_nb.validation.synthetic import generate_input, suite_for_input

        suite = suite_for_input(run.dag, step, name)
        if spec.schema is not None or suite is not None:
            dest = folder.input_dir(step, name)
            shutil.rmtree(dest, ignore_errors=True)
            return generate_input(spec, dest, rows=run.synthetic_rows, seed=0, suite=suite, step=step)
    if spec.url:
        return None  # not fetched: the problem that says why is the fetch's
    if spec.path is not None:
        if spec.path.exists():
            return spec.path
        problems.append(f"input '{name}': {spec.path} does not exist; create it, point the pipeline at it"
                        + (", or run with data_source='synthetic'" if spec.schema else
                           ", or declare a schema and run with data_source='synthetic'"))
        return None
    if spec.optional:
        empty = folder.input_dir(step, name)
        empty.mkdir(parents=True, exist_ok=True)
        return empty
    problems.append(f"required input '{name}' has neither a path nor a binding")
    return None


#: Input files up to this size are hashed as well as stat'ed when checking that a step left its inputs alone.
_HASH_SMALL_INPUTS = 64 * 1024


def snapshot_inputs(paths: dict[str, str]) -> dict[str, dict[str, tuple]]:
    """Size, mtime (and a hash for small files, a target for links) of every file of every input.

    Nothing is followed or opened but regular files: a link is noted by its target, a FIFO by its kind.
    """
    import hashlib

    from pipetest_nb.files import open_regular, special_kind
    from pipetest_nb.records.cache import CacheUnavailable

    snapshot: dict[str, dict[str, tuple]] = {}
    for name, path in paths.items():
        files: dict[str, tuple] = {}
        root = Path(path)
        if root.is_dir():
            candidates = [(os.path.relpath(os.path.join(d, f), root), os.path.join(d, f))
                          for d, _dirs, names in os.walk(root) for f in names]
        else:
            candidates = [(root.name, os.path.realpath(root))]
        for rel, file in candidates:
            with contextlib.suppress(OSError, CacheUnavailable):
                st = os.lstat(file) if root.is_dir() else os.stat(file)
                if os.path.islink(file) and root.is_dir():
                    files[rel] = ("link", os.readlink(file))
                elif special_kind(st.st_mode):
                    files[rel] = (special_kind(st.st_mode),)
                else:
                    digest = None
                    if st.st_size <= _HASH_SMALL_INPUTS:
                        with open_regular(file) as fh:
                            digest = hashlib.sha256(fh.read()).hexdigest()
                    files[rel] = (st.st_size, st.st_mtime_ns, digest)
        snapshot[name] = {**files, "": (str(root),)} if root.exists() else {"<missing>": ()}
    return snapshot


def changed_inputs(before: dict[str, dict[str, tuple]], after: dict[str, dict[str, tuple]]) -> list[str]:
    """Warnings for inputs a step modified, deleted or added files to (it should only write its outputs)."""
    from pipetest_nb.files import display_path

    warnings = []
    for name, files in before.items():
        now = after.get(name, {})
        where = f" (input folder: {display_path(files[''][0])})" if "" in files else ""
        if "<missing>" in now and "<missing>" not in files:
            warnings.append(f"the step deleted its input '{name}'")
            continue
        changed = sorted(f for f in files if f and f in now and now[f] != files[f])
        removed = sorted(f for f in files if f and f not in now)
        added = sorted(f for f in now if f and f not in files)
        for verb, names in (("modified", changed), ("deleted", removed), ("added", added)):
            if names:
                shown = ", ".join(map(display_path, names[:5])) + (
                    f" and {len(names) - 5} more" if len(names) > 5 else "")
                warnings.append(f"the step {verb} files in its input '{name}' ({shown}); steps should "
                                f"write only to their own outputs{where}")
    return warnings


def tree_size(path: Path) -> int:
    """Bytes of the regular files of a file or folder (links not followed)."""
    import stat

    total = 0
    if not path.is_dir():
        with contextlib.suppress(OSError):
            total = path.stat().st_size if path.is_file() else 0
        return total
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(root, name))
                total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total
