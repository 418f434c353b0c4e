"""The Cursus DAG and configuration JSON, read without importing Cursus.

A Cursus DAG names its steps and joins them with edges that carry no names; its configuration
holds fields shared by every step under each step's own fields. Both are read here, every mistake
is collected, and all of them are raised at once as one ``PipelineSpecError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.cursus.values import ConfigModel, unwrap
from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.text import did_you_mean


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
    """A Cursus configuration: fields shared by every step, and each step's own fields, with the
    serializer's wrappers unwrapped (see ``values.unwrap``)."""

    shared: dict[str, Any]
    specific: dict[str, dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None

    def step_fields(self, step: str) -> dict[str, Any]:
        """The step's fields as Cursus's loader merges them: ``{**shared, **specific[step]}``."""
        return {**self.shared, **self.specific.get(step, {})}

    def config_class(self, step: str) -> str | None:
        """The step's config class: ``metadata.config_types[step]``, else its ``__model_type__``."""
        named = (self.metadata.get("config_types") or {}).get(step)
        if isinstance(named, str) and named:
            return named
        fields = self.specific.get(step)
        return fields.model_type if isinstance(fields, ConfigModel) else None


def fail(problems: list[SpecProblem], source: Path | None) -> None:
    """Raise every problem at once, if there is any."""
    if problems:
        raise PipelineSpecError(problems, source=str(source) if source else None)


def absolute(base: Path, value: Any) -> Path:
    """A path from a configuration or overrides value, relative to ``base``, ``~`` expanded."""
    return Path(os.path.normpath(base / os.path.expanduser(str(value))))


def read_json(path: Path) -> Any:
    """The JSON in ``path``; a missing or broken file raises a ``PipelineSpecError`` pointing at it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail([SpecProblem("file not found", file=str(path), hint="check the path")], path)
    except json.JSONDecodeError as exc:
        fail([SpecProblem(f"JSON syntax error: {exc.msg}", file=str(path), line=exc.lineno, column=exc.colno)],
             path)
    except (OSError, UnicodeDecodeError) as exc:
        fail([SpecProblem(f"cannot read the file: {exc}", file=str(path))], path)
    return None


def read_yaml_or_json(path: Path) -> Any:
    """A ``.json`` file as JSON, any other as safe YAML with key lines kept."""
    if path.suffix.lower() == ".json":
        return read_json(path)
    import yaml

    from pipetest_nb.spec.documents import load_yaml

    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail([SpecProblem("file not found", file=str(path), hint="check the path")], path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        fail([SpecProblem(f"YAML syntax error: {getattr(exc, 'problem', None) or exc}", file=str(path),
                          line=mark.line + 1 if mark else None)], path)
    except (OSError, UnicodeDecodeError) as exc:
        fail([SpecProblem(f"cannot read the file: {exc}", file=str(path))], path)
    return None


def read_cursus_dag(source: Any) -> CursusDAG:
    """Read a DAG: a serializer JSON file (``{"dag": {"nodes", "edges"}, ...}``), a bare
    ``{"nodes", "edges"}`` file or dict, or any object with ``.nodes`` and ``.edges`` (Cursus'
    ``PipelineDAG``, a networkx ``DiGraph``)."""
    file = None
    if isinstance(source, (str, os.PathLike)):
        file = Path(source).absolute()
        source = read_json(file)
    where = str(file) if file else None
    raw_nodes, raw_edges, metadata = _dag_parts(source, file)
    problems: list[SpecProblem] = []
    nodes = _dag_nodes(raw_nodes, where, problems)
    edges = _dag_edges(raw_edges, nodes, where, problems)
    if not nodes:
        problems.append(SpecProblem("the DAG has no nodes", file=where, key="nodes"))
    fail(problems, file)
    return CursusDAG(tuple(nodes), tuple(edges), metadata, file)


def _dag_parts(source: Any, file: Path | None) -> tuple[Any, Any, dict[str, Any]]:
    """The raw nodes, raw edges and metadata of whatever shape the DAG was given in."""
    where = str(file) if file else None
    metadata: dict[str, Any] = {}
    if isinstance(source, Mapping):
        metadata = dict(source.get("metadata") or {}) if isinstance(source.get("metadata"), Mapping) else {}
        body = source.get("dag", source)
        if not isinstance(body, Mapping) or "nodes" not in body:
            fail([SpecProblem("a Cursus DAG needs 'nodes' and 'edges' (or 'dag': {nodes, edges})", file=where,
                              key="dag")], file)
        return body.get("nodes"), body.get("edges") or [], metadata
    if hasattr(source, "nodes") and hasattr(source, "edges"):
        return source.nodes, source.edges, metadata
    raise PipelineSpecError([SpecProblem(f"cannot read a Cursus DAG from {type(source).__name__}", file=where,
                                         hint="give a DAG JSON file, a dict or an object with .nodes and "
                                              ".edges")], source=where)


def _dag_nodes(raw_nodes: Any, where: str | None, problems: list[SpecProblem]) -> list[str]:
    nodes: list[str] = []
    for node in list(raw_nodes or []):
        if not isinstance(node, str) or not node:
            problems.append(SpecProblem(f"a DAG node must be a step name, got {node!r}", file=where, key="nodes"))
        elif node in nodes:
            problems.append(SpecProblem(f"node '{node}' appears more than once", file=where, key="nodes"))
        else:
            nodes.append(node)
    return nodes


def _dag_edges(raw_edges: Any, nodes: list[str], where: str | None,
               problems: list[SpecProblem]) -> list[tuple[str, str]]:
    """Edges as ``[source, target]`` pairs or ``{source|from, target|to}`` mappings, duplicates dropped."""
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
                                            key="edges", hint=did_you_mean(end, nodes)))
        if (pair[0], pair[1]) not in edges:
            edges.append((pair[0], pair[1]))
    return edges


def read_cursus_config(source: str | os.PathLike | Mapping[str, Any]) -> CursusConfig:
    """Read a configuration: ``{"configuration": {"shared", "specific"}, "metadata"}`` or its inner part."""
    file = None
    if isinstance(source, (str, os.PathLike)):
        file = Path(source).absolute()
        source = read_json(file)
    where = str(file) if file else None
    if not isinstance(source, Mapping):
        fail([SpecProblem("a Cursus configuration must be a JSON object", file=where)], file)
    metadata = source.get("metadata") if isinstance(source.get("metadata"), Mapping) else {}
    body = source.get("configuration", source)
    problems: list[SpecProblem] = []
    if not isinstance(body, Mapping) or not isinstance(body.get("specific"), Mapping):
        fail([SpecProblem("a Cursus configuration needs 'configuration': {'shared': {...}, 'specific': "
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
            specific[str(step)] = unwrap(dict(fields))
    fail(problems, file)
    return CursusConfig(unwrap(dict(shared)), specific, dict(metadata), file)


def env_text(value: Any) -> str | None:
    """An env var value as the script will see it; None for a missing value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return json.dumps(value)
