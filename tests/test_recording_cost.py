"""What recording a step costs: the same work per step at step 5 as at step 200, no folder for a step that
writes nothing, and in-process metrics still measured without a sampler per step."""

from __future__ import annotations

import collections
import os

import pytest

from pipetest_nb import PipelineDAG
from pipetest_nb.engine.run import PipelineRun
from pipetest_nb.events import StepStatus
from pipetest_nb.records.record import load_record

SILENT = "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n"
LOUD = "import sys\n\ndef main(input_paths, output_paths, environ_vars, job_args):\n    print('hello')\n"
#: Writes into the folder of step s0, which wrote nothing and so has none (steps/s1/outputs/out -> steps/s0).
INTRUDER = ("from pathlib import Path\n\ndef main(input_paths, output_paths, environ_vars, job_args):\n"
            "    folder = Path(output_paths['out']).parents[2] / 's0'\n"
            "    folder.mkdir()\n    (folder / 'planted.txt').write_text('x')\n")


def chain(tmp_path, steps: int, scripts: dict[int, str] | None = None, env: dict[int, dict] | None = None
          ) -> PipelineDAG:
    """A chain of ``steps`` in-process steps; ``scripts`` replaces the silent script of some of them
    (and gives them an output)."""
    (tmp_path / "silent.py").write_text(SILENT)
    spec = {}
    for i in range(steps):
        script = "silent.py"
        if scripts and i in scripts:
            script = f"script_{i}.py"
            (tmp_path / script).write_text(scripts[i])
        spec[f"s{i}"] = {"script": script, "env": (env or {}).get(i, {}),
                         **({"outputs": {"out": {}}} if scripts and i in scripts else {}),
                         **({"depends_on": [f"s{i - 1}"]} if i else {})}
    return PipelineDAG.from_dict({"name": "chain", "steps": spec}, base_dir=tmp_path)


def test_a_silent_step_leaves_no_folder_and_a_printing_one_only_its_log(tmp_path):
    run = PipelineRun(chain(tmp_path, 3, {1: LOUD}), tmp_path / "ws", isolation="inprocess", cache=False)
    try:
        run.run()
    finally:
        run.close()
    assert set(run.statuses.values()) == {StepStatus.SUCCEEDED}
    assert sorted(p.name for p in (run.run_dir / "steps").iterdir()) == ["s1"]
    assert sorted(p.name for p in (run.run_dir / "steps" / "s1").iterdir()) == ["outputs", "stdout.log"]
    assert (run.run_dir / "steps" / "s1" / "stdout.log").read_text() == "hello\n"
    assert load_record(run.run_dir).step_status("s0") == StepStatus.SUCCEEDED


def test_writing_into_the_folder_of_a_step_that_wrote_nothing_is_warned(tmp_path):
    dag = chain(tmp_path, 2, {1: INTRUDER})
    run = PipelineRun(dag, tmp_path / "ws", isolation="inprocess", cache=False)
    try:
        run.run()
    finally:
        run.close()
    warnings = run.record["steps"]["s1"].get("warnings") or []
    assert any("wrote outside its own outputs" in w and "s0" in w for w in warnings), warnings


#: What a step may do on disk, counted: a call that grows with the run's length shows as a difference.
COUNTED = ("stat", "lstat", "scandir", "listdir", "open", "mkdir", "replace", "fsync", "rename", "walk")


class CallsPerStep:
    """A hook that counts the file-system calls of each step, from one ``before_step`` to the next."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.total: collections.Counter[str] = collections.Counter()
        self.per_step: list[collections.Counter[str]] = []
        self._mark = collections.Counter()
        for name in COUNTED:
            real = getattr(os, name)

            def counted(*args, _real=real, _name=name, **kwargs):
                self.total[_name] += 1
                return _real(*args, **kwargs)

            monkeypatch.setattr(os, name, counted)

    def before_step(self, **_):
        self.per_step.append(self.total - self._mark)
        self._mark = collections.Counter(self.total)


def test_the_work_of_a_step_does_not_grow_with_the_run(tmp_path, monkeypatch):
    steps = 200
    dag = chain(tmp_path, steps)
    counter = CallsPerStep(monkeypatch)
    run = PipelineRun(dag, tmp_path / "ws", isolation="inprocess", cache=False, hooks=[counter])
    run.writer.snapshot_interval = 3600.0  # the timed snapshots aside: they are bounded by their cost
    try:
        run.run()
    finally:
        run.close()
    assert set(run.statuses.values()) == {StepStatus.SUCCEEDED}
    early, late = counter.per_step[5], counter.per_step[steps - 5]
    assert late == early, f"step {steps - 5} made {dict(late)} file-system calls, step 5 {dict(early)}"
    assert sum(early.values()) < 60, dict(early)


HOLDS_MEMORY = """
import time

def main(input_paths, output_paths, environ_vars, job_args):
    block = bytearray(200 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1  # touch every page: resident, not just reserved
    time.sleep(0.4)
    with open(environ_vars["OUT"], "wb") as fh:
        fh.write(b"x" * 2**20)
"""


def test_an_in_process_step_has_its_peak_memory_and_writes_measured(tmp_path):
    dag = chain(tmp_path, 2, {1: HOLDS_MEMORY}, {1: {"OUT": str(tmp_path / "written.bin")}})
    run = PipelineRun(dag, tmp_path / "ws", isolation="inprocess", cache=False)
    try:
        run.run()
    finally:
        run.close()
    quiet, busy = (run.record["steps"][s]["metrics"] for s in ("s0", "s1"))
    assert busy["peak_rss"] >= quiet["peak_rss"] + 150 * 2**20, (quiet, busy)  # sampled while it held it
    assert busy["write_bytes"] >= 2**20
    assert busy["cpu_time"] > 0
