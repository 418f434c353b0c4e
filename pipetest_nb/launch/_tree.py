"""A step's process tree: keep it together, and kill all of it when the step ends.

Linux lets a process adopt its orphaned descendants (``PR_SET_CHILD_SUBREAPER``). Every step process
and every pool worker sets it, so that a grandchild that calls ``os.setsid()`` (or double-forks into a
daemon) is re-parented to the step instead of to init: it stays in the step's tree, where the sampler
counts its memory and a kill finds it. What a finished step leaves running is killed and reaped by the
step process itself before it exits (``kill_leftovers``), and what a killed step leaves is killed by
the launcher (``_running.kill_tree``).

This module runs inside every fresh step interpreter, so it imports nothing heavy: the process table
comes from ``/proc`` directly, not from psutil.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux only); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:  # the core of ctypes loads in under a millisecond; ``import ctypes`` costs a fresh step ~7 ms
        import _ctypes

        prctl = _ctypes.dlsym(_ctypes.dlopen(None), "prctl")
        return _ctypes.call_function(prctl, (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (ImportError, AttributeError, OSError, TypeError):
        pass
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (ImportError, AttributeError, OSError):
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every living process (zombies left out), read from ``/proc/<pid>/stat``."""
    table: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # the command name may hold spaces and ')'
        if len(fields) > 1 and fields[0] not in (b"Z", b"X"):
            table[int(entry)] = int(fields[1])
    return table


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid``, nearest first."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        nxt = [c for p in frontier for c in children.get(p, ())]
        found += nxt
        frontier = nxt
    return found


def _reap() -> bool:
    """Collect exited children; True if some child of this process is still alive."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def kill_leftovers(rounds: int = 10) -> int:
    """SIGKILL and reap every descendant of this process; how many were killed.

    Costs one ``waitpid`` when nothing is left (the usual case); otherwise it scans ``/proc``, as often
    as needed for what was forked meanwhile (bounded)."""
    killed = 0
    for _ in range(rounds):
        if not _reap():
            return killed
        found = descendants(os.getpid())
        if not found:
            return killed
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    _reap()
    return killed
