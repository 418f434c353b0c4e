"""Finding a step by name: what the debugger's search box does with what was typed.

Exact name first, then the same name in other case, then the steps whose name contains the text
(the first in run order when several do), then the closest names (typos). Nothing close is an
error that lists a few names to try.
"""

from __future__ import annotations

import difflib

from pipetest_nb.exceptions import PipetestError

SHOWN = 8  # names listed when nothing matches


def find_step(query: str, steps: list[str]) -> tuple[str, list[str]]:
    """The step ``query`` names, and every step it could mean (the chosen one first)."""
    text = query.strip()
    if not text:
        raise PipetestError("type part of a step's name to find it")
    if text in steps:
        return text, [text]
    lower = text.lower()
    same = [s for s in steps if s.lower() == lower]
    if same:
        return same[0], same
    containing = [s for s in steps if lower in s.lower()]
    if containing:
        return containing[0], containing
    close = difflib.get_close_matches(lower, [s.lower() for s in steps], n=5, cutoff=0.6)
    if close:
        matches = [next(s for s in steps if s.lower() == c) for c in close]
        return matches[0], matches
    listed = ", ".join(steps[:SHOWN]) + (f" … ({len(steps)} steps)" if len(steps) > SHOWN else "")
    raise PipetestError(f"no step is named like '{text}'; steps: {listed}")
