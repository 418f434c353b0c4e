"""What pipetest adds on top of the scripts' own work, end to end, against baselines timed in the same run.

1. A chain of trivial parquet-in/parquet-out ``main`` scripts: calling each ``main()`` in a loop (the
   floor), ``python script.py`` per step (a shell loop), pipetest's executor in each isolation mode,
   and Kedro's ``SequentialRunner`` on the same functions as nodes (when Kedro is installed).
2. The demo pipeline in the warm pool, in-process and in fresh subprocesses.
3. 500 and 2,000 no-op steps in-process: the per-step cost of recording and events, i.e. a run through
   ``PipelineRun`` minus the same steps through the in-process launcher alone.
4. ``import pipetest_nb`` against ``import pandas`` in fresh interpreters.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_launch import _chain, load_modules
from harness import Row, compare, median_ms


def _chain_pipeline(root: Path, steps: int) -> Path:
    """The bench_launch chain as a pipeline file: step i reads what step i-1 wrote."""
    chain = _chain(root, steps)
    spec: dict = {"name": "chain", "steps": {}}
    for i, (script, _, _) in enumerate(chain):
        inputs = {"DATA": f"step_{i - 1:02d}.out"} if i else {"DATA": str(root / "raw")}
        spec["steps"][f"step_{i:02d}"] = {"script": str(script), "inputs": inputs, "outputs": {"out": {}}}
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _executor_ms(pipeline: Path, isolation: str, workspace: Path, checks: bool = True) -> float:
    from pipetest_nb import PipelineDAG
    from pipetest_nb.engine.executor import PipelineExecutor

    dag = PipelineDAG.from_yaml(pipeline)
    start = time.perf_counter()
    result = PipelineExecutor(workspace, isolation=isolation, cache=False, checks=checks).execute_pipeline(
        dag, data_source="files")
    elapsed = (time.perf_counter() - start) * 1000
    assert result.success, result.error
    return elapsed


def _kedro_ms(modules: list, chain: list, quiet: bool) -> float | None:
    try:
        from kedro.io import DataCatalog, MemoryDataset
        from kedro.pipeline import node, pipeline
        from kedro.runner import SequentialRunner
    except ImportError:
        return None
    logging.getLogger("kedro").setLevel(logging.WARNING if quiet else logging.INFO)

    def make(i: int):
        def step(source: str) -> str:
            modules[i].main({"DATA": source}, {"out": str(chain[i][2])}, {}, None)
            return str(chain[i][2])
        step.__name__ = f"step_{i:02d}"
        return step

    nodes = [node(make(i), "raw" if i == 0 else f"d{i - 1}", f"d{i}", name=f"step_{i:02d}")
             for i in range(len(chain))]
    catalog = DataCatalog({"raw": MemoryDataset(str(chain[0][1]))})
    sink = io.StringIO()  # Kedro's default logging still formats every line; the table stays readable
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        start = time.perf_counter()
        SequentialRunner().run(pipeline(nodes), catalog)
        return (time.perf_counter() - start) * 1000


def _step_overhead(quick: bool) -> list[Row]:
    steps = 3 if quick else 50
    root = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    pipeline = _chain_pipeline(root, steps)
    chain = _chain(root / "direct", steps)
    for _, _, out in chain:
        out.mkdir(parents=True, exist_ok=True)
    modules = load_modules(chain)

    def direct() -> None:
        for i, (_, source, out) in enumerate(chain):
            modules[i].main({"DATA": str(source)}, {"out": str(out)}, {}, None)

    repeat = 1 if quick else 3
    floor = median_ms(direct, repeat) / steps
    shell = []
    for _ in range(1 if quick else 2):
        start = time.perf_counter()
        for script, source, out in chain[: min(steps, 5)]:
            subprocess.run([sys.executable, str(script), str(source), str(out)], check=True)
        shell.append((time.perf_counter() - start) * 1000 / min(steps, 5))
    cases = {"python script.py per step": statistics.median(shell)}
    for isolation in ("inprocess", "pool", "subprocess"):
        runs = []
        for _ in range(1 if quick or isolation == "subprocess" else repeat):
            runs.append(_executor_ms(pipeline, isolation, root / f"ws-{isolation}") / steps)
        cases[f"pipetest {isolation}"] = statistics.median(runs)
    for quiet, label in ((False, "Kedro SequentialRunner (default logging)"),
                         (True, "Kedro SequentialRunner (logging quieted)")):
        kedro = [_kedro_ms(modules, chain, quiet) for _ in range(repeat)]
        if kedro[0] is not None:
            cases[label] = statistics.median(kedro) / steps
    shutil.rmtree(root, ignore_errors=True)
    return compare(f"step overhead, {steps}-step parquet chain (ms/step)", "main() called directly", floor, cases)


def _demo_direct(pipeline: Path, out_root: Path) -> float:
    """The demo's scripts called one after another in this process, as a hand-written driver would."""
    import argparse
    import os

    from pipetest_nb import PipelineDAG, PipelineDAGResolver

    plan = PipelineDAGResolver(PipelineDAG.from_yaml(pipeline)).create_execution_plan()
    modules = {}
    for step, config in plan.step_configs.items():
        spec = importlib.util.spec_from_file_location(config.script.stem, config.script)
        modules[step] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[step])
    start = time.perf_counter()
    written: dict[tuple[str, str], Path] = {}
    for step in plan.execution_order:
        config = plan.step_configs[step]
        inputs = {}
        for name, spec in config.inputs.items():
            if spec.source:
                inputs[name] = str(written[(spec.producer, spec.output)])
            elif spec.path is not None:
                inputs[name] = str(spec.path)
            else:  # an optional input nothing feeds: an empty folder, as pipetest gives it
                inputs[name] = str(out_root / step / "in" / name)
                Path(inputs[name]).mkdir(parents=True)
        outputs = {}
        for name in config.outputs:
            written[(step, name)] = out_root / step / name
            written[(step, name)].mkdir(parents=True)
            outputs[name] = str(written[(step, name)])
        saved = dict(os.environ)
        os.environ.update(config.env)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pipetest captures what they print, too
                modules[step].main(inputs, outputs, dict(config.env),
                                   argparse.Namespace(**config.args) if config.args else None)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return (time.perf_counter() - start) * 1000


def _demo(quick: bool) -> list[Row]:
    from pipetest_nb.demo import copy_demo

    root = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    pipeline = copy_demo(root / "demo") / "pipeline.yaml"
    _executor_ms(pipeline, "inprocess", root / "warmup")  # imports, GX start-up, warm pool: paid once
    _executor_ms(pipeline, "pool", root / "warmup")
    direct = _demo_direct(pipeline, root / "direct")
    rows = {"pipetest inprocess, edge checks off": _executor_ms(pipeline, "inprocess", root / "nochecks", False)}
    for isolation in ("inprocess", "pool") + (() if quick else ("subprocess",)):
        rows[f"pipetest {isolation}"] = _executor_ms(pipeline, isolation, root / f"ws-{isolation}")
    shutil.rmtree(root, ignore_errors=True)
    return [*compare("demo pipeline end to end (ms)", "scripts' main() called directly", direct, rows),
            *compare("demo pipeline end to end (ms)", "pipetest inprocess", rows["pipetest inprocess"],
                     {k: v for k, v in rows.items() if k not in ("pipetest inprocess",
                                                                 "pipetest inprocess, edge checks off")})[1:]]


def _demo_checks(quick: bool) -> list[Row]:
    """What the edge checks add to the demo: checks on / off in a warm process, and in fresh
    ``pipetest run`` processes (imports included); runs interleaved, medians."""
    from pipetest_nb.demo import copy_demo

    root = Path(tempfile.mkdtemp(prefix="bench_demo_checks_"))
    pipeline = copy_demo(root / "demo") / "pipeline.yaml"
    _executor_ms(pipeline, "inprocess", root / "warmup")
    warm: dict[bool, list[float]] = {True: [], False: []}
    fresh: dict[bool, list[float]] = {True: [], False: []}
    for i in range(1 if quick else 5):
        for checks in (True, False):
            warm[checks].append(_executor_ms(pipeline, "inprocess", root / f"warm-{checks}-{i}", checks))
    for i in range(1 if quick else 3):
        for checks in (True, False):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "run", str(pipeline), "--no-cache",
                            "--workspace", str(root / f"fresh-{checks}-{i}"), *([] if checks else ["--no-checks"])],
                           check=True, capture_output=True)
            fresh[checks].append((time.perf_counter() - start) * 1000)
    shutil.rmtree(root, ignore_errors=True)
    rows = []
    for label, times, today, target in (("warm kernel", warm, "3.0x", "<= 1.25x"),
                                        ("fresh `pipetest run`", fresh, "3.0x", "<= 1.5x")):
        on, off = statistics.median(times[True]), statistics.median(times[False])
        rows += compare(f"demo, {label} (ms)", "edge checks off", off, {"edge checks on": on})
        rows[-1].figure, rows[-1].today, rows[-1].target = f"demo, {label}, checks on / checks off", today, target
    return rows


def _recording(quick: bool) -> list[Row]:
    """Recording and events per no-op step, at two run lengths: the same figure at both when nothing per step
    grows with the run."""
    return [*_recording_at(20 if quick else 500, quick), *_recording_at(50 if quick else 2000, quick)]


def _recording_at(steps: int, quick: bool) -> list[Row]:
    from pipetest_nb import PipelineDAG
    from pipetest_nb.engine.run import PipelineRun
    from pipetest_nb.launch import get_launcher
    from pipetest_nb.launch.base import StepJob

    root = Path(tempfile.mkdtemp(prefix="bench_recording_"))
    (root / "noop.py").write_text("def main(i, o, e, a):\n    pass\n")
    spec = {f"s{i}": {"script": "noop.py", **({"depends_on": [f"s{i - 1}"]} if i else {})} for i in range(steps)}
    dag = PipelineDAG.from_dict({"name": "noop", "steps": spec}, base_dir=root)
    launcher = get_launcher("inprocess")

    def launcher_alone() -> None:
        for i in range(steps):
            step_dir = root / "alone" / f"s{i}"
            launcher.launch(StepJob(f"s{i}", str(root / "noop.py"), "main", {}, {}, {}, None, str(step_dir),
                                    str(root)))

    def through_pipetest() -> None:
        run = PipelineRun(dag, root / "ws", isolation="inprocess", cache=False)
        run.run()
        run.close()

    alone_ms, full_ms = [], []
    for _ in range(1 if quick else 3):  # interleaved: a change of load on the machine hits both alike
        alone_ms.append(median_ms(launcher_alone, 1))
        full_ms.append(median_ms(through_pipetest, 1))
    alone, full = statistics.median(alone_ms) / steps, statistics.median(full_ms) / steps
    shutil.rmtree(root, ignore_errors=True)
    benchmark = f"{steps} no-op in-process steps (ms/step)"
    figure = f"recording + events, ms per no-op inprocess step, {steps:,} steps"
    return [*compare(benchmark, "in-process launcher alone", alone,
                     {"through PipelineRun (+ recording, events, checks)": full}),
            Row(benchmark, "recording + events per step", full - alone, note="PipelineRun minus the launcher",
                figure=figure, today="2.0 ms", target="<= 0.5 ms")]


def _imports(quick: bool) -> list[Row]:
    def fresh(code: str) -> float:
        times = []
        for _ in range(1 if quick else 7):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    pandas = fresh("import pandas")
    return compare("import time, fresh interpreter (ms)", "import pandas", pandas,
                   {"import pandas, pipetest_nb": fresh("import pandas, pipetest_nb"),
                    "import pipetest_nb": fresh("import pipetest_nb")})


def run(quick: bool = False) -> list[Row]:
    return [*_step_overhead(quick), *_demo(quick), *_demo_checks(quick), *_recording(quick), *_imports(quick)]
