"""Reading the single values of a pipeline file: strings, lists, env, timeout, retries, memory, on_error.

Each reader takes the mapping and the key, reports a bad value (with its line) into ``Problems`` and
returns None or an empty value for it, so reading goes on and every mistake is found.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pipetest_nb.spec.documents import line_of
from pipetest_nb.spec.keys import (
    CHECKS_ENGINES,
    ISOLATIONS,
    MAX_RETRIES,
    MAX_TIMEOUT,
    MEMORY_RANGE,
    MODES,
    ON_ERROR_KEYS,
)
from pipetest_nb.spec.names import brief
from pipetest_nb.spec.parts import PipelineDefaults
from pipetest_nb.spec.policy import ERROR_TYPES, STRATEGY_NAMES
from pipetest_nb.spec.problems import Problems, suggest

MEMORY_PATTERN = r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$"
_MEMORY = re.compile(MEMORY_PATTERN, re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "ki": 2**10, "m": 1e6, "mb": 1e6,
                 "mib": 2**20, "mi": 2**20, "g": 1e9, "gb": 1e9, "gib": 2**30, "gi": 2**30,
                 "t": 1e12, "tb": 1e12, "tib": 2**40, "ti": 2**40}


def parse_memory(value: Any) -> int:
    """``512MB``, ``2GiB``, ``1.5g`` or a plain number of bytes, as bytes. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):  # bytes: whole, finite and positive (0.5 would become 0)
        if (isinstance(value, float) and not math.isfinite(value)) or value <= 0 or value != int(value):
            raise ValueError(value)
        return int(value)
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(value)
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(value)
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit not in _MEMORY_UNITS or not 0 < number * _MEMORY_UNITS[unit] < math.inf:
        raise ValueError(value)
    return int(number * _MEMORY_UNITS[unit])


def optional_str(p: Problems, mapping: dict, key: str, step: str | None) -> str | None:
    value = mapping.get(key)
    if value is None or isinstance(value, str):
        return value
    p.problem(f"'{key}' must be a string, not {type(value).__name__}", line=line_of(mapping, key),
              step=step, key=key)
    return None


def str_list(p: Problems, mapping: dict, key: str, step: str | None) -> list[str]:
    """A list of strings; a single string counts as a list of one."""
    value = mapping.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        p.problem(f"'{key}' must be a list of strings", line=line_of(mapping, key), step=step, key=key)
        return []
    return list(value)


def env(p: Problems, mapping: dict, key: str, step: str | None) -> dict[str, str]:
    """Environment variables: names without ``=`` or NUL; numbers and bools become their text."""
    value = mapping.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        p.problem(f"'{key}' must be a mapping of NAME: value", line=line_of(mapping, key), step=step, key=key)
        return {}
    out: dict[str, str] = {}
    for name, raw in value.items():
        if not isinstance(name, str) or not name or "=" in name or "\x00" in name:
            p.problem(f"invalid environment variable name {brief(name)}", line=line_of(value, name),
                      step=step, key=key)
        elif isinstance(raw, bool):
            out[name] = "true" if raw else "false"
        elif isinstance(raw, (str, int, float)):
            out[name] = str(raw)
            if "\x00" in out[name]:
                p.problem(f"value of {name} contains a NUL byte", line=line_of(value, name), step=step, key=key)
        else:
            p.problem(f"value of {name} must be a string or number, not {type(raw).__name__}",
                      line=line_of(value, name), step=step, key=key)
    return out


def timeout(p: Problems, mapping: dict, step: str | None) -> float | None:
    value = mapping.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        p.problem(f"'timeout' must be a positive number of seconds, at most {MAX_TIMEOUT} (7 days), "
                  f"got {brief(value)}", line=line_of(mapping, "timeout"), step=step, key="timeout")
        return None
    return value


def retries(p: Problems, mapping: dict, step: str | None) -> int | None:
    value = mapping.get("retries")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        p.problem(f"'retries' must be a whole number from 0 to {MAX_RETRIES}, got {brief(value)}",
                  line=line_of(mapping, "retries"), step=step, key="retries")
        return None
    return value


def choice(p: Problems, mapping: dict, key: str, choices: tuple[str, ...], step: str | None) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if value not in choices:
        hint = suggest(value, choices) or f"one of: {', '.join(choices)}"
        p.problem(f"'{key}' must be one of {', '.join(choices)}, got {brief(value)}",
                  line=line_of(mapping, key), step=step, key=key, hint=hint)
        return None
    return value


def memory(p: Problems, mapping: dict, step: str | None) -> int | None:
    value = mapping.get("memory")
    if value is None:
        return None
    try:
        size = parse_memory(value)
    except ValueError:
        size = None
    if size is None or not MEMORY_RANGE[0] <= size <= MEMORY_RANGE[1]:
        p.problem(f"'memory' must be a size such as 512MB or 2GiB, from 1MB to 1PiB, got {brief(value)}",
                  line=line_of(mapping, "memory"), step=step, key="memory",
                  hint="a plain number counts bytes" if isinstance(value, (int, float)) else None)
        return None
    return size


def on_error(p: Problems, mapping: dict, step: str | None) -> str | dict[str, str] | None:
    """A recovery strategy, or a mapping from error type (or ``default``) to strategy."""
    value = mapping.get("on_error")
    line = line_of(mapping, "on_error")
    if value is None:
        return None
    if isinstance(value, str):
        if value not in STRATEGY_NAMES:
            p.problem(f"unknown recovery strategy {brief(value)}", line=line, step=step, key="on_error",
                      hint=suggest(value, STRATEGY_NAMES) or f"one of: {', '.join(STRATEGY_NAMES)}")
            return None
        return value
    if isinstance(value, dict):
        policy: dict[str, str] = {}
        for error_type, strategy in value.items():
            if error_type not in ON_ERROR_KEYS:
                p.problem(f"unknown error type {brief(error_type)} in on_error",
                          line=line_of(value, error_type), step=step, key="on_error",
                          hint=suggest(error_type, ERROR_TYPES) or f"one of: {', '.join(ERROR_TYPES)}")
            elif strategy not in STRATEGY_NAMES:
                p.problem(f"unknown recovery strategy {brief(strategy)} for {error_type}",
                          line=line_of(value, error_type), step=step, key="on_error",
                          hint=suggest(strategy, STRATEGY_NAMES) or f"one of: {', '.join(STRATEGY_NAMES)}")
            else:
                policy[error_type] = strategy
        return policy
    p.problem("'on_error' must be a strategy name or a mapping of error type -> strategy",
              line=line, step=step, key="on_error")
    return None


def parse_defaults(p: Problems, raw: Any, line: int | None) -> PipelineDefaults:
    """The pipeline's ``defaults:`` section."""
    if raw is None:
        return PipelineDefaults()
    if not isinstance(raw, dict):
        p.problem("'defaults' must be a mapping", line=line, key="defaults")
        return PipelineDefaults()
    p.duplicates(raw, None)
    p.unknown_keys(raw, "defaults", None, "defaults")
    return PipelineDefaults(
        timeout=timeout(p, raw, None),
        isolation=choice(p, raw, "isolation", ISOLATIONS, None),
        on_error=on_error(p, raw, None),
        retries=retries(p, raw, None),
        memory=memory(p, raw, None),
        mode=choice(p, raw, "mode", MODES, None),
        env=env(p, raw, "env", None),
        checks_engine=choice(p, raw, "checks_engine", CHECKS_ENGINES, None),
    )
