"""``pipetest demo``: the shipped demo pipeline, run end to end through the console command.

One workspace for both runs (the broken run reuses the cached first steps, as it would for a user).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipetest_nb.demo import copy_demo, demo_source
from pipetest_nb.records.record import load_record

DEMO = demo_source()


def pipetest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def printed_path(done: subprocess.CompletedProcess, label: str) -> Path:
    match = re.search(rf"^{label}:\s+(\S.*)$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    return Path(match.group(1))


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("demo")
    return {"good": pipetest("demo", "--workspace", "ws", cwd=folder),
            "broken": pipetest("demo", "--broken", "--workspace", "ws", cwd=folder)}


def test_demo_succeeds_and_writes_its_report(demo_runs):
    done = demo_runs["good"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[7/7] model_evaluation" in done.stdout
    run_dir, report = printed_path(done, "Run folder"), printed_path(done, "Report")
    assert report.is_file() and report.read_text().startswith("<!DOCTYPE html>")
    record = load_record(run_dir).data
    assert record["status"] == "succeeded"
    assert {s["status"] for s in record["steps"].values()} == {"succeeded"}
    assert {e["state"] for e in record["edges"].values()} == {"passed"}
    suites = {c["suite"] for e in record["edges"].values() for c in e.get("expectations") or []}
    assert suites == {"load_data.DATA", "preprocessed_table", "imputed_table", "encoded_table"}
    [predictions] = record["steps"]["model_evaluation"]["output_checks"]  # an output no step reads
    assert predictions["suite"] == "model_evaluation.eval_output" and predictions["success"]
    assert "model_evaluation.eval_output → (output read by no step)" in report.read_text()
    outputs = run_dir / "steps" / "model_evaluation" / "outputs"
    metrics = json.loads((outputs / "metrics_output" / "metrics.json").read_text())
    assert 0.7 < metrics["test"]["auc"] < 0.95, metrics  # the label depends on the features: learnable
    assert (outputs / "eval_output" / "predictions" / "eval_predictions.parquet").is_file()
    preprocessed = run_dir / "steps" / "tabular_preprocessing" / "outputs"
    for split in ("train", "val", "test"):
        assert (preprocessed / "processed_data" / split / f"{split}_processed_data.parquet").is_file()
    assert (preprocessed / "calibration_data" / "calibration" / "calibration_processed_data.parquet").is_file()


def test_broken_demo_fails_with_the_root_failure_first(demo_runs):
    done = demo_runs["broken"]
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Root failure: step 'risk_table_mapping' (execution_error)" in done.stdout
    assert "KeyError: 'region'" in done.stdout
    page = printed_path(done, "Report").read_text()
    root = page.find('<section id="root-failure"')
    assert 0 < root < page.find('<section id="summary"') < page.find('<section id="steps"')
    assert "risk_table_mapping" in page[root:root + 2000] and "KeyError" in page[root:root + 2000]
    record = load_record(printed_path(done, "Run folder")).data
    assert record["root_failure"]["step"] == "risk_table_mapping"
    assert record["not_run"] == ["risk_table_mapping_calibration", "model_training", "model_evaluation"]


def test_broken_suite_catches_the_dropped_column(demo_runs):
    done = demo_runs["broken"]
    assert "warned (suite imputed_table; columns: region)" in done.stdout
    record = load_record(printed_path(done, "Run folder")).data
    edge = record["edges"]["missing_value_imputation.processed_data->risk_table_mapping.input_data"]
    assert edge["state"] == "warned"
    [check] = edge["expectations"]
    assert check["suite"] == "imputed_table" and not check["success"]
    missing = {f["table"] for f in check["failures"] if f["type"] == "expect_column_to_exist"
               and f["column"] == "region"}
    assert missing == {"train", "val", "test"}
    # the same suite passed on the good run's version of that edge: the column, not the suite, changed
    upstream = record["edges"]["tabular_preprocessing.processed_data->missing_value_imputation.input_data"]
    assert upstream["state"] == "passed"


def test_copy_keeps_user_edits_unless_reset(tmp_path):
    copy_demo(tmp_path)
    script = tmp_path / "scripts" / "model_training.py"
    assert script.read_text() == (DEMO / "scripts" / "model_training.py").read_text()
    assert sorted(p.name for p in (tmp_path / "expectations").iterdir()) == sorted(
        p.name for p in (DEMO / "expectations").iterdir())
    script.write_text("# edited\n")
    copy_demo(tmp_path)
    assert script.read_text() == "# edited\n"
    copy_demo(tmp_path, reset=True)
    assert script.read_text() == (DEMO / "scripts" / "model_training.py").read_text()


def test_demo_suites_are_valid_gx_suites():
    from great_expectations.core import ExpectationSuite

    for path in sorted((DEMO / "expectations").glob("*.json")):
        data = json.loads(path.read_text())
        suite = ExpectationSuite(**data)
        assert suite.name == path.stem and len(suite.expectations) >= 5, path


def test_both_demo_pipelines_and_their_suites_check_out():
    from pipetest_nb.spec.model import PipelineDAG
    from pipetest_nb.validation.expectations.suites import check_suite_files

    for name in ("pipeline.yaml", "pipeline_broken.yaml"):
        dag = PipelineDAG.load(DEMO / name)
        assert len(dag.steps) == 7 and check_suite_files(dag) == [], name
