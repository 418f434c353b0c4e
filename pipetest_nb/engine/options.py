"""How a run is set up: every option a run takes, with its default, written down once.

``RunOptions()`` holds the engine's defaults: a run that fails where a step fails, on the files the
pipeline names, with the cache and the edge checks on. ``start_run`` (``engine/start.py``) is the
one way in; every entry (``PipelineExecutor``, ``Session``, the CLI's ``run``, ``resume``,
``cursus run`` and ``demo``) builds a ``RunOptions`` and goes through it.

Three entries keep other defaults, because their users already rely on them; each is one value
below, with the reason:

- ``SESSION``: a notebook pauses where a step fails (``on_error=pause``), so the failure can be
  looked at and the step re-run, instead of blocking what follows.
- ``BATCH_API``: ``PipelineExecutor`` of the original plan runs on generated data
  (``data_source=synthetic``) in ``./test_workspace``, so a pipeline is testable before any data exists.
- ``STEP_API``: ``PipelineScriptExecutor`` runs one step on the paths it is given, in
  ``./test_workspace``, always for real (``cache=False``): it tests the script, not the cache.

The CLI's commands take the engine's defaults; their flags (``--no-cache``, ``--no-checks``,
``--data-source``, ``--isolation``, ``--jobs``, ``--from``/``--to``) change single fields.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import PipetestError
from pipetest_nb.spec.keys import CHECKS_ENGINES
from pipetest_nb.spec.policy import RecoveryStrategy

if TYPE_CHECKING:
    from pipetest_nb.records.workspace import Workspace

DATA_SOURCES = ("files", "synthetic")

Steps = list[str] | tuple[str, ...] | str | None


@dataclass(frozen=True)
class RunOptions:
    """Everything that decides how a run goes, except the pipeline itself."""

    workspace: str | os.PathLike | Workspace = "pipetest_workspace"  # where runs and the cache live
    isolation: str | None = None  # subprocess / inprocess / pool; None: each step's own, else subprocess
    executor: Executor | None = None  # any concurrent.futures executor to run the steps on
    cache: bool = True  # restore a step's outputs when its script, settings and inputs are unchanged
    checks: bool = True  # check each edge's data against what its consumers declare
    checks_engine: str | None = None  # auto / native / gx for the suites; None: the file's, else auto
    data_source: str = "files"  # files: the paths in the pipeline; synthetic: data generated from schemas
    on_error: RecoveryStrategy | str = RecoveryStrategy.FAIL_PIPELINE  # when the pipeline file names none
    synthetic_rows: int | None = None  # None: each schema's rows, else the generator's default
    retry_backoff: float = 1.0  # seconds before the first retry, doubled each time
    jobs: int = 1  # independent steps run side by side
    from_steps: Steps = None  # run from these steps on, reusing recorded upstream outputs
    to_steps: Steps = None  # run up to and including these steps
    upload: str | None = None  # after the run, copy its folder to <upload>/<run_id>/ (s3://bucket/prefix/)

    def __post_init__(self) -> None:
        if self.data_source not in DATA_SOURCES:
            raise PipetestError(f"data_source must be one of {', '.join(DATA_SOURCES)}, got {self.data_source!r}")
        if self.checks_engine not in (None, *CHECKS_ENGINES):
            raise PipetestError(f"checks_engine must be one of {', '.join(CHECKS_ENGINES)}, got {self.checks_engine!r}")
        object.__setattr__(self, "on_error", RecoveryStrategy(self.on_error))

    def replace(self, **changes: Any) -> RunOptions:
        """These options with some fields changed (an unknown name is a TypeError)."""
        return dataclasses.replace(self, **changes)

    def recorded(self) -> dict[str, Any]:
        """The options a run record keeps (and a reopened run takes back)."""
        return {"isolation": self.isolation, "data_source": self.data_source, "cache": self.cache,
                "checks": self.checks, "executor": type(self.executor).__name__ if self.executor else None}


#: A notebook session pauses where a step fails, to look at it and re-run it.
SESSION = RunOptions(on_error=RecoveryStrategy.PAUSE)
#: ``PipelineExecutor`` (the original plan's batch API) tests scripts on generated data.
BATCH_API = RunOptions(workspace="./test_workspace", data_source="synthetic")
#: ``PipelineScriptExecutor`` runs one step on given paths, always for real.
STEP_API = RunOptions(workspace="./test_workspace", cache=False)
