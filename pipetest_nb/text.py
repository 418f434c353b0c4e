"""Text shown to people, formatted one way everywhere: byte sizes, durations, "did you mean", capped errors.

The CLI, the report, the graph and the widgets all call these, so a step's peak memory or duration
reads the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

#: The longest error text a record keeps; longer ones keep their head and tail.
MAX_ERROR_TEXT = 64 * 1024


def format_bytes(n: float | None) -> str:
    """A size in binary units (``512 B``, ``1.5 KiB``, ``3.2 MiB``); ``-`` when unknown."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def format_duration(seconds: float | None) -> str:
    """``250 ms``, ``2.8 s`` or ``3.5 min``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def close_match(word: object, choices: Iterable[object], cutoff: float = 0.6) -> str | None:
    """The choice closest to a mistyped ``word``, if one is close enough."""
    close = get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(word: object, choices: Iterable[object], cutoff: float = 0.6) -> str | None:
    """``did you mean 'x'?`` for a mistyped ``word``, or None when nothing is close."""
    close = close_match(word, choices, cutoff)
    return f"did you mean '{close}'?" if close else None


def cap_text(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` if short enough, else its head and tail around a note of what was cut."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}\n... [{len(text) - 2 * keep:,} characters cut] ...\n{text[-keep:]}"


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, even for an exception whose ``__str__`` itself raises."""
    try:
        return str(exc)
    except Exception as inner:  # noqa: BLE001 - any failure here must not hide the first one
        return f"<{type(exc).__name__} whose str() raised {type(inner).__name__}>"
