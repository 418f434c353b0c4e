"""Steps handed to any ``concurrent.futures.Executor``, e.g. a ``dask.distributed`` client's executor.

The executor runs ``run_job`` (a plain top-level function, so it pickles by reference) on one of its
workers, which starts the step in a fresh interpreter there, exactly like ``SubprocessLauncher``: a
crashing step never takes the worker down. Paths in the job must mean the same on the workers as
here (a shared file system); logs are written to the step folder by the worker.

Across machines some things cannot work as on one: ``on_start`` is not called (a pid on another host
means nothing here, and killing it here would hit an unrelated process) and output is not passed
live (read ``stdout.log``/``stderr.log`` afterwards). ``stop()`` cancels a step still queued and, for
a running one, drops a ``stop-<id>.request`` file into its step folder that the worker checks every
few tens of milliseconds (the worker removes it when the step ends; the file of a step cancelled
before it started stays behind).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pipetest_nb.launch.base import Launcher, OutputCallback, StartCallback, StepJob, StepOutcome


def run_job(job: dict[str, Any], launch_id: str) -> StepOutcome:
    """Run one step (given as ``StepJob.to_dict()``) in a fresh subprocess of this worker."""
    from pipetest_nb.launch.fresh import SubprocessLauncher

    step_job = StepJob(**job)
    stop_file = _stop_file(step_job, launch_id)
    try:
        return SubprocessLauncher()._launch(step_job, None, None, stop_file=stop_file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(stop_file)


def _stop_file(job: StepJob, launch_id: str) -> str:
    return str(Path(job.step_dir) / f"stop-{launch_id}.request")


class FuturesLauncher(Launcher):
    """Submits every step to ``executor`` and waits for its ``StepOutcome``."""

    name = "futures"

    def __init__(self, executor: concurrent.futures.Executor):
        self.executor = executor
        self._running: dict[str, tuple[concurrent.futures.Future, str]] = {}
        self._lock = threading.Lock()

    def launch(self, job: StepJob, on_start: StartCallback | None = None,
               on_output: OutputCallback | None = None) -> StepOutcome:
        started_at = time.time()
        t0 = time.perf_counter()
        Path(job.step_dir).mkdir(parents=True, exist_ok=True)
        launch_id = uuid.uuid4().hex  # also keeps result caches (dask's pure=True) from answering
        stop_file = _stop_file(job, launch_id)
        future = self.executor.submit(run_job, job.to_dict(), launch_id)
        with self._lock:
            self._running[job.step] = (future, stop_file)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            # it may have been running after all: the worker ends it on seeing the stop file
            return self._failed(job, started_at, t0, "interrupted", "stopped on request")
        except Exception as exc:  # noqa: BLE001 - the executor or its worker failed, not the step
            return self._failed(job, started_at, t0, "execution_error",
                                f"the executor could not run the step: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                if self._running.get(job.step, (None,))[0] is future:
                    del self._running[job.step]

    def stop(self, step: str) -> bool:
        with self._lock:
            entry = self._running.get(step)
        if entry is None or entry[0].done():
            return False
        future, stop_file = entry
        Path(stop_file).touch()  # first, so a step that is in fact running sees it
        future.cancel()  # a queued step never starts (an executor may also cancel a running one)
        return True

    @staticmethod
    def _failed(job: StepJob, started_at: float, t0: float, error_type: str, message: str) -> StepOutcome:
        wall = time.perf_counter() - t0
        status = "interrupted" if error_type == "interrupted" else "failed"
        return StepOutcome(status=status, error_type=error_type, error_message=f"step '{job.step}': {message}",
                           started_at=started_at, finished_at=started_at + wall, wall_time=wall)
