"""The JSON Schema (draft 2020-12) of the pipeline file, generated from the declaration in ``spec.keys``.

Editors use it to complete and check pipeline files as they are typed (``pipetest schema`` prints it;
``docs/pipeline.schema.json`` is its committed copy). It says what each key may hold; the loader
still checks what a schema cannot, such as bindings naming real steps and scripts that exist.
"""

from __future__ import annotations

import json
from typing import Any

from pipetest_nb.spec.keys import ON_ERROR_KEYS, SECTIONS, Key, Section
from pipetest_nb.spec.names import MAX_NAME_BYTES, NAME_PATTERN, WINDOWS_RESERVED
from pipetest_nb.spec.policy import STRATEGY_NAMES

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: ``parse_memory``'s units, written without a case-insensitive flag (JSON Schema patterns have none).
MEMORY_TEXT = r"^\s*\d+(\.\d+)?\s*([bB]|[kKmMgGtT][iI]?[bB]?)?\s*$"
_SCALAR = {"type": ["string", "number", "boolean"]}
_STRINGS = {"type": "array", "items": {"type": "string"}}


def json_schema() -> dict[str, Any]:
    """The schema of a whole pipeline file."""
    root = SECTIONS["pipeline"]
    defs = {name: _section(section) for name, section in SECTIONS.items() if name != root.name}
    defs["folder_name"] = _folder_name()
    out: dict[str, Any] = {"$schema": DRAFT, "title": "pipetest_nb pipeline file"}
    out.update(_section(root))
    out["description"] = "A DAG of step scripts with contracts; see the README's pipeline file section."
    return {**out, "$defs": defs}


def json_schema_text() -> str:
    """The schema as the committed ``docs/pipeline.schema.json`` holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _section(section: Section) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "description": section.title.replace("`", ""),
                           "properties": {k.name: {"description": k.doc, **_value(k)} for k in section.keys},
                           "additionalProperties": False}
    required = [k.name for k in section.keys if k.required]
    if required:
        out["required"] = required
    rules: list[dict[str, Any]] = [{"not": {"required": list(pair)}} for pair in section.not_both]
    if section.one_of:
        rules.append({"anyOf": [{"required": list(names)} for names in section.one_of]})
    if rules:
        out["allOf"] = rules
    if section.together:
        out["dependentRequired"] = {k: [o for o in section.together if o != k] for k in section.together}
    return out


def _ref(section: str | None) -> dict[str, str]:
    return {"$ref": f"#/$defs/{section}"}


def _value(key: Key) -> dict[str, Any]:  # one branch per type in keys.TYPES
    t = key.type
    simple: dict[str, dict[str, Any]] = {
        "name": {"type": "string", "pattern": r"\S"},
        "text": {"type": "string"},
        "path": {"type": "string", "minLength": 1},
        "glob": {"type": "string"},
        "flag": {"type": "boolean"},
        "binding": {"type": "string", "pattern": r"^[^.]+\..+$"},
        "target": {"type": "string", "pattern": r"^[^.]+\..+$"},
        "suite": {"type": "string", "pattern": r"^[^./\\][^/\\]*$"},
        "strings": {"anyOf": [{"type": "string"}, _STRINGS]},
        "columns": _STRINGS,
        "column_types": {"type": "object", "additionalProperties": {"type": "string"}},
        "env": {"type": "object", "propertyNames": {"minLength": 1, "pattern": "^[^=]*$"},
                "additionalProperties": _SCALAR},
        "args": {"type": "object", "propertyNames": {"minLength": 1},
                 "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR},
                                                    {"type": "null"}]}},
        "on_error": {"anyOf": [{"enum": list(STRATEGY_NAMES)},
                               {"type": "object", "propertyNames": {"enum": list(ON_ERROR_KEYS)},
                                "additionalProperties": {"enum": list(STRATEGY_NAMES)}}]},
        "section": _ref(key.section),
        "steps": {"type": "object", "minProperties": 1, "propertyNames": _ref("folder_name"),
                  "additionalProperties": _ref(key.section)},
        "inputs": {"type": "object", "propertyNames": _ref("folder_name"),
                   "additionalProperties": {"anyOf": [{"type": "string", "minLength": 1}, _ref(key.section)]}},
        "outputs": {"anyOf": [{"type": "object", "propertyNames": _ref("folder_name"),
                               "additionalProperties": {"anyOf": [{"type": "null"}, _ref(key.section)]}},
                              {"type": "array", "items": _ref("folder_name")}]},
        "edges": {"type": "array", "items": _ref(key.section)},
    }
    if t in simple:
        return simple[t]
    if t == "choice":
        return {"enum": list(key.choices)}
    if t == "seconds":
        return {"type": "number", "exclusiveMinimum": key.low, "maximum": key.high}
    if t == "count":
        return {"type": "integer", "minimum": key.low, **({"maximum": key.high} if key.high is not None else {})}
    if t == "size":
        return {"anyOf": [{"type": "integer", "minimum": key.low, "maximum": key.high},
                          {"type": "string", "maxLength": 64, "pattern": MEMORY_TEXT}]}
    raise ValueError(f"key {key.name!r}: no schema for type {t!r}")


def _folder_name() -> dict[str, Any]:
    """A step, input or output name: a portable folder name (``names.name_problem`` says why not)."""
    reserved = "|".join("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)
                        for word in sorted(WINDOWS_RESERVED))
    return {"type": "string", "pattern": NAME_PATTERN, "maxLength": MAX_NAME_BYTES,
            "not": {"pattern": f"^({reserved})$"}}
