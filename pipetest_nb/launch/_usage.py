"""What a step process uses, sampled while it runs: CPU, private memory of its whole tree, I/O.

A light thread samples the tree with psutil (every 50 ms for the first two seconds, then every
250 ms, or 100 ms under a memory limit) and enforces the deadline and ``memory:``, which bounds the
private memory of the whole tree, summed. In-process steps are measured by their launcher instead.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pipetest_nb.launch._running import Running


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


class Sampler(threading.Thread):
    """Samples the step's process tree and enforces the deadline and the stop file."""

    def __init__(self, pid: int, running: Running | None, deadline: float | None,
                 stop_file: str | None = None, memory: int | None = None, first_sample: float = 0.0):
        super().__init__(name="pipetest-sampler", daemon=True)
        self.pid = pid
        self.usage = Usage()
        self._running = running
        self._deadline = deadline
        self._stop_file = stop_file
        self._memory = memory if running is not None else None
        self._halt = threading.Event()
        self._began = time.monotonic()
        self._first_sample = first_sample  # seconds before the first sample: a short step gets none

    def run(self) -> None:
        if self._first_sample:  # before anything else: a step that ends first costs no psutil work at all
            wait = self._first_sample if self._deadline is None else min(self._first_sample,
                                                                          self._deadline - time.time())
            if self._halt.wait(max(0.005, wait)):
                return
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            root = None
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
            self.usage.cpu[proc.pid] = times.user + times.system
            if counters is not None:
                read = getattr(counters, "read_chars", counters.read_bytes)
                written = getattr(counters, "write_chars", counters.write_bytes)
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
        """Stop sampling; what was measured."""
        self._halt.set()
        if self.is_alive():
            self.join(2.0)
        return self.usage
