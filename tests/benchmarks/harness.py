"""A small benchmark harness: medians of repeated runs, ratios against a baseline timed in the same run.

Machines here are noisy, so no benchmark asserts an absolute time; each prints what it measured
next to a baseline measured seconds earlier on the same machine.
"""

from __future__ import annotations

import re
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
    #: Set for the figures a target is held against: ``figure`` names it in the targets table,
    #: ``today`` is the figure measured before the work that set the target, ``target`` the bar
    #: (``"<= 1.25x"`` for a ratio, ``"<= 15 ms"`` for ``median_ms``), ``new`` overrides the figure shown.
    figure: str = ""
    today: str = ""
    target: str = ""
    new: str = ""

    def shown(self) -> str:
        """The figure held against the target: ``new``, else the ratio, else the median."""
        if self.new:
            return self.new
        return f"{self.ratio:.2f}x" if self.ratio is not None else f"{self.median_ms:.3f} ms"

    def met(self) -> str:
        """yes / no when the target is ``<= N`` of the shown figure's unit, else empty."""
        match = re.fullmatch(r"<=\s*([0-9.]+)\s*(x|ms)", self.target.strip())
        figure = re.match(r"\+?([0-9.]+)", self.shown())
        if not match or not figure:
            return ""
        return "yes" if float(figure.group(1)) <= float(match.group(1)) else "no"


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
    """Every row, then the figures that have a target: before, now, target, met."""
    _print_cells(("benchmark", "case", "median ms", "vs", "ratio", "note"),
                 [(r.benchmark, r.case, f"{r.median_ms:.3f}", r.baseline,
                   "" if r.ratio is None else f"{r.ratio:.2f}x", r.note) for r in rows])
    targeted = [r for r in rows if r.figure]
    if targeted:
        print()
        _print_cells(("figure", "before", "now", "target", "met"),
                     [(r.figure, r.today, r.shown(), r.target, r.met()) for r in targeted])


def _print_cells(headers: tuple[str, ...], body: list[tuple]) -> None:
    cells = [headers] + body
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
