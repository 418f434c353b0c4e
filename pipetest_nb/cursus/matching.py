"""Binding each consumer input to a producer output exactly as Cursus's pipeline assembler does.

Cursus DAG edges carry no names: which output of ``preprocess`` feeds which input of ``train`` is
decided at build time by scoring every (dependency, output) pair on a DAG edge (types, data types,
name similarity, ``compatible_sources``, ``semantic_keywords``), keeping scores above 0.5 and walking
the candidates required-first, best first, with one output feeding at most one input of a consumer.
A test is only worth something if it runs the wiring SageMaker will run, so the same rules are
applied here; on top of them a weak binding is flagged and a tie broken only by declaration order
is an error the user settles with an override.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from pipetest_nb.cursus.contracts import CursusContract
from pipetest_nb.cursus.specs import DependencySpec, OutputSpec, StepSpec
from pipetest_nb.exceptions import SpecProblem

#: Cursus keeps a candidate only when its score is strictly above this.
THRESHOLD = 0.5
#: A binding Cursus makes below this score is made, and reported as probably unintended.
LOW_SCORE = 0.6
#: Dependency type -> the output types it accepts besides its own (which scores more).
TYPE_COMPATIBLE = {
    "model_artifacts": ("model_artifacts",),
    "training_data": ("processing_output", "training_data"),
    "processing_output": ("processing_output", "training_data"),
    "hyperparameters": ("hyperparameters", "custom_property"),
    "payload_samples": ("payload_samples", "processing_output"),
    "custom_property": ("custom_property",),
}
DATA_TYPE_COMPATIBLE = {"S3Uri": ("S3Uri", "String"), "String": ("String", "S3Uri"),
                        "Integer": ("Integer", "Float"), "Float": ("Float", "Integer"), "Boolean": ("Boolean",)}
SYNONYMS = (
    ("model", "artifact", "trained", "output"),
    ("data", "dataset", "input", "processed", "training"),
    ("config", "configuration", "params", "parameters", "hyperparameters", "settings"),
    ("payload", "sample", "test", "inference", "example"),
    ("output", "result", "artifact", "generated", "produced"),
    ("training", "train", "fit", "learn"),
    ("preprocessing", "preprocess", "processed", "clean", "transform"),
)
ABBREVIATIONS = {"config": "configuration", "params": "parameters", "hyperparams": "hyperparameters",
                 "preprocess": "preprocessing", "eval": "evaluation", "reg": "registration", "pkg": "package",
                 "packaged": "package"}
STOP_WORDS = frozenset({"the", "a", "an", "and", "or", "but", "in", "on", "at", "to", "for", "of", "with", "by"})
#: Old step names a ``compatible_sources`` list may still use, by the step type they mean.
LEGACY_ALIASES = {"MIMSPackaging": "Package", "MIMSPayload": "Payload", "ModelRegistration": "Registration",
                  "PytorchTraining": "PyTorchTraining", "PytorchModel": "PyTorchModel"}
_JOB_TYPE_SUFFIXES = ("_Training", "_Testing", "_Validation", "_Calibration")


@dataclass(frozen=True)
class Binding:
    """How one input of one step gets its data, and how sure the matching is.

    ``kind`` is one of exact, alias, similarity, compatible_source, type (bound by Cursus's score,
    named after what carried it: the name, an alias, a close name, a listed producer, the types alone), override (from ``bindings:``), path (external data), empty (optional: an empty
    folder), omitted (optional, left out), unbound, ambiguous, low_confidence (problems).
    ``warning`` flags a binding Cursus makes that is probably unintended.
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
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Producer:
    """An upstream step as the assembler sees it: its spec and its step type.

    ``step_type`` is the interface's own; a contract without one is matched against ``names``
    (the node's base name and config class), without case.
    """

    step: str
    spec: StepSpec
    step_type: str | None = None
    names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    """One viable (dependency, producer output) pair and its score."""

    dependency: str
    producer: str
    output: str
    score: float
    required: bool

    @property
    def source(self) -> str:
        return f"{self.producer}.{self.output}"


def normalise_name(name: str) -> str:
    """``Processed-Data_Config`` -> ``processed data configuration``: Cursus's form before comparing."""
    text = re.sub(r"[^a-z0-9\s]", "", re.sub(r"[_\-.]", " ", name.lower()))
    return " ".join(w for w in (ABBREVIATIONS.get(w, w) for w in text.split()) if w not in STOP_WORDS)


def _synonyms(left: str, right: str) -> bool:
    return any(left in group and right in group for group in SYNONYMS)


def _substring(left: str, right: str) -> float:
    if left in right or right in left:
        return min(len(left), len(right)) / max(len(left), len(right))
    best = 0.0
    for a in left.split():
        for b in right.split():
            if len(a) >= 3 and len(b) >= 3 and (a in b or b in a):
                best = max(best, min(len(a), len(b)) / max(len(a), len(b)))
    return best


def name_similarity(left: str, right: str) -> float:
    """Cursus's semantic similarity of two names, 0..1: string, token, synonym and substring scores."""
    if not left or not right:
        return 0.0
    a, b = normalise_name(left), normalise_name(right)
    if a == b:
        return 1.0
    tokens_a, tokens_b = set(a.split()), set(b.split())
    union = tokens_a | tokens_b
    token = len(tokens_a & tokens_b) / len(union) if tokens_a and tokens_b else 0.0
    pairs = [(x, y) for x in tokens_a for y in tokens_b]
    synonym = sum(1.0 if x == y else 0.8 if _synonyms(x, y) else 0.0 for x, y in pairs) / len(pairs) if pairs else 0.0
    return 0.3 * SequenceMatcher(None, a, b).ratio() + 0.25 * token + 0.25 * synonym + 0.2 * _substring(a, b)


def normalise_step_type(step_type: str, known: Iterable[str] = ()) -> str:
    """``TabularPreprocessing_Training`` -> ``TabularPreprocessing``: a known step type before its first
    ``_``, else the name without a job-type suffix."""
    base = step_type.split("_", 1)[0]
    if base in set(known):
        return base
    for suffix in _JOB_TYPE_SUFFIXES:
        if step_type.endswith(suffix):
            return step_type[: -len(suffix)]
    return step_type


def source_listed(step_type: str, sources: Iterable[str]) -> bool:
    """Whether a ``compatible_sources`` list names a producer of ``step_type``: exactly, by a legacy
    alias, or with a trailing ``Step`` on either side (``Payload`` is ``PayloadStep``)."""
    sources = tuple(sources)
    if step_type in sources:
        return True
    equivalents = {step_type, f"{step_type}Step"} | {old for old, new in LEGACY_ALIASES.items() if new == step_type}
    bare = step_type.removesuffix("Step")
    return any(s in equivalents or s.removesuffix("Step") == bare for s in sources)


def _producer_listed(dependency: DependencySpec, producer: Producer) -> bool:
    if producer.step_type:
        return source_listed(normalise_step_type(producer.step_type), dependency.compatible_sources)
    return bool({s.lower() for s in dependency.compatible_sources} & producer.names)


def compatibility(dependency: DependencySpec, output: OutputSpec, producer: Producer) -> float:
    """Cursus's score of feeding ``output`` of ``producer`` into ``dependency``, 0..1."""
    if dependency.type == output.type:
        score = 0.4
    elif output.type in TYPE_COMPATIBLE.get(dependency.type, ()):
        score = 0.2
    else:
        return 0.0
    if dependency.data_type == output.data_type:
        score += 0.2
    elif output.data_type in DATA_TYPE_COMPATIBLE.get(dependency.data_type, (dependency.data_type,)):
        score += 0.1
    score += 0.25 * max(name_similarity(dependency.name, n) for n in (output.name, *output.aliases))
    if dependency.name == output.name or dependency.name in output.aliases:
        score += 0.05
    if dependency.compatible_sources:
        score += 0.1 if _producer_listed(dependency, producer) else -0.1
    if dependency.semantic_keywords:
        hits = sum(1 for k in dependency.semantic_keywords if k.lower() in output.name.lower())
        score += 0.05 * hits / len(dependency.semantic_keywords)
    return min(score, 1.0)


def candidates(spec: StepSpec, producers: list[Producer]) -> list[Candidate]:
    """Every viable pair, in Cursus's collection order: grouped by dependency in the order each first
    got one (DAG edge order, then declaration order); within one, by edge then output order."""
    grouped: dict[str, list[Candidate]] = {}
    for producer in producers:
        for dependency in spec.dependencies.values():
            for output in producer.spec.outputs.values():
                score = compatibility(dependency, output, producer)
                if score > THRESHOLD:
                    grouped.setdefault(dependency.name, []).append(
                        Candidate(dependency.name, producer.step, output.name, score, dependency.required))
    return [c for group in grouped.values() for c in group]


@dataclass(frozen=True)
class Choice:
    """What the walk gave one dependency: the candidate, the others it had, and an equal one it beat
    only by declaration order."""

    candidate: Candidate
    others: tuple[Candidate, ...]
    tied: tuple[Candidate, ...] = ()


def assign(spec: StepSpec, producers: list[Producer], fixed: Mapping[str, str | None] | None = None) -> dict[str, Choice]:
    """The assembler's greedy walk for one consumer: required first, then best score (stable), each
    producer output feeding at most one dependency. ``fixed`` maps the dependencies the user settled
    (a source, or None for a path) and are left out of the walk; their sources count as taken."""
    fixed = fixed or {}
    work = [c for c in candidates(spec, producers) if c.dependency not in fixed]
    work.sort(key=lambda c: (0 if c.required else 1, -c.score))
    taken = {s for s in fixed.values() if s}
    chosen: dict[str, Choice] = {}
    for candidate in work:
        if candidate.dependency in chosen or candidate.source in taken:
            continue
        rest = tuple(c for c in work if c.dependency == candidate.dependency and c is not candidate)
        tied = tuple(c for c in rest if c.source not in taken and abs(c.score - candidate.score) < 1e-9)
        chosen[candidate.dependency] = Choice(candidate, rest, tied)
        taken.add(candidate.source)
    return chosen


def _kind(dependency: DependencySpec, producer: Producer, output: OutputSpec) -> str:
    if dependency.name == output.name:
        return "exact"
    if dependency.name in output.aliases:
        return "alias"
    if max(name_similarity(dependency.name, n) for n in (output.name, *output.aliases)) >= 0.5:
        return "similarity"
    if dependency.compatible_sources and _producer_listed(dependency, producer):
        return "compatible_source"
    return "type"


def binding_of(step: str, dependency: DependencySpec, choice: Choice, producers: list[Producer],
               min_confidence: float) -> Binding:
    """The binding Cursus makes for one input, with the problem or warning pipetest adds."""
    c, name = choice.candidate, dependency.name
    producer = next(p for p in producers if p.step == c.producer)
    kind = _kind(dependency, producer, producer.spec.outputs[c.output])
    score = round(c.score, 4)
    others = tuple(o.source for o in choice.others)
    if choice.tied:
        tied = (c.source, *(t.source for t in choice.tied))
        return Binding(step, name, "ambiguous", confidence=score, required=c.required, candidates=tied,
                       problem=f"input '{name}' scores {score:.2f} with {len(tied)} outputs: {', '.join(tied)}; "
                               f"Cursus takes {c.source} only because it is declared first. Choose one in the "
                               f"overrides file: bindings: {{{step}.{name}: {c.source}}}")
    if score < min_confidence:
        return Binding(step, name, "low_confidence", source=c.source, confidence=score, required=c.required,
                       candidates=(c.source,),
                       problem=f"input '{name}' only resembles '{c.source}' (score {score:.2f} < "
                               f"{min_confidence:.2f}); confirm it with "
                               f"bindings: {{{step}.{name}: {c.source}}}, or null to leave it unbound")
    warning = None
    if score < LOW_SCORE:
        warning = (f"Cursus will bind {step}.{name} to {c.source} with score {score:.2f}: probably unintended; "
                   f"confirm it with bindings: {{{step}.{name}: {c.source}}}, or give the input a path")
    return Binding(step, name, kind, source=c.source, confidence=score, required=c.required, candidates=others,
                   warning=warning)


def unbound_problem(step: str, name: str, contract: CursusContract) -> SpecProblem:
    """A required input that nothing binds, with the three ways to give it data."""
    return SpecProblem(
        f"required input '{name}' is not bound: no upstream step has a matching output and no path was given",
        file=str(contract.file), line=contract.line("input", name), step=step, key=f"inputs.{name}",
        hint=f"give it a path with --input {step}.{name}=PATH or steps.{step}.inputs.{name} in the "
             f"overrides file, or bind it with bindings: {{{step}.{name}: PRODUCER.OUTPUT}}")
