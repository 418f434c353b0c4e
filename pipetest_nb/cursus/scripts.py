"""Which script a Cursus step runs, found the way a config stays portable, or that it runs none.

A saved Cursus config holds both the portable fields (a source folder + an entry point) and the
paths Cursus derived from them on the author's machine (``script_path``, ``full_script_path``), so
the portable ones are tried first. A path that does not exist here is looked up by file name under
the source root and the scripts folder beside the contracts, with a note saying where it was found.
SDK steps (their interface ``requires`` the internal workflow SDK) run no script at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetest_nb.cursus.documents import absolute
from pipetest_nb.exceptions import PipelineSpecError, SpecProblem

#: What an SDK step's interface ``registry.requires``: its work is an SDK call, not a script.
SDK_PACKAGE = "secure_ai_sandbox_workflow_python_sdk"

#: (entry-point field, its source folder fields in order): Cursus's portable fields. ``inference_entry_point``
#: is left out: it names a model's inference handler, not the step's script.
ENTRY_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("processing_entry_point", ("processing_source_dir", "source_dir")),
    ("training_entry_point", ("source_dir", "processing_source_dir")),
    ("entry_point", ("source_dir", "processing_source_dir")),
)
#: Paths Cursus derived on the author's machine, tried after the portable fields.
DERIVED_FIELDS = ("script_path", "full_script_path")
#: Folders never searched for a script by its name.
_SKIPPED = {"__pycache__", "node_modules", "site-packages", ".venv", "venv", ".git", ".tox"}
_HINT = ("set 'processing_source_dir' + 'processing_entry_point' (or 'source_dir' + 'training_entry_point'), "
         "or 'script_path', in its configuration (or in 'shared'); or 'steps.<step>.script' in the overrides; "
         "or 'external: true' there if the step runs no script of its own")


@dataclass(frozen=True)
class ScriptChoice:
    """The step's script, and a note when it was not where the configuration says."""

    path: Path
    note: str | None = None


def candidates(fields: Mapping[str, Any], source_root: Path) -> list[tuple[str, Path]]:
    """Where the configuration says the script is, in Cursus's order of portability."""
    out: list[tuple[str, Path]] = []
    for entry_field, folder_fields in ENTRY_FIELDS:
        entry = fields.get(entry_field)
        if not isinstance(entry, str) or not entry:
            continue
        folder_field = next((f for f in folder_fields if isinstance(fields.get(f), str) and fields[f]), None)
        if folder_field is not None:
            out.append((f"{folder_field} + {entry_field}",
                        absolute(absolute(source_root, fields[folder_field]), entry)))
    for derived in DERIVED_FIELDS:
        if isinstance(fields.get(derived), str) and fields[derived]:
            out.append((derived, absolute(source_root, fields[derived])))
    return out


def _no_script(fields: Mapping[str, Any], step: str | None, where: str | None) -> PipelineSpecError:
    entry = next((fields[f] for f, _ in ENTRY_FIELDS if isinstance(fields.get(f), str) and fields[f]), None)
    message = f"entry point '{entry}' has no source folder" if entry else "cannot tell which script this step runs"
    return PipelineSpecError([SpecProblem(message, file=where, step=step, key="script_path", hint=_HINT)],
                             source=where)


class ScriptFinder:
    """Finds steps' scripts: where the configuration says, else by file name under ``roots``."""

    def __init__(self, source_root: Path, roots: list[Path]):
        self.source_root = source_root
        self.roots = [r for r in dict.fromkeys(roots) if r.is_dir()]
        self._by_name: dict[str, list[Path]] | None = None

    def find(self, fields: Mapping[str, Any], step: str | None = None, where: str | None = None) -> ScriptChoice:
        """The first candidate that exists; else one found by its file name (with a note); else the first
        candidate, for the pipeline's own check to report as not found."""
        found = candidates(fields, self.source_root)
        if not found:
            raise _no_script(fields, step, where)
        for _, path in found:
            if path.is_file():
                return ScriptChoice(path)
        for what, path in found:
            matches = self.by_name().get(path.name, [])
            if matches:
                others = f" (also {', '.join(map(str, matches[1:3]))})" if len(matches) > 1 else ""
                return ScriptChoice(matches[0], f"{what} gives {path}, which does not exist; found by file name "
                                                f"at {matches[0]}{others}")
        return ScriptChoice(found[0][1])

    def by_name(self) -> dict[str, list[Path]]:
        """Every ``.py`` file under the roots by its name, nearest the root first."""
        if self._by_name is None:
            self._by_name = {}
            for root in self.roots:
                for folder, dirs, files in os.walk(root):
                    dirs[:] = sorted(d for d in dirs if d not in _SKIPPED and not d.startswith("."))
                    for name in sorted(files):
                        if name.endswith(".py"):
                            self._by_name.setdefault(name, []).append(Path(folder) / name)
            for paths in self._by_name.values():
                paths.sort(key=lambda p: len(p.parts))
        return self._by_name


def interface_requires(contract_file: Path) -> str | None:
    """What a ``.step.yaml`` interface's ``registry.requires`` names (the SDK of an SDK step), if anything."""
    if not contract_file.name.endswith((".step.yaml", ".step.yml")):
        return None
    from pipetest_nb.cursus.documents import read_yaml_or_json

    data = read_yaml_or_json(contract_file)
    registry = data.get("registry") if isinstance(data, Mapping) else None
    requires = registry.get("requires") if isinstance(registry, Mapping) else None
    return requires if isinstance(requires, str) else None


def interfaces_by_step_type(folder: Path) -> dict[str, Path]:
    """The ``.step.yaml`` files of a folder by the ``step_type`` they declare (``CradleDataLoading``)."""
    import re

    out: dict[str, Path] = {}
    pattern = re.compile(r"^step_type:\s*['\"]?([A-Za-z0-9_]+)", re.MULTILINE)
    for file in sorted(folder.glob("*.step.yaml")) + sorted(folder.glob("*.step.yml")):
        try:
            match = pattern.search(file.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if match:
            out.setdefault(match.group(1), file)
    return out
