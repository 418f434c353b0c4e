"""``isolation: subprocess``: every step in a fresh Python interpreter (the default).

The interpreter is started in a new session, so it leads its own process group: a crash,
``sys.exit``, ``os._exit``, a segfault or a leak stays there, and a timeout or ``stop()`` kills the
group with every grandchild. ``job.memory`` bounds the private memory of the step's whole tree. The price is the
interpreter start plus the script's imports (pandas alone takes about half a second); the warm pool
avoids it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from pipetest_nb.launch._child import BOOTSTRAP, PACKAGE_ROOT
from pipetest_nb.launch._process import ProcessLauncher
from pipetest_nb.launch._verdict import Exit
from pipetest_nb.launch.base import StepJob


@dataclass
class _Handle:
    popen: subprocess.Popen
    pid: int
    pgid: int
    exit: Exit | None = None  # once waited for: a second wait (after an interrupt) must not block


class SubprocessLauncher(ProcessLauncher):
    """Runs each step with ``python -c <bootstrap>`` in a new session; ``python`` picks the interpreter."""

    name = "subprocess"

    def __init__(self, python: str | None = None):
        super().__init__()
        self.python = python or sys.executable

    def _start(self, job: StepJob, fds: tuple[int, int, int, int], deadline: float | None) -> _Handle:
        out_w, err_w, res_w, go_r = fds
        popen = subprocess.Popen(
            [self.python, "-c", BOOTSTRAP, PACKAGE_ROOT, str(res_w), str(go_r)],
            stdin=subprocess.PIPE, stdout=out_w, stderr=err_w, pass_fds=(res_w, go_r),
            start_new_session=True)  # the child moves to job.workdir itself, as every launcher does
        assert popen.stdin is not None
        try:
            popen.stdin.write(json.dumps({"job": job.to_dict(), "deadline": deadline}).encode())
            popen.stdin.close()
        except BrokenPipeError:  # the interpreter died at once; its exit status tells why
            pass
        return _Handle(popen, popen.pid, popen.pid)

    def _wait(self, handle: _Handle) -> Exit:
        if handle.exit is None:
            _, status, usage = os.wait4(handle.pid, 0)
            handle.popen.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for the rusage
            handle.exit = Exit(status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)
        return handle.exit
