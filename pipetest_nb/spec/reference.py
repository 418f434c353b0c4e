"""The README's reference of the pipeline file's keys, generated from the declaration in ``spec.keys``.

The README holds this text between ``<!-- pipeline-keys:start -->`` and ``<!-- pipeline-keys:end -->``;
a test fails when the two differ, so the documented keys are always the ones the loader accepts.
"""

from __future__ import annotations

from pipetest_nb.spec.keys import SECTIONS, TYPES, Key, Section

START, END = "<!-- pipeline-keys:start -->", "<!-- pipeline-keys:end -->"


def readme_section(readme: str) -> str:
    """``readme`` with the text between the markers replaced by ``markdown_reference()``."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{markdown_reference()}\n{END}{tail}"


def markdown_reference() -> str:
    """One table per part of the file: key, type, allowed values, what it is for."""
    intro = ("The keys of the file, generated from their declaration in `pipetest_nb/spec/keys.py`; "
             "`pipetest schema` prints the same as a JSON Schema for editors (`docs/pipeline.schema.json`).")
    return "\n\n".join([intro, *(_table(section) for section in SECTIONS.values())]) + "\n"


def _table(section: Section) -> str:
    lines = [f"**{section.title}**", "", "| key | type | values | what it is for |", "| --- | --- | --- | --- |"]
    lines += [f"| `{k.name}` | {_cell(_type(k))} | {_cell(_values(k))} | {_cell(k.doc)} |" for k in section.keys]
    rules = [f"give {' or '.join(_keys(names) for names in section.one_of)}"] if section.one_of else []
    rules += [f"not both {_keys(pair, ' and ')}" for pair in section.not_both]
    rules += [f"{_keys(section.together, ' and ')} go together"] if section.together else []
    if rules:
        text = "; ".join(rules)
        lines += ["", f"{text[0].upper()}{text[1:]}."]
    return "\n".join(lines)


def _keys(names: tuple[str, ...], joiner: str = " + ") -> str:
    return joiner.join(f"`{n}`" for n in names)


def _type(key: Key) -> str:
    if key.section and key.type == "section":
        return f"mapping ({SECTIONS[key.section].title.split(' (')[0].lower()})"
    return TYPES[key.type]


def _values(key: Key) -> str:
    if key.required:
        return "required"
    if key.choices and key.type == "choice":
        return ", ".join(f"`{c}`" for c in key.choices)
    if key.type == "on_error":
        return "strategies: " + ", ".join(f"`{c}`" for c in key.choices)
    if key.type == "seconds":
        return f"({key.low:g}, {key.high:g}]"
    if key.type == "count":
        return f"{key.low:g}..{key.high:g}" if key.high is not None else f"{key.low:g} or more"
    if key.type == "size":
        return "1MB..1PiB; a plain number counts bytes"
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
