"""The command line, run as a real subprocess through the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import write_pipeline

EXAMPLE = Path(__file__).parents[1] / "pipetest_nb" / "examples" / "churn" / "pipeline.yaml"


def pipetest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.cli", *args], capture_output=True, text=True,
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
