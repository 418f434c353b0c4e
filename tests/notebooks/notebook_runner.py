"""Run a notebook headless with nbclient, in a kernel of a chosen Python, away from the user's Jupyter.

The kernelspec is written to a temporary folder and handed to the kernel manager directly, so no
user-level or system kernelspec is ever used. The kernel's TMPDIR and IPYTHONDIR point into a
temporary folder too: the notebooks make their scratch folders with ``tempfile``, so everything they
write lands there.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL_NAME = "pipetest-nb-under-test"
CELL_TIMEOUT = 300  # seconds; a loaded 2-core machine can take a while over a whole pipeline


def kernel_manager(python: str | Path, folder: Path) -> AsyncKernelManager:
    """A kernel manager whose only kernelspec runs ``python -m ipykernel_launcher`` with temp folders."""
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp"
    tmp.mkdir(exist_ok=True)
    spec = {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "pipetest_nb under test", "language": "python",
            "env": {"TMPDIR": str(tmp), "IPYTHONDIR": str(folder / "ipython"), "PYTHONDONTWRITEBYTECODE": "1"}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def run_notebook(path: Path, python: str | Path, folder: Path, cwd: Path | None = None,
                 extra_cells: list[str] = ()) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom (errors are kept in the outputs, not raised) and return it.

    The kernel starts in ``cwd`` (default: the notebook's folder, as Jupyter would); ``extra_cells``
    are appended before running, to ask the kernel things the notebook itself does not print.
    """
    nb = nbformat.read(path, as_version=4)
    for i, source in enumerate(extra_cells):
        nb.cells.append(nbformat.v4.new_code_cell(source, id=f"test-extra-{i}"))
    client = NotebookClient(nb, km=kernel_manager(python, folder), timeout=CELL_TIMEOUT, allow_errors=True,
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    return nb


def errors(nb: nbformat.NotebookNode) -> list[str]:
    """Every error output, as 'cell <id>: Name: value'."""
    return [f"cell {cell.get('id')}: {out.get('ename')}: {out.get('evalue')}\n" + "\n".join(out.get("traceback", []))
            for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.output_type == "error"]


def cell_text(nb: nbformat.NotebookNode, cell_id: str) -> str:
    """What a cell printed and displayed as text (streams and text/plain), joined."""
    [cell] = [c for c in nb.cells if c.get("id") == cell_id]
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def cell_mimetypes(nb: nbformat.NotebookNode, cell_id: str) -> set[str]:
    """The MIME types a cell displayed."""
    [cell] = [c for c in nb.cells if c.get("id") == cell_id]
    return {mime for out in cell.get("outputs", []) for mime in out.get("data", {})}
