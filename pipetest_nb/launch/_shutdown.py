"""Stop the steps of every live run when this process is told to stop, or exits.

CI cancellation, ``timeout`` and ``docker stop`` send SIGTERM, a closed terminal SIGHUP, and a notebook
kernel that is shut down or restarted exits normally (or gets SIGTERM when it does not). Steps run in
processes of their own, which would run on without their runner, and in threads that would keep the
interpreter from exiting; so each of these first stops the live runs: their running steps are killed
with their process trees and recorded ``interrupted``, and so is the run.

Launchers register themselves (weakly) when they are made, runs when one of their steps starts; once
stopping has begun, launchers start no new step. The library's handlers go in only from the main
thread and only over the default disposition: a SIGHUP ignored by ``nohup`` or a handler of the
application's own is left alone, and SIGINT is never touched (Ctrl-C already stops a run, through
``KeyboardInterrupt``). A command-line run takes SIGTERM and SIGHUP over with ``exit_on_signals``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

#: Seconds to wait for a run's own thread to record the end of its killed steps and of the run.
GRACE = 5.0
#: Seconds a command-line run may take to print its summary after its steps were stopped.
EXIT_GRACE = 10.0
SIGNALS = (signal.SIGTERM, signal.SIGHUP)

#: Set once this process is exiting or was told to stop: launchers then start no new step.
stopping = threading.Event()

_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()  # runs with a step started
_LAUNCHERS: weakref.WeakSet[Any] = weakref.WeakSet()  # launchers with a ``stop_all()``
_lock = threading.Lock()
_exit_hooked = False
_signals_hooked = False
_terminated: int | None = None  # the signal the library's handler got


def watch(run: Any) -> None:
    """Stop ``run``'s steps if this process exits or is terminated while they run."""
    _LIVE.add(run)
    _hook()


def watch_launcher(launcher: Any) -> None:
    """Let the stopping reach the steps of ``launcher`` (its ``stop_all()``), also before their run knows them."""
    _LAUNCHERS.add(launcher)
    _hook()


def _hook() -> None:
    global _exit_hooked, _signals_hooked
    if _exit_hooked and _signals_hooked:
        return
    with _lock:
        if not _exit_hooked:
            try:  # runs before the interpreter joins non-daemon threads, which would wait for the steps
                threading._register_atexit(_at_exit)  # type: ignore[attr-defined]
            except (AttributeError, RuntimeError):
                atexit.register(_at_exit)
            _exit_hooked = True
        if not _signals_hooked and threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                if signal.getsignal(sig) is signal.SIG_DFL:
                    signal.signal(sig, _die_after_stopping)
            _signals_hooked = True


def stop_live_runs(reason: str, grace: float = GRACE) -> list[Any]:
    """Kill the running steps of every live run, wait for their ends to be recorded (at most ``grace``
    seconds), record what was not as ``interrupted`` with ``reason``, and return the runs stopped."""
    stopping.set()
    runs = [run for run in list(_LIVE) if _running(run)]
    for run in runs:
        with contextlib.suppress(Exception):
            run.stop()
    for launcher in list(_LAUNCHERS):
        with contextlib.suppress(Exception):
            launcher.stop_all()
    deadline = time.monotonic() + grace
    for run in runs:
        while time.monotonic() < deadline and (_running(run) or _status(run) == "running"):
            time.sleep(0.02)
    for run in runs:  # the thread that ran them did not get there in time (or is this very thread)
        with contextlib.suppress(Exception):
            if _running(run):
                run.mark_interrupted(reason)
            if _status(run) == "running":
                run.finish()
    return runs


@contextlib.contextmanager
def exit_on_signals() -> Iterator[Callable[[], int | None]]:
    """For a command-line run: SIGTERM and SIGHUP stop the live runs and let the command finish (its
    summary, its report); the returned function then gives the signal, for an exit code of 128 + it.
    A command that does not finish within ``EXIT_GRACE`` seconds of that exits with that code anyway."""
    received: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if not received:
            received.append(signum)
            threading.Thread(target=_stop_then_exit, args=(signum,), name="pipetest-stop", daemon=True).start()

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        if previous[sig] is not signal.SIG_IGN:  # nohup: a hang-up is not for us
            signal.signal(sig, handler)
    try:
        yield lambda: received[0] if received else None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def _reason(signum: int) -> str:
    return f"the runner was sent {signal.Signals(signum).name}; the step was stopped with it"


def _stop_then_exit(signum: int) -> None:
    stop_live_runs(_reason(signum))
    time.sleep(EXIT_GRACE)
    os._exit(128 + signum)


def _die_after_stopping(signum: int, _frame: Any) -> None:
    """The library's handler: stop the live runs, then die of the signal as the process would have.

    The stopping happens in a thread: this handler may have interrupted the very code that holds the
    locks of the runs. A second signal meanwhile kills at once."""
    global _terminated
    signal.signal(signum, signal.SIG_DFL)
    _terminated = signum

    def stop_and_die() -> None:
        try:
            stop_live_runs(_reason(signum))
        finally:
            os.kill(os.getpid(), signum)

    threading.Thread(target=stop_and_die, name="pipetest-stop", daemon=True).start()


def _at_exit() -> None:
    if _terminated is not None:  # the main thread ended first: still die of the signal, once stopped
        stop_live_runs(_reason(_terminated))
        os.kill(os.getpid(), _terminated)
    stop_live_runs("the Python process exited while the step ran (kernel shutdown or restart)")


def _running(run: Any) -> bool:
    try:
        return "running" in run.statuses.values()
    except Exception:  # noqa: BLE001 - a closed or broken run has nothing left to stop
        return False


def _status(run: Any) -> str | None:
    try:
        return run.record.get("status")
    except Exception:  # noqa: BLE001
        return None
