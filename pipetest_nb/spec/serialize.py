"""Writing a pipeline back in the file's shape: keys in their declared order, paths relative to a folder.

``PipelineDAG.from_dict(to_dict(dag), base_dir=dag.base_dir)`` gives the same pipeline back; keys left
at their default are left out, as a person would write the file.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.spec.keys import allowed

if TYPE_CHECKING:
    from pipetest_nb.spec.parts import EdgeSpec, InputSpec, OutputSpec, PipelineDefaults, StepConfig


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it (``./x`` for a bare name), else absolute."""
    try:
        text = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)
    if text.startswith(".."):
        return str(path)
    return text if "/" in text or os.sep in text else f"./{text}"


def _in_order(section: str, values: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """The values in the section's declared key order, without the unset ones: None, and empty values
    too unless the key is in ``keep`` (an empty ``schema`` or ``on_error`` means something)."""
    return {k: values[k] for k in allowed(section) if k in values and values[k] is not None
            and (k in keep or values[k] not in ({}, [], ""))}


def pipeline_to_dict(*, name: str, description: str | None, defaults: PipelineDefaults,
                     steps: dict[str, StepConfig], edges: list[EdgeSpec], preload: tuple[str, ...],
                     base_dir: Path) -> dict[str, Any]:
    """A ``PipelineDAG``'s fields as the file writes them (given as fields: this module sits below the model)."""
    return _in_order("pipeline", {
        "name": name, "description": description, "defaults": defaults_to_dict(defaults),
        "steps": {step_name: step_to_dict(step, base_dir) for step_name, step in steps.items()},
        "edges": [edge_to_dict(e) for e in edges], "preload": list(preload)}, keep=("name", "steps"))


def _copied(value: Any) -> Any:
    """A copy the caller may change; text, numbers and None are shared (a run records thousands of steps)."""
    return value if value is None or isinstance(value, (str, int, float)) else copy.deepcopy(value)


def defaults_to_dict(d: PipelineDefaults) -> dict[str, Any]:
    return _in_order("defaults", {k: _copied(getattr(d, k)) for k in allowed("defaults")})


def step_to_dict(step: StepConfig, base: Path) -> dict[str, Any]:
    fields: dict[str, Callable[[StepConfig], Any]] = {
        "script": lambda s: relative(s.script_path, base) if s.script_path is not None else None,
        "source_dir": lambda s: relative(s.source_dir, base) if s.source_dir is not None else None,
        "inputs": lambda s: {k: _input_to_dict(v, base) for k, v in s.inputs.items()},
        "outputs": lambda s: {k: _output_to_dict(v, base) for k, v in s.outputs.items()},
        "depends_on": lambda s: list(s.depends_on),
        "script_path": lambda s: None,  # written as ``script``
        "external": lambda s: s.external or None,
    }
    return _in_order("step", {k: fields[k](step) if k in fields else _copied(getattr(step, k))
                              for k in allowed("step")},
                     keep=("timeout", "isolation", "on_error", "retries", "memory"))


def _input_to_dict(spec: InputSpec, base: Path) -> Any:
    extras = _in_order("input", {"format": spec.format, "schema": _schema(spec.schema),
                                 "required_files": list(spec.required_files), "optional": spec.optional or None}, keep=("schema",))
    if spec.source:
        return {"from": spec.source, **extras} if extras else spec.source
    if spec.path is not None or spec.url:
        where = spec.url or relative(spec.path, base)
        return {"path": where, **extras} if extras else where
    return extras


def _output_to_dict(spec: OutputSpec, base: Path) -> dict[str, Any]:
    return _in_order("output", {"format": spec.format, "schema": _schema(spec.schema), "tables": spec.tables,
                                "non_tabular": list(spec.non_tabular), "description": spec.description,
                                "path": relative(spec.path, base) if spec.path is not None else None},
                     keep=("schema",))


def _schema(schema: Any) -> dict[str, Any] | None:
    return schema.to_dict() if schema is not None else None


def edge_to_dict(edge: EdgeSpec) -> dict[str, Any]:
    return _in_order("edge", keep=("from", "to"), values={
        "from": edge.source, "to": edge.target, "expectations": edge.expectations, "tables": edge.tables,
        "on_expectation_failure": None if edge.on_expectation_failure == "fail" else edge.on_expectation_failure})
