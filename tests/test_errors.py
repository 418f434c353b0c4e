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


def test_a_critical_error_is_not_retried_as_it_fails_the_same_way_every_time():
    handler = PipelineErrorHandler(default="skip_step")
    for error_type in ("import_error", "script_not_found", "contract_error"):
        context = handler.context("s", error_type, "no module named x", "retry")
        assert context.severity is ErrorSeverity.CRITICAL
        assert handler.handle_error(context, attempt=1, retries=3) is RecoveryStrategy.SKIP_STEP
    # retry_with_defaults changes the attempt (its env and args), so a critical error may still take it
    context = handler.context("s", "contract_error", "MODE is required", "retry_with_defaults")
    assert handler.handle_error(context, attempt=1, retries=3) is RecoveryStrategy.RETRY_WITH_DEFAULTS


def test_a_run_does_not_retry_a_missing_module_and_says_why(tmp_path):
    from pipetest_nb import PipelineDAG, Session

    (tmp_path / "s.py").write_text("import no_such_module_for_pipetest\n\ndef main(i, o, e, a):\n    pass\n")
    (tmp_path / "p.yaml").write_text("name: p\nsteps:\n  s:\n    script: s.py\n    on_error: retry\n"
                                     "    retries: 3\n    isolation: inprocess\n")
    with Session(PipelineDAG.load(tmp_path / "p.yaml"), tmp_path / "ws", progress=False) as session:
        result = session.run_all()
        entry = session.record["steps"]["s"]
    assert not result.success and entry["attempts"] == 1
    assert entry["error_type"] == "import_error"
    assert any("not retried" in w and "import_error" in w for w in entry.get("warnings", [])), entry.get("warnings")
