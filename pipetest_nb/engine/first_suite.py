"""A pipeline's first suite: an edge may name a suite file that does not exist yet.

Drafting a suite needs data the producer wrote, and that needs a run; so until a run of the
pipeline has a producer's output to draft from, a missing suite is a warning (the edge is not
checked) with the exact ``pipetest expectations draft`` command, in ``pipetest validate`` and in the
run alike. Once such a run exists, a suite still missing fails as before, its message naming that
run in the command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipetest_nb.events import StepStatus
from pipetest_nb.validation.expectations.drafting import draft_command


def earlier_run(workspace: str | os.PathLike, pipeline: str, step: str, exclude: str | None = None) -> str | None:
    """The id of the newest run of ``pipeline`` in ``workspace`` where ``step`` succeeded, or None."""
    from pipetest_nb.records.workspace import Workspace

    root = Path(workspace)
    if not (root / "runs").is_dir():
        return None
    for record in Workspace(root).runs():  # newest first; unreadable runs have no steps
        if record.run_id == exclude or (record.data.get("pipeline") or {}).get("name") != pipeline:
            continue
        if (record.steps.get(step) or {}).get("status") in StepStatus.DONE_OK:
            return record.run_id
    return None


def _shown(path: str | os.PathLike) -> str:
    """A path as short as it can be said from the current folder."""
    relative = os.path.relpath(path)
    return relative if len(relative) < len(str(path)) else str(path)


def workspace_argument(workspace: str | os.PathLike) -> str | None:
    """``workspace`` as the draft command needs it: None for the default one in the current folder."""
    root = Path(workspace).absolute()
    if root == Path("pipetest_workspace").absolute():
        return None
    return _shown(root)


def first_suite_notes(checks: list[Any], pipeline: str, run_dir: Path, source: str) -> list[str]:
    """Turn the checks of missing suite files into warnings while no earlier run could draft them; the
    warnings (one per suite) say the command that drafts each from this run."""
    missing = [c for c in checks if c.suite_file and not Path(c.suite_file).is_file()]
    if not missing:
        return []
    step = source.split(".", 1)[0]
    workspace = run_dir.parent.parent
    earlier = earlier_run(workspace, pipeline, step, exclude=run_dir.name)
    notes: dict[str, str] = {}
    for check in missing:
        if earlier is not None:  # it could have been drafted: the edge fails, saying how to draft it
            check.error = (f"{check.error}; draft it from run {earlier}: "
                           + draft_command(check.suite, source, _shown(check.suite_file), run=earlier,
                                           workspace=workspace_argument(workspace)))
            continue
        check.on_failure = "warn"
        check.error = f"{check.error}; no earlier run has the data to draft it from, so the edge is not checked"
        notes[check.suite] = (f"suite '{check.suite}' ({check.suite_file}) does not exist yet, so {check.edge} was "
                              f"not checked; draft it from this run: "
                              + draft_command(check.suite, source, _shown(check.suite_file), run=run_dir.name,
                                              workspace=workspace_argument(workspace)))
    return list(notes.values())
