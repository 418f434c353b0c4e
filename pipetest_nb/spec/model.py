"""The pipeline spec: ``PipelineDAG`` and ``StepConfig``, read from YAML, JSON, dicts or networkx.

Loading checks the whole file and reports every mistake at once in one ``PipelineSpecError``
(file, line, step, key, and a "did you mean" where a close name exists). Paths in a file are
relative to the file; in memory they are absolute.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.spec.policy import ERROR_TYPES, STRATEGY_NAMES

if TYPE_CHECKING:
    import networkx as nx

MODES = ("main", "cli")
ISOLATIONS = ("subprocess", "inprocess", "pool")
TABULAR_FORMATS = ("parquet", "csv", "tsv", "json", "jsonl", "csv.gz")
FORMATS = (*TABULAR_FORMATS, "binary")
EXPECTATION_FAILURE_ACTIONS = ("fail", "warn")

PIPELINE_KEYS = ("name", "description", "defaults", "steps", "edges", "preload")
DEFAULTS_KEYS = ("timeout", "isolation", "on_error", "retries", "memory", "mode", "env")
STEP_KEYS = (
    "script", "script_path", "source_dir", "entry_point", "mode", "inputs", "outputs", "env", "args",
    "depends_on", "timeout", "isolation", "on_error", "retries", "memory", "defaults", "description",
)
INPUT_KEYS = ("from", "path", "format", "schema", "required_files", "optional")
OUTPUT_KEYS = ("format", "schema", "tables", "non_tabular", "description")
SCHEMA_KEYS = ("required_columns", "column_types", "rows")
EDGE_KEYS = ("from", "to", "expectations", "tables", "on_expectation_failure")
STEP_DEFAULTS_KEYS = ("env", "args")

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
MAX_TIMEOUT = 7 * 24 * 3600  # seconds; far beyond any step, well inside every timer and poll limit
MAX_RETRIES = 100
MEMORY_RANGE = (10**6, 2**50)  # bytes: below 1 MB no interpreter starts (``memory: 2`` means 2 bytes)
MAX_NAME_BYTES = 255  # a folder name, on every common file system
MAX_FILE_BYTES = 2**20  # a pipeline file; the pure-Python YAML reader needs seconds per MiB
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(10))})
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "ki": 2**10, "m": 1e6, "mb": 1e6,
                 "mib": 2**20, "mi": 2**20, "g": 1e9, "gb": 1e9, "gib": 2**30, "gi": 2**30,
                 "t": 1e12, "tb": 1e12, "tib": 2**40, "ti": 2**40}


# --------------------------------------------------------------------------------------------------
# The spec objects
# --------------------------------------------------------------------------------------------------


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


@dataclass
class PipelineDAG:
    """A pipeline: named steps whose bound inputs and ``depends_on`` lists form a DAG."""

    name: str
    steps: dict[str, StepConfig]
    edges: list[EdgeSpec] = field(default_factory=list)
    defaults: PipelineDefaults = field(default_factory=PipelineDefaults)
    preload: tuple[str, ...] = ()
    description: str | None = None
    base_dir: Path = field(default_factory=Path.cwd, compare=False)
    source: Path | None = field(default=None, compare=False)

    # -- loaders -----------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> PipelineDAG:
        """Load a pipeline file, choosing the reader by its extension (.yaml/.yml or .json)."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            return cls.from_json(path)
        return cls.from_yaml(path)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> PipelineDAG:
        """Read a YAML pipeline file with a safe loader."""
        import yaml

        from pipetest_nb.spec.documents import DocumentLimitError, load_yaml

        path = Path(path)
        text = _read_text(path)
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            limit = isinstance(exc, DocumentLimitError)
            raise PipelineSpecError([SpecProblem(
                problem if limit else f"YAML syntax error: {problem}", file=str(path),
                line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
                key=exc.key if limit else None,
                hint=None if limit else "fix the YAML syntax at that position")], source=str(path)) from None
        except RecursionError:
            raise PipelineSpecError([SpecProblem("YAML nested too deeply", file=str(path))],
                                    source=str(path)) from None
        return _Parser(path.parent.absolute(), path).parse(data)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> PipelineDAG:
        """Read a JSON pipeline file."""
        path = Path(path)
        text = _read_text(path)
        duplicates: list[str] = []

        def no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
            out: dict = {}
            for key, value in pairs:
                if key in out:
                    duplicates.append(key)
                out[key] = value
            return out

        try:
            data = json.loads(text, object_pairs_hook=no_duplicates)
        except json.JSONDecodeError as exc:
            raise PipelineSpecError([SpecProblem(f"JSON syntax error: {exc.msg}", file=str(path),
                                                 line=exc.lineno, column=exc.colno)],
                                    source=str(path)) from None
        except (RecursionError, ValueError) as exc:  # nesting past the parser's stack; a 5000-digit number
            why = "values are nested too deeply" if isinstance(exc, RecursionError) else f"cannot read a value: {exc}"
            raise PipelineSpecError([SpecProblem(why, file=str(path))], source=str(path)) from None
        parser = _Parser(path.parent.absolute(), path)
        for key in duplicates:
            parser.problem(f"key '{key}' appears more than once", key=key, hint="keep one of them")
        return parser.parse(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: str | os.PathLike | None = None, *,
                  check_files: bool = True) -> PipelineDAG:
        """Build a pipeline from a dict shaped like the pipeline file; paths are relative to ``base_dir``.

        ``check_files=False`` accepts scripts that no longer exist: a recorded run must always reopen.
        """
        base = Path(base_dir).absolute() if base_dir is not None else Path.cwd()
        parser = _Parser(base, None, check_files=check_files)
        parser.check_shape(data)  # before deepcopy, which would recurse through any depth
        return parser.parse(copy.deepcopy(data))

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph, base_dir: str | os.PathLike | None = None) -> PipelineDAG:
        """Build a pipeline from a DiGraph whose nodes carry a ``config`` StepConfig or step-file keys.

        Graph edges that no input binding explains become ``depends_on`` entries.
        """
        steps: dict[str, Any] = {}
        base = Path(base_dir or graph.graph.get("base_dir") or Path.cwd()).absolute()
        for node, attrs in graph.nodes(data=True):
            config = attrs.get("config")
            if isinstance(config, StepConfig):
                steps[str(node)] = _step_to_dict(config, base)
            else:
                steps[str(node)] = {k: copy.deepcopy(v) for k, v in attrs.items()}
        for producer, consumer in graph.edges():
            step = steps[str(consumer)]
            inputs = step.get("inputs") or {}
            bound = {_binding_producer(v, steps) for v in inputs.values()}
            depends = list(step.get("depends_on") or [])
            if str(producer) not in bound and str(producer) not in depends:
                step["depends_on"] = [*depends, str(producer)]
        data = {"name": graph.graph.get("name", "pipeline"), "steps": steps}
        for key in ("defaults", "edges", "preload", "description"):
            if key in graph.graph:
                data[key] = copy.deepcopy(graph.graph[key])
        return _Parser(base, None).parse(data)

    # -- exports -----------------------------------------------------------------------------------

    def to_networkx(self) -> nx.DiGraph:
        """A DiGraph: one node per step (attribute ``config``), one edge per dependency.

        Data edges carry ``bindings``: the (output, input) pairs that flow along them.
        """
        import networkx as nx

        graph = nx.DiGraph(name=self.name, base_dir=str(self.base_dir),
                           defaults=_defaults_to_dict(self.defaults),
                           edges=[_edge_to_dict(e) for e in self.edges], preload=list(self.preload))
        for name, step in self.steps.items():
            graph.add_node(name, config=step)
        for name, step in self.steps.items():
            for input_name, spec in step.inputs.items():
                if spec.producer:
                    if not graph.has_edge(spec.producer, name):
                        graph.add_edge(spec.producer, name, bindings=[])
                    graph.edges[spec.producer, name]["bindings"].append((spec.output, input_name))
            for dep in step.depends_on:
                if not graph.has_edge(dep, name):
                    graph.add_edge(dep, name, bindings=[])
        return graph

    def to_dict(self) -> dict[str, Any]:
        """The pipeline as a file-shaped dict; ``from_dict(d, base_dir=dag.base_dir)`` gives it back."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        defaults = _defaults_to_dict(self.defaults)
        if defaults:
            out["defaults"] = defaults
        if self.preload:
            out["preload"] = list(self.preload)
        out["steps"] = {name: _step_to_dict(step, self.base_dir) for name, step in self.steps.items()}
        if self.edges:
            out["edges"] = [_edge_to_dict(e) for e in self.edges]
        return out

    # -- queries -----------------------------------------------------------------------------------

    def resolved(self, step_name: str) -> StepConfig:
        """The step with the pipeline defaults filled in where it sets nothing itself."""
        from pipetest_nb.exceptions import UnknownStepError

        if step_name not in self.steps:
            raise UnknownStepError(step_name, list(self.steps))
        step, d = self.steps[step_name], self.defaults
        return replace(
            step,
            mode=step.mode or d.mode or "main",
            timeout=step.timeout if step.timeout is not None else d.timeout,
            isolation=step.isolation or d.isolation,
            on_error=step.on_error if step.on_error is not None else d.on_error,
            retries=step.retries if step.retries is not None else d.retries,
            memory=step.memory if step.memory is not None else d.memory,
            env={**d.env, **step.env},
        )

    def edge(self, producer_output: str, consumer_input: str) -> EdgeSpec | None:
        """The declared settings of one data edge, if the file has any."""
        for e in self.edges:
            if e.source == producer_output and e.target == consumer_input:
                return e
        return None

    def data_edges(self) -> list[tuple[str, str]]:
        """Every data edge as (``producer.output``, ``consumer.input``), in declaration order."""
        return [(spec.source, f"{name}.{input_name}")
                for name, step in self.steps.items()
                for input_name, spec in step.inputs.items() if spec.source]

    def __repr__(self) -> str:
        return f"PipelineDAG(name={self.name!r}, steps={list(self.steps)!r})"


# --------------------------------------------------------------------------------------------------
# Serialising back to the file shape
# --------------------------------------------------------------------------------------------------


def _rel(path: Path, base: Path) -> str:
    try:
        text = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)
    if text.startswith(".."):
        return str(path)
    return text if "/" in text or os.sep in text else f"./{text}"


def _schema_to_dict(schema: TableSchema | None) -> dict[str, Any] | None:
    return schema.to_dict() if schema is not None else None


def _input_to_dict(spec: InputSpec, base: Path) -> Any:
    extras: dict[str, Any] = {}
    if spec.format:
        extras["format"] = spec.format
    if spec.schema is not None:
        extras["schema"] = _schema_to_dict(spec.schema)
    if spec.required_files:
        extras["required_files"] = list(spec.required_files)
    if spec.optional:
        extras["optional"] = True
    if spec.source:
        return {"from": spec.source, **extras} if extras else spec.source
    if spec.path is not None:
        return {"path": _rel(spec.path, base), **extras} if extras else _rel(spec.path, base)
    return extras


def _output_to_dict(spec: OutputSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.format:
        out["format"] = spec.format
    if spec.schema is not None:
        out["schema"] = _schema_to_dict(spec.schema)
    if spec.tables:
        out["tables"] = spec.tables
    if spec.non_tabular:
        out["non_tabular"] = list(spec.non_tabular)
    if spec.description:
        out["description"] = spec.description
    return out


def _step_to_dict(step: StepConfig, base: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if step.script_path is not None:
        out["script"] = _rel(step.script_path, base)
    if step.source_dir is not None:
        out["source_dir"] = _rel(step.source_dir, base)
    if step.entry_point:
        out["entry_point"] = step.entry_point
    if step.mode:
        out["mode"] = step.mode
    if step.description:
        out["description"] = step.description
    if step.inputs:
        out["inputs"] = {k: _input_to_dict(v, base) for k, v in step.inputs.items()}
    if step.outputs:
        out["outputs"] = {k: _output_to_dict(v) for k, v in step.outputs.items()}
    for key in ("env", "args", "defaults"):
        value = getattr(step, key)
        if value:
            out[key] = copy.deepcopy(value)
    if step.depends_on:
        out["depends_on"] = list(step.depends_on)
    for key in ("timeout", "isolation", "on_error", "retries", "memory"):
        value = getattr(step, key)
        if value is not None:
            out[key] = copy.deepcopy(value)
    return out


def _defaults_to_dict(d: PipelineDefaults) -> dict[str, Any]:
    out = {k: copy.deepcopy(getattr(d, k)) for k in DEFAULTS_KEYS if getattr(d, k) not in (None, {})}
    return out


def _edge_to_dict(edge: EdgeSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"from": edge.source, "to": edge.target}
    if edge.expectations:
        out["expectations"] = edge.expectations
    if edge.tables:
        out["tables"] = edge.tables
    if edge.on_expectation_failure != "fail":
        out["on_expectation_failure"] = edge.on_expectation_failure
    return out


def _binding_producer(value: Any, steps: dict[str, Any]) -> str | None:
    if isinstance(value, dict):
        value = value.get("from")
        return value.split(".", 1)[0] if isinstance(value, str) else None
    if isinstance(value, str) and "/" not in value and "." in value and value.split(".", 1)[0] in steps:
        return value.split(".", 1)[0]
    return None


def _read_text(path: Path) -> str:
    from pipetest_nb.spec.documents import UnreadableDocument, read_document

    try:
        return read_document(path, MAX_FILE_BYTES)
    except UnreadableDocument as exc:
        hint = "check the path" if exc.reason == "file not found" else None
        raise PipelineSpecError([SpecProblem(exc.reason, file=str(path), line=exc.line, hint=hint)],
                                source=str(path)) from None


def parse_memory(value: Any) -> int:
    """``512MB``, ``2GiB``, ``1.5g`` or a plain number of bytes, as bytes. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):  # bytes: whole, finite and positive (0.5 would become 0)
        if (isinstance(value, float) and not math.isfinite(value)) or value <= 0 or value != int(value):
            raise ValueError(value)
        return int(value)
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(value)
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(value)
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit not in _MEMORY_UNITS or not 0 < number * _MEMORY_UNITS[unit] < math.inf:
        raise ValueError(value)
    return int(number * _MEMORY_UNITS[unit])


def name_problem(name: Any, what: str) -> str | None:
    """Why ``name`` cannot name a step, input or output (it becomes a folder name), or None."""
    if not isinstance(name, str):
        return f"{what} name {_brief(name)} must be a string"
    if name == "":
        return f"{what} name is empty"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"{what} name {_brief(name)} is {size} bytes long; a folder name has at most {MAX_NAME_BYTES}"
    shown = _brief(name)
    if "\x00" in name:
        return f"{what} name {shown} contains a NUL byte"
    if "/" in name or "\\" in name:
        return f"{what} name {shown} contains a path separator"
    if ".." in name:
        return f"{what} name {shown} contains '..'"
    if name.startswith("."):
        return f"{what} name {shown} starts with a dot"
    if "." in name:
        return f"{what} name {shown} contains a dot (dots separate step and output in bindings)"
    if not _NAME.match(name):  # also rules out spaces, control and Windows-reserved characters
        return f"{what} name {shown} may use only letters, digits, '_' and '-'"
    if name.upper() in _WINDOWS_RESERVED:
        return f"{what} name {shown} is a reserved device name on Windows, where it cannot be a folder"
    return None


def _suite_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a suite in ``expectations/<name>.json``, or None."""
    if not name or "\x00" in name or "/" in name or "\\" in name or name.startswith("."):
        return f"suite name {_brief(name)} must be a plain file name (no '/', no leading dot)"
    if len(name.encode("utf-8", "surrogatepass")) + len(".json") > MAX_NAME_BYTES:
        return f"suite name {_brief(name)} is too long for a file name ({MAX_NAME_BYTES} bytes with '.json')"
    return None


def _brief(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: messages stay readable whatever the file holds."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"


# --------------------------------------------------------------------------------------------------
# Parsing and checking
# --------------------------------------------------------------------------------------------------


def _suggest(word: Any, choices: Any) -> str | None:
    if not isinstance(word, str) or len(word) > 100:
        return None
    close = get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class _Parser:
    """Turns a file-shaped dict into a PipelineDAG, collecting every problem before raising."""

    def __init__(self, base_dir: Path, source: Path | None, check_files: bool = True):
        self.base_dir = base_dir
        self.source = source
        self.check_files = check_files
        self.problems: list[SpecProblem] = []

    def problem(self, message: str, *, line: int | None = None, step: str | None = None,
                key: str | None = None, hint: str | None = None) -> None:
        self.problems.append(SpecProblem(message, file=str(self.source) if self.source else None,
                                         line=line, step=step, key=key, hint=hint))

    def _fail_if_problems(self) -> None:
        if self.problems:
            raise PipelineSpecError(self.problems, source=str(self.source) if self.source else None)

    def check_shape(self, data: Any) -> None:
        """Refuse, before anything walks it, a document too deep, too large or holding a huge integer."""
        from pipetest_nb.spec.documents import shape_problem

        found = shape_problem(data)
        if found:
            message, key = found
            self.problem(message, key=key or None)
            self._fail_if_problems()

    # -- the whole file ----------------------------------------------------------------------------

    def parse(self, data: Any) -> PipelineDAG:
        from pipetest_nb.spec.documents import line_of

        self.check_shape(data)
        if not isinstance(data, dict):
            self.problem("a pipeline must be a mapping with a 'steps' key",
                         hint="start the file with 'name:' and 'steps:'")
            self._fail_if_problems()
        self._duplicates(data, None)
        self._unknown_keys(data, PIPELINE_KEYS, None, "pipeline")

        name = data.get("name", self.source.stem if self.source else "pipeline")
        if not isinstance(name, str) or not name.strip():
            self.problem("'name' must be a non-empty string", line=line_of(data, "name"), key="name")
            name = "pipeline"
        description = self._optional_str(data, "description", None)
        defaults = self._defaults(data.get("defaults"), line_of(data, "defaults"))
        preload = self._str_list(data, "preload", None)

        raw_steps = data.get("steps")
        steps: dict[str, StepConfig] = {}
        if not isinstance(raw_steps, dict) or not raw_steps:
            self.problem("'steps' must be a non-empty mapping of step name -> step",
                         line=line_of(data, "steps"), key="steps")
        else:
            self._duplicates(raw_steps, None, what="step")
            valid_names = [n for n in raw_steps if name_problem(n, "step") is None]
            for step_name, raw in raw_steps.items():
                why = name_problem(step_name, "step")
                if why:
                    self.problem(why, line=line_of(raw_steps, step_name),
                                 hint="use letters, digits, '_' and '-'")
                    continue
                steps[step_name] = self._step(step_name, raw, valid_names, line_of(raw_steps, step_name))
            self._check_references(steps, raw_steps)
        edges = self._edges(data.get("edges"), steps, line_of(data, "edges"))
        self._fail_if_problems()
        return PipelineDAG(name=name, steps=steps, edges=edges, defaults=defaults, preload=tuple(preload),
                           description=description, base_dir=self.base_dir, source=self.source)

    # -- helpers -----------------------------------------------------------------------------------

    def _duplicates(self, mapping: Any, step: str | None, what: str = "key") -> None:
        for key, line in getattr(mapping, "duplicates", []):
            self.problem(f"{what} '{key}' appears more than once", line=line, step=step,
                         key=None if what == "step" else str(key), hint="keep one of them")

    def _unknown_keys(self, mapping: dict, allowed: tuple[str, ...], step: str | None, where: str) -> None:
        from pipetest_nb.spec.documents import line_of

        for key in mapping:
            if key not in allowed:
                hint = _suggest(key, allowed) or f"allowed keys in {where}: {', '.join(allowed)}"
                shown = f"'{key}'" if isinstance(key, str) and len(key) <= 60 else _brief(key)
                self.problem(f"unknown key {shown} in {where}", line=line_of(mapping, key), step=step,
                             key=str(key)[:80], hint=hint)

    def _optional_str(self, mapping: dict, key: str, step: str | None) -> str | None:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get(key)
        if value is None or isinstance(value, str):
            return value
        self.problem(f"'{key}' must be a string, not {type(value).__name__}", line=line_of(mapping, key),
                     step=step, key=key)
        return None

    def _str_list(self, mapping: dict, key: str, step: str | None) -> list[str]:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"'{key}' must be a list of strings", line=line_of(mapping, key), step=step, key=key)
            return []
        return list(value)

    def _env(self, mapping: dict, key: str, step: str | None) -> dict[str, str]:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(f"'{key}' must be a mapping of NAME: value", line=line_of(mapping, key), step=step,
                         key=key)
            return {}
        env: dict[str, str] = {}
        for name, raw in value.items():
            if not isinstance(name, str) or not name or "=" in name or "\x00" in name:
                self.problem(f"invalid environment variable name {_brief(name)}", line=line_of(value, name),
                             step=step, key=key)
            elif isinstance(raw, bool):
                env[name] = "true" if raw else "false"
            elif isinstance(raw, (str, int, float)):
                env[name] = str(raw)
                if "\x00" in env[name]:
                    self.problem(f"value of {name} contains a NUL byte", line=line_of(value, name), step=step,
                                 key=key)
            else:
                self.problem(f"value of {name} must be a string or number, not {type(raw).__name__}",
                             line=line_of(value, name), step=step, key=key)
        return env

    def _timeout(self, mapping: dict, step: str | None) -> float | None:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get("timeout")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
            self.problem(f"'timeout' must be a positive number of seconds, at most {MAX_TIMEOUT} (7 days), "
                         f"got {_brief(value)}", line=line_of(mapping, "timeout"), step=step, key="timeout")
            return None
        return value

    def _retries(self, mapping: dict, step: str | None) -> int | None:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get("retries")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
            self.problem(f"'retries' must be a whole number from 0 to {MAX_RETRIES}, got {_brief(value)}",
                         line=line_of(mapping, "retries"), step=step, key="retries")
            return None
        return value

    def _choice(self, mapping: dict, key: str, choices: tuple[str, ...], step: str | None) -> str | None:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get(key)
        if value is None:
            return None
        if value not in choices:
            hint = _suggest(value, choices) or f"one of: {', '.join(choices)}"
            self.problem(f"'{key}' must be one of {', '.join(choices)}, got {_brief(value)}",
                         line=line_of(mapping, key), step=step, key=key, hint=hint)
            return None
        return value

    def _memory(self, mapping: dict, step: str | None) -> int | None:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get("memory")
        if value is None:
            return None
        try:
            size = parse_memory(value)
        except ValueError:
            size = None
        if size is None or not MEMORY_RANGE[0] <= size <= MEMORY_RANGE[1]:
            self.problem(f"'memory' must be a size such as 512MB or 2GiB, from 1MB to 1PiB, got {_brief(value)}",
                         line=line_of(mapping, "memory"), step=step, key="memory",
                         hint="a plain number counts bytes" if isinstance(value, (int, float)) else None)
            return None
        return size

    def _on_error(self, mapping: dict, step: str | None) -> str | dict[str, str] | None:
        from pipetest_nb.spec.documents import line_of

        value = mapping.get("on_error")
        line = line_of(mapping, "on_error")
        if value is None:
            return None
        if isinstance(value, str):
            if value not in STRATEGY_NAMES:
                self.problem(f"unknown recovery strategy {_brief(value)}", line=line, step=step, key="on_error",
                             hint=_suggest(value, STRATEGY_NAMES) or f"one of: {', '.join(STRATEGY_NAMES)}")
                return None
            return value
        if isinstance(value, dict):
            policy: dict[str, str] = {}
            for error_type, strategy in value.items():
                if error_type not in (*ERROR_TYPES, "default"):
                    self.problem(f"unknown error type {_brief(error_type)} in on_error",
                                 line=line_of(value, error_type), step=step, key="on_error",
                                 hint=_suggest(error_type, ERROR_TYPES) or f"one of: {', '.join(ERROR_TYPES)}")
                elif strategy not in STRATEGY_NAMES:
                    self.problem(f"unknown recovery strategy {_brief(strategy)} for {error_type}",
                                 line=line_of(value, error_type), step=step, key="on_error",
                                 hint=_suggest(strategy, STRATEGY_NAMES) or f"one of: {', '.join(STRATEGY_NAMES)}")
                else:
                    policy[error_type] = strategy
            return policy
        self.problem("'on_error' must be a strategy name or a mapping of error type -> strategy",
                     line=line, step=step, key="on_error")
        return None

    def _defaults(self, raw: Any, line: int | None) -> PipelineDefaults:
        if raw is None:
            return PipelineDefaults()
        if not isinstance(raw, dict):
            self.problem("'defaults' must be a mapping", line=line, key="defaults")
            return PipelineDefaults()
        self._duplicates(raw, None)
        self._unknown_keys(raw, DEFAULTS_KEYS, None, "defaults")
        return PipelineDefaults(
            timeout=self._timeout(raw, None),
            isolation=self._choice(raw, "isolation", ISOLATIONS, None),
            on_error=self._on_error(raw, None),
            retries=self._retries(raw, None),
            memory=self._memory(raw, None),
            mode=self._choice(raw, "mode", MODES, None),
            env=self._env(raw, "env", None),
        )

    def _path(self, value: str) -> Path:
        return Path(os.path.normpath(self.base_dir / os.path.expanduser(value)))

    # -- one step ----------------------------------------------------------------------------------

    def _step(self, name: str, raw: Any, step_names: list[str], line: int | None) -> StepConfig:
        from pipetest_nb.spec.documents import line_of

        if not isinstance(raw, dict):
            self.problem(f"a step must be a mapping with at least 'script', got {type(raw).__name__}",
                         line=line, step=name)
            return StepConfig(name=name)
        self._duplicates(raw, name)
        self._unknown_keys(raw, STEP_KEYS, name, f"step '{name}'")

        script = raw.get("script", raw.get("script_path"))
        if "script" in raw and "script_path" in raw:
            self.problem("give 'script' or 'script_path', not both", line=line_of(raw, "script_path"),
                         step=name, key="script_path")
        script_path = source_dir = entry_point = None
        if script is not None:
            if not isinstance(script, str) or not script:
                self.problem("'script' must be a path to a Python file", line=line_of(raw, "script"), step=name,
                             key="script")
            else:
                script_path = self._path(script)
        if raw.get("source_dir") is not None or raw.get("entry_point") is not None:
            src, entry = raw.get("source_dir"), raw.get("entry_point")
            if not isinstance(src, str) or not isinstance(entry, str) or not src or not entry:
                self.problem("'source_dir' and 'entry_point' go together, both as strings",
                             line=line_of(raw, "source_dir"), step=name, key="source_dir")
            else:
                source_dir, entry_point = self._path(src), entry
        if script_path is None and source_dir is None and script is None and "source_dir" not in raw:
            self.problem("no script", line=line, step=name, key="script",
                         hint="give 'script: path/to/script.py' or 'source_dir' + 'entry_point'")
        target = script_path or (source_dir / entry_point if source_dir and entry_point else None)
        where = {"line": line_of(raw, "script" if script else "entry_point"), "step": name,
                 "key": "script" if script else "entry_point"}
        if target is not None and self.check_files:
            try:
                missing = not target.is_file()
                close = (_suggest(target.name, [p.name for p in target.parent.iterdir() if p.suffix == ".py"])
                         if missing and target.parent.is_dir() else None)
            except OSError as exc:  # a name longer than the file system allows, a folder nobody may list
                self.problem(f"script path cannot be used: {exc.strerror or exc}", **where)
            else:
                if missing:
                    self.problem(f"script file not found: {target}", **where,
                                 hint=close or "paths are relative to the pipeline file")

        inputs = self._inputs(name, raw, step_names)
        outputs = self._outputs(name, raw)
        args = raw.get("args") or {}
        if not isinstance(args, dict) or not all(isinstance(k, str) and k for k in args):
            self.problem("'args' must be a mapping of argument name -> value", line=line_of(raw, "args"),
                         step=name, key="args")
            args = {}
        else:
            for key, value in args.items():
                if not isinstance(value, (str, int, float, bool, list)) or (
                        isinstance(value, list) and not all(isinstance(v, (str, int, float)) for v in value)):
                    self.problem(f"argument '{key}' must be a string, number, bool or list of those",
                                 line=line_of(args, key), step=name, key="args")
        step_defaults = raw.get("defaults") or {}
        if not isinstance(step_defaults, dict):
            self.problem("'defaults' of a step must be a mapping with 'env' and/or 'args'",
                         line=line_of(raw, "defaults"), step=name, key="defaults")
            step_defaults = {}
        else:
            self._unknown_keys(step_defaults, STEP_DEFAULTS_KEYS, name, f"defaults of step '{name}'")
            step_defaults = {k: copy.deepcopy(dict(v)) for k, v in step_defaults.items()
                             if k in STEP_DEFAULTS_KEYS and isinstance(v, dict)}

        return StepConfig(
            name=name,
            script_path=script_path,
            source_dir=source_dir,
            entry_point=entry_point,
            mode=self._choice(raw, "mode", MODES, name),
            inputs=inputs,
            outputs=outputs,
            env=self._env(raw, "env", name),
            args=copy.deepcopy(dict(args)),
            depends_on=tuple(self._str_list(raw, "depends_on", name)),
            timeout=self._timeout(raw, name),
            isolation=self._choice(raw, "isolation", ISOLATIONS, name),
            on_error=self._on_error(raw, name),
            retries=self._retries(raw, name),
            memory=self._memory(raw, name),
            defaults=step_defaults,
            description=self._optional_str(raw, "description", name),
        )

    def _schema(self, raw: Any, step: str, key: str, line: int | None) -> TableSchema | None:
        from pipetest_nb.spec.documents import line_of

        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.problem("'schema' must be a mapping with required_columns and/or column_types", line=line,
                         step=step, key=key)
            return None
        self._unknown_keys(raw, SCHEMA_KEYS, step, f"schema of {key}")
        required = raw.get("required_columns") or []
        if not isinstance(required, list) or not all(isinstance(c, str) for c in required):
            self.problem("'required_columns' must be a list of column names", line=line_of(raw, "required_columns"),
                         step=step, key=key)
            required = []
        types = raw.get("column_types") or {}
        if not isinstance(types, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in types.items()):
            self.problem("'column_types' must map column name -> type name (int64, float64, string, ...)",
                         line=line_of(raw, "column_types"), step=step, key=key)
            types = {}
        rows = raw.get("rows")
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
            self.problem("'rows' must be a whole number", line=line_of(raw, "rows"), step=step, key=key)
            rows = None
        return TableSchema(required_columns=tuple(required), column_types=dict(types), rows=rows)

    def _inputs(self, step: str, raw: dict, step_names: list[str]) -> dict[str, InputSpec]:
        from pipetest_nb.spec.documents import line_of

        value = raw.get("inputs")
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem("'inputs' must be a mapping of logical name -> path or binding",
                         line=line_of(raw, "inputs"), step=step, key="inputs")
            return {}
        self._duplicates(value, step)
        inputs: dict[str, InputSpec] = {}
        for input_name, spec in value.items():
            line = line_of(value, input_name)
            why = name_problem(input_name, "input")
            if why:
                self.problem(why, line=line, step=step, key="inputs")
                continue
            key = f"inputs.{input_name}"
            if isinstance(spec, str):
                if "\x00" in spec or not spec:
                    self.problem("input path is empty or contains a NUL byte", line=line, step=step, key=key)
                    continue
                head = spec.split(".", 1)[0]
                if "/" not in spec and "." in spec and head in step_names:
                    inputs[input_name] = InputSpec(input_name, source=spec)
                else:
                    inputs[input_name] = InputSpec(input_name, path=self._path(spec))
                continue
            if not isinstance(spec, dict):
                self.problem("an input must be a path, a binding 'step.output', or a mapping",
                             line=line, step=step, key=key)
                continue
            self._unknown_keys(spec, INPUT_KEYS, step, f"input '{input_name}'")
            source, path = spec.get("from"), spec.get("path")
            if source is not None and path is not None:
                self.problem("give 'from' (a binding) or 'path' (external data), not both", line=line, step=step,
                             key=key)
            if source is not None and (not isinstance(source, str) or "." not in source):
                self.problem(f"'from' must be 'producer_step.output_name', got {_brief(source)}", line=line, step=step,
                             key=key)
                source = None
            if path is not None and (not isinstance(path, str) or not path or "\x00" in path):
                self.problem("'path' must be a non-empty string", line=line, step=step, key=key)
                path = None
            fmt = self._choice(spec, "format", TABULAR_FORMATS, step)
            required_files = self._str_list(spec, "required_files", step)
            optional = spec.get("optional", False)
            if not isinstance(optional, bool):
                self.problem("'optional' must be true or false", line=line, step=step, key=key)
                optional = False
            inputs[input_name] = InputSpec(
                input_name, source=source, path=self._path(path) if path else None, format=fmt,
                schema=self._schema(spec.get("schema"), step, key, line_of(spec, "schema")),
                required_files=tuple(required_files), optional=optional)
        return inputs

    def _outputs(self, step: str, raw: dict) -> dict[str, OutputSpec]:
        from pipetest_nb.spec.documents import line_of

        value = raw.get("outputs")
        if value is None:
            return {}
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = {v: {} for v in value}
        if not isinstance(value, dict):
            self.problem("'outputs' must be a mapping of logical name -> {format, schema}",
                         line=line_of(raw, "outputs"), step=step, key="outputs")
            return {}
        self._duplicates(value, step)
        outputs: dict[str, OutputSpec] = {}
        for output_name, spec in value.items():
            line = line_of(value, output_name)
            why = name_problem(output_name, "output")
            if why:
                self.problem(why, line=line, step=step, key="outputs")
                continue
            key = f"outputs.{output_name}"
            suite_name = f"{step}.{output_name}.json"
            if len(suite_name.encode()) > MAX_NAME_BYTES:
                self.problem(f"step and output names together are too long: the output's suite file "
                             f"'{_brief(suite_name)}' would exceed {MAX_NAME_BYTES} bytes", line=line, step=step,
                             key=key, hint="shorten the step or the output name")
                continue
            spec = {} if spec is None else spec
            if not isinstance(spec, dict):
                self.problem("an output must be a mapping such as {format: parquet}", line=line, step=step,
                             key=key)
                continue
            self._unknown_keys(spec, OUTPUT_KEYS, step, f"output '{output_name}'")
            tables = spec.get("tables")
            if tables is not None and not isinstance(tables, str):
                self.problem("'tables' must be a glob such as 'train/*.parquet'", line=line, step=step, key=key)
                tables = None
            outputs[output_name] = OutputSpec(
                output_name, format=self._choice(spec, "format", FORMATS, step),
                schema=self._schema(spec.get("schema"), step, key, line_of(spec, "schema")),
                tables=tables, non_tabular=tuple(self._str_list(spec, "non_tabular", step)),
                description=self._optional_str(spec, "description", step))
        return outputs

    # -- across steps ------------------------------------------------------------------------------

    def _check_references(self, steps: dict[str, StepConfig], raw_steps: dict) -> None:
        from pipetest_nb.spec.documents import line_of

        for name, step in steps.items():
            raw = raw_steps[name]
            for input_name, spec in step.inputs.items():
                if not spec.source:
                    continue
                line = line_of(raw.get("inputs"), input_name) if isinstance(raw, dict) else None
                producer, output = spec.producer, spec.output
                if producer not in steps:
                    self.problem(f"input '{input_name}' is bound to unknown step '{producer}'", line=line,
                                 step=name, key=f"inputs.{input_name}",
                                 hint=_suggest(producer, steps) or f"steps are: {', '.join(steps)}")
                elif output not in steps[producer].outputs:
                    known = list(steps[producer].outputs)
                    self.problem(f"input '{input_name}' is bound to '{spec.source}', but step '{producer}' "
                                 f"declares no output '{output}'", line=line, step=name,
                                 key=f"inputs.{input_name}",
                                 hint=_suggest(output, known)
                                 or (f"its outputs are: {', '.join(known)}" if known else "it declares no outputs"))
            for dep in step.depends_on:
                if dep not in steps:
                    self.problem(f"depends_on names unknown step '{dep}'",
                                 line=line_of(raw, "depends_on") if isinstance(raw, dict) else None, step=name,
                                 key="depends_on", hint=_suggest(dep, steps) or f"steps are: {', '.join(steps)}")

    def _edges(self, raw: Any, steps: dict[str, StepConfig], line: int | None) -> list[EdgeSpec]:
        from pipetest_nb.spec.documents import line_of

        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem("'edges' must be a list of {from: step.output, to: step.input, ...}", line=line,
                         key="edges")
            return []
        edges: list[EdgeSpec] = []
        for item in raw:
            item_line = line_of(item) or line
            if not isinstance(item, dict):
                self.problem("each edge must be a mapping {from: step.output, to: step.input}", line=item_line,
                             key="edges")
                continue
            self._unknown_keys(item, EDGE_KEYS, None, "edge")
            source, target = item.get("from"), item.get("to")
            if not (isinstance(source, str) and "." in source and isinstance(target, str) and "." in target):
                self.problem("an edge needs 'from: producer.output' and 'to: consumer.input'", line=item_line,
                             key="edges")
                continue
            consumer, input_name = target.split(".", 1)
            if consumer not in steps:
                self.problem(f"edge to unknown step '{consumer}'", line=item_line, key="edges",
                             hint=_suggest(consumer, steps))
                continue
            spec = steps[consumer].inputs.get(input_name)
            if spec is None:
                self.problem(f"edge to '{target}', but step '{consumer}' has no input '{input_name}'",
                             line=item_line, step=consumer, key="edges",
                             hint=_suggest(input_name, steps[consumer].inputs))
                continue
            if spec.source != source:
                self.problem(f"edge from '{source}' to '{target}', but that input is "
                             + (f"bound to '{spec.source}'" if spec.source else "an external path"),
                             line=item_line, step=consumer, key="edges",
                             hint="an edge describes a binding declared in the consumer's inputs")
                continue
            for key in ("expectations", "tables"):
                if item.get(key) is not None and not isinstance(item.get(key), str):
                    self.problem(f"edge '{key}' must be a string", line=item_line, key="edges")
            suite = item.get("expectations")
            why = _suite_name_problem(suite) if isinstance(suite, str) else None
            if why:
                self.problem(why, line=line_of(item, "expectations") or item_line, key="edges",
                             hint="name a suite file in the expectations/ folder, without '.json'")
            action = self._choice(item, "on_expectation_failure", EXPECTATION_FAILURE_ACTIONS, consumer)
            edges.append(EdgeSpec(source, target,
                                  expectations=item.get("expectations") if isinstance(item.get("expectations"), str)
                                  else None,
                                  tables=item.get("tables") if isinstance(item.get("tables"), str) else None,
                                  on_expectation_failure=action or "fail"))
        return edges
