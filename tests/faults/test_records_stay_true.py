"""Records that stay true: reading a run never changes it, no phantom runs, engine errors are failures,
failing subscribers are reported and every subscriber sees the run from its first event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pipetest_nb import PipelineDAG, PipelineExecutor, PipelineMonitor, Session
from pipetest_nb.events import EventKind
from pipetest_nb.records.record import load_record, read_events

PIPETEST = [sys.executable, "-m", "pipetest_nb.views.cli"]

GOOD = "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n"
BAD = "def main(input_paths, output_paths, environ_vars, job_args):\n    raise ValueError('boom')\n"


def write(folder: Path, steps: dict, scripts: dict[str, str], **top) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in scripts.items():
        (folder / name).write_text(textwrap.dedent(source))
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"name": "trust", **top, "steps": steps}))
    return path


@pytest.fixture
def chain(tmp_path) -> Path:
    return write(tmp_path / "p", {"a": {"script": "good.py"}, "b": {"script": "good.py", "depends_on": ["a"]}},
                 {"good.py": GOOD}, defaults={"isolation": "inprocess"})


@pytest.fixture
def failing(tmp_path) -> Path:
    return write(tmp_path / "p", {"a": {"script": "good.py"}, "b": {"script": "bad.py", "depends_on": ["a"]},
                                  "c": {"script": "good.py", "depends_on": ["b"]}},
                 {"good.py": GOOD, "bad.py": BAD}, defaults={"isolation": "inprocess"})


def record_files(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a run folder with its bytes and mtime: what 'unchanged' means."""
    return {str(p.relative_to(run_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PIPETEST, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def only_run(workspace: Path) -> Path:
    runs = [p for p in (workspace / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


# -- 1. opening a run never changes it ------------------------------------------------------------


@pytest.mark.parametrize("fixture, status", [("chain", "succeeded"), ("failing", "failed")])
def test_opening_a_finished_run_changes_nothing(request, tmp_path, fixture, status):
    pipeline = request.getfixturevalue(fixture)
    ws = tmp_path / "ws"
    with Session(pipeline, ws, progress=False) as session:
        session.run_all()
    run_dir = only_run(ws)
    before = record_files(run_dir)
    assert load_record(run_dir).status == status

    with Session.open(run_dir, progress=False) as again:
        assert again.record["status"] == status
        again.replay()
        again.history()
    Session.open(run_dir, progress=False).close()
    assert cli("runs", "--workspace", str(ws)).returncode == 0
    assert cli("report", str(run_dir), "-o", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")
               ).returncode == 0
    from pipetest_nb.views.notebook.debugger import Debugger

    Debugger(run_dir, workspace=ws).close()

    assert record_files(run_dir) == before
    assert load_record(run_dir).status == status
    assert json.loads((tmp_path / "r.json").read_text())["success"] is (status == "succeeded")
    runs = cli("runs", "--workspace", str(ws)).stdout
    assert status in runs and "running" not in runs


def test_a_reopened_run_changes_only_when_something_runs_in_it(failing, tmp_path):
    ws = tmp_path / "ws"
    with Session(failing, ws, progress=False) as session:
        session.run_all()
    run_dir = only_run(ws)
    before = record_files(run_dir)
    with Session.open(run_dir, progress=False) as again:
        again.run_all()  # paused on the failure: nothing is ready, nothing runs
    assert record_files(run_dir) == before
    (failing.parent / "bad.py").write_text(GOOD)
    with Session.open(run_dir, progress=False) as again:
        assert again.rerun_failed().success
    assert load_record(run_dir).status == "succeeded"


# -- 2. no phantom runs -----------------------------------------------------------------------------


def test_a_session_that_runs_nothing_leaves_no_run(chain, tmp_path):
    ws = tmp_path / "ws"
    with Session(chain, ws, progress=False) as session:
        session.reset()
        session.reset()
        assert session.status == {"a": "pending", "b": "pending"}
    assert not (ws / "runs").exists() or not any((ws / "runs").iterdir())
    listed = cli("runs", "--workspace", str(ws))
    assert "running" not in listed.stdout and "pending" not in listed.stdout


def test_debugger_and_reset_leave_no_run(chain, tmp_path):
    from pipetest_nb.views.notebook.debugger import Debugger

    ws = tmp_path / "ws"
    dbg = Debugger(str(chain), workspace=ws)
    dbg.session.reset()
    dbg.close()
    assert not (ws / "runs").exists() or not any((ws / "runs").iterdir())


def test_a_cli_run_that_fails_before_its_first_step_leaves_no_run(chain, tmp_path):
    ws = tmp_path / "ws"
    done = cli("run", str(chain), "--to", "nosuch", "--workspace", str(ws))
    assert done.returncode != 0
    assert "nosuch" in done.stderr + done.stdout
    assert not (ws / "runs").exists() or not any((ws / "runs").iterdir())


def test_the_first_step_creates_the_run(chain, tmp_path):
    ws = tmp_path / "ws"
    with Session(chain, ws, progress=False) as session:
        assert not session.run_dir.exists()
        session.step()
        assert session.run_dir.is_dir()
        kinds = [e.kind for e in read_events(session.run_dir / "events.jsonl")]
    assert kinds[0] == EventKind.RUN_STARTED and EventKind.STEP_FINISHED in kinds


# -- 3. engine errors are failures ------------------------------------------------------------------


def assert_internal_error(run_dir: Path, step: str, needle: str) -> None:
    record = load_record(run_dir)
    entry = record.steps[step]
    assert entry["status"] == "failed", entry
    assert entry["error_type"] == "internal_error", entry
    assert needle in entry["error_message"]
    assert entry.get("traceback") and "Traceback" in entry["traceback"]
    assert record.status == "failed"


def test_a_check_that_raises_fails_the_step(chain, tmp_path, monkeypatch):
    from pipetest_nb.engine.edge_checks import EdgeChecks

    def broken(self, *args, **kwargs):
        raise RuntimeError("check exploded")

    monkeypatch.setattr(EdgeChecks, "after_step", broken)  # fault injection
    with Session(chain, tmp_path / "ws", progress=False, on_error="fail_pipeline") as session:
        result = session.run_all()
        run_dir = session.run_dir
    assert not result.success
    assert_internal_error(run_dir, "a", "check exploded")
    assert load_record(run_dir).steps["b"]["status"] == "blocked"


def test_a_launcher_that_raises_fails_the_step(chain, tmp_path, monkeypatch):
    from pipetest_nb.launch.inprocess import InProcessLauncher

    def broken(self, job, **kwargs):
        raise OSError("launcher exploded")

    monkeypatch.setattr(InProcessLauncher, "launch", broken)  # fault injection
    with Session(chain, tmp_path / "ws", progress=False) as session:
        session.run_all()
        run_dir = session.run_dir
    assert_internal_error(run_dir, "a", "launcher exploded")


def test_an_exception_whose_str_raises(tmp_path):
    script = """
    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("str of the error exploded")

    def main(input_paths, output_paths, environ_vars, job_args):
        raise Nasty()
    """
    pipeline = write(tmp_path / "p", {"a": {"script": "nasty.py"}}, {"nasty.py": script},
                     defaults={"isolation": "inprocess"})
    with Session(pipeline, tmp_path / "ws", progress=False) as session:
        session.run_all()
        run_dir = session.run_dir
    record = load_record(run_dir)
    assert record.steps["a"]["status"] == "failed"
    assert record.steps["a"]["error_type"] in ("execution_error", "internal_error")
    assert "Nasty" in record.steps["a"]["error_message"]
    assert record.status == "failed"


def test_a_pool_job_over_one_mib(tmp_path):
    from dataclasses import replace

    dag = PipelineDAG.from_yaml(write(tmp_path / "p", {"a": {"script": "good.py"}}, {"good.py": GOOD},
                                      defaults={"isolation": "pool"}))
    dag.steps["a"] = replace(dag.steps["a"], env={"BIG": "x" * (2 * 2**20)})  # too big for a pipeline file
    with Session(dag, tmp_path / "ws", progress=False) as session:
        session.run_all()
        run_dir = session.run_dir
    record = load_record(run_dir)
    assert record.steps["a"]["status"] in ("succeeded", "failed")
    assert record.steps["a"]["status"] != "running" and record.status != "running"
    if record.steps["a"]["status"] == "failed":
        assert record.steps["a"]["error_type"] == "internal_error"


def test_the_writer_raising_fails_the_step(chain, tmp_path, monkeypatch):
    from pipetest_nb.records.writer import RunWriter

    real = RunWriter.emit
    state = {"armed": True}

    def flaky(self, kind, step=None, **data):
        if kind == EventKind.STEP_FINISHED and state["armed"]:
            state["armed"] = False
            raise TypeError("cannot encode this event")  # fault injection: once
        return real(self, kind, step, **data)

    monkeypatch.setattr(RunWriter, "emit", flaky)
    with Session(chain, tmp_path / "ws", progress=False) as session:
        session.run_all()
        run_dir = session.run_dir
    assert_internal_error(run_dir, "a", "cannot encode this event")


def test_error_messages_are_capped(tmp_path):
    script = """
    def main(input_paths, output_paths, environ_vars, job_args):
        raise ValueError("head-" + "x" * 20_000_000 + "-tail")
    """
    pipeline = write(tmp_path / "p", {"a": {"script": "huge.py"}}, {"huge.py": script},
                     defaults={"isolation": "inprocess"})
    with Session(pipeline, tmp_path / "ws", progress=False) as session:
        session.run_all()
        run_dir = session.run_dir
    assert (run_dir / "run.json").stat().st_size < 1_000_000
    assert (run_dir / "events.jsonl").stat().st_size < 1_000_000
    message = load_record(run_dir).steps["a"]["error_message"]
    assert "head-" in message and "-tail" in message and len(message) <= 70 * 1024


# -- 12. subscribers --------------------------------------------------------------------------------


def test_a_failing_subscriber_is_reported(chain, tmp_path):
    with Session(chain, tmp_path / "ws", progress=False) as session:
        def broken(event):
            if event.kind == EventKind.STEP_FINISHED:
                raise ValueError("view exploded")

        session.events.subscribe(broken)
        with pytest.warns(UserWarning, match="view exploded"):
            result = session.run_all()
        run_dir = session.run_dir
    assert result.success
    reported = [e for e in read_events(run_dir / "events.jsonl") if e.kind == EventKind.SUBSCRIBER_FAILED]
    assert reported and "view exploded" in reported[0].data["error"]


def test_execute_pipeline_subscribers_see_the_first_event(chain, tmp_path):
    monitor = PipelineMonitor()
    seen = []
    dag = PipelineDAG.from_yaml(chain)
    result = PipelineExecutor(tmp_path / "ws").execute_pipeline(
        dag, data_source="files", bus_subscribers=[monitor, lambda e: seen.append(e.kind)])
    assert result.success
    assert seen[0] == EventKind.RUN_STARTED and seen[-1] == EventKind.RUN_FINISHED
    report = monitor.generate_report(result.run_id)
    assert "error" not in report
    assert report["execution_summary"]["steps_completed"] == 2


def test_a_run_being_written_opens_read_only(chain, tmp_path):
    """Reading needs no lock: a run being written elsewhere still opens read-only."""
    ws = tmp_path / "ws"
    with Session(chain, ws, progress=False) as session:
        session.step()
        run_dir = session.run_dir
        with Session.open(run_dir, progress=False) as reader:
            assert reader.status["a"] == "succeeded"
        assert os.path.exists(run_dir / "run.json")


def test_a_run_killed_after_its_last_step_is_finished_by_run_all(chain, tmp_path):
    """The runner died between its last step and the run's summary: going on with it writes the summary."""
    ws = tmp_path / "ws"
    runner = textwrap.dedent(f"""
        import os
        from pipetest_nb.engine.run import PipelineRun
        from pipetest_nb.session import Session
        PipelineRun.finish = lambda self: os._exit(9)  # fault injection: die before the summary
        Session({str(chain)!r}, {str(ws)!r}, progress=False).run_all()
    """)
    assert subprocess.run([sys.executable, "-c", runner], timeout=120).returncode == 9
    run_dir = only_run(ws)
    assert load_record(run_dir).steps["b"]["status"] == "succeeded"
    with Session.open(run_dir, progress=False) as again:
        assert again.run_all().success
    assert load_record(run_dir).status == "succeeded"
