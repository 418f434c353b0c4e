"""The contract between the engine and the ways one step can run.

The executor builds a ``StepJob`` (everything needed to run one step, plain and picklable), hands
it to a ``Launcher`` and gets a ``StepOutcome`` back. Launchers differ only in where the script
runs: in this process, in a fresh interpreter, in a fork of a warm worker, or on any
``concurrent.futures.Executor``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

#: Bytes of each log (stdout.log, stderr.log) kept on disk: the head and the tail, middle elided.
DEFAULT_LOG_LIMIT = 2 * 1024 * 1024


@dataclass
class StepJob:
    """One step, ready to run: resolved paths, variables and arguments."""

    step: str
    script: str
    mode: str  # "main" | "cli"
    input_paths: dict[str, str]
    output_paths: dict[str, str]
    environ_vars: dict[str, str]
    job_args: dict[str, Any] | None
    step_dir: str  # stdout.log and stderr.log are written here; never inside an output folder
    workdir: str
    timeout: float | None = None
    memory: int | None = None  # bytes of private memory of the step's whole process tree, summed
    log_limit: int = DEFAULT_LOG_LIMIT
    preload: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()  # values scrubbed from the logs as they are written (masking.step_secrets)
    provided: dict[str, str] = field(default_factory=dict)  # an external step's outputs: the user's folders

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepOutcome:
    """What happened when a step ran. ``error_type`` is one of ``policy.ERROR_TYPES`` or None."""

    status: str  # "succeeded" | "failed" | "interrupted"
    error_type: str | None = None
    error_message: str | None = None
    exception_type: str | None = None
    traceback: str | None = None  # the script's own frames, when it raised
    returncode: int | None = None
    signal: int | None = None
    started_at: float = 0.0  # time.time()
    finished_at: float = 0.0
    wall_time: float = 0.0
    cpu_time: float | None = None
    peak_rss: int | None = None  # bytes, the step process and its children
    read_bytes: int | None = None
    write_bytes: int | None = None
    pid: int | None = None
    pgid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Called once the step's process exists, with its pid and process group: the engine records them so
#: that a runner restarted after a crash can kill what the dead runner left behind.
StartCallback = Callable[[int, int | None], None]
#: Called with ("stdout" | "stderr", text) as the step prints, for views that show logs live.
OutputCallback = Callable[[str, str], None]


class Launcher(ABC):
    """Runs one step at a time per call; calls may come from several threads at once."""

    name: str = "abstract"

    @abstractmethod
    def launch(self, job: StepJob, on_start: StartCallback | None = None,
               on_output: OutputCallback | None = None) -> StepOutcome:
        """Run ``job`` to the end (or its timeout) and describe what happened. Never raises for a
        failure of the step itself; that is what ``StepOutcome.error_type`` is for."""

    @abstractmethod
    def stop(self, step: str) -> bool:
        """Kill the running step ``step`` (its whole process group); its outcome becomes
        ``interrupted``. Returns False when that step is not running."""

    def close(self) -> None:  # noqa: B027 - most launchers hold nothing to release
        """Release workers and other long-lived resources."""

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
