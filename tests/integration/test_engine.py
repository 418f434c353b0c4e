"""The engine end to end: real scripts on disk, real subprocesses, real run folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import scripts as s
import yaml

from pipetest_nb import PipelineDAG
from pipetest_nb.engine.executor import PipelineExecutor
from pipetest_nb.events import EventKind, StepStatus
from pipetest_nb.records.record import load_record
from pipetest_nb.session import Session


def make(tmp_path: Path, steps: dict, scripts: dict[str, str], **top) -> PipelineDAG:
    folder = tmp_path / "pipeline"
    folder.mkdir(exist_ok=True)
    for name, source in scripts.items():
        (folder / name).write_text(textwrap.dedent(source))
    (folder / "pipeline.yaml").write_text(yaml.safe_dump({"name": "t", **top, "steps": steps}))
    return PipelineDAG.from_yaml(folder / "pipeline.yaml")


DIAMOND = {
    "a": {"script": "rw.py", "outputs": {"out": {}}},
    "b": {"script": "rw.py", "inputs": {"IN": "a.out"}, "outputs": {"out": {}}},
    "c": {"script": "rw.py", "inputs": {"IN": "a.out"}, "outputs": {"out": {}}},
    "d": {"script": "join.py", "inputs": {"LEFT": "b.out", "RIGHT": "c.out"}, "outputs": {"out": {}}},
}


@pytest.mark.parametrize("isolation", ["subprocess", "inprocess", "pool"])
def test_diamond_runs_in_each_isolation_mode(tmp_path, isolation):
    dag = make(tmp_path, DIAMOND, {"rw.py": s.READ_WRITE_PARQUET, "join.py": s.JOIN_CSV})
    result = PipelineExecutor(tmp_path / "ws", isolation=isolation).execute_pipeline(dag, data_source="files")
    assert result.success, result.error
    assert len(result.completed_steps) == 4 and result.total_duration > 0
    joined = pd.read_csv(result.steps["d"].outputs["out"] / "joined.csv")
    assert len(joined) == 100 and (joined["x_l"] == 2).sum() == 1
    record = load_record(result.run_dir)
    assert record.status == "succeeded"
    assert record.data["versions"]["pandas"] == pd.__version__
    assert (result.run_dir / "steps" / "a" / "stdout.log").read_text().strip() == "rows 100"
    assert sorted(os.listdir(result.steps["a"].outputs["out"])) == ["data.parquet"]  # nothing of ours in there
    metrics = result.steps["a"].metrics
    assert metrics.duration > 0 and metrics.output_data_size > 0


def test_linear_chain_environ_cli_and_pool(tmp_path):
    steps = {
        "env": {"script": "env.py", "env": {"LABEL_FIELD": "label"}, "args": {"job_type": "training"},
                "outputs": {"out": {}}},
        "cli": {"script": "cli.py", "mode": "cli", "inputs": {"IN": "env.out"}, "env": {"GREETING": "hi"},
                "args": {"job_type": "calibration"}, "outputs": {"out": {}}},
        "pool": {"script": "mp_pool.py", "inputs": {"IN": "cli.out"}, "outputs": {"out": {}}, "timeout": 60},
    }
    dag = make(tmp_path, steps, {"env.py": s.READS_ENVIRON, "cli.py": s.CLI_PROGRAM,
                                 "mp_pool.py": s.MULTIPROCESSING_POOL})
    with Session(dag, tmp_path / "ws", progress=False) as session:
        result = session.run_all()
        assert result.success, result.error
        assert (session.outputs("env")["out"] / "env.txt").read_text() == "label training"
        assert (session.outputs("cli")["out"] / "cli.txt").read_text() == "calibration hi"
        assert (session.outputs("pool")["out"] / "total.txt").read_text() == "285"


FAULTS = {
    "exit3": {"script": "exit3.py"},
    "segv": {"script": "segv.py"},
    "hang": {"script": "hang.py", "timeout": 2},
    "loud": {"script": "loud.py"},
    "raises": {"script": "raises.py"},
}


@pytest.fixture
def faults(tmp_path):
    steps = {**FAULTS, "hang": {**FAULTS["hang"], "env": {"PID_FILE": str(tmp_path / "grandchild.pid")}}}
    dag = make(tmp_path, steps, {"exit3.py": s.EXIT_3, "segv.py": s.SEGFAULT, "hang.py": s.HANG_WITH_GRANDCHILD,
                                  "loud.py": s.LOUD, "raises.py": s.RAISES})
    session = Session(dag, tmp_path / "ws", progress=False, cache=False)
    yield session
    session.close()


def test_exit_code_is_a_useful_failure(faults):
    result = faults.run_step("exit3")
    assert result.status == StepStatus.FAILED and result.error_type == "exit_code"
    assert "3" in result.error_message and "giving up" in result.error_message


def test_segfault_is_reported_as_a_signal(faults):
    result = faults.run_step("segv")
    assert result.status == StepStatus.FAILED and result.error_type == "signal"
    assert "SIGSEGV" in result.error_message


def test_hang_is_killed_by_timeout_with_its_grandchildren(faults, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    result = faults.run_step("hang")
    assert result.status == StepStatus.FAILED and result.error_type == "timeout"
    grandchild = int(pid_file.read_text())
    deadline = time.time() + 5
    while psutil.pid_exists(grandchild) and psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE:
        assert time.time() < deadline, "grandchild survived the timeout"
        time.sleep(0.05)


def test_fifty_megabytes_of_stdout_are_capped_and_the_tail_kept(faults):
    result = faults.run_step("loud")
    assert result.status == StepStatus.SUCCEEDED
    log = (faults.run_dir / "steps" / "loud" / "stdout.log").read_text()
    assert len(log) < 5 * 2**20 and log.rstrip().endswith("the end") and "omitted" in log


def test_exception_names_type_message_and_the_scripts_frame(faults):
    result = faults.run_step("raises")
    assert result.error_type == "execution_error"
    assert "ValueError" in result.error_message and "bad value 42" in result.error_message
    assert "raises.py" in result.traceback and "helper" in result.traceback


def test_failure_pauses_the_session_and_blocks_nothing_else(tmp_path):
    dag = make(tmp_path, {"ok": {"script": "rw.py", "outputs": {"out": {}}},
                          "bad": {"script": "raises.py", "inputs": {"IN": "ok.out"}, "outputs": {"out": {}}},
                          "after": {"script": "rw.py", "inputs": {"IN": "bad.out"}, "outputs": {"out": {}}}},
               {"rw.py": s.READ_WRITE_PARQUET, "raises.py": s.RAISES})
    with Session(dag, tmp_path / "ws", progress=False) as session:
        first = session.step()
        assert first.step_name == "ok" and first.success
        result = session.run_all()
        assert not result.success and session.status == {"ok": "succeeded", "bad": "failed", "after": "pending"}
        assert result.root_failure["step"] == "bad" and "bad value 42" in result.error


def test_fail_pipeline_blocks_downstream_and_names_the_root_failure(tmp_path):
    dag = make(tmp_path, {"ok": {"script": "rw.py", "outputs": {"out": {}}},
                          "bad": {"script": "raises.py", "inputs": {"IN": "ok.out"}, "outputs": {"out": {}}},
                          "after": {"script": "rw.py", "inputs": {"IN": "bad.out"}, "outputs": {"out": {}}}},
               {"rw.py": s.READ_WRITE_PARQUET, "raises.py": s.RAISES})
    result = PipelineExecutor(tmp_path / "ws").execute_pipeline(dag, data_source="files")
    assert not result.success and len(result.completed_steps) == 1
    assert result.error.startswith("Pipeline failed at step bad: execution_error")
    assert result.steps["after"].status == StepStatus.BLOCKED and result.not_run == ["after"]


def test_cache_reruns_only_the_changed_step_and_what_follows(tmp_path):
    dag = make(tmp_path, DIAMOND, {"rw.py": s.READ_WRITE_PARQUET, "join.py": s.JOIN_CSV})
    folder = dag.base_dir
    (folder / "rw_b.py").write_text(textwrap.dedent(s.READ_WRITE_PARQUET))
    spec = yaml.safe_load((folder / "pipeline.yaml").read_text())
    spec["steps"]["b"]["script"] = "rw_b.py"
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    executor = PipelineExecutor(tmp_path / "ws", isolation="pool")
    first = executor.execute_pipeline(PipelineDAG.from_yaml(folder / "pipeline.yaml"), data_source="files")
    assert {r.status for r in first.steps.values()} == {"succeeded"}
    assert pd.read_csv(first.steps["d"].outputs["out"] / "joined.csv")["x_l"].min() == 1
    (folder / "rw_b.py").write_text(textwrap.dedent(s.READ_WRITE_PARQUET).replace("+ 1", "+ 2"))
    second = executor.execute_pipeline(PipelineDAG.from_yaml(folder / "pipeline.yaml"), data_source="files")
    assert {n: r.status for n, r in second.steps.items()} == {"a": "cached", "b": "succeeded", "c": "cached",
                                                               "d": "succeeded"}
    assert pd.read_csv(second.steps["d"].outputs["out"] / "joined.csv")["x_l"].min() == 2


def test_two_independent_steps_run_side_by_side(tmp_path):
    steps = {"one": {"script": "sleep.py", "env": {"SECONDS": "1"}, "outputs": {"out": {}}},
             "two": {"script": "sleep.py", "env": {"SECONDS": "1.01"}, "outputs": {"out": {}}}}
    dag = make(tmp_path, steps, {"sleep.py": s.SLEEP})
    with Session(dag, tmp_path / "ws", progress=False, isolation="pool") as session:
        assert session.run_all(jobs=2).success
        one, two = (session.record["steps"][n] for n in ("one", "two"))
        # the two steps' running intervals overlap: each started before the other finished
        assert one["started_at"] < two["finished_at"] and two["started_at"] < one["finished_at"]


def test_a_second_writer_gets_a_clear_error(tmp_path):

    dag = make(tmp_path, {"a": {"script": "rw.py", "outputs": {"out": {}}}}, {"rw.py": s.READ_WRITE_PARQUET})
    with Session(dag, tmp_path / "ws", progress=False) as session:
        session.step()  # the run is on disk and this session holds it
        code = f"from pipetest_nb.session import Session; Session.open({str(session.run_dir)!r}).run_step('a')"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "RunLockedError" in done.stderr
        assert "being written by another process" in done.stderr


RUNNER = """
import sys
from pipetest_nb.session import Session
session = Session(sys.argv[1], sys.argv[2], progress=False)
print(session.run_dir, flush=True)
session.run_all()
"""


def test_runner_killed_mid_step_reopens_and_finishes(tmp_path):
    marker = tmp_path / "slow.marker"
    marker.write_text("60")
    slow = textwrap.dedent(s.SLEEP).replace('float(environ_vars.get("SECONDS", "1"))',
                                            f'float(open({str(marker)!r}).read()) if __import__("os").path.exists('
                                            f'{str(marker)!r}) else 0')
    dag = make(tmp_path, {"a": {"script": "rw.py", "outputs": {"out": {}}},
                          "slow": {"script": "slow.py", "inputs": {"IN": "a.out"}, "outputs": {"out": {}}},
                          "c": {"script": "rw.py", "inputs": {"IN": "a.out"}, "outputs": {"out": {}}}},
               {"rw.py": s.READ_WRITE_PARQUET, "slow.py": slow})
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(dag.source), str(tmp_path / "ws")],
                              stdout=subprocess.PIPE, text=True)
    run_dir = Path(runner.stdout.readline().strip())
    deadline = time.time() + 60
    while not (run_dir / "events.jsonl").exists() or not any(  # the folder appears with the first step
            e.get("step") == "slow" and e.get("data", {}).get("pid")
            for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines())):
        assert time.time() < deadline, "the slow step never started"
        time.sleep(0.05)
    a_output = run_dir / "steps" / "a" / "outputs" / "out" / "data.parquet"
    a_mtime = a_output.stat().st_mtime_ns
    runner.send_signal(signal.SIGKILL)
    runner.wait(10)
    marker.unlink()

    with Session.open(run_dir, progress=False) as session:
        assert session.status["slow"] == StepStatus.INTERRUPTED and session.status["a"] == StepStatus.SUCCEEDED
        result = session.run_all()  # the takeover (killing what the dead runner left) comes with the first write
        assert result.success, result.error
        reopened = [e for e in session.history() if e.kind == EventKind.RUN_REOPENED]
        assert reopened and reopened[0].data["killed_leftovers"] == ["slow"]
        assert session.record["steps"]["a"]["attempts"] == 1 and a_output.stat().st_mtime_ns == a_mtime
        assert session.record["steps"]["slow"]["attempts"] == 2


def test_replay_walks_the_recorded_steps(tmp_path):
    dag = make(tmp_path, DIAMOND, {"rw.py": s.READ_WRITE_PARQUET, "join.py": s.JOIN_CSV})
    with Session(dag, tmp_path / "ws", progress=False, isolation="inprocess") as session:
        session.run_all()
        run_dir = session.run_dir
    replay = Session.open(run_dir, progress=False).replay()
    frames = list(replay.steps())
    assert [f.event.step for f in frames] == ["a", "b", "c", "d"]
    assert frames[0].statuses == {"a": "succeeded", "b": "pending", "c": "pending", "d": "pending"}
    assert replay.at(-1).statuses["d"] == "succeeded"


def test_rerun_failed_after_fixing_the_script(tmp_path):
    dag = make(tmp_path, {"a": {"script": "rw.py", "outputs": {"out": {}}},
                          "b": {"script": "b.py", "inputs": {"IN": "a.out"}, "outputs": {"out": {}}},
                          "c": {"script": "rw.py", "inputs": {"IN": "b.out"}, "outputs": {"out": {}}}},
               {"rw.py": s.READ_WRITE_PARQUET, "b.py": s.RAISES})
    with Session(dag, tmp_path / "ws", progress=False) as session:
        assert not session.run_all().success
        run_dir = session.run_dir
    (dag.base_dir / "b.py").write_text(textwrap.dedent(s.READ_WRITE_PARQUET))
    with Session.open(run_dir, progress=False) as session:
        result = session.rerun_failed()
        assert result.success and session.record["steps"]["a"]["attempts"] == 1


def test_run_from_a_step_reuses_recorded_upstream_outputs(tmp_path):
    dag = make(tmp_path, DIAMOND, {"rw.py": s.READ_WRITE_PARQUET, "join.py": s.JOIN_CSV})
    with Session(dag, tmp_path / "ws", progress=False, isolation="inprocess") as session:
        assert session.run(until="b").success  # what was asked for is done
        assert session.record["status"] == "incomplete"
        assert session.status == {"a": "succeeded", "b": "succeeded", "c": "pending", "d": "pending"}
    with Session(dag, tmp_path / "ws", progress=False, isolation="inprocess", cache=False) as session:
        session.run(from_="c")
        assert session.status == {"a": "cached", "b": "cached", "c": "succeeded", "d": "succeeded"}


def test_dask_local_cluster_runs_a_diamond(tmp_path):
    distributed = pytest.importorskip("distributed")
    dag = make(tmp_path, DIAMOND, {"rw.py": s.READ_WRITE_PARQUET, "join.py": s.JOIN_CSV})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                  processes=True) as cluster, distributed.Client(cluster) as client:
        result = PipelineExecutor(tmp_path / "ws", executor=client.get_executor()).execute_pipeline(
            dag, data_source="files", jobs=2)
    assert result.success, result.error
    assert len(pd.read_csv(result.steps["d"].outputs["out"] / "joined.csv")) == 100
