"""The runner itself dies or is stopped: SIGKILL at random points, a full disk, Ctrl-C in the same process."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from pipetest_nb import PipelineDAG, PipetestError, Session
from pipetest_nb.events import StepStatus
from pipetest_nb.records.record import load_record
from pipetest_nb.records.workspace import Workspace

STEP = """
import time
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    text = "".join(Path(p, "v.txt").read_text() for p in input_paths.values()) if input_paths else ""
    time.sleep(0.05)
    (Path(output_paths["out"]) / "v.txt").write_text(text + environ_vars["NAME"])
"""

RUNNER = """
import sys
from pipetest_nb.session import Session
session = Session(sys.argv[1], sys.argv[2], progress=False, isolation="subprocess", cache=False)
print(session.run_dir, flush=True)
session.run_all()
"""


def chain_pipeline(folder: Path, length: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.py").write_text(textwrap.dedent(STEP))
    steps = {}
    for i in range(length):
        steps[f"s{i}"] = {"script": "step.py", "outputs": {"out": {}}, "env": {"NAME": str(i)},
                          **({"inputs": {"IN": f"s{i - 1}.out"}} if i else {})}
    (folder / "pipeline.yaml").write_text(yaml.safe_dump({"name": "chain", "steps": steps}))
    return folder / "pipeline.yaml"


def test_runner_killed_at_random_points_always_reopens(tmp_path):
    pipeline = chain_pipeline(tmp_path / "p")
    rng = random.Random(20261125)
    clean = 0
    for i in range(20):
        runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(pipeline), str(tmp_path / "ws")],
                                  stdout=subprocess.PIPE, text=True)
        run_dir = Path(runner.stdout.readline().strip())
        time.sleep(rng.uniform(0.0, 1.5))
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        runner.stdout.close()
        if not run_dir.exists():  # killed before its first step: no run, and nothing half-made left listed
            assert not [r for r in Workspace(tmp_path / "ws").runs() if r.run_id == run_dir.name]
            clean += 1
            continue
        json.loads((run_dir / "run.json").read_text())  # the snapshot is whole
        before = load_record(run_dir)
        done_before = {s: e.get("attempts") for s, e in before.steps.items()
                       if e.get("status") == StepStatus.SUCCEEDED}
        with Session.open(run_dir, progress=False, cache=False) as session:
            assert StepStatus.RUNNING not in session.status.values()
            assert session.run_all().success, f"iteration {i}: {session.result().error}"
            for step, attempts in done_before.items():  # no finished step ran again
                assert session.record["steps"][step]["attempts"] == attempts
            final = session.outputs("s5")["out"] / "v.txt"
            assert final.read_text() == "012345"  # nothing lost on the way
        clean += 1
    assert clean == 20
    print(f"SIGKILL loop: {clean}/20 runs reopened cleanly")


def kill_at_marker(script: str, pipeline: Path, workspace: Path, marker: str, nth: int) -> Path:
    """Start ``script`` as the runner and SIGKILL it when it prints ``marker`` the ``nth`` time; its run folder."""
    runner = subprocess.Popen([sys.executable, "-c", script, str(pipeline), str(workspace)],
                              stdout=subprocess.PIPE, text=True)
    run_dir = Path(runner.stdout.readline().strip())
    seen = 0
    while seen < nth:
        line = runner.stdout.readline()
        assert line, f"the runner ended before its {marker!r} moment to kill it in"
        seen += line.strip() == marker
    runner.send_signal(signal.SIGKILL)
    runner.wait(10)
    runner.stdout.close()
    return run_dir


#: The runner, with a fault injected into its record writes: each rewrite of run.json in the middle of
#: the run (steps still pending) pauses between writing the temporary file and renaming it over
#: run.json, and says so, so that a kill lands there.
SLOW_REWRITES = """
import os, sys, time
from pipetest_nb.records import writer as workspace
real_write, real_fsync, pausing = workspace.atomic_write_json, os.fsync, []

def slow_fsync(fd):
    real_fsync(fd)
    if pausing:
        print("rewriting", flush=True)
        time.sleep(0.1)

def write(path, data):
    middle = data.get("status") == "running" and "pending" in str(data.get("steps"))
    pausing[:] = [True] if middle and path.name == "run.json" and not path.parent.name.startswith(".") else []
    real_write(path, data)

os.fsync, workspace.atomic_write_json = slow_fsync, write
from pipetest_nb.session import Session
session = Session(sys.argv[1], sys.argv[2], progress=False, isolation="subprocess", cache=False)
print(session.run_dir, flush=True)
session.run_all()
"""


@pytest.mark.slow
@pytest.mark.parametrize("nth", [1, 2])
def test_runner_killed_while_rewriting_run_json_reopens(tmp_path, nth):
    # long enough that a second mid-run rewrite comes: a snapshot waits ten times the last one's cost,
    # and the injected pause makes that about a second
    pipeline = chain_pipeline(tmp_path / "p", length=30)
    # killed with the temporary file written and run.json not yet replaced
    run_dir = kill_at_marker(SLOW_REWRITES, pipeline, tmp_path / "ws", "rewriting", nth)
    assert list(run_dir.glob(".run.json.*.tmp")), "the kill did not land inside a rewrite"
    json.loads((run_dir / "run.json").read_text())
    with Session.open(run_dir, progress=False, cache=False) as session:
        left = [s for s, status in session.status.items() if status != StepStatus.SUCCEEDED]
        assert left, "the kill landed after the last step: nothing to go on with"
        assert session.run_all().success
        assert session.outputs("s29")["out"].joinpath("v.txt").read_text() == "".join(map(str, range(30)))
    assert not list(run_dir.glob(".run.json.*.tmp"))  # cleaned when the run was next written


#: The runner with the cache on, a fault injected into cache writes: each file copied into an entry
#: pauses first, and says so, so that a kill lands while an entry is half written.
SLOW_CACHE_WRITES = """
import sys, time
from pipetest_nb.records import cache
real_copy = cache._copy_file

def slow_copy(src, dst, mode):
    if "/cache/" in dst:
        print("caching", flush=True)
        time.sleep(0.3)
    return real_copy(src, dst, mode)

cache._copy_file = slow_copy
from pipetest_nb.session import Session
session = Session(sys.argv[1], sys.argv[2], progress=False, isolation="subprocess")
print(session.run_dir, flush=True)
session.run_all()
"""


@pytest.mark.slow
@pytest.mark.parametrize("nth", [1, 3])
def test_runner_killed_while_writing_the_cache_reopens_and_the_cache_stays_true(tmp_path, nth):
    pipeline = chain_pipeline(tmp_path / "p", length=4)
    ws = tmp_path / "ws"
    run_dir = kill_at_marker(SLOW_CACHE_WRITES, pipeline, ws, "caching", nth)
    with Session.open(run_dir, progress=False) as session:
        assert session.run_all().success
        assert session.outputs("s3")["out"].joinpath("v.txt").read_text() == "0123"
    with Session(pipeline, ws, progress=False) as fresh:  # every step from the cache: whole entries only
        assert fresh.run_all().success
        assert set(fresh.status.values()) == {StepStatus.CACHED}
        assert fresh.outputs("s3")["out"].joinpath("v.txt").read_text() == "0123"


def test_a_full_disk_is_a_clear_error_and_the_run_reopens(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        folder = tmp_path / "p"
        folder.mkdir()
        (folder / "small.py").write_text("from pathlib import Path\ndef main(i, o, e, a):\n"
                                         "    (Path(o['out']) / 'ok.txt').write_text('ok')\n")
        (folder / "fill.py").write_text("from pathlib import Path\ndef main(i, o, e, a):\n"
                                        "    with open(Path(o['out']) / 'big.bin', 'wb') as fh:\n"
                                        "        for _ in range(10):\n            fh.write(b'0' * 2**20)\n")
        (folder / "pipeline.yaml").write_text(yaml.safe_dump({"name": "fill", "steps": {
            "first": {"script": "small.py", "outputs": {"out": {}}},
            "fill": {"script": "fill.py", "outputs": {"out": {}}, "depends_on": ["first"]}}}))
        dag = PipelineDAG.from_yaml(folder / "pipeline.yaml")
        with Session(dag, mount / "ws", progress=False, cache=False) as session:
            run_dir = session.run_dir
            with pytest.raises(PipetestError, match="No space left on device") as info:
                session.run_all()
            assert "free some space" in str(info.value) and str(run_dir) in str(info.value)
        json.loads((run_dir / "run.json").read_text())  # the last snapshot is whole
        shutil.rmtree(run_dir / "steps" / "fill" / "outputs")  # make room, as a user would
        with Session.open(run_dir, progress=False, cache=False) as again:
            assert again.status["first"] == StepStatus.SUCCEEDED
            assert again.status["fill"] in (StepStatus.FAILED, StepStatus.INTERRUPTED)
            assert (again.outputs("first")["out"] / "ok.txt").read_text() == "ok"
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_ctrl_c_in_run_all_kills_the_step_and_leaves_the_session_usable(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "slow.py").write_text("import time\ndef main(*a):\n    time.sleep(float(a[2].get('SLEEP', 0)))\n")
    (folder / "pipeline.yaml").write_text(yaml.safe_dump({"name": "ctrl-c", "steps": {
        "slow": {"script": "slow.py", "env": {"SLEEP": "60"}},
        "after": {"script": "slow.py", "depends_on": ["slow"]}}}))
    with Session(PipelineDAG.from_yaml(folder / "pipeline.yaml"), tmp_path / "ws", progress=False,
                 cache=False) as session:
        def interrupt_when_running() -> None:
            while session.record["steps"]["slow"].get("pid") is None:
                time.sleep(0.02)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # a real Ctrl-C

        threading.Thread(target=interrupt_when_running, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            session.run_all()
        pid = session.record["steps"]["slow"]["pid"]
        assert session.status == {"slow": "interrupted", "after": "pending"}
        assert session.record["status"] == "interrupted"
        deadline = time.time() + 10
        import psutil

        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.time() < deadline, "the step outlived Ctrl-C"
            time.sleep(0.05)
        assert session.next_step() == "slow"  # usable right away


#: A long run of in-process no-op steps, new (``new``) or reopened (a run folder), that reports each
#: step_finished event on stdout: the engine announces an event only once it is written to the log.
NO_OP_RUNNER = """
import sys
from pipetest_nb.events import EventKind
from pipetest_nb.session import Session

def report(event):
    if event.kind == EventKind.STEP_FINISHED:
        print(event.step, flush=True)

options = {"progress": False, "isolation": "inprocess", "cache": False}
if sys.argv[3] == "new":
    session = Session(sys.argv[1], sys.argv[2], **options)
else:
    session = Session.open(sys.argv[3], **options)
print(session.run_dir, flush=True)
session.events.subscribe(report)
session.run_all()
"""


def run_files(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a run folder with its bytes and mtime: what 'unchanged' means."""
    return {str(p.relative_to(run_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def kill_after_some_steps(pipeline: Path, workspace: Path, run: str, delay: float) -> tuple[Path, list[str]]:
    """Start NO_OP_RUNNER, SIGKILL it ``delay`` seconds after its first reported step; the run folder and
    every step it reported finished (all printed before it died)."""
    runner = subprocess.Popen([sys.executable, "-c", NO_OP_RUNNER, str(pipeline), str(workspace), run],
                              stdout=subprocess.PIPE)
    run_dir = Path(runner.stdout.readline().decode().strip())
    lines: list[bytes] = []
    first = threading.Event()

    def read() -> None:
        for line in runner.stdout:
            lines.append(line)
            first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first.wait(60), "the runner reported no finished step"
        time.sleep(delay)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    reader.join(10)
    runner.stdout.close()
    return run_dir, [line.decode().strip() for line in lines if line.endswith(b"\n")]


@pytest.mark.slow
def test_a_long_no_op_run_killed_again_and_again_keeps_every_step_it_reported(tmp_path):
    steps = 2000
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "noop.py").write_text("def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n")
    spec = {f"s{i}": {"script": "noop.py", **({"depends_on": [f"s{i - 1}"]} if i else {})} for i in range(steps)}
    (folder / "pipeline.yaml").write_text(yaml.safe_dump({"name": "noops", "steps": spec}))
    rng = random.Random(20261202)
    reported: dict[str, int] = {}  # step -> its attempts once reported finished
    run = "new"
    for kill in range(4):
        run_dir, finished = kill_after_some_steps(folder / "pipeline.yaml", tmp_path / "ws", run,
                                                  rng.uniform(0.05, 0.6))
        run = str(run_dir)
        assert finished, f"kill {kill}: no step finished between the first report and the kill"
        assert not set(finished) & set(reported), f"kill {kill}: a step that had finished ran again"
        files = run_files(run_dir)
        record = load_record(run_dir)
        reported.update({s: record.steps[s].get("attempts") for s in finished})
        lost = [s for s in reported if record.step_status(s) != StepStatus.SUCCEEDED]
        assert not lost, f"kill {kill}: {len(lost)} steps reported finished are not in the record: {lost[:5]}"
        again = [s for s, attempts in reported.items() if record.steps[s].get("attempts") != attempts]
        assert not again, f"kill {kill}: steps that had finished ran again: {again[:5]}"
        assert [r.run_id for r in Workspace(tmp_path / "ws").runs()] == [run_dir.name]
        Session.open(run_dir, progress=False).close()  # opened and closed: nothing ran
        assert run_files(run_dir) == files, f"kill {kill}: reading the run changed it"
    assert len(reported) < steps, "the run ended before the last kill: nothing was killed mid-run"
    print(f"4 kills of a {steps}-step no-op run: {len(reported)} steps reported finished, all recorded")
