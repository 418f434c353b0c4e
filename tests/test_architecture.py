"""The house rules: the layer contracts hold (and can break), no import cycles, small modules and functions."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pipetest_nb"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
#: Step scripts the demo and the examples ship: user code, not the product's modules.
NOT_PRODUCT = ("demo/scripts", "demo/broken", "examples")
#: Modules allowed past MAX_MODULE_LINES: relative path -> why.
ALLOWED_LONG_MODULES: dict[str, str] = {}
#: Functions allowed past MAX_FUNCTION_LINES: "relative/path.py:qualified.name" -> why.
ALLOWED_LONG_FUNCTIONS: dict[str, str] = {}


def lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_layer_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("spec/model.py", "import pipetest_nb.views", "Layers: views > session"),
    ("spec/model.py", "import pipetest_nb.views", "Only views draw"),
    ("records/workspace.py", "import plotly", "Only views draw"),
    ("cursus/layer.py", "import pipetest_nb.engine.run", "never reach into the engine"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    """The contracts are not vacuous: the same configuration fails on a copy with one bad import."""
    shutil.copytree(PACKAGE, tmp_path / "pipetest_nb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "pipetest_nb" / module
    target.write_text(target.read_text() + f"\n{line}  # the forbidden import\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # grimp must find the copy, not the installed package
    done = lint_imports(tmp_path, env)
    assert done.returncode != 0, done.stdout
    report = " ".join(done.stdout.split())  # lint-imports wraps long contract names
    verdict = re.search(re.escape(contract) + r".*?\b(KEPT|BROKEN)\b", report)
    assert verdict is not None and verdict.group(1) == "BROKEN", done.stdout


def module_graph() -> nx.DiGraph:
    """Module -> module imports inside the package, function-level and ``if TYPE_CHECKING:`` imports
    included: a module that names another only in its type hints still depends on it for a reader.
    """
    graph = grimp.build_graph("pipetest_nb", exclude_type_checking_imports=False, cache_dir=None)
    edges = nx.DiGraph()
    for module in graph.modules:
        edges.add_node(module)
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    return edges


def test_no_import_cycles():
    graph = module_graph()
    assert graph.has_edge("pipetest_nb.engine.run", "pipetest_nb.records.cache")  # function-level imports count
    cycles = sorted((" -> ".join([*c, c[0]]) for c in nx.simple_cycles(graph)), key=len)
    assert not cycles, f"{len(cycles)} import cycle(s), shortest first:\n" + "\n".join(cycles[:20])


def product_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if not any(part in p.relative_to(PACKAGE).as_posix() for part in NOT_PRODUCT)]


def test_modules_are_small():
    too_long = []
    for path in product_modules():
        rel = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES and rel not in ALLOWED_LONG_MODULES:
            too_long.append(f"{rel}: {lines} lines")
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them, or allow one with a reason):\n" + \
        "\n".join(too_long)


def long_functions(path: Path) -> list[tuple[str, int]]:
    """(qualified name, lines) of each function in ``path`` longer than MAX_FUNCTION_LINES."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found.append((name, lines))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def test_functions_are_short():
    too_long = []
    for path in product_modules():
        rel = path.relative_to(PACKAGE).as_posix()
        for name, lines in long_functions(path):
            if f"{rel}:{name}" not in ALLOWED_LONG_FUNCTIONS:
                too_long.append(f"{rel}:{name}: {lines} lines")
    assert not too_long, (f"functions over {MAX_FUNCTION_LINES} lines (split them, or allow one with a "
                          "reason):\n" + "\n".join(too_long))


def test_the_allowed_exceptions_still_exist_and_say_why():
    """An allowance outlives nothing: it names a module or function that is still too long, with a reason."""
    for rel, why in ALLOWED_LONG_MODULES.items():
        assert why.strip(), rel
        assert len((PACKAGE / rel).read_text(encoding="utf-8").splitlines()) > MAX_MODULE_LINES, rel
    for key, why in ALLOWED_LONG_FUNCTIONS.items():
        rel, name = key.split(":", 1)
        assert why.strip(), key
        assert name in dict(long_functions(PACKAGE / rel)), key


def test_every_place_that_accepts_an_isolation_name_lists_the_registered_launchers():
    """spec/ may not import launch/: the names it accepts are a copy, kept equal here."""
    import argparse

    from pipetest_nb.launch import LAUNCHERS
    from pipetest_nb.spec.keys import ISOLATIONS
    from pipetest_nb.views.cli.main import build_parser

    assert set(ISOLATIONS) == set(LAUNCHERS)

    def isolation_choices(parser: argparse.ArgumentParser, path: str) -> dict[str, set[str]]:
        found = {}
        for action in parser._actions:
            if action.dest == "isolation":
                found[path] = set(action.choices)
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.update(isolation_choices(sub, f"{path} {name}"))
        return found

    choices = isolation_choices(build_parser(), "pipetest")
    assert {"pipetest run", "pipetest resume", "pipetest demo", "pipetest cursus run"} <= set(choices)
    assert {path: c for path, c in choices.items() if c != set(LAUNCHERS)} == {}


def test_the_architecture_document_names_real_paths_and_every_layer():
    """docs/architecture.md follows the layout: each path it names exists, each package and top module is named."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_<>]*)*(?:\.py|/))`", text))
    files = {p.name for p in PACKAGE.rglob("*.py")}  # a bare file name sits in the folder its table row names

    def exists(path: str) -> bool:
        return (PACKAGE / path).exists() or (ROOT / path).exists() or ("/" not in path and path in files)

    missing = sorted(p for p in named if "<" not in p and not exists(p))
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
    top = {f"{p.name}/" if p.is_dir() else p.name for p in PACKAGE.iterdir()
           if not p.name.startswith("_") and (p.is_dir() and (p / "__init__.py").exists() or p.suffix == ".py")}
    unnamed = sorted(top - named - {"examples/"})
    assert not unnamed, f"docs/architecture.md does not place {unnamed} in a layer"
