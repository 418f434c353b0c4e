"""Shared fixtures: small real pipelines written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipelines import NOOP_SCRIPT


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> Path:
    """A folder with no-op scripts a.py ... h.py, ready for pipeline files that name them."""
    for stem in "abcdefgh":
        (tmp_path / f"{stem}.py").write_text(NOOP_SCRIPT)
    return tmp_path
