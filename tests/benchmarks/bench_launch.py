"""Cost of running one step in each isolation mode, on a chain of trivial parquet-in/parquet-out scripts.

Baselines, timed in the same run: calling each script's ``main()`` directly in a loop (the work
itself), and ``python script.py`` per step (what a shell loop would cost). Each launcher runs the
same chain; the figure is milliseconds per step (the median over the chain's steps).
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import Row, compare

SCRIPT = '''
import sys
from pathlib import Path

import pandas as pd


def main(input_paths, output_paths, environ_vars, job_args):
    frame = pd.read_parquet(Path(input_paths["DATA"]) / "data.parquet")
    frame["v"] = frame["v"] + 1
    frame.to_parquet(Path(output_paths["out"]) / "data.parquet")


if __name__ == "__main__":
    main({"DATA": sys.argv[1]}, {"out": sys.argv[2]}, {}, None)
'''


def _chain(root: Path, steps: int) -> list[tuple[Path, Path, Path]]:
    """(script, input folder, output folder) per step; step i reads what step i-1 wrote."""
    import pandas as pd

    (root / "raw").mkdir(parents=True)
    pd.DataFrame({"id": range(1000), "v": 0.5}).to_parquet(root / "raw" / "data.parquet")
    chain, previous = [], root / "raw"
    for i in range(steps):
        script = root / "scripts" / f"step_{i:02d}.py"
        script.parent.mkdir(exist_ok=True)
        script.write_text(SCRIPT)
        out = root / "runs" / f"step_{i:02d}" / "outputs" / "out"
        chain.append((script, previous, out))
        previous = out
    return chain


def load_modules(chain: list[tuple[Path, Path, Path]]) -> list:
    """Each script of the chain imported under its own name, for calling ``main()`` directly."""
    modules = []
    for script, _, _ in chain:
        spec = importlib.util.spec_from_file_location(script.stem, script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def _per_step(chain: list, run_one: Callable[[int, Path, Path, Path], object]) -> float:
    """Median milliseconds per step over the chain (fresh output folders each time)."""
    times = []
    for i, (script, source, out) in enumerate(chain):
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        run_one(i, script, source, out)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(quick: bool = False) -> list[Row]:
    from pipetest_nb.launch import StepJob, get_launcher

    steps = 3 if quick else 50
    root = Path(tempfile.mkdtemp(prefix="bench_launch_"))
    chain = _chain(root, steps)

    modules = load_modules(chain)
    direct = _per_step(chain, lambda i, s, src, out: modules[i].main({"DATA": str(src)}, {"out": str(out)}, {}, None))
    python = _per_step(chain, lambda i, s, src, out: subprocess.run([sys.executable, str(s), str(src), str(out)],
                                                                    check=True))

    def job(i: int, script: Path, source: Path, out: Path) -> StepJob:
        return StepJob(step=script.stem, script=str(script), mode="main", input_paths={"DATA": str(source)},
                       output_paths={"out": str(out)}, environ_vars={}, job_args=None,
                       step_dir=str(out.parent.parent), workdir=str(root))

    cases: dict[str, float] = {"python script.py per step": python}
    startup = 0.0
    for isolation in ("inprocess", "pool", "subprocess"):
        with get_launcher(isolation) as launcher:
            if isolation == "pool":  # start the worker outside the timed chain, and report it apart
                start = time.perf_counter()
                launcher.launch(job(0, *chain[0]))
                startup = (time.perf_counter() - start) * 1000

            def run_one(i: int, script: Path, source: Path, out: Path, launcher=launcher) -> None:
                outcome = launcher.launch(job(i, script, source, out))
                assert outcome.succeeded, outcome.error_message

            cases[f"launcher {isolation}"] = _per_step(chain, run_one)
    rows = compare(f"launch: {steps}-step parquet chain, ms per step", "main() called directly", direct, cases)
    over = cases["launcher pool"] - cases["launcher inprocess"]
    rows[-2].note = f"+{over:.1f} ms/step over inprocess; first step (worker start) {startup:.0f} ms"
    return rows
