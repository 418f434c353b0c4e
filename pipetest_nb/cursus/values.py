"""Config values as Cursus's serializer wrote them, unwrapped into the plain values its loader rebuilds.

Cursus saves a nested pydantic model as ``{"__model_type__": "ClassName", field: ...}`` and a
container holding models, enums, paths or sets as ``{"__type_info__": "list", "value": [...]}``
(``core/config_fields/type_aware_config_serializer.py``). A script sees the rebuilt values, so the
env vars and job arguments are computed from them, never from the wrappers.
"""

from __future__ import annotations

import json
from typing import Any

MODEL_TYPE = "__model_type__"
TYPE_INFO = "__type_info__"
_SEQUENCES = {"list": list, "tuple": tuple, "set": list, "frozenset": list}
_SCALARS = ("datetime", "enum", "path")


class ConfigModel(dict):
    """A nested config model's fields; ``model_type`` is its class name (a dict, so it stays JSON)."""

    model_type: str | None = None

    def __init__(self, fields: dict[str, Any], model_type: str | None):
        super().__init__(fields)
        self.model_type = model_type


def unwrap(value: Any) -> Any:
    """``value`` with every ``__model_type__`` and ``__type_info__`` wrapper replaced by what it wraps."""
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TYPE_INFO)
    if isinstance(kind, str) and "value" in value:
        inner = value["value"]
        if kind in _SEQUENCES and isinstance(inner, list):
            return _SEQUENCES[kind](unwrap(v) for v in inner)
        if kind == "dict" and isinstance(inner, dict):
            return {k: unwrap(v) for k, v in inner.items()}
        if kind in _SCALARS:
            return inner
    if isinstance(value.get(MODEL_TYPE), str):
        fields = {k: unwrap(v) for k, v in value.items() if k != MODEL_TYPE}
        return ConfigModel(fields, value[MODEL_TYPE])
    return {k: unwrap(v) for k, v in value.items()}


def format_env_value(value: Any) -> str:
    """A value as Cursus's base resolver writes it into an env var: bool -> true/false, list and
    tuple -> comma-joined, dict -> JSON, anything else ``str()`` (``None`` is ``"None"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)
