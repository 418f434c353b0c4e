"""External Cursus steps: they run no script (an SDK step such as CradleDataLoading, or one the overrides
mark ``external``), so their outputs are folders the user provides.

Every folder a consumer's required input reads must be given, and must exist, before anything runs;
the error names the step, the output and the ``--input`` to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipetest_nb.cursus.documents import fail
from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.text import did_you_mean

if TYPE_CHECKING:
    from pipetest_nb.cursus.contracts import CursusContract
    from pipetest_nb.cursus.documents import CursusDAG
    from pipetest_nb.cursus.matching import Binding
    from pipetest_nb.cursus.overrides import CursusOverrides


class CursusPipeline(Protocol):
    """What deciding about an external step needs of the pipeline (``CursusIntegrationLayer`` has it)."""

    dag: CursusDAG

    def step_type(self, step: str) -> str: ...
    def contract_for(self, step: str) -> CursusContract: ...
    def provided_outputs(self, step: str, overrides: CursusOverrides | None = None) -> dict[str, Path]: ...
    def bindings_for(self, step: str, overrides: CursusOverrides | None = None) -> list[Binding]: ...


def needed_outputs(layer: CursusPipeline, step: str, overrides: CursusOverrides) -> dict[str, list[str]]:
    """The external step's outputs that a required input of a consumer reads, with those inputs."""
    needed: dict[str, list[str]] = {}
    for consumer in dict.fromkeys(dst for src, dst in layer.dag.edges if src == step):
        try:
            bindings = layer.bindings_for(consumer, overrides)
        except PipelineSpecError:
            continue  # reported under the consumer's own name
        for b in bindings:
            if b.source and b.ok and b.required and b.source.split(".", 1)[0] == step:
                needed.setdefault(b.source.split(".", 1)[1], []).append(f"{consumer}.{b.input}")
    return needed


def external_problems(layer: CursusPipeline, step: str, overrides: CursusOverrides) -> list[SpecProblem]:
    """A provided folder that is missing or names no output; a needed output that nobody provides."""
    contract, provided = layer.contract_for(step), layer.provided_outputs(step, overrides)
    where = str(overrides.file) if overrides.file else None
    problems = []
    for name, path in provided.items():
        if name not in contract.outputs:
            problems.append(SpecProblem(
                f"a folder is given for '{name}', which is not an output of external step '{step}'", file=where,
                step=step, key=f"outputs.{name}", hint=did_you_mean(name, contract.outputs)
                or f"its outputs are: {', '.join(contract.outputs) or 'none'}"))
        elif not path.exists():
            problems.append(SpecProblem(f"the folder given for output '{name}' of external step '{step}' does "
                                        f"not exist: {path}", file=where, step=step, key=f"outputs.{name}",
                                        hint="create it with the step's data, or give another folder"))
    for name, readers in needed_outputs(layer, step, overrides).items():
        if name not in provided:
            problems.append(SpecProblem(
                f"external step '{step}' does not run (its work is not a script): its output '{name}', which "
                f"{', '.join(readers)} reads, is data you provide", step=step, key=f"outputs.{name}",
                hint=f"pass --input {step}.{name}=FOLDER, or set steps.{step}.outputs.{name}: FOLDER in the "
                     "overrides"))
    return problems


def external_step_dict(layer: CursusPipeline, step: str, overrides: CursusOverrides,
                       strict: bool) -> dict[str, Any]:
    """An external step in the pipeline file's shape: its provided outputs, after its DAG predecessors;
    ``strict`` raises its problems first."""
    if strict:
        fail(external_problems(layer, step, overrides), None)
    outputs = layer.contract_for(step).outputs
    raw: dict[str, Any] = {"external": True, "description": f"Cursus step ({layer.step_type(step)}), external: "
                           "its outputs are data you provide",
                           "outputs": {n: {"path": str(p)} for n, p in layer.provided_outputs(step, overrides)
                                       .items() if n in outputs}}
    if layer.dag.predecessors(step):
        raw["depends_on"] = layer.dag.predecessors(step)
    return raw
