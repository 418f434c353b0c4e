"""Writing a run: the one ``RunWriter`` of a run folder appends events, keeps the record and its snapshot.

```
<workspace>/runs/<run_id>/
  run.json        snapshot of the run record (atomic: temp file + os.replace)
  events.jsonl    append-only, flushed per event: the source of truth
  steps/<step>/outputs/<output>/...   what the step wrote
  steps/<step>/stdout.log, stderr.log   (a step that printed nothing may have neither, nor a folder)
```

Crash safety rests on the event log: every event is one line, written and flushed to the kernel
before the engine goes on, so a SIGKILL at any moment loses no event that was reported (a torn last
line is the only trace of the one being written). Lines are not fsynced: a power cut may lose the
last events the OS had not yet written out. Readers fold the snapshot with every event after it.

The snapshot is written when the run starts, finishes or is reopened, and in between at most every
``snapshot_interval`` seconds and never sooner than twenty times what the last one cost (a record of
thousands of steps costs milliseconds to write: rewriting it per event would make long runs
quadratic); it is fsynced before it replaces run.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipetest_nb.events import Event, EventKind
from pipetest_nb.exceptions import PipetestError, RecordWriteError
from pipetest_nb.json_values import dumps
from pipetest_nb.records.folder import RunFolder
from pipetest_nb.records.lock import acquire_lock, release_lock
from pipetest_nb.records.record import RunRecord, load_record
from pipetest_nb.records.schema import EVENTS_FILE, RECORD_FILE, SCHEMA_VERSION, event_line


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


def prepare_for_writing(run_dir: Path) -> None:
    """Called by the writer once it holds the lock: end a torn last event line (so the next event
    starts on its own line) and remove the temporary snapshots a killed writer left."""
    run_dir = Path(run_dir)
    for tmp in run_dir.glob(f".{RECORD_FILE}.*.tmp"):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(tmp).st_mode):
                tmp.unlink()
    try:
        fd = os.open(run_dir / EVENTS_FILE, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_APPEND)
    except OSError:
        return  # absent (a new run), or not a file: reading it says what is wrong
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_size and os.pread(fd, 1, st.st_size - 1) != b"\n":
            os.write(fd, b"\n")
    finally:
        os.close(fd)


class RunWriter:
    """The single writer of a run: appends events, keeps the record, holds the folder's lock.

    It takes nothing on disk until something runs: events before that (a new run's header, the
    corrections a reopened run needs) are folded into the record in memory and ``held``; the first
    ``emit`` (``attach``) creates the folder of a new run, takes the lock and writes them. So creating
    a run, or opening a recorded one, and closing it again leaves the disk as it was.
    """

    def __init__(self, folder: RunFolder, record: RunRecord, snapshot_interval: float = 0.5, *,
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
                    self._lock_file = acquire_lock(self.folder.path, self._lock_wait)
                    prepare_for_writing(self.folder.path)
                    if _last_seq_on_disk(self.folder.path) != self._opened_seq:
                        release_lock(self._lock_file)
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
            self._lock_file = acquire_lock(building)
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
            self._events.write(_event_text(event) + "\n")
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
                    self._events.write(_event_text(event) + "\n")
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
        """Rewrite run.json, but never spend more than about a twentieth of the run's time doing it."""
        now = time.monotonic()
        if force or now - self._last_snapshot >= max(self.snapshot_interval, 20 * self._snapshot_cost):
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
                release_lock(self._lock_file)


def _event_text(event: Event) -> str:
    """The event's line (``schema.event_line``), by the C encoder unless a value needs a tag (NaN, NaT)."""
    line: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "seq": event.seq, "time": event.time,
                            "kind": event.kind, "run_id": event.run_id}
    if event.step is not None:
        line["step"] = event.step
    if event.data:
        line["data"] = event.data
    try:
        return dumps(line)
    except TypeError:  # a key JSON cannot take as it is: the general path names it as text
        return json.dumps(event_line(event), default=str)


def _last_seq_on_disk(run_dir: Path) -> int:
    """The newest event sequence number recorded in a run folder (-1 for none)."""
    with contextlib.suppress(PipetestError, OSError):
        return load_record(run_dir).data.get("last_seq", -1)
    return -1


def open_writer(run_dir: Path) -> RunWriter:
    """A writer for an existing run folder; it takes the folder (lock, writes) only when something runs."""
    record = load_record(run_dir)
    return RunWriter(RunFolder(Path(run_dir)), record, lock_wait=2.0)
