"""Reading the files of a run folder, safely: only regular files inside it, bounded in size.

``open_regular`` opens a file with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checks it with ``fstat``, so
a symlink, FIFO, device or huge file is a ``RunRecordError`` (or, for the report's small files,
nothing), never a hang or an out-of-memory. What is read is checked by ``records.schema``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipetest_nb.events import Event
from pipetest_nb.exceptions import RunRecordError
from pipetest_nb.json_values import loads
from pipetest_nb.records.schema import (
    EVENTS_FILE,
    RECORD_FILE,
    SchemaProblem,
    check_record,
    parse_event,
    upgrade_record,
)

MAX_RECORD_BYTES = 256 * 2**20  # run.json
MAX_EVENTS_BYTES = 4 * 2**30  # events.jsonl
MAX_EVENT_LINE_BYTES = 64 * 2**20  # one event
MAX_SMALL_FILE_BYTES = 16 * 2**20  # a suite file shown by the debugger, the lock file


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path, limit: int) -> tuple[int, int]:
    """Open ``path`` for reading if it is a regular file (not through a symlink, never blocking) of at most
    ``limit`` bytes; returns (fd, size). Raises ``SchemaProblem`` saying what it is instead, OSError if absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symlink
            target = "?"
            with contextlib.suppress(OSError):
                target = os.readlink(path)
            raise SchemaProblem(f"is a symlink (to {target!r}); files of a run folder are never followed "
                                "out of it") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SchemaProblem(f"is {_kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise SchemaProblem(f"is {st.st_size:,} bytes, more than the {limit:,} a record may have")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _read_fd(fd: int, size: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise SchemaProblem(f"grew past the {limit:,} bytes a record may have while being read")
    return b"".join(chunks)


def run_file_error(run_dir: Path, name: str, why: str) -> RunRecordError:
    """The error for a file of a run folder that is not what a run writes."""
    return RunRecordError(str(run_dir), name, why)


def read_small_file(path: Path, limit: int = MAX_SMALL_FILE_BYTES) -> bytes | None:
    """The bytes of a regular file of at most ``limit`` bytes; None when it is absent, special or too big."""
    try:
        fd, size = open_regular(Path(path), limit)
    except (OSError, SchemaProblem):
        return None
    try:
        return _read_fd(fd, size, limit)
    except (OSError, SchemaProblem):
        return None
    finally:
        os.close(fd)


def read_record_file(run_dir: Path) -> dict[str, Any] | None:
    """The snapshot (run.json) as a checked, upgraded dict; None when it is absent or half-written
    (the event log then rebuilds the record). Anything else wrong is a ``RunRecordError``."""
    path = run_dir / RECORD_FILE
    try:
        fd, size = open_regular(path, MAX_RECORD_BYTES)
    except FileNotFoundError:
        return None
    except SchemaProblem as exc:
        raise run_file_error(run_dir, RECORD_FILE, str(exc)) from None
    except OSError as exc:
        raise run_file_error(run_dir, RECORD_FILE, f"cannot be opened: {exc.strerror or exc}") from None
    try:
        raw = _read_fd(fd, size, MAX_RECORD_BYTES)
    except SchemaProblem as exc:
        raise run_file_error(run_dir, RECORD_FILE, str(exc)) from None
    except OSError as exc:
        raise run_file_error(run_dir, RECORD_FILE, f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        data = loads(raw.decode("utf-8", errors="replace"))
    except RecursionError:
        raise run_file_error(run_dir, RECORD_FILE, "is nested too deeply to be a run record") from None
    except ValueError:
        return None  # torn or half-written: rebuilt from the events
    try:
        return check_record(upgrade_record(data))
    except SchemaProblem as exc:
        raise run_file_error(run_dir, RECORD_FILE, str(exc)) from None


def iter_event_dicts(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every complete line of an events.jsonl that is JSON; a line that is
    not (a torn write, then ended by the next writer) is skipped. Bounded per line and in total."""
    path = Path(path)
    run_dir = path.parent
    try:
        fd, _ = open_regular(path, MAX_EVENTS_BYTES)
    except FileNotFoundError:
        return
    except SchemaProblem as exc:
        raise run_file_error(run_dir, EVENTS_FILE, str(exc)) from None
    except OSError as exc:
        raise run_file_error(run_dir, EVENTS_FILE, f"cannot be opened: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        number = 0
        while True:
            try:
                line = fh.readline(MAX_EVENT_LINE_BYTES + 1)
            except OSError as exc:
                raise run_file_error(run_dir, EVENTS_FILE, f"cannot be read: {exc.strerror or exc}") from None
            if not line:
                return
            number += 1
            if not line.endswith(b"\n"):
                if len(line) > MAX_EVENT_LINE_BYTES:
                    raise run_file_error(run_dir, EVENTS_FILE, f"line {number} is longer than "
                                         f"{MAX_EVENT_LINE_BYTES:,} bytes: not an event")
                return  # torn write at the end: never flushed completely
            try:
                obj = loads(line.decode("utf-8", errors="replace"))
            except RecursionError:
                raise run_file_error(run_dir, EVENTS_FILE, f"line {number} is nested too deeply") from None
            except ValueError:
                continue  # a torn line that a later writer ended with a newline
            yield number, obj


def read_run_events(path: Path) -> Iterator[Event]:
    """The events of an events.jsonl, checked; a wrong one is a ``RunRecordError`` naming its line."""
    for number, obj in iter_event_dicts(path):
        try:
            yield parse_event(obj)
        except SchemaProblem as exc:
            raise run_file_error(Path(path).parent, EVENTS_FILE, f"line {number}: {exc}") from None


# --------------------------------------------------------------------------------------------------
# For the report: files inside the run folder only
# --------------------------------------------------------------------------------------------------


def inside(run_dir: Path, path: str | os.PathLike) -> bool:
    """Whether ``path`` (symlinks resolved) is inside the run folder."""
    root = os.path.realpath(run_dir)
    try:
        return os.path.commonpath([os.path.realpath(path), root]) == root
    except ValueError:
        return False


def read_tail_inside(run_dir: Path, relative: str, nbytes: int) -> tuple[bytes, int]:
    """The last ``nbytes`` of a regular file inside the run folder and its size; (b"", 0) when it is absent,
    special, a symlink, or resolves outside the folder."""
    path = Path(run_dir) / relative
    if not inside(run_dir, path.parent):
        return b"", 0
    try:
        fd, size = open_regular(path, 1 << 62)
    except (OSError, SchemaProblem):
        return b"", 0
    try:
        return os.pread(fd, nbytes, max(0, size - nbytes)), size
    except OSError:
        return b"", 0
    finally:
        os.close(fd)
