"""What a step or a run produced, as returned to Python code (the record on disk holds the same)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.events import StepStatus
from pipetest_nb.records.monitor import StepMetrics


@dataclass
class StepResult:
    """One step's outcome: status, outputs (logical name -> folder), metrics and checks."""

    step_name: str
    status: str
    outputs: dict[str, Path] = field(default_factory=dict)
    inputs: dict[str, Path] = field(default_factory=dict)
    duration: float = 0.0
    metrics: StepMetrics | None = None
    data_validation_report: Any = None  # dataflow.DataCompatibilityReport
    edge_checks: list[Any] = field(default_factory=list)  # expectations.EdgeCheck
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    attempts: int = 1
    warnings: list[str] = field(default_factory=list)
    cached_from: str | None = None
    run_dir: Path | None = None

    @property
    def success(self) -> bool:
        return self.status in StepStatus.DONE_OK

    @property
    def error(self) -> str | None:
        if not self.error_type:
            return None
        return f"{self.error_type}: {self.error_message}"

    def log(self, stream: str = "stderr") -> str:
        """The step's captured stdout or stderr."""
        if self.run_dir is None:
            return ""
        path = Path(self.run_dir) / "steps" / self.step_name / f"{stream}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __repr__(self) -> str:
        text = f"StepResult({self.step_name!r}, status={self.status!r}, duration={self.duration:.2f}s"
        if self.error_type:
            text += f", error={self.error!r}"
        return text + ")"


@dataclass
class PipelineExecutionResult:
    """A whole run: ``success``, the completed steps, the first error, the plan, the total duration."""

    success: bool
    completed_steps: list[StepResult] = field(default_factory=list)
    error: str | None = None
    execution_plan: Any = None  # resolver.PipelineExecutionPlan
    total_duration: float = 0.0
    steps: dict[str, StepResult] = field(default_factory=dict)
    run_id: str | None = None
    run_dir: Path | None = None
    root_failure: dict[str, Any] | None = None
    not_run: list[str] = field(default_factory=list)

    @property
    def failed_steps(self) -> list[StepResult]:
        return [r for r in self.steps.values() if r.status == StepStatus.FAILED]

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for r in self.steps.values():
            counts[r.status] = counts.get(r.status, 0) + 1
        text = ", ".join(f"{n} {s}" for s, n in counts.items())
        return (f"PipelineExecutionResult(success={self.success}, {text}, total_duration={self.total_duration:.2f}s"
                + (f", error={self.error!r}" if self.error else "") + ")")
