"""Reading untrusted pipeline and suite documents: safe YAML with key lines, and bounds on every document.

Error messages about a pipeline file should point at the line the user has to edit. PyYAML's safe
loader throws line numbers away once it has built dicts; this loader keeps them on a dict subclass.
Only the safe constructors are ever used: no tag in a pipeline file can build a Python object.

A hostile or broken file must give a clear error, never a crash or a hang, so every document is
bounded before anything walks it: a regular UTF-8 file of bounded size, nested at most ``MAX_DEPTH``
levels, holding at most ``MAX_NODES`` values once YAML aliases are expanded (an alias "bomb" is tiny
on disk and huge in ``run.json``), and no integer longer than ``MAX_INT_DIGITS`` digits (Python
refuses to print those).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Hashable
from typing import Any

import yaml

MAX_FILE_BYTES = 32 * 2**20
MAX_DEPTH = 100
MAX_NODES = 100_000
MAX_INT_DIGITS = 1000
_MAX_INT_BITS = int(MAX_INT_DIGITS * 3.3219)  # log2(10): ints with more bits have more digits


class UnreadableDocument(Exception):
    """A document file that is not a readable, bounded UTF-8 file; ``line`` when the bytes say where."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason, self.line = reason, line


class DocumentLimitError(yaml.MarkedYAMLError):
    """A YAML document over one of the bounds (depth, expanded size, integer length, a recursive alias);
    ``key`` is the dotted path of the value, as far as it is known."""

    def __init__(self, problem: str, mark: Any, key: str | None = None):
        super().__init__(problem=problem, problem_mark=mark)
        self.key = key


def read_document(path: os.PathLike | str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a document file. Refuses folders, FIFOs and devices (which would block or never end),
    files over ``max_bytes`` and bytes that are not UTF-8. Raises ``UnreadableDocument``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableDocument("file not found") from None
    except IsADirectoryError:
        raise UnreadableDocument("is a folder, not a file") from None
    except OSError as exc:
        raise UnreadableDocument(f"cannot open the file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableDocument("is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableDocument("is not a regular file (a FIFO, socket or device?)")
        if info.st_size > max_bytes:
            raise UnreadableDocument(f"is {info.st_size} bytes; the limit is {max_bytes} bytes")
        chunks, total = [], 0
        while chunk := os.read(fd, 2**20):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise UnreadableDocument(f"is over {max_bytes} bytes")
    except OSError as exc:
        raise UnreadableDocument(f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                                 "cannot be decoded; save the file as UTF-8",
                                 line=data.count(b"\n", 0, exc.start) + 1) from None


def shape_problem(data: Any, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH,
                  max_list: int | None = None) -> tuple[str, str] | None:
    """The first way ``data`` (built by a loader or by hand) breaks the bounds, as (message, key path).

    Walks without recursion and counts a value each time it is reached, so shared or self-containing
    structures stop at ``max_nodes`` instead of running away.
    """
    too_many = (f"holds more than {max_nodes} values (a structure repeated by YAML aliases, or one that "
                "contains itself?)")
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    count = 0
    while stack:
        value, path = stack.pop()
        count += 1
        if len(path) >= max_depth:
            return f"values are nested more than {max_depth} levels deep", key_path(path)
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _MAX_INT_BITS:
            return f"an integer has more than {MAX_INT_DIGITS} digits", key_path(path)
        if isinstance(value, (dict, list, tuple)):
            if max_list is not None and isinstance(value, (list, tuple)) and len(value) > max_list:
                return f"a list has {len(value)} values; the limit is {max_list}", key_path(path)
            if count + len(stack) + len(value) > max_nodes:
                return too_many, key_path(path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, (*path, k)) for k, v in reversed(list(items)))
    return None


def key_path(path: Any) -> str:
    """``steps.a.args.x[2]`` for keys and list positions (YAML key nodes allowed); long paths shortened."""
    parts = [p.value if isinstance(p, yaml.Node) else p for p in path]
    text = ""
    for i, part in enumerate(parts):
        if len(parts) > 8 and i == 4:
            text += " ... "
        if len(parts) > 8 and 4 <= i < len(parts) - 2:
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{str(part)[:40]}" if text else str(part)[:40])
    return text + (f" ({len(parts)} levels)" if len(parts) > 8 else "")


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


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _SafeLoader(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml scans and parses (ten times faster than PyYAML's Python reader); composing and
        constructing stay in Python, where the bounds below are kept."""

        def __init__(self, stream: Any):
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    _SafeLoader = yaml.SafeLoader  # type: ignore[misc]


class _LineLoader(_SafeLoader):
    """The safe loader, bounded: depth while composing, expanded size before constructing, clean errors
    from constructors that reject a value (a 5000-digit integer, ``2020-13-45``, ``!!bool maybe``,
    ``!!timestamp abc``)."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._keys: list[Any] = []  # keys (nodes) and list positions down to the node being composed
        self._root: Any = None

    def compose_node(self, parent: Any, index: Any) -> Any:
        if index is None:  # the document, or a mapping key
            return super().compose_node(parent, index)
        self._keys.append(index)
        try:
            if len(self._keys) > MAX_DEPTH:
                raise DocumentLimitError(f"values are nested more than {MAX_DEPTH} levels deep",
                                         self.peek_event().start_mark, key_path(self._keys))
            return super().compose_node(parent, index)
        finally:
            self._keys.pop()

    def compose_document(self) -> Any:
        self._root = node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise DocumentLimitError(f"an integer with {digits} digits; the limit is {MAX_INT_DIGITS}",
                                     node.start_mark, key_path(_path_to(self._root, node)))
        return super().construct_yaml_int(node)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, LookupError, OverflowError, AttributeError) as exc:  # bad text for its tag
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this value: {exc}",
                                                    node.start_mark) from None


def _check_expansion(root: Any) -> None:
    """Raise when the node graph, aliases expanded, is deeper than MAX_DEPTH, larger than MAX_NODES, or
    contains itself. Memoised per node, so a bomb costs its size on disk, not its expanded size."""
    if root is None:
        return
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        kids = _children(node)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_NODES:
                raise DocumentLimitError(f"this value expands to more than {MAX_NODES} values (YAML aliases "
                                         "repeat it)", node.start_mark, key_path(_path_to(root, node)))
            if depth[key] > MAX_DEPTH:
                raise DocumentLimitError(f"with its aliases expanded this value is nested more than {MAX_DEPTH} "
                                         "levels deep", node.start_mark, key_path(_path_to(root, node)))
            continue
        if key in size:
            continue
        if key in on_path:
            raise DocumentLimitError("an alias refers to a value that contains it (a recursive alias)",
                                     node.start_mark, key_path(_path_to(root, node)))
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)


def _path_to(root: Any, target: Any) -> list[Any]:
    """The keys and positions leading from ``root`` to ``target`` (for an error message; breadth first)."""
    seen, queue = {id(root)}, [(root, ())]
    for node, path in queue:
        if node is target:
            return list(path)
        pairs = node.value if isinstance(node, yaml.MappingNode) else (
            enumerate(node.value) if isinstance(node, yaml.SequenceNode) else ())
        for index, child in pairs:
            if id(child) not in seen:
                seen.add(id(child))
                queue.append((child, (*path, index)))
    return []


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


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
_LineLoader.add_constructor("tag:yaml.org,2002:int", _LineLoader.construct_yaml_int)


def load_yaml(text: str) -> Any:
    """Parse one YAML document with the bounded safe loader, keeping key lines. Raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
