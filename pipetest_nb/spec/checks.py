"""The checks across steps, once each step has been read: bindings and ``depends_on`` name real steps
and outputs, and every edge describes a binding the consumer declares."""

from __future__ import annotations

from typing import Any

from pipetest_nb.spec.documents import line_of
from pipetest_nb.spec.keys import EXPECTATION_FAILURE_ACTIONS
from pipetest_nb.spec.names import suite_name_problem
from pipetest_nb.spec.parse_values import choice
from pipetest_nb.spec.parts import EdgeSpec, StepConfig
from pipetest_nb.spec.problems import Problems, suggest


def check_references(p: Problems, steps: dict[str, StepConfig], raw_steps: dict) -> None:
    """Every binding names a step and one of its outputs; every ``depends_on`` names a step."""
    for name, step in steps.items():
        raw = raw_steps[name]
        for input_name, spec in step.inputs.items():
            if not spec.source:
                continue
            line = line_of(raw.get("inputs"), input_name) if isinstance(raw, dict) else None
            producer, output = spec.producer, spec.output
            if producer not in steps:
                p.problem(f"input '{input_name}' is bound to unknown step '{producer}'", line=line,
                          step=name, key=f"inputs.{input_name}",
                          hint=suggest(producer, steps) or f"steps are: {', '.join(steps)}")
            elif output not in steps[producer].outputs:
                known = list(steps[producer].outputs)
                p.problem(f"input '{input_name}' is bound to '{spec.source}', but step '{producer}' "
                          f"declares no output '{output}'", line=line, step=name,
                          key=f"inputs.{input_name}",
                          hint=suggest(output, known)
                          or (f"its outputs are: {', '.join(known)}" if known else "it declares no outputs"))
        for dep in step.depends_on:
            if dep not in steps:
                p.problem(f"depends_on names unknown step '{dep}'",
                          line=line_of(raw, "depends_on") if isinstance(raw, dict) else None, step=name,
                          key="depends_on", hint=suggest(dep, steps) or f"steps are: {', '.join(steps)}")


def parse_edges(p: Problems, raw: Any, steps: dict[str, StepConfig], line: int | None) -> list[EdgeSpec]:
    """The ``edges:`` list; each edge must describe a binding that the consumer's inputs declare."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        p.problem("'edges' must be a list of {from: step.output, to: step.input, ...}", line=line, key="edges")
        return []
    edges = [_edge(p, item, steps, line_of(item) or line) for item in raw]
    return [e for e in edges if e is not None]


def _edge(p: Problems, item: Any, steps: dict[str, StepConfig], line: int | None) -> EdgeSpec | None:
    if not isinstance(item, dict):
        p.problem("each edge must be a mapping {from: step.output, to: step.input}", line=line, key="edges")
        return None
    p.unknown_keys(item, "edge", None, "edge")
    source, target = item.get("from"), item.get("to")
    if not (isinstance(source, str) and "." in source and isinstance(target, str) and "." in target):
        p.problem("an edge needs 'from: producer.output' and 'to: consumer.input'", line=line, key="edges")
        return None
    consumer = target.split(".", 1)[0]
    if not _edge_matches_binding(p, source, target, steps, line):
        return None
    for key in ("expectations", "tables"):
        if item.get(key) is not None and not isinstance(item.get(key), str):
            p.problem(f"edge '{key}' must be a string", line=line, key="edges")
    suite = item.get("expectations")
    why = suite_name_problem(suite) if isinstance(suite, str) else None
    if why:
        p.problem(why, line=line_of(item, "expectations") or line, key="edges",
                  hint="name a suite file in the expectations/ folder, without '.json'")
    action = choice(p, item, "on_expectation_failure", EXPECTATION_FAILURE_ACTIONS, consumer)
    return EdgeSpec(source, target, expectations=suite if isinstance(suite, str) else None,
                    tables=item.get("tables") if isinstance(item.get("tables"), str) else None,
                    on_expectation_failure=action or "fail")


def _edge_matches_binding(p: Problems, source: str, target: str, steps: dict[str, StepConfig],
                          line: int | None) -> bool:
    consumer, input_name = target.split(".", 1)
    if consumer not in steps:
        p.problem(f"edge to unknown step '{consumer}'", line=line, key="edges", hint=suggest(consumer, steps))
        return False
    spec = steps[consumer].inputs.get(input_name)
    if spec is None:
        p.problem(f"edge to '{target}', but step '{consumer}' has no input '{input_name}'", line=line,
                  step=consumer, key="edges", hint=suggest(input_name, steps[consumer].inputs))
        return False
    if spec.source != source:
        p.problem(f"edge from '{source}' to '{target}', but that input is "
                  + (f"bound to '{spec.source}'" if spec.source else "an external path"),
                  line=line, step=consumer, key="edges",
                  hint="an edge describes a binding declared in the consumer's inputs")
        return False
    return True
