"""The checks at the edges of a running pipeline: what a step wrote, checked against everyone who reads it.

After a step succeeds, each of its outputs is inspected once (files, sizes, rows, schemas from
metadata) and checked against what the producer declared, against every consumer that declares a
format, schema or required files, and against the Great Expectations suites of its edges; each
checked edge is announced as an ``edge_checked`` event. Before a step starts, incoming edges whose
data was not checked in this run (outputs reused from another run) are checked too.

Whether checks are on or off, an output holding a special file (FIFO, device, socket, or a link to
one) fails its step with ``data_compatibility_error`` naming the file: no consumer, cache or report
could read it without blocking. A link that leads out of the output is kept as a link, never read,
and said in the step's warnings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.engine.first_suite import first_suite_notes
from pipetest_nb.events import EdgeState, EventKind
from pipetest_nb.records.record import edge_key

if TYPE_CHECKING:
    from pipetest_nb.launch.base import StepJob
    from pipetest_nb.records.writer import RunWriter
    from pipetest_nb.spec.model import PipelineDAG
    from pipetest_nb.spec.parts import OutputSpec, StepConfig
    from pipetest_nb.validation.artifacts import OutputInfo
    from pipetest_nb.validation.compatibility import DataCompatibilityReport

_STATE_ORDER = (EdgeState.UNCHECKED, EdgeState.PASSED, EdgeState.WARNED, EdgeState.FAILED)


class EdgeChecks:
    """Runs a run's edge checks; ``emit`` announces results and ``writer()`` gives the run being written."""

    def __init__(self, dag: PipelineDAG, emit: Callable[..., None], writer: Callable[[], RunWriter],
                 enabled: bool = True, engine: str | None = None):
        self.dag = dag
        self.enabled = enabled  # off: outputs are still inspected for sizes and rows, nothing is checked
        self.engine = engine  # the suites' checks_engine; None: the pipeline file's
        self._emit = emit
        self._writer = writer
        self._inspected: dict[str, OutputInfo] = {}  # output folder -> what its producer's checks saw
        self._outgoing: dict[str, list[tuple[str, str]]] = {}
        for source, target in dag.data_edges():
            self._outgoing.setdefault(source, []).append((source, target))
        if enabled:  # GX imports while the first steps run, if a suite will need it
            from pipetest_nb.validation.expectations.warmup import prepare

            prepare(dag, engine)

    def after_step(self, step: str, config: StepConfig, job: StepJob, data: dict[str, Any]) -> tuple[str, str] | None:
        """Check every edge leaving ``step``; fill ``data`` (metrics, report, warnings) and return the
        blocking finding as (error type, message), or None."""
        from pipetest_nb.validation.artifacts import inspect_output
        from pipetest_nb.validation.compatibility import DataCompatibilityReport

        metrics = data["metrics"]
        reports: list[DataCompatibilityReport] = []
        failures: list[tuple[str, str]] = []  # (error type, message), in the order found
        rows_out: int | None = 0
        output_size = 0
        for name, folder in job.output_paths.items():
            spec = config.outputs.get(name)
            info = self._inspected[folder] = inspect_output(folder, spec)
            output_size += info.total_size
            rows_out = rows_out + info.total_rows if rows_out is not None and info.total_rows is not None else None
            if info.total_size == 0 and not info.files:
                data.setdefault("warnings", []).append(f"the step wrote nothing to output '{name}'")
            special, outside = _unsafe_entries(step, name, info)
            failures += [("data_compatibility_error", message) for message in special]
            if outside:
                data.setdefault("warnings", []).extend(outside)
            if self.enabled:
                self._check_output(step, name, folder, spec, info, data, reports, failures)
        metrics["output_size"] = output_size
        metrics["rows_out"] = rows_out
        metrics["rows_in"] = self.rows_in(job.input_paths)
        combined = DataCompatibilityReport.combine(reports) if reports else DataCompatibilityReport(
            True, [], [], {"outputs": {n: str(p) for n, p in job.output_paths.items()}, "checks": 0})
        data["data_validation_report"] = combined.to_dict()
        if not failures:
            return None
        return failures[0][0], "\n".join(message for _, message in failures)

    def _check_output(self, step: str, name: str, folder: str, spec: OutputSpec | None, info: OutputInfo,
                      data: dict[str, Any], reports: list, failures: list[tuple[str, str]]) -> None:
        """One output against what its producer declared, each edge out of it, and the suites no step reads."""
        from pipetest_nb.validation.compatibility import DataCompatibilityValidator

        if spec is not None and (spec.schema is not None or (spec.format and spec.format != "binary")):
            declared = DataCompatibilityValidator().validate_step_transition(
                info, {"format": spec.format if spec.format != "binary" else None, "schema": spec.schema},
                edge=f"{step}.{name} (as declared by {step})", tables=spec.tables)
            reports.append(declared)
            if not declared.compatible:
                failures.append(("data_compatibility_error", str(declared)))
        suites = _expectation_checks(self.dag, step, name, Path(folder), self.engine)
        first = first_suite_notes(suites, self.dag.name, self._writer().folder.path, f"{step}.{name}")
        if first:  # suites not written yet: warnings until a run has the data to draft them from
            data.setdefault("warnings", []).extend(first)
        for source, target in self._outgoing.get(f"{step}.{name}", []):
            self._check_edge_out(step, name, source, target, folder, spec, info, suites, reports, failures)
        unread = [c for c in suites if c.edge == f"{step}.{name}"]  # suites of an output no step reads
        if unread:
            data.setdefault("output_checks", []).extend(c.to_dict() for c in unread)
            failures += [("expectation_failed", str(c)) for c in unread if c.state == EdgeState.FAILED]

    def _check_edge_out(self, step: str, name: str, source: str, target: str, folder: str, spec: OutputSpec | None, info: OutputInfo,
                        suites: list[Any], reports: list, failures: list[tuple[str, str]]) -> None:
        """One edge out of an output: its consumer's declarations and its suites; announced if anything checked."""
        from pipetest_nb.validation.compatibility import check_edge

        consumer, input_name = target.split(".", 1)
        consumer_spec = self.dag.steps[consumer].inputs[input_name]
        edge = self.dag.edge(source, target)
        report = check_edge(step, name, folder, consumer, consumer_spec, spec, info=info,
                            tables=edge.tables if edge else None) if consumer_spec.declares_checks else None
        checks = [c for c in suites if c.edge == f"{source} -> {target}"]
        if report is None and not checks:
            return
        state = _worst(([report.state] if report else []) + [c.state for c in checks])
        self._emit(EventKind.EDGE_CHECKED, step, edge=[source, target], state=state,
                   **({"compatibility": report.to_dict()} if report else {}),
                   **({"expectations": [c.to_dict() for c in checks]} if checks else {}))
        if report is not None:
            reports.append(report)
            if not report.compatible:
                failures.append(("data_compatibility_error", str(report)))
        failures += [("expectation_failed", str(c)) for c in checks if c.state == EdgeState.FAILED]

    def before_step(self, step: str, config: StepConfig) -> str | None:
        """Check incoming edges whose data was not checked in this run; the issues found, if any."""
        from pipetest_nb.validation.compatibility import check_edge

        if not self.enabled:
            return None
        writer = self._writer()
        failures = []
        for name, spec in config.inputs.items():
            if not spec.source or not spec.declares_checks:
                continue
            target = f"{step}.{name}"
            if edge_key(spec.source, target) in writer.record.edges:
                continue
            producer, output = spec.producer, spec.output
            edge = self.dag.edge(spec.source, target)
            report = check_edge(producer, output, writer.folder.output_dir(producer, output), step, spec,
                                self.dag.steps[producer].outputs.get(output), tables=edge.tables if edge else None)
            self._emit(EventKind.EDGE_CHECKED, step, edge=[spec.source, target], state=report.state,
                       compatibility=report.to_dict())
            if not report.compatible:
                failures.append(str(report))
        return "\n".join(failures) or None

    def rows_in(self, input_paths: dict[str, str]) -> int | None:
        """Rows of the tables a step read, where cheap to know (what its producers' checks inspected)."""
        from pipetest_nb.validation.artifacts import inspect_output

        total = 0
        for path in input_paths.values():
            if not Path(path).is_dir():
                return None
            info = self._inspected.get(path) or inspect_output(path)
            if info.total_rows is None:
                return None
            total += info.total_rows
        return total


def _unsafe_entries(step: str, output: str, info: OutputInfo) -> tuple[list[str], list[str]]:
    """Messages for the special files of an output (failures) and its links not followed (warnings)."""
    from pipetest_nb.files import display_path

    special = [f"output '{output}' of step '{step}' holds {display_path(rel)}, {f.error}; write a regular "
               "file instead (or write the data it would carry)" for rel, f in info.special_files.items()]
    outside = [f"output '{output}': {display_path(rel)} is a symbolic link to {display_path(f.link or '')}, "
               "which does not lead to a file inside the output; it is recorded and cached as a link, never "
               "read or copied through" for rel, f in info.links.items() if f.format == "link" and not f.special]
    return special, outside


def report_from_dict(data: dict | None) -> DataCompatibilityReport | None:
    """A step's recorded validation report as an object again."""
    if data is None:
        return None
    from pipetest_nb.validation.compatibility import DataCompatibilityReport

    return DataCompatibilityReport.from_dict(data)


def _worst(states: list[str]) -> str:
    return max(states, key=_STATE_ORDER.index, default=EdgeState.UNCHECKED)


def _expectation_checks(dag: PipelineDAG, step: str, output: str, folder: Path, engine: str | None) -> list[Any]:
    """The suite checks of an output's edges (GX is imported only when an expectation goes to it)."""
    from pipetest_nb.validation.expectations.checks import check_output

    return check_output(dag, step, output, folder, engine)
