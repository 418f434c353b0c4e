"""The demo pipeline shipped with the package (``pipetest demo`` runs it: ``views/cli/demo.py``).

A churn model in the Cursus step-script convention (7 ``main``-mode scripts, a calibration branch and
a join), its Great Expectations suites, and a broken variant (``pipeline_broken.yaml``) with one
planted bug. ``pipetest demo`` copies it into the workspace so that users can edit it, runs it with
progress, writes the HTML report and says where everything is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SOURCE = Path(__file__).parent
PARTS = ("pipeline.yaml", "pipeline_broken.yaml", "pipeline.schema.json", "scripts", "broken", "expectations")


def demo_source() -> Path:
    """The folder of the pristine demo inside the installed package."""
    return SOURCE


def copy_demo(dest: str | Path, reset: bool = False) -> Path:
    """Copy the demo into ``dest``; files already there are kept (they may hold the user's edits)
    unless ``reset``. Returns ``dest``."""
    dest = Path(dest)
    for part in PARTS:
        src = SOURCE / part
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            target = dest / file.relative_to(SOURCE)
            if reset or not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)
    return dest


def demo_pipeline(workspace: str | Path = "pipetest_workspace", broken: bool = False, reset: bool = False) -> Path:
    """The pipeline file of the demo copied into ``<workspace>/demo`` (copied first if needed)."""
    folder = copy_demo(Path(workspace) / "demo", reset=reset)
    return folder / ("pipeline_broken.yaml" if broken else "pipeline.yaml")
