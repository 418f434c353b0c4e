"""The plan: a deterministic execution order for a ``PipelineDAG``, its generations and data flow.

Ties in the order are broken by the order the steps were declared in, so the same file always
gives the same plan. A cycle is reported with its path, in order.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from pipetest_nb.exceptions import PipelineCycleError, UnknownStepError
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.spec.parts import StepConfig


@dataclass
class PipelineExecutionPlan:
    """What runs, in which order, after which steps, and which outputs feed which inputs.

    ``data_flow_map`` maps each consumer to ``{input name: "producer:output"}``.
    """

    execution_order: list[str]
    step_configs: dict[str, StepConfig]
    dependencies: dict[str, list[str]]
    data_flow_map: dict[str, dict[str, str]]
    generations: list[list[str]] = field(default_factory=list)
    dag: PipelineDAG | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._position = {name: i for i, name in enumerate(self.execution_order)}
        self._dependents: dict[str, list[str]] = {name: [] for name in self.execution_order}
        for name in self.execution_order:
            for dep in self.dependencies[name]:
                if dep in self._dependents:
                    self._dependents[dep].append(name)

    def _check(self, step: str) -> None:
        if step not in self._position:
            raise UnknownStepError(step, self.execution_order)

    def dependents(self, step: str) -> list[str]:
        """Steps that depend directly on ``step``, in execution order."""
        self._check(step)
        return list(self._dependents[step])

    def upstream(self, step: str) -> list[str]:
        """Every step ``step`` depends on, directly or not, in execution order."""
        return self._closure([step], self.dependencies, include_start=False)

    def downstream(self, step: str) -> list[str]:
        """Every step that depends on ``step``, directly or not, in execution order."""
        return self._closure([step], self._dependents, include_start=False)

    def _closure(self, starts: list[str], links: dict[str, list[str]], include_start: bool) -> list[str]:
        for s in starts:
            self._check(s)
        seen: set[str] = set(starts) if include_start else set()
        stack = list(starts)
        while stack:
            for nxt in links[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return sorted(seen, key=self._position.__getitem__)

    def subset(self, from_steps: list[str] | str | None = None,
               to_steps: list[str] | str | None = None) -> PipelineExecutionPlan:
        """The slice of the plan from ``from_steps`` (and what follows) up to ``to_steps`` (and what precedes).

        Dependencies outside the slice stay listed, so the engine can decide where their outputs come from.
        """
        keep = set(self.execution_order)
        if from_steps:
            keep &= set(self._closure(_as_list(from_steps), self._dependents, include_start=True))
        if to_steps:
            keep &= set(self._closure(_as_list(to_steps), self.dependencies, include_start=True))
        order = [s for s in self.execution_order if s in keep]
        return PipelineExecutionPlan(
            execution_order=order,
            step_configs={s: self.step_configs[s] for s in order},
            dependencies={s: list(self.dependencies[s]) for s in order},
            data_flow_map={s: dict(self.data_flow_map[s]) for s in order},
            generations=[g2 for g in self.generations if (g2 := [s for s in g if s in keep])],
            dag=self.dag,
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON-ready data."""
        return {
            "execution_order": list(self.execution_order),
            "generations": [list(g) for g in self.generations],
            "dependencies": {k: list(v) for k, v in self.dependencies.items()},
            "data_flow_map": {k: dict(v) for k, v in self.data_flow_map.items()},
        }


def _as_list(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class PipelineDAGResolver:
    """Resolves a ``PipelineDAG`` into a ``PipelineExecutionPlan``."""

    def __init__(self, dag: PipelineDAG):
        self.dag = dag

    def create_execution_plan(self) -> PipelineExecutionPlan:
        """Order the steps (Kahn's algorithm, declaration order breaks ties) and map the data flow."""
        names = list(self.dag.steps)
        index = {name: i for i, name in enumerate(names)}
        dependencies = {name: self.dag.steps[name].upstream_steps for name in names}
        dependents: dict[str, list[str]] = {name: [] for name in names}
        indegree = dict.fromkeys(names, 0)
        for name, deps in dependencies.items():
            for dep in deps:
                dependents[dep].append(name)
                indegree[name] += 1

        level: dict[str, int] = {}
        ready = [index[n] for n in names if indegree[n] == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = names[heapq.heappop(ready)]
            order.append(name)
            level[name] = 1 + max((level[d] for d in dependencies[name]), default=-1)
            for nxt in dependents[name]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    heapq.heappush(ready, index[nxt])
        if len(order) < len(names):
            raise PipelineCycleError(self._find_cycle(names, dependencies, set(order)),
                                     source=str(self.dag.source) if self.dag.source else None)

        generations: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for name in order:
            generations[level[name]].append(name)
        data_flow_map = {
            name: {inp: f"{spec.producer}:{spec.output}"
                   for inp, spec in self.dag.steps[name].inputs.items() if spec.source}
            for name in order
        }
        return PipelineExecutionPlan(
            execution_order=order,
            step_configs={name: self.dag.resolved(name) for name in order},
            dependencies={name: list(dependencies[name]) for name in order},
            data_flow_map=data_flow_map,
            generations=generations,
            dag=self.dag,
        )

    @staticmethod
    def _find_cycle(names: list[str], dependencies: dict[str, list[str]], done: set[str]) -> list[str]:
        """Walk back along unfinished dependencies until a step repeats: that loop is a cycle."""
        current = next(n for n in names if n not in done)
        path: list[str] = []
        seen: dict[str, int] = {}
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            current = next(d for d in dependencies[current] if d not in done)
        loop = path[seen[current]:]
        loop.reverse()  # we walked against the arrows
        first = min(range(len(loop)), key=lambda i: names.index(loop[i]))
        loop = loop[first:] + loop[:first]  # start at the step declared first
        return [*loop, loop[0]]
