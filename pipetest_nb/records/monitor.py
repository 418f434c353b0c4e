"""Metrics of runs and steps, and the report shape of the original plan (``generate_report``).

``PipelineMonitor`` is an event subscriber like every other view: it never asks the engine
anything. ``PipelineMonitor.from_record`` rebuilds the same metrics from a run on disk, which is
how reports of old runs (and CI's ``--report-json``) are made. Statuses are the run record's own
(``StepStatus``: succeeded, cached, failed, ...); a step counts as completed when it succeeded or was
restored from the cache.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pipetest_nb.events import Event, EventKind, StepStatus


@dataclass
class StepMetrics:
    """Metrics of one step execution. Sizes in bytes, times in seconds."""

    step_name: str
    start_time: datetime
    end_time: datetime | None = None
    duration: float | None = None
    memory_usage: float | None = None  # peak RSS of the step and its children, MiB
    cpu_usage: float | None = None  # CPU seconds / wall seconds (1.0 = one core busy)
    input_data_size: int | None = None
    output_data_size: int | None = None
    status: str = StepStatus.RUNNING
    cpu_time: float | None = None
    peak_rss: int | None = None
    read_bytes: int | None = None
    write_bytes: int | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    check_time: float | None = None  # seconds in the edge checks of the step's inputs and outputs
    elapsed: float | None = None  # start to end as the timeline draws it: launch, script, checks

    @property
    def total(self) -> float | None:
        """The step's time as the timeline shows it (``elapsed``), never less than its script and checks."""
        parts = (self.duration or 0.0) + (self.check_time or 0.0) if self.duration is not None else None
        if self.elapsed is None or parts is None:
            return self.elapsed if parts is None else parts
        return max(self.elapsed, parts)

    @classmethod
    def from_dict(cls, step: str, data: dict[str, Any], status: str, started: float | None,
                  finished: float | None) -> StepMetrics:
        """Build from the ``metrics`` dict a run record keeps for a step."""
        duration = data.get("duration")
        cpu_time, peak = data.get("cpu_time"), data.get("peak_rss")
        return cls(
            step_name=step,
            start_time=datetime.fromtimestamp(started) if started else datetime.fromtimestamp(0),
            end_time=datetime.fromtimestamp(finished) if finished else None,
            duration=duration,
            memory_usage=peak / 2**20 if peak else None,
            cpu_usage=(cpu_time / duration) if cpu_time is not None and duration else None,
            input_data_size=data.get("input_size"),
            output_data_size=data.get("output_size"),
            status=status,
            cpu_time=cpu_time,
            peak_rss=peak,
            read_bytes=data.get("read_bytes"),
            write_bytes=data.get("write_bytes"),
            rows_in=data.get("rows_in"),
            rows_out=data.get("rows_out"),
            check_time=data.get("check_time"),
            elapsed=max(finished - started, 0.0) if started and finished else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start_time"] = self.start_time.isoformat()
        out["end_time"] = self.end_time.isoformat() if self.end_time else None
        return out


@dataclass
class PipelineMetrics:
    """Metrics of one pipeline run."""

    pipeline_name: str
    start_time: datetime
    end_time: datetime | None = None
    total_duration: float | None = None
    step_metrics: dict[str, StepMetrics] = field(default_factory=dict)
    success_rate: float = 0.0
    error_count: int = 0
    warning_count: int = 0
    dependencies: dict[str, list[str]] = field(default_factory=dict)


class PipelineMonitor:
    """Collects metrics from run events and writes the report of the original plan."""

    def __init__(self) -> None:
        self.active_pipelines: dict[str, PipelineMetrics] = {}
        self.completed_pipelines: list[PipelineMetrics] = []

    # -- the original plan's API -------------------------------------------------------------------

    def start_pipeline_monitoring(self, pipeline_name: str, pipeline_id: str | None = None) -> str:
        pipeline_id = pipeline_id or f"{pipeline_name}_{int(time.time())}"
        self.active_pipelines[pipeline_id] = PipelineMetrics(pipeline_name=pipeline_name, start_time=datetime.now())
        return pipeline_id

    def start_step_monitoring(self, pipeline_id: str, step_name: str) -> None:
        if pipeline_id in self.active_pipelines:
            self.active_pipelines[pipeline_id].step_metrics[step_name] = StepMetrics(
                step_name=step_name, start_time=datetime.now())

    def complete_step_monitoring(self, pipeline_id: str, step_name: str, success: bool,
                                 metrics: dict[str, Any]) -> None:
        pipeline = self.active_pipelines.get(pipeline_id)
        if pipeline is None:
            return
        step = pipeline.step_metrics.get(step_name)
        if step is None:
            step = pipeline.step_metrics[step_name] = StepMetrics(step_name=step_name, start_time=datetime.now())
        step.end_time = datetime.now()
        step.duration = metrics.get("duration", (step.end_time - step.start_time).total_seconds())
        step.status = StepStatus.SUCCEEDED if success else StepStatus.FAILED
        for key in ("memory_usage", "cpu_usage", "input_data_size", "output_data_size", "cpu_time", "peak_rss",
                    "read_bytes", "write_bytes", "rows_in", "rows_out"):
            if metrics.get(key) is not None:
                setattr(step, key, metrics[key])
        if step.peak_rss and step.memory_usage is None:
            step.memory_usage = step.peak_rss / 2**20
        self._refresh(pipeline)

    def generate_report(self, pipeline_id: str) -> dict[str, Any]:
        """The report of the original plan, with performance insights."""
        pipeline = self.active_pipelines.get(pipeline_id) or next(
            (p for p in self.completed_pipelines if p.pipeline_name == pipeline_id), None)
        if pipeline is None:
            return {"error": "Pipeline not found"}
        steps = pipeline.step_metrics.values()
        return {
            "pipeline_name": pipeline.pipeline_name,
            "execution_summary": {
                "total_duration": pipeline.total_duration,
                "steps_completed": sum(1 for s in steps if s.status in StepStatus.DONE_OK),
                "steps_failed": sum(1 for s in steps if s.status == StepStatus.FAILED),
                "success_rate": pipeline.success_rate,
            },
            "step_details": {
                name: {
                    "duration": m.duration,
                    "status": m.status,
                    "memory_usage": m.memory_usage,
                    "cpu_usage": m.cpu_usage,
                    "rows": {"input": m.rows_in, "output": m.rows_out},
                    "data_processed": {"input_size": m.input_data_size, "output_size": m.output_data_size},
                }
                for name, m in pipeline.step_metrics.items()
            },
            "performance_insights": performance_insights(pipeline),
        }

    # -- as an event subscriber --------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if event.kind == EventKind.RUN_STARTED:
            pipeline = event.data.get("pipeline", {}).get("name", "pipeline")
            self.start_pipeline_monitoring(pipeline, event.run_id)
            self.active_pipelines[event.run_id].dependencies = event.data.get("plan", {}).get("dependencies", {})
        elif event.kind == EventKind.STEP_STARTED:
            self.start_step_monitoring(event.run_id, event.step)
            if event.run_id in self.active_pipelines:  # the event's time, as the record keeps it
                self.active_pipelines[event.run_id].step_metrics[event.step].start_time = datetime.fromtimestamp(
                    event.time)
        elif event.kind == EventKind.STEP_FINISHED and event.run_id in self.active_pipelines:
            pipeline = self.active_pipelines[event.run_id]
            before = pipeline.step_metrics.get(event.step)
            pipeline.step_metrics[event.step] = StepMetrics.from_dict(
                event.step, event.data.get("metrics") or {}, event.data.get("status", StepStatus.FAILED),
                before.start_time.timestamp() if before else event.time, event.time)
            self._refresh(pipeline)
        elif event.kind == EventKind.RUN_FINISHED and event.run_id in self.active_pipelines:
            pipeline = self.active_pipelines[event.run_id]
            pipeline.end_time = datetime.now()
            pipeline.total_duration = event.data.get("duration")
            self._refresh(pipeline)

    @classmethod
    def from_record(cls, record: Any) -> tuple[PipelineMonitor, str]:
        """A monitor filled from a run record (``record.RunRecord``); returns it and the run id."""
        monitor = cls()
        data = record.data
        run_id = record.run_id
        started = data.get("started_at")
        pipeline = PipelineMetrics(pipeline_name=(data.get("pipeline") or {}).get("name") or "pipeline",
                                   start_time=datetime.fromtimestamp(started) if started else datetime.now(),
                                   total_duration=data.get("duration"),
                                   dependencies=(data.get("plan") or {}).get("dependencies") or {})
        for name, step in record.steps.items():
            status = record.shown_step_status(name)
            if status == StepStatus.PENDING:
                continue
            pipeline.step_metrics[name] = StepMetrics.from_dict(name, step.get("metrics") or {}, status,
                                                                step.get("started_at"), step.get("finished_at"))
        monitor._refresh(pipeline)
        monitor.active_pipelines[run_id] = pipeline
        return monitor, run_id

    @staticmethod
    def _refresh(pipeline: PipelineMetrics) -> None:
        steps = list(pipeline.step_metrics.values())
        finished = [s for s in steps if s.status != StepStatus.RUNNING]
        ok = sum(1 for s in finished if s.status in StepStatus.DONE_OK)
        pipeline.success_rate = ok / len(finished) if finished else 0.0
        pipeline.error_count = sum(1 for s in finished if s.status == StepStatus.FAILED)


def performance_insights(pipeline: PipelineMetrics) -> dict[str, Any]:
    """Slowest step, most memory, the critical path, and how data grows step by step."""
    steps = {n: m for n, m in pipeline.step_metrics.items() if m.duration is not None}
    insights: dict[str, Any] = {}
    if steps:  # by the time the timeline draws (script, edge checks and launch), as the critical path counts
        slowest = max(steps.values(), key=lambda m: m.total or 0)
        insights["slowest_step"] = {"step": slowest.step_name, "duration": slowest.total,
                                    "script": slowest.duration, "check_time": slowest.check_time}
    with_memory = [m for m in steps.values() if m.peak_rss]
    if with_memory:
        top = max(with_memory, key=lambda m: m.peak_rss or 0)
        insights["most_memory"] = {"step": top.step_name, "peak_rss": top.peak_rss,
                                   "memory_usage_mib": top.memory_usage}
    if steps and pipeline.dependencies:
        insights["critical_path"] = critical_path(pipeline.dependencies, {n: m.total or 0 for n, m in steps.items()})
    growth = {}
    for name, m in steps.items():
        if m.input_data_size and m.output_data_size is not None:
            growth[name] = {"input_size": m.input_data_size, "output_size": m.output_data_size,
                            "ratio": m.output_data_size / m.input_data_size}
    if growth:
        insights["data_growth"] = growth
    return insights


def critical_path(dependencies: dict[str, list[str]], durations: dict[str, float]) -> dict[str, Any]:
    """The chain of dependent steps with the largest total duration."""
    best: dict[str, tuple[float, list[str]]] = {}
    for step in dependencies:  # dependencies is in execution order
        before = max((best[d] for d in dependencies[step] if d in best), key=lambda t: t[0], default=(0.0, []))
        best[step] = (before[0] + durations.get(step, 0.0), [*before[1], step])
    if not best:
        return {"steps": [], "duration": 0.0}
    total, path = max(best.values(), key=lambda t: t[0])
    return {"steps": path, "duration": total}
