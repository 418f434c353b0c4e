"""The static scan of a step script: which logical names it reads, found with ``ast``.

A script's contract and its code drift apart; a contract check must see what the code reads
without running it (a Cursus script imports what a test machine may lack). Names read from the
four ``main`` parameters and from ``os.environ`` are collected; a container passed on whole or
indexed by a variable is "opaque": any of its names may be read.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class ScriptUsage:
    """What a static scan of a script found; ``opaque`` kinds are passed on whole or indexed by variables."""

    file: Path
    uses: list[NameUse] = field(default_factory=list)
    opaque: set[str] = field(default_factory=set)
    has_main: bool = False
    error: str | None = None
    error_line: int | None = None

    def names(self, kind: str) -> dict[str, NameUse]:
        """Each name of ``kind`` with its first direct use, else its first use."""
        out: dict[str, NameUse] = {}
        for use in self.uses:
            if use.kind == kind and (use.name not in out or (use.direct and not out[use.name].direct)):
                out[use.name] = use
        return out


class _Scanner(ast.NodeVisitor):
    """Collects the names a script reads from its four ``main`` parameters and from ``os.environ``."""

    def __init__(self, tree: ast.Module, usage: ScriptUsage):
        self.usage = usage
        self.containers = {kind: {name} for kind, name in _CONTAINER_DEFAULTS.items()}
        self.os_names, self.environ_names, self.getenv_names = {"os"}, set(), set()
        self.depth = 0
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
                usage.has_main = True
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

    def _use(self, kind: str, key: ast.AST, line: int, direct: bool) -> None:
        if self.depth == 0:
            return
        via_os = kind == "os_env"
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            self.usage.uses.append(NameUse("env" if via_os else kind, key.value, line, direct, via_os))
        elif not via_os:
            self.usage.opaque.add(kind)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_Subscript(self, node: ast.Subscript) -> None:
        kind = self._kind(node.value)
        if kind in ("input", "output", "env", "os_env"):
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
        if kind in ("input", "output", "env", "os_env") and func.attr in _GETTERS and node.args:
            self._use(kind, node.args[0], node.lineno, direct=False)
        elif is_getenv and node.args:
            self._use("os_env", node.args[0], node.lineno, direct=False)
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
        for child in node.body + node.orelse:
            self.visit(child)

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

    Only code inside functions counts: a ``__main__`` block fills the containers, it does not read them.
    """
    path = Path(path)
    usage = ScriptUsage(file=path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        usage.error, usage.error_line = f"Python syntax error: {exc.msg}", exc.lineno
        return usage
    except (OSError, UnicodeDecodeError) as exc:
        usage.error = f"cannot read the script: {exc}"
        return usage
    _Scanner(tree, usage).visit(tree)
    return usage
