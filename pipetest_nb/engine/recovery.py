"""What to do when a step fails: error contexts, severities, and the recovery policy.

The policy comes from the pipeline file (``on_error:`` under ``defaults:`` and per step: one
strategy, or a map from error type to strategy, with ``default`` for the rest). Without one, a
notebook session pauses where it failed and a batch run fails the pipeline.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from pipetest_nb.events import StepStatus
from pipetest_nb.spec.parts import StepConfig
from pipetest_nb.spec.policy import ERROR_TYPES, RecoveryStrategy
from pipetest_nb.text import cap_text, safe_str

__all__ = ["ERROR_TYPES", "Decision", "ErrorContext", "ErrorSeverity", "PipelineErrorHandler", "RecoveryStrategy",
           "internal_error"]

class ErrorSeverity(str, Enum):
    """How bad a failure is. A ``CRITICAL`` one (the script or a module it imports is missing, the
    contract is broken) fails the same way on every attempt, so ``retry`` does not retry it."""

    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


#: Failures that say the step (or its inputs) is wrong, not that the run was unlucky.
_CRITICAL = {"script_not_found", "import_error", "contract_error"}


@dataclass
class ErrorContext:
    """One failure of one step, with enough context to decide what to do and to tell the user."""

    step_name: str
    error_type: str
    error_message: str
    severity: ErrorSeverity = ErrorSeverity.ERROR
    suggested_recovery: RecoveryStrategy = RecoveryStrategy.FAIL_PIPELINE
    context_data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"step_name": self.step_name, "error_type": self.error_type, "error_message": self.error_message,
                "severity": self.severity.value, "suggested_recovery": self.suggested_recovery.value,
                "context_data": self.context_data}


@dataclass
class Decision:
    """What follows an attempt at a step, as its policy says."""

    again: bool = False  # attempt the step again (retry, retry_with_defaults)
    config: StepConfig | None = None  # the step's settings for the next attempt, if they change
    wait: float | None = None  # seconds to wait before the next attempt
    block: bool = False  # the steps after it cannot run (fail_pipeline, skip_step, an internal error)
    halt: bool = False  # start nothing else in this run (fail_pipeline, pause, interrupted)


class PipelineErrorHandler:
    """Chooses a ``RecoveryStrategy`` for a failure from the step's ``on_error`` policy."""

    def __init__(self, default: RecoveryStrategy | str = RecoveryStrategy.FAIL_PIPELINE, max_retries: int = 2,
                 backoff_base: float = 1.0):
        self.default = RecoveryStrategy(default)
        self.max_retries = max_retries
        self.backoff_base = backoff_base

    def severity(self, error_type: str) -> ErrorSeverity:
        if error_type in _CRITICAL:
            return ErrorSeverity.CRITICAL
        return ErrorSeverity.ERROR

    def strategy_for(self, error_type: str, on_error: str | dict[str, str] | None) -> RecoveryStrategy:
        """The strategy the policy names for this error type, else the handler's default."""
        if isinstance(on_error, str):
            return RecoveryStrategy(on_error)
        if isinstance(on_error, dict):
            chosen = on_error.get(error_type, on_error.get("default"))
            if chosen:
                return RecoveryStrategy(chosen)
        if error_type == "interrupted":
            return RecoveryStrategy.PAUSE
        return self.default

    def context(self, step: str, error_type: str, message: str, on_error: str | dict[str, str] | None,
                **context_data: Any) -> ErrorContext:
        return ErrorContext(step_name=step, error_type=error_type, error_message=message,
                            severity=self.severity(error_type),
                            suggested_recovery=self.strategy_for(error_type, on_error), context_data=context_data)

    def handle_error(self, context: ErrorContext, attempt: int = 1, retries: int | None = None) -> RecoveryStrategy:
        """What to do now: retries are spent before the policy's fallback applies."""
        if context.error_type == "internal_error":
            return RecoveryStrategy.FAIL_PIPELINE  # a fault of pipetest, not of the step: no policy can fix it
        strategy = context.suggested_recovery
        limit = self.max_retries if retries is None else retries
        if strategy is RecoveryStrategy.RETRY and context.severity is ErrorSeverity.CRITICAL:
            limit = 0  # the same attempt fails the same way (a missing script or module): go to the fallback
        if strategy in (RecoveryStrategy.RETRY, RecoveryStrategy.RETRY_WITH_DEFAULTS) and attempt > limit:
            return RecoveryStrategy.FAIL_PIPELINE if self.default is RecoveryStrategy.RETRY else self.default
        if context.error_type == "interrupted" and strategy not in (RecoveryStrategy.PAUSE,
                                                                     RecoveryStrategy.FAIL_PIPELINE):
            return RecoveryStrategy.PAUSE  # the user stopped it: never retry or skip on their behalf
        return strategy

    def decide(self, step: str, config: StepConfig, finished: dict[str, Any], attempt: int, *, stopping: bool,
               restore_cached: Callable[[], tuple[str | None, str | None]]) -> Decision:
        """What follows an attempt that ended with ``finished`` (its STEP_FINISHED data, completed here with
        the strategy, and the status it ends with: cached, skipped). ``restore_cached`` puts the step's
        last good outputs back: (the problem or None, the run they come from)."""
        status = finished["status"]
        if status != StepStatus.FAILED:
            return Decision(halt=status == StepStatus.INTERRUPTED)  # Ctrl-C or Stop: start nothing else
        context = self.context(step, finished.get("error_type") or "execution_error",  # a failed check counts too
                               finished.get("error_message") or "", config.on_error)
        strategy = self.handle_error(context, attempt, config.retries)
        finished["recovery"] = strategy.value
        if context.suggested_recovery is RecoveryStrategy.RETRY and context.severity is ErrorSeverity.CRITICAL:
            finished["warnings"] = [*finished.get("warnings", []), f"not retried: a {context.error_type} fails the "
                                    f"same way on every attempt; fix the step, then run it again"]
        if strategy is RecoveryStrategy.RETRY and not stopping:
            return Decision(again=True, wait=self.backoff(attempt))
        if strategy is RecoveryStrategy.RETRY_WITH_DEFAULTS and not stopping:
            return Decision(again=True, config=replace(
                config, env={**config.env, **config.defaults.get("env", {})},
                args={**config.args, **config.defaults.get("args", {})}))
        if strategy is RecoveryStrategy.USE_CACHED_OUTPUT:
            problem, run_id = restore_cached()
            if problem is None:
                finished.update(status=StepStatus.CACHED, cached_from=run_id,
                                warnings=[*finished.get("warnings", []), f"step failed ({finished.get('error_type')}); "
                                          f"using the cached outputs of run {run_id}"])
                return Decision()
            finished["warnings"] = [*finished.get("warnings", []), problem]
            strategy = RecoveryStrategy.FAIL_PIPELINE
        if strategy is RecoveryStrategy.SKIP_STEP:
            finished["status"] = StepStatus.SKIPPED
            return Decision(block=True)
        return Decision(block=strategy is RecoveryStrategy.FAIL_PIPELINE, halt=True)  # fail_pipeline, pause

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt``: the base, doubled each time, capped at 30."""
        return float(min(30.0, self.backoff_base * 2 ** max(0, attempt - 1)))


def internal_error(exc: BaseException, stage: str) -> dict[str, Any]:
    """The STEP_FINISHED data of a step that failed because pipetest itself raised while ``stage``."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"status": "failed", "error_type": "internal_error", "exception_type": type(exc).__name__,
            "error_message": cap_text(f"pipetest failed while {stage}: {type(exc).__name__}: {safe_str(exc)} "
                                      "(a fault in pipetest or a plugin, not in the step's script; the traceback "
                                      "is in the record)"),
            "traceback": cap_text(text)}
