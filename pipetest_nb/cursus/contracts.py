"""Script contracts: ``<script>.step.yaml`` interfaces and Python ``ScriptContract(...)`` calls.

A contract says which logical inputs and outputs, env vars and job arguments a script uses. Both
forms are read as data: YAML with key lines kept, Python with ``ast`` (a contract file imports
Cursus, which need not be installed, so it is never run).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.cursus.documents import env_text, fail, read_yaml_or_json
from pipetest_nb.cursus.specs import StepSpec, completed, read_spec, with_variant
from pipetest_nb.exceptions import PipelineSpecError, SpecProblem

_CONTRACT_CALL = re.compile(r"ScriptContract$")
#: ``ScriptContract`` keywords read as literals; another one that is not a literal is skipped.
_LITERAL_KEYWORDS = ("entry_point", "expected_input_paths", "expected_output_paths", "required_env_vars",
                     "optional_env_vars", "expected_arguments")


@dataclass(frozen=True)
class ContractInput:
    """One logical input of a contract; an optional one may be left unbound."""

    name: str
    path: str | None = None
    required: bool = True


@dataclass(frozen=True)
class JobArgument:
    """A job argument: ``--job_type`` reaches the script as ``job_args.job_type``, from config ``source``."""

    name: str
    flag: str
    source: str
    required: bool = True
    default: Any = None


@dataclass
class CursusContract:
    """One script's contract, from a ``<script>.step.yaml`` interface or a Python ``ScriptContract(...)``."""

    file: Path
    entry_point: str | None = None
    inputs: dict[str, ContractInput] = field(default_factory=dict)
    outputs: dict[str, str | None] = field(default_factory=dict)
    job_arguments: dict[str, JobArgument] = field(default_factory=dict)
    required_env: tuple[str, ...] = ()
    optional_env: dict[str, str] = field(default_factory=dict)
    computed_env: tuple[str, ...] = ()  # computed_env_paths: S3 paths the builder derives at build time
    spec: StepSpec = field(default_factory=StepSpec)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def line(self, kind: str, name: str) -> int | None:
        return self.lines.get((kind, name))


def _as_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(value)


def _job_argument(flag: str, source: str | None, required: bool = True, default: Any = None) -> JobArgument:
    name = flag.lstrip("-").replace("-", "_")
    return JobArgument(name=name, flag=flag if flag.startswith("-") else f"--{flag}", source=source or name,
                       required=required, default=default)


def _line_of(mapping: Any, key: Any = None) -> int | None:
    from pipetest_nb.spec.documents import line_of  # it loads PyYAML: not when pipetest_nb is imported

    return line_of(mapping, key)


def read_step_interface(path: str | os.PathLike, job_type: str | None = None) -> CursusContract:
    """Read a ``<script>.step.yaml`` interface: its ``contract:`` and ``spec:`` sections, with the
    ``variants:`` entry of ``job_type`` merged over them as Cursus's builder of that job type does."""
    path = Path(path).absolute()
    return interface_contract(read_yaml_or_json(path), path, job_type)


def interface_contract(data: Any, path: Path, job_type: str | None = None) -> CursusContract:
    """The contract of an interface already read from ``path``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("contract"), Mapping):
        fail([SpecProblem("a step interface needs a 'contract:' section", file=str(path), key="contract",
                          hint="contract: {entry_point, inputs, outputs, job_arguments, env_vars}")], path)
    data = with_variant(data, job_type)
    reader = _InterfaceReader(path)
    section = data["contract"]
    entry = section.get("entry_point")
    if entry is not None and not isinstance(entry, str):
        reader.problem("'entry_point' must be a file name", section, "entry_point")
    reader.contract.entry_point = entry if isinstance(entry, str) else None
    reader.read_inputs(section, reader.spec_required(data))
    reader.read_outputs(section)
    reader.read_job_arguments(section)
    reader.read_env_vars(section)
    spec = read_spec(data, {n: i.required for n, i in reader.contract.inputs.items()}, reader.problem)
    reader.contract.spec = completed(spec, {n: i.required for n, i in reader.contract.inputs.items()},
                                     reader.contract.outputs)
    fail(reader.problems, path)
    return reader.contract


class _InterfaceReader:
    """Fills one contract from a step interface, collecting every problem to raise them together."""

    def __init__(self, path: Path):
        self.path = path
        self.contract = CursusContract(file=path)
        self.problems: list[SpecProblem] = []

    def problem(self, message: str, mapping: Any, key: str, hint: str | None = None) -> None:
        self.problems.append(SpecProblem(message, file=str(self.path), line=_line_of(mapping, key), key=key,
                                         hint=hint))

    @staticmethod
    def spec_required(data: Mapping[str, Any]) -> dict[str, bool]:
        """The ``required`` flags the spec's dependencies set (a contract input without one takes it)."""
        spec = data.get("spec")
        dependencies = spec.get("dependencies") if isinstance(spec, Mapping) else None
        if not isinstance(dependencies, Mapping):
            return {}
        return {name: raw.get("required") for name, raw in dependencies.items()
                if isinstance(raw, Mapping) and isinstance(raw.get("required"), bool)}

    def read_inputs(self, section: Mapping[str, Any], spec_required: dict[str, bool]) -> None:
        inputs = section.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            self.problem("'inputs' must map a logical name to {path, required}", section, "inputs")
            inputs = {}
        for name, raw in inputs.items():
            self.contract.lines[("input", name)] = _line_of(inputs, name)
            if isinstance(raw, str) or raw is None:
                raw = {"path": raw}
            if not isinstance(raw, Mapping) or not isinstance(raw.get("required", True), bool):
                self.problem(f"input '{name}' must be {{path: ..., required: true|false}}", inputs, name)
                continue
            required = raw.get("required", spec_required.get(name, True))
            self.contract.inputs[str(name)] = ContractInput(str(name), raw.get("path"), required)

    def read_outputs(self, section: Mapping[str, Any]) -> None:
        outputs = section.get("outputs") or {}
        if not isinstance(outputs, Mapping):
            self.problem("'outputs' must map a logical name to {path}", section, "outputs")
            outputs = {}
        for name, raw in outputs.items():
            self.contract.lines[("output", name)] = _line_of(outputs, name)
            self.contract.outputs[str(name)] = raw.get("path") if isinstance(raw, Mapping) else raw

    def read_job_arguments(self, section: Mapping[str, Any]) -> None:
        arguments = section.get("job_arguments") or []
        if not isinstance(arguments, list):
            self.problem("'job_arguments' must be a list of {flag: --name, source: config_field}", section,
                         "job_arguments")
            arguments = []
        for raw in arguments:
            if isinstance(raw, str):
                raw = {"flag": raw}
            if not isinstance(raw, Mapping) or not isinstance(raw.get("flag"), str) or not raw["flag"].strip("-"):
                self.problem(f"a job argument must be {{flag: --name, source: config_field}}, got {raw!r}",
                             section, "job_arguments")
                continue
            arg = _job_argument(raw["flag"], raw.get("source"), bool(raw.get("required", True)),
                                raw.get("default"))
            self.contract.job_arguments[arg.name] = arg
            self.contract.lines[("arg", arg.name)] = _line_of(raw) or _line_of(section, "job_arguments")

    def read_env_vars(self, section: Mapping[str, Any]) -> None:
        env = section.get("env_vars") or {}
        if not isinstance(env, Mapping):
            self.problem("'env_vars' must be {required: [...], optional: {NAME: default}}", section, "env_vars")
            env = {}
        try:
            self.contract.required_env = _as_str_list(env.get("required") or [])
        except ValueError:
            self.problem("'env_vars.required' must be a list of names", env, "required")
        for name in self.contract.required_env:
            self.contract.lines[("env", name)] = _line_of(env, "required")
        optional = env.get("optional") or {}
        if isinstance(optional, list):
            optional = {name: "" for name in optional}
        if not isinstance(optional, Mapping):
            self.problem("'env_vars.optional' must map a name to its default", env, "optional")
            optional = {}
        for name, default in optional.items():
            self.contract.optional_env[str(name)] = env_text(default) or ""
            self.contract.lines[("env", name)] = _line_of(optional, name)
        computed = section.get("computed_env_paths") or {}
        if isinstance(computed, Mapping):
            self.contract.computed_env = tuple(str(name) for name in computed)


def read_python_contracts(path: str | os.PathLike) -> list[CursusContract]:
    """Every ``...ScriptContract(...)`` call in a Python file, read with ``ast`` (nothing is imported)."""
    path = Path(path).absolute()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise PipelineSpecError([SpecProblem(f"Python syntax error: {exc.msg}", file=str(path),
                                             line=exc.lineno)], source=str(path)) from None
    contracts: list[CursusContract] = []
    problems: list[SpecProblem] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if _CONTRACT_CALL.search(func):
            contracts.append(_contract_from_call(node, path, problems))
    fail(problems, path)
    return contracts


def _literal_keywords(node: ast.Call, contract: CursusContract, problems: list[SpecProblem]) -> dict[str, Any]:
    """The call's literal keyword values; each one's line goes into ``contract.lines`` as ``("kw", name)``."""
    values: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            continue
        try:
            values[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            if keyword.arg in _LITERAL_KEYWORDS:
                problems.append(SpecProblem(f"'{keyword.arg}' is not a literal; it cannot be read without "
                                            "running the file", file=str(contract.file), line=keyword.lineno,
                                            key=keyword.arg, hint="write it as a literal dict or list"))
            continue
        contract.lines[("kw", keyword.arg)] = keyword.lineno
    return values


def _contract_from_call(node: ast.Call, path: Path, problems: list[SpecProblem]) -> CursusContract:
    contract = CursusContract(file=path)
    values = _literal_keywords(node, contract, problems)
    line: Callable[[tuple[str, str]], int | None] = contract.lines.get
    contract.entry_point = values.get("entry_point") if isinstance(values.get("entry_point"), str) else None
    for name, container_path in dict(values.get("expected_input_paths") or {}).items():
        contract.inputs[name] = ContractInput(name, container_path, True)
        contract.lines[("input", name)] = line(("kw", "expected_input_paths"))
    for name, container_path in dict(values.get("expected_output_paths") or {}).items():
        contract.outputs[name] = container_path
        contract.lines[("output", name)] = line(("kw", "expected_output_paths"))
    contract.required_env = tuple(values.get("required_env_vars") or ())
    for name in contract.required_env:
        contract.lines[("env", name)] = line(("kw", "required_env_vars"))
    for name, default in dict(values.get("optional_env_vars") or {}).items():
        contract.optional_env[name] = env_text(default) or ""
        contract.lines[("env", name)] = line(("kw", "optional_env_vars"))
    for flag, default in dict(values.get("expected_arguments") or {}).items():
        arg = _job_argument(flag, None, default=default if default not in (None, "") else None)
        contract.job_arguments[arg.name] = arg
        contract.lines[("arg", arg.name)] = line(("kw", "expected_arguments"))
    contract.spec = completed(StepSpec(), {n: i.required for n, i in contract.inputs.items()}, contract.outputs)
    return contract


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class _Source:
    """One contract file of a folder, kept as read so each job type can apply its variant."""

    file: Path
    entry_point: str | None
    stem: str
    step_type: str | None
    data: Any = None
    contract: CursusContract | None = None

    def contract_for(self, job_type: str | None) -> CursusContract:
        if self.contract is not None:
            return self.contract
        return interface_contract(self.data, self.file, job_type)


class ContractIndex:
    """Contracts of one folder by the script file they describe; read lazily, once."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._sources: list[_Source] | None = None
        self._contracts: dict[tuple[Path, str | None], CursusContract] = {}

    def _load(self) -> list[_Source]:
        if self._sources is None:
            self._sources = []
            files = sorted(self.folder.glob("*.step.yaml")) + sorted(self.folder.glob("*.step.yml"))
            for file in files:
                data = read_yaml_or_json(file.absolute())
                base = interface_contract(data, file.absolute())
                step_type = data.get("step_type") if isinstance(data.get("step_type"), str) else None
                self._sources.append(_Source(file.absolute(), base.entry_point, file.name.rsplit(".step.", 1)[0],
                                             step_type, data=data))
            for file in sorted(self.folder.glob("*.py")):
                if "ScriptContract" not in file.read_text(encoding="utf-8", errors="replace"):
                    continue
                for contract in read_python_contracts(file):
                    self._sources.append(_Source(contract.file, contract.entry_point,
                                                 file.stem.removesuffix("_contract"), None, contract=contract))
        return self._sources

    def find(self, script: Path, step_type: str | None = None, job_type: str | None = None) -> CursusContract | None:
        """The contract whose ``entry_point`` is the script's file name (of the interface whose
        ``step_type`` is the step's, when two name it), else ``<stem>.step.yaml``, else the interface of
        ``step_type``; with ``job_type``'s variant applied. Two contracts that still fit are an error."""
        sources = self._load()
        found = [s for s in sources if s.entry_point == script.name]
        if len(found) > 1 and step_type:
            found = [s for s in found if s.step_type and _plain(s.step_type) == _plain(step_type)] or found
        if len(found) > 1:
            files = " and ".join(str(s.file) for s in found)
            raise PipelineSpecError([SpecProblem(
                f"{len(found)} contracts have entry point '{script.name}': {files}", file=str(found[0].file),
                key="entry_point", hint="give each script its own entry point, or set the step's interface with "
                "'contract:' in the overrides")])
        found = found or [s for s in sources if s.stem == script.stem][:1]
        found = found or [s for s in sources if step_type and s.step_type
                          and _plain(s.step_type) == _plain(step_type)][:1]
        if not found:
            return None
        key = (found[0].file, job_type)
        if key not in self._contracts:
            self._contracts[key] = found[0].contract_for(job_type)
        return self._contracts[key]
