"""Names in a pipeline file that become folder and file names: steps, inputs, outputs, suites.

A step or output name is a folder in every run, so it must be a portable folder name on every
common file system; messages quote the offending value cut short (``brief``), whatever it holds.
"""

from __future__ import annotations

import re
from typing import Any

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$"
MAX_NAME_BYTES = 255  # a folder name, on every common file system
WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(10))})
_NAME = re.compile(NAME_PATTERN)


def name_problem(name: Any, what: str) -> str | None:
    """Why ``name`` cannot name a step, input or output (it becomes a folder name), or None."""
    if not isinstance(name, str):
        return f"{what} name {brief(name)} must be a string"
    if name == "":
        return f"{what} name is empty"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"{what} name {brief(name)} is {size} bytes long; a folder name has at most {MAX_NAME_BYTES}"
    shown = brief(name)
    if "\x00" in name:
        return f"{what} name {shown} contains a NUL byte"
    if "/" in name or "\\" in name:
        return f"{what} name {shown} contains a path separator"
    if ".." in name:
        return f"{what} name {shown} contains '..'"
    if name.startswith("."):
        return f"{what} name {shown} starts with a dot"
    if "." in name:
        return f"{what} name {shown} contains a dot (dots separate step and output in bindings)"
    if not _NAME.match(name):  # also rules out spaces, control and Windows-reserved characters
        return f"{what} name {shown} may use only letters, digits, '_' and '-'"
    if name.upper() in WINDOWS_RESERVED:
        return f"{what} name {shown} is a reserved device name on Windows, where it cannot be a folder"
    return None


def suite_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a suite in ``expectations/<name>.json``, or None."""
    if not name or "\x00" in name or "/" in name or "\\" in name or name.startswith("."):
        return f"suite name {brief(name)} must be a plain file name (no '/', no leading dot)"
    if len(name.encode("utf-8", "surrogatepass")) + len(".json") > MAX_NAME_BYTES:
        return f"suite name {brief(name)} is too long for a file name ({MAX_NAME_BYTES} bytes with '.json')"
    return None


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: messages stay readable whatever the file holds."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"
