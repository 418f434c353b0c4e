"""The run record and its events, declared once: shapes, version, statuses, value encoding, safe reading.

A run folder is data from disk, possibly damaged (a kill mid-write) or hostile (edited by hand, a
symlink planted in it), so every reader goes through here:

- ``SCHEMA_VERSION`` is written into every record (``run.json``) and every event line. Records of
  format 1 (no ``schema_version``) are upgraded in memory when read; reading never writes.
- ``RunStatus`` and ``StepStatus`` are the one status vocabulary of records, reports and the monitor.
- Values from data (unexpected values, observed values, metrics) keep NaN, +inf, -inf, None and NaT
  apart in strict JSON (``json_values``).
- ``read_run_file`` opens only regular files inside the run folder (``O_NOFOLLOW``, ``O_NONBLOCK``,
  ``fstat``), bounded in size, so a symlink, FIFO, device or huge file is a ``RunRecordError``,
  never a hang or an out-of-memory; ``check_record`` and ``parse_event`` check the types.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

from pipetest_nb.events import Event, StepStatus
from pipetest_nb.exceptions import RunRecordError
from pipetest_nb.json_values import encode, loads

SCHEMA_VERSION = 2
MAX_RECORD_BYTES = 256 * 2**20  # run.json
MAX_EVENTS_BYTES = 4 * 2**30  # events.jsonl
MAX_EVENT_LINE_BYTES = 64 * 2**20  # one event
MAX_SMALL_FILE_BYTES = 16 * 2**20  # a suite file shown by the debugger, the lock file
RECORD_FILE, EVENTS_FILE, LOCK_FILE = "run.json", "events.jsonl", ".lock"


class RunStatus:
    """The status vocabulary of a run (a step's is ``StepStatus``)."""

    CREATED = "created"  # the folder exists, no step has started
    RUNNING = "running"
    SUCCEEDED = StepStatus.SUCCEEDED
    FAILED = StepStatus.FAILED
    INTERRUPTED = StepStatus.INTERRUPTED
    INCOMPLETE = "incomplete"  # finished with steps left pending or blocked, none failed

    ALL = (CREATED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED, INCOMPLETE)
    LIVE = (CREATED, RUNNING)  # a writer is (or was, when it died) working on it


# --------------------------------------------------------------------------------------------------
# The declared shapes (every key optional: records grow as the run goes on)
# --------------------------------------------------------------------------------------------------


class RootFailure(TypedDict, total=False):
    step: str
    error_type: str | None
    error_message: str | None


class StepEntry(TypedDict, total=False):
    status: str  # StepStatus
    attempts: int
    started_at: float
    finished_at: float
    script: str
    mode: str
    isolation: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    env: dict[str, str]
    args: dict[str, Any] | None
    metrics: dict[str, Any]
    error_type: str | None  # policy.ERROR_TYPES, or internal_error (a fault of pipetest itself)
    error_message: str | None  # capped at errors.MAX_ERROR_TEXT, head and tail
    exception_type: str | None
    traceback: str | None
    warnings: list[str]
    blocked_by: str
    cached_from: str
    cache_key: str
    pid: int
    pgid: int
    pid_create_time: float
    output_checks: list[dict[str, Any]]
    data_validation_report: dict[str, Any]


class EdgeEntry(TypedDict, total=False):
    source: str
    target: str
    state: str  # EdgeState
    compatibility: dict[str, Any]
    expectations: list[dict[str, Any]]


class RunRecordData(TypedDict, total=False):
    """What ``run.json`` holds: the fold of the events (``workspace.RunRecord.apply``)."""

    schema_version: int
    run_id: str
    status: str  # RunStatus
    steps: dict[str, StepEntry]
    edges: dict[str, EdgeEntry]
    last_seq: int
    pipeline: dict[str, Any]  # name, source, base_dir, spec
    plan: dict[str, Any]
    options: dict[str, Any]
    versions: dict[str, str]
    runner: dict[str, Any]  # pid, host (and create_time when known)
    started_at: float
    finished_at: float
    duration: float
    root_failure: RootFailure | None
    not_run: list[str]
    other_failures: list[str]
    reopened: list[dict[str, Any]]


class EventLine(TypedDict, total=False):
    """One line of ``events.jsonl`` (``event_line``)."""

    schema_version: int
    seq: int
    time: float
    kind: str  # EventKind
    run_id: str
    step: str
    data: dict[str, Any]  # for subscriber_failed: SubscriberFailure


class SubscriberFailure(TypedDict, total=False):
    """The data of a ``subscriber_failed`` event: a view broke on an event; the run went on."""

    subscriber: str
    event_kind: str
    error: str  # its traceback, capped


# --------------------------------------------------------------------------------------------------
# Reading files of a run folder, safely
# --------------------------------------------------------------------------------------------------


class SchemaProblem(ValueError):
    """What is wrong with one record or event; the reader adds the run folder and the file."""


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path, limit: int) -> tuple[int, int]:
    """Open ``path`` for reading if it is a regular file (not through a symlink, never blocking) of at most
    ``limit`` bytes; returns (fd, size). Raises ``SchemaProblem`` saying what it is instead, OSError if absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symlink
            target = "?"
            with contextlib.suppress(OSError):
                target = os.readlink(path)
            raise SchemaProblem(f"is a symlink (to {target!r}); files of a run folder are never followed "
                                "out of it") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SchemaProblem(f"is {_kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise SchemaProblem(f"is {st.st_size:,} bytes, more than the {limit:,} a record may have")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _read_fd(fd: int, size: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise SchemaProblem(f"grew past the {limit:,} bytes a record may have while being read")
    return b"".join(chunks)


def run_file_error(run_dir: Path, name: str, why: str) -> RunRecordError:
    return RunRecordError(str(run_dir), name, why)


def read_small_file(path: Path, limit: int = MAX_SMALL_FILE_BYTES) -> bytes | None:
    """The bytes of a regular file of at most ``limit`` bytes; None when it is absent, special or too big."""
    try:
        fd, size = open_regular(Path(path), limit)
    except (OSError, SchemaProblem):
        return None
    try:
        return _read_fd(fd, size, limit)
    except (OSError, SchemaProblem):
        return None
    finally:
        os.close(fd)


def read_record_file(run_dir: Path) -> dict[str, Any] | None:
    """The snapshot (run.json) as a checked, upgraded dict; None when it is absent or half-written
    (the event log then rebuilds the record). Anything else wrong is a ``RunRecordError``."""
    path = run_dir / RECORD_FILE
    try:
        fd, size = open_regular(path, MAX_RECORD_BYTES)
    except FileNotFoundError:
        return None
    except SchemaProblem as exc:
        raise run_file_error(run_dir, RECORD_FILE, str(exc)) from None
    except OSError as exc:
        raise run_file_error(run_dir, RECORD_FILE, f"cannot be opened: {exc.strerror or exc}") from None
    try:
        raw = _read_fd(fd, size, MAX_RECORD_BYTES)
    except SchemaProblem as exc:
        raise run_file_error(run_dir, RECORD_FILE, str(exc)) from None
    except OSError as exc:
        raise run_file_error(run_dir, RECORD_FILE, f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        data = loads(raw.decode("utf-8", errors="replace"))
    except RecursionError:
        raise run_file_error(run_dir, RECORD_FILE, "is nested too deeply to be a run record") from None
    except ValueError:
        return None  # torn or half-written: rebuilt from the events
    try:
        return check_record(upgrade_record(data))
    except SchemaProblem as exc:
        raise run_file_error(run_dir, RECORD_FILE, str(exc)) from None


def iter_event_dicts(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every complete line of an events.jsonl that is JSON; a line that is
    not (a torn write, then ended by the next writer) is skipped. Bounded per line and in total."""
    path = Path(path)
    run_dir = path.parent
    try:
        fd, _ = open_regular(path, MAX_EVENTS_BYTES)
    except FileNotFoundError:
        return
    except SchemaProblem as exc:
        raise run_file_error(run_dir, EVENTS_FILE, str(exc)) from None
    except OSError as exc:
        raise run_file_error(run_dir, EVENTS_FILE, f"cannot be opened: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        number = 0
        while True:
            try:
                line = fh.readline(MAX_EVENT_LINE_BYTES + 1)
            except OSError as exc:
                raise run_file_error(run_dir, EVENTS_FILE, f"cannot be read: {exc.strerror or exc}") from None
            if not line:
                return
            number += 1
            if not line.endswith(b"\n"):
                if len(line) > MAX_EVENT_LINE_BYTES:
                    raise run_file_error(run_dir, EVENTS_FILE, f"line {number} is longer than "
                                         f"{MAX_EVENT_LINE_BYTES:,} bytes: not an event")
                return  # torn write at the end: never flushed completely
            try:
                obj = loads(line.decode("utf-8", errors="replace"))
            except RecursionError:
                raise run_file_error(run_dir, EVENTS_FILE, f"line {number} is nested too deeply") from None
            except ValueError:
                continue  # a torn line that a later writer ended with a newline
            yield number, obj


def read_run_events(path: Path) -> Iterator[Event]:
    """The events of an events.jsonl, checked; a wrong one is a ``RunRecordError`` naming its line."""
    for number, obj in iter_event_dicts(path):
        try:
            yield parse_event(obj)
        except SchemaProblem as exc:
            raise run_file_error(Path(path).parent, EVENTS_FILE, f"line {number}: {exc}") from None


# --------------------------------------------------------------------------------------------------
# Checking shapes
# --------------------------------------------------------------------------------------------------

_NUM = (int, float)
_NONE = type(None)
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "schema_version": (int,), "run_id": (str,), "status": (str,), "steps": (dict,), "edges": (dict,),
    "last_seq": (int,), "pipeline": (dict,), "plan": (dict,), "options": (dict,), "versions": (dict,),
    "runner": (dict,), "started_at": (*_NUM, _NONE), "finished_at": (*_NUM, _NONE), "duration": (*_NUM, _NONE),
    "root_failure": (dict, _NONE), "not_run": (list,), "other_failures": (list,), "reopened": (list,),
}
_STEP_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,), "attempts": (int,), "started_at": (*_NUM, _NONE), "finished_at": (*_NUM, _NONE),
    "script": (str, _NONE), "isolation": (str, _NONE), "inputs": (dict, _NONE), "outputs": (dict, _NONE),
    "env": (dict, _NONE), "args": (dict, _NONE), "metrics": (dict, _NONE), "error_type": (str, _NONE),
    "error_message": (str, _NONE), "exception_type": (str, _NONE), "traceback": (str, _NONE),
    "warnings": (list, _NONE), "blocked_by": (str, _NONE), "cached_from": (str, _NONE),
    "pid": (int, _NONE), "pgid": (int, _NONE), "pid_create_time": (*_NUM, _NONE),
    "output_checks": (list, _NONE), "data_validation_report": (dict, _NONE),
}
_EDGE_FIELDS: dict[str, tuple[type, ...]] = {
    "source": (str, _NONE), "target": (str, _NONE), "state": (str,), "compatibility": (dict, _NONE),
    "expectations": (list, _NONE),
}
_PIPELINE_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str, _NONE), "source": (str, _NONE), "base_dir": (str, _NONE), "spec": (dict, _NONE)}
_PLAN_FIELDS: dict[str, tuple[type, ...]] = {
    "execution_order": (list,), "generations": (list,), "dependencies": (dict,), "data_flow_map": (dict,)}


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object", list: "a list",
             _NONE: "null", bool: "true/false"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def _check_fields(obj: Any, fields: dict[str, tuple[type, ...]], where: str) -> None:
    if not isinstance(obj, dict):
        raise SchemaProblem(f"{where} should be an object, not {_json_type(obj)}")
    for key, types in fields.items():
        if key in obj:
            value = obj[key]
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                raise SchemaProblem(f"{where}: '{key}' should be {_type_names(types)}, not {_json_type(value)} "
                                    f"({_short(value)})")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def name_problem(name: Any) -> str | None:
    """Why a step name from a record cannot be a folder inside the run folder, or None."""
    if not isinstance(name, str):
        return f"step name {_short(name)} is not a string"
    if not name or len(name.encode("utf-8", "surrogatepass")) > 255:
        return f"step name {_short(name)} is empty or longer than 255 bytes"
    if "/" in name or "\\" in name or "\x00" in name:
        return f"step name {_short(name)} is a path (contains '/', '\\' or NUL)"
    if name.startswith(".") or ".." in name:
        return f"step name {_short(name)} starts with a dot or contains '..'"
    return None


def _check_names(names: Any, where: str) -> None:
    for name in names:
        why = name_problem(name)
        if why:
            raise SchemaProblem(f"{where}: {why}; it would name a folder outside the run folder")


def upgrade_record(data: Any) -> Any:
    """A record of any known version as the current version (in memory: nothing is written)."""
    if not isinstance(data, dict):
        return data
    version = data.get("schema_version", 1)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise SchemaProblem(f"has schema_version {version}, newer than this pipetest_nb reads "
                            f"({SCHEMA_VERSION}); upgrade pipetest_nb to open it")
    if version == 1:  # format 1: {"format": 1, ...}, the same shape without the version
        data = {k: v for k, v in data.items() if k != "format"}
        data["schema_version"] = SCHEMA_VERSION
    return data


def check_record(data: Any) -> dict[str, Any]:
    """``data`` if it has the shape of a run record (types, status vocabulary, safe step names)."""
    _check_fields(data, _RUN_FIELDS, "the record")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise SchemaProblem(f"has schema_version {_short(data.get('schema_version'))}; this pipetest_nb "
                            f"reads 1 to {SCHEMA_VERSION}")
    if "status" in data and data["status"] not in RunStatus.ALL:
        raise SchemaProblem(f"the record: status {_short(data['status'])} is not one of {', '.join(RunStatus.ALL)}")
    steps = data.setdefault("steps", {})
    data.setdefault("edges", {})
    _check_names(steps, "the record's steps")
    for name, entry in steps.items():
        check_step_entry(entry, f"step '{name}'")
    for key, entry in data["edges"].items():
        _check_fields(entry, _EDGE_FIELDS, f"edge '{key}'")
    if "pipeline" in data:
        _check_fields(data["pipeline"], _PIPELINE_FIELDS, "the record's pipeline")
    if "plan" in data:
        plan = data["plan"]
        _check_fields(plan, _PLAN_FIELDS, "the record's plan")
        _check_names(plan.get("execution_order") or [], "the record's plan")
        _check_names(plan.get("dependencies") or {}, "the record's plan")
    if isinstance(data.get("root_failure"), dict):
        _check_fields(data["root_failure"], {"step": (str, _NONE), "error_type": (str, _NONE),
                                             "error_message": (str, _NONE)}, "the record's root_failure")
    for key in ("not_run", "other_failures"):
        _check_names(data.get(key) or [], f"the record's {key}")
    return data


def check_step_entry(entry: Any, where: str) -> None:
    _check_fields(entry, _STEP_FIELDS, where)
    if "status" in entry and entry["status"] not in StepStatus.ALL:
        raise SchemaProblem(f"{where}: status {_short(entry['status'])} is not one of {', '.join(StepStatus.ALL)}")
    for key in ("inputs", "outputs"):
        for name, path in (entry.get(key) or {}).items():
            if not isinstance(path, str):
                raise SchemaProblem(f"{where}: {key[:-1]} '{name}' should be a path (a string), not {_json_type(path)}")


_EVENT_FIELDS: dict[str, tuple[type, ...]] = {
    "schema_version": (int,), "seq": (int,), "time": _NUM, "kind": (str,), "run_id": (str,), "step": (str, _NONE),
    "data": (dict, _NONE)}


def event_line(event: Event) -> dict[str, Any]:
    """The line written to events.jsonl (``EventLine``): NaN, ±inf and NaT tagged."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "seq": event.seq, "time": event.time,
                           "kind": event.kind, "run_id": event.run_id}
    if event.step is not None:
        out["step"] = event.step
    if event.data:
        out["data"] = encode(event.data)
    return out


def parse_event(obj: Any) -> Event:
    """An ``Event`` from one parsed line of events.jsonl (format 1 lines have no schema_version)."""
    _check_fields(obj, _EVENT_FIELDS, "the event")
    missing = [k for k in ("seq", "time", "kind", "run_id") if k not in obj]
    if missing:
        raise SchemaProblem(f"the event has no {', '.join(missing)}")
    version = obj.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise SchemaProblem(f"the event has schema_version {version}; upgrade pipetest_nb to read it")
    step, data, kind = obj.get("step"), obj.get("data") or {}, obj["kind"]
    if step is not None:
        _check_names([step], f"event {obj['seq']}")
    where = f"event {obj['seq']} ({kind})"
    if kind in ("step_started", "step_finished", "step_status"):
        if step is None:
            raise SchemaProblem(f"{where} names no step")
        _check_fields(data, _STEP_FIELDS, where)
        if "status" in data and data["status"] not in StepStatus.ALL:
            raise SchemaProblem(f"{where}: status {_short(data['status'])} is not one of {', '.join(StepStatus.ALL)}")
    elif kind == "run_started":
        _check_fields(data, {**_RUN_FIELDS, "steps": (list,)}, where)
        _check_names(data.get("steps") or [], where)
        if "pipeline" in data:
            _check_fields(data["pipeline"], _PIPELINE_FIELDS, where + ": pipeline")
        if "plan" in data:
            _check_fields(data["plan"], _PLAN_FIELDS, where + ": plan")
            _check_names(data["plan"].get("execution_order") or [], where + ": plan")
    elif kind == "edge_checked":
        edge = data.get("edge")
        if not (isinstance(edge, list) and len(edge) == 2 and all(isinstance(e, str) for e in edge)):
            raise SchemaProblem(f"{where}: 'edge' should be [source, target], not {_short(edge)}")
        _check_fields(data, _EDGE_FIELDS, where)
    elif kind == "run_finished":
        _check_fields(data, _RUN_FIELDS, where)
        if "status" in data and data["status"] not in RunStatus.ALL:
            raise SchemaProblem(f"{where}: status {_short(data['status'])} is not one of {', '.join(RunStatus.ALL)}")
        _check_names(data.get("not_run") or [], where)
    return Event(kind=kind, run_id=obj["run_id"], seq=obj["seq"], time=obj["time"], step=step, data=data)


def pipeline_to_reopen(run_dir: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The recorded pipeline a run is reopened with (its spec and base folder), or a ``RunRecordError``
    saying it is not there (its run_started event was lost): such a run can be reported, not continued."""
    pipeline = data.get("pipeline")
    if not isinstance(pipeline, dict) or not isinstance(pipeline.get("spec"), dict) or not isinstance(
            pipeline.get("base_dir"), str):
        raise RunRecordError(str(run_dir), RECORD_FILE, "holds no pipeline spec and base folder (the run's first "
                             "event is lost), so the run cannot be reopened; `pipetest report` still shows it")
    return pipeline


# --------------------------------------------------------------------------------------------------
# Is the writer still there?
# --------------------------------------------------------------------------------------------------

_HOLDER = re.compile(r"pid (\d+) on (\S+)")


def writer_alive(run_dir: Path, data: dict[str, Any]) -> bool | None:
    """Whether a process is still writing this run: True, False (it is gone), or None (cannot tell:
    another host). The lock file says who wrote last ("pid N on host"); when that process lives, the
    kernel says whether it still holds the lock. Nothing is created or written."""
    lock_path = Path(run_dir) / LOCK_FILE
    host = socket.gethostname()
    try:
        st = os.lstat(lock_path)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        match = _HOLDER.search((read_small_file(lock_path, 4096) or b"").decode("utf-8", errors="replace"))
        if match:
            pid, pid_host = int(match.group(1)), match.group(2)
            if pid_host != host:
                return None
            return _process_alive(pid, None) and _lock_held(lock_path, st)
    runner = data.get("runner") if isinstance(data.get("runner"), dict) else {}
    reopened = [r for r in data.get("reopened") or [] if isinstance(r, dict) and isinstance(r.get("pid"), int)]
    pid = reopened[-1]["pid"] if reopened else runner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or runner.get("host") != host:
        return None
    return _process_alive(pid, runner.get("create_time") if runner.get("pid") == pid else None)


def _lock_held(path: Path, st: os.stat_result) -> bool:
    """Whether some process holds the lock of ``path``: listed in /proc/locks, else (another file system's
    device numbers, no /proc) a shared lock that cannot be had, let go at once."""
    import fcntl

    text = read_small_file(Path("/proc/locks"))  # a proc file: its size reads as 0, its text is there
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    if text and any(len(f) > 5 and f[5] == wanted for f in (line.split() for line in text.decode(
            "ascii", errors="replace").splitlines())):
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _process_alive(pid: int, created: float | None) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return created is None or abs(proc.create_time() - float(created)) <= 1.0
    except (psutil.Error, ValueError, TypeError):
        return False


# --------------------------------------------------------------------------------------------------
# For the writer: a run folder made ready to be written again
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# For the report: files inside the run folder only
# --------------------------------------------------------------------------------------------------


def inside(run_dir: Path, path: str | os.PathLike) -> bool:
    """Whether ``path`` (symlinks resolved) is inside the run folder."""
    root = os.path.realpath(run_dir)
    try:
        return os.path.commonpath([os.path.realpath(path), root]) == root
    except ValueError:
        return False


def read_tail_inside(run_dir: Path, relative: str, nbytes: int) -> tuple[bytes, int]:
    """The last ``nbytes`` of a regular file inside the run folder and its size; (b"", 0) when it is absent,
    special, a symlink, or resolves outside the folder."""
    path = Path(run_dir) / relative
    if not inside(run_dir, path.parent):
        return b"", 0
    try:
        fd, size = open_regular(path, 1 << 62)
    except (OSError, SchemaProblem):
        return b"", 0
    try:
        return os.pread(fd, nbytes, max(0, size - nbytes)), size
    except OSError:
        return b"", 0
    finally:
        os.close(fd)
