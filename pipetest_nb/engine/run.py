"""The engine: runs the steps of a plan through launchers, records every transition, applies policies.

``PipelineRun`` is the one place where a run's state changes; every change is an event (see
``events.py``) that the run record, the monitor, progress bars and widgets subscribe to.
``PipelineExecutor`` runs a whole pipeline in one call (batch, CI); ``session.Session`` drives a
``PipelineRun`` step by step from a notebook.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipetest_nb.engine.edge_checks import EdgeChecks, report_from_dict
from pipetest_nb.engine.options import RunOptions
from pipetest_nb.engine.recovery import PipelineErrorHandler, RecoveryStrategy, internal_error
from pipetest_nb.engine.results import PipelineExecutionResult, StepResult
from pipetest_nb.events import Event, EventBus, EventKind, StepStatus, Subscriber
from pipetest_nb.exceptions import (
    ContractError,
    PipetestError,
    PipetestWarning,
    RecordWriteError,
    UnknownStepError,
)
from pipetest_nb.launch.base import Launcher, StepJob, StepOutcome
from pipetest_nb.plan import PipelineDAGResolver, PipelineExecutionPlan
from pipetest_nb.records.cache import CacheUnavailable, StepCache, cache_key
from pipetest_nb.records.masking import mask_args, mask_env, mask_error, masked_spec, step_secrets
from pipetest_nb.records.monitor import StepMetrics
from pipetest_nb.records.workspace import Workspace, library_versions
from pipetest_nb.records.writer import RunWriter
from pipetest_nb.spec.model import InputSpec, PipelineDAG, StepConfig
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
        self.checks = EdgeChecks(dag, self._emit, lambda: self.writer, enabled=options.checks)
        if writer is None:
            self.writer = self.workspace.create_run(dag.name)
            self._index_readiness()
            self._emit(EventKind.RUN_STARTED, hold=True, **self._run_header())  # written when a step starts
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

    def _emit(self, kind: str, step: str | None = None, *, hold: bool = False, **data: Any) -> None:
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
        """How a step runs: an explicit override, the run's executor or isolation, the file's, else subprocess."""
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

    # -- preparing a step --------------------------------------------------------------------------

    def _input_path(self, step: str, name: str, spec: InputSpec, problems: list[str]) -> Path | None:
        folder = self.writer.folder
        if spec.source:
            producer, output = spec.producer, spec.output
            if self.status_of(producer) not in StepStatus.DONE_OK:
                problems.append(f"input '{name}' needs output '{spec.source}', but step '{producer}' has not "
                                f"completed ({self.status_of(producer)}); run it first")
                return None
            return folder.output_dir(producer, output)
        if self.data_source == "synthetic":
            from pipetest_nb.validation.synthetic import generate_input, suite_for_input

            suite = suite_for_input(self.dag, step, name)
            if spec.schema is not None or suite is not None:
                dest = folder.input_dir(step, name)
                shutil.rmtree(dest, ignore_errors=True)
                return generate_input(spec, dest, rows=self.synthetic_rows, seed=0, suite=suite, step=step)
        if spec.path is not None:
            if spec.path.exists():
                return spec.path
            problems.append(f"input '{name}': {spec.path} does not exist; create it, point the pipeline at it"
                            + (", or run with data_source='synthetic'" if spec.schema else
                               ", or declare a schema and run with data_source='synthetic'"))
            return None
        if spec.optional:
            empty = folder.input_dir(step, name)
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        problems.append(f"required input '{name}' has neither a path nor a binding")
        return None

    def _prepare(self, step: str, config: StepConfig) -> tuple[StepJob, list[str]]:
        problems: list[str] = []
        inputs = {name: self._input_path(step, name, spec, problems) for name, spec in config.inputs.items()}
        outputs: dict[str, str] = {}
        for name in config.outputs:
            path = self.writer.folder.output_dir(step, name)
            shutil.rmtree(path, ignore_errors=True)  # stale files of an earlier attempt
            path.mkdir(parents=True, exist_ok=True)
            outputs[name] = str(path)
        step_dir = self.writer.folder.step_dir(step)
        step_dir.mkdir(parents=True, exist_ok=True)
        try:
            script = str(config.script)
        except PipetestError as exc:
            problems.append(str(exc))
            script = ""
        job = StepJob(
            step=step, script=script, mode=config.mode or "main",
            input_paths={k: str(v) for k, v in inputs.items() if v is not None},
            output_paths=outputs, environ_vars=dict(config.env), job_args=dict(config.args) or None,
            step_dir=str(step_dir), workdir=str(self.dag.base_dir), timeout=config.timeout, memory=config.memory,
            preload=tuple(self.dag.preload), secrets=step_secrets(config.env, config.args))
        return job, problems

    # -- running a step ----------------------------------------------------------------------------

    def run_step(self, step: str, isolation: str | None = None) -> StepResult:
        """Run one step now (its dependencies must be done), applying the error policy.

        ``isolation`` overrides how this one step runs (``inprocess`` to debug it).
        """
        if step not in self.plan.step_configs:
            raise UnknownStepError(step, self.plan.execution_order)
        config = self.plan.step_configs[step]
        isolation = self.isolation_for(step, isolation)
        attempt = 0
        while True:
            attempt += 1
            finished, job = self._attempt(step, config, isolation)
            if finished["status"] != StepStatus.FAILED:
                self._emit_finished(step, finished)
                if finished["status"] == StepStatus.INTERRUPTED:
                    self._halt = True  # Ctrl-C or Stop: start nothing else
                return self.step_result(step)
            strategy = self.errors.handle_error(  # the error as finished: a failed check counts too
                self.errors.context(step, finished.get("error_type") or "execution_error",
                                    finished.get("error_message") or "", config.on_error), attempt, config.retries)
            finished["recovery"] = strategy.value
            if strategy is RecoveryStrategy.RETRY and not self._stop.is_set():
                self._emit_finished(step, finished)
                self._stop.wait(self.errors.backoff(attempt))
                continue
            if strategy is RecoveryStrategy.RETRY_WITH_DEFAULTS and not self._stop.is_set():
                self._emit_finished(step, finished)
                config = replace(config, env={**config.env, **config.defaults.get("env", {})},
                                 args={**config.args, **config.defaults.get("args", {})})
                continue
            if strategy is RecoveryStrategy.USE_CACHED_OUTPUT:
                entry = self.cache.latest_for(self.dag.name, step)
                problem = (self.cache.restore(entry, {n: Path(p) for n, p in job.output_paths.items()})
                           if entry is not None else "no cached outputs to fall back on")
                if problem is None:
                    finished.update(status=StepStatus.CACHED, cached_from=entry["run_id"],
                                    warnings=[*finished.get("warnings", []),
                                              f"step failed ({finished.get('error_type')}); using the cached outputs "
                                              f"of run {entry['run_id']}"])
                    self._emit_finished(step, finished)
                    return self.step_result(step)
                finished["warnings"] = [*finished.get("warnings", []), problem]
                strategy = RecoveryStrategy.FAIL_PIPELINE
            if strategy is RecoveryStrategy.SKIP_STEP:
                finished["status"] = StepStatus.SKIPPED
                self._emit_finished(step, finished)
                self._block_downstream(step)
                return self.step_result(step)
            self._emit_finished(step, finished)
            if strategy is RecoveryStrategy.FAIL_PIPELINE:
                self._block_downstream(step)
            self._halt = True  # fail_pipeline and pause both stop the run here
            return self.step_result(step)

    def _attempt(self, step: str, config: StepConfig, isolation: str) -> tuple[dict[str, Any], StepJob]:
        """One attempt at a step: prepare, start, execute, check; returns the STEP_FINISHED data.

        Once the step has started, anything the engine raises (a check, the cache, a launcher, the
        writer) ends it ``failed`` with ``internal_error``: a run never stays ``running`` because of us.
        """
        self.writer.attach()
        job, problems = self._prepare(step, config)
        self._emit(EventKind.STEP_STARTED, step, script=job.script, mode=job.mode, isolation=isolation,
                   inputs=job.input_paths, outputs=job.output_paths,
                   env=mask_env(job.environ_vars, job.secrets), args=mask_args(job.job_args, job.secrets))
        stage = "checking the step's inputs"
        try:
            input_failure = None if problems else self.checks.before_step(step, config)
            stage = "reading the step's inputs"
            before = _snapshot(job.input_paths)
            stage = f"running the step ({isolation})"
            outcome, key, cached = self._execute(step, job, problems, input_failure, isolation)
            stage = "checking and caching the step's outputs"
            finished = self._finish_step(step, job, outcome, key, cached)
            finished = mask_error(finished, job.secrets)
            stage = "comparing the step's inputs with their state before it ran"
            changed = _changed_inputs(before, _snapshot(job.input_paths))
            if changed:
                finished["warnings"] = [*finished.get("warnings", []), *changed]
        except (KeyboardInterrupt, RecordWriteError):
            raise  # the run loop marks the step interrupted / the record cannot be written at all
        except BaseException as exc:  # noqa: BLE001 - a SystemExit from a plugin is ours to record too
            finished = mask_error(internal_error(exc, stage), job.secrets)
        return _capped(finished), job

    def _emit_finished(self, step: str, finished: dict[str, Any]) -> None:
        """Record a step's end; if recording it raises, record an internal error in its place."""
        try:
            self._emit(EventKind.STEP_FINISHED, step, **finished)
        except RecordWriteError:
            raise
        except Exception as exc:
            failure = internal_error(exc, "recording the step's end")
            self._emit(EventKind.STEP_FINISHED, step, metrics=finished.get("metrics") or {}, **failure)
            self._block_downstream(step)
            self._halt = True

    def _subscriber_failed(self, subscriber: Subscriber, event: Event, error: str) -> None:
        """A view broke on an event: say so once (a warning and an event in the record); the run goes on."""
        import warnings

        name = getattr(subscriber, "__qualname__", None) or type(subscriber).__name__
        warnings.warn(f"pipetest: subscriber {name} failed on a {event.kind} event and was kept: "
                      f"{error.strip().splitlines()[-1] if error.strip() else error}", PipetestWarning, stacklevel=2)
        with contextlib.suppress(Exception):
            self._emit(EventKind.SUBSCRIBER_FAILED, event.step, hold=not self.writer.attached,
                       subscriber=name, event_kind=event.kind, error=cap_text(error))

    def _execute(self, step: str, job: StepJob, problems: list[str], input_failure: str | None, isolation: str
                 ) -> tuple[StepOutcome, str | None, dict | None]:
        now = time.time()
        if problems:
            return (StepOutcome(status=StepStatus.FAILED, error_type="contract_error",
                                error_message=str(ContractError(step, problems)), started_at=now, finished_at=now),
                    None, None)
        if input_failure:
            return (StepOutcome(status=StepStatus.FAILED, error_type="data_compatibility_error",
                                error_message=input_failure, started_at=now, finished_at=now), None, None)
        key = None
        notes: list[str] = []  # why the cache was not used, and writes outside the outputs: step warnings
        if self.use_cache or _falls_back_on_cache(self.plan.step_configs[step]):
            try:
                key = cache_key(Path(job.script),
                                {"step": step, "mode": job.mode, "env": job.environ_vars, "args": job.job_args},
                                {k: Path(v) for k, v in job.input_paths.items()}, boundary=self.run_dir)
            except (CacheUnavailable, OSError) as exc:
                notes.append(f"not cached: {exc}")
            entry = self.cache.get(key) if self.use_cache and key else None
            if entry is not None:
                problem = self.cache.restore(entry, {n: Path(p) for n, p in job.output_paths.items()})
                if problem is None:
                    now = time.time()
                    return StepOutcome(status=StepStatus.SUCCEEDED, started_at=now, finished_at=now), key, entry
                notes.append(f"{problem}; the step ran")
        from pipetest_nb.engine.outside_writes import OutsideWrites

        watch = OutsideWrites.for_step(self, step, job)
        launcher = self._launcher(isolation)
        self._running[step] = launcher
        try:
            if self._stop.is_set():
                now = time.time()
                return (StepOutcome(status=StepStatus.INTERRUPTED, error_type="interrupted",
                                    error_message="stopped before it started", started_at=now, finished_at=now),
                        key, None)
            outcome = launcher.launch(job, on_start=lambda pid, pgid: self._on_start(step, pid, pgid),
                                      on_output=lambda stream, text: self._on_output(step, stream, text))
        finally:
            self._running.pop(step, None)
        outcome.extra["warnings"] = [*notes, *filter(None, [watch.changes()])]
        return outcome, key, None

    def _on_start(self, step: str, pid: int, pgid: int | None) -> None:
        """Record the process of a step that has one of its own: a later runner may have to kill it.

        Its process waits for this record before it runs the script. From now on the run is stopped
        with this process too (SIGTERM, SIGHUP, interpreter exit)."""
        _stop_with_this_process(self)
        if pgid is None:
            return  # in-process: the step is this process, nothing to record or kill
        create_time = None
        with contextlib.suppress(Exception):
            import psutil

            create_time = psutil.Process(pid).create_time()
        self._emit(EventKind.STEP_STATUS, step, status=StepStatus.RUNNING, pid=pid, pgid=pgid,
                   pid_create_time=create_time)

    def _on_output(self, step: str, stream: str, text: str) -> None:
        from pipetest_nb.events import Event

        self.bus.publish(Event(EventKind.STEP_OUTPUT, self.run_id, -1, time.time(), step,
                               {"stream": stream, "text": text}))

    def _finish_step(self, step: str, job: StepJob, outcome: StepOutcome, key: str | None,
                     cached: dict | None) -> dict[str, Any]:
        """The STEP_FINISHED data: status, error, metrics and, for a good step, checks and caching."""
        status = outcome.status if outcome.status in (StepStatus.SUCCEEDED, StepStatus.INTERRUPTED) \
            else StepStatus.FAILED
        metrics = {"duration": outcome.wall_time, "cpu_time": outcome.cpu_time, "peak_rss": outcome.peak_rss,
                   "read_bytes": outcome.read_bytes, "write_bytes": outcome.write_bytes,
                   "input_size": sum(_tree_size(Path(p)) for p in job.input_paths.values())}
        data: dict[str, Any] = {"status": status, "metrics": metrics, "outputs": job.output_paths,
                                "error_type": outcome.error_type, "error_message": outcome.error_message,
                                "exception_type": outcome.exception_type, "traceback": outcome.traceback,
                                "returncode": outcome.returncode, "signal": outcome.signal}
        if outcome.extra.get("warnings"):
            data["warnings"] = list(outcome.extra["warnings"])
        if status == StepStatus.SUCCEEDED:
            failure = self.checks.after_step(step, self.plan.step_configs[step], job, data)
            if failure is not None:
                data.update(status=StepStatus.FAILED, error_type=failure[0], error_message=failure[1])
            elif cached is not None:
                data.update(status=StepStatus.CACHED, cached_from=cached.get("run_id"), cache_key=key)
            elif key is not None:
                why = self.cache.put(key, self.dag.name, step, self.run_id,
                                     {n: Path(p) for n, p in job.output_paths.items()})
                if why:
                    data.setdefault("warnings", []).append(why)
                else:
                    data["cache_key"] = key
        return {k: v for k, v in data.items() if v is not None}

    def _block_downstream(self, step: str) -> None:
        for down in self.plan.downstream(step):
            if self.status_of(down) in RUNNABLE:
                self._emit(EventKind.STEP_STATUS, down, status=StepStatus.BLOCKED, blocked_by=step)

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
            edge_checks=list(entry.get("edge_checks") or []),
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
            self._mark_interrupted("interrupted by the user (KeyboardInterrupt)")
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

    def _mark_interrupted(self, reason: str) -> None:
        for step, status in self.statuses.items():
            if status == StepStatus.RUNNING:
                self._emit(EventKind.STEP_FINISHED, step, status=StepStatus.INTERRUPTED, error_type="interrupted",
                           error_message=reason)

    def reset_steps(self, steps: list[str]) -> None:
        """Make steps runnable again (pending), e.g. before re-running a failed step and what follows."""
        for step in steps:
            if self.status_of(step) != StepStatus.PENDING:
                self._emit(EventKind.STEP_STATUS, step, status=StepStatus.PENDING)

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
                    "error_message": entry.get("error_message")}
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
        self._emit(EventKind.RUN_FINISHED, status=status, root_failure=root, not_run=not_run if failed else [],
                   other_failures=failed[1:], duration=round(self._active_time, 6))
        self.writer.flush()

    def result(self, requested: list[str] | None = None) -> PipelineExecutionResult:
        """The run as a ``PipelineExecutionResult``; with ``requested``, success means those steps are done."""
        steps = {s: self.step_result(s) for s in self.plan.execution_order}
        record = self.record
        root = record.get("root_failure")
        error = None
        if root:
            error = f"Pipeline failed at step {root['step']}: {root.get('error_type')}: {root.get('error_message')}"
        return PipelineExecutionResult(
            success=record.get("status") == "succeeded" if requested is None
            else all(steps[s].success for s in requested),
            completed_steps=[r for r in steps.values() if r.success],
            error=error, execution_plan=self.plan, total_duration=float(record.get("duration") or 0.0),
            steps=steps, run_id=self.run_id, run_dir=self.run_dir, root_failure=root,
            not_run=list(record.get("not_run") or []))


    @classmethod
    def reopen(cls, run_dir: str | os.PathLike, **options: Any) -> PipelineRun:
        """Until the CLI calls ``engine.reopen.reopen_run`` itself."""  # TEMPORARY, removed once views switch
        from pipetest_nb.engine.reopen import reopen_run

        return reopen_run(run_dir, **options)


def _stop_with_this_process(run: PipelineRun) -> None:
    """Stop ``run``'s running steps if this process is terminated (SIGTERM, SIGHUP) or exits."""
    from pipetest_nb.launch._shutdown import watch

    watch(run)





#: Input files up to this size are hashed as well as stat'ed when checking that a step left its inputs alone.
_HASH_SMALL_INPUTS = 64 * 1024


def _snapshot(paths: dict[str, str]) -> dict[str, dict[str, tuple]]:
    """Size, mtime (and a hash for small files, a target for links) of every file of every input.

    Nothing is followed or opened but regular files: a link is noted by its target, a FIFO by its kind.
    """
    import hashlib

    from pipetest_nb.files import open_regular, special_kind
    from pipetest_nb.records.cache import CacheUnavailable

    snapshot: dict[str, dict[str, tuple]] = {}
    for name, path in paths.items():
        files: dict[str, tuple] = {}
        root = Path(path)
        if root.is_dir():
            candidates = [(os.path.relpath(os.path.join(d, f), root), os.path.join(d, f))
                          for d, _dirs, names in os.walk(root) for f in names]
        else:
            candidates = [(root.name, os.path.realpath(root))]
        for rel, file in candidates:
            with contextlib.suppress(OSError, CacheUnavailable):
                st = os.lstat(file) if root.is_dir() else os.stat(file)
                if os.path.islink(file) and root.is_dir():
                    files[rel] = ("link", os.readlink(file))
                elif special_kind(st.st_mode):
                    files[rel] = (special_kind(st.st_mode),)
                else:
                    digest = None
                    if st.st_size <= _HASH_SMALL_INPUTS:
                        with open_regular(file) as fh:
                            digest = hashlib.sha256(fh.read()).hexdigest()
                    files[rel] = (st.st_size, st.st_mtime_ns, digest)
        snapshot[name] = {**files, "": (str(root),)} if root.exists() else {"<missing>": ()}
    return snapshot


def _changed_inputs(before: dict[str, dict[str, tuple]], after: dict[str, dict[str, tuple]]) -> list[str]:
    """Warnings for inputs a step modified, deleted or added files to (it should only write its outputs)."""
    from pipetest_nb.files import display_path

    warnings = []
    for name, files in before.items():
        now = after.get(name, {})
        where = f" (input folder: {display_path(files[''][0])})" if "" in files else ""
        if "<missing>" in now and "<missing>" not in files:
            warnings.append(f"the step deleted its input '{name}'")
            continue
        changed = sorted(f for f in files if f and f in now and now[f] != files[f])
        removed = sorted(f for f in files if f and f not in now)
        added = sorted(f for f in now if f and f not in files)
        for verb, names in (("modified", changed), ("deleted", removed), ("added", added)):
            if names:
                shown = ", ".join(map(display_path, names[:5])) + (
                    f" and {len(names) - 5} more" if len(names) > 5 else "")
                warnings.append(f"the step {verb} files in its input '{name}' ({shown}); steps should "
                                f"write only to their own outputs{where}")
    return warnings


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


def _falls_back_on_cache(config: StepConfig) -> bool:
    """Whether the step's policy may need its last good outputs, so they are kept even with the cache off."""
    policy = config.on_error
    values = policy.values() if isinstance(policy, dict) else [policy]
    return RecoveryStrategy.USE_CACHED_OUTPUT.value in values


def _own_create_time() -> float | None:
    """When this process started: with the pid, it tells a live runner from a reused pid."""
    with contextlib.suppress(Exception):
        import psutil

        return psutil.Process().create_time()
    return None


def _capped(finished: dict[str, Any]) -> dict[str, Any]:
    """Bound the texts a step's end carries: a 200 MB exception message must not make a 400 MB record."""
    for key in ("error_message", "traceback"):
        if isinstance(finished.get(key), str):
            finished[key] = cap_text(finished[key])
    if finished.get("warnings"):
        finished["warnings"] = [cap_text(str(w)) for w in finished["warnings"]]
    return finished


def _tree_size(path: Path) -> int:
    """Bytes of the regular files of a file or folder (links not followed)."""
    import stat

    total = 0
    if not path.is_dir():
        with contextlib.suppress(OSError):
            total = path.stat().st_size if path.is_file() else 0
        return total
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(root, name))
                total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total
