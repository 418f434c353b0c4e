"""Processes that stop when the run stops: signals to the runner, kills at a step's start, daemons
that leave their step's group, memory summed over a step's tree, in-process steps side by side."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import yaml

from pipetest_nb import PipelineDAG, Session
from pipetest_nb.records.record import load_record

PYTHON = sys.executable

#: A step that starts a child, records both pids, then waits (SLOW=1 in the runner's environment: for
#: a minute, else not at all).
WAITING = """
import os, subprocess, sys, time

def main(input_paths, output_paths, environ_vars, job_args):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(os.environ["PIDS"], "a") as fh:
        fh.write(f"{os.getpid()} {child.pid}\\n")
    if os.environ.get("SLOW") == "1":
        time.sleep(60)
    child.kill()
    child.wait()
"""


def write_pipeline(folder: Path, steps: dict, scripts: dict[str, str], name: str = "procs") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for file, source in scripts.items():
        (folder / file).write_text(textwrap.dedent(source))
    (folder / "pipeline.yaml").write_text(yaml.safe_dump({"name": name, "steps": steps}))
    return folder / "pipeline.yaml"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    """The pids still alive after ``seconds`` (killed and reaped ones, and zombies, count as gone)."""
    deadline = time.monotonic() + seconds
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


def read_pids(path: Path, count: int = 2, seconds: float = 30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            pids = [int(p) for p in path.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.02)
    raise AssertionError(f"the step never wrote {path}")


def only_run(workspace: Path) -> Path:
    runs = sorted((workspace / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def finished_record(run_dir: Path) -> dict:
    """run.json once the runner is gone (the events folded in: what any reader sees)."""
    return load_record(run_dir).data


# -- 8. SIGTERM / SIGHUP ------------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ["subprocess", "pool"])
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_a_cli_run_and_its_steps(tmp_path, isolation, sig, code):
    pipeline = write_pipeline(tmp_path / "p", {"wait": {"script": "wait.py"},
                                               "after": {"script": "wait.py", "depends_on": ["wait"]}},
                              {"wait.py": WAITING})
    pids = tmp_path / "pids"
    env = {**os.environ, "PIDS": str(pids), "SLOW": "1"}
    cli = subprocess.Popen([PYTHON, "-m", "pipetest_nb.views.cli", "run", str(pipeline), "--workspace",
                            str(tmp_path / "ws"), "--no-cache", "--isolation", isolation],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    step_pids: list[int] = []
    try:
        step_pids = read_pids(pids)
        cli.send_signal(sig)
        out, _ = cli.communicate(timeout=30)
        assert cli.returncode == code, out
        assert not wait_gone(step_pids), f"the step's processes outlived {sig.name}"
    finally:
        cli.kill()
        kill_all(step_pids)
    record = finished_record(only_run(tmp_path / "ws"))
    assert record["steps"]["wait"]["status"] == "interrupted"
    assert record["steps"]["after"]["status"] == "pending"
    assert record["status"] == "interrupted"
    assert "interrupted" in out


KERNEL = """
import os, sys, threading, time
from pipetest_nb.session import Session

session = Session(sys.argv[1], sys.argv[2], progress=False, cache=False, isolation=sys.argv[3])
if sys.argv[4] == "exit":  # a widget runs the pipeline in a thread; the kernel then shuts down
    threading.Thread(target=session.run_all).start()
    while not os.path.exists(os.environ["PIDS"]) or len(open(os.environ["PIDS"]).read().split()) < 2:
        time.sleep(0.01)
    print("kernel exits", flush=True)
else:
    session.run_all()
"""


@pytest.mark.parametrize("isolation", ["subprocess", "pool"])
@pytest.mark.parametrize("how", ["sigterm", "exit"])
def test_a_kernel_that_shuts_down_stops_its_running_steps(tmp_path, isolation, how):
    pipeline = write_pipeline(tmp_path / "p", {"wait": {"script": "wait.py"}}, {"wait.py": WAITING})
    pids = tmp_path / "pids"
    env = {**os.environ, "PIDS": str(pids), "SLOW": "1"}
    kernel = subprocess.Popen([PYTHON, "-c", KERNEL, str(pipeline), str(tmp_path / "ws"), isolation, how],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    step_pids: list[int] = []
    try:
        step_pids = read_pids(pids)
        if how == "sigterm":
            kernel.send_signal(signal.SIGTERM)
        out, _ = kernel.communicate(timeout=30)  # today: an exiting kernel waits for the step to end
        assert kernel.returncode == (-signal.SIGTERM if how == "sigterm" else 0), out
        assert not wait_gone(step_pids), "the step's processes outlived the kernel"
    finally:
        kernel.kill()
        kill_all(step_pids)
    record = finished_record(only_run(tmp_path / "ws"))
    assert record["steps"]["wait"]["status"] == "interrupted"
    assert record["status"] == "interrupted"


# -- 9. no orphan -------------------------------------------------------------------------------------

RUNNER = """
import sys
from pipetest_nb.session import Session

session = Session(sys.argv[1], sys.argv[2], progress=False, cache=False, isolation=sys.argv[3])
session.run_all()
"""


def marked(mark: str) -> list[int]:
    """Living processes started with PIPETEST_TEST_MARK=mark in their environment."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PIPETEST_TEST_MARK") == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def started(events: Path | None, step: str = "wait") -> bool:
    """Whether ``step`` has started (its STEP_STARTED event is in the log)."""
    try:
        lines = events.read_bytes().splitlines() if events is not None else []
    except FileNotFoundError:
        return False
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:  # being written
            continue
        if event.get("kind") == "step_started" and event.get("step") == step:
            return True
    return False


def kill_at_step_start(tmp_path: Path, isolation: str, tries: int) -> list[str]:
    # a quick first step, so that the kill lands on a warm launcher (for the pool: a warm worker)
    pipeline = write_pipeline(tmp_path / "p", {"warm": {"script": "warm.py"},
                                               "wait": {"script": "wait.py", "depends_on": ["warm"]}},
                              {"wait.py": WAITING, "warm.py": "def main(*args):\n    pass\n"})
    rng = random.Random(20261201)
    problems = []
    for i in range(tries):
        ws = tmp_path / f"ws{i}"
        mark = uuid.uuid4().hex
        env = {**os.environ, "PIDS": str(tmp_path / f"pids{i}"), "SLOW": "1", "PIPETEST_TEST_MARK": mark}
        runner = subprocess.Popen([PYTHON, "-c", RUNNER, str(pipeline), str(ws), isolation], env=env)
        try:
            deadline = time.monotonic() + 60
            events = None
            while not started(events):
                assert runner.poll() is None and time.monotonic() < deadline, "the runner never started its step"
                found = list((ws / "runs").glob("[!.]*/events.jsonl")) if (ws / "runs").exists() else []
                events = found[0] if found else None
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.03))  # somewhere between the step's start and its pid's record
            runner.kill()
            runner.wait(10)
            run_dir = events.parent
            with Session.open(run_dir, progress=False, cache=False) as session:  # SLOW unset: quick now
                assert session.run_all().success, session.result().error
            left = [pid for pid in marked(mark) if wait_gone([pid], 3.0)]
            if left:
                problems.append(f"try {i}: {len(left)} process(es) of the killed runner left: "
                                f"{[psutil.Process(p).cmdline()[:3] for p in left if alive(p)]}")
                kill_all(left)
        finally:
            runner.kill()
            kill_all(marked(mark))
    return problems


@pytest.mark.slow
def test_no_orphan_when_the_runner_is_killed_as_a_step_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("PIDS", str(tmp_path / "resumed-pids"))
    problems = kill_at_step_start(tmp_path, "subprocess", 20)
    assert not problems, "\n".join(problems)
    print("kill at step start (subprocess): 0 orphans in 20 tries")


@pytest.mark.slow
def test_no_orphan_when_the_runner_is_killed_as_a_pool_step_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("PIDS", str(tmp_path / "resumed-pids"))
    problems = kill_at_step_start(tmp_path, "pool", 10)
    assert not problems, "\n".join(problems)
    print("kill at step start (pool): 0 orphans in 10 tries")


DAEMONS = """
import os, subprocess, sys, time

def main(input_paths, output_paths, environ_vars, job_args):
    # a child in a session of its own, and a classic double-fork daemon whose parent is gone at once
    own = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    pids = [own.pid]
    read, write = os.pipe()
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            time.sleep(60)
        os._exit(0)
    os.waitpid(first, 0)
    pids.append(int(os.read(read, 32)))
    with open(os.environ["PIDS"], "w") as fh:
        fh.write(" ".join(map(str, pids)))
    if environ_vars.get("HANG"):
        time.sleep(60)
"""


@pytest.mark.parametrize("isolation", ["subprocess", "pool"])
@pytest.mark.parametrize("ending", ["returns", "times out"])
def test_daemons_that_leave_the_steps_group_die_with_the_step(tmp_path, monkeypatch, isolation, ending):
    env = {"HANG": "1"} if ending == "times out" else {}
    pipeline = write_pipeline(tmp_path / "p", {"daemons": {"script": "daemons.py", "env": env, "timeout": 2}},
                              {"daemons.py": DAEMONS})
    monkeypatch.setenv("PIDS", str(tmp_path / "pids"))
    pids: list[int] = []
    try:
        with Session(PipelineDAG.from_yaml(pipeline), tmp_path / "ws", progress=False, cache=False,
                     isolation=isolation) as session:
            session.run_all()
            expected = "succeeded" if ending == "returns" else "failed"
            assert session.status["daemons"] == expected, session.result().error
            pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
            assert len(pids) == 2
            assert not wait_gone(pids, 3.0), "a process of the step outlived it"
    finally:
        kill_all(pids)


# -- 10. memory: per step ------------------------------------------------------------------------------

HOLDERS = """
import subprocess, sys, time

def main(input_paths, output_paths, environ_vars, job_args):
    size = int(environ_vars["MB"]) * 2**20
    hold = f"block = bytearray({size}); import time; time.sleep(float({environ_vars['HOLD']}))"
    children = [subprocess.Popen([sys.executable, "-c", hold]) for _ in range(int(environ_vars["N"]))]
    for child in children:
        assert child.wait() == 0, "a child failed"
"""


@pytest.mark.parametrize("isolation", ["subprocess", "pool"])
def test_memory_limit_counts_the_whole_process_tree(tmp_path, isolation):
    pipeline = write_pipeline(tmp_path / "p", {
        "hogs": {"script": "holders.py", "memory": "300MB", "env": {"N": "4", "MB": "250", "HOLD": "3"}},
    }, {"holders.py": HOLDERS})
    with Session(PipelineDAG.from_yaml(pipeline), tmp_path / "ws", progress=False, cache=False,
                 isolation=isolation) as session:
        session.run_all()
        step = session.record["steps"]["hogs"]
    assert step["status"] == "failed" and step["error_type"] == "out_of_memory", step.get("error_message")
    assert "memory limit 286 MiB" in step["error_message"]


@pytest.mark.parametrize("isolation", ["subprocess", "pool"])
def test_a_step_well_under_its_memory_limit_succeeds(tmp_path, isolation):
    pipeline = write_pipeline(tmp_path / "p", {
        "small": {"script": "holders.py", "memory": "300MB", "env": {"N": "2", "MB": "30", "HOLD": "0.5"}},
    }, {"holders.py": HOLDERS})
    with Session(PipelineDAG.from_yaml(pipeline), tmp_path / "ws", progress=False, cache=False,
                 isolation=isolation) as session:
        session.run_all()
        step = session.record["steps"]["small"]
    assert step["status"] == "succeeded", step.get("error_message")


# -- 11. in-process steps, process-wide -----------------------------------------------------------------

PRINTS = """
import os, time

def main(input_paths, output_paths, environ_vars, job_args):
    who = os.environ["WHO"]
    os.environ["ADDED_BY_" + who] = "1"
    os.environ.pop("PIPETEST_TEST_REMOVED", None)
    for _ in range(25):
        print(who, os.getcwd(), sorted(k for k in os.environ if k.startswith("ADDED_BY_")), flush=True)
        time.sleep(0.004)
"""


def test_two_sessions_in_threads_do_not_mix_in_process_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPETEST_TEST_REMOVED", "kept")
    folders = {}
    for who in ("A", "B"):
        pipeline = write_pipeline(tmp_path / who, {f"s{i}": {"script": "prints.py", "env": {"WHO": who}}
                                                   for i in range(3)}, {"prints.py": PRINTS}, name=who)
        folders[who] = pipeline.parent
    environ, cwd = dict(os.environ), os.getcwd()
    barrier = threading.Barrier(2)
    logs: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def run(who: str) -> None:
        try:
            dag = PipelineDAG.from_yaml(folders[who] / "pipeline.yaml")
            with Session(dag, tmp_path / f"ws{who}", progress=False, cache=False, isolation="inprocess") as session:
                barrier.wait()
                assert session.run_all().success, session.result().error
                logs[who] = [(session.run_dir / "steps" / s / "stdout.log").read_text() for s in session.status]
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for who, texts in logs.items():
        for text in texts:
            lines = text.splitlines()
            assert len(lines) == 25, text
            expected = f"{who} {folders[who]} ['ADDED_BY_{who}']"
            assert all(line == expected for line in lines), f"{who}'s step saw or logged another's:\n{text}"
    assert dict(os.environ) == environ  # restored exactly: added vars gone, removed vars back
    assert os.getcwd() == cwd


LOGGING_KERNEL = """
import logging, sys
from pipetest_nb.session import Session

with Session(sys.argv[1], sys.argv[2], progress=False, cache=False, isolation="inprocess") as session:
    assert session.run_all().success, session.result().error
    print(session.run_dir)
logging.info("the kernel logs again")
"""


def test_logging_basic_config_in_one_step_does_not_swallow_the_next_steps_logs(tmp_path):
    one = "import logging\ndef main(*a):\n    logging.basicConfig(level=logging.INFO)\n    logging.info('one says hi')\n"
    two = "import logging\ndef main(*a):\n    logging.info('two says hi')\n"
    three = "import logging\ndef main(*a):\n    logging.getLogger('cursus.step').warning('three says hi')\n"
    pipeline = write_pipeline(tmp_path / "p", {
        "one": {"script": "one.py"}, "two": {"script": "two.py", "depends_on": ["one"]},
        "three": {"script": "three.py", "depends_on": ["two"]},
    }, {"one.py": one, "two.py": two, "three.py": three})
    kernel = subprocess.run([PYTHON, "-c", LOGGING_KERNEL, str(pipeline), str(tmp_path / "ws")],
                            capture_output=True, text=True, timeout=60)
    assert kernel.returncode == 0, kernel.stderr
    run_dir = Path(kernel.stdout.strip().splitlines()[-1])
    for step in ("one", "two", "three"):
        text = (run_dir / "steps" / step / "stderr.log").read_text()
        assert f"{step} says hi" in text, f"{step}'s stderr.log: {text!r}"
        others = {"one", "two", "three"} - {step}
        assert not any(f"{other} says hi" in text for other in others), text
    assert "the kernel logs again" in kernel.stderr  # the handler is the kernel's again afterwards
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"
