"""The expectation types Great Expectations knows and the arguments each takes, without importing GX.

``pipetest validate`` checks suite files against this catalogue instead of importing GX (about 3 s).
It is GX's own registry, written at build time to ``expectation_types.json`` next to this module::

    python -m pipetest_nb.validation.expectations.catalogue --write

``tests/test_expectation_catalogue.py`` fails while the file differs from what the installed GX
registers (after upgrading GX, run the command above). Once GX is imported in the process, its live
registry is read instead, so expectations registered in a notebook count too.

The catalogue knows names, not values: a wrong type, an unknown key or kwarg or a missing required
kwarg is found here; a value GX's own validators refuse (``min_value`` and ``max_value`` both None)
is reported by the edge check that builds the expectation.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetest_nb.text import close_match, did_you_mean

DATA_FILE = Path(__file__).with_name("expectation_types.json")
REGENERATE = "python -m pipetest_nb.validation.expectations.catalogue --write"
SHAPE_HINT = 'an expectation is {"type": "expect_...", "kwargs": {...}}'


@dataclass(frozen=True)
class Arguments:
    """The kwargs one expectation type accepts: its own (required first), then every expectation's."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    common: tuple[str, ...]
    open: bool = False  # the type accepts any other kwarg too

    @property
    def names(self) -> tuple[str, ...]:
        return self.required + self.optional + self.common


@dataclass(frozen=True)
class Diagnosis:
    """What is wrong with one expectation (``message``) and what to write instead (``hint``)."""

    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def known_types() -> list[str]:
    """Every expectation type GX builds, sorted."""
    return list(_catalogue()["types"])


def arguments(kind: str) -> Arguments | None:
    """The kwargs expectation type ``kind`` accepts; None for a type GX does not know."""
    data = _catalogue()
    entry = data["types"].get(kind)
    if entry is None:
        return None
    return Arguments(tuple(entry["required"]), tuple(entry["optional"]), tuple(data["common"]),
                     bool(entry.get("open")))


def argument_names(kind: str) -> tuple[str, ...]:
    """Every kwarg name expectation type ``kind`` accepts (none for an unknown type)."""
    found = arguments(kind)
    return found.names if found else ()


def problem(expectation: Any) -> str | None:
    """Why GX would not build this expectation dict, by its keys and names; None when it would."""
    found = diagnose(expectation)
    return str(found) if found else None


def diagnose(expectation: Any) -> Diagnosis | None:
    """The first problem of an expectation dict: its shape, its type, then its kwargs' names."""
    shape = _shape(expectation)
    if shape:
        return shape
    kind = expectation["type"]
    accepted = arguments(kind)
    if accepted is None:
        return Diagnosis(f"unknown expectation type '{kind}'",
                         did_you_mean(kind, known_types()) or "see the GX 1.x gallery of expectations")
    kwargs = expectation["kwargs"]
    missing = [name for name in accepted.required if name not in kwargs]
    unknown = [] if accepted.open else [name for name in kwargs if name not in accepted.names]
    if not missing and not unknown:
        return None
    parts = [f"required argument '{name}' is missing" for name in missing]
    for name in unknown:
        close = close_match(name, accepted.names)
        parts.append(f"'{name}' is not one of its arguments" + (f" (did you mean '{close}'?)" if close else ""))
    return Diagnosis(f"expectation {kind} is not valid: {'; '.join(parts)}",
                     f"{kind} takes {', '.join(accepted.required + accepted.optional) or 'no arguments of its own'}"
                     f"; every expectation takes {', '.join(accepted.common)}")


def _shape(expectation: Any) -> Diagnosis | None:
    """Why an entry of a suite's 'expectations' is not shaped like a GX 1.x expectation."""
    if not isinstance(expectation, dict):
        return Diagnosis(f"an expectation must be a JSON object, not {type(expectation).__name__}", SHAPE_HINT)
    if "expectation_type" in expectation and "type" not in expectation:
        return Diagnosis("'expectation_type' is the GX 0.x key", "GX 1.x suites use 'type'")
    if not isinstance(expectation.get("type"), str):
        return Diagnosis("'type' must be the expectation's name as a string" if "type" in expectation
                         else "'type' is missing", SHAPE_HINT)
    if not isinstance(expectation.get("kwargs"), dict):
        return Diagnosis("'kwargs' must be a JSON object" if "kwargs" in expectation else "'kwargs' is missing",
                         SHAPE_HINT)
    if expectation.get("meta") is not None and not isinstance(expectation["meta"], dict):
        return Diagnosis("'meta' must be a JSON object", SHAPE_HINT)
    keys = _catalogue()["configuration_keys"]
    unknown = [key for key in expectation if key not in keys]
    if unknown:
        return Diagnosis(f"'{unknown[0]}' is not a key of an expectation",
                         did_you_mean(unknown[0], keys) or f"its keys are {', '.join(keys)}")
    return None


def _catalogue() -> dict[str, Any]:
    """GX's live registry once GX is imported (fully: not while a thread is still importing it), else the file."""
    module = sys.modules.get("great_expectations")
    if module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False):
        from great_expectations.expectations.registry import list_registered_expectation_implementations

        return _live(len(list_registered_expectation_implementations()))
    return _from_file()


@functools.lru_cache(maxsize=1)
def _from_file() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=4)
def _live(registered: int) -> dict[str, Any]:
    """The registry read again whenever it grows (keyed by how many types it holds)."""
    return from_registry()


def from_registry() -> dict[str, Any]:
    """The catalogue as GX's registry states it now (imports GX): what ``--write`` saves."""
    import inspect
    from importlib.metadata import version

    import great_expectations  # noqa: F401 - registers the core expectations
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    common = [field.alias for field in Expectation.__fields__.values()]
    types = {}
    for kind in sorted(list_registered_expectation_implementations()):
        impl = get_expectation_impl(kind)
        fields = impl.__fields__.values()
        entry: dict[str, Any] = {
            "required": [f.alias for f in fields if f.required],
            "optional": [f.alias for f in fields if not f.required and f.alias not in common]}
        if str(getattr(impl.__config__, "extra", "forbid")).split(".")[-1] != "forbid":
            entry["open"] = True
        types[kind] = entry
    keys = [name for name in inspect.signature(ExpectationConfiguration.__init__).parameters if name != "self"]
    return {"great_expectations": version("great_expectations"), "regenerate": REGENERATE,
            "configuration_keys": keys, "common": common, "types": types}


def render(data: dict[str, Any]) -> str:
    """The file's text for a catalogue: one line per expectation type, so a diff shows what changed."""
    head = {k: v for k, v in data.items() if k != "types"}
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    body = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in data["types"].items()]
    return "{\n" + "\n".join(lines) + '\n  "types": {\n' + ",\n".join(body) + "\n  }\n}\n"


def main(argv: list[str] | None = None) -> int:
    """``--write``: write the data file from the installed GX; without it, exit 1 if the file differs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipetest_nb.validation.expectations.catalogue",
                                     description="the expectation types and arguments of the installed GX")
    parser.add_argument("--write", action="store_true", help=f"write {DATA_FILE.name} from GX's registry")
    args = parser.parse_args(argv)
    text = render(from_registry())
    if args.write:
        DATA_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {DATA_FILE} ({len(json.loads(text)['types'])} expectation types)")
        return 0
    current = DATA_FILE.read_text(encoding="utf-8") if DATA_FILE.is_file() else ""
    if current != text:
        print(f"{DATA_FILE} differs from the installed GX's registry; run: {REGENERATE}", file=sys.stderr)
        return 1
    print(f"{DATA_FILE} matches the installed GX")
    return 0


if __name__ == "__main__":
    sys.exit(main())
