"""The recovery policy: per error type, with retries spent before the fallback."""

from __future__ import annotations

from pipetest_nb.engine.recovery import ErrorSeverity, PipelineErrorHandler, RecoveryStrategy


def test_policy_string_map_and_default():
    handler = PipelineErrorHandler(default="pause")
    assert handler.strategy_for("timeout", None) is RecoveryStrategy.PAUSE
    assert handler.strategy_for("timeout", "skip_step") is RecoveryStrategy.SKIP_STEP
    policy = {"timeout": "retry", "default": "fail_pipeline"}
    assert handler.strategy_for("timeout", policy) is RecoveryStrategy.RETRY
    assert handler.strategy_for("exit_code", policy) is RecoveryStrategy.FAIL_PIPELINE
    assert handler.strategy_for("exit_code", {"timeout": "retry"}) is RecoveryStrategy.PAUSE


def test_retries_are_spent_then_the_default_applies():
    handler = PipelineErrorHandler(default="fail_pipeline")
    context = handler.context("s", "timeout", "slow", "retry")
    assert context.severity is ErrorSeverity.ERROR
    assert handler.handle_error(context, attempt=1, retries=2) is RecoveryStrategy.RETRY
    assert handler.handle_error(context, attempt=2, retries=2) is RecoveryStrategy.RETRY
    assert handler.handle_error(context, attempt=3, retries=2) is RecoveryStrategy.FAIL_PIPELINE


def test_user_interruption_is_never_retried():
    handler = PipelineErrorHandler()
    context = handler.context("s", "interrupted", "stopped", "retry")
    assert handler.handle_error(context) is RecoveryStrategy.PAUSE


def test_backoff_doubles_and_is_capped():
    assert [PipelineErrorHandler().backoff(i) for i in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 30.0]
    assert PipelineErrorHandler(backoff_base=0.25).backoff(3) == 1.0
    assert PipelineErrorHandler().severity("import_error") is ErrorSeverity.CRITICAL
