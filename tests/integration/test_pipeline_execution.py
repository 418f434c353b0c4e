"""The original plan's integration tests, and the edge checks of a real pipeline end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipetest_nb import PipelineDAG
from pipetest_nb.engine.executor import PipelineExecutor
from pipetest_nb.records.record import load_record
from pipetest_nb.validation.compatibility import DataCompatibilityReport

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sample_pipeline"


def sample(tmp_path: Path, env: dict[str, dict[str, str]] | None = None, raises: str | None = None) -> PipelineDAG:
    """A copy of the sample pipeline, with env set on some steps or one step's script made to raise."""
    folder = tmp_path / "sample"
    shutil.copytree(FIXTURE, folder)
    spec = yaml.safe_load((folder / "pipeline.yaml").read_text())
    for step, values in (env or {}).items():
        spec["steps"][step]["env"] = values
    if raises:
        script = folder / spec["steps"][raises]["script"]
        script.write_text(script.read_text() + "\n\ndef main(*args):\n    raise RuntimeError('step broke')\n")
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    return PipelineDAG.from_yaml(folder / "pipeline.yaml")


@pytest.fixture
def sample_pipeline_dag(tmp_path):
    return sample(tmp_path)


@pytest.fixture
def pipeline_executor(tmp_path):
    return PipelineExecutor(workspace_dir=str(tmp_path / "ws"), isolation="pool")


def test_simple_pipeline_execution(sample_pipeline_dag, pipeline_executor):
    result = pipeline_executor.execute_pipeline(sample_pipeline_dag, data_source="synthetic")
    assert result.success, result.error
    assert len(result.completed_steps) == len(sample_pipeline_dag.steps)
    assert result.total_duration > 0
    assert not (sample_pipeline_dag.base_dir / "data" / "raw.csv").exists()  # never written over the user's files


def test_pipeline_with_data_validation(sample_pipeline_dag, pipeline_executor):
    result = pipeline_executor.execute_pipeline(sample_pipeline_dag, data_source="synthetic")
    for step_result in result.completed_steps:
        assert step_result.data_validation_report is not None
        assert isinstance(step_result.data_validation_report, DataCompatibilityReport)
        if not step_result.data_validation_report.compatible:
            assert len(step_result.data_validation_report.issues) > 0
    record = load_record(result.run_dir)
    edge = record.edges["clean.clean_data->features.DATA"]
    assert edge["state"] == "passed"
    assert edge["expectations"][0]["suite"] == "clean_data" and edge["expectations"][0]["success"]
    assert record.edges["load.raw_data->clean.DATA"]["compatibility"]["compatible"]
    assert result.steps["clean"].metrics.rows_out == result.steps["features"].metrics.rows_in == 500


def test_pipeline_error_recovery(tmp_path, pipeline_executor):
    faulty_dag = sample(tmp_path, raises="summary")
    result = pipeline_executor.execute_pipeline(faulty_dag, data_source="synthetic")
    assert not result.success
    assert result.error is not None and "step broke" in result.error
    assert len(result.completed_steps) > 0


def test_dropped_column_fails_the_edge_naming_both_steps_and_the_column(tmp_path, pipeline_executor):
    dag = sample(tmp_path, env={"clean": {"DROP_SEGMENT": "1"}})
    result = pipeline_executor.execute_pipeline(dag, data_source="synthetic")
    clean = result.steps["clean"]
    assert clean.status == "failed" and clean.error_type == "data_compatibility_error"
    assert "clean.clean_data -> features.DATA" in clean.error_message and "'segment'" in clean.error_message
    assert result.steps["features"].status == "blocked"
    assert not clean.data_validation_report.compatible


def test_int_to_string_type_change_is_caught(tmp_path, pipeline_executor):
    dag = sample(tmp_path, env={"load": {"AMOUNT_AS_TEXT": "1"}})
    result = pipeline_executor.execute_pipeline(dag, data_source="synthetic")
    load = result.steps["load"]
    assert load.error_type == "data_compatibility_error"
    assert "column 'amount'" in load.error_message and "expected float64" in load.error_message


def test_range_expectation_fails_on_planted_rows_and_lists_them(tmp_path, pipeline_executor):
    dag = sample(tmp_path, env={"clean": {"PLANT_BAD_ROWS": "1"}})
    result = pipeline_executor.execute_pipeline(dag, data_source="synthetic")
    clean = result.steps["clean"]
    assert clean.error_type == "expectation_failed"
    assert "expect_column_values_to_be_between" in clean.error_message and "-50.0" in clean.error_message
    edge = load_record(result.run_dir).edges["clean.clean_data->features.DATA"]
    assert edge["state"] == "failed"
    failure = edge["expectations"][0]["failures"][0]
    assert failure["column"] == "amount" and failure["unexpected_count"] == 3
    assert failure["unexpected_values"][:1] == [-50.0]


def test_warn_only_edge_lets_the_consumer_run(tmp_path, pipeline_executor):
    dag = sample(tmp_path, env={"clean": {"PLANT_BAD_ROWS": "1"}})
    spec = yaml.safe_load(dag.source.read_text())
    spec["edges"][0]["on_expectation_failure"] = "warn"
    dag.source.write_text(yaml.safe_dump(spec))
    result = pipeline_executor.execute_pipeline(PipelineDAG.from_yaml(dag.source), data_source="synthetic")
    assert result.success
    assert load_record(result.run_dir).edges["clean.clean_data->features.DATA"]["state"] == "warned"


def test_pipetest_run_prints_the_failed_edge(tmp_path):
    dag = sample(tmp_path, env={"clean": {"PLANT_BAD_ROWS": "1"}})
    done = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "run", str(dag.source), "--workspace",
                           str(tmp_path / "ws"), "--data-source", "synthetic", "--isolation", "pool"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "Root failure: step 'clean' (expectation_failed)" in out
    assert "clean.clean_data -> features.DATA" in out and "-50.0" in out
    assert "Not run because of it: features, summary" in out


def test_checks_off_leave_the_data_to_the_consumer(tmp_path):
    dag = sample(tmp_path, env={"clean": {"DROP_SEGMENT": "1"}})
    result = PipelineExecutor(tmp_path / "ws", isolation="pool", checks=False).execute_pipeline(
        dag, data_source="synthetic")
    assert result.steps["clean"].status == "succeeded"  # nothing stopped the dropped column at the edge
    assert result.steps["features"].error_type == "execution_error" and "segment" in result.steps["features"].error
    assert load_record(result.run_dir).edges == {}
    assert result.steps["clean"].metrics.rows_out == 500  # outputs are still measured
