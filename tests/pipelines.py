"""Helpers shared by the tests: small real pipelines written to a folder.

A module of its own (not conftest.py), so that tests import it by a name no other conftest shares.
"""

from __future__ import annotations

import contextlib
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class Hang(BaseException):
    """The body ran past its hard wall (a BaseException, so no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def hard_wall(seconds: float = 10.0) -> Iterator[None]:
    """Interrupt the body with ``Hang`` after ``seconds``: a hang (a FIFO, an endless loop) fails fast."""
    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
