"""Helpers shared by the tests: small real pipelines written to a folder.

A module of its own (not conftest.py), so that tests import it by a name no other conftest shares.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

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
