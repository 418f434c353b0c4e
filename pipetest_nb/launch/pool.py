"""``isolation: pool``: warm workers that fork a fresh child per step, so isolation costs milliseconds.

Each worker is a long-lived interpreter that has already imported numpy, pandas, pyarrow, the
modules listed under ``preload:`` (the launcher's own list plus each job's ``preload``) and the
modules ``warm`` was given (the engine gives the third-party modules the pipeline's scripts import
at module level). For every step it forks a child that leads its own process group, so the child
starts with the libraries loaded and still cannot hurt the notebook or the worker: logs, timeout,
kill, memory limit, metrics and failure types are those of ``SubprocessLauncher``. Workers start
on ``warm`` or on first use, are reused, are replaced when one dies, and stop on ``close()`` or
when the interpreter exits. A module whose import fails in a worker is left out and named once,
by the ``warm`` call that found it; steps that import it then fail (or succeed) on their own.

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
from dataclasses import asdict, dataclass
from typing import Any

from pipetest_nb.exceptions import LaunchError
from pipetest_nb.launch._child import PACKAGE_ROOT
from pipetest_nb.launch._process import ProcessLauncher
from pipetest_nb.launch._verdict import Exit
from pipetest_nb.launch._wire import receive, send
from pipetest_nb.launch._worker import BOOTSTRAP
from pipetest_nb.launch.base import StepJob


@dataclass
class WorkersStarted:
    """What ``PoolLauncher.warm`` did: the figures of the engine's ``workers_started`` event."""

    seconds: float
    workers: int  # workers started (or given more modules)
    preloaded: list[str]  # the modules given to ``warm`` that the workers imported
    failed: dict[str, str]  # module -> why its import failed, each named once per launcher

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        self.failed: dict[str, str] = dict(ready.get("failed") or {})
        self.tried = set(preload)  # imported, or failed to

    def preload(self, modules: tuple[str, ...]) -> dict[str, str]:
        """Import the modules it has not tried yet; those that failed, with why (OSError: it died)."""
        missing = [m for m in modules if m not in self.tried]
        if not missing:
            return {}
        send(self.sock, {"preload": missing})
        reply, _ = receive(self.sock)
        if reply is None:
            raise OSError("the pool worker exited")
        self.tried.update(missing)
        self.failed.update(reply.get("failed") or {})
        return dict(reply.get("failed") or {})

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
    first_sample = 0.05  # the worker reaps and kills what a killed step leaves behind

    def __init__(self, workers: int | None = None, preload: Iterable[str] = (), python: str | None = None):
        super().__init__()
        self.max_workers = workers or min(4, os.cpu_count() or 1)
        self.preload = tuple(preload)
        self.python = python or sys.executable
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()
        self._modules: dict[str, None] = {}  # what ``warm`` asked for, in order: every worker gets them
        self._failed: dict[str, str] = {}  # modules whose import failed in a worker, and why
        _LIVE.add(self)

    @property
    def workers(self) -> int:
        """How many workers exist now (busy or idle)."""
        return self._count

    def warm(self, modules: Iterable[str] = (), workers: int = 1) -> WorkersStarted | None:
        """Have ``workers`` workers (at most ``max_workers``) up, each holding ``modules`` as well,
        before any step needs them; None when they were already. Modules whose import fails are left
        out and named in ``failed`` the first time only. Raises ``LaunchError`` if a worker cannot start."""
        began = time.perf_counter()
        with self._cond:
            if self._closed:
                return None
            self._modules.update(dict.fromkeys(m for m in modules if m not in self._failed))
            wanted = tuple(self._modules)
            starting = max(0, min(workers, self.max_workers) - self._count)
            self._count += starting
            behind = [w for w in self._idle if not w.tried.issuperset(wanted)]
            self._idle = [w for w in self._idle if w not in behind]
        if not starting and not behind:
            return None
        failed: dict[str, str] = {}
        errors = self._start_workers(starting, failed)
        self._catch_up(behind, wanted, failed)
        if errors:
            raise errors[0]
        with self._cond:
            new = {m: why for m, why in failed.items() if m not in self._failed}
            self._failed.update(failed)
            for name in failed:
                self._modules.pop(name, None)
        return WorkersStarted(seconds=round(time.perf_counter() - began, 6), workers=starting + len(behind),
                              preloaded=[m for m in wanted if m not in failed], failed=new)

    def _start_workers(self, count: int, failed: dict[str, str]) -> list[LaunchError]:
        """Start ``count`` workers side by side (their places are reserved); the errors of those that died."""
        errors: list[LaunchError] = []

        def start() -> None:
            try:
                worker = _Worker(self.python, self._worker_modules())
            except LaunchError as exc:
                errors.append(exc)
                self._release(None)
                return
            failed.update(worker.failed)
            self._release(worker, alive=True)

        threads = [threading.Thread(target=start, name="pipetest-pool-start", daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return errors

    def _catch_up(self, behind: list[_Worker], wanted: tuple[str, ...], failed: dict[str, str]) -> None:
        """Idle workers from before this ``warm`` import the modules they lack (one that died is dropped)."""
        for worker in behind:
            try:
                failed.update(worker.preload(wanted))
            except OSError:
                self._release(worker)
            else:
                self._release(worker, alive=True)

    def _worker_modules(self) -> tuple[str, ...]:
        return (*self.preload, *self._modules)

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
            return _Worker(self.python, self._worker_modules())
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
        modules = list(self._modules)  # a worker that was busy during ``warm`` imports them before it forks
        message = {"job": job.to_dict(), "deadline": deadline, "env": dict(os.environ), "modules": modules}
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
                worker.tried.update(modules)
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
