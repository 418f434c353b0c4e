"""``isolation: inprocess``: run the step in the calling process (the notebook kernel itself).

The fastest way to run a step, and the one that lets a user drop into ``%debug`` after a failure:
the original exception is kept in ``InProcessLauncher.last_exception`` and in ``sys.last_value`` /
``sys.last_traceback``, where ``%debug`` and ``pdb.pm()`` look for it.

What it cannot do, by nature:

* isolate: ``os._exit``, a segfault or a leak hits the kernel; ``sys.exit`` is caught;
* enforce ``memory``;
* stop a blocking call: ``stop()`` and the timeout raise an exception inside the step's thread
  between two Python bytecodes (like Ctrl-C in a notebook), so a step stuck in one long C call
  (``time.sleep(60)``, a big join) stops only when that call returns;
* capture output written straight to file descriptors 1/2 (C extensions, subprocesses): only
  ``sys.stdout`` / ``sys.stderr`` are redirected into the step's logs.

Because ``sys.stdout``, ``os.environ``, the working directory and ``sys.path`` are global, in-process
steps run one at a time in the whole process, whichever launcher, session or thread starts them
(one process-wide lock); everything is put back after each step. ``logging`` handlers that write to
the console (``sys.stderr``/``sys.stdout``, as ``logging.basicConfig`` sets up, also when an earlier
step's script called it) write into the step's own logs for the step's duration.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from pipetest_nb.launch._logs import LogSink, SinkStream, stderr_tail
from pipetest_nb.launch.base import Launcher, OutputCallback, StartCallback, StepJob, StepOutcome
from pipetest_nb.launch.script import StepInterrupted, StepTimedOut, run_step

from . import _shutdown


class _Interrupter:
    """Raises an exception in the step's thread, only while the script's own code runs, at most once.

    A request made before the script starts is kept and raised as it starts; one made after it ended
    is ignored. An exception injected just as the script returned is let fire inside ``disarm`` and
    dropped there: clearing it with ``PyThreadState_SetAsyncExc(id, NULL)`` would leave CPython's
    "async exception pending" flag set, slowing every later bytecode of the kernel (and hanging
    ``cProfile``)."""

    def __init__(self, thread_id: int):
        self._thread_id = thread_id
        self._state = "waiting"  # -> "armed" -> "done"
        self._pending: type[BaseException] | None = None
        self._injected = False
        self.delivered = False
        self._lock = threading.Lock()

    def arm(self) -> None:
        with self._lock:
            if self._state == "waiting":
                self._state = "armed"
            if self._pending is not None:
                self._state = "done"
                raise self._pending()

    def disarm(self) -> None:
        with self._lock:
            self._state = "done"
            undelivered = self._injected and not self.delivered
        if undelivered:
            with contextlib.suppress(StepInterrupted, StepTimedOut):
                for _ in range(10_000_000):  # the eval loop raises it at its next check, in here
                    if self.delivered:
                        break

    def fire(self, exc_type: type[StepInterrupted] | type[StepTimedOut]) -> bool:
        with self._lock:
            if self._state == "done" or self._pending is not None:
                return False
            interrupter = self

            class Delivered(exc_type):  # type: ignore[valid-type, misc]
                def __init__(self, *args: object):
                    super().__init__(*args)
                    interrupter.delivered = True

            Delivered.__name__ = Delivered.__qualname__ = exc_type.__name__
            self._pending = Delivered
            if self._state == "armed":
                self._state = "done"
                self._injected = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id),
                                                           ctypes.py_object(Delivered))
            return True


#: One in-process step at a time in the whole process: two sessions (two debuggers) in one kernel
#: would otherwise swap each other's sys.stdout, os.environ and working directory. Re-entrant, so that
#: an in-process step may itself run a pipeline in-process.
_SERIAL = threading.RLock()
#: The console stream ("stdout" | "stderr") each step log stream stands for, while it lives.
_KIND: weakref.WeakKeyDictionary[SinkStream, str] = weakref.WeakKeyDictionary()


class InProcessLauncher(Launcher):
    """Runs steps in this process, one at a time; see the module docstring for what that gives up."""

    name = "inprocess"

    def __init__(self) -> None:
        self.last_exception: BaseException | None = None
        self._current: tuple[str, _Interrupter] | None = None
        _shutdown.watch_launcher(self)

    def launch(self, job: StepJob, on_start: StartCallback | None = None,
               on_output: OutputCallback | None = None) -> StepOutcome:
        with _SERIAL:
            return self._run(job, on_start, on_output)

    def stop(self, step: str) -> bool:
        current = self._current
        return current is not None and current[0] == step and current[1].fire(StepInterrupted)

    def stop_all(self) -> None:
        """Interrupt the running step (this process is exiting or was told to stop)."""
        current = self._current
        if current is not None:
            current[1].fire(StepInterrupted)

    def _run(self, job: StepJob, on_start: StartCallback | None, on_output: OutputCallback | None) -> StepOutcome:
        started_at = time.time()
        t0 = time.perf_counter()
        # the step's folder and logs are made when it first prints: a silent step leaves none
        out = LogSink(Path(job.step_dir) / "stdout.log", job.log_limit, "stdout", on_output, job.secrets, lazy=True)
        err = LogSink(Path(job.step_dir) / "stderr.log", job.log_limit, "stderr", on_output, job.secrets, lazy=True)
        interrupter = _Interrupter(threading.get_ident())
        timer = threading.Timer(job.timeout, interrupter.fire, (StepTimedOut,)) if job.timeout else None
        io0 = _io_chars()
        cpu0 = _cpu_seconds()
        self._current = (job.step, interrupter)
        if _shutdown.stopping.is_set():  # raised as the script starts: it does not run
            interrupter.fire(StepInterrupted)
        if on_start is not None:
            on_start(os.getpid(), None)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = SinkStream(out, saved[0]), SinkStream(err, saved[1])
        _KIND[sys.stdout], _KIND[sys.stderr] = "stdout", "stderr"
        try:
            with _console_logging_into(sys.stdout, sys.stderr, saved):
                _MEMORY.begin()
                if timer is not None:
                    timer.start()
                result = run_step(job, interrupter)
        finally:
            sys.stdout, sys.stderr = saved
            self._current = None
            if timer is not None:
                timer.cancel()
            peak_rss = _MEMORY.end()
            out.close()
            err.close()
        wall = time.perf_counter() - t0
        outcome = StepOutcome(status=result.status, error_type=result.error_type,
                              error_message=result.error_message, exception_type=result.exception_type,
                              traceback=result.traceback, returncode=result.returncode,
                              started_at=started_at, finished_at=started_at + wall, wall_time=wall,
                              pid=os.getpid(), pgid=None)
        if outcome.error_type == "exit_code":
            outcome.error_message = (outcome.error_message or "") + stderr_tail(err)
        outcome.extra["script_time"] = result.script_time
        io1 = _io_chars()
        if io0 is not None and io1 is not None:
            outcome.read_bytes, outcome.write_bytes = io1[0] - io0[0], io1[1] - io0[1]
        outcome.cpu_time = _cpu_seconds() - cpu0
        outcome.peak_rss = peak_rss or None
        if result.exception is not None and outcome.status != "succeeded":
            self.last_exception = exc = result.exception
            sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
        return outcome


@contextlib.contextmanager
def _console_logging_into(out: SinkStream, err: SinkStream, saved: tuple[TextIO, TextIO]) -> Iterator[None]:
    """Point every ``logging.StreamHandler`` that writes to the console at the step's logs, and back.

    ``logging.basicConfig()`` binds the stream of the moment: called by an earlier in-process step, it
    holds that step's (closed) log, so later steps' ``logging`` output would vanish. Handlers created
    during the step are pointed back at the console afterwards, not at its closed log."""
    logging = sys.modules.get("logging")
    if logging is None:  # nothing has set up logging in this process; nothing to redirect
        yield
        return
    console_out = {id(s) for s in (saved[0], sys.__stdout__) if s is not None}
    console_err = {id(s) for s in (saved[1], sys.__stderr__) if s is not None}

    def kind(stream: Any) -> str | None:
        if isinstance(stream, SinkStream):  # an earlier step's log, or this step's own
            return _KIND.get(stream)
        if id(stream) in console_out:
            return "stdout"
        if id(stream) in console_err:
            return "stderr"
        return None

    swapped: list[tuple[Any, Any]] = []
    for handler in _stream_handlers(logging):
        which = kind(handler.stream)
        if which is not None and handler.stream is not out and handler.stream is not err:
            swapped.append((handler, handler.stream))
            handler.setStream(out if which == "stdout" else err)
    try:
        yield
    finally:
        console = {"stdout": saved[0], "stderr": saved[1]}
        for handler, old in swapped:  # an earlier step's log is closed: the console instead
            handler.setStream(console[_KIND.get(old, "stderr")] if isinstance(old, SinkStream) else old)
        for handler in _stream_handlers(logging):  # created by the step, bound to its log
            if handler.stream is out or handler.stream is err:
                handler.setStream(console[_KIND.get(handler.stream, "stderr")])


def _stream_handlers(logging: Any) -> list[Any]:
    """Console-like handlers of the root logger and of every named logger (file handlers left alone)."""
    loggers = [logging.getLogger(), *(v for v in list(logging.Logger.manager.loggerDict.values())
                                      if isinstance(v, logging.Logger))]
    return [h for lg in loggers for h in lg.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (user + system)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


#: An in-process step is first sampled this long after it starts: most steps that short are measured
#: once, at their end.
FIRST_SAMPLE_DELAY = 0.05


class _MemoryWatch:
    """The peak resident memory of this process while in-process steps run.

    One sampling thread serves every step of the process and nobody wakes it per step (a thread, or
    a wake-up, per step would cost more than a short step): while steps keep coming it looks every
    50 ms (250 ms once a step has run two seconds) and samples a step that has run
    ``FIRST_SAMPLE_DELAY``; after a second without steps it sleeps until the next. ``end`` adds one
    last sample, so a short step is measured once, at its end."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._depth = 0  # in-process steps running (one may run a pipeline in-process)
        self._began = self._idle_since = 0.0
        self._peak = 0
        self._sleeping = False
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        with self._cond:
            if self._depth == 0:
                self._peak, self._began = 0, time.monotonic()
            self._depth += 1
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._sample, name="pipetest-inprocess-memory", daemon=True)
                self._thread.start()
            elif self._sleeping:
                self._cond.notify()

    def end(self) -> int:
        """The peak since the outermost ``begin``, in bytes (0 when it cannot be read)."""
        with self._cond:
            self._depth -= 1
            self._idle_since = time.monotonic()
            self._peak = max(self._peak, _rss())
            return self._peak

    def _sample(self) -> None:
        with self._cond:
            while True:
                if self._depth == 0 and time.monotonic() - self._idle_since > 1.0:
                    self._sleeping = True
                    while self._depth == 0:
                        self._cond.wait()
                    self._sleeping = False
                running = time.monotonic() - self._began if self._depth else 0.0
                if running >= FIRST_SAMPLE_DELAY:
                    self._peak = max(self._peak, _rss())
                self._cond.wait(0.05 if running < 2.0 else 0.25)


class _ProcFile:
    """A file of ``/proc/<this pid>/`` kept open and read again from its start (opening it per step costs
    more than reading it); opened again in a forked child, whose pid differs."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._fd: int | None = None
        self._pid: int | None = None

    def read(self) -> bytes:
        """Its text now, b"" where there is no such file."""
        pid = os.getpid()
        try:
            if self._pid != pid:
                self._fd = os.open(f"/proc/{pid}/{self._name}", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                self._pid = pid
            return os.pread(self._fd, 4096, 0)  # type: ignore[arg-type]
        except OSError:
            return b""


_MEMORY = _MemoryWatch()
if hasattr(os, "register_at_fork"):  # a forked child has no sampling thread, and maybe a lock held by it
    os.register_at_fork(after_in_child=_MEMORY.__init__)
_STATM, _IO = _ProcFile("statm"), _ProcFile("io")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    """Resident bytes of this process (``statm``), 0 when it cannot be read."""
    try:
        return int(_STATM.read().split()[1]) * _PAGE
    except (ValueError, IndexError):
        return 0


def _io_chars() -> tuple[int, int] | None:
    """Bytes this process has read and written through system calls so far (``rchar``, ``wchar``)."""
    try:
        fields = dict(line.split(b": ", 1) for line in _IO.read().splitlines() if b": " in line)
        return int(fields[b"rchar"]), int(fields[b"wchar"])
    except (ValueError, KeyError):
        return None
