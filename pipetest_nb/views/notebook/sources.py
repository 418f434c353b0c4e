"""What the debugger can load: a pipeline file, a ``PipelineDAG``, a ``Session``, a recorded run folder,
or a Cursus pipeline given as ``"dag.json config.json [contracts_dir [overrides.yaml]]"``.

Each is turned into a ``Session``; anything else is refused with what to give instead.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from pipetest_nb.exceptions import PipetestError
from pipetest_nb.session import Session
from pipetest_nb.spec.model import PipelineDAG


def open_session(source: Any, session_kwargs: dict[str, Any]) -> tuple[Session, bool]:
    """A session for ``source``, and whether it was created here (and so is the caller's to close)."""
    if isinstance(source, Session):
        return source, False
    options = {"progress": False, **session_kwargs}
    if isinstance(source, PipelineDAG):
        return Session(source, **options), True
    parts = shlex.split(source) if isinstance(source, str) else [os.fspath(source)]
    if len(parts) in (2, 3, 4):
        from pipetest_nb.cursus.layer import load_cursus_pipeline

        return Session(load_cursus_pipeline(*parts), **options), True
    if len(parts) != 1:
        raise PipetestError(f"cannot load {source!r}: give one pipeline file or run folder, or a Cursus "
                            "DAG, its config, contracts folder and overrides ('dag.json config.json "
                            "[contracts/ [overrides.yaml]]'); quote paths with spaces")
    path = Path(parts[0]).expanduser()
    if path.is_dir():
        if not (os.path.lexists(path / "run.json") or os.path.lexists(path / "events.jsonl")):
            raise PipetestError(f"{path} is a folder but not a run folder (no run.json); give a pipeline "
                                "file (.yaml/.json) or a folder under <workspace>/runs/")
        options.pop("workspace", None)
        return Session.open(path, **options), True
    if not path.exists():
        raise PipetestError(f"{path} does not exist; give a pipeline file (.yaml/.json), a run folder, "
                            "or a Cursus DAG and its config")
    return Session(path, **options), True
