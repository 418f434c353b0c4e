"""The run folder's lock: the one writer takes it, and readers ask whether its holder still lives.

The lock file says who wrote last (``pid N on host``); when that process lives, the kernel says
whether it still holds the lock. Readers never create or write anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import time
from pathlib import Path
from typing import Any

from pipetest_nb.exceptions import RunLockedError
from pipetest_nb.records.readers import read_small_file
from pipetest_nb.records.schema import LOCK_FILE

_HOLDER = re.compile(r"pid (\d+) on (\S+)")


def writer_alive(run_dir: Path, data: dict[str, Any]) -> bool | None:
    """Whether a process is still writing this run: True, False (it is gone), or None (cannot tell:
    another host). The lock file says who wrote last ("pid N on host"); when that process lives, the
    kernel says whether it still holds the lock. Nothing is created or written."""
    lock_path = Path(run_dir) / LOCK_FILE
    host = socket.gethostname()
    try:
        st = os.lstat(lock_path)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        match = _HOLDER.search((read_small_file(lock_path, 4096) or b"").decode("utf-8", errors="replace"))
        if match:
            pid, pid_host = int(match.group(1)), match.group(2)
            if pid_host != host:
                return None
            return _process_alive(pid, None) and _lock_held(lock_path, st)
    runner = data.get("runner") if isinstance(data.get("runner"), dict) else {}
    reopened = [r for r in data.get("reopened") or [] if isinstance(r, dict) and isinstance(r.get("pid"), int)]
    pid = reopened[-1]["pid"] if reopened else runner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or runner.get("host") != host:
        return None
    return _process_alive(pid, runner.get("create_time") if runner.get("pid") == pid else None)


def _lock_held(path: Path, st: os.stat_result) -> bool:
    """Whether some process holds the lock of ``path``: listed in /proc/locks, else (another file system's
    device numbers, no /proc) a shared lock that cannot be had, let go at once."""
    import fcntl

    text = read_small_file(Path("/proc/locks"))  # a proc file: its size reads as 0, its text is there
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    if text and any(len(f) > 5 and f[5] == wanted for f in (line.split() for line in text.decode(
            "ascii", errors="replace").splitlines())):
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _process_alive(pid: int, created: float | None) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return created is None or abs(proc.create_time() - float(created)) <= 1.0
    except (psutil.Error, ValueError, TypeError):
        return False


def acquire_lock(run_dir: Path, wait: float = 0.0) -> Any:
    """Lock the run folder for this process; ``wait`` seconds of patience for a lock on its way out
    (a child the dead runner forked holds the lock until it has exec'd its step)."""
    import fcntl

    fh = open(run_dir / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held for the run's lifetime
    give_up = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < give_up:
                time.sleep(0.05)
                continue
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise RunLockedError(str(run_dir), holder) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
    fh.flush()
    return fh


def release_lock(fh: Any) -> None:
    """Let go of the lock ``acquire_lock`` took; a file already closed is let go already."""
    import fcntl

    with contextlib.suppress(OSError, ValueError):
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()
