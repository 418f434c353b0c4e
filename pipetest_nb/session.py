"""``Session``: step through a pipeline from a notebook, run it all, reopen and replay recorded runs.

Everything a widget button does is a method here, so a notebook can be driven cell by cell
without clicking and tested headless. A session pauses where a step fails (the default in a
notebook) and keeps everything on disk, so the run can be reopened after a kernel restart.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetest_nb.engine.options import SESSION
from pipetest_nb.engine.recovery import RecoveryStrategy
from pipetest_nb.engine.reopen import reopen_run
from pipetest_nb.engine.results import PipelineExecutionResult, StepResult
from pipetest_nb.engine.slicing import reuse_upstream, select_steps
from pipetest_nb.engine.start import start_run
from pipetest_nb.events import EdgeState, Event, EventBus, EventKind, StepStatus
from pipetest_nb.exceptions import PipetestError, UnknownStepError
from pipetest_nb.records.record import RunRecord, load_record, read_events
from pipetest_nb.records.workspace import Workspace
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.spec.urls import is_url

DEFAULT_WORKSPACE = SESSION.workspace


class StepOutputs(dict):
    """A step's outputs (logical name -> folder), with helpers that read their tables."""

    def __init__(self, step: str, outputs: dict[str, Path]):
        super().__init__(outputs)
        self.step = step

    def _folder(self, output: str | None) -> Path:
        if output is None:
            if len(self) != 1:
                raise PipetestError(f"step '{self.step}' has outputs {', '.join(self) or '(none)'}; "
                                    "say which one, e.g. .frame('name')")
            output = next(iter(self))
        if output not in self:
            raise PipetestError(f"step '{self.step}' has no output '{output}'; outputs: {', '.join(self)}")
        return Path(self[output])

    def frame(self, output: str | None = None, table: str | None = None, columns: list[str] | None = None,
              nrows: int | None = None) -> Any:
        """One table of an output (or all tables matching a glob, concatenated) as a pandas DataFrame."""
        from pipetest_nb.validation.artifacts import frame

        return frame(self._folder(output), table=table, columns=columns, nrows=nrows)

    def tables(self, output: str | None = None) -> Any:
        """The tables of an output: names, formats, columns, rows."""
        from pipetest_nb.validation.artifacts import inspect_output

        return inspect_output(self._folder(output)).tables


@dataclass
class ReplayFrame:
    """The state of a recorded run just after one of its events."""

    index: int
    event: Event
    record: RunRecord

    @property
    def statuses(self) -> dict[str, str]:
        return {name: step.get("status", StepStatus.PENDING) for name, step in self.record.steps.items()}

    @property
    def edge_states(self) -> dict[str, str]:
        return {key: edge.get("state", EdgeState.UNCHECKED) for key, edge in self.record.edges.items()}


class Replay:
    """Walks the recorded events of a run; ``at(i)`` is the run as it was after event ``i``."""

    def __init__(self, run_dir: Path, events: list[Event] | None = None):
        self.run_dir = Path(run_dir)
        self.events = list(read_events(self.run_dir / "events.jsonl")) if events is None else events
        self._cache: dict[int, RunRecord] = {}

    def __len__(self) -> int:
        return len(self.events)

    def at(self, index: int) -> ReplayFrame:
        if not -len(self.events) <= index < len(self.events):
            raise IndexError(f"run has {len(self.events)} events; no event {index}")
        index %= len(self.events)
        record = RunRecord.empty()
        for event in self.events[: index + 1]:
            record.apply(event)
        return ReplayFrame(index, self.events[index], record)

    def __iter__(self) -> Iterator[ReplayFrame]:
        record = RunRecord.empty()
        for i, event in enumerate(self.events):
            record.apply(event)
            yield ReplayFrame(i, event, RunRecord(copy.deepcopy(record.data)))

    def steps(self) -> Iterator[ReplayFrame]:
        """Only the frames where a step finished: the run, one step at a time."""
        return (f for f in self if f.event.kind == EventKind.STEP_FINISHED)


class Session:
    """An interactive run of a pipeline: ``step()``, ``run_all()``, ``run(until=...)``, ``replay()``..."""

    def __init__(self, dag_or_path: PipelineDAG | str | os.PathLike | None,
                 workspace: str | os.PathLike = DEFAULT_WORKSPACE, *, isolation: str | None = None, executor: Executor | None = None, cache: bool = SESSION.cache,
                 data_source: str = SESSION.data_source, on_error: RecoveryStrategy | str = SESSION.on_error,
                 retry_backoff: float = SESSION.retry_backoff, checks: bool = SESSION.checks, progress: bool = True,
                 _reopen: str | os.PathLike | None = None, _overrides: dict[str, Any] | None = None):
        self.options = SESSION.replace(workspace=workspace, isolation=isolation, executor=executor, cache=cache,
                                       data_source=data_source, on_error=on_error, retry_backoff=retry_backoff,
                                       checks=checks).replace(**(_overrides or {}))
        self.progress = progress
        self.events = EventBus(on_error=lambda *failure: self._run._subscriber_failed(*failure))
        if _reopen is not None:
            self._run = reopen_run(_reopen, subscribers=[self.events.publish], **(_overrides or {}))
            self.options = self.options.replace(workspace=self._run.workspace.root)
        else:
            dag = dag_or_path if isinstance(dag_or_path, PipelineDAG) else PipelineDAG.load(Path(dag_or_path))
            self._run = start_run(dag, self.options, subscribers=[self.events.publish])

    # -- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, run_dir: str | os.PathLike, **options: Any) -> Session:
        """Reopen a recorded run (also one whose runner was killed mid-step) to inspect or continue it.

        Opening only reads: the run's record changes (and its lock is taken) when something runs in it.
        A URL (``s3://bucket/prefix/<run_id>``, where ``--upload`` put it) is downloaded into ``workspace``
        (default ``pipetest_workspace``) first and opened from there; its files are read-only.
        """
        progress = options.pop("progress", True)
        if is_url(str(run_dir)):
            from pipetest_nb.remote.runs import download_run

            run_dir = download_run(str(run_dir), Path(options.pop("workspace", DEFAULT_WORKSPACE)))
        options.setdefault("on_error", SESSION.on_error)
        return cls(None, progress=progress, _reopen=run_dir, _overrides=options)

    # -- what there is ----------------------------------------------------------------------------

    @property
    def dag(self) -> PipelineDAG:
        return self._run.dag

    @property
    def plan(self) -> Any:
        return self._run.plan

    @property
    def run_id(self) -> str:
        return self._run.run_id

    @property
    def run_dir(self) -> Path:
        return self._run.run_dir

    @property
    def workspace(self) -> Workspace:
        return self._run.workspace

    @property
    def status(self) -> dict[str, str]:
        """Step -> pending / running / succeeded / failed / skipped / blocked / cached / interrupted."""
        return self._run.statuses

    @property
    def record(self) -> dict[str, Any]:
        return self._run.record

    def result(self, step: str | None = None) -> StepResult | PipelineExecutionResult:
        """The result of one step, or of the whole run so far."""
        return self._run.step_result(self._check(step)) if step else self._run.result()

    def outputs(self, step: str) -> StepOutputs:
        """A step's outputs in this run: logical name -> folder, with ``.frame()`` and ``.tables()``."""
        entry = self._run.writer.record.steps.get(self._check(step), {})
        outputs = entry.get("outputs") or {n: str(self._run.writer.folder.output_dir(step, n))
                                           for n in self.dag.steps[step].outputs}
        return StepOutputs(step, {k: Path(v) for k, v in outputs.items()})

    def take_run_folder(self) -> Path:
        """Create this run's folder now and hold it (it otherwise appears with the first step), e.g. before
        running a step by hand into its output folders (``%pipetest load_step``)."""
        self._run.writer.attach()
        return self.run_dir

    def history(self) -> list[Event]:
        """Every event recorded so far, in order."""
        return self._recorded_events()

    def _recorded_events(self) -> list[Event]:
        writer = self._run.writer
        if not writer.attached:
            on_disk = list(read_events(self.run_dir / "events.jsonl")) if self.run_dir.exists() else []
            return on_disk + writer.held
        writer.flush()
        return list(read_events(self.run_dir / "events.jsonl"))

    def _check(self, step: str) -> str:
        if step not in self.dag.steps:
            raise UnknownStepError(step, list(self.dag.steps))
        return step

    # -- running ----------------------------------------------------------------------------------

    def next_step(self) -> str | None:
        """The step ``step()`` would run now."""
        ready = self._run.ready_steps()
        return ready[0] if ready else None

    def step(self) -> StepResult | None:
        """Run the next ready step and return its result (None when nothing is left to run)."""
        name = self.next_step()
        if name is None:
            return None
        self._run.run([name])
        return self._run.step_result(name)

    def run_all(self, jobs: int = 1) -> PipelineExecutionResult:
        """Run every step that can run, ``jobs`` independent steps side by side."""
        return self.run(jobs=jobs)

    def run(self, until: str | None = None, from_: str | None = None, jobs: int = 1) -> PipelineExecutionResult:
        """Run up to and including ``until``, and/or from ``from_`` on (reusing recorded upstream outputs)."""
        steps = select_steps(self._run, from_steps=self._check(from_) if from_ else None,
                             to_steps=self._check(until) if until else None)
        with self._progress(steps):
            self._run.run(steps, jobs=jobs)
        return self._run.result(steps)

    def run_step(self, step: str, isolation: str | None = None) -> StepResult:
        """Re-run one step on the recorded outputs of its upstream steps; what follows it becomes pending.

        ``isolation="inprocess"`` runs it in this kernel, so ``%debug`` can open its exception.
        """
        self._check(step)
        missing = [d for d in self.plan.dependencies[step] if self.status[d] not in StepStatus.DONE_OK]
        if missing:
            reuse_upstream(self._run, [step])
        self._run.reset_steps([step, *self.plan.downstream(step)])
        self._run.run([step], isolation=isolation)
        return self._run.step_result(step)

    def debug_step(self, step: str) -> BaseException | None:
        """Re-run a step in this process and return its exception (None if it passed), for ``pdb.post_mortem``."""
        result = self.run_step(step, isolation="inprocess")
        return None if result.success else self._run.last_exception

    def rerun_failed(self, jobs: int = 1) -> PipelineExecutionResult:
        """Re-run the failed (and interrupted) steps on their recorded inputs, then go on with the rest."""
        redo = [s for s, st in self.status.items() if st in (StepStatus.FAILED, StepStatus.INTERRUPTED)]
        blocked = [s for s, st in self.status.items() if st == StepStatus.BLOCKED]
        self._run.reset_steps(redo + blocked)
        return self.run_all(jobs=jobs)

    def stop(self) -> None:
        """Kill the running step(s) cleanly; they become ``interrupted``."""
        self._run.stop()

    def reset(self) -> None:
        """Start a fresh run of the pipeline, read again from its file when it has one (so edits to the
        file count); the old run stays on disk. A file that no longer reads leaves this run as it was."""
        dag = self.dag
        if dag.source is not None and Path(dag.source).is_file() and Path(dag.source).suffix.lower() in (
                ".yaml", ".yml", ".json"):
            dag = PipelineDAG.load(Path(dag.source))
        self._run.close()
        self._run = start_run(dag, self.options.replace(workspace=self.workspace),
                              subscribers=[self.events.publish])

    def close(self) -> None:
        self._run.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _progress(self, steps: list[str] | None) -> Any:
        return _ProgressBar(self, steps) if self.progress else _NoProgress()

    # -- looking back -----------------------------------------------------------------------------

    def replay(self) -> Replay:
        """The recorded events of this run, to walk one by one (``for frame in session.replay().steps()``)."""
        return Replay(self.run_dir, events=self._recorded_events())

    def upload(self, url: str) -> str:
        """Copy this run's folder to ``<url>/<run_id>/`` (``s3://bucket/prefix/``); the URL that
        ``Session.open`` reopens it from."""
        from pipetest_nb.remote.runs import upload_run

        return upload_run(self.flush_record(), url)

    def flush_record(self) -> Path:
        """Bring this run's folder up to date on disk and return it (for a report or a copy)."""
        if not self._run.writer.attached and not self.run_dir.exists():
            raise PipetestError(f"nothing has run in this session yet, so run {self.run_id} has no record; "
                                "run a step first")
        self._run.writer.flush()
        return self.run_dir

    def runs(self) -> list[dict[str, Any]]:
        """Summaries of the runs in this session's workspace, newest first."""
        return [r.summary() for r in self.workspace.runs()]

    def diff(self, other_run: str | os.PathLike | Session, output: str) -> Any:
        """What changed in an output (``step.output``) between another run and this one."""
        from pipetest_nb.validation.diff import diff_outputs

        step, _, name = output.partition(".")
        self._check(step)
        if isinstance(other_run, Session):
            other_dir = other_run.run_dir
        else:
            other_dir = Path(other_run)
            if not other_dir.exists():
                other_dir = self.workspace.runs_dir / str(other_run)
        other = load_record(other_dir).steps.get(step, {}).get("outputs", {})
        if name not in other:
            raise PipetestError(f"run {other_dir.name} has no recorded output '{output}'")
        return diff_outputs(Path(other[name]), Path(self.outputs(step)[name]))

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for status in self.status.values():
            counts[status] = counts.get(status, 0) + 1
        return (f"Session({self.dag.name!r}, run={self.run_id!r}, "
                + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")")


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _ProgressBar:
    """A tqdm.auto bar (a widget in Jupyter, text in a terminal): one tick per finished step."""

    def __init__(self, session: Session, steps: list[str] | None):
        self.session = session
        self.total = len(steps) if steps is not None else len(session.plan.execution_order)
        self.done_before = 0 if steps is not None else sum(
            1 for s in session.status.values() if s not in (StepStatus.PENDING, StepStatus.INTERRUPTED))
        self.bar = None
        self.unsubscribe = None

    def __enter__(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, initial=self.done_before, desc=self.session.dag.name, unit="step",
                        leave=True)
        self.unsubscribe = self.session.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind == EventKind.STEP_STARTED:
            self.bar.set_postfix_str(event.step)
            return
        retried = event.data.get("recovery") in (RecoveryStrategy.RETRY, RecoveryStrategy.RETRY_WITH_DEFAULTS)
        if (event.kind == EventKind.STEP_FINISHED and not retried) or (
                event.kind == EventKind.STEP_STATUS and event.data.get("status") == StepStatus.BLOCKED):
            self.bar.update(1)
            self.bar.set_postfix_str(f"{event.step}: {event.data.get('status')}")

    def __exit__(self, *exc: object) -> None:
        if self.unsubscribe:
            self.unsubscribe()
        if self.bar is not None:
            self.bar.close()
