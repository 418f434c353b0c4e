"""Each benchmark runs once on tiny sizes, so none of them rots between ``make bench`` runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

BENCHMARKS = sorted(p.stem for p in HERE.glob("bench_*.py"))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_on_tiny_sizes(name):
    rows = importlib.import_module(name).run(quick=True)
    assert rows and all(r.median_ms >= 0 for r in rows)
