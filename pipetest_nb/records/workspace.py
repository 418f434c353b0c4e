"""The workspace: a folder holding runs (``runs/<run_id>/``) and the step cache (``cache/``)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from pipetest_nb.exceptions import PipetestError, RunNotFoundError, RunRecordError
from pipetest_nb.records.folder import RunFolder
from pipetest_nb.records.record import RunRecord, load_record
from pipetest_nb.records.writer import RunWriter


def new_run_id(pipeline: str) -> str:
    """Sortable, unique, and safe as a folder name."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", pipeline).strip("-")[:40] or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(3)}"


def library_versions() -> dict[str, str]:
    """Versions of what changes a script's results (pandas 2 vs 3 ...), without importing anything new."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0]}
    for dist in ("pandas", "numpy", "pyarrow", "scikit-learn", "great-expectations", "pipetest_nb"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return versions


@dataclass
class Workspace:
    """A folder holding runs and the step cache."""

    root: Path

    def __post_init__(self) -> None:
        self.root = check_workspace_root(self.root)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def create_run(self, pipeline_name: str, run_id: str | None = None) -> RunWriter:
        """A writer for a new run; its folder appears when the first step starts (``RunWriter.attach``)."""
        run_id = run_id or new_run_id(pipeline_name)
        folder = RunFolder(self.runs_dir / run_id)
        if folder.path.exists():
            raise PipetestError(f"run folder {folder.path} already exists; pick another run id")
        return RunWriter(folder, RunRecord.empty(), new=True)

    def runs(self) -> list[RunRecord]:
        """Every run, newest first; one that cannot be read is listed as ``RunRecord.unreadable`` (its
        ``problem`` says why) after the others, so one damaged folder never hides or breaks the list."""
        if not self.runs_dir.is_dir():
            return []
        records = []
        for path in sorted(self.runs_dir.iterdir()):
            if path.is_symlink():
                records.append(RunRecord.unreadable(path, "the run folder is a symlink; it is not followed"))
                continue
            if not path.is_dir():
                continue
            try:
                records.append(load_record(path))
            except RunNotFoundError:
                continue  # not a run folder (yet)
            except RunRecordError as exc:
                records.append(RunRecord.unreadable(path, f"{exc.file}: {exc.reason}"))
            except (PipetestError, OSError) as exc:
                records.append(RunRecord.unreadable(path, str(exc)))
        return sorted(records, key=lambda r: (r.problem is None, r.data.get("started_at") or 0, r.run_id),
                      reverse=True)


def run_workspace(run_dir: Path) -> Workspace:
    """The workspace a run folder belongs to (``<workspace>/runs/<run_id>``)."""
    return Workspace(Path(run_dir).absolute().parent.parent)


class WorkspaceError(PipetestError):
    """A ``--workspace`` (or Session workspace) that cannot hold runs: a file, a device, /proc, /sys."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"workspace {path}: {reason}; give a folder (it is created if missing), "
                         "for example --workspace pipetest_workspace")


def check_workspace_root(path: str | os.PathLike) -> Path:
    """``path`` made absolute, if a workspace can live there: a folder, or a place one can be made.

    Refuses, before any run folder is attempted, what would end in a bare OSError: a file, a device
    such as /dev/null, a path under a file, and the kernel's /proc and /sys.
    """
    import stat

    root = Path(path).absolute()
    real = os.path.realpath(root)
    for top in ("/proc", "/sys"):
        if real == top or real.startswith(top + "/"):
            raise WorkspaceError(str(root), f"it is under {top}, a kernel file system that cannot hold files")
    probe = root
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    try:
        mode = os.stat(probe).st_mode
    except FileNotFoundError:
        raise WorkspaceError(str(root), f"{probe} is a broken symbolic link") from None
    except OSError as exc:
        raise WorkspaceError(str(root), f"cannot use it: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(mode):
        what = "a file" if stat.S_ISREG(mode) else "a device or other special file"
        raise WorkspaceError(str(root), f"it is {what}, not a folder" if probe == root
                             else f"{probe} is {what}, so no folder can be made under it")
    return root
