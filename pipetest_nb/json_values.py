"""Values from data in strict JSON: NaN, +inf, -inf, None and NaT kept apart.

Floats that JSON has no token for become ``{"$float": "nan" | "inf" | "-inf"}``, NaT becomes
``{"$nat": true}``, and a genuine one-key dict whose key is such a tag is escaped as
``{"$dict": [[key, value]]}``. ``dumps``/``loads`` apply and undo it; ``display_value`` shows them.
Records, events, reports and suite results all use it, so it sits below every layer.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any


class _NaTType:
    """Not-a-Time as the record holds it (pandas is not needed to read a record); shows as ``NaT``."""

    _instance: _NaTType | None = None

    def __new__(cls) -> _NaTType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NaT"

    def __reduce__(self) -> tuple:
        return (_NaTType, ())


NaT = _NaTType()
_FLOAT_TAG, _NAT_TAG, _DICT_TAG = "$float", "$nat", "$dict"
_TAGS = (_FLOAT_TAG, _NAT_TAG, _DICT_TAG)
_FLOAT_NAMES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def is_nat(value: Any) -> bool:
    """pandas' NaT, numpy's datetime64/timedelta64 NaT, or ours."""
    if value is NaT or type(value).__name__ == "NaTType":
        return True
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", None) in ("M", "m") and str(value) == "NaT"


def plain_value(value: Any) -> Any:
    """A value from data as the record keeps it: numpy scalars unwrapped, NaN/±inf floats kept,
    NaT as ``NaT``, timestamps as ISO text, other objects as text."""
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_value(v) for v in value]
    if is_nat(value):
        return NaT
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def encode(value: Any) -> Any:
    """``value`` with every NaN/±inf float and NaT tagged, ready for ``json.dumps(allow_nan=False)``."""
    if isinstance(value, float):
        if math.isnan(value):
            return {_FLOAT_TAG: "nan"}
        if math.isinf(value):
            return {_FLOAT_TAG: "inf" if value > 0 else "-inf"}
        return value
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            if key in _TAGS:
                return {_DICT_TAG: [[key, encode(value[key])]]}
        return {k if isinstance(k, str) else str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if is_nat(value):
        return {_NAT_TAG: True}
    if hasattr(value, "dtype") and hasattr(value, "item"):  # a numpy scalar
        with contextlib.suppress(ValueError, TypeError):
            return encode(value.item())
    return value


def _decode_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        key, value = next(iter(obj.items()))
        if key == _FLOAT_TAG and value in _FLOAT_NAMES:
            return _FLOAT_NAMES[value]
        if key == _NAT_TAG and value is True:
            return NaT
        if key == _DICT_TAG and isinstance(value, list) and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value):
            return dict(value)
    return obj


def decode(value: Any) -> Any:
    """Undo ``encode`` on a value parsed without ``loads`` (a plain ``json.loads``)."""
    if isinstance(value, dict):
        return _decode_object({k: decode(v) for k, v in value.items()})
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _fallback(value: Any) -> Any:
    if is_nat(value):
        return {_NAT_TAG: True}
    if hasattr(value, "dtype") and hasattr(value, "item"):
        with contextlib.suppress(ValueError, TypeError):
            return value.item()
    return str(value)


def dumps(data: Any, indent: int | None = None) -> str:
    """Strict JSON (no NaN/Infinity tokens) with the tagged values; the C encoder when nothing needs a tag."""
    try:
        text = json.dumps(data, allow_nan=False, default=_fallback, indent=indent)
        if ('{"$' if indent is None else '"$') not in text:
            return text
    except ValueError:  # a NaN or an infinity somewhere
        pass
    return json.dumps(encode(data), allow_nan=False, default=_fallback, indent=indent)


def loads(text: str) -> Any:
    """Parse what ``dumps`` wrote (and format-1 records, whose NaN/Infinity tokens still parse)."""
    if '"$' in text:
        return json.loads(text, object_hook=_decode_object)
    return json.loads(text)


def display_value(value: Any) -> str:
    """A value from data as the CLI, the report and the widgets show it: nan, inf, -inf, None, NaT apart."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {display_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(display_value(v) for v in value) + "]"
    if is_nat(value):
        return "NaT"
    return repr(value)
