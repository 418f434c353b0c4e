"""One step's lifecycle: started -> launched (or restored from the cache) -> outputs checked -> finished.

The "finished" bookkeeping (the STEP_FINISHED event, from which the record, the monitor and the
views take the step's end and metrics, then the ``after_step`` hooks) runs in ``finally``: however
an attempt ends (success, a failing script, a timeout, an exception in pipetest itself, Ctrl-C),
its end is recorded once, and a step never stays ``running`` because of the engine.

Hooks are objects given to ``start_run(..., hooks=[...])`` with either or both of::

    def before_step(self, *, step, attempt, isolation, **future_kwargs): ...
    def after_step(self, *, step, status, error, duration, attempt, **future_kwargs): ...

Their arguments are keyword-only and more may come, so a hook takes ``**future_kwargs``. A hook
that raises is reported like a view that breaks (a warning and a ``subscriber_failed`` event); the
run goes on.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.engine.outside_writes import OutsideWrites
from pipetest_nb.engine.prepare import (
    changed_inputs,
    fetch_remote_inputs,
    prepare_job,
    snapshot_inputs,
    tree_size,
)
from pipetest_nb.engine.recovery import Decision, RecoveryStrategy, internal_error
from pipetest_nb.events import Event, EventKind, StepStatus
from pipetest_nb.exceptions import ContractError, RecordWriteError, UnknownStepError
from pipetest_nb.launch.base import StepJob, StepOutcome
from pipetest_nb.records.cache import HASH_TIME_LIMIT, CacheUnavailable, Deadline, cache_key
from pipetest_nb.records.changes import step_digests
from pipetest_nb.records.masking import mask_args, mask_env, mask_error
from pipetest_nb.spec.parts import StepConfig
from pipetest_nb.text import cap_text

if TYPE_CHECKING:
    from pipetest_nb.engine.context import RunContext
    from pipetest_nb.engine.results import StepResult

INTERRUPTED_BY_USER = "interrupted by the user (KeyboardInterrupt)"


def run_step(run: RunContext, step: str, isolation: str | None = None) -> StepResult:
    """Run one step now (its dependencies must be done), attempt after attempt as its error policy says."""
    if step not in run.plan.step_configs:
        raise UnknownStepError(step, run.plan.execution_order)
    config = run.plan.step_configs[step]
    isolation = run.isolation_for(step, isolation)
    attempt = 0
    while True:
        attempt += 1
        decision = StepLifecycle(run, step, config, isolation, attempt).go()
        if not decision.again:
            return run.step_result(step)
        if decision.wait is not None:
            run.sleep(decision.wait)
        config = decision.config or config


class StepLifecycle:
    """One attempt at one step, from STEP_STARTED to STEP_FINISHED (the latter in ``finally``)."""

    def __init__(self, run: RunContext, step: str, config: StepConfig, isolation: str, attempt: int):
        self.run, self.step, self.config, self.isolation, self.attempt = run, step, config, isolation, attempt
        self.finished: dict[str, Any] = {}
        self.decision = Decision()
        self.remote_notes: list[str] = []  # remote inputs that changed since they were read: step warnings
        self.check_time = 0.0  # seconds in this attempt's edge checks (inputs before, outputs after)
        self.hashing: Deadline | None = None  # the time limit its input digests and cache key share

    def go(self) -> Decision:
        """Start, launch or restore, check, decide what the policy says; record the end whatever happens."""
        run = self.run
        run.writer.attach()
        remote, fetch_problems = fetch_remote_inputs(run, self.step, self.config)
        job, problems = prepare_job(run, self.step, self.config, {n: f.path for n, f in remote.items()})
        problems = [*fetch_problems, *problems]
        self.remote_notes = [note for fetched in remote.values() for note in fetched.notes]
        run.emit(EventKind.STEP_STARTED, self.step, script=job.script, mode=job.mode, isolation=self.isolation,
                 inputs=job.input_paths, outputs=job.output_paths,
                 env=mask_env(job.environ_vars, job.secrets), args=mask_args(job.job_args, job.secrets),
                 **({"remote_inputs": {n: f.pin() for n, f in remote.items()}} if remote else {}))
        self._call_hooks("before_step", step=self.step, attempt=self.attempt, isolation=self.isolation)
        error: BaseException | None = None
        try:
            self.finished = _capped(self._attempt(job, problems))
            self.decision = run.errors.decide(self.step, self.config, self.finished, self.attempt,
                                              stopping=run.stopping,
                                              restore_cached=lambda: self._restore_cached(job))
        except (KeyboardInterrupt, RecordWriteError) as exc:
            error = exc
            raise
        except Exception as exc:  # the policy or the cache raised: a fault of pipetest, recorded as such
            error = exc
            self.finished = {**self.finished, **mask_error(internal_error(exc, "applying the step's error policy"),
                                                            job.secrets)}
            self.decision = Decision(block=True, halt=True)
        finally:
            self._finish(error)
        return self.decision

    def _attempt(self, job: StepJob, problems: list[str]) -> dict[str, Any]:
        """Launch (or restore) and check; the STEP_FINISHED data.

        Anything the engine raises once the step has started (a check, the cache, a launcher, the
        writer) ends it ``failed`` with ``internal_error``."""
        stage = "checking the step's inputs"
        try:
            checked = time.perf_counter()
            input_failure = None if problems else self.run.checks.before_step(self.step, self.config)
            self.check_time = time.perf_counter() - checked
            stage = "reading the step's inputs"
            before = snapshot_inputs(job.input_paths)
            read = {} if problems else self._digests(job)
            stage = f"running the step ({self.isolation})"
            outcome, key, cached = self._launch_or_restore(job, problems, input_failure)
            stage = "checking and caching the step's outputs"
            finished = {**mask_error(self._outcome_data(job, outcome, key, cached), job.secrets), **read}
            stage = "comparing the step's inputs with their state before it ran"
            changed = changed_inputs(before, snapshot_inputs(job.input_paths))
            if changed or self.remote_notes:
                finished["warnings"] = [*self.remote_notes, *finished.get("warnings", []), *changed]
            return finished
        except (KeyboardInterrupt, RecordWriteError):
            raise  # the step ends interrupted / the record cannot be written at all
        except BaseException as exc:  # noqa: BLE001 - a SystemExit from a plugin is ours to record too
            return mask_error(internal_error(exc, stage), job.secrets)

    def _digests(self, job: StepJob) -> dict[str, Any]:
        """Digests of the step's external inputs and script (``records.changes``), for "changed since the last
        green run"; none for a step without external inputs unless its cache key hashes the same files."""
        inputs = self.config.inputs
        external = {n: p for n, p in job.input_paths.items() if n in inputs and not inputs[n].is_binding}
        if not external and not (self.run.use_cache or _falls_back_on_cache(self.config)):
            return {}
        self.hashing = Deadline(HASH_TIME_LIMIT, "hashing the step's inputs")
        return step_digests(job.script, external, boundary=self.run.run_dir, deadline=self.hashing)

    # -- finished --------------------------------------------------------------------------------------

    def _finish(self, error: BaseException | None) -> None:
        """The end of the attempt: recorded (unless the record cannot be written), then the hooks."""
        run = self.run
        if isinstance(error, KeyboardInterrupt):
            self.finished = {"status": StepStatus.INTERRUPTED, "error_type": "interrupted",
                             "error_message": INTERRUPTED_BY_USER}
        if not isinstance(error, RecordWriteError):
            self._record()
        if self.decision.block:
            run.block_downstream(self.step)
        if self.decision.halt:
            run.halt()  # fail_pipeline, pause, Ctrl-C or Stop: start nothing else
        self._call_hooks("after_step", step=self.step, status=self.finished.get("status", StepStatus.FAILED),
                         error=self.finished.get("error_message") or (str(error) if error else None),
                         error_type=self.finished.get("error_type"),
                         duration=float((self.finished.get("metrics") or {}).get("duration") or 0.0),
                         attempt=self.attempt, retrying=self.decision.again)

    def _record(self) -> None:
        """The STEP_FINISHED event; if recording it raises, an internal error is recorded in its place."""
        try:
            self.run.emit(EventKind.STEP_FINISHED, self.step, **self.finished)
        except RecordWriteError:
            raise
        except Exception as exc:
            failure = internal_error(exc, "recording the step's end")
            self.run.emit(EventKind.STEP_FINISHED, self.step, metrics=self.finished.get("metrics") or {}, **failure)
            self.finished = {**self.finished, **failure}
            self.decision = Decision(block=True, halt=True)

    def _call_hooks(self, name: str, **kwargs: Any) -> None:
        for hook in self.run.hooks:
            method = getattr(hook, name, None)
            if method is None:
                continue
            try:
                method(**kwargs)
            except Exception:  # a broken hook is reported, never ends the run
                import traceback

                self.run.report_view_failure(hook, name, self.step, traceback.format_exc())

    # -- launched or restored ----------------------------------------------------------------------

    def _launch_or_restore(self, job: StepJob, problems: list[str], input_failure: str | None
                           ) -> tuple[StepOutcome, str | None, dict | None]:
        """The step's outcome: refused (bad contract or inputs), restored from the cache, or launched."""
        run, step = self.run, self.step
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
        if run.use_cache or _falls_back_on_cache(run.plan.step_configs[step]):
            key, entry = self._cache_lookup(job, notes)
            if entry is not None:
                problem = run.cache.restore(entry, {n: Path(p) for n, p in job.output_paths.items()})
                if problem is None:
                    now = time.time()
                    return StepOutcome(status=StepStatus.SUCCEEDED, started_at=now, finished_at=now), key, entry
                notes.append(f"{problem}; the step ran")
        outcome = self._launch(job)
        if "warnings" in outcome.extra:  # launched (a step stopped before it started has none)
            outcome.extra["warnings"] = [*notes, *outcome.extra["warnings"]]
        return outcome, key, None

    def _cache_lookup(self, job: StepJob, notes: list[str]) -> tuple[str | None, dict | None]:
        """The step's cache key (None if it cannot have one) and its cache entry, if the cache is on."""
        run, key = self.run, None
        if self.config.external:
            return None, None  # nothing runs: its outputs are copied from the user's folders every time
        try:
            key = cache_key(Path(job.script),
                            {"step": self.step, "mode": job.mode, "env": job.environ_vars, "args": job.job_args},
                            {k: Path(v) for k, v in job.input_paths.items()}, boundary=run.run_dir,
                            deadline=self.hashing)
        except (CacheUnavailable, OSError) as exc:
            notes.append(f"not cached: {exc}")
        return key, (run.cache.get(key) if run.use_cache and key else None)

    def _launch(self, job: StepJob) -> StepOutcome:
        """Hand the job to its launcher, watching for writes outside the step's outputs."""
        run, step = self.run, self.step
        watch = OutsideWrites.for_step(run, step, job)
        with run.launching(step, self.isolation) as launcher:
            if run.stopping:
                now = time.time()
                return StepOutcome(status=StepStatus.INTERRUPTED, error_type="interrupted",
                                   error_message="stopped before it started", started_at=now, finished_at=now)
            outcome = launcher.launch(job, on_start=self._on_start, on_output=self._on_output)
        outcome.extra["warnings"] = list(filter(None, [watch.changes()]))
        return outcome

    def _on_start(self, pid: int, pgid: int | None) -> None:
        """Record the process of a step that has one of its own: a later runner may have to kill it.

        Its process waits for this record before it runs the script. From now on the run is stopped
        with this process too (SIGTERM, SIGHUP, interpreter exit)."""
        from pipetest_nb.launch._shutdown import watch

        watch(self.run)
        if pgid is None:
            return  # in-process: the step is this process, nothing to record or kill
        create_time = None
        with contextlib.suppress(Exception):
            import psutil

            create_time = psutil.Process(pid).create_time()
        self.run.emit(EventKind.STEP_STATUS, self.step, status=StepStatus.RUNNING, pid=pid, pgid=pgid,
                      pid_create_time=create_time)

    def _on_output(self, stream: str, text: str) -> None:
        """A line the step printed, announced live (not recorded: the launcher keeps the logs)."""
        run = self.run
        run.bus.publish(Event(EventKind.STEP_OUTPUT, run.run_id, -1, time.time(), self.step,
                              {"stream": stream, "text": text}))

    # -- outputs checked ---------------------------------------------------------------------------

    def _outcome_data(self, job: StepJob, outcome: StepOutcome, key: str | None, cached: dict | None
                      ) -> dict[str, Any]:
        """The STEP_FINISHED data: status, error, metrics and, for a good step, checks and caching."""
        run, step = self.run, self.step
        status = outcome.status if outcome.status in (StepStatus.SUCCEEDED, StepStatus.INTERRUPTED) \
            else StepStatus.FAILED
        metrics = {"duration": outcome.wall_time, "cpu_time": outcome.cpu_time, "peak_rss": outcome.peak_rss,
                   "read_bytes": outcome.read_bytes, "write_bytes": outcome.write_bytes,
                   "input_size": sum(tree_size(Path(p)) for p in job.input_paths.values()), "check_time": self.check_time}
        data: dict[str, Any] = {"status": status, "metrics": metrics, "outputs": job.output_paths,
                                "error_type": outcome.error_type, "error_message": outcome.error_message,
                                "exception_type": outcome.exception_type, "traceback": outcome.traceback,
                                "returncode": outcome.returncode, "signal": outcome.signal}
        if outcome.extra.get("warnings"):
            data["warnings"] = list(outcome.extra["warnings"])
        if status == StepStatus.SUCCEEDED:
            checked = time.perf_counter()
            failure = run.checks.after_step(step, run.plan.step_configs[step], job, data)
            metrics["check_time"] = self.check_time + time.perf_counter() - checked  # inspection and suites
            if failure is not None:
                data.update(status=StepStatus.FAILED, error_type=failure[0], error_message=failure[1])
            elif cached is not None:
                data.update(status=StepStatus.CACHED, cached_from=cached.get("run_id"), cache_key=key)
            elif key is not None:
                why = run.cache.put(key, run.dag.name, step, run.run_id,
                                    {n: Path(p) for n, p in job.output_paths.items()})
                if why:
                    data.setdefault("warnings", []).append(why)
                else:
                    data["cache_key"] = key
        return {k: v for k, v in data.items() if v is not None}

    def _restore_cached(self, job: StepJob) -> tuple[str | None, str | None]:
        """Restore the step's last good outputs (use_cached_output): (the problem or None, the run they are from)."""
        entry = self.run.cache.latest_for(self.run.dag.name, self.step)
        if entry is None:
            return "no cached outputs to fall back on", None
        return self.run.cache.restore(entry, {n: Path(p) for n, p in job.output_paths.items()}), entry["run_id"]


def _falls_back_on_cache(config: StepConfig) -> bool:
    """Whether the step's policy may need its last good outputs, so they are kept even with the cache off."""
    policy = config.on_error
    values = policy.values() if isinstance(policy, dict) else [policy]
    return RecoveryStrategy.USE_CACHED_OUTPUT.value in values


def _capped(finished: dict[str, Any]) -> dict[str, Any]:
    """Bound the texts a step's end carries: a 200 MB exception message must not make a 400 MB record."""
    for key in ("error_message", "traceback"):
        if isinstance(finished.get(key), str):
            finished[key] = cap_text(finished[key])
    if finished.get("warnings"):
        finished["warnings"] = [cap_text(str(w)) for w in finished["warnings"]]
    return finished
