"""The one way into the engine: a pipeline and its ``RunOptions`` make a ``PipelineRun``.

Views and callers pass what listens to the run (the run record is written by the run itself; the
CLI's printer, a progress bar, the monitor, widgets) as ``subscribers``, so they are subscribed
before the first event and see the whole run.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipetest_nb.engine.options import RunOptions
from pipetest_nb.engine.run import PipelineRun
from pipetest_nb.engine.slicing import select_steps
from pipetest_nb.events import Subscriber
from pipetest_nb.spec.model import PipelineDAG


def start_run(dag: PipelineDAG, options: RunOptions = RunOptions(), *,  # noqa: B008 - frozen, shared safely
              subscribers: Iterable[Subscriber] = (), hooks: Iterable[object] = ()) -> PipelineRun:
    """A new run of ``dag`` in ``options.workspace``; nothing is written before its first step starts.

    ``hooks`` are objects with ``before_step``/``after_step`` methods taking keyword arguments (see
    ``engine/lifecycle.py``)."""
    return PipelineRun(dag, options=options, subscribers=subscribers, hooks=hooks)


def run_selected(run: PipelineRun, options: RunOptions) -> list[str] | None:
    """Run what ``options`` select (``from_steps``/``to_steps``, ``jobs`` at a time), then copy the run folder
    to ``options.upload`` if given; the steps selected (None: the whole pipeline)."""
    steps = select_steps(run, options.from_steps, options.to_steps)
    run.run(steps, jobs=options.jobs)
    if options.upload:
        from pipetest_nb.remote.runs import upload_run

        upload_run(run.run_dir, options.upload)
    return steps
