"""The ``spec:`` section of a step interface: what Cursus's assembler binds with.

A contract says what a script reads and writes; the spec says how Cursus wires it: each
dependency's type, data type, ``required`` flag, ``compatible_sources`` and ``semantic_keywords``,
each output's type, data type and ``aliases``. Defaults are Cursus's own (``processing_output``,
required, ``S3Uri``, no lists), and a job type's ``variants:`` entry is deep-merged over the base
sections before either is read, as Cursus's builders load it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The dependency types Cursus knows; an output of another type is never compatible.
DEPENDENCY_TYPES = ("model_artifacts", "processing_output", "training_data", "hyperparameters",
                    "payload_samples", "custom_property")
DEFAULT_TYPE = "processing_output"
DEFAULT_DATA_TYPE = "S3Uri"


@dataclass(frozen=True)
class DependencySpec:
    """One input as the assembler sees it."""

    name: str
    type: str = DEFAULT_TYPE
    required: bool = True
    data_type: str = DEFAULT_DATA_TYPE
    compatible_sources: tuple[str, ...] = ()
    semantic_keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputSpec:
    """One output as the assembler sees it."""

    name: str
    type: str = DEFAULT_TYPE
    data_type: str = DEFAULT_DATA_TYPE
    aliases: tuple[str, ...] = ()
    semantic_keywords: tuple[str, ...] = ()


@dataclass
class StepSpec:
    """A step's dependencies and outputs in declaration order (the order breaks Cursus's ties)."""

    step_type: str | None = None
    dependencies: dict[str, DependencySpec] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)


def deep_merge(base: Any, over: Any) -> Any:
    """``over`` merged into a copy of ``base``, mapping by mapping (a variant restates only what it changes)."""
    if not isinstance(base, Mapping) or not isinstance(over, Mapping):
        return over
    merged = copy.copy(base) if isinstance(base, dict) else dict(base)
    for key, value in over.items():
        merged[key] = deep_merge(base[key], value) if key in base else value
    return merged


def with_variant(data: Mapping[str, Any], job_type: str | None) -> Mapping[str, Any]:
    """The interface as a builder of ``job_type`` loads it: that variant's ``spec``, ``contract`` and
    ``patterns`` deep-merged over the base; an unknown job type keeps the base."""
    variants = data.get("variants")
    if not job_type or not isinstance(variants, Mapping) or not isinstance(variants.get(job_type), Mapping):
        return data
    variant = variants[job_type]
    merged = copy.copy(data) if isinstance(data, dict) else dict(data)
    for section in ("spec", "contract", "patterns"):
        if isinstance(variant.get(section), Mapping) and variant[section]:
            merged[section] = deep_merge(data.get(section) or {}, variant[section])
    return merged


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(value)


def _entry(kind: str, name: str, raw: Mapping[str, Any], required: bool | None) -> DependencySpec | OutputSpec:
    kind_type = str(raw.get("type") or DEFAULT_TYPE)
    data_type = str(raw.get("data_type") or DEFAULT_DATA_TYPE)
    keywords = _names(raw.get("semantic_keywords") or [])
    if kind == "dependencies":
        flag = raw.get("required")
        return DependencySpec(name, kind_type, flag if isinstance(flag, bool) else required is not False,
                              data_type, _names(raw.get("compatible_sources") or []), keywords)
    return OutputSpec(name, kind_type, data_type, _names(raw.get("aliases") or []), keywords)


def read_spec(data: Mapping[str, Any], required: Mapping[str, bool],
              problem: Any) -> StepSpec:
    """The ``spec:`` of an interface (variant already applied). ``required`` holds the contract's flags,
    used where the spec sets none; ``problem(message, mapping, key)`` records a mistake."""
    section = data.get("spec") or {}
    if not isinstance(section, Mapping):
        problem("'spec' must be a mapping with 'dependencies' and 'outputs'", data, "spec")
        section = {}
    spec = StepSpec(step_type=section.get("step_type") or data.get("step_type") or None)
    for key, target in (("dependencies", spec.dependencies), ("outputs", spec.outputs)):
        entries = section.get(key) or {}
        if not isinstance(entries, Mapping):
            problem(f"'spec.{key}' must map a logical name to its spec", section, key)
            continue
        for name, raw in entries.items():
            raw = raw or {}
            try:
                if not isinstance(raw, Mapping):
                    raise ValueError(raw)
                entry = _entry(key, str(name), raw, required.get(str(name)))
            except ValueError:
                problem(f"spec of '{name}' must be a mapping whose aliases, semantic_keywords and "
                        "compatible_sources are lists of names", entries, name)
                continue
            if entry.type not in DEPENDENCY_TYPES:
                problem(f"'{name}' has unknown type '{entry.type}'", raw, "type",
                        hint=f"one of: {', '.join(DEPENDENCY_TYPES)}")
            target[str(name)] = entry
    return spec


def completed(spec: StepSpec, inputs: Mapping[str, bool], outputs: Mapping[str, Any]) -> StepSpec:
    """The spec with every contract input and output it does not declare added with Cursus's defaults
    (a hand-written contract often has no ``spec:`` at all)."""
    for name, required in inputs.items():
        spec.dependencies.setdefault(name, DependencySpec(name, required=required))
    for name in outputs:
        spec.outputs.setdefault(name, OutputSpec(name))
    return spec



def node_step_name(node: str) -> str:
    """``TabularPreprocessing_calibration`` -> ``TabularPreprocessing``: a DAG node is a step name (no
    ``_`` in Cursus's registry names) and an optional job-type suffix."""
    return node.split("_", 1)[0]
