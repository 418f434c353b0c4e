"""How a step process ended, decided from the kill reason, the child's own report and the exit status.

The child reports a JSON ``ScriptResult`` on a pipe of its own; when it could not (killed, out of
memory, ``os._exit``), the wait status, the kernel's OOM-kill count and the stderr tail say why.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetest_nb.launch._logs import LogSink, stderr_tail
from pipetest_nb.launch._running import Running
from pipetest_nb.launch._usage import Usage
from pipetest_nb.launch.base import StepJob, StepOutcome

_SIGNALS_OF_OOM = (signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS)
_OOM_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")


@dataclass
class Exit:
    """How a step process ended: its ``wait`` status and what ``wait4`` reported."""

    status: int | None  # None when the process could not be waited for (its worker died)
    cpu: float | None = None
    maxrss: int | None = None  # bytes
    note: str = ""


def oom_kills() -> int | None:
    """The OOM killer's count for this cgroup (v2 ``memory.events`` or v1 ``memory.oom_control``)."""
    candidates = ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"]
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                candidates.insert(0, f"/sys/fs/cgroup{path}/memory.events")
            elif "memory" in controllers.split(","):
                candidates.insert(0, f"/sys/fs/cgroup/memory{path}/memory.oom_control")
    except (OSError, ValueError):
        pass
    for candidate in candidates:
        try:
            text = Path(candidate).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return None


def outcome_from_result(result: dict[str, Any], started_at: float, wall: float) -> StepOutcome:
    outcome = StepOutcome(status=result["status"], error_type=result["error_type"],
                          error_message=result["error_message"], exception_type=result["exception_type"],
                          traceback=result["traceback"], returncode=result["returncode"],
                          started_at=started_at, finished_at=started_at + wall, wall_time=wall)
    outcome.extra["script_time"] = result.get("script_time", 0.0)
    return outcome


def verdict(job: StepJob, raw: bytes, end: Exit, running: Running, err: LogSink,
            ooms_before: int | None) -> StepOutcome:
    """Decide what happened from the kill reason, the child's own report and the exit status."""
    name = Path(job.script).name
    result: dict[str, Any] | None = None
    if raw:
        try:
            result = json.loads(raw)
        except ValueError:
            result = None
    sig = code = None
    if end.status is not None:
        if os.WIFSIGNALED(end.status):
            sig = os.WTERMSIG(end.status)
        else:
            code = os.waitstatus_to_exitcode(end.status)
    tail = stderr_tail(err)
    outcome = StepOutcome(status="failed", returncode=code if sig is None else -sig, signal=sig)
    if result is not None:
        outcome.extra["script_time"] = result.get("script_time", 0.0)
        outcome.extra["io"] = result.get("io")
    if running.reason is not None and (result is None or result["status"] != "succeeded"):
        _killed_by_us(outcome, job, name, running, tail)
    elif result is not None:
        _reported(outcome, result, tail)
    elif end.status is None:
        outcome.status = outcome.error_type = "interrupted"
        outcome.error_message = f"{name}: {end.note or 'the step process was lost'}"
    elif sig is not None:
        _killed_by_signal(outcome, job, name, sig, tail, ooms_before)
    elif code:
        outcome.error_type = "exit_code"
        outcome.error_message = f"{name} exited with code {code}" + tail
    else:
        outcome.status = "succeeded"  # os._exit(0): success, as for ``python script.py``
    return outcome


def _killed_by_us(outcome: StepOutcome, job: StepJob, name: str, running: Running, tail: str) -> None:
    """The launcher killed the step: its deadline, its memory limit, or a stop request."""
    if running.reason == "timeout":
        outcome.error_type = "timeout"
        outcome.error_message = f"{name} timed out after {job.timeout:g} s; its process group was killed" + tail
    elif running.reason == "out_of_memory":
        outcome.error_type = "out_of_memory"
        held = (running.memory or 0) / 2**20
        outcome.error_message = (f"{name} ran out of memory: its processes held {held:.0f} MiB together, over "
                                 f"its memory limit {(job.memory or 0) / 2**20:.0f} MiB (the sum over the "
                                 "step's whole process tree); its process tree was killed" + tail)
    else:
        outcome.status = outcome.error_type = "interrupted"
        outcome.error_message = f"{name} was stopped on request; its process group was killed"


def _reported(outcome: StepOutcome, result: dict[str, Any], tail: str) -> None:
    """The child said how the script ended."""
    outcome.status = result["status"]
    outcome.error_type = result["error_type"]
    outcome.error_message = result["error_message"]
    outcome.exception_type = result["exception_type"]
    outcome.traceback = result["traceback"]
    if outcome.error_type == "exit_code":
        outcome.error_message = (outcome.error_message or "") + tail


def _killed_by_signal(outcome: StepOutcome, job: StepJob, name: str, sig: int, tail: str,
                      ooms_before: int | None) -> None:
    """A signal nobody here sent: the OOM killer, a crash, or someone else's kill."""
    ooms_after = oom_kills()
    killed_by_oom = (sig == signal.SIGKILL and ooms_before is not None and ooms_after is not None
                     and ooms_after > ooms_before)
    hit_limit = bool(job.memory) and sig in _SIGNALS_OF_OOM and any(w in tail for w in _OOM_WORDS)
    if killed_by_oom or hit_limit:
        outcome.error_type = "out_of_memory"
        why = "the OOM killer" if killed_by_oom else f"its memory limit ({job.memory / 2**20:.0f} MiB)"
        outcome.error_message = f"{name} ran out of memory: killed by {why}" + tail
    else:
        outcome.error_type = "signal"
        outcome.error_message = (f"{name} was killed by signal {signal.Signals(sig).name} "
                                 f"({signal.strsignal(sig)})" + tail)


def fill_usage(outcome: StepOutcome, usage: Usage, end: Exit) -> None:
    cpu, read, written = usage.totals()
    reported = outcome.extra.pop("io", None)
    if reported and outcome.pid is not None:  # the child's own final counters beat the last sample
        old_read, old_written = usage.io.get(outcome.pid, (0, 0))
        read = (read or 0) - old_read + max(old_read, reported[0])
        written = (written or 0) - old_written + max(old_written, reported[1])
    outcome.cpu_time = max(x for x in (cpu, end.cpu, 0.0) if x is not None)
    outcome.peak_rss = max(usage.peak_rss, end.maxrss or 0) or None
    outcome.read_bytes, outcome.write_bytes = read, written
