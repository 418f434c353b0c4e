"""One step's lifecycle: its end is recorded on every exit, hooks take keyword arguments, and every
entry into the engine starts runs with the same defaults (except the documented ones)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pipelines import NOOP_SCRIPT, write_pipeline

from pipetest_nb import PipelineDAG, PipetestWarning, Session
from pipetest_nb.engine import lifecycle, options
from pipetest_nb.engine.executor import PipelineExecutor, PipelineScriptExecutor
from pipetest_nb.engine.options import BATCH_API, SESSION, STEP_API, RunOptions
from pipetest_nb.engine.recovery import PipelineErrorHandler
from pipetest_nb.engine.run import PipelineRun
from pipetest_nb.engine.start import start_run
from pipetest_nb.events import EventKind, StepStatus
from pipetest_nb.records.record import load_record, read_events

FAIL_SCRIPT = "def main(input_paths, output_paths, environ_vars, job_args):\n    raise ValueError('bad row')\n"
SLEEP_SCRIPT = ("import time\n\ndef main(input_paths, output_paths, environ_vars, job_args):\n"
                "    time.sleep(30)\n")

PIPELINE = """
name: two
steps:
  a: {script: a.py, outputs: {out: {}}%s}
  b: {script: b.py, inputs: {IN: a.out}}
"""


class Recorder:
    """A hook that keeps what it was called with (keyword-only, tolerant of new arguments)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def before_step(self, *, step, attempt, isolation, **future_kwargs):
        self.calls.append(("before", {"step": step, "attempt": attempt, "isolation": isolation}))

    def after_step(self, *, step, status, error, duration, **future_kwargs):
        self.calls.append(("after", {"step": step, "status": status, "error": error, "duration": duration,
                                     **future_kwargs}))


def two_steps(tmp_path, script_a: str = NOOP_SCRIPT, extra: str = "") -> PipelineDAG:
    path = write_pipeline(tmp_path / "p", PIPELINE % extra, {"a.py": script_a, "b.py": NOOP_SCRIPT})
    return PipelineDAG.load(path)


def run_with_hook(tmp_path, dag: PipelineDAG, **overrides) -> tuple[PipelineRun, Recorder]:
    hook = Recorder()
    options = RunOptions(workspace=tmp_path / "ws", isolation="inprocess").replace(**overrides)
    run = start_run(dag, options, hooks=[hook])
    try:
        run.run()
    finally:
        run.close()
    return run, hook


def starts_and_ends(run: PipelineRun, step: str) -> tuple[int, int]:
    events = [e for e in read_events(run.run_dir / "events.jsonl") if e.step == step]
    return (sum(e.kind == EventKind.STEP_STARTED for e in events),
            sum(e.kind == EventKind.STEP_FINISHED for e in events))


def assert_finished_once(run: PipelineRun, hook: Recorder, step: str, status: str) -> dict:
    entry = load_record(run.run_dir).steps[step]
    assert entry["status"] == status, entry
    assert starts_and_ends(run, step) == (1, 1)
    after = [c for kind, c in hook.calls if kind == "after" and c["step"] == step]
    assert len(after) == 1 and after[0]["status"] == status
    return entry


def test_a_step_that_succeeds_is_finished_with_its_metrics(tmp_path):
    run, hook = run_with_hook(tmp_path, two_steps(tmp_path))
    entry = assert_finished_once(run, hook, "a", StepStatus.SUCCEEDED)
    assert "duration" in entry["metrics"]
    assert hook.calls[0] == ("before", {"step": "a", "attempt": 1, "isolation": "inprocess"})
    assert load_record(run.run_dir).status == "succeeded"


def test_a_failing_script_is_finished_with_its_error(tmp_path):
    run, hook = run_with_hook(tmp_path, two_steps(tmp_path, FAIL_SCRIPT))
    entry = assert_finished_once(run, hook, "a", StepStatus.FAILED)
    assert "bad row" in entry["error_message"]
    after = next(c for kind, c in hook.calls if kind == "after")
    assert "bad row" in after["error"] and after["error_type"] == entry["error_type"]
    assert load_record(run.run_dir).steps["b"]["status"] == StepStatus.BLOCKED


def test_a_step_past_its_timeout_is_finished(tmp_path):
    dag = two_steps(tmp_path, SLEEP_SCRIPT, extra=", timeout: 1")
    run, hook = run_with_hook(tmp_path, dag, isolation="subprocess")
    entry = assert_finished_once(run, hook, "a", StepStatus.FAILED)
    assert entry["error_type"] == "timeout"


def test_an_exception_while_checking_outputs_is_finished_as_an_internal_error(tmp_path, monkeypatch):
    def broken(path):
        raise RuntimeError("sizing exploded")

    monkeypatch.setattr(lifecycle, "tree_size", broken)  # fault injection: sizing the inputs raises
    path = write_pipeline(tmp_path / "p2", """
    name: fed
    steps:
      a: {script: a.py, inputs: {IN: {path: data.txt}}}
    """, {"a.py": NOOP_SCRIPT, "data.txt": "x"})
    run, hook = run_with_hook(tmp_path, PipelineDAG.load(path))
    entry = assert_finished_once(run, hook, "a", StepStatus.FAILED)
    assert entry["error_type"] == "internal_error" and "sizing exploded" in entry["error_message"]
    assert "checking and caching the step's outputs" in entry["error_message"]


def test_an_exception_in_the_error_policy_is_finished_as_an_internal_error(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("policy exploded")

    monkeypatch.setattr(PipelineErrorHandler, "decide", broken)  # fault injection
    run, hook = run_with_hook(tmp_path, two_steps(tmp_path, FAIL_SCRIPT))
    entry = assert_finished_once(run, hook, "a", StepStatus.FAILED)
    assert entry["error_type"] == "internal_error" and "policy exploded" in entry["error_message"]
    record = load_record(run.run_dir)
    assert record.steps["b"]["status"] == StepStatus.BLOCKED and record.status == "failed"


def test_ctrl_c_during_a_step_is_finished_as_interrupted(tmp_path, monkeypatch):
    def interrupt(paths):
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "snapshot_inputs", interrupt)  # fault injection: Ctrl-C inside the step
    hook = Recorder()
    run = start_run(two_steps(tmp_path), RunOptions(workspace=tmp_path / "ws", isolation="inprocess"), hooks=[hook])
    with pytest.raises(KeyboardInterrupt):
        run.run()
    run.close()
    assert_finished_once(run, hook, "a", StepStatus.INTERRUPTED)
    assert load_record(run.run_dir).status == "interrupted"


def test_every_retry_is_an_attempt_with_its_own_end(tmp_path):
    dag = two_steps(tmp_path, FAIL_SCRIPT, extra=", on_error: retry, retries: 2")
    run, hook = run_with_hook(tmp_path, dag, retry_backoff=0.0)
    assert starts_and_ends(run, "a") == (3, 3)
    assert [c["attempt"] for kind, c in hook.calls if kind == "after"] == [1, 2, 3]
    assert [c["retrying"] for kind, c in hook.calls if kind == "after"] == [True, True, False]


# -- hooks ------------------------------------------------------------------------------------------


def test_hooks_take_keyword_arguments_and_tolerate_new_ones():
    hook = Recorder()
    hook.after_step(step="a", status="succeeded", error=None, duration=0.5, a_future_argument=1)
    assert hook.calls == [("after", {"step": "a", "status": "succeeded", "error": None, "duration": 0.5,
                                     "a_future_argument": 1})]
    with pytest.raises(TypeError):
        hook.after_step("a", "succeeded", None, 0.5)  # keyword-only: positions would break on a new argument


def test_a_hook_without_a_method_is_skipped_and_a_broken_one_is_reported(tmp_path):
    class OnlyAfter:
        def after_step(self, **kwargs):
            raise RuntimeError("hook exploded")

    run = start_run(two_steps(tmp_path), RunOptions(workspace=tmp_path / "ws", isolation="inprocess"),
                    hooks=[OnlyAfter()])
    with pytest.warns(PipetestWarning, match="OnlyAfter"):
        run.run()
    run.close()
    record = load_record(run.run_dir)
    assert record.status == "succeeded"
    failures = [e for e in read_events(run.run_dir / "events.jsonl") if e.kind == EventKind.SUBSCRIBER_FAILED]
    assert {e.data["event_kind"] for e in failures} == {"after_step"} and len(failures) == 2


def test_subscribers_see_the_run_from_its_first_event(tmp_path):
    seen = []
    run = start_run(two_steps(tmp_path), RunOptions(workspace=tmp_path / "ws", isolation="inprocess"),
                    subscribers=[lambda e: seen.append(e.kind)])
    run.run()
    run.close()
    assert seen[0] == EventKind.RUN_STARTED and seen[-1] == EventKind.RUN_FINISHED


# -- one set of defaults ----------------------------------------------------------------------------

#: The fields where an entry keeps a default of its own (each written down, with why, in engine/options.py).
OWN_DEFAULTS = {"SESSION": {"on_error"}, "BATCH_API": {"workspace", "data_source"},
                "STEP_API": {"workspace", "cache"}}


@pytest.mark.parametrize("name", sorted(OWN_DEFAULTS))
def test_entries_differ_from_the_engine_defaults_only_where_documented(name):
    entry, base = getattr(options, name), RunOptions()
    differ = {f.name for f in dataclasses.fields(RunOptions) if getattr(entry, f.name) != getattr(base, f.name)}
    assert differ == OWN_DEFAULTS[name]


def test_each_entry_builds_its_documented_defaults(tmp_path):
    dag = two_steps(tmp_path)
    assert PipelineRun(dag, tmp_path / "ws").options == RunOptions(workspace=tmp_path / "ws")
    with Session(dag, tmp_path / "ws", progress=False) as session:
        assert session.options == SESSION.replace(workspace=tmp_path / "ws")
    assert PipelineExecutor(tmp_path / "ws").options() == BATCH_API.replace(workspace=tmp_path / "ws")
    assert PipelineExecutor().options() == BATCH_API.replace(workspace=type(tmp_path)(BATCH_API.workspace))
    assert PipelineScriptExecutor().workspace_dir == type(tmp_path)(STEP_API.workspace)


def test_executor_session_and_cli_record_the_same_settings(tmp_path):
    from pipetest_nb.views.cli.main import main

    dag = two_steps(tmp_path)
    recorded = []
    result = PipelineExecutor(tmp_path / "ws1").execute_pipeline(dag, data_source="files")
    recorded.append(load_record(result.run_dir).data["options"])
    with Session(dag, tmp_path / "ws2", progress=False) as session:
        session.run_all()
        recorded.append(load_record(session.run_dir).data["options"])
    assert main(["run", str(dag.source), "--workspace", str(tmp_path / "ws3")]) == 0
    (run_dir,) = (tmp_path / "ws3" / "runs").iterdir()
    recorded.append(json.loads((run_dir / "run.json").read_text())["options"])
    assert recorded[0] == recorded[1] == recorded[2] == RunOptions().recorded()


class Captured(BaseException):
    """Raised by the stand-in for start_run once it has seen the options of an entry."""


def test_all_five_entries_start_runs_with_the_same_defaults(tmp_path, monkeypatch):
    """PipelineExecutor, Session, and the CLI's run, demo and cursus run: the options each one starts its
    run with differ from RunOptions() only in the workspace and the documented defaults of its own."""
    from pathlib import Path

    import pipetest_nb.engine.executor
    import pipetest_nb.engine.start
    import pipetest_nb.session
    from pipetest_nb.views.cli.main import main

    seen: dict[str, RunOptions] = {}

    def capture(name):
        def start_run(dag, options=RunOptions(), **kwargs):  # noqa: B008
            seen[name] = options
            raise Captured

        return start_run

    dag = two_steps(tmp_path)
    monkeypatch.setattr(pipetest_nb.engine.executor, "start_run", capture("executor"))
    with pytest.raises(Captured):
        PipelineExecutor(tmp_path / "ws").execute_pipeline(dag, data_source="files")
    monkeypatch.setattr(pipetest_nb.session, "start_run", capture("session"))
    with pytest.raises(Captured):
        Session(dag, tmp_path / "ws", progress=False)
    chain = Path(__file__).parent / "fixtures" / "cursus" / "chain"
    commands = {"run": ["run", str(dag.source), "--workspace", str(tmp_path / "ws")],
                "demo": ["demo", "--workspace", str(tmp_path / "demo")],
                "cursus run": ["cursus", "run", str(chain / "pipeline_dag.json"), str(chain / "config.json"),
                               "--contracts", str(chain / "contracts"), "--overrides", str(chain / "overrides.yaml"),
                               "--workspace", str(tmp_path / "ws")]}
    for name, argv in commands.items():
        monkeypatch.setattr(pipetest_nb.engine.start, "start_run", capture(name))
        with pytest.raises(Captured):
            main(argv)
    assert set(seen) == {"executor", "session", "run", "demo", "cursus run"}
    own = {"executor": BATCH_API, "session": SESSION}
    for name, used in seen.items():
        expected = own.get(name, RunOptions())
        if name == "executor":
            expected = expected.replace(data_source="files")  # asked for explicitly above
        assert used.replace(workspace=expected.workspace) == expected, name


def test_a_steps_lifecycle_sees_its_run_only_through_run_context(tmp_path):
    """lifecycle, prepare and outside_writes never import the run loop, not even for typing; they use
    none of its private members, and PipelineRun has every member of ``RunContext``."""
    import inspect

    import grimp

    from pipetest_nb.engine import context, outside_writes, prepare

    graph = grimp.build_graph("pipetest_nb", exclude_type_checking_imports=False, cache_dir=None)
    for module in (lifecycle, prepare, outside_writes, context):
        assert "pipetest_nb.engine.run" not in graph.find_modules_directly_imported_by(module.__name__)
        assert "run._" not in inspect.getsource(module), module.__name__
    run, _ = run_with_hook(tmp_path, two_steps(tmp_path))
    members = {n for n in vars(context.RunContext) if not n.startswith("_")} | set(context.RunContext.__annotations__)
    assert {n for n in members if not hasattr(run, n)} == set()
