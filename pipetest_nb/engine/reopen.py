"""Reopening a recorded run: after a kernel restart, a crash or a kill, to look at it or go on with it.

Opening only reads. The run's record changes (and its folder's lock is taken) when something runs
in it; then what a dead runner left running is killed and recorded ``interrupted``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipetest_nb.engine.options import RunOptions
from pipetest_nb.engine.run import PipelineRun
from pipetest_nb.events import EventKind, StepStatus, Subscriber
from pipetest_nb.records.lock import writer_alive
from pipetest_nb.records.masking import unmask
from pipetest_nb.records.schema import pipeline_to_reopen
from pipetest_nb.records.workspace import run_workspace
from pipetest_nb.records.writer import RunWriter, open_writer
from pipetest_nb.spec.model import PipelineDAG

#: The options a run records and takes back when reopened (unless given again).
_RECORDED = ("isolation", "data_source", "cache", "checks")


def reopen_run(run_dir: str | os.PathLike, *, subscribers: Iterable[Subscriber] = (), hooks: Iterable[object] = (),
               **overrides: Any) -> PipelineRun:
    """Take over a run folder: kill what a dead runner left behind, mark its running steps interrupted.

    ``overrides`` are ``RunOptions`` fields; the others are the run's recorded options, else the defaults."""
    run_dir = Path(run_dir).absolute()
    writer = open_writer(run_dir)
    try:
        dag = _recorded_pipeline(run_dir, writer)
        recorded = writer.record.data.get("options") or {}
        options = RunOptions(workspace=run_workspace(run_dir), **{
            **{k: recorded[k] for k in _RECORDED if recorded.get(k) is not None}, **overrides})
        run = PipelineRun(dag, options=options, writer=writer, subscribers=subscribers, hooks=hooks)
    except Exception:
        writer.close()
        raise
    take_over_when_written(run, alive=writer_alive(run_dir, writer.record.data) is True)
    return run


def _recorded_pipeline(run_dir: Path, writer: RunWriter) -> PipelineDAG:
    """The pipeline as the run recorded it (its secrets read again from the file, where there is one)."""
    pipeline = pipeline_to_reopen(run_dir, writer.record.data)
    dag = PipelineDAG.from_dict(pipeline["spec"], base_dir=pipeline["base_dir"], check_files=False)
    if pipeline.get("source"):
        dag.source = Path(pipeline["source"])
        dag = unmask(dag)
    return dag


def take_over_when_written(run: PipelineRun, alive: bool) -> None:
    """Reopening reads; the takeover waits until something runs in the run.

    While nothing runs, the steps a dead runner left ``running`` are shown ``interrupted`` (held in
    memory, not written). The first write then takes the lock, kills what the dead runner left
    behind and records both, with a RUN_REOPENED event.
    """
    reason = ("the runner stopped while this step was running (kernel restart, crash or kill); "
              "run it again")
    leftovers = {step: dict(entry) for step, entry in run.writer.record.steps.items()
                 if entry.get("status") == StepStatus.RUNNING}
    if not alive:
        for step in leftovers:
            run.emit(EventKind.STEP_FINISHED, step, hold=True, status=StepStatus.INTERRUPTED,
                     error_type="interrupted", error_message=reason)

    def take_over() -> None:
        killed = [step for step, entry in leftovers.items() if _kill_leftover(entry)]
        for step, entry in list(run.writer.record.steps.items()):
            if entry.get("status") == StepStatus.RUNNING:
                if step not in killed and _kill_leftover(entry):
                    killed.append(step)
                run.emit(EventKind.STEP_FINISHED, step, status=StepStatus.INTERRUPTED,
                         error_type="interrupted", error_message=reason)
        run.emit(EventKind.RUN_REOPENED, pid=os.getpid(), killed_leftovers=killed)

    run.writer.on_attach(take_over)



def _kill_leftover(entry: dict[str, Any]) -> bool:
    """Kill what a dead runner left of a step: its process tree and its process group, as long as
    they are still that step's (the pid's create time matches the one recorded)."""
    import psutil

    from pipetest_nb.launch._process import kill_tree

    pid, pgid, created = entry.get("pid"), entry.get("pgid"), entry.get("pid_create_time")
    if not pid:
        return False  # never recorded: its process exits by itself, it never got the go-ahead to run
    own_group = os.getpgid(0)
    group = pgid if pgid and pgid != own_group else None
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return _kill_orphaned_group(group, created)
    except psutil.Error:
        return False
    try:
        if created is not None and abs(proc.create_time() - created) > 1.0:
            return False  # the pid was reused by an unrelated process, so the step's group is gone too
    except psutil.Error:
        return False
    kill_tree(pid, group)
    return True


def _kill_orphaned_group(pgid: int | None, created: float | None) -> bool:
    """Kill the members of a step's process group whose leader is gone (they were started after it).

    A group id cannot be taken by a new group while one of its members lives, so members found are
    the step's."""
    import psutil

    from pipetest_nb.launch._process import kill_tree

    if pgid is None:
        return False
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(proc.pid) == pgid and (created is None or proc.create_time() >= created - 1.0):
                members.append(proc)
    for proc in members:
        kill_tree(proc.pid, pgid)
    return bool(members)
