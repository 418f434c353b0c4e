"""``isolation: inprocess``: run the step in the calling process (the notebook kernel itself).

The fastest way to run a step, and the one that lets a user drop into ``%debug`` after a failure:
the original exception is kept in ``InProcessLauncher.last_exception`` and in ``sys.last_value`` /
``sys.last_traceback``, where ``%debug`` and ``pdb.pm()`` look for it.

What it cannot do, by nature:

* isolate: ``os._exit``, a segfault or a leak hits the kernel; ``sys.exit`` is caught;
* enforce ``memory``;
* stop a blocking call: ``stop()`` and the timeout raise an exception inside the step's thread
  between two Python bytecodes (like Ctrl-C in a notebook), so a step stuck in one long C call
  (``time.sleep(60)``, a big join) stops only when that call returns;
* capture output written straight to file descriptors 1/2 (C extensions, subprocesses): only
  ``sys.stdout`` / ``sys.stderr`` are redirected into the step's logs.

Because ``sys.stdout``, ``os.environ``, the working directory and ``sys.path`` are global, in-process
steps run one at a time (a lock serialises concurrent ``launch`` calls); everything is put back after
each step.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
import time
from pathlib import Path

from ._logs import LogSink, SinkStream, stderr_tail
from ._process import Sampler
from .base import Launcher, OutputCallback, StartCallback, StepJob, StepOutcome
from .script import StepInterrupted, StepTimedOut, run_step


class _Interrupter:
    """Raises an exception in the step's thread, only while the script's own code runs, at most once.

    A request made before the script starts is kept and raised as it starts; one made after it ended
    is ignored. An exception injected just as the script returned is let fire inside ``disarm`` and
    dropped there: clearing it with ``PyThreadState_SetAsyncExc(id, NULL)`` would leave CPython's
    "async exception pending" flag set, slowing every later bytecode of the kernel (and hanging
    ``cProfile``)."""

    def __init__(self, thread_id: int):
        self._thread_id = thread_id
        self._state = "waiting"  # -> "armed" -> "done"
        self._pending: type[BaseException] | None = None
        self._injected = False
        self.delivered = False
        self._lock = threading.Lock()

    def arm(self) -> None:
        with self._lock:
            if self._state == "waiting":
                self._state = "armed"
            if self._pending is not None:
                self._state = "done"
                raise self._pending()

    def disarm(self) -> None:
        with self._lock:
            self._state = "done"
            undelivered = self._injected and not self.delivered
        if undelivered:
            with contextlib.suppress(StepInterrupted, StepTimedOut):
                for _ in range(10_000_000):  # the eval loop raises it at its next check, in here
                    if self.delivered:
                        break

    def fire(self, exc_type: type[StepInterrupted] | type[StepTimedOut]) -> bool:
        with self._lock:
            if self._state == "done" or self._pending is not None:
                return False
            interrupter = self

            class Delivered(exc_type):  # type: ignore[valid-type, misc]
                def __init__(self, *args: object):
                    super().__init__(*args)
                    interrupter.delivered = True

            Delivered.__name__ = Delivered.__qualname__ = exc_type.__name__
            self._pending = Delivered
            if self._state == "armed":
                self._state = "done"
                self._injected = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id),
                                                           ctypes.py_object(Delivered))
            return True


class InProcessLauncher(Launcher):
    """Runs steps in this process, one at a time; see the module docstring for what that gives up."""

    name = "inprocess"

    def __init__(self) -> None:
        self.last_exception: BaseException | None = None
        self._serial = threading.Lock()
        self._current: tuple[str, _Interrupter] | None = None

    def launch(self, job: StepJob, on_start: StartCallback | None = None,
               on_output: OutputCallback | None = None) -> StepOutcome:
        with self._serial:
            return self._run(job, on_start, on_output)

    def stop(self, step: str) -> bool:
        current = self._current
        return current is not None and current[0] == step and current[1].fire(StepInterrupted)

    def _run(self, job: StepJob, on_start: StartCallback | None, on_output: OutputCallback | None) -> StepOutcome:
        started_at = time.time()
        t0 = time.perf_counter()
        Path(job.step_dir).mkdir(parents=True, exist_ok=True)
        out = LogSink(Path(job.step_dir) / "stdout.log", job.log_limit, "stdout", on_output, job.secrets)
        err = LogSink(Path(job.step_dir) / "stderr.log", job.log_limit, "stderr", on_output, job.secrets)
        interrupter = _Interrupter(threading.get_ident())
        timer = threading.Timer(job.timeout, interrupter.fire, (StepTimedOut,)) if job.timeout else None
        sampler = Sampler(os.getpid(), None, None, baseline=True)
        cpu0 = _cpu_seconds()
        self._current = (job.step, interrupter)
        if on_start is not None:
            on_start(os.getpid(), None)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = SinkStream(out, saved[0]), SinkStream(err, saved[1])
        try:
            sampler.start()
            if timer is not None:
                timer.start()
            result = run_step(job, interrupter)
        finally:
            sys.stdout, sys.stderr = saved
            self._current = None
            if timer is not None:
                timer.cancel()
            usage = sampler.stop()
            out.close()
            err.close()
        wall = time.perf_counter() - t0
        outcome = StepOutcome(status=result.status, error_type=result.error_type,
                              error_message=result.error_message, exception_type=result.exception_type,
                              traceback=result.traceback, returncode=result.returncode,
                              started_at=started_at, finished_at=started_at + wall, wall_time=wall,
                              pid=os.getpid(), pgid=None)
        if outcome.error_type == "exit_code":
            outcome.error_message = (outcome.error_message or "") + stderr_tail(err)
        outcome.extra["script_time"] = result.script_time
        _, outcome.read_bytes, outcome.write_bytes = usage.totals()
        outcome.cpu_time = _cpu_seconds() - cpu0
        outcome.peak_rss = usage.peak_rss or None
        if result.exception is not None and outcome.status != "succeeded":
            self.last_exception = exc = result.exception
            sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
        return outcome


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (user + system)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
