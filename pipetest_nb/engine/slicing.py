"""Running part of a pipeline: the steps from/to given ones, on the recorded outputs of what precedes them.

``--from``/``--to`` on the CLI, ``Session.run(until=..., from_=...)`` and
``PipelineExecutor.execute_pipeline(from_steps=..., to_steps=...)`` all slice here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipetest_nb.engine.options import Steps
from pipetest_nb.events import EventKind, StepStatus
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.records.cache import CacheUnavailable, copy_tree

if TYPE_CHECKING:
    from pipetest_nb.engine.run import PipelineRun


def select_steps(run: PipelineRun, from_steps: Steps = None, to_steps: Steps = None) -> list[str] | None:
    """The steps of the slice (None: all of them), made ready to run.

    From given steps on, the slice's steps that already ran become pending again and the steps it
    depends on (but does not run) get their outputs from the newest run where they succeeded."""
    if not from_steps and not to_steps:
        return None
    steps = run.plan.subset(from_steps=from_steps, to_steps=to_steps).execution_order
    if from_steps:
        run.reset_steps([s for s in steps if run.status_of(s) != StepStatus.PENDING])
        reuse_upstream(run, steps)
    return steps


def reuse_upstream(run: PipelineRun, steps: list[str]) -> None:
    """Fill the steps a slice depends on (but does not run) from the newest run where they succeeded."""
    wanted = {d for s in steps for d in run.plan.upstream(s)} - set(steps)
    for step in [s for s in run.plan.execution_order if s in wanted]:
        run.writer.attach()  # the links below go into the run folder: it must be this run's, locked
        if run.status_of(step) in StepStatus.DONE_OK:
            continue
        source = None
        for record in run.workspace.runs():
            entry = record.steps.get(step, {})
            if record.run_id != run.run_id and entry.get("status") in StepStatus.DONE_OK and all(
                    Path(p).exists() for p in (entry.get("outputs") or {}).values()):
                source = (record, entry)
                break
        if source is None:
            raise PipetestError(f"step '{step}' is needed by the steps to run, but no run in {run.workspace.root} "
                                f"has its outputs; run it first (e.g. without --from)")
        record, entry = source
        outputs = {}
        for name, path in (entry.get("outputs") or {}).items():
            target = run.writer.folder.output_dir(step, name)
            try:
                copy_tree(Path(path), target)  # a copy: a step editing it must not change the older run
            except (OSError, CacheUnavailable) as exc:
                raise PipetestError(f"cannot reuse output '{name}' of step '{step}' from run {record.run_id}: "
                                    f"{exc}; run the step instead (e.g. without --from)") from exc
            outputs[name] = str(target)
        run.emit(EventKind.STEP_FINISHED, step, status=StepStatus.CACHED, cached_from=record.run_id,
                 outputs=outputs, metrics=entry.get("metrics") or {},
                 warnings=[f"outputs reused from run {record.run_id}"])
