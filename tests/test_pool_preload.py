"""Warm workers are warm for the pipeline at hand: they preload what its scripts import at module level.

The scripts observe it themselves: their first line notes which modules are already in
``sys.modules`` before their own imports run, which in a forked child means the worker imported them.
"""

from __future__ import annotations

import json
import textwrap
import uuid
import warnings
from pathlib import Path

from pipelines import write_pipeline

from pipetest_nb.engine.options import RunOptions
from pipetest_nb.engine.start import start_run
from pipetest_nb.events import EventKind
from pipetest_nb.exceptions import PipetestWarning
from pipetest_nb.imports import third_party_imports
from pipetest_nb.launch import PoolLauncher, StepJob
from pipetest_nb.records.record import load_record, read_events
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.views.cli.printing import print_run_summary

#: The first lines of each step script: what was imported before the script's own imports ran.
OBSERVER = """
import sys
SEEN_BEFORE = {name: name in sys.modules for name in ("sklearn", "sklearn.preprocessing", "wave", "helper_of_step",
                                                       "first_step", "other_step") if name != __name__}
"""

STEP = OBSERVER + """
import wave
import helper_of_step
try:
    import {missing}
except ImportError:
    {missing} = None
from sklearn.preprocessing import StandardScaler
import json
from pathlib import Path


def main(input_paths, output_paths, environ_vars, job_args):
    StandardScaler().fit([[0.0], [1.0]])
    (Path(output_paths["out"]) / "seen.json").write_text(json.dumps(SEEN_BEFORE))
"""


def test_the_modules_read_are_the_third_party_ones_run_at_import(tmp_path):
    (tmp_path / "helper.py").write_text("")
    (tmp_path / "local_pkg").mkdir()
    script = tmp_path / "step.py"
    script.write_text(textwrap.dedent("""
        from __future__ import annotations
        import os, json
        import numpy as np
        from sklearn.preprocessing import StandardScaler
        try:
            import yaml
        except ImportError:
            yaml = None
        with open(os.devnull) as fh:
            import scipy.stats
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import torch
        import helper
        import local_pkg.part
        import step
        import pipetest_nb.launch
        from . import sibling

        def main(input_paths, output_paths, environ_vars, job_args):
            import xgboost
    """))
    assert third_party_imports(script) == ("numpy", "sklearn.preprocessing", "yaml", "scipy.stats")
    broken = tmp_path / "broken.py"
    broken.write_text("import pandas\ndef main(:\n")
    assert third_party_imports(broken) == ()
    assert third_party_imports(tmp_path / "absent.py") == ()


def _pipeline(tmp_path: Path, missing: str) -> PipelineDAG:
    step = STEP.replace("{missing}", missing)
    path = write_pipeline(tmp_path, """
        name: warm_for_this_pipeline
        defaults: {isolation: pool}
        steps:
          first:
            script: scripts/first_step.py
            outputs: {out: {}}
          second:
            script: scripts/other_step.py
            inputs: {data: first.out}
            outputs: {out: {}}
        """, {"scripts/first_step.py": step, "scripts/other_step.py": step, "scripts/helper_of_step.py": "X = 1\n"})
    return PipelineDAG.load(path)


def test_a_pool_run_preloads_what_its_scripts_import_and_records_the_start_up_apart(tmp_path, capsys):
    missing = f"pipetest_absent_{uuid.uuid4().hex[:8]}"
    dag = _pipeline(tmp_path, missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = start_run(dag, RunOptions(workspace=tmp_path / "ws", cache=False))
        run.run()
        run.close()
    record = load_record(run.run_dir)
    assert [record.step_status(s) for s in ("first", "second")] == ["succeeded", "succeeded"]
    for step in ("first", "second"):
        seen = json.loads((run.run_dir / "steps" / step / "outputs" / "out" / "seen.json").read_text())
        # third-party modules were there before the script's imports; stdlib, helpers and scripts were not
        assert seen.pop("sklearn") and seen.pop("sklearn.preprocessing"), step
        assert seen == {"wave": False, "helper_of_step": False, "other_step" if step == "first" else "first_step": False}

    events = list(read_events(run.run_dir / "events.jsonl"))
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.WORKERS_STARTED) == 1
    assert kinds.index(EventKind.WORKERS_STARTED) < kinds.index(EventKind.STEP_STARTED)
    started = record.data["worker_starts"]
    assert len(started) == 1 and started[0]["seconds"] > 0 and started[0]["workers"] >= 1
    assert "sklearn.preprocessing" in started[0]["preloaded"] and missing not in started[0]["preloaded"]
    assert list(started[0]["failed"]) == [missing] and "ModuleNotFoundError" in started[0]["failed"][missing]
    notes = [w for w in caught if issubclass(w.category, PipetestWarning) and missing in str(w.message)]
    assert len(notes) == 1  # once for the run, not once per step

    first = record.steps["first"]  # the first step began once the workers were up: its span excludes them
    assert first["started_at"] >= started[0]["time"]
    assert first["metrics"]["duration"] <= first["finished_at"] - first["started_at"]
    print_run_summary(record.data)  # the command line's end-of-run summary says it apart too
    shown = capsys.readouterr().out
    assert "Pool workers started before the steps:" in shown and f"could not preload {missing}" in shown

    with warnings.catch_warnings(record=True) as again:  # the next run finds the workers warm
        warnings.simplefilter("always")
        rerun = start_run(dag, RunOptions(workspace=tmp_path / "ws", cache=False))
        rerun.run()
        rerun.close()
    assert load_record(rerun.run_dir).step_status("second") == "succeeded"
    assert EventKind.WORKERS_STARTED not in [e.kind for e in read_events(rerun.run_dir / "events.jsonl")]
    assert not [w for w in again if missing in str(w.message)]


def test_imports_that_fail_in_any_way_leave_the_worker_working(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "exits_on_import.py").write_text("raise SystemExit(3)\n")
    (site / "raises_on_import.py").write_text("raise RuntimeError('no licence server')\n")
    (site / "imports_fine.py").write_text("VALUE = 42\n")
    monkeypatch.setenv("PYTHONPATH", str(site))  # the worker is started with the notebook's environment
    script = tmp_path / "check.py"
    script.write_text(textwrap.dedent("""
        import sys
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            loaded = sorted(m for m in ("exits_on_import", "raises_on_import", "imports_fine") if m in sys.modules)
            (Path(output_paths["out"]) / "loaded.txt").write_text(",".join(loaded))
        """))
    out = tmp_path / "out"
    out.mkdir()
    job = StepJob(step="check", script=str(script), mode="main", input_paths={}, output_paths={"out": str(out)},
                  environ_vars={}, job_args=None, step_dir=str(tmp_path / "step"), workdir=str(tmp_path))
    with PoolLauncher(workers=1) as pool:
        report = pool.warm(["exits_on_import", "raises_on_import", "imports_fine"])
        assert report is not None and report.workers == 1
        assert report.preloaded == ["imports_fine"]
        assert report.failed == {"exits_on_import": "SystemExit: 3",
                                 "raises_on_import": "RuntimeError: no licence server"}
        outcome = pool.launch(job)
        assert outcome.succeeded, outcome.error_message
        assert (out / "loaded.txt").read_text() == "imports_fine"
        assert pool.warm(["exits_on_import", "raises_on_import", "imports_fine"]) is None  # named once
        assert pool.workers == 1
