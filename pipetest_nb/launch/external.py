"""``external`` steps: nothing runs; the folders the user provides become the step's outputs.

A Cursus SDK step (CradleDataLoading, Registration, ...) has no script of its own: its outputs come
from outside the pipeline. This launcher copies each provided folder (or file) into the step's output
folder, so that the engine's output checks, edge checks and the cache treat it like any step's output,
and writes where each one came from into the step's ``stdout.log``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from pipetest_nb.launch.base import Launcher, OutputCallback, StartCallback, StepJob, StepOutcome


class ExternalLauncher(Launcher):
    """Provides an external step's outputs from ``job.provided``; a missing one fails the step."""

    name = "external"

    def launch(self, job: StepJob, on_start: StartCallback | None = None,
               on_output: OutputCallback | None = None) -> StepOutcome:
        started = time.time()
        lines, missing = [], []
        for name, dest in job.output_paths.items():
            source = job.provided.get(name)
            if not source or not os.path.exists(source):
                missing.append(f"output '{name}' of external step '{job.step}': "
                               + (f"{source} does not exist" if source else "no folder was given"))
                continue
            _copy_into(Path(source), Path(dest))
            lines.append(f"external step: output '{name}' is {source}\n")
        _write_log(job, lines, on_output)
        finished = time.time()
        if missing:
            return StepOutcome(status="failed", error_type="contract_error",
                               error_message="; ".join(missing) + " (give it with --input STEP.OUTPUT=PATH or "
                               "the output's 'path')", started_at=started, finished_at=finished,
                               wall_time=finished - started)
        return StepOutcome(status="succeeded", started_at=started, finished_at=finished,
                           wall_time=finished - started)

    def stop(self, step: str) -> bool:
        return False  # copying a folder is not a process to stop


def _copy_into(source: Path, dest: Path) -> None:
    """A folder's contents, or one file, into the output folder; links are copied as links."""
    dest.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, dest / source.name)


def _write_log(job: StepJob, lines: list[str], on_output: OutputCallback | None) -> None:
    Path(job.step_dir).mkdir(parents=True, exist_ok=True)
    (Path(job.step_dir) / "stdout.log").write_text("".join(lines), encoding="utf-8")
    (Path(job.step_dir) / "stderr.log").write_text("", encoding="utf-8")
    for line in lines:
        if on_output is not None:
            on_output("stdout", line)
