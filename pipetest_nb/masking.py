"""Secrets: env values whose names look secret reach the step, and nothing we write or show repeats them.

The run record keeps such values masked (so does every event, report and widget); a live session
or the pipeline file gives them back when a reopened run must go on, and when logs that a script
printed them into are shown.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .exceptions import PipetestError

if TYPE_CHECKING:
    from .dag import PipelineDAG

SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
MASK = "********"
_SHORTEST_SECRET = 4  # shorter values would mask ordinary words in logs


def mask_env(env: dict[str, str]) -> dict[str, str]:
    """The env with values of secret-looking names (KEY, SECRET, TOKEN, PASSWORD, CREDENTIAL) masked."""
    return {k: (MASK if SECRET_NAME.search(k) else v) for k, v in env.items()}


def env_secrets(*envs: dict[str, Any]) -> list[str]:
    """The secret-looking values of some env mappings, longest first (so no secret is half-masked)."""
    values = {str(v) for env in envs for k, v in env.items()
              if SECRET_NAME.search(k) and len(str(v)) >= _SHORTEST_SECRET}
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced by the mask."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def secret_values(record: dict[str, Any], dag: PipelineDAG | None = None) -> list[str]:
    """The pipeline's secret values, to scrub from logs: from ``dag`` (a live session's) or the pipeline file."""
    if dag is None:
        from .dag import PipelineDAG

        source = (record.get("pipeline") or {}).get("source")
        with contextlib.suppress(PipetestError, OSError, TypeError):
            dag = PipelineDAG.load(source) if source else None
    if dag is None:
        return []
    return env_secrets(dag.defaults.env, *(step.env for step in dag.steps.values()))


def mask_error(data: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """A step's finish record with the env's secret values hidden in its error message and traceback."""
    secrets = env_secrets(env)
    for key in ("error_message", "traceback"):
        if secrets and isinstance(data.get(key), str):
            data[key] = scrub(data[key], secrets)
    return data


def masked_spec(dag: PipelineDAG) -> dict[str, Any]:
    """The pipeline as the record keeps it: secret-looking env values masked."""
    spec = dag.to_dict()
    for holder in [spec.get("defaults", {}), *spec["steps"].values()]:
        if holder.get("env"):
            holder["env"] = mask_env(holder["env"])
    return spec


def unmask(dag: PipelineDAG) -> PipelineDAG:
    """Put back the env values the record masked, from the pipeline file, so a reopened run can go on."""
    from .dag import PipelineDAG

    try:
        live = PipelineDAG.load(dag.source)
    except (PipetestError, OSError, TypeError):
        return dag  # the file is gone or broken: masked values stay masked (and fail visibly)

    def restore(env: dict[str, str], real: dict[str, str]) -> dict[str, str]:
        return {k: real.get(k, v) if v == MASK else v for k, v in env.items()}

    dag.defaults = replace(dag.defaults, env=restore(dag.defaults.env, live.defaults.env))
    dag.steps = {name: replace(step, env=restore(step.env, live.steps[name].env)) if name in live.steps else step
                 for name, step in dag.steps.items()}
    return dag
