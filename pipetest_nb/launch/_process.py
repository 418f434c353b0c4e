"""What the launchers that run a step in its own process share: pipes, logs, metrics, kill, verdict.

A step process is the leader of its own process group and the subreaper of its tree (``_tree``), so
a timeout or ``stop()`` kills it with everything it started (pools, grandchildren, daemons that
called ``setsid``). Its stdout/stderr come back through pipes into capped logs; a third pipe carries
the child's verdict (a JSON ``ScriptResult``); on a fourth the child waits, before it does any work,
until the engine has recorded its pid and process group (``on_start``), so that no step can run
without a record that lets a later runner kill it. A light thread samples the tree with psutil
(every 50 ms for the first two seconds, then every 250 ms, or 100 ms under a memory limit) and
enforces the deadline and ``memory:``, which bounds the private memory of the whole tree, summed;
the exit status and ``wait4`` resource usage fill in what the samples missed (``_usage``, ``_verdict``).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
import time
from abc import abstractmethod
from pathlib import Path
from typing import Any

from pipetest_nb.launch._logs import LogSink
from pipetest_nb.launch._running import Running, kill_group, kill_seen, kill_tree
from pipetest_nb.launch._usage import Sampler, Usage
from pipetest_nb.launch._verdict import Exit, fill_usage, oom_kills, outcome_from_result, verdict
from pipetest_nb.launch.base import Launcher, OutputCallback, StartCallback, StepJob, StepOutcome
from pipetest_nb.launch.script import script_not_found

from . import _shutdown


class Pump(threading.Thread):
    """Copies the child's pipes into their sinks until every pipe closes (or a grace period ends)."""

    def __init__(self, targets: dict[int, Any]):
        super().__init__(name="pipetest-pump", daemon=True)
        self._targets = targets  # fd -> callable(bytes)
        self._selector = selectors.DefaultSelector()
        for fd in targets:
            os.set_blocking(fd, False)
            self._selector.register(fd, selectors.EVENT_READ)
        self._until: float | None = None

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # finish() closed the pipes under us
            self._copy()

    def _copy(self) -> None:
        open_fds = set(self._targets)
        while open_fds:
            if self._until is not None and time.monotonic() > self._until:
                break
            for key, _ in self._selector.select(timeout=0.1):
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    self._targets[key.fd](data)
                else:
                    self._selector.unregister(key.fd)
                    open_fds.discard(key.fd)

    def finish(self, grace: float = 1.0) -> None:
        """Wait for the pipes to drain; a grandchild that escaped the group may hold them open."""
        self._until = time.monotonic() + grace
        self.join(grace + 1.0)
        self._selector.close()
        for fd in self._targets:
            with contextlib.suppress(OSError):
                os.close(fd)


class ProcessLauncher(Launcher):
    """Runs each step in a process of its own; subclasses say how to start it and wait for it."""

    #: Seconds before a step without a memory limit is first sampled: scanning the process table costs
    #: milliseconds, more than a short step. Only where the step's orphans still have a reaper that
    #: kills them (a pool worker), since a step killed before its first sample leaves none in ``seen``.
    first_sample = 0.0

    def __init__(self) -> None:
        self._running: dict[str, Running] = {}
        self._lock = threading.Lock()
        _shutdown.watch_launcher(self)

    @abstractmethod
    def _start(self, job: StepJob, fds: tuple[int, int, int, int], deadline: float | None) -> Any:
        """Start the step process with stdout, stderr, the result pipe and the start pipe (the
        child's ``run_child`` waits on it) on ``fds``; return a handle with ``pid`` and ``pgid``."""

    @abstractmethod
    def _wait(self, handle: Any) -> Exit:
        """Block until the step process has ended."""

    def launch(self, job: StepJob, on_start: StartCallback | None = None,
               on_output: OutputCallback | None = None) -> StepOutcome:
        return self._launch(job, on_start, on_output)

    def stop(self, step: str) -> bool:
        with self._lock:
            running = self._running.get(step)
        return running is not None and running.kill("interrupted")

    def stop_all(self) -> None:
        """Kill every step this launcher runs (this process is exiting or was told to stop)."""
        with self._lock:
            running = list(self._running.values())
        for step in running:
            step.kill("interrupted")

    def _launch(self, job: StepJob, on_start: StartCallback | None, on_output: OutputCallback | None,
                stop_file: str | None = None) -> StepOutcome:
        started_at = time.time()
        t0 = time.perf_counter()
        Path(job.step_dir).mkdir(parents=True, exist_ok=True)
        out = LogSink(Path(job.step_dir) / "stdout.log", job.log_limit, "stdout", on_output, job.secrets)
        err = LogSink(Path(job.step_dir) / "stderr.log", job.log_limit, "stderr", on_output, job.secrets)
        if not os.path.isfile(job.script):
            out.close()
            err.close()
            return outcome_from_result(script_not_found(job).to_dict(), started_at, time.perf_counter() - t0)
        running = Running(job.step)
        with self._lock:
            self._running[job.step] = running
        if _shutdown.stopping.is_set():  # killed as soon as it exists, before it may run
            running.kill("interrupted")
        ooms = oom_kills()
        result = bytearray()
        pipes = os.pipe(), os.pipe(), os.pipe(), os.pipe()  # stdout, stderr, the verdict, the start signal
        pump = Pump({pipes[0][0]: out.write, pipes[1][0]: err.write, pipes[2][0]: result.extend})
        pump.start()
        handle, end, usage = self._supervise(job, running, pipes, on_start, stop_file, started_at)
        pump.finish()
        out.close()
        err.close()
        with self._lock:
            if self._running.get(job.step) is running:
                del self._running[job.step]
        wall = time.perf_counter() - t0
        outcome = verdict(job, bytes(result), end, running, err, ooms)
        outcome.started_at, outcome.finished_at, outcome.wall_time = started_at, started_at + wall, wall
        outcome.pid, outcome.pgid = handle.pid, handle.pgid
        fill_usage(outcome, usage, end)
        return outcome

    def _supervise(self, job: StepJob, running: Running, pipes: tuple, on_start: StartCallback | None,
                   stop_file: str | None, started_at: float) -> tuple[Any, Exit, Usage]:
        """Start the step process, let it run once its pid is recorded, sample it, wait for it; whatever
        happens, kill what it left behind (its group, and what left the group) before returning."""
        (_, out_w), (_, err_w), (_, res_w), (go_r, go_w) = pipes
        deadline = started_at + job.timeout if job.timeout else None
        sampler: Sampler | None = None
        handle = None
        try:
            try:
                handle = self._start(job, (out_w, err_w, res_w, go_r), deadline)
            finally:
                for fd in (out_w, err_w, res_w, go_r):
                    os.close(fd)
            running.attach(handle.pid, handle.pgid)
            if on_start is not None:
                on_start(handle.pid, handle.pgid)  # recorded before the step does anything
            _release(go_w)
            go_w = None
            deadline = getattr(handle, "deadline", None) or deadline
            sampler = Sampler(handle.pid, running, deadline, stop_file, memory=job.memory,
                              first_sample=0.0 if job.memory else self.first_sample)
            sampler.start()
            end = self._wait(handle)
        except BaseException:
            if handle is not None:
                kill_tree(handle.pid, handle.pgid, running.seen)
                with contextlib.suppress(ChildProcessError):  # reaped already when the interrupt came
                    self._wait(handle)
            raise
        finally:
            if go_w is not None:  # closed unreleased: the child exits without running the script
                os.close(go_w)
            running.finish()
            if handle is not None:
                kill_group(handle.pgid, None)  # whatever the step left behind in its group
                kill_seen(running.seen)  # and what it started that left the group (setsid)
            usage = sampler.stop() if sampler is not None else Usage()
        return handle, end, usage


def _release(go_w: int) -> None:
    """Let the child start the script (it waits for this byte), then close our end of the pipe."""
    try:
        os.write(go_w, b"1")
    except OSError:  # the child is gone already; its exit status tells why
        pass
    finally:
        os.close(go_w)


