"""The parts of a pipeline spec: a step (``StepConfig``), its inputs, outputs and their table schemas,
the declared data edges, and the pipeline-wide defaults. ``PipelineDAG`` (``spec.model``) holds them;
the parsers (``spec.parse_*``) build them, so these import nothing of the spec themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.exceptions import PipelineSpecError, SpecProblem


@dataclass(frozen=True)
class TableSchema:
    """What the tables of an output (or an input) must look like."""

    required_columns: tuple[str, ...] = ()
    column_types: dict[str, str] = field(default_factory=dict)
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.required_columns:
            out["required_columns"] = list(self.required_columns)
        if self.column_types:
            out["column_types"] = dict(self.column_types)
        if self.rows is not None:
            out["rows"] = self.rows
        return out

    @property
    def columns(self) -> list[str]:
        """Every column the schema names, required ones first."""
        names = list(self.required_columns)
        names += [c for c in self.column_types if c not in names]
        return names


@dataclass(frozen=True)
class InputSpec:
    """One logical input of a step: an external path, or a binding to another step's output."""

    name: str
    source: str | None = None
    path: Path | None = None
    format: str | None = None
    schema: TableSchema | None = None
    required_files: tuple[str, ...] = ()
    optional: bool = False
    url: str | None = None  # remote data (``s3://...``), fetched into the workspace before the step runs

    @property
    def is_binding(self) -> bool:
        return self.source is not None

    @property
    def producer(self) -> str | None:
        return self.source.split(".", 1)[0] if self.source else None

    @property
    def output(self) -> str | None:
        return self.source.split(".", 1)[1] if self.source else None

    @property
    def declares_checks(self) -> bool:
        """Whether the consumer said enough about this input to check the data against it."""
        return bool(self.format or self.schema or self.required_files)


@dataclass(frozen=True)
class OutputSpec:
    """One logical output of a step: a folder the step writes, with what its tables should hold."""

    name: str
    format: str | None = None
    schema: TableSchema | None = None
    tables: str | None = None
    non_tabular: tuple[str, ...] = ()
    description: str | None = None
    path: Path | None = None  # an external step's output: the folder the user provides


@dataclass(frozen=True)
class EdgeSpec:
    """Extra settings for the data edge ``producer.output -> consumer.input``."""

    source: str
    target: str
    expectations: str | None = None
    tables: str | None = None
    on_expectation_failure: str = "fail"

    @property
    def producer(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def output(self) -> str:
        return self.source.split(".", 1)[1]

    @property
    def consumer(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def input(self) -> str:
        return self.target.split(".", 1)[1]


@dataclass(frozen=True)
class StepConfig:
    """One step: a script with a contract (logical inputs and outputs, env vars, job args)."""

    name: str
    script_path: Path | None = None
    source_dir: Path | None = None
    entry_point: str | None = None
    mode: str | None = None
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    timeout: float | None = None
    isolation: str | None = None
    on_error: str | dict[str, str] | None = None
    retries: int | None = None
    memory: int | None = None
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str | None = None
    external: bool = False  # it does not run: its outputs are the folders its ``OutputSpec.path`` names

    @property
    def script(self) -> Path:
        """The script file to run: ``script_path``, else ``source_dir / entry_point``."""
        if self.script_path is not None:
            return self.script_path
        if self.source_dir is not None and self.entry_point:
            return self.source_dir / self.entry_point
        raise PipelineSpecError([SpecProblem("no script: give 'script' or 'source_dir' + 'entry_point'",
                                             step=self.name)])

    @property
    def upstream_steps(self) -> list[str]:
        """Steps this one needs first: producers of its bound inputs, then ``depends_on``."""
        seen: list[str] = []
        for spec in self.inputs.values():
            if spec.producer and spec.producer not in seen:
                seen.append(spec.producer)
        seen += [d for d in self.depends_on if d not in seen]
        return seen


@dataclass(frozen=True)
class PipelineDefaults:
    """Settings that apply to every step that does not set them itself."""

    timeout: float | None = None
    isolation: str | None = None
    on_error: str | dict[str, str] | None = None
    retries: int | None = None
    memory: int | None = None
    mode: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    checks_engine: str | None = None  # auto / native / gx; None: auto
