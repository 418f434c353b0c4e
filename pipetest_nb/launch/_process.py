"""What the launchers that run a step in its own process share: pipes, logs, metrics, kill, verdict.

A step process is the leader of its own process group and the subreaper of its tree (``_tree``), so
a timeout or ``stop()`` kills it with everything it started (pools, grandchildren, daemons that
called ``setsid``). Its stdout/stderr come back through pipes into capped logs; a third pipe carries
the child's verdict (a JSON ``ScriptResult``); on a fourth the child waits, before it does any work,
until the engine has recorded its pid and process group (``on_start``), so that no step can run
without a record that lets a later runner kill it. A light thread samples the tree with psutil
(every 50 ms for the first two seconds, then every 250 ms, or 100 ms under a memory limit) and
enforces the deadline and ``memory:``, which bounds the private memory of the whole tree, summed;
the exit status and ``wait4`` resource usage fill in what the samples missed.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import threading
import time
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.launch._logs import LogSink, stderr_tail
from pipetest_nb.launch.base import Launcher, OutputCallback, StartCallback, StepJob, StepOutcome
from pipetest_nb.launch.script import script_not_found

from . import _shutdown

_SIGNALS_OF_OOM = (signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS)
_OOM_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")


def kill_group(pgid: int | None, pid: int | None) -> None:
    """SIGKILL a whole process group, or the lone process if its group does not exist (yet)."""
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            pass
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_tree(pid: int | None, pgid: int | None, seen: dict[int, Any] | None = None) -> None:
    """SIGKILL a step's whole tree: its descendants (also those that left its group), its group, and
    the processes seen in it earlier (``seen``: pid -> psutil.Process, checked against pid reuse).

    The leader is stopped first, so it forks nothing new; since it is a subreaper, the orphans of the
    descendants killed meanwhile stay below it, and each round finds what the last one missed."""
    import psutil

    seen = {} if seen is None else seen
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGSTOP)
        for _ in range(10):
            try:
                found = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                break
            new = [proc for proc in found if proc.pid not in seen]
            if not new:
                break
            for proc in new:
                seen[proc.pid] = proc
                with contextlib.suppress(psutil.Error):
                    proc.kill()
    kill_group(pgid, pid)
    kill_seen(seen)


def kill_seen(seen: dict[int, Any]) -> None:
    """SIGKILL the processes of a step's tree that are still running (and still the same processes)."""
    import psutil

    for proc in list(seen.values()):  # the sampler may add to it meanwhile
        with contextlib.suppress(psutil.Error):
            if proc.is_running():
                proc.kill()


def private_memory(pid: int) -> int | None:
    """Bytes of memory only this process holds (``Private_*`` of ``/proc/<pid>/smaps_rollup``).

    What a step adds, not what it shares: a pool step forked from a worker that holds pandas is not
    charged for the worker's pages, nor a multiprocessing child for its parent's."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith(b"Private_"):
            total += int(line.split()[1]) * 1024
    return total


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


class Running:
    """A step being launched: what ``stop()`` and the deadline need to kill it, and why it was."""

    def __init__(self, step: str):
        self.step = step
        self.pid: int | None = None
        self.pgid: int | None = None
        self.reason: str | None = None  # "timeout" | "interrupted" | "out_of_memory", once killed on purpose
        self.memory: int | None = None  # bytes the tree held when it was killed for its memory limit
        self.seen: dict[int, Any] = {}  # pid -> psutil.Process of every descendant sampled or killed
        self._done = False
        self._lock = threading.Lock()

    def attach(self, pid: int, pgid: int | None) -> None:
        with self._lock:
            self.pid, self.pgid = pid, pgid
            if self.reason is not None:
                kill_tree(pid, pgid, self.seen)

    def kill(self, reason: str) -> bool:
        with self._lock:
            if self._done:
                return False
            if self.reason is None:
                self.reason = reason
            if self.pid is not None:
                kill_tree(self.pid, self.pgid, self.seen)
            return True

    def finish(self) -> None:
        with self._lock:
            self._done = True


class Pump(threading.Thread):
    """Copies the child's pipes into their sinks until every pipe closes (or a grace period ends)."""

    def __init__(self, targets: dict[int, Any]):
        super().__init__(name="pipetest-pump", daemon=True)
        self._targets = targets  # fd -> callable(bytes)
        self._selector = selectors.DefaultSelector()
        for fd in targets:
            os.set_blocking(fd, False)
            self._selector.register(fd, selectors.EVENT_READ)
        self._until: float | None = None

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # finish() closed the pipes under us
            self._copy()

    def _copy(self) -> None:
        open_fds = set(self._targets)
        while open_fds:
            if self._until is not None and time.monotonic() > self._until:
                break
            for key, _ in self._selector.select(timeout=0.1):
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    self._targets[key.fd](data)
                else:
                    self._selector.unregister(key.fd)
                    open_fds.discard(key.fd)

    def finish(self, grace: float = 1.0) -> None:
        """Wait for the pipes to drain; a grandchild that escaped the group may hold them open."""
        self._until = time.monotonic() + grace
        self.join(grace + 1.0)
        self._selector.close()
        for fd in self._targets:
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class Usage:
    """Resource use of a step process and its children, from samples and from ``wait4``."""

    peak_rss: int = 0
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> last seen user+system seconds
    io: dict[int, tuple[int, int]] = field(default_factory=dict)  # pid -> last seen (read, written)

    def totals(self) -> tuple[float | None, int | None, int | None]:
        cpu = sum(self.cpu.values()) if self.cpu else None
        if not self.io:
            return cpu, None, None
        return cpu, sum(r for r, _ in self.io.values()), sum(w for _, w in self.io.values())


#: An in-process step is first sampled this long after it starts: scanning the process table for its
#: children costs milliseconds, more than a short step itself.
FIRST_SAMPLE_DELAY = 0.05


class Sampler(threading.Thread):
    """Samples the step's process tree and enforces the deadline and the stop file."""

    def __init__(self, pid: int, running: Running | None, deadline: float | None,
                 stop_file: str | None = None, baseline: bool = False, memory: int | None = None):
        super().__init__(name="pipetest-sampler", daemon=True)
        self.pid = pid
        self.usage = Usage()
        self._running = running
        self._deadline = deadline
        self._stop_file = stop_file
        self._memory = memory if running is not None else None
        self._halt = threading.Event()
        self._began = time.monotonic()
        self._base: dict[int, tuple[float, int, int]] = {}
        if baseline:  # the step runs in an existing process: count only what happens from now on
            self._base[pid] = self._read(pid) or (0.0, 0, 0)

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            root = None
        if self._base and self._halt.wait(FIRST_SAMPLE_DELAY):
            return  # an in-process step this short is measured by stop() alone
        while True:
            if root is not None:
                try:
                    self._sample(root)
                except Exception:  # noqa: BLE001 - metrics are best effort; the deadline is not
                    root = None
            now = time.time()
            if self._running is not None:
                if self._deadline is not None and now >= self._deadline:
                    self._running.kill("timeout")
                if self._stop_file is not None and os.path.exists(self._stop_file):
                    self._running.kill("interrupted")
            interval = 0.05 if time.monotonic() - self._began < 2.0 else 0.1 if self._memory else 0.25
            if self._deadline is not None:
                interval = max(0.005, min(interval, self._deadline - now))
            if self._halt.wait(interval):
                return

    def _read(self, pid: int) -> tuple[float, int, int] | None:
        import psutil

        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                times = proc.cpu_times()
                counters = proc.io_counters()
        except (psutil.Error, AttributeError):
            return None
        read = getattr(counters, "read_chars", counters.read_bytes)
        written = getattr(counters, "write_chars", counters.write_bytes)
        return times.user + times.system, read, written

    def _sample(self, root: Any) -> None:
        import psutil

        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        if self._running is not None:  # the launcher kills these too when the step ends
            for proc in procs[1:]:
                self._running.seen.setdefault(proc.pid, proc)
        if self._memory:
            self._enforce_memory(procs)
        rss = 0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    counters = proc.io_counters() if hasattr(proc, "io_counters") else None
            except psutil.Error:
                continue
            base_cpu, base_read, base_written = self._base.get(proc.pid, (0.0, 0, 0))
            self.usage.cpu[proc.pid] = times.user + times.system - base_cpu
            if counters is not None:
                read = getattr(counters, "read_chars", counters.read_bytes) - base_read
                written = getattr(counters, "write_chars", counters.write_bytes) - base_written
                self.usage.io[proc.pid] = (read, written)
        self.usage.peak_rss = max(self.usage.peak_rss, rss)

    def _enforce_memory(self, procs: list[Any]) -> None:
        held = 0
        for proc in procs:
            private = private_memory(proc.pid)
            if private is None:
                try:
                    private = proc.memory_info().rss
                except Exception:  # noqa: BLE001 - gone since it was listed
                    continue
            held += private
        if held > self._memory and self._running is not None:  # type: ignore[operator]
            self._running.memory = max(self._running.memory or 0, held)
            self._running.kill("out_of_memory")

    def stop(self) -> Usage:
        """Stop sampling; a step that ended before the first sample gets one cheap sample of its process."""
        self._halt.set()
        if self.is_alive():
            self.join(2.0)
        if not self.usage.cpu and self._base:
            self._sample_process_only()
        return self.usage

    def _sample_process_only(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.pid)
            with proc.oneshot():
                rss = proc.memory_info().rss
        except psutil.Error:
            return
        measured = self._read(self.pid)
        if measured is not None:
            base_cpu, base_read, base_written = self._base.get(self.pid, (0.0, 0, 0))
            self.usage.cpu[self.pid] = measured[0] - base_cpu
            self.usage.io[self.pid] = (measured[1] - base_read, measured[2] - base_written)
        self.usage.peak_rss = max(self.usage.peak_rss, rss)


@dataclass
class Exit:
    """How a step process ended: its ``wait`` status and what ``wait4`` reported."""

    status: int | None  # None when the process could not be waited for (its worker died)
    cpu: float | None = None
    maxrss: int | None = None  # bytes
    note: str = ""


class ProcessLauncher(Launcher):
    """Runs each step in a process of its own; subclasses say how to start it and wait for it."""

    def __init__(self) -> None:
        self._running: dict[str, Running] = {}
        self._lock = threading.Lock()
        _shutdown.watch_launcher(self)

    @abstractmethod
    def _start(self, job: StepJob, fds: tuple[int, int, int, int], deadline: float | None) -> Any:
        """Start the step process with stdout, stderr, the result pipe and the start pipe (the
        child's ``run_child`` waits on it) on ``fds``; return a handle with ``pid`` and ``pgid``."""

    @abstractmethod
    def _wait(self, handle: Any) -> Exit:
        """Block until the step process has ended."""

    def launch(self, job: StepJob, on_start: StartCallback | None = None,
               on_output: OutputCallback | None = None) -> StepOutcome:
        return self._launch(job, on_start, on_output)

    def stop(self, step: str) -> bool:
        with self._lock:
            running = self._running.get(step)
        return running is not None and running.kill("interrupted")

    def stop_all(self) -> None:
        """Kill every step this launcher runs (this process is exiting or was told to stop)."""
        with self._lock:
            running = list(self._running.values())
        for step in running:
            step.kill("interrupted")

    def _launch(self, job: StepJob, on_start: StartCallback | None, on_output: OutputCallback | None,
                stop_file: str | None = None) -> StepOutcome:
        started_at = time.time()
        t0 = time.perf_counter()
        Path(job.step_dir).mkdir(parents=True, exist_ok=True)
        out = LogSink(Path(job.step_dir) / "stdout.log", job.log_limit, "stdout", on_output, job.secrets)
        err = LogSink(Path(job.step_dir) / "stderr.log", job.log_limit, "stderr", on_output, job.secrets)
        if not os.path.isfile(job.script):
            out.close()
            err.close()
            return _outcome_from_result(script_not_found(job).to_dict(), started_at, time.perf_counter() - t0)
        running = Running(job.step)
        with self._lock:
            self._running[job.step] = running
        if _shutdown.stopping.is_set():  # killed as soon as it exists, before it may run
            running.kill("interrupted")
        deadline = started_at + job.timeout if job.timeout else None
        ooms = oom_kills()
        result = bytearray()
        (out_r, out_w), (err_r, err_w), (res_r, res_w) = os.pipe(), os.pipe(), os.pipe()
        go_r, go_w = os.pipe()
        pump = Pump({out_r: out.write, err_r: err.write, res_r: result.extend})
        pump.start()
        sampler: Sampler | None = None
        handle = None
        try:
            try:
                handle = self._start(job, (out_w, err_w, res_w, go_r), deadline)
            finally:
                for fd in (out_w, err_w, res_w, go_r):
                    os.close(fd)
            running.attach(handle.pid, handle.pgid)
            if on_start is not None:
                on_start(handle.pid, handle.pgid)  # recorded before the step does anything
            _release(go_w)
            go_w = None
            deadline = getattr(handle, "deadline", None) or deadline
            sampler = Sampler(handle.pid, running, deadline, stop_file, memory=job.memory)
            sampler.start()
            end = self._wait(handle)
        except BaseException:
            if handle is not None:
                kill_tree(handle.pid, handle.pgid, running.seen)
                with contextlib.suppress(ChildProcessError):  # reaped already when the interrupt came
                    self._wait(handle)
            raise
        finally:
            if go_w is not None:  # closed unreleased: the child exits without running the script
                os.close(go_w)
            running.finish()
            if handle is not None:
                kill_group(handle.pgid, None)  # whatever the step left behind in its group
                kill_seen(running.seen)  # and what it started that left the group (setsid)
            usage = sampler.stop() if sampler is not None else Usage()
            pump.finish()
            out.close()
            err.close()
            with self._lock:
                if self._running.get(job.step) is running:
                    del self._running[job.step]
        wall = time.perf_counter() - t0
        outcome = _verdict(job, bytes(result), end, running, err, ooms)
        outcome.started_at, outcome.finished_at, outcome.wall_time = started_at, started_at + wall, wall
        outcome.pid, outcome.pgid = handle.pid, handle.pgid
        _fill_usage(outcome, usage, end)
        return outcome


def _release(go_w: int) -> None:
    """Let the child start the script (it waits for this byte), then close our end of the pipe."""
    try:
        os.write(go_w, b"1")
    except OSError:  # the child is gone already; its exit status tells why
        pass
    finally:
        os.close(go_w)


def _outcome_from_result(result: dict[str, Any], started_at: float, wall: float) -> StepOutcome:
    outcome = StepOutcome(status=result["status"], error_type=result["error_type"],
                          error_message=result["error_message"], exception_type=result["exception_type"],
                          traceback=result["traceback"], returncode=result["returncode"],
                          started_at=started_at, finished_at=started_at + wall, wall_time=wall)
    outcome.extra["script_time"] = result.get("script_time", 0.0)
    return outcome


def _verdict(job: StepJob, raw: bytes, end: Exit, running: Running, err: LogSink,
             ooms_before: int | None) -> StepOutcome:
    """Decide what happened from the kill reason, the child's own report and the exit status."""
    name = Path(job.script).name
    reason = running.reason
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
    if reason == "timeout" and (result is None or result["status"] != "succeeded"):
        outcome.error_type = "timeout"
        outcome.error_message = (f"{name} timed out after {job.timeout:g} s; its process group was killed"
                                 + tail)
    elif reason == "out_of_memory" and (result is None or result["status"] != "succeeded"):
        outcome.error_type = "out_of_memory"
        held = (running.memory or 0) / 2**20
        outcome.error_message = (f"{name} ran out of memory: its processes held {held:.0f} MiB together, over "
                                 f"its memory limit {(job.memory or 0) / 2**20:.0f} MiB (the sum over the "
                                 "step's whole process tree); its process tree was killed" + tail)
    elif reason == "interrupted" and (result is None or result["status"] != "succeeded"):
        outcome.status = outcome.error_type = "interrupted"
        outcome.error_message = f"{name} was stopped on request; its process group was killed"
    elif result is not None:
        outcome.status = result["status"]
        outcome.error_type = result["error_type"]
        outcome.error_message = result["error_message"]
        outcome.exception_type = result["exception_type"]
        outcome.traceback = result["traceback"]
        if outcome.error_type == "exit_code":
            outcome.error_message = (outcome.error_message or "") + tail
    elif end.status is None:
        outcome.status = outcome.error_type = "interrupted"
        outcome.error_message = f"{name}: {end.note or 'the step process was lost'}"
    elif sig is not None:
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
    elif code:
        outcome.error_type = "exit_code"
        outcome.error_message = f"{name} exited with code {code}" + tail
    else:
        outcome.status = "succeeded"  # os._exit(0): success, as for ``python script.py``
    return outcome


def _fill_usage(outcome: StepOutcome, usage: Usage, end: Exit) -> None:
    cpu, read, written = usage.totals()
    reported = outcome.extra.pop("io", None)
    if reported and outcome.pid is not None:  # the child's own final counters beat the last sample
        old_read, old_written = usage.io.get(outcome.pid, (0, 0))
        read = (read or 0) - old_read + max(old_read, reported[0])
        written = (written or 0) - old_written + max(old_written, reported[1])
    outcome.cpu_time = max(x for x in (cpu, end.cpu, 0.0) if x is not None)
    outcome.peak_rss = max(usage.peak_rss, end.maxrss or 0) or None
    outcome.read_bytes, outcome.write_bytes = read, written
