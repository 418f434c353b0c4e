"""The inside of a step process: set it up, run the script, report the verdict, exit.

A fresh interpreter starts here through ``BOOTSTRAP`` (the job arrives as JSON on stdin, the verdict
leaves through the inherited file descriptor named on the command line); a warm pool worker calls
``run_child`` in the child it forked. Either way the process is the leader of its own process group
and the subreaper of its descendants, its stdout/stderr are the step's log pipes, it waits on the
start pipe until the engine has recorded it, and it ends with ``os._exit`` after killing whatever
the script left running.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from pipetest_nb.launch._tree import become_subreaper, kill_leftovers
from pipetest_nb.launch.base import StepJob
from pipetest_nb.launch.script import run_step

#: Run by ``python -c`` with the folder holding pipetest_nb, the result fd and the start fd as
#: arguments; the folder is taken off ``sys.path`` again before the script runs.
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); "
             "from pipetest_nb.launch._child import main; main()")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def main() -> NoReturn:
    """Entry point of a fresh step interpreter: ``python -c BOOTSTRAP <root> <result fd> <start fd>``."""
    root, result_fd, go_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for entry in (root, ""):  # python script.py has neither pipetest's root nor the cwd on its path
        if entry in sys.path:
            sys.path.remove(entry)
    try:
        message = json.load(sys.stdin)
    except ValueError:  # the runner died before it sent the job
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    run_child(StepJob(**message["job"]), result_fd, message.get("deadline"), go_fd)


def wait_until_recorded(go_fd: int) -> None:
    """Block until the launcher has recorded this process; exit at once if it died before it could,
    so that no step runs where no record can find it."""
    become_subreaper()
    try:
        released = os.read(go_fd, 1)
        os.close(go_fd)
    except OSError:
        released = b""
    if not released:
        os._exit(1)


def run_child(job: StepJob, result_fd: int, deadline: float | None, go_fd: int | None = None,
              exit_fd: int | None = None) -> NoReturn:
    """Run the step in this (already isolated) process and exit with its status; a pool worker's
    child also says, on ``exit_fd``, that it is exiting and what it used (``_say_exiting``)."""
    if go_fd is not None:
        wait_until_recorded(go_fd)
    sys.argv = [job.script]
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr] - live logs
    faulthandler.enable()  # a segfault prints the Python traceback into stderr.log
    if deadline is not None:  # show where the script was when its timeout hit
        faulthandler.dump_traceback_later(max(0.01, deadline - time.time() - 0.05), exit=False)
    result = run_step(job, restore=False)  # this process ends with the step: nothing to put back
    payload: dict[str, Any] = result.to_dict()
    payload["io"] = _own_io()
    data = json.dumps(payload, default=str).encode()
    try:
        while data:
            data = data[os.write(result_fd, data):]
        os.close(result_fd)
    except OSError:
        pass
    if result.status == "succeeded":
        code = 0
    elif result.error_type == "exit_code" and result.returncode is not None:
        code = result.returncode & 0xFF
    else:
        code = 1
    faulthandler.cancel_dump_traceback_later()
    try:
        atexit._run_exitfuncs()  # the script's own exit handlers (logging flush, pools)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        try:
            kill_leftovers()  # nothing the step started outlives it, not even a daemon that left its group
        finally:
            if exit_fd is not None:
                _say_exiting(exit_fd, code)
            os._exit(code)


def _say_exiting(exit_fd: int, code: int) -> None:
    """Close the logs and report the exit code and resource use (this process and the children it
    reaped, as ``wait4`` would): the step has ended, only the kernel's tear-down of its memory is left."""
    import resource

    faulthandler.disable()
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.close(fd)
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    said = {"code": code, "cpu": own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime,
            "maxrss": max(own.ru_maxrss, reaped.ru_maxrss) * 1024}
    with contextlib.suppress(OSError):
        os.write(exit_fd, json.dumps(said).encode())


def _own_io() -> list[int] | None:
    """(bytes read, bytes written) by this process so far, from /proc/self/io."""
    try:
        fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return [int(fields["rchar"]), int(fields["wchar"])]
    except (OSError, KeyError, ValueError):
        return None
