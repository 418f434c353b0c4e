"""Shared fixtures: small real pipelines written to a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from pipelines import NOOP_SCRIPT

# Hypothesis tests (the native-vs-GX differential test, the spec fuzz): a bounded pass in `make test`,
# HYPOTHESIS_PROFILE=thorough for release checks.
settings.register_profile("quick", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> Path:
    """A folder with no-op scripts a.py ... h.py, ready for pipeline files that name them."""
    for stem in "abcdefgh":
        (tmp_path / f"{stem}.py").write_text(NOOP_SCRIPT)
    return tmp_path
