"""The problems of one pipeline document, collected before anything raises.

Every reader of the file reports into one ``Problems``; nothing raises until the whole document
has been read, so the user sees every mistake (file, line, step, key, a "did you mean") in one
``PipelineSpecError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.spec.documents import line_of, shape_problem
from pipetest_nb.spec.keys import allowed
from pipetest_nb.spec.names import brief
from pipetest_nb.text import did_you_mean


def suggest(word: Any, choices: Any) -> str | None:
    """``did you mean`` for a word read from the file; none for non-strings and long words (difflib is
    quadratic in their length)."""
    if not isinstance(word, str) or len(word) > 100:
        return None
    return did_you_mean(word, choices)


class Problems:
    """The problems found so far in one document, and where its relative paths start."""

    def __init__(self, base_dir: Path, source: Path | None, check_files: bool = True):
        self.base_dir = base_dir
        self.source = source
        self.check_files = check_files
        self.problems: list[SpecProblem] = []

    def problem(self, message: str, *, line: int | None = None, step: str | None = None,
                key: str | None = None, hint: str | None = None) -> None:
        self.problems.append(SpecProblem(message, file=str(self.source) if self.source else None,
                                         line=line, step=step, key=key, hint=hint))

    def fail_if_any(self) -> None:
        if self.problems:
            raise PipelineSpecError(self.problems, source=str(self.source) if self.source else None)

    def check_shape(self, data: Any) -> None:
        """Refuse, before anything walks it, a document too deep, too large or holding a huge integer."""
        found = shape_problem(data)
        if found:
            message, key = found
            self.problem(message, key=key or None)
            self.fail_if_any()

    def duplicates(self, mapping: Any, step: str | None, what: str = "key") -> None:
        for key, line in getattr(mapping, "duplicates", []):
            self.problem(f"{what} '{key}' appears more than once", line=line, step=step,
                         key=None if what == "step" else str(key), hint="keep one of them")

    def unknown_keys(self, mapping: dict, section: str, step: str | None, where: str) -> None:
        """A problem for each key of ``mapping`` that the declaration of ``section`` does not list."""
        names = allowed(section)
        for key in mapping:
            if key not in names:
                hint = suggest(key, names) or f"allowed keys in {where}: {', '.join(names)}"
                shown = f"'{key}'" if isinstance(key, str) and len(key) <= 60 else brief(key)
                self.problem(f"unknown key {shown} in {where}", line=line_of(mapping, key), step=step,
                             key=str(key)[:80], hint=hint)

    def path(self, value: str) -> Path:
        """A path from the file, made absolute against the file's folder."""
        return Path(os.path.normpath(self.base_dir / os.path.expanduser(value)))
