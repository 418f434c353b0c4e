"""A warm pool worker: imports the heavy libraries once, then forks a fresh child for every step.

It talks to its launcher over a Unix ``SOCK_SEQPACKET`` socket, one JSON message per packet (``_wire``):

* launcher -> worker: ``{"job": ..., "deadline": ..., "env": ..., "modules": [...]}`` with the step's
  stdout, stderr, result and start pipes attached as file descriptors (``SCM_RIGHTS``); or
  ``{"preload": [...]}``: import these modules now;
* worker -> launcher: ``{"ready": pid, "failed": {...}}`` once warm, ``{"failed": {...}}`` after a
  ``preload``, then per step ``{"pid": child}`` once the child leads its own process group and
  ``{"status": ..., "cpu": ..., "maxrss": ...}`` when it has ended. ``failed`` maps each module whose
  import raised to why; the worker does not try it again.

A module whose import fails is left out, whatever it raises, and the worker carries on. Once warm
(and after each preload) the worker's objects are frozen out of the garbage collector's reach
(``gc.freeze``), so that a collection in a child does not touch, and so copy, every page it inherited.

Each step's child is forked ahead of it (``_spare``): forked once the last step has ended, while the
launcher records it, it is handed the next job and its pipes. A child that ends normally tells the worker its exit code and resource use on a pipe of its own just
before ``os._exit``, after it has closed its logs and killed what it started: the step's end is
reported at once, and the kernel's tear-down of the child's inherited memory happens while the
launcher records the step. A child that dies otherwise is waited for. The worker exits when the
launcher closes its end of the socket (or dies). It is the subreaper of its children's trees: what a
killed step left behind is re-parented to it, and killed and reaped before the worker takes the
next step.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import socket
import sys
from typing import Any

from pipetest_nb.launch._spare import Spare
from pipetest_nb.launch._wire import receive, send

#: Run by ``python -c`` with the folder holding pipetest_nb, the socket's fd and the modules to
#: preload as arguments.
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); "
             "from pipetest_nb.launch._worker import main; main()")
DEFAULT_PRELOAD = ("numpy", "pandas", "pyarrow", "pyarrow.parquet")
_REASON_CHARS = 300


def preload(modules: list[str] | tuple[str, ...], failed: dict[str, str] | None = None) -> dict[str, str]:
    """Import ``modules`` not imported yet; those that raise (anything, even ``SystemExit``) are left
    out and returned with why, and recorded in ``failed`` so that they are not tried again."""
    known = {} if failed is None else failed
    new: dict[str, str] = {}
    for name in modules:
        if name in sys.modules or name in known:
            continue
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - a module's import may raise anything; the step reports it
            if isinstance(exc, KeyboardInterrupt):
                raise
            text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
            new[name] = known[name] = text[:_REASON_CHARS]
    return new


def warm_up() -> None:
    """Round-trip a tiny table through parquet and CSV, so that the lazy imports and one-time set-up
    of pandas and pyarrow happen once here rather than in every forked child."""
    if "pandas" not in sys.modules:
        return
    import io

    import pandas as pd

    frame = pd.DataFrame({"id": [1, 2], "x": [0.5, None], "s": ["a", "b"]})
    with contextlib.suppress(Exception):
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        pd.read_parquet(io.BytesIO(buffer.getvalue()))
    with contextlib.suppress(Exception):
        pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def main() -> None:
    """Entry point: ``python -c BOOTSTRAP <root> <socket fd> <module>...``."""
    root, fd = sys.argv[1], int(sys.argv[2])
    for entry in (root, ""):
        if entry in sys.path:
            sys.path.remove(entry)
    sock = socket.socket(fileno=fd)
    failed: dict[str, str] = {}
    preload(DEFAULT_PRELOAD, failed)
    first = preload(tuple(sys.argv[3:]), failed)
    warm_up()
    from pipetest_nb.launch._tree import become_subreaper

    from . import _child  # noqa: F401 - imported once here, not in every child

    become_subreaper()
    gc.freeze()
    send(sock, {"ready": os.getpid(), "failed": first})
    _serve(sock, failed, Spare(sock))


def _serve(sock: socket.socket, failed: dict[str, str], spare: Spare | None) -> None:
    """Answer the launcher until it goes away; ``spare`` is the child forked for the next step."""
    ending: list[int] = []  # children that reported their end, left to the kernel's tear-down
    try:
        while True:
            try:
                message, fds = receive(sock)
            except OSError:
                return
            if message is None:
                return
            _reap(ending)
            wanted = message["preload"] if "preload" in message else [
                *(message["job"].get("preload") or ()), *(message.get("modules") or ())]
            new: dict[str, str] = {}
            if any(name not in sys.modules and name not in failed for name in wanted):
                if spare is not None:  # forked before these imports: it would lack them
                    spare.discard()
                    spare = None
                new = preload(wanted, failed)
                gc.freeze()
            if "preload" in message:
                spare = spare or Spare(sock)
                if not _reply(sock, {"failed": new}):
                    return
                continue
            spare = _step(sock, message, fds, spare, ending)
            if spare is None:
                return
    finally:
        if spare is not None:
            spare.discard()
        for pid in ending:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _reap(pids: list[int]) -> None:
    for pid in list(pids):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                continue
        pids.remove(pid)


def _reply(sock: socket.socket, message: dict[str, Any]) -> bool:
    try:
        send(sock, message)
    except OSError:
        return False
    return True


def _step(sock: socket.socket, message: dict[str, Any], fds: list[int], spare: Spare | None,
          ending: list[int]) -> Spare | None:
    """Run one step in ``spare`` (or a child forked now), report its pid and its end, then fork the
    next step's spare; that spare, or None once the launcher is gone.

    The next spare is forked once the step has ended, not while it runs: a fork contends with the
    running child's page faults on the memory they share, and stalls it. A child that reports its
    end itself has killed all it started, and is left to finish exiting. One that does not is reaped,
    and whatever it left behind is killed, before its end is reported."""
    from pipetest_nb.launch._tree import kill_leftovers

    if spare is None or not spare.hand(message, fds):
        spare = Spare(sock)  # the spare died, or had to go for new imports: a child of its own now
        if not spare.hand(message, fds):
            return None
    for f in fds:
        os.close(f)
    alive = _reply(sock, {"pid": spare.pid})
    try:
        report = _exit_report(spare.pid, spare.exit_r)
    finally:
        os.close(spare.exit_r)
    if report is not None:  # the child is in os._exit: say so now, reap it later
        ending.append(spare.pid)
        alive = alive and _reply(sock, report)
    else:
        _, status, usage = os.wait4(spare.pid, 0)
        kill_leftovers()  # orphans of a killed step, re-parented to this worker
        alive = alive and _reply(sock, {"status": status, "cpu": usage.ru_utime + usage.ru_stime,
                                        "maxrss": usage.ru_maxrss * 1024})
    return Spare(sock) if alive else None


def _exit_report(pid: int, exit_r: int) -> dict[str, Any] | None:
    """What the child said just before ``os._exit``, or None if it died first (then it is waited for)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here: the child's exit status is waited for
        return None
    try:
        readable, _, _ = select.select([exit_r, pidfd], [], [])
        if exit_r not in readable:
            return None
        data = os.read(exit_r, 4096)
    finally:
        os.close(pidfd)
    try:
        said = json.loads(data) if data else None
    except ValueError:
        return None
    if not isinstance(said, dict):
        return None
    return {"status": (int(said["code"]) & 0xFF) << 8, "cpu": said.get("cpu"), "maxrss": said.get("maxrss")}
