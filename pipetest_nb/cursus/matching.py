"""Binding each consumer input to a producer output by matching logical names.

Cursus DAG edges carry no names: which output of ``preprocess`` feeds which input of ``train`` is
left to name matching. Every way two names can match has a confidence; the best candidate wins,
a tie is ambiguous and a weak resemblance is reported for the user to confirm, never taken silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from pipetest_nb.cursus.contracts import ContractInput, CursusContract, NameHints
from pipetest_nb.exceptions import SpecProblem

#: Confidence of each way an input can match an output, best first. ``semantic`` gains 0.05 for a
#: second shared keyword; ``similarity`` is 0.7 x the similarity ratio of the normalised names.
MATCH_CONFIDENCE = {"exact": 1.0, "alias": 0.95, "semantic": 0.85, "compatible_source": 0.8, "normalised": 0.75}
SIMILARITY_WEIGHT = 0.7
#: Below this ratio two names are not candidates at all; between it and ``min_confidence`` they are
#: reported as a low-confidence binding the user must confirm.
SIMILARITY_FLOOR = 0.5

_SUFFIXES = ("_data", "_path", "_paths", "_output", "_outputs", "_input", "_inputs", "_dir", "_file",
             "_files", "_folder", "_uri")


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
class Producer:
    """An upstream step as matching sees it: its contract, and the names ``compatible_sources`` may use."""

    step: str
    contract: CursusContract
    types: frozenset[str]


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


def match_input(step: str, name: str, spec: ContractInput, contract: CursusContract, producers: list[Producer],
                min_confidence: float) -> Binding | None:
    """The best producer output for one input, or the problem with the best ones; None when no output
    resembles the input at all."""
    candidates: list[tuple[float, str, str]] = []
    dependency = contract.dependency_hints.get(name)
    sources = {s.lower() for s in dependency.compatible_sources} if dependency else set()
    for producer in producers:
        produced = producer.contract
        compatible = bool(sources & producer.types)
        for output in produced.outputs:
            scored = match_score(name, output, dependency, produced.output_hints.get(output), compatible,
                                 len(produced.outputs))
            if scored:
                candidates.append((scored[1], scored[0], f"{producer.step}.{output}"))
    if not candidates:
        return None
    candidates.sort(key=lambda c: -c[0])
    best, kind, source = candidates[0]
    hint = f"bindings: {{{step}.{name}: PRODUCER.OUTPUT}}"
    tied = tuple(c[2] for c in candidates if abs(c[0] - best) < 1e-9)
    if len(tied) > 1:
        return Binding(step, name, "ambiguous", confidence=best, required=spec.required, candidates=tied,
                       problem=f"input '{name}' matches {len(tied)} outputs equally well ({kind}, "
                               f"{best:.2f}): {', '.join(tied)}; choose one with {hint}")
    if best < min_confidence:
        return Binding(step, name, "low_confidence", source=source, confidence=best, required=spec.required,
                       candidates=(source,),
                       problem=f"input '{name}' only resembles '{source}' (similarity {best:.2f} < "
                               f"{min_confidence:.2f}); confirm it with "
                               f"bindings: {{{step}.{name}: {source}}}, or null to leave it unbound")
    return Binding(step, name, kind, source=source, confidence=best, required=spec.required,
                   candidates=tuple(c[2] for c in candidates[1:]))


def unbound_problem(step: str, name: str, contract: CursusContract) -> SpecProblem:
    """A required input that nothing binds, with the three ways to give it data."""
    return SpecProblem(
        f"required input '{name}' is not bound: no upstream step has a matching output and no path was given",
        file=str(contract.file), line=contract.line("input", name), step=step, key=f"inputs.{name}",
        hint=f"give it a path with --input {step}.{name}=PATH or steps.{step}.inputs.{name} in the "
             f"overrides file, or bind it with bindings: {{{step}.{name}: PRODUCER.OUTPUT}}")
