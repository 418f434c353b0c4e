"""Each benchmark runs once on tiny sizes, so none of them rots between ``make bench`` runs."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

BENCHMARKS = sorted(p.stem for p in HERE.glob("bench_*.py"))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_on_tiny_sizes(name):
    rows = importlib.import_module(name).run(quick=True)
    # a figure that is a difference of two medians (recording = run minus launcher) may be below 0 at tiny sizes
    assert rows and all(math.isfinite(r.median_ms) for r in rows)
