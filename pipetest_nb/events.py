"""Events: every state change of a run is announced here, and everything else subscribes.

The run record, the monitor, progress bars, the graph and the widgets are all subscribers of one
``EventBus``; none of them polls and none of them changes state. Subscribers take keyword
arguments and ``**_`` so that new fields never break an old subscriber.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class StepStatus:
    """The status vocabulary of a step, as stored in run records and shown by the views."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    BLOCKED = "blocked"  # did not run because a step it needs failed or was skipped
    CACHED = "cached"
    INTERRUPTED = "interrupted"

    ALL = (PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED, BLOCKED, CACHED, INTERRUPTED)
    DONE_OK = (SUCCEEDED, CACHED)  # outputs are there for downstream steps
    FINAL = (SUCCEEDED, FAILED, SKIPPED, BLOCKED, CACHED, INTERRUPTED)


class EdgeState:
    """What the checks of a data edge found: the graph colours edges by it."""

    UNCHECKED = "unchecked"
    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"

    ALL = (UNCHECKED, PASSED, WARNED, FAILED)


class EventKind:
    RUN_STARTED = "run_started"
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"  # data: status, error_type, error_message, metrics, outputs...
    STEP_STATUS = "step_status"  # a status change without running (blocked, skipped, cached, pending)
    EDGE_CHECKED = "edge_checked"  # data: edge, state, report
    STEP_OUTPUT = "step_output"  # live stdout/stderr text; not written to events.jsonl
    RUN_FINISHED = "run_finished"
    RUN_REOPENED = "run_reopened"
    SUBSCRIBER_FAILED = "subscriber_failed"  # data: subscriber, event_kind, error (a view broke; the run went on)
    WORKERS_STARTED = "workers_started"  # data: isolation, seconds, workers, preloaded, failed (before any step)


@dataclass
class Event:
    """One thing that happened in a run. ``seq`` orders events within a run."""

    kind: str
    run_id: str
    seq: int
    time: float
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    """Hands each event to every subscriber in order; a failing subscriber is reported, never fatal.

    The first failure of each subscriber goes to ``on_error(subscriber, event, traceback_text)``
    (the engine turns it into a warning and a SUBSCRIBER_FAILED event); every failure is kept in ``errors``.
    """

    def __init__(self, on_error: Callable[[Subscriber, Event, str], None] | None = None) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.RLock()
        self.errors: list[str] = []
        self.on_error = on_error
        self._reported: set[int] = set()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken view must not break the run
                text = traceback.format_exc()
                self.errors.append(f"subscriber {getattr(callback, '__qualname__', callback)!s} failed on "
                                   f"{event.kind}:\n{text}")
                if self.on_error is not None and id(callback) not in self._reported:
                    self._reported.add(id(callback))
                    self.on_error(callback, event, text)


def now() -> float:
    return time.time()
