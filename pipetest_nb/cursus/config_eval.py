"""A small interpreter for the env and job-argument methods of Cursus config classes, over ``ast``.

Cursus computes many env values in a config's ``get_environment_variables()``, ``_env_overrides()``
or a property (a list joined with commas, a flag lowered, a field under another name). Running them
needs Cursus, so their bodies are evaluated here on the loaded config values: literals, fields,
``self`` attributes, properties, ``super()``, ``if``/``for``, dict building and a few pure builtins.
Anything else is ``NotStatic``; the key it would have set is reported, never guessed.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable, Iterable
from typing import Any

from pipetest_nb.cursus.config_classes import ConfigClass, ConfigClasses, NotStatic
from pipetest_nb.cursus.values import ConfigModel

_MISSING = object()
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict, "tuple": tuple}
_PURE = {**_TYPES, "len": len, "sorted": sorted, "min": min, "max": max, "any": any, "all": all, "round": round,
         "abs": abs, "set": set, "enumerate": enumerate, "zip": zip, "range": range, "isinstance": isinstance,
         "None": None, "True": True, "False": False}
_VALUE_METHODS = {"lower", "upper", "strip", "split", "join", "get", "items", "keys", "values", "startswith",
                  "endswith", "replace", "format", "copy", "append", "extend", "update", "rstrip", "lstrip"}


class _Return(Exception):
    def __init__(self, value: Any):
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Instance:
    """A config (or nested model) object: its saved values over its class's field defaults."""

    def __init__(self, classes: ConfigClasses, class_name: str | None, values: dict[str, Any]):
        self.classes, self.class_name, self.values = classes, class_name, values
        self.private: dict[str, Any] = {}

    def lookup(self, attr: str, ev: Evaluator) -> Any:
        """The attribute as pydantic would give it; AttributeError when the class has no such name."""
        if attr in self.private:
            return self.private[attr]
        name = self.class_name or ""
        member = self.classes.member(name, attr)
        if member is not None and attr in member[0].properties:
            return ev.call(member[1], member[0], self, [])  # computed again: a saved derived value may be stale
        info = self.classes.field_info(name, attr)
        if attr in self.values and not attr.startswith("_"):
            return ev.wrap(_coerced(self.values[attr], info.annotation if info else ""))
        if info is not None:
            if not info.static:
                raise NotStatic(attr)
            return ev.wrap(info.default)  # None for a required field the file lacks (pydantic would refuse it)
        if member is not None:
            return Method(self, *member)
        raise AttributeError(attr)


class Method:
    """A method of an ``Instance`` as found by its class (or by ``super()``), ready to call."""

    def __init__(self, instance: Instance, klass: ConfigClass, func: ast.FunctionDef):
        self.instance, self.klass, self.func = instance, klass, func


class Super:
    """``super()`` inside a method of ``klass``: members of the classes after it."""

    def __init__(self, instance: Instance, klass: ConfigClass):
        self.instance, self.klass = instance, klass


def _coerced(value: Any, annotation: str) -> Any:
    """An int where the field is a float, as pydantic turns it (``1000`` in a float field is ``1000.0``)."""
    if isinstance(value, int) and not isinstance(value, bool) and annotation.replace("Optional[", "").startswith(
            "float"):
        return float(value)
    return value


def self_fields(node: ast.AST) -> list[str]:
    """The ``self.<name>`` attributes a piece of code reads, in order, each once."""
    names = [n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
             and n.value.id == "self"]
    return list(dict.fromkeys(names))


def assigned_keys(node: ast.AST) -> list[str]:
    """Constant keys a statement would set: ``env["X"] = ...`` and keys of dict literals in it."""
    keys: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign):
            for target in sub.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                    keys.append(str(target.slice.value))
        elif isinstance(sub, ast.Dict):
            keys += [str(k.value) for k in sub.keys if isinstance(k, ast.Constant)]
    return list(dict.fromkeys(keys))


class Evaluator:
    """Evaluates config methods; ``unknown`` collects ``(key, fields)`` that could not be computed."""

    def __init__(self, classes: ConfigClasses):
        self.classes = classes
        self.unknown: dict[str, list[str]] = {}
        self._depth = 0

    def wrap(self, value: Any) -> Any:
        if isinstance(value, ConfigModel) and value.model_type in self.classes:
            return Instance(self.classes, value.model_type, dict(value))
        return value

    def _skip(self, node: ast.AST, exc: NotStatic) -> None:
        """Record the keys a statement that cannot be evaluated would set; re-raise when it sets none."""
        keys = assigned_keys(node)
        if not keys:
            raise exc
        fields = [str(exc.args[0])] if exc.args else self_fields(node)
        for key in keys:
            self.unknown.setdefault(key, fields or self_fields(node))

    def call(self, func: ast.FunctionDef, klass: ConfigClass, instance: Instance, args: list[Any],
             kwargs: dict[str, Any] | None = None) -> Any:
        if self._depth > 40:
            raise NotStatic
        scope = self._bind(func, args, kwargs or {}, skip=0 if func.name in klass.static_methods else 1)
        scope.update({"self": instance, "__class__": klass})
        self._depth += 1
        try:
            self.run(func.body, scope)
        except _Return as done:
            return done.value
        finally:
            self._depth -= 1
        return None

    def _bind(self, func: ast.FunctionDef, args: list[Any], kwargs: dict[str, Any], skip: int) -> dict[str, Any]:
        params = func.args.posonlyargs + func.args.args
        defaults = [None] * (len(params) - len(func.args.defaults)) + list(func.args.defaults)
        scope: dict[str, Any] = {}
        for index, (param, default) in enumerate(list(zip(params, defaults, strict=True))[skip:]):
            if index < len(args):
                scope[param.arg] = args[index]
            elif param.arg in kwargs:
                scope[param.arg] = kwargs[param.arg]
            elif default is not None:
                scope[param.arg] = self.expr(default, {})
            else:
                raise NotStatic
        for param, default in zip(func.args.kwonlyargs, func.args.kw_defaults, strict=True):
            scope[param.arg] = kwargs.get(param.arg, self.expr(default, {}) if default is not None else None)
        return scope

    # -- statements --------------------------------------------------------------------------------

    def run(self, body: Iterable[ast.stmt], scope: dict[str, Any]) -> None:
        for stmt in body:
            try:
                self.statement(stmt, scope)
            except NotStatic as exc:
                self._skip(stmt, exc)

    def statement(self, stmt: ast.stmt, scope: dict[str, Any]) -> None:
        if isinstance(stmt, ast.Return):
            raise _Return(self.expr(stmt.value, scope) if stmt.value is not None else None)
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            self._assign(stmt, scope)
        elif isinstance(stmt, ast.Expr):
            if not isinstance(stmt.value, ast.Constant):
                self.expr(stmt.value, scope)
        elif isinstance(stmt, ast.If):
            self.run(stmt.body if self.expr(stmt.test, scope) else stmt.orelse, scope)
        elif isinstance(stmt, ast.For):
            for item in self.expr(stmt.iter, scope):
                self._store(stmt.target, item, scope)
                try:
                    self.run(stmt.body, scope)
                except _Continue:
                    continue
                except _Break:
                    break
        elif isinstance(stmt, (ast.Break, ast.Continue)):
            raise _Break if isinstance(stmt, ast.Break) else _Continue
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name == "json":
                    scope[alias.asname or "json"] = json
        elif not isinstance(stmt, ast.Pass):
            raise NotStatic

    def _assign(self, stmt: ast.Assign | ast.AnnAssign | ast.AugAssign, scope: dict[str, Any]) -> None:
        if stmt.value is None:
            return
        if isinstance(stmt, ast.AugAssign):
            current = self.expr(stmt.target, scope)
            op = _BINARY.get(type(stmt.op))
            if op is None:
                raise NotStatic
            self._store(stmt.target, op(current, self.expr(stmt.value, scope)), scope)
            return
        value = self.expr(stmt.value, scope)
        for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
            self._store(target, value, scope)

    def _store(self, target: ast.expr, value: Any, scope: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            scope[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            for sub, item in zip(target.elts, list(value), strict=True):
                self._store(sub, item, scope)
        elif isinstance(target, ast.Subscript):
            container = self.expr(target.value, scope)
            if not isinstance(container, (dict, list)):
                raise NotStatic
            container[self.expr(target.slice, scope)] = value
        elif isinstance(target, ast.Attribute) and isinstance(self.expr(target.value, scope), Instance):
            self.expr(target.value, scope).private[target.attr] = value
        else:
            raise NotStatic

    # -- expressions -------------------------------------------------------------------------------

    def expr(self, node: ast.expr, scope: dict[str, Any]) -> Any:  # a dispatch over node types
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in scope:
                return scope[node.id]
            if node.id in _PURE:
                return _PURE[node.id]
            if node.id == "json":
                return json
            raise NotStatic  # a module-level helper or constant: not a config field
        if isinstance(node, ast.Attribute):
            return self.attribute(self.expr(node.value, scope), node.attr)
        if isinstance(node, ast.Call):
            return self._call_node(node, scope)
        if isinstance(node, ast.Dict):
            return self._dict(node, scope)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.expr(e, scope) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.IfExp):
            return self.expr(node.body if self.expr(node.test, scope) else node.orelse, scope)
        if isinstance(node, ast.BoolOp):
            return self._bool_op(node, scope)
        if isinstance(node, ast.UnaryOp):
            value = self.expr(node.operand, scope)
            ops = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
            if type(node.op) not in ops:
                raise NotStatic
            return ops[type(node.op)](value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.expr(node.left, scope), self.expr(node.right, scope))
        if isinstance(node, ast.Compare):
            return self._compare(node, scope)
        if isinstance(node, ast.JoinedStr):
            return "".join(self._formatted(v, scope) for v in node.values)
        if isinstance(node, ast.Subscript):
            return self._subscript(node, scope)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self._comprehension(node, scope)
        raise NotStatic

    def _formatted(self, node: ast.expr, scope: dict[str, Any]) -> str:
        if isinstance(node, ast.FormattedValue):
            spec = self._formatted(node.format_spec, scope) if node.format_spec else ""
            return format(self.expr(node.value, scope), spec)
        if isinstance(node, ast.JoinedStr):
            return "".join(self._formatted(v, scope) for v in node.values)
        return str(self.expr(node, scope))

    def _dict(self, node: ast.Dict, scope: dict[str, Any]) -> dict[Any, Any]:
        """A dict literal, key by key: a value that cannot be computed leaves its key out, recorded."""
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                out.update(self.expr(value, scope))
                continue
            name = self.expr(key, scope)
            try:
                out[name] = self.expr(value, scope)
            except NotStatic as exc:
                fields = [str(exc.args[0])] if exc.args else self_fields(value)
                self.unknown.setdefault(str(name), fields or self_fields(value))
        return out

    def _bool_op(self, node: ast.BoolOp, scope: dict[str, Any]) -> Any:
        value: Any = None
        for sub in node.values:
            value = self.expr(sub, scope)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _compare(self, node: ast.Compare, scope: dict[str, Any]) -> bool:
        left = self.expr(node.left, scope)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.expr(right_node, scope)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _subscript(self, node: ast.Subscript, scope: dict[str, Any]) -> Any:
        container = self.expr(node.value, scope)
        if isinstance(node.slice, ast.Slice) or not isinstance(container, (dict, list, tuple, str)):
            raise NotStatic
        try:
            return container[self.expr(node.slice, scope)]
        except (KeyError, IndexError, TypeError):
            raise NotStatic from None

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp, scope: dict[str, Any]) -> list[Any]:
        if len(node.generators) != 1:
            raise NotStatic
        gen, out = node.generators[0], []
        for item in self.expr(gen.iter, scope):
            inner = dict(scope)
            self._store(gen.target, item, inner)
            if all(self.expr(cond, inner) for cond in gen.ifs):
                out.append(self.expr(node.elt, inner))
        return out

    def attribute(self, obj: Any, attr: str) -> Any:
        """``obj.attr`` for config instances, ``super()``, the ``json`` module and plain values."""
        if isinstance(obj, Instance):
            return obj.lookup(attr, self)
        if isinstance(obj, Super):
            member = self.classes.member(obj.instance.class_name or "", attr, after=obj.klass.name)
            if member is None:
                raise AttributeError(attr)
            klass, func = member
            return self.call(func, klass, obj.instance, []) if attr in klass.properties else \
                Method(obj.instance, klass, func)
        if isinstance(obj, ConfigModel):  # a nested model whose class source is not at hand
            if attr in obj:
                return obj[attr]
            raise AttributeError(attr)
        if obj is json and attr in ("dumps", "loads"):
            return getattr(json, attr)
        if attr in _VALUE_METHODS and hasattr(obj, attr):
            return getattr(obj, attr)
        raise NotStatic

    def _call_node(self, node: ast.Call, scope: dict[str, Any]) -> Any:
        func_node = node.func
        if isinstance(func_node, ast.Name) and func_node.id == "super" and not node.args:
            return Super(scope["self"], scope["__class__"])
        if isinstance(func_node, ast.Name) and func_node.id in ("getattr", "hasattr") and len(node.args) >= 2:
            return self._getattr(func_node.id, [self.expr(a, scope) for a in node.args])
        func = self.expr(func_node, scope)
        args = [self.expr(a, scope) for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise NotStatic
        kwargs = {k.arg: self.expr(k.value, scope) for k in node.keywords if k.arg}
        if isinstance(func, Method):
            return self.call(func.func, func.klass, func.instance, args, kwargs)
        if func in _PURE.values() or callable(func) and getattr(func, "__self__", None) is not None \
                or func in (json.dumps, json.loads):
            try:
                return func(*args, **kwargs)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                raise NotStatic from exc
        raise NotStatic

    def _getattr(self, which: str, args: list[Any]) -> Any:
        obj, name = args[0], args[1]
        try:
            value = self.attribute(obj, name) if isinstance(obj, (Instance, Super, ConfigModel)) else _MISSING
        except AttributeError:
            value = _MISSING
        if which == "hasattr":
            return value is not _MISSING
        if value is _MISSING:
            if len(args) > 2:
                return args[2]
            raise NotStatic(name)
        return value
