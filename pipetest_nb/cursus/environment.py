"""A step's env vars and job arguments, derived from its Cursus configuration fields.

Cursus fills a script's environment and job arguments from config fields when it builds the
SageMaker step; pipetest has to do the same, or the script runs with what it never sees in
production. A field with an env var's own name (any case) feeds it, the documented aliases too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipetest_nb.cursus.contracts import CursusContract
from pipetest_nb.cursus.documents import env_text

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


def step_env(fields: Mapping[str, Any], contract: CursusContract, aliases: Mapping[str, tuple[str, ...]],
             override: Mapping[str, Any]) -> dict[str, str]:
    """Override, else a config field of the same name (any case), else an alias field, else the default."""
    lowered = {k.lower(): v for k, v in fields.items()}
    env: dict[str, str] = {}
    for name in [*contract.required_env, *contract.optional_env]:
        value = env_text(lowered.get(name.lower()))
        for alias in aliases.get(name, ()):
            if value is None:
                value = env_text(lowered.get(alias.lower()))
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
