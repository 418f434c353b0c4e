"""What a step script imports when it is loaded, read with ``ast`` (nothing is run).

The static contract check and the warm worker pool read scripts the same way: ``parse_script``
parses the file without running it and without reporting the script's own invalid escapes. The
pool preloads the third-party modules a script imports at module level (``third_party_imports``):
what runs at import time is the module body and the bodies of its ``try`` / ``with`` blocks, not
functions, not ``if`` branches (``if TYPE_CHECKING:``, ``if __name__ == "__main__":``). Modules of the
standard library, of the script's own folder, relative imports and pipetest_nb itself are left out.
"""

from __future__ import annotations

import ast
import os
import sys
import warnings
from pathlib import Path

_ALWAYS_RUN = (ast.Try, ast.With) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
_NOT_THIRD_PARTY = frozenset({"__future__", "__main__", "pipetest_nb"})


def parse_script(path: str | os.PathLike) -> ast.Module:
    """The script's syntax tree; raises ``SyntaxError``, ``OSError`` or ``UnicodeDecodeError``."""
    path = Path(path)
    with warnings.catch_warnings():  # the script's own invalid escapes are not ours to report
        warnings.simplefilter("ignore")
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_level_imports(tree: ast.Module) -> list[str]:
    """Dotted names of the absolute imports that run when the module is loaded, in order, once each:
    ``import a.b`` gives ``a.b``, ``from a.b import c`` gives ``a.b``."""
    found: dict[str, None] = {}
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import):
            found.update(dict.fromkeys(alias.name for alias in node.names))
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found[node.module] = None
        elif isinstance(node, _ALWAYS_RUN):
            inner = list(getattr(node, "body", []))
            for handler in getattr(node, "handlers", []):
                inner += handler.body
            inner += getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            pending[:0] = inner
    return list(found)


def third_party_imports(script: str | os.PathLike) -> tuple[str, ...]:
    """The modules outside the standard library, the script's folder and pipetest_nb that ``script``
    imports at module level; ``()`` for a script that cannot be read or parsed (it fails when it runs)."""
    script = Path(script)
    try:
        tree = parse_script(script)
    except (SyntaxError, OSError, UnicodeDecodeError, ValueError):
        return ()
    folder = script.parent
    out = []
    for name in module_level_imports(tree):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in _NOT_THIRD_PARTY or top == script.stem:
            continue
        if (folder / f"{top}.py").exists() or (folder / top).is_dir():
            continue  # a helper module or package beside the script
        out.append(name)
    return tuple(out)
