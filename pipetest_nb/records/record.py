"""The run record: a fold over the run's events, read back from a run folder without writing to it.

The record is a fold over the events (``RunRecord.apply``), so a run killed at any moment reopens
from its last snapshot (``run.json``) plus the events written after it (``events.jsonl``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipetest_nb.events import EdgeState, Event, EventKind, StepStatus
from pipetest_nb.exceptions import RunNotFoundError, RunRecordError
from pipetest_nb.records.lock import writer_alive
from pipetest_nb.records.readers import read_record_file, read_run_events
from pipetest_nb.records.schema import SCHEMA_VERSION, RunStatus, SchemaProblem, check_record


def edge_key(source: str, target: str) -> str:
    """The key of an edge in the record's ``edges``."""
    return f"{source}->{target}"


class RunRecord:
    """Everything known about one run, rebuilt from events. ``data`` is what run.json holds
    (``schema.RunRecordData``); ``run_dir`` is where it was read from, if it was."""

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
        elif kind == EventKind.WORKERS_STARTED:
            d.setdefault("worker_starts", []).append({"time": event.time, **data})
        elif kind == EventKind.STEP_STARTED:
            step = d["steps"].setdefault(event.step, {})
            attempts = step.get("attempts", 0) + 1
            step.clear()
            step.update({"status": StepStatus.RUNNING, "started_at": event.time, "attempts": attempts, **data})
        elif kind in (EventKind.STEP_FINISHED, EventKind.STEP_STATUS):
            step = d["steps"].setdefault(event.step, {})
            if kind == EventKind.STEP_STATUS and data.get("status") in (StepStatus.PENDING,):
                kept = {k: step[k] for k in ("attempts", "remote_inputs") if k in step}  # a rerun reads the same bytes
                step.clear()
                step.update({"attempts": 0, **kept})
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
    """Events from an events.jsonl, checked (``schema``); a torn last line (the writer was killed
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
