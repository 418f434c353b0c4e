"""The contract check: where a step's script, its contract and its configuration disagree.

A Cursus step fails in SageMaker, after minutes of provisioning, when its configuration lacks an
env var the contract requires or its script reads a name the contract never declares. These
checks find both before anything runs: the configuration against the contract, then the static
scan of the script against the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipetest_nb.cursus.matching import unbound_problem
from pipetest_nb.cursus.scan import KINDS, NameUse, ScriptUsage
from pipetest_nb.text import did_you_mean

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from pipetest_nb.cursus.contracts import CursusContract
    from pipetest_nb.spec.parts import StepConfig

_WORDS = {"input": "input", "output": "output", "env": "env var", "arg": "job argument"}


@dataclass(frozen=True)
class ContractFinding:
    """One disagreement between a step's script, its contract and its configuration."""

    severity: str  # "error" | "warning"
    kind: str
    step: str
    message: str
    name: str | None = None
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = (self.file or "<pipeline>") + (f":{self.line}" if self.line else "")
        text = f"{self.severity}: {where}: step '{self.step}': {self.message}"
        return text + (f" ({self.hint})" if self.hint else "")


@dataclass
class ContractValidationResult:
    """Every finding of a contract check; ``ok`` when there is no error (warnings allowed)."""

    findings: list[ContractFinding] = field(default_factory=list)

    @property
    def errors(self) -> list[ContractFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[ContractFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        lines = [str(f) for f in self.errors + self.warnings]
        lines.append(f"{len(self.errors)} error{'s' if len(self.errors) != 1 else ''}, "
                     f"{len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}")
        return "\n".join(lines)


def config_findings(step: str, contract: CursusContract, config: StepConfig,
                    env_aliases: Mapping[str, tuple[str, ...]]) -> list[ContractFinding]:
    """Required env vars, job arguments and inputs the step's configuration leaves without a value."""
    file = str(contract.file)
    findings: list[ContractFinding] = []
    for name in contract.required_env:
        if name not in config.env:
            aliases = env_aliases.get(name, ())
            fields = f"'{name.lower()}'" + (f" (or {', '.join(aliases)})" if aliases else "")
            findings.append(ContractFinding(
                "error", "missing_env_var", step, f"required env var {name} has no value", name, file,
                contract.line("env", name),
                f"set the config field {fields} in its configuration, or env: {{{name}: ...}} in the overrides "
                "file"))
    for name, arg in contract.job_arguments.items():
        if arg.required and name not in config.args:
            findings.append(ContractFinding(
                "error", "missing_job_argument", step, f"required job argument {arg.flag} has no value", name,
                file, contract.line("arg", name),
                f"set the config field '{arg.source}', or args: {{{name}: ...}} in the overrides file"))
    for name, spec in contract.inputs.items():
        given = config.inputs.get(name)
        if spec.required and (given is None or (given.source is None and given.path is None and given.url is None)):
            problem = unbound_problem(step, name, contract)
            findings.append(ContractFinding("error", "unbound_input", step, problem.message, name, file,
                                            problem.line, problem.hint))
    return findings


def missing_script_finding(step: str, script: Path, source_root: Path, config_file: Path | None) -> ContractFinding:
    """A step's script that is nowhere: a Cursus configuration's relative paths start at the source root."""
    close = did_you_mean(script.name, [f.name for f in script.parent.glob("*.py")]) if script.parent.is_dir() else None
    return ContractFinding(
        "error", "script_not_found", step, f"script file not found: {script}", script.name,
        str(config_file) if config_file else None,
        hint=(f"{close}; " if close else "") + f"relative script paths in the configuration start at --source-root (here {source_root}; by default "
             "the configuration's folder), and a script that is not there is looked up by its file name under "
             f"it; pass --source-root DIR, or set steps.{step}.script in the overrides file")


def script_findings(step: str, contract: CursusContract, config: StepConfig,
                    usage: ScriptUsage) -> list[ContractFinding]:
    """Names the script reads that the contract does not declare, and declared names it never reads."""
    script = config.script
    if usage.error:
        return [ContractFinding("error", "script_unreadable", step, usage.error, script.name, str(script),
                                usage.error_line)]
    findings: list[ContractFinding] = []
    if not usage.has_main:
        findings.append(ContractFinding(
            "error", "no_main", step, "the script defines no main(input_paths, output_paths, environ_vars, "
            "job_args)", "main", str(script), hint="Cursus scripts run through main() in 'main' mode"))
    elif usage.main_problem:
        findings.append(ContractFinding(
            "error", "bad_main", step, f"{usage.main_problem}: pipetest calls main(input_paths, output_paths, "
            "environ_vars, job_args), so the step would fail with TypeError", "main", str(script), usage.main_line,
            "give main these four parameters (the __main__ block can build them from the container paths, "
            "os.environ and argparse)"))
    declared = {"input": set(contract.inputs), "output": set(contract.outputs),
                "env": {*contract.required_env, *contract.optional_env, *contract.computed_env, *config.env},
                "arg": {*contract.job_arguments, *config.args}}
    for kind in KINDS:
        used = usage.names(kind)
        findings += _undeclared(step, kind, used, declared[kind], contract, str(script))
        if kind in usage.opaque or usage.main_problem:
            continue  # what a main that cannot be called would read is no finding of its own
        contract_names = {"input": contract.inputs, "output": contract.outputs,
                          "env": [*contract.required_env, *contract.optional_env],
                          "arg": contract.job_arguments}[kind]
        for name in contract_names:
            if name not in used:
                findings.append(ContractFinding(
                    "warning", f"unused_{kind}", step, f"the contract declares {_WORDS[kind]} '{name}', which the "
                    f"script never uses", name, str(contract.file), contract.line(kind, name),
                    f"remove it from {contract.file.name} or check the name in {script.name}"))
    return findings


def _undeclared(step: str, kind: str, used: dict[str, NameUse], declared: set[str], contract: CursusContract,
                script: str) -> list[ContractFinding]:
    """An error for a name the script indexes directly (it fails when absent), a warning otherwise."""
    findings = []
    for name, use in used.items():
        if name not in declared:
            fails = use.direct and not use.via_os
            findings.append(ContractFinding(
                "error" if fails else "warning", f"undeclared_{kind}", step,
                f"the script reads {_WORDS[kind]} '{name}'{_how(use)}, which the contract does not declare"
                + _consequence(use, fails), name, script, use.line,
                did_you_mean(name, declared) or _declare_hint(kind, name, use, declared, contract)))
    return findings


def _declare_hint(kind: str, name: str, use: NameUse, declared: set[str], contract: CursusContract) -> str:
    hint = f"declare it in {contract.file.name}"
    if use.via_os:
        return hint + f", or set env: {{{name}: ...}} in the overrides file"
    if kind in ("input", "output") and 0 < len(declared) <= 5:
        return hint + f", or use the contract's name: {', '.join(sorted(declared))}"
    return hint


def _how(use: NameUse) -> str:
    if use.via_os:
        return " from os.environ" + (f" (default '{use.default}')" if use.default is not None else "")
    return f" (default '{use.default}')" if use.default is not None else ""


def _consequence(use: NameUse, fails: bool) -> str:
    """What happens at run time when the name is not there."""
    if fails:
        return " (it fails when the name is missing)"
    if use.via_os and use.direct:
        return ": it fails with KeyError unless the variable is set"
    if use.via_os:
        return ": the default applies unless something sets it" if use.default is not None else ""
    if use.default is not None:
        return ": nothing passes it, so the script always gets its default"
    return " (read with .get or after an 'in' check: nothing fails, but nothing passes it either)"
