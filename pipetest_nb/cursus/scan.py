"""The static scan of a step script: which logical names it reads, found with ``ast``.

A script's contract and its code drift apart; a contract check must see what the code reads
without running it (a Cursus script imports what a test machine may lack). Names read from the
four ``main`` parameters and from ``os.environ`` are collected; a container passed on whole or
indexed by a variable is "opaque": any of its names may be read. A write (``os.environ[X] = v``) is
not a read; a subscript under ``if "X" in container`` cannot fail, so it is not ``direct``.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipetest_nb.imports import parse_script

KINDS = ("input", "output", "env", "arg")
_CONTAINER_DEFAULTS = {"input": "input_paths", "output": "output_paths", "env": "environ_vars", "arg": "job_args"}
_GETTERS = ("get", "pop", "setdefault")


@dataclass(frozen=True)
class NameUse:
    """A logical name a script reads: ``direct`` for ``x["N"]`` (fails when absent), not for ``.get``."""

    kind: str  # "input" | "output" | "env" | "arg"
    name: str
    line: int
    direct: bool
    via_os: bool = False  # read from os.environ, which holds more than the contract
    guarded: bool = False  # indexed under a check that the name is there (``if "N" in x:``)
    default: str | None = None  # the literal default of ``.get("N", "d")`` / ``os.getenv("N", "d")``


@dataclass
class ScriptUsage:
    """What a static scan of a script found; ``opaque`` kinds are passed on whole or indexed by variables."""

    file: Path
    uses: list[NameUse] = field(default_factory=list)
    opaque: set[str] = field(default_factory=set)
    has_main: bool = False
    main_problem: str | None = None  # why main cannot be called as main(input_paths, output_paths, ...)
    main_line: int | None = None
    error: str | None = None
    error_line: int | None = None

    def names(self, kind: str) -> dict[str, NameUse]:
        """Each name of ``kind`` with its first direct use, else its first use."""
        out: dict[str, NameUse] = {}
        for use in self.uses:
            if use.kind == kind and (use.name not in out or (use.direct and not out[use.name].direct)):
                out[use.name] = use
        return out


def _main_problem(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """Why ``main`` cannot be called as ``main(input_paths, output_paths, environ_vars, job_args)``
    (``logger=`` is passed by keyword when main takes it); None when it can."""
    if isinstance(node, ast.AsyncFunctionDef):
        return "main is 'async def': calling it only makes a coroutine, its body never runs"
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    signature = f"main({ast.unparse(args)})"
    if len(positional) < 4 and args.vararg is None:
        return f"{signature} cannot take the four arguments input_paths, output_paths, environ_vars, job_args"
    with_default = len(positional) - len(args.defaults)
    missing = [a.arg for a in positional[4:with_default] if a.arg != "logger"]
    missing += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None
                and a.arg != "logger"]
    if missing:
        return f"{signature} also requires {', '.join(missing)}, which nothing passes"
    return None


def _is_main_block(test: ast.expr) -> bool:
    """``if __name__ == "__main__":``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = {ast.unparse(test.left), ast.unparse(test.comparators[0])}
    return sides in ({"__name__", "'__main__'"}, {"__name__", '"__main__"'})


class _Scanner(ast.NodeVisitor):
    """Collects the names a script reads from its four ``main`` parameters and from ``os.environ``."""

    def __init__(self, tree: ast.Module, usage: ScriptUsage):
        self.usage = usage
        self.containers = {kind: {name} for kind, name in _CONTAINER_DEFAULTS.items()}
        self.os_names, self.environ_names, self.getenv_names = {"os"}, set(), set()
        self.depth = 0
        self.in_main_block = False
        self.guards: list[set[tuple[str, str]]] = []  # names checked present by the enclosing tests
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
                usage.has_main = True
                usage.main_problem, usage.main_line = _main_problem(node), node.lineno
                params = [a.arg for a in node.args.posonlyargs + node.args.args]
                for kind, param in zip(KINDS, params, strict=False):
                    self.containers[kind].add(param)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                self.environ_names |= {a.asname or a.name for a in node.names if a.name == "environ"}
                self.getenv_names |= {a.asname or a.name for a in node.names if a.name == "getenv"}

    def _kind(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in self.environ_names:
                return "os_env"
            return next((k for k, names in self.containers.items() if node.id in names), None)
        if (isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)
                and node.value.id in self.os_names):
            return "os_env"
        return None

    def _use(self, kind: str, key: ast.AST, line: int, direct: bool, default: ast.AST | None = None) -> None:
        via_os = kind == "os_env"
        if self.depth == 0 and (not via_os or self.in_main_block):
            return  # module level: only os.environ is read at import time; a __main__ block does not run
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            guarded = direct and any((kind, key.value) in names for names in self.guards)
            text = (str(default.value) if isinstance(default, ast.Constant) and default.value is not None
                    else None)
            self.usage.uses.append(NameUse("env" if via_os else kind, key.value, line, direct and not guarded,
                                           via_os, guarded, text))
        elif not via_os:
            self.usage.opaque.add(kind)

    def _checked(self, test: ast.expr) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """The names ``test`` proves present when true, and when false (``"N" not in x``)."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            when_true, when_false = self._checked(test.operand)
            return when_false, when_true
        if isinstance(test, ast.BoolOp):
            parts = [self._checked(value) for value in test.values]
            index = 0 if isinstance(test.op, ast.And) else 1
            return (set().union(*(p[index] for p in parts)), set()) if index == 0 else \
                (set(), set().union(*(p[index] for p in parts)))
        name = None
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.In, ast.NotIn)):
            kind, key = self._kind(test.comparators[0]), test.left
            name = (kind, key.value) if kind and isinstance(key, ast.Constant) else None
            if name and isinstance(test.ops[0], ast.NotIn):
                return set(), {name}
        elif isinstance(test, ast.Call) and test.args and isinstance(test.args[0], ast.Constant):
            func = test.func
            if isinstance(func, ast.Attribute) and func.attr == "get":
                kind = self._kind(func.value)
                name = (kind, test.args[0].value) if kind else None
            elif isinstance(func, ast.Name) and func.id == "hasattr" and len(test.args) == 2:
                key = test.args[1]
                name = ("arg", key.value) if self._kind(test.args[0]) == "arg" and isinstance(key, ast.Constant) \
                    else None
        return ({name}, set()) if name else (set(), set())

    def _visit_guarded(self, nodes: list[ast.AST], names: set[tuple[str, str]]) -> None:
        self.guards.append(names)
        for child in nodes:
            self.visit(child)
        self.guards.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_Subscript(self, node: ast.Subscript) -> None:
        kind = self._kind(node.value)
        if kind in ("input", "output", "env", "os_env"):
            if isinstance(node.ctx, ast.Load):  # x["N"] = v and del x["N"] are writes
                self._use(kind, node.slice, node.lineno, direct=True)
            self.visit(node.slice)
        else:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        kind = self._kind(func.value) if isinstance(func, ast.Attribute) else None
        is_getenv = ((isinstance(func, ast.Attribute) and func.attr == "getenv" and isinstance(func.value, ast.Name)
                      and func.value.id in self.os_names)
                     or (isinstance(func, ast.Name) and func.id in self.getenv_names))
        default = node.args[1] if len(node.args) > 1 else None
        if kind in ("input", "output", "env", "os_env") and func.attr in _GETTERS and node.args:
            self._use(kind, node.args[0], node.lineno, direct=False, default=default)
        elif is_getenv and node.args:
            self._use("os_env", node.args[0], node.lineno, direct=False, default=default)
        elif (isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and len(node.args) >= 2
              and self._kind(node.args[0]) == "arg"):
            self._use("arg", node.args[1], node.lineno, direct=func.id == "getattr" and len(node.args) == 2)
        else:
            self.generic_visit(node)
            return
        for arg in node.args[1:]:
            self.visit(arg)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            kind = self._kind(right)
            if isinstance(op, (ast.In, ast.NotIn)) and kind in ("input", "output", "env", "os_env"):
                self._use(kind, left, node.lineno, direct=False)
                self.visit(left)
                return
        for operand in operands:
            if not (self._kind(operand) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)):
                self.visit(operand)

    def visit_If(self, node: ast.If) -> None:
        test = node.test.operand if isinstance(node.test, ast.UnaryOp) else node.test
        if not self._kind(test):
            self.visit(node.test)
        when_true, when_false = self._checked(node.test)
        main_block = self.depth == 0 and _is_main_block(node.test)
        self.in_main_block |= main_block
        self._visit_guarded(node.body, when_true)
        self.in_main_block = self.in_main_block and not main_block
        self._visit_guarded(node.orelse, when_false)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit(node.test)
        when_true, when_false = self._checked(node.test)
        self._visit_guarded([node.body], when_true)
        self._visit_guarded([node.orelse], when_false)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        """``"N" in x and x["N"]``: each operand is guarded by the ones before it."""
        proven: set[tuple[str, str]] = set()
        for value in node.values:
            self._visit_guarded([value], set(proven))
            when_true, when_false = self._checked(value)
            proven |= when_true if isinstance(node.op, ast.And) else when_false

    def visit_Attribute(self, node: ast.Attribute) -> None:
        kind = self._kind(node.value)
        if kind == "arg" and not node.attr.startswith("__"):
            self._use("arg", ast.Constant(node.attr), node.lineno, direct=True)
        elif kind in ("input", "output", "env") and self.depth:
            self.usage.opaque.add(kind)  # .items(), .keys(), .copy(): every name may be read
        elif kind != "os_env":
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        kind = self._kind(node)
        if kind and kind != "os_env" and self.depth and isinstance(node.ctx, ast.Load):
            self.usage.opaque.add(kind)  # passed on whole: the names it reads are not visible here


def scan_script(path: str | os.PathLike) -> ScriptUsage:
    """The logical names a script reads, found with ``ast`` without importing the script.

    Code inside functions counts, and ``os.environ`` reads at module level (they run at import). A
    ``__main__`` block does not run when pipetest calls ``main``: it fills the containers, it does not
    read them.
    """
    path = Path(path)
    usage = ScriptUsage(file=path)
    try:
        tree = parse_script(path)
    except SyntaxError as exc:
        usage.error, usage.error_line = f"Python syntax error: {exc.msg}", exc.lineno
        return usage
    except (OSError, UnicodeDecodeError) as exc:
        usage.error = f"cannot read the script: {exc}"
        return usage
    _Scanner(tree, usage).visit(tree)
    return usage
