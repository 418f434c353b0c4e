"""Reading one step of a pipeline file: its script, contract, settings and retry defaults."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pipetest_nb.spec.documents import line_of
from pipetest_nb.spec.keys import ISOLATIONS, MODES, allowed
from pipetest_nb.spec.parse_io import parse_inputs, parse_outputs
from pipetest_nb.spec.parse_values import (
    choice,
    env,
    memory,
    on_error,
    optional_str,
    retries,
    str_list,
    timeout,
)
from pipetest_nb.spec.parts import OutputSpec, StepConfig
from pipetest_nb.spec.problems import Problems, suggest


def parse_step(p: Problems, name: str, raw: Any, step_names: list[str], line: int | None) -> StepConfig:
    """One entry of ``steps:``; ``step_names`` are the valid step names (a string input naming one is a
    binding)."""
    if not isinstance(raw, dict):
        p.problem(f"a step must be a mapping with at least 'script', got {type(raw).__name__}", line=line,
                  step=name)
        return StepConfig(name=name)
    p.duplicates(raw, name)
    p.unknown_keys(raw, "step", name, f"step '{name}'")
    external = _external(p, name, raw)
    script_path, source_dir, entry_point = _script(p, name, raw, line, external)
    inputs = parse_inputs(p, name, raw, step_names)
    outputs = parse_outputs(p, name, raw)
    if external:
        _provided_outputs(p, name, raw, outputs)
    args = _args(p, name, raw)
    step_defaults = _step_defaults(p, name, raw)
    return StepConfig(
        name=name,
        script_path=script_path,
        source_dir=source_dir,
        entry_point=entry_point,
        mode=choice(p, raw, "mode", MODES, name),
        inputs=inputs,
        outputs=outputs,
        env=env(p, raw, "env", name),
        args=copy.deepcopy(dict(args)),
        depends_on=tuple(str_list(p, raw, "depends_on", name)),
        timeout=timeout(p, raw, name),
        isolation=choice(p, raw, "isolation", ISOLATIONS, name),
        on_error=on_error(p, raw, name),
        retries=retries(p, raw, name),
        memory=memory(p, raw, name),
        defaults=step_defaults,
        description=optional_str(p, raw, "description", name),
        external=external,
    )


def _external(p: Problems, name: str, raw: dict) -> bool:
    value = raw.get("external", False)
    if not isinstance(value, bool):
        p.problem("'external' must be true or false", line=line_of(raw, "external"), step=name, key="external")
        return False
    return value


def _provided_outputs(p: Problems, name: str, raw: dict, outputs: dict[str, OutputSpec]) -> None:
    """An external step's outputs are the user's folders: each needs a ``path`` that exists."""
    where = raw.get("outputs") if isinstance(raw.get("outputs"), dict) else {}
    for output, spec in outputs.items():
        key = f"outputs.{output}.path"
        if spec.path is None:
            p.problem(f"output '{output}' of external step '{name}' has no path", line=line_of(where, output),
                      step=name, key=key, hint="an external step does not run: give the folder of its data as "
                      f"'outputs.{output}.path'")
        elif p.check_files and not spec.path.exists():
            p.problem(f"output '{output}' of external step '{name}' not found: {spec.path}",
                      line=line_of(where, output), step=name, key=key,
                      hint="an external step does not run: put its data there, or point 'path' at it")


def _script(p: Problems, name: str, raw: dict, line: int | None,
            external: bool = False) -> tuple[Path | None, Path | None, str | None]:
    """``script`` (or ``script_path``), or ``source_dir`` + ``entry_point``; the file must exist (an
    external step needs none)."""
    script = raw.get("script", raw.get("script_path"))
    if "script" in raw and "script_path" in raw:
        p.problem("give 'script' or 'script_path', not both", line=line_of(raw, "script_path"), step=name,
                  key="script_path")
    script_path = source_dir = entry_point = None
    if script is not None:
        if not isinstance(script, str) or not script:
            p.problem("'script' must be a path to a Python file", line=line_of(raw, "script"), step=name,
                      key="script")
        else:
            script_path = p.path(script)
    if raw.get("source_dir") is not None or raw.get("entry_point") is not None:
        src, entry = raw.get("source_dir"), raw.get("entry_point")
        if not isinstance(src, str) or not isinstance(entry, str) or not src or not entry:
            p.problem("'source_dir' and 'entry_point' go together, both as strings",
                      line=line_of(raw, "source_dir"), step=name, key="source_dir")
        else:
            source_dir, entry_point = p.path(src), entry
    if script_path is None and source_dir is None and script is None and "source_dir" not in raw and not external:
        p.problem("no script", line=line, step=name, key="script",
                  hint="give 'script: path/to/script.py' or 'source_dir' + 'entry_point'")
    target = script_path or (source_dir / entry_point if source_dir and entry_point else None)
    if target is not None and p.check_files:
        _check_script_file(p, target, line=line_of(raw, "script" if script else "entry_point"), step=name,
                           key="script" if script else "entry_point")
    return script_path, source_dir, entry_point


def _check_script_file(p: Problems, target: Path, **where: Any) -> None:
    try:
        missing = not target.is_file()
        close = (suggest(target.name, [f.name for f in target.parent.iterdir() if f.suffix == ".py"])
                 if missing and target.parent.is_dir() else None)
    except OSError as exc:  # a name longer than the file system allows, a folder nobody may list
        p.problem(f"script path cannot be used: {exc.strerror or exc}", **where)
    else:
        if missing:
            p.problem(f"script file not found: {target}", **where,
                      hint=close or "paths are relative to the pipeline file")


def _args(p: Problems, name: str, raw: dict) -> dict[str, Any]:
    """Job arguments: strings, numbers, bools, or lists of strings and numbers; ``null`` for one the
    script declares but is not given (``job_args.NAME`` is None, as argparse leaves an omitted flag)."""
    args = raw.get("args") or {}
    if not isinstance(args, dict) or not all(isinstance(k, str) and k for k in args):
        p.problem("'args' must be a mapping of argument name -> value", line=line_of(raw, "args"), step=name,
                  key="args")
        return {}
    for key, value in args.items():
        if value is not None and not isinstance(value, (str, int, float, bool, list)) or (
                isinstance(value, list) and not all(isinstance(v, (str, int, float)) for v in value)):
            p.problem(f"argument '{key}' must be a string, number, bool, list of those, or null",
                      line=line_of(args, key), step=name, key="args")
    return args


def _step_defaults(p: Problems, name: str, raw: dict) -> dict[str, dict[str, Any]]:
    """A step's ``defaults``: the ``env`` and ``args`` that ``retry_with_defaults`` runs it with."""
    step_defaults = raw.get("defaults") or {}
    if not isinstance(step_defaults, dict):
        p.problem("'defaults' of a step must be a mapping with 'env' and/or 'args'",
                  line=line_of(raw, "defaults"), step=name, key="defaults")
        return {}
    p.unknown_keys(step_defaults, "step_defaults", name, f"defaults of step '{name}'")
    names = allowed("step_defaults")
    return {k: copy.deepcopy(dict(v)) for k, v in step_defaults.items() if k in names and isinstance(v, dict)}
