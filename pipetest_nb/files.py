"""Reading files that a step wrote, safely: never following a final symlink, never blocking on a FIFO.

Step outputs, inputs and run folders are data from disk, possibly hostile; every module that opens
one of their files goes through ``open_regular``, every walk of their folders through ``walk_tree``
(links to folders are not followed), and every path shown to a user through ``display_path`` (a file
name need not be valid UTF-8).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any


class NotRegularFile(OSError):
    """A FIFO, device, socket or other non-regular file where a regular file was expected."""


def special_kind(mode: int) -> str | None:
    """``FIFO``, ``device`` or ``socket`` for a special file's mode, else None."""
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return None


def display_path(path: str | os.PathLike) -> str:
    """A path as text that can always be printed and written: undecodable bytes as ``\\xff``."""
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a surrogate that no file name decoding made
        raw = os.fspath(path).encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def open_regular(path: str | os.PathLike) -> Any:
    """Open a regular file for reading without following a final symlink and without blocking
    (a FIFO opened for reading would wait for a writer for ever); anything else raises."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = special_kind(mode) or "not a regular file"
            raise NotRegularFile(f"{display_path(path)} is a {kind}; steps must write regular files")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def walk_tree(root: Path) -> list[tuple[str, os.DirEntry]]:
    """Every entry under ``root`` (relative posix names, sorted), without following links to folders."""
    found: list[tuple[str, os.DirEntry]] = []
    pending = [("", str(root))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                found.append((rel, entry))
                if entry.is_dir(follow_symlinks=False):
                    pending.append((rel + "/", entry.path))
    return sorted(found, key=lambda item: os.fsencode(item[0]))
