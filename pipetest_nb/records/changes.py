"""What a step read, and the last green run to compare it with: "its input changed since the last green run".

A step records a digest of the content of each external input (one that no step of the pipeline
produces) and of its script (``StepEntry.input_digests``, ``script_digest``). They are taken with
the cache's hashing (``records.cache``): a file is hashed once per version, so these and the step's
cache key share the work and one time limit. A digest that cannot be had (a special file, the time
limit, an unreadable file) is left out: it is evidence for a failure's explanation, never a reason
for the step to fail.

``last_green_run`` finds what a failed run is compared with (``records.suspects``): the newest
earlier run of the same pipeline that succeeded, read from the workspace without writing to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from pipetest_nb.events import EventKind
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.json_values import loads
from pipetest_nb.records.cache import CacheUnavailable, Deadline, file_digest, hash_tree
from pipetest_nb.records.readers import iter_event_dicts, read_tail_inside
from pipetest_nb.records.record import load_record
from pipetest_nb.records.schema import EVENTS_FILE, RunStatus
from pipetest_nb.records.workspace import new_run_id

#: A run folder named by ``workspace.new_run_id``: when it was made, the pipeline's name in it, a random tail.
_NAMED = re.compile(r"\d{8}-\d{6}-(.+)-[0-9a-f]{6}")
#: Bytes of the end of an event log read for its last event (a run's end, its root failure included).
_TAIL_BYTES = 128 * 1024


def step_digests(script: str, inputs: dict[str, str], *, boundary: str | os.PathLike,
                 deadline: Deadline) -> dict[str, Any]:
    """``{"input_digests": {input: digest}, "script_digest": sha256}`` of what a step is about to read
    (``script`` "" when it runs none); what cannot be hashed within ``deadline`` is left out."""
    found: dict[str, Any] = {}
    if script:  # first: it is small, and the inputs may use up the time limit
        with contextlib.suppress(CacheUnavailable, OSError):
            found["script_digest"] = file_digest(script, deadline)
    digests = {}
    for name in sorted(inputs):
        with contextlib.suppress(CacheUnavailable, OSError):
            digest = hashlib.sha256()
            hash_tree(Path(inputs[name]), digest, boundary=boundary, deadline=deadline)
            digests[name] = digest.hexdigest()
    if digests:
        found["input_digests"] = digests
    return found


def last_green_run(runs_dir: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The record of the newest run in ``runs_dir`` of the same pipeline as ``record`` that succeeded and
    started before it, or None.

    Cheap in a big workspace: a folder named by ``new_run_id`` for another pipeline is not opened; of the
    others only the first event (the pipeline and the start it records, the record's own ``started_at``)
    and the last (a ``run_finished`` says how the run ended) are read, then whole records newest first
    until one succeeded. A folder whose first event says nothing (no event log, a damaged line) is read
    whole.
    """
    pipeline = (record.get("pipeline") or {}).get("name")
    started = record.get("started_at")
    if not isinstance(pipeline, str) or not isinstance(started, (int, float)):
        return None
    dated, undated = _candidates(Path(runs_dir), pipeline, str(record.get("run_id") or ""), started)
    best = next(filter(None, (_green(path, pipeline, started) for _, path in sorted(dated, reverse=True))), None)
    for path in undated:
        data = _green(path, pipeline, started)
        if data is not None and (best is None or data["started_at"] > best["started_at"]):
            best = data
    return best


def _candidates(runs_dir: Path, pipeline: str, own: str, started: float
                ) -> tuple[list[tuple[float, Path]], list[Path]]:
    """The run folders that may hold a run of ``pipeline`` started before ``started``: with the start their
    first event says, and those whose first event says nothing."""
    named = _NAMED.fullmatch(new_run_id(pipeline))
    ours = named.group(1) if named else None
    dated: list[tuple[float, Path]] = []
    undated: list[Path] = []
    try:
        entries = list(os.scandir(runs_dir))
    except OSError:
        return [], []
    for entry in entries:
        if entry.name == own or entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir(
                follow_symlinks=False):
            continue  # this run, one being made, or not a run folder
        match = _NAMED.fullmatch(entry.name)
        if ours is not None and match is not None and match.group(1) != ours:
            continue  # named for another pipeline
        head = _first_event(Path(entry.path))
        if head is None:
            undated.append(Path(entry.path))
        elif head[0] == pipeline and head[1] < started and _finished_as(Path(entry.path)) in (
                None, RunStatus.SUCCEEDED):
            dated.append((head[1], Path(entry.path)))
    return dated, undated


def _first_event(run_dir: Path) -> tuple[str | None, float] | None:
    """The pipeline and time of a run's first event (``run_started``), or None if it cannot be read."""
    try:
        with contextlib.closing(iter_event_dicts(run_dir / EVENTS_FILE)) as lines:
            first = next((line for _, line in lines), None)
    except (PipetestError, OSError):
        return None
    if not isinstance(first, dict) or first.get("kind") != EventKind.RUN_STARTED or not isinstance(
            first.get("data"), dict):
        return None
    pipeline, when = first["data"].get("pipeline"), first.get("time")
    if not isinstance(pipeline, dict) or not isinstance(when, (int, float)) or isinstance(when, bool):
        return None
    return pipeline.get("name"), float(when)


def _finished_as(run_dir: Path) -> str | None:
    """The status of a run whose last event is its ``run_finished`` (read from the log's tail), else None."""
    tail, _ = read_tail_inside(run_dir, EVENTS_FILE, _TAIL_BYTES)
    lines = tail.split(b"\n")
    if len(lines) < 3 or lines[-1]:
        return None  # no whole line in the tail, or a torn last line: read the record
    try:
        last = loads(lines[-2].decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(last, dict) or last.get("kind") != EventKind.RUN_FINISHED or not isinstance(
            last.get("data"), dict):
        return None
    status = last["data"].get("status")
    return status if isinstance(status, str) else None


def _green(path: Path, pipeline: str, before: float) -> dict[str, Any] | None:
    """The record in ``path`` if it is a success of ``pipeline`` that started before ``before``."""
    try:
        record = load_record(path)
    except (PipetestError, OSError):
        return None  # not a run folder, or one that cannot be read: not a baseline
    data = record.data
    started = data.get("started_at")
    if (record.status != RunStatus.SUCCEEDED or (data.get("pipeline") or {}).get("name") != pipeline
            or not isinstance(started, (int, float)) or started >= before):
        return None
    return data
