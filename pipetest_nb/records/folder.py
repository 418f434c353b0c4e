"""Paths inside one run folder, every name checked so that nothing leaves the folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pipetest_nb.exceptions import PipetestError


class RunFolder:
    """Paths inside one run folder. Every name is checked so that nothing leaves the folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._real_root: str | None = None

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def record_path(self) -> Path:
        return self.path / "run.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def _inside(self, *parts: str) -> Path:
        from pipetest_nb.spec.names import name_problem

        for part in parts:
            why = name_problem(part, "step or output")
            if why:
                raise PipetestError(f"refusing path {'/'.join(parts)!r} in run {self.run_id}: {why}")
        path = self.path.joinpath(*parts)
        if self._through_link(parts):
            if self._real_root is None:
                self._real_root = os.path.realpath(self.path)
            real_root = self._real_root
            if os.path.commonpath([os.path.realpath(path), real_root]) != real_root:
                raise PipetestError(f"refusing path {path}: it resolves outside the run folder {self.path} "
                                    "(a symlink?); remove the link and rerun")
        return path

    def _through_link(self, parts: tuple[str, ...]) -> bool:
        """Whether a folder on the way from the run folder to ``parts`` is a symlink: the names are checked,
        so only a link can lead out, and nothing below a folder that does not exist yet is one."""
        current = str(self.path)
        for part in parts:
            current = os.path.join(current, part)
            try:
                mode = os.lstat(current).st_mode
            except OSError:
                return False
            if stat.S_ISLNK(mode):
                return True
        return False

    def step_dir(self, step: str) -> Path:
        return self._inside("steps", step)

    def output_dir(self, step: str, output: str) -> Path:
        return self._inside("steps", step, "outputs", output)

    def input_dir(self, step: str, name: str) -> Path:
        """Where generated (synthetic) or empty optional inputs of a step live."""
        return self._inside("steps", step, "inputs", name)

    def log_path(self, step: str, stream: str) -> Path:
        return self.step_dir(step) / f"{stream}.log"
