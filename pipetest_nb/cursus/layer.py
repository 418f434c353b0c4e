"""Cursus pipelines as they are: the DAG JSON, the configuration JSON and the script contracts.

Cursus (the SageMaker pipeline generator) describes a pipeline in three places: a DAG whose edges
carry no names, a configuration (fields shared by every step, under per-step fields) and one
contract per script (logical inputs and outputs, env vars, job arguments). This facade reads all
three without importing Cursus or any script, binds every consumer input to a producer output by
matching logical names, checks each script against its contract with a static ``ast`` scan, and
builds a normal ``PipelineDAG`` whose steps run in ``main`` mode.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipetest_nb.cursus.checks import (
    ContractFinding,
    ContractValidationResult,
    config_findings,
    script_findings,
)
from pipetest_nb.cursus.contracts import ContractIndex, ContractInput, CursusContract
from pipetest_nb.cursus.documents import absolute, fail, read_cursus_config, read_cursus_dag
from pipetest_nb.cursus.environment import ENV_ALIASES, CursusEnvironment
from pipetest_nb.cursus.matching import Binding, Producer, match_input, unbound_problem
from pipetest_nb.cursus.overrides import CursusOverrides, read_overrides
from pipetest_nb.cursus.scan import ScriptUsage, scan_script
from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.spec.parts import StepConfig
from pipetest_nb.text import did_you_mean

#: Bindings below this confidence are reported for the user to confirm instead of being taken.
DEFAULT_MIN_CONFIDENCE = 0.5


class CursusIntegrationLayer:
    """A Cursus pipeline (DAG, configuration, contracts) seen as a pipetest pipeline.

    Paths in the configuration are relative to its file (or ``source_root``); contracts are looked
    up in ``contracts_dir``, else beside each script. The config class sources (``cursus_src``, else
    an installed ``cursus`` package, never imported) give env vars and job arguments as Cursus does.
    """

    def __init__(self, dag: Any, config: str | os.PathLike | Mapping[str, Any],
                 contracts_dir: str | os.PathLike | None = None,
                 overrides: str | os.PathLike | Mapping[str, Any] | None = None,
                 inputs: Mapping[str, str | os.PathLike] | None = None,
                 source_root: str | os.PathLike | None = None, *,
                 env_aliases: Mapping[str, tuple[str, ...]] | None = None,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, cursus_src: str | os.PathLike | None = None):
        self.dag = read_cursus_dag(dag)
        self.config = read_cursus_config(config)
        self.overrides = read_overrides(overrides, inputs)
        base = self.config.file.parent if self.config.file else Path.cwd()
        self.source_root = Path(source_root).absolute() if source_root is not None else base
        self.contracts_dir = Path(contracts_dir).absolute() if contracts_dir is not None else None
        self.env_aliases = {**ENV_ALIASES, **(env_aliases or {})}
        #: env vars and job arguments as Cursus computes them, from the config class sources
        self.environment = CursusEnvironment(self.config, cursus_src, self.env_aliases)
        self.min_confidence = min_confidence
        self._indexes: dict[Path, ContractIndex] = {}
        self._scans: dict[Path, ScriptUsage] = {}
        self._check_names()

    # -- what the files say ------------------------------------------------------------------------

    @property
    def steps(self) -> list[str]:
        return list(self.dag.nodes)

    def _check_names(self) -> None:
        where = str(self.config.file) if self.config.file else None
        problems = [SpecProblem(f"DAG node '{node}' has no entry in configuration.specific", file=where,
                                step=node, hint=did_you_mean(node, self.config.specific)
                                or "add its fields under configuration.specific")
                    for node in self.dag.nodes if node not in self.config.specific]
        if not self.config.specific:  # one problem that says why, not one per node
            problems = [SpecProblem(f"configuration.specific is empty: none of the DAG's {len(self.dag.nodes)} "
                                    f"nodes has a config ({', '.join(self.dag.nodes)})", file=where,
                                    key="configuration.specific", hint="save the config with every step's fields")]
        over = str(self.overrides.file) if self.overrides.file else None
        for step in self.overrides.steps:
            if step not in self.dag.nodes:
                problems.append(SpecProblem(f"overrides name unknown step '{step}'", file=over, step=step,
                                            hint=did_you_mean(step, self.dag.nodes)))
        for target, source in self.overrides.bindings.items():
            for end in (target, source):
                if end and end.split(".", 1)[0] not in self.dag.nodes:
                    problems.append(SpecProblem(f"binding '{target}: {source}' names unknown step "
                                                f"'{end.split('.', 1)[0]}'", file=over, key="bindings",
                                                hint=did_you_mean(end.split(".", 1)[0], self.dag.nodes)))
        fail(problems, self.config.file)

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
            return absolute(self.source_root, fields["script_path"])
        entry, folder = None, None
        if fields.get("processing_entry_point"):
            entry = fields["processing_entry_point"]
            folder = fields.get("processing_source_dir") or fields.get("source_dir")
        elif fields.get("entry_point"):
            entry = fields["entry_point"]
            folder = fields.get("source_dir") or fields.get("processing_source_dir")
        if entry and folder:
            return absolute(absolute(self.source_root, folder), entry)
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
            self._indexes[folder] = ContractIndex(folder)
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
        producers = [Producer(p, self.contract_for(p), frozenset(self.step_types(p)))
                     for p in self.dag.predecessors(step)]
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
                out.append(match_input(step, name, spec, contract, producers, self.min_confidence)
                           or self._unbound(step, name, spec))
        return out

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
                problems.append(unbound_problem(step, b.input, contract))
        given = [(n, "a path") for n in overrides.for_step(step, "inputs")]
        given += [(t.split(".", 1)[1], "a binding") for t in overrides.bindings if t.split(".", 1)[0] == step]
        for name, what in given:
            if name not in contract.inputs:
                problems.append(SpecProblem(
                    f"overrides give {what} for input '{name}', which the contract of step '{step}' does not "
                    "declare", step=step, key=f"inputs.{name}", file=str(overrides.file) if overrides.file else None,
                    hint=did_you_mean(name, contract.inputs)
                    or f"its inputs are: {', '.join(contract.inputs) or 'none'}"))
        fail(problems, None)
        bound = {b.source.split(".", 1)[0] for b in bindings if b.source and b.ok}
        env, args = self.environment.env_and_args(step, contract, overrides.for_step(step, "env"),
                                                  overrides.for_step(step, "args"))
        raw: dict[str, Any] = {"script": str(self.script_for(step)), "mode": "main", "inputs": inputs,
                               "outputs": {name: {} for name in contract.outputs}, "env": env, "args": args}
        depends = [p for p in self.dag.predecessors(step) if p not in bound]
        if depends:
            raw["depends_on"] = depends
        config_type = (self.config.metadata.get("config_types") or {}).get(step)
        if isinstance(config_type, str):
            raw["description"] = f"Cursus step ({config_type})"
        return raw

    def _merged_overrides(self, pipeline_config: Mapping[str, Any] | None) -> CursusOverrides:
        if not pipeline_config:
            return self.overrides
        return self.overrides.merged(read_overrides(pipeline_config))

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
        fail(problems, self.dag.file)
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
            fail(self._binding_problems(self.bindings_for(step, overrides)), None)
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
        findings = config_findings(step_name, contract, config, self.env_aliases)
        findings += script_findings(step_name, contract, config, self.scan(config.script))
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
                findings += self.environment.findings(step, contract, self.overrides.for_step(step, "env"),
                                                      self.overrides.for_step(step, "args"))
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
                         min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                         cursus_src: str | os.PathLike | None = None) -> PipelineDAG:
    """Read a Cursus pipeline and return it as a ``PipelineDAG`` (steps in ``main`` mode)."""
    return CursusIntegrationLayer(dag, config, contracts_dir, overrides, inputs, source_root,
                                  env_aliases=env_aliases, min_confidence=min_confidence,
                                  cursus_src=cursus_src).to_pipeline()
