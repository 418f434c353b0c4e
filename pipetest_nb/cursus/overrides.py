"""What the user adds to a Cursus pipeline: external inputs, env and args per step, explicit bindings,
a step's script, and which steps are ``external`` (they do not run; their outputs are the user's folders).

A Cursus pipeline reads its first inputs from S3 and its edges carry no names, so a local test run
needs a few facts the Cursus files lack. They come from an overrides file (YAML or JSON), a dict,
or ``--input STEP.NAME=PATH`` pairs (NAME is an input, or an output of an external step).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.cursus.documents import absolute, fail, read_yaml_or_json
from pipetest_nb.exceptions import SpecProblem
from pipetest_nb.spec.urls import is_url, url_problem
from pipetest_nb.text import did_you_mean

_OVERRIDE_KEYS = ("name", "defaults", "steps", "bindings")
_OVERRIDE_STEP_KEYS = ("inputs", "outputs", "env", "args", "script", "external")
_PATH_KEYS = ("inputs", "outputs")  # mappings of name -> path, relative to the overrides file


@dataclass
class CursusOverrides:
    """What the user adds: external inputs, env and args per step, explicit ``bindings:``, a step's
    ``script`` and ``external`` flag."""

    steps: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bindings: dict[str, str | None] = field(default_factory=dict)
    scripts: dict[str, Path] = field(default_factory=dict)
    external: dict[str, bool] = field(default_factory=dict)
    name: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None

    def for_step(self, step: str, key: str) -> dict[str, Any]:
        return self.steps.get(step, {}).get(key, {})

    def merged(self, extra: CursusOverrides) -> CursusOverrides:
        """These overrides with ``extra`` applied over them, key by key; the file stays this one's."""
        steps = {s: {k: dict(v) for k, v in entry.items()} for s, entry in self.steps.items()}
        for step, entry in extra.steps.items():
            for key, values in entry.items():
                steps.setdefault(step, {}).setdefault(key, {}).update(values)
        return CursusOverrides(steps=steps, bindings={**self.bindings, **extra.bindings},
                               scripts={**self.scripts, **extra.scripts}, external={**self.external, **extra.external},
                               name=extra.name or self.name, defaults={**self.defaults, **extra.defaults},
                               file=self.file)


def read_overrides(source: str | os.PathLike | Mapping[str, Any] | None,
                   inputs: Mapping[str, str | os.PathLike] | None = None) -> CursusOverrides:
    """Read an override file (YAML or JSON) or dict; ``inputs`` adds ``{"STEP.NAME": path}`` pairs.

    Input paths in a file are relative to the file; in a dict and in ``inputs``, to the current folder.
    """
    from pipetest_nb.spec.documents import line_of

    file = None
    if isinstance(source, (str, os.PathLike)):
        file = Path(source).absolute()
        source = read_yaml_or_json(file)
    where = str(file) if file else None
    source = source or {}
    problems: list[SpecProblem] = []
    if not isinstance(source, Mapping):
        fail([SpecProblem("an override file must be a mapping with 'steps' and/or 'bindings'", file=where)], file)
    for key in source:
        if key not in _OVERRIDE_KEYS:
            problems.append(SpecProblem(f"unknown key '{key}' in the overrides", file=where,
                                        line=line_of(source, key), key=str(key),
                                        hint=did_you_mean(key, _OVERRIDE_KEYS)
                                        or f"allowed: {', '.join(_OVERRIDE_KEYS)}"))
    out = CursusOverrides(name=source.get("name"), defaults=dict(source.get("defaults") or {}), file=file)
    _read_steps(source, file.parent if file else Path.cwd(), out, problems)
    for key, value in (inputs or {}).items():
        step, sep, name = str(key).partition(".")
        if not sep or not step or not name:
            problems.append(SpecProblem(f"an input is STEP.NAME=PATH, got '{key}'", key="inputs"))
            continue
        out.steps.setdefault(step, {}).setdefault("inputs", {})[name] = _place(Path.cwd(), value, problems)
    _read_bindings(source, out, problems)
    fail(problems, file)
    return out


def _read_steps(source: Mapping[str, Any], base: Path, out: CursusOverrides, problems: list[SpecProblem]) -> None:
    """``steps: {STEP: {inputs, outputs, env, args, script, external}}``; paths become absolute, from ``base``."""
    from pipetest_nb.spec.documents import line_of

    where = str(out.file) if out.file else None
    for step, raw in (source.get("steps") or {}).items():
        if not isinstance(raw, Mapping):
            problems.append(SpecProblem("a step override must be {inputs, outputs, env, args, script, external}",
                                        file=where, step=step, line=line_of(source.get("steps"), step)))
            continue
        entry: dict[str, dict[str, Any]] = {}
        for key, value in raw.items():
            if key in ("script", "external"):
                _read_step_value(str(step), key, value, base, out, problems, line_of(raw, key))
                continue
            if key not in _OVERRIDE_STEP_KEYS or not isinstance(value, Mapping):
                problems.append(SpecProblem(f"'{key}' of a step override must be one of "
                                            f"{', '.join(_OVERRIDE_STEP_KEYS[:4])}, each a mapping, or "
                                            "script (a path) or external (true/false)", file=where,
                                            step=step, key=str(key), line=line_of(raw, key),
                                            hint=did_you_mean(key, _OVERRIDE_STEP_KEYS)))
                continue
            entry[key] = dict(value)
        for key in _PATH_KEYS:
            entry[key] = {name: _place(base, path, problems) for name, path in entry.get(key, {}).items()}
        out.steps[str(step)] = entry


def _place(base: Path, value: Any, problems: list[SpecProblem]) -> Path | str:
    """A path made absolute from ``base``, or a URL of remote data as given (refused if it carries credentials)."""
    if not is_url(value):
        return absolute(base, value)
    why = url_problem(value)
    if why:
        problems.append(SpecProblem(why, key="inputs"))
    return value


def _read_step_value(step: str, key: str, value: Any, base: Path, out: CursusOverrides,
                     problems: list[SpecProblem], line: int | None) -> None:
    """A step's ``script: PATH`` (relative to ``base``) or ``external: true|false``."""
    where = str(out.file) if out.file else None
    if key == "script" and isinstance(value, str) and value:
        out.scripts[step] = absolute(base, value)
    elif key == "external" and isinstance(value, bool):
        out.external[step] = value
    else:
        problems.append(SpecProblem(f"'{key}' of a step override must be "
                                    + ("a path to its script" if key == "script" else "true or false"),
                                    file=where, step=step, key=key, line=line))


def _read_bindings(source: Mapping[str, Any], out: CursusOverrides, problems: list[SpecProblem]) -> None:
    """``bindings: {consumer.input: producer.output | null}``."""
    from pipetest_nb.spec.documents import line_of

    where = str(out.file) if out.file else None
    bindings = source.get("bindings") or {}
    if not isinstance(bindings, Mapping):
        problems.append(SpecProblem("'bindings' must map consumer.input to producer.output (or null)",
                                    file=where, key="bindings", line=line_of(source, "bindings")))
        bindings = {}
    for target, src in bindings.items():
        if not (isinstance(target, str) and "." in target and (src is None or (isinstance(src, str) and "." in src))):
            problems.append(SpecProblem(f"a binding is 'consumer.input: producer.output' (or null to leave the "
                                        f"input unbound), got {target!r}: {src!r}", file=where, key="bindings",
                                        line=line_of(bindings, target)))
            continue
        out.bindings[target] = src
