"""The run record and its events, declared once: shapes, version, statuses, and the checks of both.

A run folder is data from disk, possibly damaged (a kill mid-write) or hostile (edited by hand, a
symlink planted in it), so whatever is read from it is checked here before it is used:

- ``SCHEMA_VERSION`` is written into every record (``run.json``) and every event line. Records of
  format 1 (no ``schema_version``) are upgraded in memory when read; reading never writes.
- ``RunStatus`` and ``StepStatus`` are the one status vocabulary of records, reports and the monitor.
- Values from data (unexpected values, observed values, metrics) keep NaN, +inf, -inf, None and NaT
  apart in strict JSON (``json_values``).
- ``check_record`` and ``parse_event`` check the types and the step names; the files themselves are
  read by ``records.readers``, bounded and never through a link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from pipetest_nb.events import Event, StepStatus
from pipetest_nb.exceptions import RunRecordError
from pipetest_nb.json_values import encode

SCHEMA_VERSION = 2
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
    """The step that failed first in a run, and its error (``other_failures`` names the later ones)."""

    step: str
    error_type: str | None
    error_message: str | None
    suspects: list[dict[str, Any]]  # Suspect.to_dict: producers upstream whose edge checks warned or failed
    # (kind "edge"), steps upstream whose inputs or script changed since the last green run (kind "changed")
    cause: str | None  # one sentence naming the likeliest of them
    last_green_run: str | None  # the run the inputs were compared with: the newest earlier success (None: none)


class StepMetricsEntry(TypedDict, total=False):
    """A step's ``metrics``: times in seconds, sizes in bytes. Runs recorded before ``check_time`` existed
    have none; views show it as unknown."""

    duration: float  # the script's wall time
    check_time: float  # the edge checks of its inputs (before) and outputs (after), inspection included
    cpu_time: float
    peak_rss: int
    read_bytes: int
    write_bytes: int
    input_size: int
    output_size: int
    rows_in: int | None
    rows_out: int | None


class StepEntry(TypedDict, total=False):
    """One step of the record: its status, attempts, paths, masked env and args, metrics and error."""

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
    metrics: StepMetricsEntry
    error_type: str | None  # policy.ERROR_TYPES, or internal_error (a fault of pipetest itself)
    error_message: str | None  # capped at errors.MAX_ERROR_TEXT, head and tail
    exception_type: str | None
    traceback: str | None
    warnings: list[str]
    blocked_by: str
    cached_from: str
    cache_key: str
    remote_inputs: dict[str, dict[str, Any]]  # input -> the URL (no credentials), cache key, ETag, version it read
    input_digests: dict[str, str]  # external input (no step produces it) -> a digest of its content as the step read it
    script_digest: str  # the SHA-256 of its script: with input_digests, what changed since the last green run
    pid: int
    pgid: int
    pid_create_time: float
    output_checks: list[dict[str, Any]]
    data_validation_report: dict[str, Any]


class EdgeEntry(TypedDict, total=False):
    """One data edge of the record: its state and the checks that gave it."""

    source: str
    target: str
    state: str  # EdgeState
    compatibility: dict[str, Any]
    expectations: list[dict[str, Any]]


class RunRecordData(TypedDict, total=False):
    """What ``run.json`` holds: the fold of the events (``record.RunRecord.apply``)."""

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
    worker_starts: list[WorkerStart]


class WorkerStart(TypedDict, total=False):
    """A ``workers_started`` event: warm workers started before a step, outside every step's duration."""

    time: float
    isolation: str
    seconds: float
    workers: int
    preloaded: list[str]  # modules the pipeline's scripts import that the workers imported
    failed: dict[str, str]  # module -> why its import failed in the workers


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
    "worker_starts": (list,),
}
_STEP_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,), "attempts": (int,), "started_at": (*_NUM, _NONE), "finished_at": (*_NUM, _NONE),
    "script": (str, _NONE), "isolation": (str, _NONE), "inputs": (dict, _NONE), "outputs": (dict, _NONE),
    "env": (dict, _NONE), "args": (dict, _NONE), "metrics": (dict, _NONE), "error_type": (str, _NONE),
    "error_message": (str, _NONE), "exception_type": (str, _NONE), "traceback": (str, _NONE),
    "warnings": (list, _NONE), "blocked_by": (str, _NONE), "cached_from": (str, _NONE),
    "pid": (int, _NONE), "pgid": (int, _NONE), "pid_create_time": (*_NUM, _NONE),
    "output_checks": (list, _NONE), "data_validation_report": (dict, _NONE), "remote_inputs": (dict, _NONE),
    "input_digests": (dict, _NONE), "script_digest": (str, _NONE),
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
                                             "error_message": (str, _NONE), "suspects": (list,),
                                             "cause": (str, _NONE), "last_green_run": (str, _NONE)},
                      "the record's root_failure")
    for key in ("not_run", "other_failures"):
        _check_names(data.get(key) or [], f"the record's {key}")
    return data


def check_step_entry(entry: Any, where: str) -> None:
    """Raise ``SchemaProblem`` unless ``entry`` has the shape of a step's entry (``where`` names it)."""
    _check_fields(entry, _STEP_FIELDS, where)
    if "status" in entry and entry["status"] not in StepStatus.ALL:
        raise SchemaProblem(f"{where}: status {_short(entry['status'])} is not one of {', '.join(StepStatus.ALL)}")
    for key in ("inputs", "outputs"):
        for name, path in (entry.get(key) or {}).items():
            if not isinstance(path, str):
                raise SchemaProblem(f"{where}: {key[:-1]} '{name}' should be a path (a string), not {_json_type(path)}")
    for name, digest in (entry.get("input_digests") or {}).items():
        if not isinstance(digest, str):
            raise SchemaProblem(f"{where}: the digest of input '{name}' should be a string, not {_json_type(digest)}")


_WORKER_START_FIELDS: dict[str, tuple[type, ...]] = {
    "isolation": (str,), "seconds": _NUM, "workers": (int,), "preloaded": (list,), "failed": (dict,)}
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
    elif kind == "workers_started":
        _check_fields(data, _WORKER_START_FIELDS, where)
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
