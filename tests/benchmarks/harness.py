"""A small benchmark harness: medians of repeated runs, ratios against a baseline timed in the same run.

Machines here are noisy, so no benchmark asserts an absolute time; each prints what it measured
next to a baseline measured seconds earlier on the same machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    benchmark: str
    case: str
    median_ms: float
    baseline: str = ""
    ratio: float | None = None
    note: str = ""


def median_ms(func: Callable[[], object], repeat: int = 5, setup: Callable[[], object] | None = None) -> float:
    """Median wall time of ``func`` in milliseconds over ``repeat`` runs (``setup`` is not timed)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def compare(benchmark: str, baseline_case: str, baseline_ms: float, cases: dict[str, float],
            note: str = "") -> list[Row]:
    """Rows for a baseline and the cases measured against it."""
    rows = [Row(benchmark, baseline_case, baseline_ms, "(baseline)", 1.0)]
    for case, ms in cases.items():
        rows.append(Row(benchmark, case, ms, baseline_case, ms / baseline_ms if baseline_ms else None, note))
    return rows


def print_table(rows: list[Row]) -> None:
    headers = ("benchmark", "case", "median ms", "vs", "ratio", "note")
    cells = [headers] + [(r.benchmark, r.case, f"{r.median_ms:.3f}", r.baseline,
                          "" if r.ratio is None else f"{r.ratio:.2f}x", r.note) for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
