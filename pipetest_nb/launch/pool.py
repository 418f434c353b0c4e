"""``isolation: pool``: warm workers that fork a fresh child per step, so isolation costs milliseconds.

Each worker is a long-lived interpreter that has already imported numpy, pandas, pyarrow and the
modules listed under ``preload:`` (the launcher's own list plus each job's ``preload``). For every
step it forks a child that leads its own process group, so the child starts with the libraries
loaded and still cannot hurt the notebook or the worker: logs, timeout, kill, memory limit, metrics
and failure types are those of ``SubprocessLauncher``. Workers start on first use, are reused, are
replaced when one dies, and stop on ``close()`` or when the interpreter exits.

Children are forked, so they inherit the worker's state at the time of the fork (including the
libraries' import-time settings) rather than the notebook's; the notebook's current ``os.environ``
is sent with every step.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from pipetest_nb.exceptions import LaunchError
from pipetest_nb.launch._child import PACKAGE_ROOT
from pipetest_nb.launch._process import ProcessLauncher
from pipetest_nb.launch._verdict import Exit
from pipetest_nb.launch._worker import BOOTSTRAP, receive, send
from pipetest_nb.launch.base import StepJob


class _Worker:
    """One warm worker process and the socket to it."""

    def __init__(self, python: str, preload: tuple[str, ...]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [python, "-c", BOOTSTRAP, PACKAGE_ROOT, str(theirs.fileno()), *preload],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            theirs.close()
        self.sock = ours
        try:
            ready, _ = receive(ours)
        except OSError:
            ready = None
        if ready is None:
            self.close()
            raise LaunchError(f"a pool worker ({python}) exited while starting, with code "
                              f"{self.proc.returncode}; its error is on the notebook's stderr. Use "
                              "isolation 'subprocess' meanwhile")

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class _Handle:
    worker: _Worker
    pid: int
    pgid: int
    exit: Exit | None = None  # once waited for: the worker may already be running another step
    deadline: float | None = None  # the step's timeout counts from its fork, not from a worker's start-up


class PoolLauncher(ProcessLauncher):
    """Up to ``workers`` warm workers (default: the number of CPUs, at most 4); ``preload`` adds
    modules every worker imports before its first fork."""

    name = "pool"

    def __init__(self, workers: int | None = None, preload: Iterable[str] = (), python: str | None = None):
        super().__init__()
        self.max_workers = workers or min(4, os.cpu_count() or 1)
        self.preload = tuple(preload)
        self.python = python or sys.executable
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()
        _LIVE.add(self)

    @property
    def workers(self) -> int:
        """How many workers exist now (busy or idle)."""
        return self._count

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise LaunchError("this pool launcher was closed; create a new one to run more steps")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.max_workers:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            return _Worker(self.python, self.preload)
        except BaseException:
            self._release(None)
            raise

    def _release(self, worker: _Worker | None, alive: bool = False) -> None:
        with self._cond:
            if worker is not None and alive and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._cond.notify()
        if worker is not None and not (alive and not self._closed):
            worker.close()

    def _start(self, job: StepJob, fds: tuple[int, int, int, int], deadline: float | None) -> _Handle:
        message = {"job": job.to_dict(), "deadline": deadline, "env": dict(os.environ)}
        for _attempt in range(2):  # an idle worker may have died since its last step
            worker = self._acquire()
            if job.timeout:  # a worker that had to start first does not eat into the step's time
                message["deadline"] = time.time() + job.timeout
            try:
                send(worker.sock, message, list(fds))
                reply, _ = receive(worker.sock)
            except OSError:
                reply = None
            if reply is not None:
                return _Handle(worker, reply["pid"], reply["pid"], deadline=message["deadline"])
            self._release(worker)
        raise LaunchError(f"step '{job.step}': pool workers keep dying before the step starts; "
                          "run it with isolation 'subprocess' to see why")

    def _wait(self, handle: _Handle) -> Exit:
        if handle.exit is not None:
            return handle.exit
        try:
            reply, _ = receive(handle.worker.sock)
        except OSError:
            reply = None
        if reply is None:
            handle.exit = Exit(None, note="its pool worker died while it ran")
            self._release(handle.worker)
        else:
            handle.exit = Exit(reply["status"], reply["cpu"], reply["maxrss"])
            self._release(handle.worker, alive=True)
        return handle.exit

    def close(self) -> None:
        """Kill running steps and stop every worker."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        with self._lock:
            running = list(self._running.values())
        for step in running:
            step.kill("interrupted")
        for worker in idle:
            worker.close()


_LIVE: weakref.WeakSet[PoolLauncher] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for launcher in list(_LIVE):
        launcher.close()
