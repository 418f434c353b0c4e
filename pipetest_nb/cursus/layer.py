"""Cursus pipelines as they are: the DAG JSON, the configuration JSON and the script contracts.

Cursus (the SageMaker pipeline generator) describes a pipeline in three places: a DAG whose edges
carry no names, a configuration (fields shared by every step, under per-step fields) and one
contract per script (logical inputs and outputs, env vars, job arguments). This facade reads all
three without importing Cursus or any script, binds every consumer input to a producer output as
Cursus's assembler does, checks each script against its contract with a static ``ast`` scan, and builds a normal ``PipelineDAG`` whose steps run in ``main`` mode.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipetest_nb.cursus.build_inputs import build_input, config_sources, write_build_input
from pipetest_nb.cursus.checks import (
    ContractFinding,
    ContractValidationResult,
    config_findings,
    missing_script_finding,
    script_findings,
)
from pipetest_nb.cursus.contracts import ContractIndex, ContractInput, CursusContract, read_step_interface
from pipetest_nb.cursus.documents import fail, read_cursus_config, read_cursus_dag
from pipetest_nb.cursus.environment import ENV_ALIASES, CursusEnvironment
from pipetest_nb.cursus.external import external_problems, external_step_dict
from pipetest_nb.cursus.matching import Binding, Producer, assign, binding_of, unbound_problem
from pipetest_nb.cursus.overrides import CursusOverrides, read_overrides
from pipetest_nb.cursus.scan import ScriptUsage, scan_script
from pipetest_nb.cursus.scripts import SDK_PACKAGE, ScriptFinder, interface_requires, interfaces_by_step_type
from pipetest_nb.cursus.specs import node_step_name
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
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, cursus_src: str | os.PathLike | None = None,
                 build_dir: str | os.PathLike | None = None):
        self.dag = read_cursus_dag(dag)
        self.config = read_cursus_config(config)
        self.overrides = read_overrides(overrides, inputs)
        base = self.config.file.parent if self.config.file else Path.cwd()
        self.source_root = Path(source_root).absolute() if source_root is not None else base
        self.contracts_dir = Path(contracts_dir).absolute() if contracts_dir is not None else None
        roots = [self.source_root, *([self.contracts_dir.parent / "scripts"] if self.contracts_dir else [])]
        self._finder = ScriptFinder(self.source_root, roots)
        #: step -> where its script was found, when not where the configuration says
        self.script_notes: dict[str, str] = {}
        #: where the inputs Cursus makes from config fields are written (default: a temporary folder)
        self._build_dir = Path(build_dir).absolute() if build_dir is not None else None
        #: "STEP.INPUT" -> how an input was made from a config field, or why it could not be
        self.build_notes: dict[str, str] = {}
        self._typed: dict[str, Path] | None = None
        self._interfaces: dict[tuple[Path, str | None], CursusContract] = {}
        self._sdk: dict[str, bool] = {}
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
        """The script of a step, in Cursus's order of portability: a source folder + entry point
        (``processing_*``, ``training_entry_point``, ``entry_point``), then ``script_path`` /
        ``full_script_path``. Relative paths start at ``source_root``; one that does not exist is looked
        up by file name there and in the contracts folder's sibling ``scripts`` (``script_notes`` says so)."""
        if isinstance(step_config, StepConfig):
            return step_config.script
        choice = self._finder.find(step_config, step, str(self.config.file) if self.config.file else None)
        if choice.note and step:
            self.script_notes[step] = choice.note
        return choice.path

    def script_for(self, step: str) -> Path:
        """The overrides' ``script:`` for the step, else the one its configuration names."""
        if step in self.overrides.scripts:
            return self.overrides.scripts[step]
        return self.get_script_path(self.step_fields(step), step=step)

    def step_type(self, step: str) -> str:
        """The step's Cursus step type (``CradleDataLoading``): its config class without ``Config``."""
        config_type = (self.config.metadata.get("config_types") or {}).get(step)
        return config_type.removesuffix("Config") if isinstance(config_type, str) else step.split("_", 1)[0]

    def _typed_interface(self, step: str) -> Path | None:
        """The ``.step.yaml`` of the step's type in ``contracts_dir``, if there is one."""
        if self.contracts_dir is None:
            return None
        if self._typed is None:
            self._typed = interfaces_by_step_type(self.contracts_dir)
        return self._typed.get(self.step_type(step))

    def is_external(self, step: str) -> bool:
        """Whether the step runs no script: the overrides say ``external``, or its interface requires the
        workflow SDK (CradleDataLoading, RedshiftDataLoading, Registration, DataUploading)."""
        if step in self.overrides.external:
            return self.overrides.external[step]
        if step not in self._sdk:
            file = self._typed_interface(step)
            self._sdk[step] = file is not None and interface_requires(file) == SDK_PACKAGE
        return self._sdk[step]

    def provided_outputs(self, step: str, overrides: CursusOverrides | None = None) -> dict[str, Path]:
        """The folders the user gives for an external step's outputs (``--input STEP.OUTPUT=PATH`` or the
        overrides' ``steps.STEP.outputs``)."""
        overrides = overrides or self.overrides
        return {**overrides.for_step(step, "inputs"), **overrides.for_step(step, "outputs")}

    def contract_for(self, step: str) -> CursusContract:
        """The contract of the step's script: by ``entry_point`` or by file name (``<script>.step.yaml``,
        ``<script>_contract.py``), in ``contracts_dir`` or beside the script; an external step's is the
        interface of its step type."""
        if self.is_external(step) and self._typed_interface(step) is not None:
            key = (self._typed_interface(step), self.job_type(step))
            if key not in self._interfaces:
                self._interfaces[key] = read_step_interface(*key)
            return self._interfaces[key]
        script = self.script_for(step)
        folder = self.contracts_dir or script.parent
        if folder not in self._indexes:
            self._indexes[folder] = ContractIndex(folder)
        contract = self._indexes[folder].find(script, node_step_name(step), self.job_type(step))
        if contract is None:
            raise PipelineSpecError([SpecProblem(
                f"no contract for script '{script.name}' in {folder}", step=step, file=str(script),
                hint=f"write {folder / (script.stem + '.step.yaml')} with a 'contract:' section, or pass the "
                     "folder of the contracts (--contracts DIR)")])
        return contract

    def job_type(self, step: str) -> str | None:
        """The job type whose ``variants:`` entry the step's interface takes: its config's ``job_type``,
        else the node name's suffix (``TabularPreprocessing_calibration``)."""
        value = self.step_fields(step).get("job_type")
        if isinstance(value, str) and value:
            return value
        return step.split("_", 1)[1] if "_" in step else None

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

    def producers(self, step: str) -> list[Producer]:
        """The step's DAG predecessors, in edge order, as the assembler scores them."""
        return [Producer(p, self.contract_for(p).spec, self.contract_for(p).spec.step_type,
                         frozenset(self.step_types(p))) for p in self.dag.predecessors(step)]

    def assembler_bindings(self, step: str, settled: Mapping[str, str | None] | None = None) -> dict[str, Binding]:
        """What Cursus's assembler wires into each spec dependency of the step (an external step's too),
        with pipetest's warnings and problems; the ``settled`` ones (given a source or a path) are left out."""
        spec, producers = self.contract_for(step).spec, self.producers(step)
        chosen = assign(spec, producers, settled)
        return {name: binding_of(step, spec.dependencies[name], choice, producers, self.min_confidence)
                for name, choice in chosen.items()}

    def bindings_for(self, step: str, overrides: CursusOverrides | None = None) -> list[Binding]:
        """How each input of the step gets its data; none for an external step (it reads nothing)."""
        overrides = overrides or self.overrides
        if self.is_external(step):
            return []
        contract = self.contract_for(step)
        paths = overrides.for_step(step, "inputs")
        settled = {name: overrides.bindings.get(f"{step}.{name}") for name in contract.spec.dependencies
                   if name in paths or f"{step}.{name}" in overrides.bindings}
        chosen = self.assembler_bindings(step, settled)
        out = []
        for name, spec in contract.inputs.items():
            target = f"{step}.{name}"
            if name in paths:
                out.append(Binding(step, name, "path", path=paths[name], required=spec.required))
            elif target in overrides.bindings:
                source = overrides.bindings[target]
                out.append(self._unbound(step, name, spec) if source is None else
                           Binding(step, name, "override", source=source, confidence=1.0, required=spec.required))
            elif name in chosen:
                out.append(chosen[name])
            else:
                out.append(self._from_config(step, name, spec) or self._unbound(step, name, spec))
        return out

    @property
    def build_dir(self) -> Path:
        """The folder owned by pipetest where config-made inputs are written, never the user's tree."""
        if self._build_dir is None:
            self._build_dir = Path(tempfile.mkdtemp(prefix="pipetest-cursus-inputs-"))
            atexit.register(shutil.rmtree, self._build_dir, True)
        return self._build_dir

    @build_dir.setter
    def build_dir(self, folder: str | os.PathLike) -> None:
        """Where the inputs built from here on go (``cursus run``: its workspace, once checked)."""
        self._build_dir = Path(folder).absolute()

    def _from_config(self, step: str, name: str, spec: ContractInput) -> Binding | None:
        """The input as Cursus's builder makes it from a config field: files written, or a path bound."""
        contract = self.contract_for(step)
        built = build_input(step, name, self.step_type(step), self.step_fields(step),
                            config_sources(contract.file),
                            (self.source_root, *([self.config.file.parent] if self.config.file else [])))
        if built is None:
            return None
        self.build_notes[f"{step}.{name}"] = built.note
        if built.remote is not None:
            return None
        return Binding(step, name, "path", path=write_build_input(built, self.build_dir), required=spec.required)

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

    # -- external steps ----------------------------------------------------------------------------

    def _stub(self, step: str, overrides: CursusOverrides) -> dict[str, Any]:
        """A producer of the step ``_resolve`` builds, with every output its contract declares."""
        outputs = self.contract_for(step).outputs
        if not self.is_external(step):
            return {"script": str(self.script_for(step)), "mode": "main", "outputs": {n: {} for n in outputs}}
        given = {n: p for n, p in self.provided_outputs(step, overrides).items() if p.exists()}
        # only the consumer is kept: an output nobody gave yet stands in as the source root
        return {"external": True, "outputs": {n: {"path": str(given.get(n, self.source_root))} for n in outputs}}

    def _read_by_consumer(self, b: Binding, overrides: CursusOverrides) -> bool:
        """False for a binding to an external step's output that nobody provides."""
        producer, _, output = (b.source or "").partition(".")
        return not self.is_external(producer) or output in self.provided_outputs(producer, overrides)

    # -- building the pipeline ---------------------------------------------------------------------

    def _step_dict(self, step: str, overrides: CursusOverrides, strict: bool) -> dict[str, Any]:
        if self.is_external(step):
            return external_step_dict(self, step, overrides, strict)
        contract = self.contract_for(step)
        bindings = [b if b.required or not b.source or self._read_by_consumer(b, overrides)
                    else self._unbound(step, b.input, contract.inputs[b.input])
                    for b in self.bindings_for(step, overrides)]  # an optional input of data not given: none
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
                problem = unbound_problem(step, b.input, contract)
                note = self.build_notes.get(f"{step}.{b.input}")  # an s3:// config field, not fetched
                problems.append(replace(problem, hint=f"{note}; or {problem.hint}") if note else problem)
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
            steps[producer] = self._stub(producer, overrides)
        return PipelineDAG.from_dict({"name": self.pipeline_name, "steps": steps},
                                     base_dir=self.source_root).steps[step]

    # -- contract checks ---------------------------------------------------------------------------

    def validate_step_contract(self, step_name: str, config: StepConfig | None = None) -> ContractValidationResult:
        """Check a step's configuration and script against its contract: required env vars, job
        arguments and inputs are provided; the names the script reads are declared and used."""
        contract = self.contract_for(step_name)
        if config is None and not self.script_for(step_name).is_file():
            return ContractValidationResult([missing_script_finding(step_name, self.script_for(step_name),
                                                                    self.source_root, self.config.file)])
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
                if self.is_external(step):
                    findings += [ContractFinding("error", "external_data", step, p.message, p.key, p.file, p.line,
                                                 p.hint) for p in external_problems(self, step, self.overrides)]
                    continue
                bindings = self.bindings_for(step)
                unsure = {b.input: b for b in bindings if b.problem}
                contract = self.contract_for(step)
                findings += [ContractFinding("error", f"{b.kind}_binding", step, b.problem, b.input,
                                             str(contract.file), contract.line("input", b.input))
                             for b in unsure.values()]
                findings += [ContractFinding("warning", "low_score_binding", step, b.warning, b.input,
                                             str(contract.file), contract.line("input", b.input))
                             for b in bindings if b.warning]
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
                if step in self.script_notes:
                    findings.append(ContractFinding("warning", "script_found_by_name", step, self.script_notes[step],
                                                    "script", str(self.config.file) if self.config.file else None,
                                                    hint=f"set steps.{step}.script in the overrides to choose it"))
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
