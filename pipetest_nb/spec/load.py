"""Loading a pipeline from a YAML or JSON file, a dict or a networkx graph.

Every loader ends in ``parse_pipeline``, which reads the whole file-shaped mapping and raises one
``PipelineSpecError`` with every problem found. Paths in a file are relative to the file. The
loaders return a ``PipelineDAG``'s fields, not the object, so that this module needs only its parts
(``PipelineDAG``'s classmethods call it and build the object).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.spec.checks import check_references, parse_edges
from pipetest_nb.spec.documents import UnreadableDocument, line_of, read_document
from pipetest_nb.spec.names import name_problem
from pipetest_nb.spec.parse_step import parse_step
from pipetest_nb.spec.parse_values import optional_str, parse_defaults, str_list
from pipetest_nb.spec.parts import StepConfig
from pipetest_nb.spec.problems import Problems
from pipetest_nb.spec.serialize import step_to_dict

if TYPE_CHECKING:
    import networkx as nx

MAX_FILE_BYTES = 2**20  # a pipeline file; the pure-Python YAML reader needs seconds per MiB


def read_text(path: Path) -> str:
    """The text of a pipeline file, or a ``PipelineSpecError`` saying why it cannot be read."""
    try:
        return read_document(path, MAX_FILE_BYTES)
    except UnreadableDocument as exc:
        hint = "check the path" if exc.reason == "file not found" else None
        raise PipelineSpecError([SpecProblem(exc.reason, file=str(path), line=exc.line, hint=hint)],
                                source=str(path)) from None


def from_yaml(path: Path) -> dict[str, Any]:
    import yaml

    from pipetest_nb.spec.documents import DocumentLimitError, load_yaml

    text = read_text(path)
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
    return parse_pipeline(Problems(path.parent.absolute(), path), data)


def from_json(path: Path) -> dict[str, Any]:
    text = read_text(path)
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
    p = Problems(path.parent.absolute(), path)
    for key in duplicates:
        p.problem(f"key '{key}' appears more than once", key=key, hint="keep one of them")
    return parse_pipeline(p, data)


def from_dict(data: dict[str, Any], base_dir: str | os.PathLike | None, check_files: bool) -> dict[str, Any]:
    base = Path(base_dir).absolute() if base_dir is not None else Path.cwd()
    p = Problems(base, None, check_files=check_files)
    p.check_shape(data)  # before deepcopy, which would recurse through any depth
    return parse_pipeline(p, copy.deepcopy(data))


def from_networkx(graph: nx.DiGraph, base_dir: str | os.PathLike | None) -> dict[str, Any]:
    """Nodes carry a ``config`` StepConfig or step-file keys; graph edges that no input binding explains
    become ``depends_on`` entries."""
    steps: dict[str, Any] = {}
    base = Path(base_dir or graph.graph.get("base_dir") or Path.cwd()).absolute()
    for node, attrs in graph.nodes(data=True):
        config = attrs.get("config")
        if isinstance(config, StepConfig):
            steps[str(node)] = step_to_dict(config, base)
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
    return parse_pipeline(Problems(base, None), data)


def _binding_producer(value: Any, steps: dict[str, Any]) -> str | None:
    if isinstance(value, dict):
        value = value.get("from")
        return value.split(".", 1)[0] if isinstance(value, str) else None
    if isinstance(value, str) and "/" not in value and "." in value and value.split(".", 1)[0] in steps:
        return value.split(".", 1)[0]
    return None


def parse_pipeline(p: Problems, data: Any) -> dict[str, Any]:
    """A file-shaped mapping as the fields of a ``PipelineDAG``; raises with every problem found in it."""
    p.check_shape(data)
    if not isinstance(data, dict):
        p.problem("a pipeline must be a mapping with a 'steps' key", hint="start the file with 'name:' and 'steps:'")
        p.fail_if_any()
    p.duplicates(data, None)
    p.unknown_keys(data, "pipeline", None, "pipeline")
    name = data.get("name", p.source.stem if p.source else "pipeline")
    if not isinstance(name, str) or not name.strip():
        p.problem("'name' must be a non-empty string", line=line_of(data, "name"), key="name")
        name = "pipeline"
    description = optional_str(p, data, "description", None)
    defaults = parse_defaults(p, data.get("defaults"), line_of(data, "defaults"))
    preload = str_list(p, data, "preload", None)
    steps = _steps(p, data)
    edges = parse_edges(p, data.get("edges"), steps, line_of(data, "edges"))
    p.fail_if_any()
    return {"name": name, "steps": steps, "edges": edges, "defaults": defaults, "preload": tuple(preload),
            "description": description, "base_dir": p.base_dir, "source": p.source}


def _steps(p: Problems, data: dict) -> dict[str, StepConfig]:
    raw_steps = data.get("steps")
    steps: dict[str, StepConfig] = {}
    if not isinstance(raw_steps, dict) or not raw_steps:
        p.problem("'steps' must be a non-empty mapping of step name -> step", line=line_of(data, "steps"),
                  key="steps")
        return steps
    p.duplicates(raw_steps, None, what="step")
    valid_names = [n for n in raw_steps if name_problem(n, "step") is None]
    for step_name, raw in raw_steps.items():
        why = name_problem(step_name, "step")
        if why:
            p.problem(why, line=line_of(raw_steps, step_name), hint="use letters, digits, '_' and '-'")
            continue
        steps[step_name] = parse_step(p, step_name, raw, valid_names, line_of(raw_steps, step_name))
    check_references(p, steps, raw_steps)
    return steps
