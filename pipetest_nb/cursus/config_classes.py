"""Cursus config class sources, read with ``ast``: field defaults, bases, methods and properties.

A Cursus config class holds defaults the step interface does not know (``optimize_memory`` is
``False`` in ``TabularPreprocessingConfig`` while the interface says ``'true'``), and computes
some env values in methods. Those classes import pydantic, SageMaker and the rest of Cursus, so
they are never imported: their files are parsed, from an installed ``cursus`` package located
without importing it, or from a folder the user names.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Folders of a ``cursus`` package that hold config classes, hyperparameter classes and their bases.
_CLASS_FOLDERS = ("steps/configs", "steps/hyperparams", "core/base")


class NotStatic(Exception):
    """A value that cannot be known without running Cursus (a call, a computed default)."""


@dataclass(frozen=True)
class FieldInfo:
    """One declared field: its annotation text and default (``NotStatic`` when not a literal)."""

    name: str
    annotation: str
    default: Any = None
    has_default: bool = False
    static: bool = True


@dataclass
class ConfigClass:
    """One class of the sources: its bases, fields, methods and which methods are properties."""

    name: str
    file: Path
    bases: tuple[str, ...]
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    methods: dict[str, ast.FunctionDef] = field(default_factory=dict)
    properties: set[str] = field(default_factory=set)
    static_methods: set[str] = field(default_factory=set)


def find_cursus_sources(cursus_src: str | os.PathLike | None = None) -> Path | None:
    """The ``cursus`` package folder: ``cursus_src`` (the package or a folder holding it), else an
    installed package found with ``importlib.util.find_spec`` (not imported), else None."""
    if cursus_src is not None:
        root = Path(cursus_src).absolute()
        for candidate in (root, root / "cursus", root / "src" / "cursus"):
            if any((candidate / sub).is_dir() for sub in _CLASS_FOLDERS):
                return candidate
        return root
    try:
        spec = importlib.util.find_spec("cursus")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _literal(node: ast.expr | None) -> Any:
    """A literal default; ``list``/``dict``/``set`` factories and ``lambda: literal`` too."""
    if node is None:
        raise NotStatic
    if isinstance(node, ast.Name) and node.id in ("list", "dict", "set", "tuple"):
        return {"list": [], "dict": {}, "set": [], "tuple": ()}[node.id]
    if isinstance(node, ast.Lambda):
        return _literal(node.body)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise NotStatic from None


def _field_default(value: ast.expr | None) -> tuple[bool, Any, bool]:
    """(has a default, the default, whether it is static) of ``x: T = <value>``."""
    if value is None:
        return False, None, True
    if isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) in (
            "Field", "PrivateAttr"):
        keywords = {k.arg: k.value for k in value.keywords if k.arg}
        node = value.args[0] if value.args else keywords.get("default")
        if node is None and "default_factory" in keywords:
            node = keywords["default_factory"]
        if node is None or (isinstance(node, ast.Constant) and node.value is Ellipsis):
            return False, None, True
        value = node
    try:
        return True, _literal(value), True
    except NotStatic:
        return True, None, False


def _read_class(node: ast.ClassDef, file: Path) -> ConfigClass:
    bases = tuple(b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                  if isinstance(b, (ast.Name, ast.Attribute)))
    klass = ConfigClass(node.name, file, bases)
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):  # fields and ClassVars
            has, default, static = _field_default(item.value)
            klass.fields[item.target.id] = FieldInfo(item.target.id, ast.unparse(item.annotation), default, has,
                                                     static)
        elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            klass.methods[item.name] = item  # type: ignore[assignment]
            decorators = {ast.unparse(d) for d in item.decorator_list}
            if decorators & {"property", "cached_property", "functools.cached_property"}:
                klass.properties.add(item.name)
            if decorators & {"staticmethod"}:
                klass.static_methods.add(item.name)
    return klass


class ConfigClasses:
    """Every class of a ``cursus`` package's config sources, by name; parsed once, on first use."""

    def __init__(self, root: Path | None):
        self.root = root
        self._classes: dict[str, ConfigClass] | None = None

    @property
    def classes(self) -> dict[str, ConfigClass]:
        if self._classes is None:
            self._classes = {}
            for sub in _CLASS_FOLDERS if self.root else ():
                for file in sorted((self.root / sub).glob("*.py")):
                    self._parse(file)
        return self._classes

    def _parse(self, file: Path) -> None:
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        except (OSError, SyntaxError, UnicodeDecodeError):
            return
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                self._classes.setdefault(node.name, _read_class(node, file))  # type: ignore[union-attr]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.classes

    def mro(self, name: str) -> list[ConfigClass]:
        """The class and its bases, depth first, each once (the bases here have simple hierarchies)."""
        out: list[ConfigClass] = []

        def visit(current: str) -> None:
            klass = self.classes.get(current)
            if klass is None or klass in out:
                return
            out.append(klass)
            for base in klass.bases:
                visit(base)

        visit(name)
        return out

    def field_info(self, name: str, attr: str) -> FieldInfo | None:
        """The nearest declaration of field ``attr`` in ``name``'s class hierarchy."""
        for klass in self.mro(name):
            if attr in klass.fields:
                return klass.fields[attr]
        return None

    def member(self, name: str, attr: str, after: str | None = None) -> tuple[ConfigClass, ast.FunctionDef] | None:
        """The method or property ``attr`` as ``name``'s class resolves it; with ``after``, only in
        the classes after that one (what ``super()`` inside ``after`` finds)."""
        chain = self.mro(name)
        if after is not None:
            names = [k.name for k in chain]
            chain = chain[names.index(after) + 1:] if after in names else []
        for klass in chain:
            if attr in klass.methods:
                return klass, klass.methods[attr]
        return None

    def owns(self, name: str, attr: str, base: str = "BasePipelineConfig") -> bool:
        """Whether a class strictly below ``base`` defines ``attr`` (Cursus's own-collector test)."""
        for klass in self.mro(name):
            if klass.name == base:
                return False
            if attr in klass.methods:
                return True
        return False
