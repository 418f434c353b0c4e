"""Cost of running one step in each isolation mode, and of the warm pool on scripts that import scikit-learn.

1. A chain of trivial parquet-in/parquet-out scripts. Baselines, timed in the same run: calling each
   script's ``main()`` directly in a loop (the work itself), and ``python script.py`` per step (what a
   shell loop would cost). Each launcher runs the same chain; the figure is milliseconds per step
   (the median over the chain's steps), and the pool's extra milliseconds over ``inprocess``: the two
   run each step side by side, so that both see the same load, and the figure is the median of the
   paired differences.
2. A chain of scripts that import scikit-learn at module level and scale a table, run by the engine in
   the pool with no ``preload:`` written, against calling their ``main()``s directly (timed before and
   after the run): the steps' recorded durations (the workers' start-up is its own event, in the note).
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


def _times(chain: list, run_one: Callable[[int, Path, Path, Path], object]) -> list[float]:
    """Milliseconds of each step of the chain (fresh output folders each time)."""
    times = []
    for i, (script, source, out) in enumerate(chain):
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        run_one(i, script, source, out)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _per_step(chain: list, run_one: Callable[[int, Path, Path, Path], object]) -> float:
    """Median milliseconds per step over the chain."""
    return statistics.median(_times(chain, run_one))


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
    with get_launcher("inprocess") as inprocess, get_launcher("pool") as pool:
        start = time.perf_counter()  # start the worker outside the timed chain, and report it apart
        pool.launch(job(0, *chain[0]))
        startup = (time.perf_counter() - start) * 1000
        times: dict[str, list[float]] = {"inprocess": [], "pool": []}
        for i, (script, source, out) in enumerate(chain):  # side by side, step by step: under the same load
            out.mkdir(parents=True, exist_ok=True)
            for name, launcher in (("inprocess", inprocess), ("pool", pool)):
                start = time.perf_counter()
                outcome = launcher.launch(job(i, script, source, out))
                times[name].append((time.perf_counter() - start) * 1000)
                assert outcome.succeeded, outcome.error_message
    cases["launcher inprocess"] = statistics.median(times["inprocess"])
    cases["launcher pool"] = statistics.median(times["pool"])
    over = statistics.median(p - q for p, q in zip(times["pool"], times["inprocess"], strict=True))
    with get_launcher("subprocess") as launcher:
        def run_one(i: int, script: Path, source: Path, out: Path) -> None:
            outcome = launcher.launch(job(i, script, source, out))
            assert outcome.succeeded, outcome.error_message

        cases["launcher subprocess"] = _per_step(chain, run_one)
    rows = compare(f"launch: {steps}-step parquet chain, ms per step", "main() called directly", direct, cases)
    rows[-2].note = (f"{over:+.1f} ms/step over inprocess (median of the paired steps); worker start "
                     f"{startup:.0f} ms, apart")
    rows[-2].figure, rows[-2].today, rows[-2].target = "pool step / inprocess step, extra ms per step", "+40 ms", \
        "<= 15 ms"
    rows[-2].new = f"{over:+.1f} ms"
    return rows + sklearn_chain(quick)


SKLEARN_SCRIPT = '''
from pathlib import Path

import pandas as pd
import sklearn
from sklearn.preprocessing import StandardScaler


def main(input_paths, output_paths, environ_vars, job_args):
    frame = pd.read_parquet(Path(input_paths["DATA"]) / "data.parquet")
    columns = [c for c in frame.columns if c.startswith("x")]
    frame[columns] = StandardScaler().fit_transform(frame[columns])
    frame.to_parquet(Path(output_paths["out"]) / "data.parquet")
'''


def sklearn_chain(quick: bool = False) -> list[Row]:
    """Steps that import scikit-learn, in the engine's warm pool with no ``preload:``, against their ``main()``s."""
    import pandas as pd
    import yaml

    from pipetest_nb import PipelineDAG
    from pipetest_nb.engine.options import RunOptions
    from pipetest_nb.engine.start import start_run

    steps, rows = (3, 10_000) if quick else (20, 100_000)
    root = Path(tempfile.mkdtemp(prefix="bench_sklearn_"))
    (root / "raw").mkdir()
    pd.DataFrame({"id": range(rows), **{f"x{i}": [float(j % 97) for j in range(rows)] for i in range(5)}}
                 ).to_parquet(root / "raw" / "data.parquet")
    spec: dict = {"name": "sklearn_chain", "defaults": {"isolation": "pool"}, "steps": {}}
    chain = []
    for i in range(steps):
        script = root / "scripts" / f"scale_{i:02d}.py"
        script.parent.mkdir(exist_ok=True)
        script.write_text(SKLEARN_SCRIPT)
        inputs = {"DATA": f"scale_{i - 1:02d}.out"} if i else {"DATA": str(root / "raw")}
        spec["steps"][f"scale_{i:02d}"] = {"script": str(script), "inputs": inputs, "outputs": {"out": {}}}
        chain.append((script, root / "raw" if i == 0 else root / "direct" / f"{i - 1:02d}", root / "direct" / f"{i:02d}"))
    (root / "pipeline.yaml").write_text(yaml.safe_dump(spec))

    modules = load_modules(chain)

    def call(i: int, script: Path, source: Path, out: Path) -> None:
        modules[i].main({"DATA": str(source)}, {"out": str(out)}, {}, None)

    before = _times(chain, call)
    run = start_run(PipelineDAG.from_yaml(root / "pipeline.yaml"),
                    RunOptions(workspace=root / "ws", cache=False, checks=False))
    try:
        run.run()
    finally:
        run.close()
    direct = statistics.median(before + _times(chain, call))  # timed before and after the run: the same load
    record = run.record
    durations = [record["steps"][name]["metrics"]["duration"] * 1000 for name in spec["steps"]]
    assert all(record["steps"][name]["status"] == "succeeded" for name in spec["steps"]), record.get("root_failure")
    starts = record.get("worker_starts") or [{}]
    note = (f"no preload: written; workers started apart: {starts[0].get('seconds', 0) * 1000:.0f} ms, "
            f"preloaded {', '.join(starts[0].get('preloaded') or []) or 'nothing new (already warm)'}")
    out = compare(f"launch: {steps}-step scikit-learn chain ({rows:,} rows x 5 scaled), ms per step",
                  "main() called directly", direct,
                  {"engine, isolation pool (step durations)": statistics.median(durations)}, note=note)
    out[-1].figure, out[-1].today, out[-1].target = ("a chain of sklearn-importing scripts, pool / direct main()",
                                                     "2.96x", "<= 1.3x")
    return out
