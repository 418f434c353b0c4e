"""Fault-injection helpers: each case is a small real pipeline whose record must stay complete."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from pipetest_nb import PipelineDAG, Session
from pipetest_nb.records.record import load_record

# Hypothesis fuzz (test_spec_fuzz.py): a quick pass in `make test`; HYPOTHESIS_PROFILE=thorough for release checks.
settings.register_profile("quick", max_examples=60)
settings.register_profile("thorough", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


class Case:
    """A pipeline written to disk from steps and scripts, run in a Session with the options given."""

    def __init__(self, root: Path, steps: dict, scripts: dict[str, str], **top):
        self.root = root
        self.folder = root / "pipeline"
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, source in scripts.items():
            (self.folder / name).write_text(textwrap.dedent(source))
        (self.folder / "pipeline.yaml").write_text(yaml.safe_dump({"name": "fault", **top, "steps": steps}))
        self.dag = PipelineDAG.from_yaml(self.folder / "pipeline.yaml")

    def session(self, **options) -> Session:
        options.setdefault("progress", False)
        options.setdefault("cache", False)
        return Session(self.dag, self.root / "ws", **options)

    def run_all(self, **options):
        """Run everything; return (result, record) after checking the run reopens with the same statuses."""
        with self.session(**options) as session:
            result = session.run_all()
            statuses = dict(session.status)
            run_dir = session.run_dir
        assert_reopens(run_dir, statuses)
        return result, load_record(run_dir)


def assert_reopens(run_dir: Path, statuses: dict[str, str]) -> None:
    """The run folder reopens, its record parses, and every step kept its status."""
    import json

    json.loads((run_dir / "run.json").read_text())  # never half-written
    with Session.open(run_dir, progress=False) as again:
        assert again.status == statuses


@pytest.fixture
def case(tmp_path):
    def make(steps: dict, scripts: dict[str, str], **top) -> Case:
        return Case(tmp_path, steps, scripts, **top)

    return make
