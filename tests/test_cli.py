"""The command line, run as a real subprocess through the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines import write_pipeline

EXAMPLE = Path(__file__).parents[1] / "pipetest_nb" / "examples" / "churn" / "pipeline.yaml"


def pipetest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True, text=True,
                          timeout=60)


def test_validate_example():
    done = pipetest("validate", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "OK: pipeline 'churn-example'" in done.stdout and "5 steps" in done.stdout


def test_validate_lists_every_problem(pipeline_dir):
    path = write_pipeline(pipeline_dir, "steps:\n  a: {script: nope.py, tiemout: 3}\n")
    done = pipetest("validate", str(path))
    assert done.returncode == 1
    assert "2 problems" in done.stderr and "nope.py" in done.stderr and "did you mean 'timeout'" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_reports_a_cycle(pipeline_dir):
    path = write_pipeline(pipeline_dir, "steps:\n  a: {script: a.py, depends_on: [b]}\n"
                                        "  b: {script: b.py, depends_on: [a]}\n")
    done = pipetest("validate", str(path))
    assert done.returncode == 1 and "a -> b -> a" in done.stderr


def test_plan_table_and_json():
    done = pipetest("plan", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "DATA <- load:raw_data" in done.stdout and "1: preprocess, profile" in done.stdout
    done = pipetest("plan", str(EXAMPLE), "--json")
    plan = json.loads(done.stdout)
    assert plan["execution_order"] == ["load", "preprocess", "profile", "train", "evaluate"]
    assert plan["data_flow_map"]["evaluate"] == {"model": "train:model", "DATA": "preprocess:processed_data"}


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "pipetest"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "validate" in done.stdout


def test_run_runs_and_resume(tmp_path):
    ws = str(tmp_path / "ws")
    done = pipetest("run", str(EXAMPLE), "--workspace", ws, "--isolation", "pool", "--report-json",
                    str(tmp_path / "report.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded   evaluate" in done.stdout and "Run folder:" in done.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["execution_summary"]["steps_completed"] == 5
    assert report["performance_insights"]["critical_path"]["steps"][0] == "load"
    listing = pipetest("runs", "--workspace", ws)
    assert listing.returncode == 0 and "churn-example" in listing.stdout and "succeeded" in listing.stdout
    run_dir = done.stdout.split("Run folder:")[1].split()[0]
    resumed = pipetest("resume", run_dir)
    assert resumed.returncode == 0 and "succeeded" in resumed.stdout


def test_run_slice_reuses_earlier_outputs(tmp_path):
    ws = str(tmp_path / "ws")
    first = pipetest("run", str(EXAMPLE), "--workspace", ws, "--to", "preprocess")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "incomplete" in first.stdout and "train" not in first.stdout.split("\n\n")[0]
    done = pipetest("run", str(EXAMPLE), "--workspace", ws, "--from", "train", "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded   train" in done.stdout and "succeeded   evaluate" in done.stdout
    assert "cached" in done.stdout and "outputs reused" not in done.stderr


def test_run_of_a_pipeline_with_an_error_exits_1(tmp_path):
    (tmp_path / "bad.py").write_text("def main(*a):\n    raise KeyError('LABEL_FIELD')\n")
    path = write_pipeline(tmp_path, "steps:\n  bad: {script: bad.py}\n")
    done = pipetest("run", str(path), "--workspace", str(tmp_path / "ws"))
    assert done.returncode == 1
    assert "Root failure: step 'bad' (execution_error)" in done.stdout and "LABEL_FIELD" in done.stdout
