"""Writes a step made outside its own outputs: other steps' folders, the cache, the run record, ``..``.

A step may write its own outputs (and its step folder, where its logs go), nothing else. Before it
runs, ``OutsideWrites.take`` notes the type, size, mtime and inode of every entry (``lstat`` only,
nothing is read or hashed) of:

- the folders of the run's steps that have finished (their outputs and logs no longer change),
- the cache entries those steps stored or restored (their files are read-only copies),
- the run folder's own files: ``run.json`` may only be replaced whole (the engine writes a new file
  and renames it), ``events.jsonl`` may only grow, any other file must stay as it was,
- the files beside the run folder (``..``): other runs' folders may appear (another session), none
  may disappear, and no file there may appear or change.

After the step, ``changes`` compares and returns one warning that names the step and the paths.
The step's own inputs are left out: the engine checks those with hashes and warns on its own.
Steps running at the same time as this one are not looked at, so parallel runs raise no false alarm.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import StepStatus
from pipetest_nb.files import display_path

if TYPE_CHECKING:
    from pipetest_nb.engine.context import RunContext
    from pipetest_nb.launch.base import StepJob

#: Paths named in one warning; the rest are counted.
MAX_NAMED = 10

_Entry = tuple[str, int, int, int]  # kind, size, mtime_ns, inode
#: Statuses of steps whose folders no longer change while another step runs.
_SETTLED = (StepStatus.SUCCEEDED, StepStatus.CACHED, StepStatus.FAILED, StepStatus.SKIPPED)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    return "link" if stat.S_ISLNK(mode) else "file"


def _entry(path: str) -> _Entry | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return _kind(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino


_FOLDER: _Entry = ("dir", 0, 0, 0)


def _listed(item: os.DirEntry) -> _Entry | None:
    """The entry of a listed item; a folder's is only its kind (only whether it is there is compared), known
    from the listing itself, so a folder of many runs or files costs no call per folder."""
    try:
        if item.is_dir(follow_symlinks=False):
            return _FOLDER
        st = item.stat(follow_symlinks=False)
    except OSError:
        return None
    return _kind(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino


def _tree(root: Path, skip: set[str], into: dict[str, _Entry]) -> None:
    """Every entry under ``root`` (links not followed), except the paths in ``skip`` and below them."""
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for item in entries:
            if item.path in skip:
                continue
            found = _listed(item)
            if found is None:
                continue
            into[item.path] = found
            if found[0] == "dir":
                pending.append(item.path)


class OutsideWrites:
    """A picture of what a step must not touch, taken before it runs and compared after."""

    def __init__(self, step: str, run_dir: Path, roots: list[Path], skip: set[str],
                 states: Callable[[], dict[str, Any]] | None = None):
        self.step = step
        self.run_dir = Path(run_dir)
        self._roots = roots
        self._skip = skip
        self._states = states  # each settled step's (status, attempts): a step that started again meanwhile
        self._before_states = states() if states else {}  # (a retry in a parallel run) rewrote its own folder
        self._watched = self._trees()
        self._where = str(self.run_dir)  # the folders listed before and after, as text once
        self._parent = os.path.dirname(self._where)
        self._record: dict[str, _Entry] = {}
        for item in _listing(self._where):
            if item.name != "steps" and not item.name.startswith(".") and (found := _entry(item.path)):
                self._record[item.path] = found
        self._beside = {item.path: found for item in _listing(self._parent)
                        if item.path != self._where and (found := _listed(item))}
        #: The step folders listed before, and which steps' folders must not appear (``for_step``).
        self._step_folders: tuple[set[str], Callable[[str], bool]] | None = None

    @classmethod
    def take(cls, step: str, run_dir: Path, finished_steps: list[str], cache_entries: list[Path],
             inputs: list[str], states: Callable[[], dict[str, Any]] | None = None) -> OutsideWrites:
        """The picture before ``step`` runs; ``finished_steps`` are steps whose folders must not change."""
        roots = [Path(run_dir) / "steps" / s for s in finished_steps if s != step] + [Path(p) for p in cache_entries]
        return cls(step, Path(run_dir), roots, {os.path.abspath(p) for p in inputs}, states)

    @classmethod
    def for_step(cls, run: RunContext, step: str, job: StepJob) -> OutsideWrites:
        """The picture before a step of ``run`` starts: settled steps and the cache entries they used.

        Only the step folders on disk are looked at (one listing of ``steps/``): a step that wrote
        nothing has none, so a long run of such steps costs the same per step as a short one."""
        steps = run.writer.record.steps
        listed = {item.name for item in _listing(os.path.join(run.run_dir, "steps"))}
        taken_at = time.time()

        def settled_step(name: str) -> bool:
            return name != step and name in steps and steps[name].get("status") in _SETTLED

        def settled_before(name: str) -> bool:  # not one that ran beside this step and made its folder meanwhile
            return settled_step(name) and (steps[name].get("finished_at") or taken_at + 1) <= taken_at

        settled = [name for name in listed if settled_step(name)]
        keys = [steps[s].get("cache_key") for s in settled]
        entries = [run.cache.root / k for k in keys if isinstance(k, str) and (run.cache.root / k).is_dir()]

        def states() -> dict[str, Any]:
            return {s: (steps.get(s, {}).get("status"), steps.get(s, {}).get("attempts")) for s in settled}

        watch = cls.take(step, run.run_dir, settled, entries, list(job.input_paths.values()), states)
        watch._step_folders = (listed, settled_before)
        return watch

    def _trees(self) -> dict[str, _Entry]:
        found: dict[str, _Entry] = {}
        for root in self._roots:
            if str(root) not in self._skip:
                _tree(root, self._skip, found)
        return found

    def changes(self) -> str | None:
        """One warning naming the step and what it changed outside its outputs, or None."""
        found = _compare(self._watched, self._trees())
        if self._states is not None:
            now = self._states()
            moved = [str(self.run_dir / "steps" / s) + os.sep for s, state in self._before_states.items()
                     if now.get(s) != state]
            found = [(verb, path) for verb, path in found if not any(path.startswith(m) for m in moved)]
        found += self._new_step_folders()
        found += self._record_changes()
        found += self._beside_changes()
        if not found:
            return None
        shown = [f"{verb} {display_path(path)}" for verb, path in found[:MAX_NAMED]]
        more = f" and {len(found) - MAX_NAMED} more" if len(found) > MAX_NAMED else ""
        return (f"step '{self.step}' wrote outside its own outputs: {'; '.join(shown)}{more}. A step should "
                "write only to its output folders; other steps' outputs, the cache and the run record "
                "are not its to change")

    def _new_step_folders(self) -> list[tuple[str, str]]:
        """Folders made for steps settled before this one started that had none (they wrote nothing)."""
        if self._step_folders is None:
            return []
        listed, settled = self._step_folders
        return [("added", item.path) for item in _listing(os.path.join(self._where, "steps"))
                if item.name not in listed and settled(item.name)]

    def _record_changes(self) -> list[tuple[str, str]]:
        found = []
        for path, (_kind_, size, mtime, inode) in self._record.items():
            now = _entry(path)
            name = os.path.basename(path)
            if now is None:
                found.append(("deleted", path))
            elif name == "run.json":
                if now[3] == inode and (now[1], now[2]) != (size, mtime):
                    found.append(("modified", path))  # the engine replaces it whole, never in place
            elif name == "events.jsonl":
                if now[3] != inode or now[1] < size:
                    found.append(("rewrote", path))  # the engine only appends
            elif now != (_kind_, size, mtime, inode):
                found.append(("modified", path))
        for item in _listing(self._where):
            if (item.name not in ("steps",) and not item.name.startswith(".") and item.path not in self._record
                    and not item.is_dir(follow_symlinks=False)):
                found.append(("added", item.path))
        return found

    def _beside_changes(self) -> list[tuple[str, str]]:
        found = []
        now = {item.path: e for item in _listing(self._parent) if (e := _listed(item))}
        for path, before in self._beside.items():
            after = now.get(path)
            if after is None:
                found.append(("deleted", path))
            elif before[0] != "dir" and after != before:
                found.append(("modified", path))
        found += [("added", path) for path, e in now.items()
                  if path not in self._beside and path != self._where and e[0] != "dir"]
        return found


def _listing(folder: str | Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


def _compare(before: dict[str, _Entry], after: dict[str, _Entry]) -> list[tuple[str, str]]:
    found = []
    for path, entry in before.items():
        now = after.get(path)
        if now is None:
            found.append(("deleted", path))
        elif entry[0] != "dir" and now != entry:
            found.append(("modified", path))
    found += [("added", path) for path in after if path not in before]
    return sorted(found, key=lambda item: item[1])
