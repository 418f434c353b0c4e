"""Shared fixtures: small real pipelines written to a temporary folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

NOOP_SCRIPT = "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n"


def write_pipeline(folder: Path, text: str, scripts: dict[str, str] | None = None,
                   name: str = "pipeline.yaml") -> Path:
    """Write a pipeline file and its scripts (``scripts`` maps relative path -> source)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, source in (scripts or {}).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> Path:
    """A folder with no-op scripts a.py ... h.py, ready for pipeline files that name them."""
    for stem in "abcdefgh":
        (tmp_path / f"{stem}.py").write_text(NOOP_SCRIPT)
    return tmp_path
