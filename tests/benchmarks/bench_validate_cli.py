"""``pipetest validate`` of the demo as a fresh process, against ``pipetest plan`` of the same file.

``plan`` reads and plans the pipeline and reads no suite; ``validate`` also checks the demo's five
suite files (about 90 expectations). The ratio is what checking suites adds to a command that starts
an interpreter and loads the pipeline: nothing much, once suites are checked without importing
Great Expectations (about 3 s).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from harness import Row, compare, median_ms


def _command(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"pipetest {' '.join(args)} failed: {done.stderr}")


def run(quick: bool = False) -> list[Row]:
    from pipetest_nb.demo import copy_demo

    pipeline = str(copy_demo(Path(tempfile.mkdtemp())) / "pipeline.yaml")
    repeat = 1 if quick else 7
    _command("plan", pipeline)  # warm the file cache and the bytecode first
    plan = median_ms(lambda: _command("plan", pipeline), repeat)
    validate = median_ms(lambda: _command("validate", pipeline), repeat)
    rows = compare("pipetest validate (fresh process)", "pipetest plan of the demo", plan,
                   {"pipetest validate of the demo (5 suites)": validate})
    rows[-1].figure, rows[-1].today, rows[-1].target = ("`pipetest validate` of the demo / `pipetest plan` without "
                                                        "suites", "~2x (3.6 s)", "<= 1.2x")
    return rows
