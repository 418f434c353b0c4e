"""The next step's process, forked by a pool worker before the step arrives.

Forking a worker that holds pandas copies its page tables (milliseconds), and the child's set-up
(its own process group, stdin, exit handlers, numpy's seed) touches, and so copies, pages of the
worker. A spare child does both ahead of time: it is forked once the last step has ended, while the
launcher is still recording it, and then waits on a socket of its own for its job and the step's
pipes. It exits at once if the worker goes away first, and is killed if the worker must import more
modules before the step (a spare forked before those imports would lack them).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import sys
from typing import Any, NoReturn

from pipetest_nb.launch._wire import receive, send


class Spare:
    """A forked child waiting for its step."""

    def __init__(self, launcher: socket.socket):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        exit_r, exit_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            _wait_for_step(launcher, ours, theirs, exit_r, exit_w)
        theirs.close()
        os.close(exit_w)
        with contextlib.suppress(OSError):  # the child did it first, or is already gone
            os.setpgid(pid, pid)
        self.pid, self.sock, self.exit_r = pid, ours, exit_r

    def hand(self, message: dict[str, Any], fds: list[int]) -> bool:
        """Give the child its step; False if it died meanwhile (then it is discarded)."""
        try:
            send(self.sock, message, fds)
        except OSError:
            self.discard()
            return False
        self.sock.close()
        return True

    def discard(self) -> None:
        """Kill the child before it got a step, and reap it."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.sock.close()
        with contextlib.suppress(OSError):
            os.close(self.exit_r)


def _wait_for_step(launcher: socket.socket, ours: socket.socket, worker: socket.socket, exit_r: int,
                   exit_w: int) -> NoReturn:
    """The child: isolate itself, then run the step it is handed (or exit if none comes)."""
    try:
        ours.close()
        os.close(exit_r)
        os.setpgid(0, 0)
        launcher.close()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        atexit._clear()  # the worker's exit handlers are not the step's
        if "numpy" in sys.modules:  # a fresh interpreter would seed numpy's global generator anew
            sys.modules["numpy"].random.seed()
        try:
            message, fds = receive(worker)
        except OSError:
            message, fds = None, []
        if message is None:
            os._exit(0)
        worker.close()
        _run(message, fds, exit_w)
    finally:
        os._exit(70)


def _run(message: dict[str, Any], fds: list[int], exit_w: int) -> NoReturn:
    out_w, err_w, res_w, go_r = fds
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.close(out_w)
    os.close(err_w)
    env = message["env"]  # the notebook's environment now; only what differs is set or removed
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    from pipetest_nb.launch._child import run_child
    from pipetest_nb.launch.base import StepJob

    run_child(StepJob(**message["job"]), res_w, message.get("deadline"), go_r, exit_fd=exit_w)
