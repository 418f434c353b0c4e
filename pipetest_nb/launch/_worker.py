"""A warm pool worker: imports the heavy libraries once, then forks a fresh child for every step.

It talks to its launcher over a Unix ``SOCK_SEQPACKET`` socket, one JSON message per packet:

* launcher -> worker: ``{"job": ..., "deadline": ..., "env": ...}`` with the step's stdout, stderr,
  result and start pipes attached as file descriptors (``SCM_RIGHTS``);
* worker -> launcher: ``{"ready": pid}`` once warm, then per step ``{"pid": child}`` once the child
  leads its own process group and ``{"status": ..., "cpu": ..., "maxrss": ...}`` from ``wait4``.

The worker exits when the launcher closes its end of the socket (or dies). It is the subreaper of
its children's trees: what a killed step left behind is re-parented to it, and killed and reaped
before the worker reports the step's end.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import socket
import sys
from typing import Any, NoReturn

#: Run by ``python -c`` with the folder holding pipetest_nb and the socket's fd as arguments.
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); "
             "from pipetest_nb.launch._worker import main; main()")
DEFAULT_PRELOAD = ("numpy", "pandas", "pyarrow", "pyarrow.parquet")
MAX_MESSAGE = 1 << 20


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; ``(None, [])`` when the peer is gone."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 8)
    return (json.loads(data) if data else None), list(fds)


def preload(modules: list[str] | tuple[str, ...]) -> None:
    for name in modules:
        if name not in sys.modules:
            with contextlib.suppress(Exception):  # the step itself will report a failing import
                importlib.import_module(name)


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
    """Entry point: ``python -c BOOTSTRAP <root> <socket fd>``."""
    root, fd = sys.argv[1], int(sys.argv[2])
    for entry in (root, ""):
        if entry in sys.path:
            sys.path.remove(entry)
    sock = socket.socket(fileno=fd)
    preload(DEFAULT_PRELOAD + tuple(sys.argv[3:]))
    warm_up()
    from pipetest_nb.launch._tree import become_subreaper, kill_leftovers

    from . import _child  # noqa: F401 - imported once here, not in every child

    become_subreaper()

    send(sock, {"ready": os.getpid()})
    while True:
        try:
            message, fds = receive(sock)
        except OSError:
            return
        if message is None:
            return
        preload(message["job"].get("preload") or ())
        pid = os.fork()
        if pid == 0:
            _run_forked(sock, message, fds)
        with contextlib.suppress(OSError):  # the child did it first, or is already gone
            os.setpgid(pid, pid)
        for f in fds:
            os.close(f)
        with contextlib.suppress(OSError):
            send(sock, {"pid": pid})
        _, status, usage = os.wait4(pid, 0)
        kill_leftovers()  # orphans of a killed step, re-parented to this worker
        try:
            send(sock, {"status": status, "cpu": usage.ru_utime + usage.ru_stime,
                        "maxrss": usage.ru_maxrss * 1024})
        except OSError:
            return


def _run_forked(sock: socket.socket, message: dict[str, Any], fds: list[int]) -> NoReturn:
    try:
        os.setpgid(0, 0)
        sock.close()
        out_w, err_w, res_w, go_r = fds
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        atexit._clear()  # the worker's exit handlers are not the step's
        os.environ.clear()
        os.environ.update(message["env"])
        if "numpy" in sys.modules:  # a fresh interpreter would seed numpy's global generator anew
            sys.modules["numpy"].random.seed()
        from pipetest_nb.launch._child import run_child
        from pipetest_nb.launch.base import StepJob

        run_child(StepJob(**message["job"]), res_w, message.get("deadline"), go_r)
    finally:
        os._exit(70)
