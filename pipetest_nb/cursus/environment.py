"""A step's env vars and job arguments, derived from its Cursus configuration fields.

Cursus fills a script's environment and job arguments from config fields when it builds the
SageMaker step; pipetest has to do the same, or the script runs with what it never sees in
production. With the step's config class at hand (its source, read with ``ast``), the values are
computed as Cursus's base builder computes them (``cursus_values``). Without it, a field with an
env var's own name (any case) feeds it, the documented aliases too (``step_env``).
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetest_nb.cursus.checks import ContractFinding
from pipetest_nb.cursus.config_classes import ConfigClasses, NotStatic, find_cursus_sources
from pipetest_nb.cursus.config_eval import Evaluator, Instance
from pipetest_nb.cursus.contracts import CursusContract
from pipetest_nb.cursus.documents import CursusConfig, env_text
from pipetest_nb.cursus.values import format_env_value

#: Config fields that feed an env var of another name. A field with the env var's own name, in any
#: case (``label_field`` -> ``LABEL_FIELD``), always does; these are the extra, documented pairs.
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "LABEL_FIELD": ("label_name",),
    "ID_FIELD": ("id_name",),
    "CATEGORICAL_COLUMNS": ("cat_field_list",),
    "NUMERICAL_COLUMNS": ("tab_field_list",),
}


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)


def _field_text(value: Any) -> str | None:
    """A config field's value as Cursus's base resolver writes it (lists comma-joined); None when unset."""
    return None if value is None else format_env_value(value)


def step_env(fields: Mapping[str, Any], contract: CursusContract, aliases: Mapping[str, tuple[str, ...]],
             override: Mapping[str, Any]) -> dict[str, str]:
    """Override, else a config field of the same name (any case), else an alias field, else the default."""
    lowered = {k.lower(): v for k, v in fields.items()}
    env: dict[str, str] = {}
    for name in [*contract.required_env, *contract.optional_env]:
        value = _field_text(lowered.get(name.lower()))
        for alias in aliases.get(name, ()):
            if value is None:
                value = _field_text(lowered.get(alias.lower()))
        if value is None:
            value = contract.optional_env.get(name)
        if value is not None:
            env[name] = value
    for name, value in override.items():
        env[str(name)] = env_text(value) or ""
    return env


def step_args(fields: Mapping[str, Any], contract: CursusContract, override: Mapping[str, Any]) -> dict[str, Any]:
    """Each job argument from its source field (any case) or its default; structured values as JSON."""
    lowered = {k.lower(): v for k, v in fields.items()}
    args: dict[str, Any] = {}
    for name, arg in contract.job_arguments.items():
        value = lowered.get(arg.source.lower(), arg.default)
        scalar = isinstance(value, (str, int, float, bool))
        if value is not None:
            args[name] = value if scalar or _is_scalar_list(value) else json.dumps(value)
    args.update(override)
    return args


@dataclass
class DerivedValues:
    """A step's env and job arguments as Cursus's base builder computes them from the config class.

    ``not_derivable`` maps an env var to the config fields its value depends on, when the class
    computes it in a way that cannot be evaluated without Cursus; ``job_arguments`` is the command
    line (None: Cursus passes none) and ``args_not_derivable`` says it could not be computed.
    """

    env: dict[str, str] = field(default_factory=dict)
    job_arguments: list[str] | None = None
    not_derivable: dict[str, list[str]] = field(default_factory=dict)
    args_not_derivable: bool = False


def _accepts_names(func: ast.FunctionDef) -> bool:
    """Whether a collector takes the declared names (a positional parameter after ``self``)."""
    return len(func.args.posonlyargs + func.args.args) > 1 or func.args.vararg is not None


def _collect(ev: Evaluator, instance: Instance, declared: list[str]) -> dict[str, Any] | None:
    """What the config's env collector returns: its own ``get_environment_variables()``, else its
    own ``environment_variables`` property, else the inherited names-driven resolver."""
    classes, name = ev.classes, instance.class_name or ""
    if classes.owns(name, "get_environment_variables"):
        klass, func = classes.member(name, "get_environment_variables")  # type: ignore[misc]
        return ev.call(func, klass, instance, [declared] if _accepts_names(func) else [])
    if classes.owns(name, "environment_variables"):
        return instance.lookup("environment_variables", ev)
    member = classes.member(name, "get_environment_variables")
    if member is not None:
        return ev.call(member[1], member[0], instance, [declared])
    return _base_resolver(ev, instance, declared)


def _base_resolver(ev: Evaluator, instance: Instance, declared: list[str]) -> dict[str, str]:
    """``BasePipelineConfig.get_environment_variables`` when its source is not at hand."""
    env: dict[str, str] = {}
    member = ev.classes.member(instance.class_name or "", "_env_overrides")
    overrides = (ev.call(member[1], member[0], instance, []) if member else None) or {}
    try:
        hyper = instance.lookup("hyperparameters", ev)
    except AttributeError:
        hyper = None
    for name in declared:
        if name in overrides:
            if overrides[name] is not None:
                env[name] = overrides[name]
            continue
        for owner in (instance, hyper):
            try:
                value = ev.attribute(owner, name.lower()) if owner is not None else None
            except AttributeError:
                continue
            if value is not None:
                env[name] = format_env_value(value)
            break
    return env


def computed_env_paths(contract: CursusContract) -> tuple[str, ...]:
    """The interface's ``computed_env_paths``: env vars Cursus sets to S3 paths under the execution prefix."""
    return contract.computed_env


def cursus_values(classes: ConfigClasses, class_name: str, fields: Mapping[str, Any],
                  contract: CursusContract) -> DerivedValues:
    """Env vars and job arguments as ``builder_base._get_environment_variables`` and
    ``_get_job_arguments`` build them: the config's collector over the declared names, interface
    defaults for optional names it does not produce, then ``config.env``."""
    ev = Evaluator(classes)
    instance = Instance(classes, class_name, dict(fields))
    declared = [*contract.required_env, *contract.optional_env]
    out = DerivedValues()
    try:
        produced = _collect(ev, instance, declared)
    except (NotStatic, AttributeError, TypeError) as exc:
        produced = {}
        for name in declared:
            ev.unknown.setdefault(name, [str(exc.args[0])] if exc.args else [])
    for name, value in (produced or {}).items() if isinstance(produced, dict) else ():
        out.env[str(name)] = value if isinstance(value, str) else format_env_value(value)
    for name, default in contract.optional_env.items():
        out.env.setdefault(name, default)
    computed = computed_env_paths(contract)
    for name in computed:  # Cursus joins them onto the pipeline's S3 execution prefix at run time
        ev.unknown.setdefault(name, ["pipeline_s3_loc"])
    explicit = fields.get("env")
    if isinstance(explicit, Mapping):
        out.env.update({str(k): env_text(v) or "" for k, v in explicit.items()})
    out.not_derivable = {k: v for k, v in ev.unknown.items() if (k in declared or k in computed) and not
                         (isinstance(explicit, Mapping) and k in explicit)}
    member = classes.member(class_name, "get_job_arguments")
    if member is not None:
        try:
            args = ev.call(member[1], member[0], instance, [])
            out.job_arguments = [str(a) for a in args] if args else None
        except (NotStatic, AttributeError, TypeError):
            out.args_not_derivable = True
    return out


def job_args_dict(arguments: list[str] | None) -> dict[str, Any]:
    """A command line as a script's ``job_args``: ``--job-type x`` -> ``job_type: x``, a bare flag -> True."""
    args: dict[str, Any] = {}
    items = list(arguments or [])
    for index, item in enumerate(items):
        if not item.startswith("--"):
            continue
        name = item[2:].replace("-", "_")
        following = items[index + 1] if index + 1 < len(items) else None
        args[name] = following if following is not None and not following.startswith("--") else True
    return args


def _collector_place(classes: ConfigClasses, name: str, *members: str) -> tuple[str | None, int | None]:
    """The file and line of the config class method that computes the step's env (or ``members``)."""
    for member in members or ("get_environment_variables", "environment_variables", "_env_overrides"):
        if members or classes.owns(name, member) or member == "_env_overrides":
            found = classes.member(name, member)
            if found is not None:
                return str(found[0].file), found[1].lineno
    klass = classes.classes.get(name)
    return (str(klass.file), None) if klass else (None, None)


class CursusEnvironment:
    """The env vars and job arguments of a configuration's steps: as Cursus's builders compute them
    when the step's config class source is at hand (``cursus_src``, else an installed ``cursus``
    found without importing it), else from same-named fields, aliases and interface defaults."""

    def __init__(self, config: CursusConfig, cursus_src: str | os.PathLike | None = None,
                 env_aliases: Mapping[str, tuple[str, ...]] | None = None):
        self.config = config
        self.classes = ConfigClasses(find_cursus_sources(cursus_src))
        self.env_aliases = dict(env_aliases or {})
        self._derived: dict[str, DerivedValues | None] = {}

    @property
    def note(self) -> str | None:
        """Why env values may differ from Cursus's: the config names classes whose source is not here."""
        named = {self.config.config_class(step) for step in self.config.specific} - {None}
        missing = sorted(n for n in named if n not in self.classes)  # type: ignore[misc]
        if not missing:
            return None
        where = f"in {self.classes.root}" if self.classes.root else "(no cursus package is installed)"
        return (f"the source of {', '.join(missing[:3])}{' and more' if len(missing) > 3 else ''} is not found "
                f"{where}: their env vars come from same-named config fields and interface defaults, not from "
                "the config classes' own defaults and methods; pass --cursus-src DIR (the cursus package folder)")

    def derived(self, step: str, contract: CursusContract) -> DerivedValues | None:
        """The step's values as Cursus computes them; None when its config class is not at hand."""
        if step not in self._derived:
            name = self.config.config_class(step)
            self._derived[step] = (cursus_values(self.classes, name, self.config.step_fields(step), contract)
                                   if name in self.classes else None)
        return self._derived[step]

    def env_and_args(self, step: str, contract: CursusContract, env_override: Mapping[str, Any],
                     args_override: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
        """The step's env and job arguments, the overrides applied last."""
        values = self.derived(step, contract)
        if values is None:
            fields = self.config.step_fields(step)
            return (step_env(fields, contract, self.env_aliases, env_override),
                    step_args(fields, contract, args_override))
        env = {**values.env, **{str(k): env_text(v) or "" for k, v in env_override.items()}}
        # what the builder does not pass, the script's own argparse leaves None: so does pipetest
        declared = dict.fromkeys(contract.job_arguments)
        return env, {**declared, **job_args_dict(values.job_arguments), **args_override}

    def findings(self, step: str, contract: CursusContract, env_override: Mapping[str, Any],
                 args_override: Mapping[str, Any]) -> list[ContractFinding]:
        """A warning for each value the config class computes in a way that cannot be evaluated here."""
        values = self.derived(step, contract)
        if values is None:
            return []
        name = self.config.config_class(step) or ""
        file, line = _collector_place(self.classes, name)
        out = []
        computed = computed_env_paths(contract)
        for var, fields in values.not_derivable.items():
            if var in env_override:
                continue
            given = (f"it gets the interface default '{contract.optional_env[var]}'" if var in contract.optional_env
                     else "it is left unset")
            if var in computed:
                out.append(ContractFinding(
                    "warning", "env_not_derivable", step, f"Cursus sets env var {var} to an S3 path under the "
                    "pipeline's execution prefix (computed_env_paths), which has no local value: it is left unset",
                    var, str(contract.file), contract.line("env", var),
                    f"set it in the overrides file: steps.{step}.env.{var}: <value>"))
                continue
            from_fields = f" from config field{'s' if len(fields) != 1 else ''} {', '.join(fields)}" if fields else ""
            out.append(ContractFinding(
                "warning", "env_not_derivable", step, f"{name} computes env var {var}{from_fields} in a way "
                f"pipetest cannot evaluate without Cursus: {given}", var, file, line,
                f"set it in the overrides file: steps.{step}.env.{var}: <value>"))
        if values.args_not_derivable and not args_override:
            out.append(ContractFinding(
                "warning", "args_not_derivable", step, f"{name}.get_job_arguments() cannot be evaluated without "
                "Cursus: the script gets no job arguments", "job_arguments", file,
                _collector_place(self.classes, name, "get_job_arguments")[1], hint=f"set them in the overrides file: steps.{step}.args: {{NAME: value}}"))
        return out
