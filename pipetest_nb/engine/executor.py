"""The original plan's batch API: run a whole pipeline, or one step on given paths, in one call."""

from __future__ import annotations

import os
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipetest_nb.engine.options import BATCH_API, STEP_API, RunOptions
from pipetest_nb.engine.results import PipelineExecutionResult, StepResult
from pipetest_nb.engine.run import PipelineRun
from pipetest_nb.engine.start import run_selected, start_run
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.spec.parts import InputSpec, StepConfig
from pipetest_nb.spec.policy import RecoveryStrategy


class PipelineExecutor:
    """Runs a whole pipeline in one call and returns a ``PipelineExecutionResult``."""

    def __init__(self, workspace_dir: str | os.PathLike = BATCH_API.workspace, *, isolation: str | None = None,
                 executor: Executor | None = None, cache: bool = BATCH_API.cache, checks: bool = BATCH_API.checks,
                 on_error: RecoveryStrategy | str = BATCH_API.on_error):
        self.workspace_dir = Path(workspace_dir)
        self.isolation = isolation
        self.executor = executor
        self.cache = cache
        self.checks = checks
        self.on_error = on_error
        self.script_executor = PipelineScriptExecutor(workspace_dir, isolation=isolation)
        self.last_run: PipelineRun | None = None

    def options(self, data_source: str = BATCH_API.data_source, *, from_steps: Any = None, to_steps: Any = None,
                jobs: int = 1, upload: str | None = None) -> RunOptions:
        """The options ``execute_pipeline`` runs with."""
        return BATCH_API.replace(workspace=self.workspace_dir, isolation=self.isolation, executor=self.executor,
                                 cache=self.cache, checks=self.checks, on_error=self.on_error,
                                 data_source=data_source, from_steps=from_steps, to_steps=to_steps, jobs=jobs,
                                 upload=upload)

    def execute_pipeline(self, dag: PipelineDAG, data_source: str = BATCH_API.data_source, *, from_steps: Any = None,
                         to_steps: Any = None, jobs: int = 1, bus_subscribers: list | None = None,
                         upload: str | None = None) -> PipelineExecutionResult:
        """Run ``dag`` (or the slice from/to the given steps) and return what happened; ``upload``
        (``s3://bucket/prefix/``) copies the run folder to ``<upload>/<run_id>/`` afterwards."""
        options = self.options(data_source, from_steps=from_steps, to_steps=to_steps, jobs=jobs, upload=upload)
        run = start_run(dag, options, subscribers=bus_subscribers or ())
        self.last_run = run
        try:
            steps = run_selected(run, options)
            return run.result(steps)
        finally:
            run.close()


class PipelineScriptExecutor:
    """Runs one step on given input paths, as a one-step run (the original plan's per-step API)."""

    def __init__(self, workspace_dir: str | os.PathLike = STEP_API.workspace, *, isolation: str | None = None):
        self.workspace_dir = Path(workspace_dir)
        self.isolation = isolation

    def execute_step(self, step_name: str, step_config: StepConfig, step_inputs: dict[str, str | os.PathLike],
                     base_dir: str | os.PathLike | None = None) -> StepResult:
        inputs = {name: InputSpec(name, path=Path(path)) for name, path in step_inputs.items()}
        config = replace(step_config, name=step_name, inputs=inputs, depends_on=())
        dag = PipelineDAG(name=step_name, steps={step_name: config},
                          base_dir=Path(base_dir) if base_dir else Path.cwd())
        run = start_run(dag, STEP_API.replace(workspace=self.workspace_dir, isolation=self.isolation))
        try:
            return run.run_step(step_name)
        finally:
            run.finish()
            run.close()
