"""Run folders on disk: the run record, the event log, the lock, and where step files go.

```
<workspace>/runs/<run_id>/
  run.json        snapshot of the run record (atomic: temp file + os.replace)
  events.jsonl    append-only, flushed per event: the source of truth
  steps/<step>/outputs/<output>/...   what the step wrote
  steps/<step>/stdout.log, stderr.log
```

The record is a fold over the events (``RunRecord.apply``), so a run killed at any moment reopens
from its last snapshot plus the events written after it. The snapshot is rewritten after every
transition, at most every ``snapshot_interval`` seconds while steps keep finishing (rewriting a
large record per event would make long runs quadratic); the event log carries the rest.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetest_nb.events import EdgeState, Event, EventKind, StepStatus
from pipetest_nb.exceptions import (
    PipetestError,
    RecordWriteError,
    RunLockedError,
    RunNotFoundError,
    RunRecordError,
)
from pipetest_nb.json_values import dumps
from pipetest_nb.records.schema import (
    SCHEMA_VERSION,
    RunStatus,
    SchemaProblem,
    check_record,
    event_line,
    prepare_for_writing,
    read_record_file,
    read_run_events,
    writer_alive,
)


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


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so that a reader (or a crash) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(dumps(data))  # strict JSON, NaN/±inf/NaT tagged; the C encoder whenever it can
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def edge_key(source: str, target: str) -> str:
    return f"{source}->{target}"


# --------------------------------------------------------------------------------------------------
# The record: a fold over events
# --------------------------------------------------------------------------------------------------


class RunRecord:
    """Everything known about one run, rebuilt from events. ``data`` is what run.json holds
    (``record_schema.RunRecordData``); ``run_dir`` is where it was read from, if it was."""

    def __init__(self, data: dict[str, Any], run_dir: Path | None = None, problem: str | None = None):
        self.data = data
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.problem = problem  # why the folder could not be read (``unreadable``)
        self._writer_gone: bool | None = None

    @classmethod
    def empty(cls) -> RunRecord:
        return cls({"schema_version": SCHEMA_VERSION, "status": RunStatus.CREATED, "steps": {}, "edges": {},
                    "last_seq": -1})

    @classmethod
    def unreadable(cls, run_dir: Path, why: str) -> RunRecord:
        """A run folder that cannot be read, listed with the reason instead of being dropped."""
        record = cls.empty()
        record.data["run_id"] = Path(run_dir).name
        return cls(record.data, run_dir, problem=why)

    # -- views -------------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.data.get("run_id") or (self.run_dir.name if self.run_dir is not None else "")

    @property
    def status(self) -> str:
        return self.data.get("status", "created")

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.data["steps"]

    @property
    def edges(self) -> dict[str, dict[str, Any]]:
        return self.data["edges"]

    def step_status(self, step: str) -> str:
        return self.steps.get(step, {}).get("status", StepStatus.PENDING)

    @property
    def writer_gone(self) -> bool:
        """The record says running but no process writes it any more (checked by lock and pid, read-only)."""
        if self._writer_gone is None:
            self._writer_gone = (self.status == RunStatus.RUNNING and self.run_dir is not None
                                 and writer_alive(self.run_dir, self.data) is False)
        return self._writer_gone

    @property
    def shown_status(self) -> str:
        """The status to show: ``unreadable: why``, ``interrupted`` for a running run whose writer is gone."""
        if self.problem is not None:
            return f"unreadable: {self.problem}"
        return RunStatus.INTERRUPTED if self.writer_gone else self.status

    def shown_step_status(self, step: str) -> str:
        """A step's status to show: a step left running by a writer that is gone shows as interrupted."""
        status = self.step_status(step)
        return StepStatus.INTERRUPTED if status == StepStatus.RUNNING and self.writer_gone else status

    # -- the fold ----------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Update the record with one event; applying the same events in order always gives the same record."""
        d = self.data
        if event.seq <= d.get("last_seq", -1):
            return
        d["last_seq"] = event.seq
        data = event.data
        kind = event.kind
        if kind == EventKind.RUN_STARTED:
            d.update({k: v for k, v in data.items() if k != "steps"})
            d["run_id"] = event.run_id
            d["status"] = "running"
            d.setdefault("started_at", event.time)
            for name in data.get("steps", []):
                d["steps"].setdefault(name, {"status": StepStatus.PENDING})
        elif kind == EventKind.RUN_REOPENED:
            d["status"] = "running"
            d.setdefault("reopened", []).append({"time": event.time, **data})
        elif kind == EventKind.STEP_STARTED:
            step = d["steps"].setdefault(event.step, {})
            attempts = step.get("attempts", 0) + 1
            step.clear()
            step.update({"status": StepStatus.RUNNING, "started_at": event.time, "attempts": attempts, **data})
        elif kind in (EventKind.STEP_FINISHED, EventKind.STEP_STATUS):
            step = d["steps"].setdefault(event.step, {})
            if kind == EventKind.STEP_STATUS and data.get("status") in (StepStatus.PENDING,):
                attempts = step.get("attempts", 0)
                step.clear()
                step["attempts"] = attempts
            step.update(data)
            if kind == EventKind.STEP_FINISHED:
                step["finished_at"] = event.time
        elif kind == EventKind.EDGE_CHECKED:
            source, target = data["edge"]
            entry = d["edges"].setdefault(edge_key(source, target), {"source": source, "target": target})
            for part in ("compatibility", "expectations"):
                if part in data:
                    entry[part] = data[part]
            entry["state"] = data.get("state", EdgeState.UNCHECKED)
        elif kind == EventKind.RUN_FINISHED:
            d.update(data)
            d["finished_at"] = event.time

    def summary(self) -> dict[str, Any]:
        """The short form shown by ``pipetest runs`` and the debugger's run list."""
        counts: dict[str, int] = {}
        for name in self.steps:
            status = self.shown_step_status(name)
            counts[status] = counts.get(status, 0) + 1
        return {"run_id": self.run_id, "pipeline": (self.data.get("pipeline") or {}).get("name"),
                "status": self.shown_status, "started_at": self.data.get("started_at"),
                "duration": self.data.get("duration"), "counts": counts,
                "root_failure": self.data.get("root_failure"), "problem": self.problem}


def read_events(path: Path) -> Iterator[Event]:
    """Events from an events.jsonl, checked (``record_schema``); a torn last line (the writer was killed
    mid-write) is skipped; a file or line that is not what a run writes is a ``RunRecordError``."""
    return read_run_events(Path(path))


def load_record(run_dir: Path) -> RunRecord:
    """The run record: the last snapshot plus every event written after it. Reads only: nothing is written.

    A snapshot that is absent or half-written is rebuilt from the events; a folder whose files are
    symlinks, special files, too big, or of the wrong shape is a ``RunRecordError`` saying so.
    """
    run_dir = Path(run_dir)
    if not (os.path.lexists(run_dir / "run.json") or os.path.lexists(run_dir / "events.jsonl")):
        raise RunNotFoundError(str(run_dir))
    snapshot = read_record_file(run_dir)
    record = RunRecord(snapshot if snapshot is not None else RunRecord.empty().data, run_dir)
    try:
        for event in read_events(run_dir / "events.jsonl"):
            record.apply(event)
        check_record(record.data)
    except SchemaProblem as exc:
        raise RunRecordError(str(run_dir), "events.jsonl", f"the record they make is wrong: {exc}") from None
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise RunRecordError(str(run_dir), "events.jsonl", f"cannot be folded into a record "
                             f"({type(exc).__name__}: {exc})") from None
    return record


# --------------------------------------------------------------------------------------------------
# Writing a run
# --------------------------------------------------------------------------------------------------


class RunFolder:
    """Paths inside one run folder. Every name is checked so that nothing leaves the folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._real_root: str | None = None

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def record_path(self) -> Path:
        return self.path / "run.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def _inside(self, *parts: str) -> Path:
        from pipetest_nb.spec.names import name_problem

        for part in parts:
            why = name_problem(part, "step or output")
            if why:
                raise PipetestError(f"refusing path {'/'.join(parts)!r} in run {self.run_id}: {why}")
        path = self.path.joinpath(*parts)
        if self._real_root is None:
            self._real_root = os.path.realpath(self.path)
        real_root = self._real_root
        if os.path.commonpath([os.path.realpath(path), real_root]) != real_root:
            raise PipetestError(f"refusing path {path}: it resolves outside the run folder {self.path} "
                                "(a symlink?); remove the link and rerun")
        return path

    def step_dir(self, step: str) -> Path:
        return self._inside("steps", step)

    def output_dir(self, step: str, output: str) -> Path:
        return self._inside("steps", step, "outputs", output)

    def input_dir(self, step: str, name: str) -> Path:
        """Where generated (synthetic) or empty optional inputs of a step live."""
        return self._inside("steps", step, "inputs", name)

    def log_path(self, step: str, stream: str) -> Path:
        return self.step_dir(step) / f"{stream}.log"


class RunWriter:
    """The single writer of a run: appends events, keeps the record, holds the folder's lock.

    It takes nothing on disk until something runs: events before that (a new run's header, the
    corrections a reopened run needs) are folded into the record in memory and ``held``; the first
    ``emit`` (``attach``) creates the folder of a new run, takes the lock and writes them. So creating
    a run, or opening a recorded one, and closing it again leaves the disk as it was.
    """

    def __init__(self, folder: RunFolder, record: RunRecord, snapshot_interval: float = 0.1, *,
                 new: bool = False, lock_wait: float = 0.0):
        self.folder = folder
        self.record = record
        self.snapshot_interval = snapshot_interval
        self.failed: RecordWriteError | None = None
        self._new = new
        self._lock_wait = lock_wait
        self._lock = threading.RLock()
        self._lock_file: Any = None
        self._events: Any = None
        self._held: list[Event] = []
        self._on_attach: list[Callable[[], None]] = []
        self._seq = record.data.get("last_seq", -1)
        self._opened_seq = self._seq
        self._last_snapshot = 0.0
        self._snapshot_cost = 0.0
        self._dirty = False

    @property
    def run_id(self) -> str:
        return self.folder.run_id

    @property
    def attached(self) -> bool:
        """Whether this writer holds the folder (it has written, or is about to)."""
        return self._events is not None

    @property
    def held(self) -> list[Event]:
        """Events folded into the record but not written yet (nothing has run since the run was made or opened)."""
        return list(self._held)

    def on_attach(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, right after the folder is taken (e.g. to kill what a dead runner left)."""
        self._on_attach.append(callback)

    def attach(self) -> None:
        """Take the folder for writing: create it (a new run), lock it, write the held events."""
        with self._lock:
            if self._events is not None:
                return
            if self.failed is not None:
                raise self.failed
            try:
                if self._new:
                    self._create()
                else:
                    self._lock_file = _acquire_lock(self.folder.path, self._lock_wait)
                    prepare_for_writing(self.folder.path)
                    if _last_seq_on_disk(self.folder.path) != self._opened_seq:
                        _release_lock(self._lock_file)
                        raise PipetestError(f"run {self.folder.path} was written by another process since it "
                                            "was opened here; open it again (Session.open) to see and continue it")
                    self._events = open(self.folder.events_path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the run
                    self._write_held()
            except OSError as exc:
                self.failed = RecordWriteError(str(self.folder.path), exc.strerror or str(exc))
                raise self.failed from exc
            callbacks, self._on_attach = self._on_attach, []
            for callback in callbacks:  # under the lock: no other thread writes before the takeover is recorded
                callback()

    def _create(self) -> None:
        """Make a new run's folder whole or not at all: built under a hidden name, then renamed.

        The lock and the event log stay open across the rename, so a kill at any moment leaves
        either no run or a run that reopens.
        """
        final = self.folder.path
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise PipetestError(f"cannot start run {final.name}: {final} already exists (something wrote into "
                                "the run's folder before its first step); move it away, or start a new run")
        building = final.with_name(f".{final.name}.creating")
        building.mkdir()
        try:
            self._lock_file = _acquire_lock(building)
            self._events = open(building / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - lives with the run
            self.folder.path = building
            self._write_held()
            os.rename(building, final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        finally:
            self.folder.path = final

    def _write_held(self) -> None:
        held, self._held = self._held, []
        for event in held:
            self._events.write(json.dumps(event_line(event), default=str) + "\n")
        self._events.flush()
        self._dirty = True
        self._maybe_snapshot(force=True)

    def _next(self, kind: str, step: str | None, data: dict[str, Any]) -> Event:
        self._seq += 1
        return Event(kind=kind, run_id=self.run_id, seq=self._seq, time=time.time(), step=step, data=data)

    def hold(self, kind: str, step: str | None = None, **data: Any) -> Event:
        """Fold an event into the record now; write it only when something runs (``emit`` once attached)."""
        with self._lock:
            if self._events is not None:
                return self.emit(kind, step, **data)
            event = self._next(kind, step, data)
            self.record.apply(event)
            self._held.append(event)
            return event

    def emit(self, kind: str, step: str | None = None, **data: Any) -> Event:
        """Record one event: append it to the log (flushed), fold it into the record, snapshot."""
        with self._lock:
            if self.failed is not None:
                raise self.failed
            self.attach()
            event = self._next(kind, step, data)
            if kind != EventKind.STEP_OUTPUT:
                try:
                    self._events.write(json.dumps(event_line(event), default=str) + "\n")
                    self._events.flush()
                    self.record.apply(event)
                    self._dirty = True
                    self._maybe_snapshot(force=kind in (EventKind.RUN_STARTED, EventKind.RUN_FINISHED,
                                                        EventKind.RUN_REOPENED))
                except OSError as exc:
                    self.failed = RecordWriteError(str(self.folder.path), exc.strerror or str(exc))
                    raise self.failed from exc
            return event

    def _maybe_snapshot(self, force: bool = False) -> None:
        """Rewrite run.json, but never spend more than about a tenth of the run's time doing it."""
        now = time.monotonic()
        if force or now - self._last_snapshot >= max(self.snapshot_interval, 10 * self._snapshot_cost):
            atomic_write_json(self.folder.record_path, self.record.data)
            self._last_snapshot = time.monotonic()
            self._snapshot_cost = self._last_snapshot - now
            self._dirty = False

    def flush(self) -> None:
        """Write the snapshot now if anything changed since the last one."""
        with self._lock:
            if self._dirty and self.failed is None and self._events is not None:
                try:
                    self._maybe_snapshot(force=True)
                except OSError as exc:
                    self.failed = RecordWriteError(str(self.folder.path), exc.strerror or str(exc))
                    raise self.failed from exc

    def close(self) -> None:
        """Write the last snapshot (when the disk lets us) and release the folder; held events are dropped."""
        with self._lock:
            self._held = []
            if self._events is None or self._events.closed:
                return
            try:
                with contextlib.suppress(RecordWriteError):
                    self.flush()
            finally:
                with contextlib.suppress(OSError):
                    self._events.close()
                _release_lock(self._lock_file)


def _last_seq_on_disk(run_dir: Path) -> int:
    """The newest event sequence number recorded in a run folder (-1 for none)."""
    with contextlib.suppress(PipetestError, OSError):
        return load_record(run_dir).data.get("last_seq", -1)
    return -1


def _acquire_lock(run_dir: Path, wait: float = 0.0) -> Any:
    """Lock the run folder for this process; ``wait`` seconds of patience for a lock on its way out
    (a child the dead runner forked holds the lock until it has exec'd its step)."""
    import fcntl

    fh = open(run_dir / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held for the run's lifetime
    give_up = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < give_up:
                time.sleep(0.05)
                continue
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise RunLockedError(str(run_dir), holder) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
    fh.flush()
    return fh


def _release_lock(fh: Any) -> None:
    import fcntl

    with contextlib.suppress(OSError, ValueError):
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


# --------------------------------------------------------------------------------------------------
# The workspace
# --------------------------------------------------------------------------------------------------


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


def open_writer(run_dir: Path) -> RunWriter:
    """A writer for an existing run folder; it takes the folder (lock, writes) only when something runs."""
    record = load_record(run_dir)
    return RunWriter(RunFolder(Path(run_dir)), record, lock_wait=2.0)


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
