"""The vocabulary of failure that a pipeline file may speak: error types and recovery strategies.

It lives in the spec layer because ``on_error:`` is written in the pipeline file and must be
checked when the file is loaded; the execution layer acts on it.
"""

from __future__ import annotations

from enum import Enum

#: Stable names of every way a step can fail, as stored in run records and events.
ERROR_TYPES: tuple[str, ...] = (
    "import_error",
    "script_not_found",
    "contract_error",
    "data_compatibility_error",
    "expectation_failed",
    "execution_error",
    "exit_code",
    "signal",
    "timeout",
    "out_of_memory",
    "interrupted",
)


class RecoveryStrategy(str, Enum):
    """What to do when a step fails. Written in lower case in pipeline files."""

    SKIP_STEP = "skip_step"
    RETRY_WITH_DEFAULTS = "retry_with_defaults"
    USE_CACHED_OUTPUT = "use_cached_output"
    FAIL_PIPELINE = "fail_pipeline"
    PAUSE = "pause"
    RETRY = "retry"

    def __str__(self) -> str:
        return self.value


STRATEGY_NAMES: tuple[str, ...] = tuple(s.value for s in RecoveryStrategy)
