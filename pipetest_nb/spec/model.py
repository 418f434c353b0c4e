"""The pipeline spec objects: ``PipelineDAG``, ``StepConfig`` and the contract pieces they hold.

Loading checks the whole file and reports every mistake at once in one ``PipelineSpecError``
(file, line, step, key, and a "did you mean" where a close name exists; see ``spec.load``). Paths
in a file are relative to the file; in memory they are absolute.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.spec.parts import EdgeSpec, PipelineDefaults, StepConfig

if TYPE_CHECKING:
    import networkx as nx

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
        from pipetest_nb.spec.load import from_yaml

        return cls(**from_yaml(Path(path)))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> PipelineDAG:
        """Read a JSON pipeline file."""
        from pipetest_nb.spec.load import from_json

        return cls(**from_json(Path(path)))

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: str | os.PathLike | None = None, *,
                  check_files: bool = True) -> PipelineDAG:
        """Build a pipeline from a dict shaped like the pipeline file; paths are relative to ``base_dir``.

        ``check_files=False`` accepts scripts that no longer exist: a recorded run must always reopen.
        """
        from pipetest_nb.spec.load import from_dict

        return cls(**from_dict(data, base_dir, check_files))

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph, base_dir: str | os.PathLike | None = None) -> PipelineDAG:
        """Build a pipeline from a DiGraph whose nodes carry a ``config`` StepConfig or step-file keys.

        Graph edges that no input binding explains become ``depends_on`` entries.
        """
        from pipetest_nb.spec.load import from_networkx

        return cls(**from_networkx(graph, base_dir))

    # -- exports -----------------------------------------------------------------------------------

    def to_networkx(self) -> nx.DiGraph:
        """A DiGraph: one node per step (attribute ``config``), one edge per dependency.

        Data edges carry ``bindings``: the (output, input) pairs that flow along them.
        """
        import networkx as nx

        from pipetest_nb.spec.serialize import defaults_to_dict, edge_to_dict

        graph = nx.DiGraph(name=self.name, base_dir=str(self.base_dir),
                           defaults=defaults_to_dict(self.defaults),
                           edges=[edge_to_dict(e) for e in self.edges], preload=list(self.preload))
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
        from pipetest_nb.spec.serialize import pipeline_to_dict

        return pipeline_to_dict(name=self.name, description=self.description, defaults=self.defaults,
                                steps=self.steps, edges=self.edges, preload=self.preload, base_dir=self.base_dir)

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

