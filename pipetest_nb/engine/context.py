"""``RunContext``: what one step's lifecycle needs from the run it belongs to.

``engine/lifecycle.py``, ``engine/prepare.py`` and ``engine/outside_writes.py`` see the run only
through this interface, so they depend on neither the run loop (``engine/run.py``, which
implements it as ``PipelineRun``) nor its private state.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pipetest_nb.engine.edge_checks import EdgeChecks
    from pipetest_nb.engine.recovery import PipelineErrorHandler
    from pipetest_nb.engine.results import StepResult
    from pipetest_nb.events import EventBus
    from pipetest_nb.launch.base import Launcher
    from pipetest_nb.plan import PipelineExecutionPlan
    from pipetest_nb.records.cache import StepCache
    from pipetest_nb.records.writer import RunWriter
    from pipetest_nb.spec.model import PipelineDAG


class RunContext(Protocol):
    """The run as a step sees it: its pipeline and plan, its record, cache, checks and policy, its events."""

    dag: PipelineDAG
    plan: PipelineExecutionPlan
    writer: RunWriter
    cache: StepCache
    errors: PipelineErrorHandler
    checks: EdgeChecks
    bus: EventBus
    hooks: list[object]
    use_cache: bool
    data_source: str
    synthetic_rows: int | None

    @property
    def run_id(self) -> str: ...

    @property
    def run_dir(self) -> Path: ...

    @property
    def statuses(self) -> dict[str, str]: ...

    @property
    def stopping(self) -> bool:
        """Whether the run was told to stop (Stop, Ctrl-C, the process ending)."""

    def status_of(self, step: str) -> str: ...

    def isolation_for(self, step: str, override: str | None = None) -> str: ...

    def step_result(self, step: str) -> StepResult: ...

    def emit(self, kind: str, step: str | None = None, *, hold: bool = False, **data: Any) -> None:
        """Record and announce one event of the run."""

    def report_view_failure(self, view: object, kind: str, step: str | None, error: str) -> None: ...

    def block_downstream(self, step: str) -> None:
        """Mark the steps after ``step`` that have not run as blocked by it."""

    def halt(self) -> None:
        """Start no further step in this run."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the run is told to stop meanwhile."""

    def launching(self, step: str, isolation: str) -> AbstractContextManager[Launcher]:
        """The launcher for ``isolation``, known to the run as running ``step`` (so that Stop reaches it)."""
