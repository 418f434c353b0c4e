"""The first Great Expectations edge check of a fresh process: GX imported in the background while
the step runs, or (as before) when the check starts (``warmup.prepare`` turned off), against a
process where GX was set up before the run (a warm kernel).

One step in a subprocess that works for 2 s, then a suite of one expectation the native evaluator
does not take; timed in the process from creating the ``Session`` to the step's result, check included.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from harness import Row, compare

STEP = """\
import time
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    time.sleep(2)
    out = Path(output_paths["out"])
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"day": ["2024-01-02", "2024-01-03"]}).to_parquet(out / "part.parquet")
"""
ON_GX = {"type": "expect_column_values_to_match_strftime_format",
         "kwargs": {"column": "day", "strftime_format": "%Y-%m-%d"}}
TIMED = """
import sys, time
if sys.argv[1] == "off":
    import pipetest_nb.validation.expectations.warmup as warmup
    warmup.prepare = lambda *args, **kwargs: None
if sys.argv[1] == "warm":
    from pipetest_nb.validation.expectations.gx import GX
    GX.get()
from pipetest_nb import Session
start = time.perf_counter()
session = Session("pipeline.yaml", workspace="ws", cache=False, progress=False)
result = session.step()
assert result.status == "succeeded" and result.edge_checks[0]["statistics"]["engines"]["gx"] == 1, result
print((time.perf_counter() - start) * 1000)
"""


def _folder() -> Path:
    folder = Path(tempfile.mkdtemp())
    (folder / "a.py").write_text(STEP)
    (folder / "pipeline.yaml").write_text("name: warmup\nsteps:\n  a: {script: a.py, outputs: {out: {}}}\n")
    (folder / "expectations").mkdir()
    (folder / "expectations" / "a.out.json").write_text(json.dumps({"expectations": [ON_GX]}))
    return folder


def _timed(folder: Path, mode: str) -> float:
    """Milliseconds from creating the Session to the step's result, as the fresh process measured them."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(TIMED), mode], capture_output=True, text=True,
                          cwd=folder, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return float(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Row]:
    folder = _folder()
    repeat = 1 if quick else 3
    times: dict[str, list[float]] = {"warm": [], "on": [], "off": []}
    for _ in range(repeat):  # alternated, so that a change in the machine's load hits each alike
        for mode, found in times.items():
            found.append(_timed(folder, mode))
    warm, on, off = (statistics.median(times[mode]) for mode in ("warm", "on", "off"))
    return compare("first GX edge check", "GX set up before the run (warm kernel)", warm,
                   {"fresh process, GX imported in the background while the step runs": on,
                    "fresh process, GX imported when the check starts (before)": off},
                   note="a 2 s subprocess step, then one expectation on GX")
