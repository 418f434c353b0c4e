"""The run loop: ``PipelineRun`` holds a run's state, schedules its ready steps and summarises it.

``PipelineRun`` is the one place where a run's state changes; every change is an event (see
``events.py``) that the run record, the monitor, progress bars and widgets subscribe to. It only
schedules: one attempt at a step is ``engine/lifecycle.py``, what follows a failure
``engine/recovery.py``. Runs are made by ``engine/start.py`` (``start_run``) and reopened by
``engine/reopen.py``; ``engine/executor.py`` runs a whole pipeline in one call (batch, CI) and
``session.Session`` drives a run step by step from a notebook.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from pipetest_nb.engine.edge_checks import EdgeChecks, report_from_dict
from pipetest_nb.engine.lifecycle import INTERRUPTED_BY_USER, run_step
from pipetest_nb.engine.options import RunOptions
from pipetest_nb.engine.recovery import PipelineErrorHandler
from pipetest_nb.engine.results import PipelineExecutionResult, StepResult
from pipetest_nb.engine.warm import warm_workers
from pipetest_nb.events import Event, EventBus, EventKind, StepStatus, Subscriber
from pipetest_nb.exceptions import PipetestWarning
from pipetest_nb.launch.base import Launcher
from pipetest_nb.plan import PipelineDAGResolver, PipelineExecutionPlan
from pipetest_nb.records.cache import StepCache
from pipetest_nb.records.changes import last_green_run
from pipetest_nb.records.masking import masked_spec
from pipetest_nb.records.monitor import StepMetrics
from pipetest_nb.records.suspects import explain_failure
from pipetest_nb.records.workspace import Workspace, library_versions
from pipetest_nb.records.writer import RunWriter
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.text import cap_text

RUNNABLE = (StepStatus.PENDING, StepStatus.INTERRUPTED)


class PipelineRun:
    """One run of a pipeline in a run folder: schedules steps, launches them, records everything."""

    def __init__(self, dag: PipelineDAG, workspace: Workspace | str | os.PathLike | None = None, *,
                 options: RunOptions | None = None, writer: RunWriter | None = None,
                 subscribers: Iterable[Subscriber] = (), hooks: Iterable[object] = (), **overrides: Any):
        """``options`` (default ``RunOptions()``), with ``workspace`` and any of its fields as ``overrides``."""
        options = (options or RunOptions()).replace(
            **overrides, **({"workspace": workspace} if workspace is not None else {}))
        self.options = options
        self.hooks = list(hooks)  # before_step / after_step, called with keyword arguments (engine/lifecycle.py)
        self.dag = dag
        self.plan: PipelineExecutionPlan = PipelineDAGResolver(dag).create_execution_plan()
        root = options.workspace
        self.workspace = root if isinstance(root, Workspace) else Workspace(Path(root))
        self.isolation = options.isolation
        self.executor = options.executor
        self.use_cache = options.cache
        self.data_source = options.data_source
        self.synthetic_rows = options.synthetic_rows
        self.errors = PipelineErrorHandler(default=options.on_error, backoff_base=options.retry_backoff)
        self.cache = StepCache(self.workspace.cache_dir)
        self.bus = EventBus(on_error=self._subscriber_failed)
        for subscriber in subscribers:  # before the first event, so that every subscriber sees the whole run
            self.bus.subscribe(subscriber)
        self._launchers: dict[str, Launcher] = {}
        self._launcher_lock = threading.Lock()
        self._running: dict[str, Launcher] = {}
        self._stop = threading.Event()
        self._halt = False
        self._active_time = 0.0
        self._position = {s: i for i, s in enumerate(self.plan.execution_order)}
        self._dependents = {s: self.plan.dependents(s) for s in self.plan.execution_order}
        self._unmet: dict[str, int] = {}
        self._ready: set[str] = set()
        self._unfinished = False  # something was recorded since the last RUN_FINISHED
        self.checks = EdgeChecks(dag, self.emit, lambda: self.writer, enabled=options.checks,
                                 engine=options.checks_engine)
        if writer is None:
            self.writer = self.workspace.create_run(dag.name)
            self._index_readiness()
            self.emit(EventKind.RUN_STARTED, hold=True, **self._run_header())  # written when a step starts
        else:
            self.writer = writer
            self._index_readiness()
            self._active_time = float(writer.record.data.get("duration") or 0.0)

    # -- state -------------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.writer.run_id

    @property
    def run_dir(self) -> Path:
        return self.writer.folder.path

    @property
    def record(self) -> dict[str, Any]:
        return self.writer.record.data

    def status_of(self, step: str) -> str:
        return self.writer.record.step_status(step)

    @property
    def statuses(self) -> dict[str, str]:
        with self.writer._lock:
            return {s: self.status_of(s) for s in self.plan.execution_order}

    def ready_steps(self, allowed: set[str] | None = None) -> list[str]:
        """Steps that may start now: not yet run (or interrupted), every dependency done."""
        with self.writer._lock:
            ready = [s for s in self._ready if (allowed is None or s in allowed) and s not in self._running]
        return sorted(ready, key=self._position.__getitem__)

    def _index_readiness(self) -> None:
        """Count each step's unfinished dependencies once; status changes then keep the counts (no rescans)."""
        statuses = self.statuses
        for step in self.plan.execution_order:
            self._unmet[step] = sum(statuses[d] not in StepStatus.DONE_OK for d in self.plan.dependencies[step])
            self._refresh_ready(step)

    def _refresh_ready(self, step: str) -> None:
        if self._unmet[step] == 0 and self.status_of(step) in RUNNABLE:
            self._ready.add(step)
        else:
            self._ready.discard(step)

    def emit(self, kind: str, step: str | None = None, *, hold: bool = False, **data: Any) -> None:
        """Record and announce one event; ``hold`` keeps it in memory until something runs in the run."""
        with self.writer._lock:
            before = self.status_of(step) if step in self._unmet else None
            event = (self.writer.hold if hold else self.writer.emit)(kind, step, **data)
            if not hold:
                self._unfinished = kind != EventKind.RUN_FINISHED
            if before is not None:
                after = self.status_of(step)
                if (before in StepStatus.DONE_OK) != (after in StepStatus.DONE_OK):
                    delta = -1 if after in StepStatus.DONE_OK else 1
                    for dependent in self._dependents[step]:
                        self._unmet[dependent] += delta
                        self._refresh_ready(dependent)
                self._refresh_ready(step)
        self.bus.publish(event)

    def _run_header(self) -> dict[str, Any]:
        return {
            "pipeline": {"name": self.dag.name, "source": str(self.dag.source) if self.dag.source else None,
                         "base_dir": str(self.dag.base_dir), "spec": masked_spec(self.dag)},
            "plan": self.plan.to_dict(),
            "options": self.options.recorded(),
            "versions": library_versions(),
            "runner": {"pid": os.getpid(), "host": socket.gethostname(), "create_time": _own_create_time()},
            "steps": list(self.plan.execution_order),
        }

    # -- launchers ---------------------------------------------------------------------------------

    def isolation_for(self, step: str, override: str | None = None) -> str:
        """How a step runs: ``external`` for a step that does not run, else an explicit override, the run's
        executor or isolation, the file's, else subprocess."""
        if self.plan.step_configs[step].external:
            return "external"
        if override:
            return override
        if self.executor is not None:
            return "executor"
        return self.isolation or self.plan.step_configs[step].isolation or "subprocess"

    def _launcher(self, isolation: str) -> Launcher:
        from pipetest_nb.launch import FuturesLauncher, get_launcher

        with self._launcher_lock:
            if isolation not in self._launchers:
                if isolation == "executor":
                    self._launchers[isolation] = FuturesLauncher(self.executor)
                elif isolation == "pool":
                    self._launchers[isolation] = _shared_pool(tuple(self.dag.preload))
                else:
                    self._launchers[isolation] = get_launcher(isolation)
            return self._launchers[isolation]

    @contextlib.contextmanager
    def launching(self, step: str, isolation: str) -> Iterator[Launcher]:
        """The launcher for ``isolation``, known as running ``step`` meanwhile (so that ``stop`` reaches it)."""
        launcher = self._launcher(isolation)
        self._running[step] = launcher
        try:
            yield launcher
        finally:
            self._running.pop(step, None)

    @property
    def last_exception(self) -> BaseException | None:
        """The exception of the last step that failed in-process (for a post-mortem debugger)."""
        launcher = self._launchers.get("inprocess")
        return getattr(launcher, "last_exception", None)

    def close(self) -> None:
        """Stop this run's launchers (warm pools stay up for the next run) and release the folder's lock."""
        for isolation, launcher in self._launchers.items():
            if isolation != "pool":
                with contextlib.suppress(Exception):
                    launcher.close()
        self._launchers.clear()
        self.writer.close()

    # -- running a step ----------------------------------------------------------------------------

    def run_step(self, step: str, isolation: str | None = None) -> StepResult:
        """Run one step now (its dependencies must be done), applying the error policy.

        ``isolation`` overrides how this one step runs (``inprocess`` to debug it).
        """
        self.warm_workers([step], 1, isolation)
        return run_step(self, step, isolation)

    def warm_workers(self, steps: Iterable[str], jobs: int = 1, isolation: str | None = None) -> None:
        """Start the warm workers ``steps`` will use, before the first of them starts (``engine/warm.py``)."""
        warm_workers(self, steps, jobs, isolation, lambda: self._launcher("pool"))

    def _subscriber_failed(self, subscriber: Subscriber, event: Event, error: str) -> None:
        """A view broke on an event: say so once (a warning and an event in the record); the run goes on."""
        self.report_view_failure(subscriber, event.kind, event.step, error)

    def report_view_failure(self, view: object, kind: str, step: str | None, error: str) -> None:
        """A subscriber or hook broke on ``kind`` (an event, or a hook's name): a warning and a recorded event."""
        import warnings

        name = getattr(view, "__qualname__", None) or type(view).__name__
        warnings.warn(f"pipetest: subscriber {name} failed on a {kind} event and was kept: "
                      f"{error.strip().splitlines()[-1] if error.strip() else error}", PipetestWarning, stacklevel=3)
        with contextlib.suppress(Exception):
            self.emit(EventKind.SUBSCRIBER_FAILED, step, hold=not self.writer.attached,
                      subscriber=name, event_kind=kind, error=cap_text(error))

    def block_downstream(self, step: str) -> None:
        """Mark the steps after ``step`` that have not run as blocked by it."""
        for down in self.plan.downstream(step):
            if self.status_of(down) in RUNNABLE:
                self.emit(EventKind.STEP_STATUS, down, status=StepStatus.BLOCKED, blocked_by=step)

    def step_result(self, step: str) -> StepResult:
        """The result of a step as the record has it now."""
        entry = dict(self.writer.record.steps.get(step, {}))
        status = entry.get("status", StepStatus.PENDING)
        metrics_data = entry.get("metrics") or {}
        return StepResult(
            step_name=step, status=status,
            outputs={k: Path(v) for k, v in (entry.get("outputs") or {}).items()},
            inputs={k: Path(v) for k, v in (entry.get("inputs") or {}).items()},
            duration=float(metrics_data.get("duration") or 0.0),
            metrics=StepMetrics.from_dict(step, metrics_data, status, entry.get("started_at"),
                                          entry.get("finished_at")) if metrics_data else None,
            data_validation_report=report_from_dict(entry.get("data_validation_report")),
            edge_checks=[c for e in self.writer.record.edges.values() if str(e.get("source") or "").split(".")[0] == step
                         for c in e.get("expectations") or []] + list(entry.get("output_checks") or []),
            error_type=entry.get("error_type"), error_message=entry.get("error_message"),
            traceback=entry.get("traceback"), attempts=int(entry.get("attempts") or 0),
            warnings=list(entry.get("warnings") or []), cached_from=entry.get("cached_from"), run_dir=self.run_dir)

    # -- running many steps ------------------------------------------------------------------------

    def run(self, steps: list[str] | None = None, jobs: int = 1, isolation: str | None = None) -> list[StepResult]:
        """Run every allowed step that becomes ready, ``jobs`` at a time, until done or halted.

        ``isolation`` overrides how these steps run (``inprocess`` to debug one).
        """
        allowed = set(steps) if steps is not None else None
        self._halt = False
        self._stop.clear()
        results: list[StepResult] = []
        started = time.monotonic()
        try:
            self.warm_workers(self.plan.execution_order if allowed is None else allowed, jobs, isolation)
            if jobs <= 1:
                while not self._halt and not self._stop.is_set():
                    ready = self.ready_steps(allowed)
                    if not ready:
                        break
                    results.append(self.run_step(ready[0], isolation))
            else:
                results = self._run_parallel(allowed, jobs, isolation)
        except KeyboardInterrupt:
            self.stop()
            self.mark_interrupted(INTERRUPTED_BY_USER)
            raise
        finally:
            self._active_time += time.monotonic() - started
            self.finish()
        return results

    def _run_parallel(self, allowed: set[str] | None, jobs: int, isolation: str | None) -> list[StepResult]:
        results: list[StepResult] = []
        running: dict[Future, str] = {}
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pipetest-step") as pool:
            while True:
                if not self._halt and not self._stop.is_set():
                    busy = set(running.values())
                    for step in self.ready_steps(allowed):
                        if len(running) >= jobs:
                            break
                        if step not in busy:
                            running[pool.submit(self.run_step, step, isolation)] = step
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    results.append(future.result())
        return results

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called since the last ``run`` began."""
        return self._stop.is_set()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the run is stopped meanwhile (a retry's backoff)."""
        self._stop.wait(seconds)

    def halt(self) -> None:
        """Start no further step in this ``run`` (fail_pipeline, pause, Ctrl-C, Stop)."""
        self._halt = True

    def stop(self) -> None:
        """Kill every running step (its whole process tree) and start nothing new.

        A step that is between being handed to its launcher and being known to it cannot be stopped
        yet; it is tried again until it can (or is gone), for at most two seconds."""
        self._stop.set()
        deadline = time.monotonic() + 2.0
        pending = dict(self._running)
        while pending:
            for step, launcher in list(pending.items()):
                stopped = False
                with contextlib.suppress(Exception):
                    stopped = launcher.stop(step)
                if stopped or self._running.get(step) is not launcher:
                    del pending[step]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.01)

    def mark_interrupted(self, reason: str) -> None:
        for step, status in self.statuses.items():
            if status == StepStatus.RUNNING:
                self.emit(EventKind.STEP_FINISHED, step, status=StepStatus.INTERRUPTED, error_type="interrupted",
                          error_message=reason)

    def reset_steps(self, steps: list[str]) -> None:
        """Make steps runnable again (pending), e.g. before re-running a failed step and what follows."""
        for step in steps:
            if self.status_of(step) != StepStatus.PENDING:
                self.emit(EventKind.STEP_STATUS, step, status=StepStatus.PENDING)

    def finish(self) -> None:
        """Summarise the run in the record: status, root failure first, then the steps it kept from running."""
        if self.writer.failed is not None:
            return  # the record cannot be written; the error that said so is on its way to the user
        statuses = self.statuses
        failed = [s for s in self.plan.execution_order if statuses[s] == StepStatus.FAILED]
        failed.sort(key=lambda s: self.writer.record.steps[s].get("finished_at") or 0)
        root = None
        if failed:
            entry = self.writer.record.steps[failed[0]]
            root = {"step": failed[0], "error_type": entry.get("error_type"),
                    "error_message": entry.get("error_message"),
                    **explain_failure(self.writer.record.data, failed[0], self.last_green_run)}
        not_run = [s for s in self.plan.execution_order if statuses[s] in (StepStatus.BLOCKED, StepStatus.PENDING)]
        if failed:
            status = "failed"
        elif any(v == StepStatus.INTERRUPTED for v in statuses.values()):
            status = "interrupted"
        elif not_run:
            status = "incomplete"
        else:
            status = "succeeded"
        if not self._unfinished and (not self.run_dir.exists() or self.record.get("status") == status):
            return  # nothing ran since the run was made, opened or last finished, and its summary holds
        self.emit(EventKind.RUN_FINISHED, status=status, root_failure=root, not_run=not_run if failed else [],
                  other_failures=failed[1:], duration=round(self._active_time, 6))
        self.writer.flush()

    @functools.cached_property
    def last_green_run(self) -> dict[str, Any] | None:
        """The record of the newest run of this pipeline in the workspace that succeeded and started before
        this one (what a failure's inputs are compared with), read once per run and never written."""
        return last_green_run(self.workspace.runs_dir, self.writer.record.data)

    def result(self, requested: list[str] | None = None) -> PipelineExecutionResult:
        """The run as a ``PipelineExecutionResult``; with ``requested``, success means those steps are done."""
        steps = {s: self.step_result(s) for s in self.plan.execution_order}
        record = self.record
        root = record.get("root_failure")
        error = None
        if root:
            error = f"Pipeline failed at step {root['step']}: {root.get('error_type')}: {root.get('error_message')}"
            if root.get("cause"):
                error += f"\nLikely cause: {root['cause']}"
        return PipelineExecutionResult(
            success=record.get("status") == "succeeded" if requested is None
            else all(steps[s].success for s in requested),
            completed_steps=[r for r in steps.values() if r.success],
            error=error, execution_plan=self.plan, total_duration=float(record.get("duration") or 0.0),
            steps=steps, run_id=self.run_id, run_dir=self.run_dir, root_failure=root,
            not_run=list(record.get("not_run") or []))





_POOLS: dict[tuple[str, ...], Launcher] = {}
_POOLS_LOCK = threading.Lock()


def _shared_pool(preload: tuple[str, ...]) -> Launcher:
    """One warm worker pool per process and preload list, kept across runs and sessions (closed at exit)."""
    from pipetest_nb.launch import get_launcher

    with _POOLS_LOCK:
        pool = _POOLS.get(preload)
        if pool is None or getattr(pool, "_closed", False):
            pool = _POOLS[preload] = get_launcher("pool", preload=preload)
        return pool


def _own_create_time() -> float | None:
    """When this process started: with the pid, it tells a live runner from a reused pid."""
    with contextlib.suppress(Exception):
        import psutil

        return psutil.Process().create_time()
    return None
