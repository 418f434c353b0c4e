"""Safe YAML loading that remembers the line of every mapping key and notices duplicate keys.

Error messages about a pipeline file should point at the line the user has to edit. PyYAML's safe
loader throws line numbers away once it has built dicts; this loader keeps them on a dict subclass.
Only the safe constructors are ever used: no tag in a pipeline file can build a Python object.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml


class LocatedDict(dict):
    """A dict from YAML that knows the line of each key (1-based) and which keys were repeated."""

    __slots__ = ("lines", "duplicates", "line")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int]] = []
        self.line: int | None = None


def line_of(mapping: Any, key: Any = None) -> int | None:
    """The line of ``key`` in ``mapping`` (or of the mapping itself), when the mapping came from YAML."""
    if not isinstance(mapping, LocatedDict):
        return None
    if key is None:
        return mapping.line
    return mapping.lines.get(key, mapping.line)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    mapping = LocatedDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found a key that is not a plain value",
                key_node.start_mark,
            )
        line = key_node.start_mark.line + 1
        if key in mapping:
            mapping.duplicates.append((key, line))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> Any:
    """Parse one YAML document with the safe loader, keeping key lines. Raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
