"""The original plan's names, each used as the plan's code examples use it, on real scripts and runs.

Imported from ``pipetest_nb`` alone: these are the public surface, wherever their modules live.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pipelines import NOOP_SCRIPT, write_pipeline

from pipetest_nb import (
    CursusIntegrationLayer,
    DataCompatibilityReport,
    DataCompatibilityValidator,
    ErrorContext,
    ErrorSeverity,
    InputSpec,
    PipelineDAG,
    PipelineDAGResolver,
    PipelineErrorHandler,
    PipelineExecutionPlan,
    PipelineExecutionResult,
    PipelineExecutor,
    PipelineMetrics,
    PipelineMonitor,
    PipelineScriptExecutor,
    RecoveryStrategy,
    StepConfig,
    StepMetrics,
    Workspace,
    inspect_output,
)

PRODUCE = """
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    pd.DataFrame({"id": range(10), "score": [i / 10 for i in range(10)]}).to_csv(
        Path(output_paths["table"]) / "table.csv", index=False)
"""

CONSUME = """
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    frame = pd.read_csv(Path(input_paths["DATA"]) / "table.csv")
    pd.DataFrame({"rows": [len(frame)], "total": [frame["score"].sum()]}).to_csv(
        Path(output_paths["summary"]) / "summary.csv", index=False)
"""

PIPELINE = """
name: plan-names
steps:
  produce:
    script: produce.py
    outputs: {table: {format: csv}}
  consume:
    script: consume.py
    inputs:
      DATA: {from: produce.table, format: csv, schema: {required_columns: [%s]}}
    outputs: {summary: {format: csv}}
"""

CHAIN = Path(__file__).parent / "fixtures" / "cursus" / "chain"


def two_steps(tmp_path: Path, columns: str = "id, score", produce: str = PRODUCE) -> PipelineDAG:
    path = write_pipeline(tmp_path / "p", PIPELINE % columns, {"produce.py": produce, "consume.py": CONSUME})
    return PipelineDAG.from_yaml(path)


def run(dag: PipelineDAG, tmp_path: Path, **options) -> PipelineExecutionResult:
    return PipelineExecutor(workspace_dir=str(tmp_path / "ws"), isolation="inprocess", **options).execute_pipeline(
        dag, data_source="synthetic")


def failing_step_pipeline(tmp_path: Path, step: str, script: str, defaults: str = "") -> PipelineDAG:
    text = f"name: fails\nsteps:\n  {step}:\n    script: {step}.py\n    outputs: {{out: {{}}}}\n{defaults}" \
           "  after: {script: after.py, inputs: {IN: " + step + ".out}}\n"
    return PipelineDAG.from_yaml(write_pipeline(tmp_path / "f", text, {f"{step}.py": script,
                                                                        "after.py": NOOP_SCRIPT}))


# -- spec and plan ---------------------------------------------------------------------------------


def test_pipeline_dag_from_yaml_has_step_configs_with_their_contracts(tmp_path):
    dag = two_steps(tmp_path)
    assert list(dag.steps) == ["produce", "consume"]
    consume = dag.steps["consume"]
    assert isinstance(consume, StepConfig) and consume.script == dag.base_dir / "consume.py"
    assert consume.inputs["DATA"].producer == "produce" and consume.inputs["DATA"].output == "table"
    assert list(dag.steps["produce"].outputs) == ["table"]


def test_resolver_creates_the_topological_plan_with_its_data_flow_map(tmp_path):
    dag = two_steps(tmp_path)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    assert isinstance(plan, PipelineExecutionPlan)
    assert plan.execution_order == ["produce", "consume"]
    assert plan.dependencies == {"produce": [], "consume": ["produce"]}
    assert plan.data_flow_map == {"produce": {}, "consume": {"DATA": "produce:table"}}
    assert plan.step_configs["consume"].script == dag.steps["consume"].script
    assert plan.step_configs["consume"].mode == "main"  # the plan settles what the file left to defaults


def test_execution_plan_slices_and_serialises(tmp_path):
    plan = PipelineDAGResolver(two_steps(tmp_path)).create_execution_plan()
    assert plan.upstream("consume") == ["produce"] and plan.downstream("produce") == ["consume"]
    assert plan.subset(from_steps="consume").execution_order == ["consume"]
    assert json.loads(json.dumps(plan.to_dict()))["execution_order"] == ["produce", "consume"]


# -- execution -------------------------------------------------------------------------------------


def test_pipeline_executor_runs_the_whole_pipeline(tmp_path):
    dag = two_steps(tmp_path)
    result = run(dag, tmp_path)
    assert result.success, result.error
    assert [r.step_name for r in result.completed_steps] == ["produce", "consume"]
    assert result.total_duration > 0
    summary = pd.read_csv(result.steps["consume"].outputs["summary"] / "summary.csv")
    assert summary.to_dict("records") == [{"rows": 10, "total": pytest.approx(4.5)}]


def test_pipeline_execution_result_of_a_failed_run_names_the_step_and_keeps_what_completed(tmp_path):
    broken = PRODUCE + "    raise RuntimeError('produce broke')\n"
    dag = PipelineDAG.from_yaml(write_pipeline(
        tmp_path / "g", "steps:\n  ok: {script: ok.py}\n  produce: {script: produce.py, outputs: {table: {}}, "
        "depends_on: [ok]}\n", {"ok.py": NOOP_SCRIPT, "produce.py": broken}))
    result = run(dag, tmp_path)
    assert isinstance(result, PipelineExecutionResult)
    assert not result.success
    assert "produce" in result.error and "produce broke" in result.error
    assert [r.step_name for r in result.completed_steps] == ["ok"]
    assert result.execution_plan.execution_order == ["ok", "produce"]


def test_script_executor_runs_one_step_on_given_inputs(tmp_path):
    data = tmp_path / "given"
    data.mkdir()
    pd.DataFrame({"id": [1, 2, 3], "score": [0.5, 1.0, 1.5]}).to_csv(data / "table.csv", index=False)
    dag = two_steps(tmp_path)
    step = PipelineScriptExecutor(tmp_path / "ws").execute_step("consume", dag.steps["consume"], {"DATA": data},
                                                                base_dir=dag.base_dir)
    assert step.success, step.error
    assert step.inputs["DATA"] == data
    summary = pd.read_csv(step.outputs["summary"] / "summary.csv")
    assert summary.to_dict("records") == [{"rows": 3, "total": 3.0}]
    assert step.duration > 0


# -- data flow validation --------------------------------------------------------------------------


def test_data_compatibility_validator_compares_a_real_output_with_a_consumer_spec(tmp_path):
    produced = run(two_steps(tmp_path), tmp_path).steps["produce"].outputs["table"]
    output = inspect_output(produced).to_dict()
    validator = DataCompatibilityValidator()
    fine = validator.validate_step_transition(output, {"required_files": ["table.csv"],
                                                       "file_formats": {"table.csv": "csv"}})
    assert fine.compatible and fine.issues == []
    wrong = validator.validate_step_transition(output, {
        "required_files": ["model.pkl"], "file_formats": {"table.csv": "parquet"},
        "schemas": {"table.csv": {"required_columns": ["id", "label"], "column_types": {"score": "string"}}}})
    assert not wrong.compatible
    joined = "\n".join(wrong.issues)
    assert "model.pkl" in joined and "expected parquet" in joined and "'label'" in joined and "score" in joined
    typed = validator.validate_step_transition(output, InputSpec("DATA", format="csv"))
    assert typed.compatible


def test_data_compatibility_report_is_attached_to_the_producer_of_a_checked_edge(tmp_path):
    good = run(two_steps(tmp_path), tmp_path).steps["produce"].data_validation_report
    assert isinstance(good, DataCompatibilityReport)
    assert good.compatible and good.issues == [] and good.data_summary
    bad = run(two_steps(tmp_path / "bad", columns="id, label"), tmp_path / "bad")
    report = bad.steps["produce"].data_validation_report
    assert not bad.success and bad.steps["produce"].error_type == "data_compatibility_error"
    assert not report.compatible and any("'label'" in issue for issue in report.issues)
    assert bad.steps["consume"].status == "blocked"


# -- errors and recovery ---------------------------------------------------------------------------

IMPORTS_MISSING = "import no_such_module_for_pipetest\n\n" + NOOP_SCRIPT


def test_error_handler_skips_a_step_whose_module_is_missing_as_the_plan_does(tmp_path):
    policy = "    on_error: {import_error: skip_step, default: fail_pipeline}\n"
    dag = failing_step_pipeline(tmp_path, "load", IMPORTS_MISSING, policy)
    result = run(dag, tmp_path)
    load = result.steps["load"]
    assert load.status == "skipped" and load.error_type == "import_error"
    assert result.steps["after"].status == "blocked"
    handler = PipelineErrorHandler()
    context = handler.context("load", load.error_type, load.error_message, dag.steps["load"].on_error)
    assert handler.handle_error(context) is RecoveryStrategy.SKIP_STEP
    other = handler.context("load", "execution_error", "boom", dag.steps["load"].on_error)
    assert handler.handle_error(other) is RecoveryStrategy.FAIL_PIPELINE


def test_error_context_describes_a_real_failure(tmp_path):
    result = run(failing_step_pipeline(tmp_path, "load", IMPORTS_MISSING), tmp_path)
    load = result.steps["load"]
    context = PipelineErrorHandler().context("load", load.error_type, load.error_message, None, attempt=1)
    assert isinstance(context, ErrorContext)
    assert (context.step_name, context.error_type) == ("load", "import_error")
    assert "no_such_module_for_pipetest" in context.error_message
    assert context.suggested_recovery is RecoveryStrategy.FAIL_PIPELINE and context.context_data == {"attempt": 1}
    assert json.loads(json.dumps(context.to_dict()))["severity"] == "critical"


def test_error_severity_decides_whether_a_retry_is_worth_it(tmp_path):
    """A CRITICAL failure (a missing module) fails the same way every attempt: ``retry`` does not retry it."""
    policy = "    on_error: retry\n    retries: 1\n"
    critical = run(failing_step_pipeline(tmp_path / "c", "load", IMPORTS_MISSING, policy), tmp_path / "c")
    load = critical.steps["load"]
    handler = PipelineErrorHandler()
    assert handler.severity(load.error_type) is ErrorSeverity.CRITICAL
    assert load.status == "failed" and load.attempts == 1
    assert any("not retried" in w for w in load.warnings), load.warnings
    raises = NOOP_SCRIPT + "    raise ValueError('bad value')\n"
    error = run(failing_step_pipeline(tmp_path / "e", "load", raises, policy), tmp_path / "e").steps["load"]
    assert handler.severity(error.error_type) is ErrorSeverity.ERROR
    assert error.status == "failed" and error.attempts == 2  # an ERROR may pass another time: retried
    assert {s.value for s in ErrorSeverity} == {"warning", "error", "critical"}


def test_recovery_strategy_retry_with_defaults_reruns_with_the_steps_defaults(tmp_path):
    needs_mode = NOOP_SCRIPT + "    if environ_vars.get('MODE') != 'safe':\n        raise RuntimeError('unsafe')\n"
    policy = "    on_error: retry_with_defaults\n    env: {MODE: fast}\n    defaults: {env: {MODE: safe}}\n"
    result = run(failing_step_pipeline(tmp_path, "load", needs_mode, policy), tmp_path)
    assert result.success, result.error
    assert result.steps["load"].attempts == 2 and result.steps["after"].status == "succeeded"


def test_recovery_strategy_use_cached_output_falls_back_on_the_last_good_run(tmp_path):
    policy = "    on_error: use_cached_output\n"
    good = run(failing_step_pipeline(tmp_path, "load", NOOP_SCRIPT, policy), tmp_path)
    assert good.success
    broken = NOOP_SCRIPT + "    raise RuntimeError('now broken')\n"
    again = run(failing_step_pipeline(tmp_path, "load", broken, policy), tmp_path)
    assert again.steps["load"].status == "cached" and again.steps["load"].cached_from == good.run_id
    assert again.success and again.steps["after"].success
    assert {s.value for s in RecoveryStrategy} >= {"skip_step", "retry_with_defaults", "use_cached_output",
                                                  "fail_pipeline"}


# -- Cursus ----------------------------------------------------------------------------------------


def test_cursus_integration_layer_resolves_validates_and_runs_a_step(tmp_path):
    layer = CursusIntegrationLayer(CHAIN / "pipeline_dag.json", CHAIN / "config.json", CHAIN / "contracts")
    step = "CradleDataLoading_training"
    unbound = layer.resolve_step_configuration(step)
    assert not layer.validate_step_contract(step, unbound).ok  # RAW is required and nothing binds it
    raw = CHAIN / "data" / "raw.csv"
    config = layer.resolve_step_configuration(step, {"steps": {step: {"inputs": {"RAW": str(raw)}}}})
    assert layer.validate_step_contract(step, config).ok
    assert layer.get_script_path(config) == CHAIN / "scripts" / "data_loading.py"
    done = PipelineScriptExecutor(tmp_path / "ws", isolation="inprocess").execute_step(
        step, config, {"RAW": raw}, base_dir=CHAIN)
    assert done.success, done.error
    rows = sum(len(pd.read_parquet(p)) for p in (done.outputs["DATA"]).glob("*.parquet"))
    assert rows == json.loads((done.outputs["METADATA"] / "metadata.json").read_text())["rows"] == 40


# -- monitoring ------------------------------------------------------------------------------------


def monitored_run(tmp_path: Path) -> tuple[PipelineMonitor, PipelineExecutionResult]:
    monitor = PipelineMonitor()
    result = PipelineExecutor(workspace_dir=tmp_path / "ws", isolation="inprocess").execute_pipeline(
        two_steps(tmp_path), bus_subscribers=[monitor])
    assert result.success, result.error
    return monitor, result


def test_pipeline_monitor_fed_by_a_real_runs_events_writes_the_plans_report(tmp_path):
    monitor, result = monitored_run(tmp_path)
    report = monitor.generate_report(result.run_id)
    assert report["pipeline_name"] == "plan-names"
    assert report["execution_summary"]["steps_completed"] == 2
    assert report["execution_summary"]["steps_failed"] == 0 and report["execution_summary"]["success_rate"] == 1.0
    assert report["execution_summary"]["total_duration"] > 0
    assert report["step_details"]["consume"]["status"] == "succeeded"
    assert report["step_details"]["consume"]["data_processed"]["input_size"] > 0
    assert report["performance_insights"]["critical_path"]["steps"] == ["produce", "consume"]
    record = next(r for r in Workspace(tmp_path / "ws").runs() if r.run_id == result.run_id)
    from_disk, run_id = PipelineMonitor.from_record(record)
    assert from_disk.generate_report(run_id)["execution_summary"] == report["execution_summary"]


def test_step_metrics_of_a_real_step(tmp_path):
    monitor, result = monitored_run(tmp_path)
    metrics = result.steps["consume"].metrics
    assert isinstance(metrics, StepMetrics) and metrics.step_name == "consume"
    assert metrics.status == "succeeded" and metrics.duration > 0
    assert metrics.rows_in == 10 and metrics.rows_out == 1
    assert metrics.input_data_size > 0 and metrics.output_data_size > 0
    live = monitor.active_pipelines[result.run_id].step_metrics["consume"]
    assert (live.rows_in, live.rows_out, live.status) == (10, 1, "succeeded")
    assert json.loads(json.dumps(metrics.to_dict()))["step_name"] == "consume"


def test_pipeline_metrics_of_a_real_run(tmp_path):
    monitor, result = monitored_run(tmp_path)
    pipeline = monitor.active_pipelines[result.run_id]
    assert isinstance(pipeline, PipelineMetrics)
    assert pipeline.pipeline_name == "plan-names" and list(pipeline.step_metrics) == ["produce", "consume"]
    assert pipeline.success_rate == 1.0 and pipeline.error_count == 0
    assert pipeline.total_duration > 0 and pipeline.end_time is not None
    assert pipeline.dependencies == {"produce": [], "consume": ["produce"]}
