"""Cursus pipelines as they are: the DAG JSON, the configuration JSON and the script contracts.

Cursus (the SageMaker pipeline generator) describes a pipeline in three places: a DAG whose edges
carry no names, a configuration (fields shared by every step, under per-step fields) and one
contract per script (logical inputs and outputs, env vars, job arguments). This module reads all
three without importing Cursus or any script, binds every consumer input to a producer output by
matching logical names, checks each script against its contract with a static ``ast`` scan, and
builds a normal ``PipelineDAG`` whose steps run in ``main`` mode.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher, get_close_matches
from pathlib import Path
from typing import Any

from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.spec.model import PipelineDAG, StepConfig

#: Config fields that feed an env var of another name. A field with the env var's own name, in any
#: case (``label_field`` -> ``LABEL_FIELD``), always does; these are the extra, documented pairs.
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "LABEL_FIELD": ("label_name",),
    "ID_FIELD": ("id_name",),
    "CATEGORICAL_COLUMNS": ("cat_field_list",),
    "NUMERICAL_COLUMNS": ("tab_field_list",),
}

#: Confidence of each way an input can match an output, best first. ``semantic`` gains 0.05 for a
#: second shared keyword; ``similarity`` is 0.7 x the similarity ratio of the normalised names.
MATCH_CONFIDENCE = {"exact": 1.0, "alias": 0.95, "semantic": 0.85, "compatible_source": 0.8, "normalised": 0.75}
SIMILARITY_WEIGHT = 0.7
#: Below this ratio two names are not candidates at all; between it and ``min_confidence`` they are
#: reported as a low-confidence binding the user must confirm.
SIMILARITY_FLOOR = 0.5
DEFAULT_MIN_CONFIDENCE = 0.5

_SUFFIXES = ("_data", "_path", "_paths", "_output", "_outputs", "_input", "_inputs", "_dir", "_file",
             "_files", "_folder", "_uri")
_CONTRACT_CALL = re.compile(r"ScriptContract$")
_OVERRIDE_KEYS = ("name", "defaults", "steps", "bindings")
_OVERRIDE_STEP_KEYS = ("inputs", "env", "args")


# --------------------------------------------------------------------------------------------------
# What is read
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CursusDAG:
    """The nodes and unnamed edges of a Cursus DAG, in file order."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None

    def predecessors(self, step: str) -> list[str]:
        return [src for src, dst in self.edges if dst == step]


@dataclass(frozen=True)
class CursusConfig:
    """A Cursus configuration: fields shared by every step, and each step's own fields."""

    shared: dict[str, Any]
    specific: dict[str, dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None

    def step_fields(self, step: str) -> dict[str, Any]:
        """The step's fields with the shared ones merged under them (the step's own win)."""
        return {**self.shared, **self.specific.get(step, {})}


@dataclass(frozen=True)
class ContractInput:
    name: str
    path: str | None = None
    required: bool = True


@dataclass(frozen=True)
class JobArgument:
    """A job argument: ``--job_type`` reaches the script as ``job_args.job_type``, from config ``source``."""

    name: str
    flag: str
    source: str
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class NameHints:
    """What a step interface's ``spec:`` says about one name, to help matching."""

    aliases: tuple[str, ...] = ()
    semantic_keywords: tuple[str, ...] = ()
    compatible_sources: tuple[str, ...] = ()


@dataclass
class CursusContract:
    """One script's contract, from a ``<script>.step.yaml`` interface or a Python ``ScriptContract(...)``."""

    file: Path
    entry_point: str | None = None
    inputs: dict[str, ContractInput] = field(default_factory=dict)
    outputs: dict[str, str | None] = field(default_factory=dict)
    job_arguments: dict[str, JobArgument] = field(default_factory=dict)
    required_env: tuple[str, ...] = ()
    optional_env: dict[str, str] = field(default_factory=dict)
    dependency_hints: dict[str, NameHints] = field(default_factory=dict)
    output_hints: dict[str, NameHints] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def line(self, kind: str, name: str) -> int | None:
        return self.lines.get((kind, name))


@dataclass(frozen=True)
class Binding:
    """How one input of one step gets its data, and how sure the matching is.

    ``kind`` is one of exact, alias, semantic, compatible_source, normalised, similarity (matched),
    override (from ``bindings:``), path (external data), empty (optional: an empty folder),
    omitted (optional, left out), unbound, ambiguous, low_confidence (problems).
    """

    step: str
    input: str
    kind: str
    source: str | None = None
    confidence: float | None = None
    path: Path | None = None
    required: bool = True
    candidates: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ContractFinding:
    """One disagreement between a step's script, its contract and its configuration."""

    severity: str  # "error" | "warning"
    kind: str
    step: str
    message: str
    name: str | None = None
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = (self.file or "<pipeline>") + (f":{self.line}" if self.line else "")
        text = f"{self.severity}: {where}: step '{self.step}': {self.message}"
        return text + (f" ({self.hint})" if self.hint else "")


@dataclass
class ContractValidationResult:
    """Every finding of a contract check; ``ok`` when there is no error (warnings allowed)."""

    findings: list[ContractFinding] = field(default_factory=list)

    @property
    def errors(self) -> list[ContractFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[ContractFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        lines = [str(f) for f in self.errors + self.warnings]
        lines.append(f"{len(self.errors)} error{'s' if len(self.errors) != 1 else ''}, "
                     f"{len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}")
        return "\n".join(lines)


@dataclass(frozen=True)
class NameUse:
    """A logical name a script reads: ``direct`` for ``x["N"]`` (fails when absent), not for ``.get``."""

    kind: str  # "input" | "output" | "env" | "arg"
    name: str
    line: int
    direct: bool
    via_os: bool = False  # read from os.environ, which holds more than the contract


@dataclass
class ScriptUsage:
    """What a static scan of a script found; ``opaque`` kinds are passed on whole or indexed by variables."""

    file: Path
    uses: list[NameUse] = field(default_factory=list)
    opaque: set[str] = field(default_factory=set)
    has_main: bool = False
    error: str | None = None
    error_line: int | None = None

    def names(self, kind: str) -> dict[str, NameUse]:
        """Each name of ``kind`` with its first direct use, else its first use."""
        out: dict[str, NameUse] = {}
        for use in self.uses:
            if use.kind == kind and (use.name not in out or (use.direct and not out[use.name].direct)):
                out[use.name] = use
        return out


# --------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------


def _fail(problems: list[SpecProblem], source: Path | None) -> None:
    if problems:
        raise PipelineSpecError(problems, source=str(source) if source else None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail([SpecProblem("file not found", file=str(path), hint="check the path")], path)
    except json.JSONDecodeError as exc:
        _fail([SpecProblem(f"JSON syntax error: {exc.msg}", file=str(path), line=exc.lineno, column=exc.colno)],
              path)
    except (OSError, UnicodeDecodeError) as exc:
        _fail([SpecProblem(f"cannot read the file: {exc}", file=str(path))], path)
    return None


def _read_yaml_or_json(path: Path) -> Any:
    if path.suffix.lower() == ".json":
        return _read_json(path)
    import yaml

    from pipetest_nb.spec.documents import load_yaml

    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail([SpecProblem("file not found", file=str(path), hint="check the path")], path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        _fail([SpecProblem(f"YAML syntax error: {getattr(exc, 'problem', None) or exc}", file=str(path),
                           line=mark.line + 1 if mark else None)], path)
    except (OSError, UnicodeDecodeError) as exc:
        _fail([SpecProblem(f"cannot read the file: {exc}", file=str(path))], path)
    return None


def read_cursus_dag(source: Any) -> CursusDAG:
    """Read a DAG: a serializer JSON file (``{"dag": {"nodes", "edges"}, ...}``), a bare
    ``{"nodes", "edges"}`` file or dict, or any object with ``.nodes`` and ``.edges`` (Cursus'
    ``PipelineDAG``, a networkx ``DiGraph``)."""
    file = None
    if isinstance(source, (str, os.PathLike)):
        file = Path(source).absolute()
        source = _read_json(file)
    where = str(file) if file else None
    metadata: dict[str, Any] = {}
    if isinstance(source, Mapping):
        metadata = dict(source.get("metadata") or {}) if isinstance(source.get("metadata"), Mapping) else {}
        body = source.get("dag", source)
        if not isinstance(body, Mapping) or "nodes" not in body:
            _fail([SpecProblem("a Cursus DAG needs 'nodes' and 'edges' (or 'dag': {nodes, edges})", file=where,
                               key="dag")], file)
        raw_nodes, raw_edges = body.get("nodes"), body.get("edges") or []
    elif hasattr(source, "nodes") and hasattr(source, "edges"):
        raw_nodes, raw_edges = source.nodes, source.edges
    else:
        raise PipelineSpecError([SpecProblem(f"cannot read a Cursus DAG from {type(source).__name__}", file=where,
                                             hint="give a DAG JSON file, a dict or an object with .nodes and "
                                                  ".edges")], source=where)
    problems: list[SpecProblem] = []
    nodes: list[str] = []
    for node in list(raw_nodes or []):
        if not isinstance(node, str) or not node:
            problems.append(SpecProblem(f"a DAG node must be a step name, got {node!r}", file=where, key="nodes"))
        elif node in nodes:
            problems.append(SpecProblem(f"node '{node}' appears more than once", file=where, key="nodes"))
        else:
            nodes.append(node)
    edges: list[tuple[str, str]] = []
    for edge in list(raw_edges):
        if isinstance(edge, Mapping):
            edge = (edge.get("source", edge.get("from")), edge.get("target", edge.get("to")))
        pair = tuple(edge) if isinstance(edge, (list, tuple)) else ()
        if len(pair) < 2 or not all(isinstance(p, str) for p in pair[:2]):
            problems.append(SpecProblem(f"an edge must be [source, target], got {edge!r}", file=where, key="edges"))
            continue
        for end in pair[:2]:
            if end not in nodes:
                problems.append(SpecProblem(f"edge {list(pair[:2])} names unknown node '{end}'", file=where,
                                            key="edges", hint=_suggest(end, nodes)))
        if (pair[0], pair[1]) not in edges:
            edges.append((pair[0], pair[1]))
    if not nodes:
        problems.append(SpecProblem("the DAG has no nodes", file=where, key="nodes"))
    _fail(problems, file)
    return CursusDAG(tuple(nodes), tuple(edges), metadata, file)


def read_cursus_config(source: str | os.PathLike | Mapping[str, Any]) -> CursusConfig:
    """Read a configuration: ``{"configuration": {"shared", "specific"}, "metadata"}`` or its inner part."""
    file = None
    if isinstance(source, (str, os.PathLike)):
        file = Path(source).absolute()
        source = _read_json(file)
    where = str(file) if file else None
    if not isinstance(source, Mapping):
        _fail([SpecProblem("a Cursus configuration must be a JSON object", file=where)], file)
    metadata = source.get("metadata") if isinstance(source.get("metadata"), Mapping) else {}
    body = source.get("configuration", source)
    problems: list[SpecProblem] = []
    if not isinstance(body, Mapping) or not isinstance(body.get("specific"), Mapping):
        _fail([SpecProblem("a Cursus configuration needs 'configuration': {'shared': {...}, 'specific': "
                           "{step: {...}}}", file=where, key="configuration")], file)
    shared = body.get("shared") or {}
    if not isinstance(shared, Mapping):
        problems.append(SpecProblem("'shared' must be an object of config fields", file=where, key="shared"))
        shared = {}
    specific: dict[str, dict[str, Any]] = {}
    for step, fields in body["specific"].items():
        if not isinstance(fields, Mapping):
            problems.append(SpecProblem("the fields of a step must be an object", file=where, step=str(step),
                                        key=f"specific.{step}"))
        else:
            specific[str(step)] = dict(fields)
    _fail(problems, file)
    return CursusConfig(dict(shared), specific, dict(metadata), file)


def _as_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(value)


def _env_text(value: Any) -> str | None:
    """An env var value as the script will see it; None for a missing value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return json.dumps(value)


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)


def _job_argument(flag: str, source: str | None, required: bool = True, default: Any = None) -> JobArgument:
    name = flag.lstrip("-").replace("-", "_")
    return JobArgument(name=name, flag=flag if flag.startswith("-") else f"--{flag}", source=source or name,
                       required=required, default=default)


def read_step_interface(path: str | os.PathLike) -> CursusContract:
    """Read a ``<script>.step.yaml`` interface: its ``contract:`` and ``spec:`` sections."""
    from pipetest_nb.spec.documents import line_of

    path = Path(path).absolute()
    data = _read_yaml_or_json(path)
    problems: list[SpecProblem] = []

    def problem(message: str, mapping: Any, key: str, hint: str | None = None) -> None:
        problems.append(SpecProblem(message, file=str(path), line=line_of(mapping, key), key=key, hint=hint))

    if not isinstance(data, Mapping) or not isinstance(data.get("contract"), Mapping):
        _fail([SpecProblem("a step interface needs a 'contract:' section", file=str(path), key="contract",
                           hint="contract: {entry_point, inputs, outputs, job_arguments, env_vars}")], path)
    section = data["contract"]
    contract = CursusContract(file=path)
    entry = section.get("entry_point")
    if entry is not None and not isinstance(entry, str):
        problem("'entry_point' must be a file name", section, "entry_point")
    contract.entry_point = entry if isinstance(entry, str) else None
    spec = data.get("spec") or {}
    if not isinstance(spec, Mapping):
        problem("'spec' must be a mapping with 'dependencies' and 'outputs'", data, "spec")
        spec = {}
    for key, target in (("dependencies", contract.dependency_hints), ("outputs", contract.output_hints)):
        hints = spec.get(key) or {}
        if not isinstance(hints, Mapping):
            problem(f"'spec.{key}' must map a logical name to its hints", spec, key)
            continue
        for name, raw in hints.items():
            raw = raw or {}
            try:
                target[str(name)] = NameHints(
                    aliases=_as_str_list(raw.get("aliases") or []),
                    semantic_keywords=_as_str_list(raw.get("semantic_keywords") or []),
                    compatible_sources=_as_str_list(raw.get("compatible_sources") or []))
            except (ValueError, AttributeError):
                problem(f"hints of '{name}' must be lists of names (aliases, semantic_keywords, "
                        "compatible_sources)", hints, name)
    spec_required = {name: raw.get("required") for name, raw in (spec.get("dependencies") or {}).items()
                     if isinstance(raw, Mapping) and isinstance(raw.get("required"), bool)}

    inputs = section.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        problem("'inputs' must map a logical name to {path, required}", section, "inputs")
        inputs = {}
    for name, raw in inputs.items():
        contract.lines[("input", name)] = line_of(inputs, name)
        if isinstance(raw, str) or raw is None:
            raw = {"path": raw}
        if not isinstance(raw, Mapping) or not isinstance(raw.get("required", True), bool):
            problem(f"input '{name}' must be {{path: ..., required: true|false}}", inputs, name)
            continue
        required = raw.get("required", spec_required.get(name, True))
        contract.inputs[str(name)] = ContractInput(str(name), raw.get("path"), required)
    outputs = section.get("outputs") or {}
    if not isinstance(outputs, Mapping):
        problem("'outputs' must map a logical name to {path}", section, "outputs")
        outputs = {}
    for name, raw in outputs.items():
        contract.lines[("output", name)] = line_of(outputs, name)
        contract.outputs[str(name)] = raw.get("path") if isinstance(raw, Mapping) else raw
    arguments = section.get("job_arguments") or []
    if not isinstance(arguments, list):
        problem("'job_arguments' must be a list of {flag: --name, source: config_field}", section,
                "job_arguments")
        arguments = []
    for raw in arguments:
        if isinstance(raw, str):
            raw = {"flag": raw}
        if not isinstance(raw, Mapping) or not isinstance(raw.get("flag"), str) or not raw["flag"].strip("-"):
            problem(f"a job argument must be {{flag: --name, source: config_field}}, got {raw!r}", section,
                    "job_arguments")
            continue
        arg = _job_argument(raw["flag"], raw.get("source"), bool(raw.get("required", True)), raw.get("default"))
        contract.job_arguments[arg.name] = arg
        contract.lines[("arg", arg.name)] = line_of(raw) or line_of(section, "job_arguments")
    env = section.get("env_vars") or {}
    if not isinstance(env, Mapping):
        problem("'env_vars' must be {required: [...], optional: {NAME: default}}", section, "env_vars")
        env = {}
    try:
        contract.required_env = _as_str_list(env.get("required") or [])
    except ValueError:
        problem("'env_vars.required' must be a list of names", env, "required")
    for name in contract.required_env:
        contract.lines[("env", name)] = line_of(env, "required")
    optional = env.get("optional") or {}
    if isinstance(optional, list):
        optional = {name: "" for name in optional}
    if not isinstance(optional, Mapping):
        problem("'env_vars.optional' must map a name to its default", env, "optional")
        optional = {}
    for name, default in optional.items():
        contract.optional_env[str(name)] = _env_text(default) or ""
        contract.lines[("env", name)] = line_of(optional, name)
    _fail(problems, path)
    return contract


def read_python_contracts(path: str | os.PathLike) -> list[CursusContract]:
    """Every ``...ScriptContract(...)`` call in a Python file, read with ``ast`` (nothing is imported)."""
    path = Path(path).absolute()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise PipelineSpecError([SpecProblem(f"Python syntax error: {exc.msg}", file=str(path),
                                             line=exc.lineno)], source=str(path)) from None
    contracts: list[CursusContract] = []
    problems: list[SpecProblem] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if not _CONTRACT_CALL.search(func):
            continue
        contract = CursusContract(file=path)
        values: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                continue
            try:
                values[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                if keyword.arg in ("entry_point", "expected_input_paths", "expected_output_paths",
                                   "required_env_vars", "optional_env_vars", "expected_arguments"):
                    problems.append(SpecProblem(f"'{keyword.arg}' is not a literal; it cannot be read without "
                                                "running the file", file=str(path), line=keyword.lineno,
                                                key=keyword.arg, hint="write it as a literal dict or list"))
                continue
            contract.lines[("kw", keyword.arg)] = keyword.lineno
        line = contract.lines.get
        contract.entry_point = values.get("entry_point") if isinstance(values.get("entry_point"), str) else None
        for name, container_path in dict(values.get("expected_input_paths") or {}).items():
            contract.inputs[name] = ContractInput(name, container_path, True)
            contract.lines[("input", name)] = line(("kw", "expected_input_paths"))
        for name, container_path in dict(values.get("expected_output_paths") or {}).items():
            contract.outputs[name] = container_path
            contract.lines[("output", name)] = line(("kw", "expected_output_paths"))
        contract.required_env = tuple(values.get("required_env_vars") or ())
        for name in contract.required_env:
            contract.lines[("env", name)] = line(("kw", "required_env_vars"))
        for name, default in dict(values.get("optional_env_vars") or {}).items():
            contract.optional_env[name] = _env_text(default) or ""
            contract.lines[("env", name)] = line(("kw", "optional_env_vars"))
        for flag, default in dict(values.get("expected_arguments") or {}).items():
            arg = _job_argument(flag, None, default=default if default not in (None, "") else None)
            contract.job_arguments[arg.name] = arg
            contract.lines[("arg", arg.name)] = line(("kw", "expected_arguments"))
        contracts.append(contract)
    _fail(problems, path)
    return contracts


class _ContractIndex:
    """Contracts of one folder by the script file they describe; read lazily, once."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._by_entry: dict[str, CursusContract] | None = None
        self._by_stem: dict[str, CursusContract] = {}

    def _load(self) -> dict[str, CursusContract]:
        if self._by_entry is None:
            self._by_entry = {}
            files = sorted(self.folder.glob("*.step.yaml")) + sorted(self.folder.glob("*.step.yml"))
            for file in files:
                contract = read_step_interface(file)
                stem = file.name.rsplit(".step.", 1)[0]
                self._by_stem.setdefault(stem, contract)
                if contract.entry_point:
                    self._by_entry.setdefault(contract.entry_point, contract)
            for file in sorted(self.folder.glob("*.py")):
                if "ScriptContract" not in file.read_text(encoding="utf-8", errors="replace"):
                    continue
                for contract in read_python_contracts(file):
                    if contract.entry_point:
                        self._by_entry.setdefault(contract.entry_point, contract)
                    self._by_stem.setdefault(file.stem.removesuffix("_contract"), contract)
        return self._by_entry

    def find(self, script: Path) -> CursusContract | None:
        by_entry = self._load()
        return by_entry.get(script.name) or self._by_stem.get(script.stem)


@dataclass
class CursusOverrides:
    """What the user adds: external inputs, env and args per step, explicit ``bindings:``."""

    steps: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bindings: dict[str, str | None] = field(default_factory=dict)
    name: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None

    def for_step(self, step: str, key: str) -> dict[str, Any]:
        return self.steps.get(step, {}).get(key, {})


def read_overrides(source: str | os.PathLike | Mapping[str, Any] | None,
                   inputs: Mapping[str, str | os.PathLike] | None = None) -> CursusOverrides:
    """Read an override file (YAML or JSON) or dict; ``inputs`` adds ``{"STEP.NAME": path}`` pairs.

    Input paths in a file are relative to the file; in a dict and in ``inputs``, to the current folder.
    """
    from pipetest_nb.spec.documents import line_of

    file = None
    if isinstance(source, (str, os.PathLike)):
        file = Path(source).absolute()
        source = _read_yaml_or_json(file)
    base = file.parent if file else Path.cwd()
    where = str(file) if file else None
    source = source or {}
    problems: list[SpecProblem] = []
    if not isinstance(source, Mapping):
        _fail([SpecProblem("an override file must be a mapping with 'steps' and/or 'bindings'", file=where)], file)
    for key in source:
        if key not in _OVERRIDE_KEYS:
            problems.append(SpecProblem(f"unknown key '{key}' in the overrides", file=where,
                                        line=line_of(source, key), key=str(key),
                                        hint=_suggest(key, _OVERRIDE_KEYS) or f"allowed: {', '.join(_OVERRIDE_KEYS)}"))
    out = CursusOverrides(name=source.get("name"), defaults=dict(source.get("defaults") or {}), file=file)
    for step, raw in (source.get("steps") or {}).items():
        if not isinstance(raw, Mapping):
            problems.append(SpecProblem("a step override must be {inputs, env, args}", file=where, step=step,
                                        line=line_of(source.get("steps"), step)))
            continue
        entry: dict[str, dict[str, Any]] = {}
        for key, value in raw.items():
            if key not in _OVERRIDE_STEP_KEYS or not isinstance(value, Mapping):
                problems.append(SpecProblem(f"'{key}' of a step override must be one of "
                                            f"{', '.join(_OVERRIDE_STEP_KEYS)}, each a mapping", file=where,
                                            step=step, key=str(key), line=line_of(raw, key),
                                            hint=_suggest(key, _OVERRIDE_STEP_KEYS)))
                continue
            entry[key] = dict(value)
        entry["inputs"] = {name: _abs(base, path) for name, path in entry.get("inputs", {}).items()}
        out.steps[str(step)] = entry
    for key, value in (inputs or {}).items():
        step, sep, name = str(key).partition(".")
        if not sep or not step or not name:
            problems.append(SpecProblem(f"an input is STEP.NAME=PATH, got '{key}'", key="inputs"))
            continue
        out.steps.setdefault(step, {}).setdefault("inputs", {})[name] = _abs(Path.cwd(), value)
    bindings = source.get("bindings") or {}
    if not isinstance(bindings, Mapping):
        problems.append(SpecProblem("'bindings' must map consumer.input to producer.output (or null)",
                                    file=where, key="bindings", line=line_of(source, "bindings")))
        bindings = {}
    for target, src in bindings.items():
        if not (isinstance(target, str) and "." in target and (src is None or (isinstance(src, str) and "." in src))):
            problems.append(SpecProblem(f"a binding is 'consumer.input: producer.output' (or null to leave the "
                                        f"input unbound), got {target!r}: {src!r}", file=where, key="bindings",
                                        line=line_of(bindings, target)))
            continue
        out.bindings[target] = src
    _fail(problems, file)
    return out


def _abs(base: Path, value: Any) -> Path:
    return Path(os.path.normpath(base / os.path.expanduser(str(value))))


def _suggest(word: Any, choices: Any) -> str | None:
    close = get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


# --------------------------------------------------------------------------------------------------
# The static scan of a script
# --------------------------------------------------------------------------------------------------

_KINDS = ("input", "output", "env", "arg")
_CONTAINER_DEFAULTS = {"input": "input_paths", "output": "output_paths", "env": "environ_vars", "arg": "job_args"}
_GETTERS = ("get", "pop", "setdefault")


class _Scanner(ast.NodeVisitor):
    """Collects the names a script reads from its four ``main`` parameters and from ``os.environ``."""

    def __init__(self, tree: ast.Module, usage: ScriptUsage):
        self.usage = usage
        self.containers = {kind: {name} for kind, name in _CONTAINER_DEFAULTS.items()}
        self.os_names, self.environ_names, self.getenv_names = {"os"}, set(), set()
        self.depth = 0
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
                usage.has_main = True
                params = [a.arg for a in node.args.posonlyargs + node.args.args]
                for kind, param in zip(_KINDS, params, strict=False):
                    self.containers[kind].add(param)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                self.environ_names |= {a.asname or a.name for a in node.names if a.name == "environ"}
                self.getenv_names |= {a.asname or a.name for a in node.names if a.name == "getenv"}

    def _kind(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in self.environ_names:
                return "os_env"
            return next((k for k, names in self.containers.items() if node.id in names), None)
        if (isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)
                and node.value.id in self.os_names):
            return "os_env"
        return None

    def _use(self, kind: str, key: ast.AST, line: int, direct: bool) -> None:
        if self.depth == 0:
            return
        via_os = kind == "os_env"
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            self.usage.uses.append(NameUse("env" if via_os else kind, key.value, line, direct, via_os))
        elif not via_os:
            self.usage.opaque.add(kind)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_Subscript(self, node: ast.Subscript) -> None:
        kind = self._kind(node.value)
        if kind in ("input", "output", "env", "os_env"):
            self._use(kind, node.slice, node.lineno, direct=True)
            self.visit(node.slice)
        else:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        kind = self._kind(func.value) if isinstance(func, ast.Attribute) else None
        is_getenv = ((isinstance(func, ast.Attribute) and func.attr == "getenv" and isinstance(func.value, ast.Name)
                      and func.value.id in self.os_names)
                     or (isinstance(func, ast.Name) and func.id in self.getenv_names))
        if kind in ("input", "output", "env", "os_env") and func.attr in _GETTERS and node.args:
            self._use(kind, node.args[0], node.lineno, direct=False)
        elif is_getenv and node.args:
            self._use("os_env", node.args[0], node.lineno, direct=False)
        elif (isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and len(node.args) >= 2
              and self._kind(node.args[0]) == "arg"):
            self._use("arg", node.args[1], node.lineno, direct=func.id == "getattr" and len(node.args) == 2)
        else:
            self.generic_visit(node)
            return
        for arg in node.args[1:]:
            self.visit(arg)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            kind = self._kind(right)
            if isinstance(op, (ast.In, ast.NotIn)) and kind in ("input", "output", "env", "os_env"):
                self._use(kind, left, node.lineno, direct=False)
                self.visit(left)
                return
        for operand in operands:
            if not (self._kind(operand) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)):
                self.visit(operand)

    def visit_If(self, node: ast.If) -> None:
        test = node.test.operand if isinstance(node.test, ast.UnaryOp) else node.test
        if not self._kind(test):
            self.visit(node.test)
        for child in node.body + node.orelse:
            self.visit(child)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        kind = self._kind(node.value)
        if kind == "arg" and not node.attr.startswith("__"):
            self._use("arg", ast.Constant(node.attr), node.lineno, direct=True)
        elif kind in ("input", "output", "env") and self.depth:
            self.usage.opaque.add(kind)  # .items(), .keys(), .copy(): every name may be read
        elif kind != "os_env":
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        kind = self._kind(node)
        if kind and kind != "os_env" and self.depth and isinstance(node.ctx, ast.Load):
            self.usage.opaque.add(kind)  # passed on whole: the names it reads are not visible here


def scan_script(path: str | os.PathLike) -> ScriptUsage:
    """The logical names a script reads, found with ``ast`` without importing the script.

    Only code inside functions counts: a ``__main__`` block fills the containers, it does not read them.
    """
    path = Path(path)
    usage = ScriptUsage(file=path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        usage.error, usage.error_line = f"Python syntax error: {exc.msg}", exc.lineno
        return usage
    except (OSError, UnicodeDecodeError) as exc:
        usage.error = f"cannot read the script: {exc}"
        return usage
    _Scanner(tree, usage).visit(tree)
    return usage


# --------------------------------------------------------------------------------------------------
# Matching names
# --------------------------------------------------------------------------------------------------


def _tokens(name: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return {t for t in re.split(r"[_\-\s]+", spaced.lower()) if t}


def normalise_name(name: str) -> str:
    """``processed_data_input`` -> ``processed``: lower case, common suffixes and separators dropped."""
    text = name.lower().replace("-", "_")
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
    return text.replace("_", "")


def match_score(input_name: str, output_name: str, dependency: NameHints | None = None,
                output: NameHints | None = None, producer_compatible: bool = False,
                producer_outputs: int = 1) -> tuple[str, float] | None:
    """How well a consumer input matches a producer output: ``(kind, confidence)``, best kind first."""
    dependency, output = dependency or NameHints(), output or NameHints()
    if input_name == output_name:
        return "exact", MATCH_CONFIDENCE["exact"]
    if input_name.lower() in {a.lower() for a in output.aliases}:
        return "alias", MATCH_CONFIDENCE["alias"]
    keywords = {k.lower() for k in dependency.semantic_keywords}
    shared = keywords & (_tokens(output_name) | {k.lower() for k in output.semantic_keywords})
    if shared:
        return "semantic", round(MATCH_CONFIDENCE["semantic"] + 0.05 * min(len(shared) - 1, 1), 3)
    if producer_compatible and producer_outputs == 1:
        return "compatible_source", MATCH_CONFIDENCE["compatible_source"]
    left, right = normalise_name(input_name), normalise_name(output_name)
    if left == right:
        return "normalised", MATCH_CONFIDENCE["normalised"]
    ratio = SequenceMatcher(None, left, right).ratio()
    if ratio >= SIMILARITY_FLOOR:
        return "similarity", round(SIMILARITY_WEIGHT * ratio, 3)
    return None


# --------------------------------------------------------------------------------------------------
# The integration layer
# --------------------------------------------------------------------------------------------------


class CursusIntegrationLayer:
    """A Cursus pipeline (DAG, configuration, contracts) seen as a pipetest pipeline.

    Paths in the configuration are relative to its file (or ``source_root``); contracts are looked
    up in ``contracts_dir``, else beside each script.
    """

    def __init__(self, dag: Any, config: str | os.PathLike | Mapping[str, Any],
                 contracts_dir: str | os.PathLike | None = None,
                 overrides: str | os.PathLike | Mapping[str, Any] | None = None,
                 inputs: Mapping[str, str | os.PathLike] | None = None,
                 source_root: str | os.PathLike | None = None, *,
                 env_aliases: Mapping[str, tuple[str, ...]] | None = None,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE):
        self.dag = read_cursus_dag(dag)
        self.config = read_cursus_config(config)
        self.overrides = read_overrides(overrides, inputs)
        base = self.config.file.parent if self.config.file else Path.cwd()
        self.source_root = Path(source_root).absolute() if source_root is not None else base
        self.contracts_dir = Path(contracts_dir).absolute() if contracts_dir is not None else None
        self.env_aliases = {**ENV_ALIASES, **(env_aliases or {})}
        self.min_confidence = min_confidence
        self._indexes: dict[Path, _ContractIndex] = {}
        self._scans: dict[Path, ScriptUsage] = {}
        self._check_names()

    # -- what the files say ------------------------------------------------------------------------

    @property
    def steps(self) -> list[str]:
        return list(self.dag.nodes)

    def _check_names(self) -> None:
        where = str(self.config.file) if self.config.file else None
        problems = [SpecProblem(f"DAG node '{node}' has no entry in configuration.specific", file=where,
                                step=node, hint=_suggest(node, self.config.specific)
                                or "add its fields under configuration.specific")
                    for node in self.dag.nodes if node not in self.config.specific]
        over = str(self.overrides.file) if self.overrides.file else None
        for step in self.overrides.steps:
            if step not in self.dag.nodes:
                problems.append(SpecProblem(f"overrides name unknown step '{step}'", file=over, step=step,
                                            hint=_suggest(step, self.dag.nodes)))
        for target, source in self.overrides.bindings.items():
            for end in (target, source):
                if end and end.split(".", 1)[0] not in self.dag.nodes:
                    problems.append(SpecProblem(f"binding '{target}: {source}' names unknown step "
                                                f"'{end.split('.', 1)[0]}'", file=over, key="bindings",
                                                hint=_suggest(end.split(".", 1)[0], self.dag.nodes)))
        _fail(problems, self.config.file)

    def step_fields(self, step: str) -> dict[str, Any]:
        """The step's configuration fields, shared ones merged under its own."""
        return self.config.step_fields(step)

    def step_types(self, step: str) -> set[str]:
        """Names a ``compatible_sources`` list may use for this step: its config class without
        ``Config``, and the node name before its job-type suffix (``TabularPreprocessing_training``)."""
        types = {step, step.split("_", 1)[0]}
        config_type = (self.config.metadata.get("config_types") or {}).get(step)
        if isinstance(config_type, str):
            types |= {config_type, config_type.removesuffix("Config")}
        return {t.lower() for t in types}

    def get_script_path(self, step_config: StepConfig | Mapping[str, Any], step: str | None = None) -> Path:
        """The script of a step: ``script_path``, else ``processing_source_dir``/``source_dir`` +
        ``processing_entry_point``/``entry_point``. Relative paths start at ``source_root``."""
        if isinstance(step_config, StepConfig):
            return step_config.script
        fields = step_config
        where = str(self.config.file) if self.config.file else None
        if fields.get("script_path"):
            return _abs(self.source_root, fields["script_path"])
        entry, folder = None, None
        if fields.get("processing_entry_point"):
            entry = fields["processing_entry_point"]
            folder = fields.get("processing_source_dir") or fields.get("source_dir")
        elif fields.get("entry_point"):
            entry = fields["entry_point"]
            folder = fields.get("source_dir") or fields.get("processing_source_dir")
        if entry and folder:
            return _abs(_abs(self.source_root, folder), entry)
        message = (f"entry point '{entry}' has no source folder" if entry
                   else "cannot tell which script this step runs")
        raise PipelineSpecError([SpecProblem(
            message, file=where, step=step, key="script_path",
            hint="set 'script_path', or 'processing_source_dir' + 'processing_entry_point', or 'source_dir' + "
                 "'entry_point' in its configuration (or in 'shared')")], source=where)

    def script_for(self, step: str) -> Path:
        return self.get_script_path(self.step_fields(step), step=step)

    def contract_for(self, step: str) -> CursusContract:
        """The contract of the step's script: by ``entry_point`` or by file name (``<script>.step.yaml``,
        ``<script>_contract.py``), in ``contracts_dir`` or beside the script."""
        script = self.script_for(step)
        folder = self.contracts_dir or script.parent
        if folder not in self._indexes:
            self._indexes[folder] = _ContractIndex(folder)
        contract = self._indexes[folder].find(script)
        if contract is None:
            raise PipelineSpecError([SpecProblem(
                f"no contract for script '{script.name}' in {folder}", step=step, file=str(script),
                hint=f"write {folder / (script.stem + '.step.yaml')} with a 'contract:' section, or pass the "
                     "folder of the contracts (--contracts DIR)")])
        return contract

    def scan(self, script: Path) -> ScriptUsage:
        if script not in self._scans:
            self._scans[script] = scan_script(script)
        return self._scans[script]

    # -- bindings ----------------------------------------------------------------------------------

    def match(self) -> list[Binding]:
        """How every input of every step gets its data, with the problems found (never raises for them)."""
        out: list[Binding] = []
        for step in self.dag.nodes:
            out += self.bindings_for(step)
        return out

    def bindings_for(self, step: str, overrides: CursusOverrides | None = None) -> list[Binding]:
        overrides = overrides or self.overrides
        contract = self.contract_for(step)
        producers = [(p, self.contract_for(p)) for p in self.dag.predecessors(step)]
        paths = overrides.for_step(step, "inputs")
        out = []
        for name, spec in contract.inputs.items():
            target = f"{step}.{name}"
            if name in paths:
                out.append(Binding(step, name, "path", path=paths[name], required=spec.required))
            elif target in overrides.bindings:
                source = overrides.bindings[target]
                out.append(self._unbound(step, name, spec) if source is None else
                           Binding(step, name, "override", source=source, confidence=1.0, required=spec.required))
            else:
                out.append(self._match_input(step, name, spec, contract, producers))
        return out

    def _match_input(self, step: str, name: str, spec: ContractInput, contract: CursusContract,
                     producers: list[tuple[str, CursusContract]]) -> Binding:
        candidates: list[tuple[float, str, str]] = []
        dependency = contract.dependency_hints.get(name)
        sources = {s.lower() for s in dependency.compatible_sources} if dependency else set()
        for producer, produced in producers:
            compatible = bool(sources & self.step_types(producer))
            for output in produced.outputs:
                scored = match_score(name, output, dependency, produced.output_hints.get(output), compatible,
                                     len(produced.outputs))
                if scored:
                    candidates.append((scored[1], scored[0], f"{producer}.{output}"))
        if not candidates:
            return self._unbound(step, name, spec)
        candidates.sort(key=lambda c: -c[0])
        best, kind, source = candidates[0]
        hint = f"bindings: {{{step}.{name}: PRODUCER.OUTPUT}}"
        tied = tuple(c[2] for c in candidates if abs(c[0] - best) < 1e-9)
        if len(tied) > 1:
            return Binding(step, name, "ambiguous", confidence=best, required=spec.required, candidates=tied,
                           problem=f"input '{name}' matches {len(tied)} outputs equally well ({kind}, "
                                   f"{best:.2f}): {', '.join(tied)}; choose one with {hint}")
        if best < self.min_confidence:
            return Binding(step, name, "low_confidence", source=source, confidence=best, required=spec.required,
                           candidates=(source,),
                           problem=f"input '{name}' only resembles '{source}' (similarity {best:.2f} < "
                                   f"{self.min_confidence:.2f}); confirm it with "
                                   f"bindings: {{{step}.{name}: {source}}}, or null to leave it unbound")
        return Binding(step, name, kind, source=source, confidence=best, required=spec.required,
                       candidates=tuple(c[2] for c in candidates[1:]))

    def _unbound(self, step: str, name: str, spec: ContractInput) -> Binding:
        if spec.required:
            return Binding(step, name, "unbound", required=True)
        indexed = self._indexes_directly(step, name)
        return Binding(step, name, "empty" if indexed else "omitted", required=False)

    def _indexes_directly(self, step: str, name: str) -> bool:
        """Whether the script reads ``input_paths["name"]`` (it would fail if the key were left out)."""
        usage = self.scan(self.script_for(step))
        use = usage.names("input").get(name)
        return usage.error is not None or "input" in usage.opaque or (use is not None and use.direct)

    def _binding_problems(self, bindings: list[Binding]) -> list[SpecProblem]:
        problems = []
        for b in bindings:
            if b.problem:
                problems.append(SpecProblem(b.problem, file=str(self.contract_for(b.step).file), step=b.step,
                                            key=f"inputs.{b.input}"))
        return problems

    # -- building the pipeline ---------------------------------------------------------------------

    def _env(self, step: str, contract: CursusContract, overrides: CursusOverrides) -> dict[str, str]:
        """Override, else a config field of the same name (any case), else an alias field, else the default."""
        fields = {k.lower(): v for k, v in self.step_fields(step).items()}
        env: dict[str, str] = {}
        for name in [*contract.required_env, *contract.optional_env]:
            value = _env_text(fields.get(name.lower()))
            for alias in self.env_aliases.get(name, ()):
                if value is None:
                    value = _env_text(fields.get(alias.lower()))
            if value is None:
                value = contract.optional_env.get(name)
            if value is not None:
                env[name] = value
        for name, value in overrides.for_step(step, "env").items():
            env[str(name)] = _env_text(value) or ""
        return env

    def _args(self, step: str, contract: CursusContract, overrides: CursusOverrides) -> dict[str, Any]:
        fields = {k.lower(): v for k, v in self.step_fields(step).items()}
        args: dict[str, Any] = {}
        for name, arg in contract.job_arguments.items():
            value = fields.get(arg.source.lower(), arg.default)
            scalar = isinstance(value, (str, int, float, bool))
            if value is not None:
                args[name] = value if scalar or _is_scalar_list(value) else json.dumps(value)
        args.update(overrides.for_step(step, "args"))
        return args

    def _step_dict(self, step: str, overrides: CursusOverrides, strict: bool) -> dict[str, Any]:
        contract = self.contract_for(step)
        bindings = self.bindings_for(step, overrides)
        problems = self._binding_problems(bindings) if strict else []
        inputs: dict[str, Any] = {}
        for b in bindings:
            if b.source and b.ok:
                inputs[b.input] = {"from": b.source}
            elif b.path is not None:
                inputs[b.input] = {"path": str(b.path)}
            elif b.kind == "empty":
                inputs[b.input] = {"optional": True}
            elif b.kind == "unbound" and strict:
                problems.append(self._unbound_problem(step, b.input, contract))
        given = [(n, "a path") for n in overrides.for_step(step, "inputs")]
        given += [(t.split(".", 1)[1], "a binding") for t in overrides.bindings if t.split(".", 1)[0] == step]
        for name, what in given:
            if name not in contract.inputs:
                problems.append(SpecProblem(
                    f"overrides give {what} for input '{name}', which the contract of step '{step}' does not "
                    "declare", step=step, key=f"inputs.{name}", file=str(overrides.file) if overrides.file else None,
                    hint=_suggest(name, contract.inputs) or f"its inputs are: {', '.join(contract.inputs) or 'none'}"))
        _fail(problems, None)
        bound = {b.source.split(".", 1)[0] for b in bindings if b.source and b.ok}
        raw: dict[str, Any] = {"script": str(self.script_for(step)), "mode": "main", "inputs": inputs,
                               "outputs": {name: {} for name in contract.outputs},
                               "env": self._env(step, contract, overrides),
                               "args": self._args(step, contract, overrides)}
        depends = [p for p in self.dag.predecessors(step) if p not in bound]
        if depends:
            raw["depends_on"] = depends
        config_type = (self.config.metadata.get("config_types") or {}).get(step)
        if isinstance(config_type, str):
            raw["description"] = f"Cursus step ({config_type})"
        return raw

    def _unbound_problem(self, step: str, name: str, contract: CursusContract) -> SpecProblem:
        return SpecProblem(
            f"required input '{name}' is not bound: no upstream step has a matching output and no path was given",
            file=str(contract.file), line=contract.line("input", name), step=step, key=f"inputs.{name}",
            hint=f"give it a path with --input {step}.{name}=PATH or steps.{step}.inputs.{name} in the "
                 f"overrides file, or bind it with bindings: {{{step}.{name}: PRODUCER.OUTPUT}}")

    def _merged_overrides(self, pipeline_config: Mapping[str, Any] | None) -> CursusOverrides:
        if not pipeline_config:
            return self.overrides
        extra = read_overrides(pipeline_config)
        steps = {s: {k: dict(v) for k, v in entry.items()} for s, entry in self.overrides.steps.items()}
        for step, entry in extra.steps.items():
            for key, values in entry.items():
                steps.setdefault(step, {}).setdefault(key, {}).update(values)
        return CursusOverrides(steps=steps, bindings={**self.overrides.bindings, **extra.bindings},
                               name=extra.name or self.overrides.name,
                               defaults={**self.overrides.defaults, **extra.defaults}, file=self.overrides.file)

    def to_pipeline_dict(self) -> dict[str, Any]:
        """The pipeline as a pipetest file-shaped dict; raises one ``PipelineSpecError`` with every
        binding problem and unbound required input."""
        steps: dict[str, Any] = {}
        problems: list[SpecProblem] = []
        for step in self.dag.nodes:
            try:
                steps[step] = self._step_dict(step, self.overrides, strict=True)
            except PipelineSpecError as exc:
                problems += exc.problems
        _fail(problems, self.dag.file)
        out: dict[str, Any] = {"name": self.pipeline_name, "steps": steps}
        if self.overrides.defaults:
            out["defaults"] = dict(self.overrides.defaults)
        return out

    @property
    def pipeline_name(self) -> str:
        for name in (self.overrides.name, self.dag.metadata.get("name"), self.config.shared.get("pipeline_name"),
                     self.dag.file.stem if self.dag.file else None):
            if isinstance(name, str) and name.strip():
                return name
        return "cursus-pipeline"

    def to_pipeline(self) -> PipelineDAG:
        """A ``PipelineDAG`` whose steps run in ``main`` mode; paths are absolute."""
        return PipelineDAG.from_dict(self.to_pipeline_dict(), base_dir=self.source_root)

    def resolve_step_configuration(self, step_name: str,
                                   pipeline_config: Mapping[str, Any] | None = None) -> StepConfig:
        """One step as a ``StepConfig``: its Cursus configuration (shared under specific) and contract,
        with ``pipeline_config`` (shaped like the overrides file) applied over the layer's overrides.

        Ambiguous bindings raise; a required input that nothing binds is left out, for
        ``validate_step_contract`` to report.
        """
        return self._resolve(step_name, self._merged_overrides(pipeline_config), strict_bindings=True)

    def _resolve(self, step: str, overrides: CursusOverrides, strict_bindings: bool) -> StepConfig:
        if step not in self.dag.nodes:
            from pipetest_nb.exceptions import UnknownStepError

            raise UnknownStepError(step, list(self.dag.nodes))
        raw = self._step_dict(step, overrides, strict=False)
        if strict_bindings:
            _fail(self._binding_problems(self.bindings_for(step, overrides)), None)
        steps = {step: raw}
        for producer in self.dag.predecessors(step):
            steps[producer] = {"script": str(self.script_for(producer)), "mode": "main",
                               "outputs": {name: {} for name in self.contract_for(producer).outputs}}
        return PipelineDAG.from_dict({"name": self.pipeline_name, "steps": steps},
                                     base_dir=self.source_root).steps[step]

    # -- contract checks ---------------------------------------------------------------------------

    def validate_step_contract(self, step_name: str, config: StepConfig | None = None) -> ContractValidationResult:
        """Check a step's configuration and script against its contract: required env vars, job
        arguments and inputs are provided; the names the script reads are declared and used."""
        contract = self.contract_for(step_name)
        if config is None:
            config = self._resolve(step_name, self.overrides, strict_bindings=False)
        findings: list[ContractFinding] = []
        file = str(contract.file)

        def add(severity: str, kind: str, message: str, name: str, where: str = file, line: int | None = None,
                hint: str | None = None) -> None:
            findings.append(ContractFinding(severity, kind, step_name, message, name, where, line, hint))

        for name in contract.required_env:
            if name not in config.env:
                aliases = self.env_aliases.get(name, ())
                fields = f"'{name.lower()}'" + (f" (or {', '.join(aliases)})" if aliases else "")
                add("error", "missing_env_var", f"required env var {name} has no value", name,
                    line=contract.line("env", name),
                    hint=f"set the config field {fields} in its configuration, or env: {{{name}: ...}} in the "
                         "overrides file")
        for name, arg in contract.job_arguments.items():
            if arg.required and name not in config.args:
                add("error", "missing_job_argument", f"required job argument {arg.flag} has no value", name,
                    line=contract.line("arg", name),
                    hint=f"set the config field '{arg.source}', or args: {{{name}: ...}} in the overrides file")
        for name, spec in contract.inputs.items():
            given = config.inputs.get(name)
            if spec.required and (given is None or (given.source is None and given.path is None)):
                problem = self._unbound_problem(step_name, name, contract)
                add("error", "unbound_input", problem.message, name, line=problem.line, hint=problem.hint)

        script = config.script
        usage = self.scan(script)
        if usage.error:
            add("error", "script_unreadable", usage.error, script.name, str(script), usage.error_line)
            return ContractValidationResult(findings)
        if not usage.has_main:
            add("error", "no_main", "the script defines no main(input_paths, output_paths, environ_vars, "
                "job_args)", "main", str(script), hint="Cursus scripts run through main() in 'main' mode")
        declared = {"input": set(contract.inputs), "output": set(contract.outputs),
                    "env": {*contract.required_env, *contract.optional_env, *config.env},
                    "arg": {*contract.job_arguments, *config.args}}
        words = {"input": "input", "output": "output", "env": "env var", "arg": "job argument"}
        for kind in _KINDS:
            used = usage.names(kind)
            for name, use in used.items():
                if name not in declared[kind]:
                    fails = use.direct and not use.via_os
                    add("error" if fails else "warning", f"undeclared_{kind}",
                        f"the script reads {words[kind]} '{name}', which the contract does not declare"
                        + (" (it fails when the name is missing)" if fails else ""), name, str(script), use.line,
                        hint=_suggest(name, declared[kind]) or f"declare it in {contract.file.name}")
            if kind in usage.opaque:
                continue
            contract_names = {"input": contract.inputs, "output": contract.outputs,
                              "env": [*contract.required_env, *contract.optional_env],
                              "arg": contract.job_arguments}[kind]
            for name in contract_names:
                if name not in used:
                    add("warning", f"unused_{kind}", f"the contract declares {words[kind]} '{name}', which the "
                        f"script never uses", name, line=contract.line(kind, name),
                        hint=f"remove it from {contract.file.name} or check the name in {script.name}")
        return ContractValidationResult(findings)

    def check(self) -> ContractValidationResult:
        """Every finding for every step: spec problems, binding problems, contract violations."""
        findings: list[ContractFinding] = []
        for step in self.dag.nodes:
            try:
                bindings = self.bindings_for(step)
                unsure = {b.input: b for b in bindings if b.problem}
                contract = self.contract_for(step)
                findings += [ContractFinding("error", f"{b.kind}_binding", step, b.problem, b.input,
                                             str(contract.file), contract.line("input", b.input))
                             for b in unsure.values()]
                findings += [f for f in self.validate_step_contract(step).findings
                             if not (f.kind == "unbound_input" and f.name in unsure)]
                bound = {b.source.split(".", 1)[0] for b in bindings if b.source and b.ok}
                for producer in self.dag.predecessors(step):
                    if producer not in bound:
                        findings.append(ContractFinding(
                            "warning", "edge_without_data", step, f"the DAG edge {producer} -> {step} carries no "
                            "data: no input matches an output of the producer", producer,
                            str(self.dag.file) if self.dag.file else None,
                            hint="it is kept as an ordering (depends_on); add a binding if data should flow"))
            except PipelineSpecError as exc:
                findings += [ContractFinding("error", "spec", p.step or step, p.message, p.key, p.file, p.line,
                                             p.hint) for p in exc.problems]
        return ContractValidationResult(list(dict.fromkeys(findings)))  # a broken producer is reported once


def load_cursus_pipeline(dag: Any, config: str | os.PathLike | Mapping[str, Any],
                         contracts_dir: str | os.PathLike | None = None,
                         overrides: str | os.PathLike | Mapping[str, Any] | None = None,
                         inputs: Mapping[str, str | os.PathLike] | None = None,
                         source_root: str | os.PathLike | None = None, *,
                         env_aliases: Mapping[str, tuple[str, ...]] | None = None,
                         min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> PipelineDAG:
    """Read a Cursus pipeline and return it as a ``PipelineDAG`` (steps in ``main`` mode)."""
    return CursusIntegrationLayer(dag, config, contracts_dir, overrides, inputs, source_root,
                                  env_aliases=env_aliases, min_confidence=min_confidence).to_pipeline()
