"""A running step's process tree, and how it is killed: the leader stopped first, then every
descendant (also those that left its group), its group, and what was seen in it earlier.

A step process is the leader of its own process group and the subreaper of its tree (``_tree``), so
a timeout or ``stop()`` kills it with everything it started (pools, grandchildren, daemons that
called ``setsid``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any


def kill_group(pgid: int | None, pid: int | None) -> None:
    """SIGKILL a whole process group, or the lone process if its group does not exist (yet)."""
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            pass
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_tree(pid: int | None, pgid: int | None, seen: dict[int, Any] | None = None) -> None:
    """SIGKILL a step's whole tree: its descendants (also those that left its group), its group, and
    the processes seen in it earlier (``seen``: pid -> psutil.Process, checked against pid reuse).

    The leader is stopped first, so it forks nothing new; since it is a subreaper, the orphans of the
    descendants killed meanwhile stay below it, and each round finds what the last one missed."""
    import psutil

    seen = {} if seen is None else seen
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGSTOP)
        for _ in range(10):
            try:
                found = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                break
            new = [proc for proc in found if proc.pid not in seen]
            if not new:
                break
            for proc in new:
                seen[proc.pid] = proc
                with contextlib.suppress(psutil.Error):
                    proc.kill()
    kill_group(pgid, pid)
    kill_seen(seen)


def kill_seen(seen: dict[int, Any]) -> None:
    """SIGKILL the processes of a step's tree that are still running (and still the same processes)."""
    import psutil

    for proc in list(seen.values()):  # the sampler may add to it meanwhile
        with contextlib.suppress(psutil.Error):
            if proc.is_running():
                proc.kill()


class Running:
    """A step being launched: what ``stop()`` and the deadline need to kill it, and why it was."""

    def __init__(self, step: str):
        self.step = step
        self.pid: int | None = None
        self.pgid: int | None = None
        self.reason: str | None = None  # "timeout" | "interrupted" | "out_of_memory", once killed on purpose
        self.memory: int | None = None  # bytes the tree held when it was killed for its memory limit
        self.seen: dict[int, Any] = {}  # pid -> psutil.Process of every descendant sampled or killed
        self._done = False
        self._lock = threading.Lock()

    def attach(self, pid: int, pgid: int | None) -> None:
        with self._lock:
            self.pid, self.pgid = pid, pgid
            if self.reason is not None:
                kill_tree(pid, pgid, self.seen)

    def kill(self, reason: str) -> bool:
        with self._lock:
            if self._done:
                return False
            if self.reason is None:
                self.reason = reason
            if self.pid is not None:
                kill_tree(self.pid, self.pgid, self.seen)
            return True

    def finish(self) -> None:
        with self._lock:
            self._done = True
