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


def test_version():
    done = pipetest("--version")
    assert done.returncode == 0 and done.stdout.strip().startswith("pipetest 0.")


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`pipetest runs | head`: the reader goes away before pipetest writes; no BrokenPipeError traceback."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before pipetest writes its first line
    proc = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "plan", str(EXAMPLE)], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write)
    assert "BrokenPipeError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 141


WARNS = """\
name: warns
defaults: {isolation: inprocess}
steps:
  quiet: {script: quiet.py, outputs: {out: {}}}
"""


def test_resume_report_and_draft_take_the_run_ids_runs_prints(tmp_path):
    def here(*args: str) -> subprocess.CompletedProcess:  # in tmp_path, with the default workspace
        return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)

    path = write_pipeline(tmp_path / "p", WARNS, {"quiet.py": "def main(*a):\n    pass\n"})
    done = here("run", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = here("runs").stdout.splitlines()[2].split()[0]
    assert (tmp_path / "pipetest_workspace" / "runs" / run_id).is_dir()
    resumed = here("resume", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = here("report", run_id, "-o", "r.html")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    drafted = here("expectations", "draft", run_id, "quiet.out")
    assert drafted.returncode == 1  # the run was found by its id: the output it names holds no table
    assert f"no table '**' in pipetest_workspace/runs/{run_id}/steps/quiet/outputs/out" in drafted.stderr
    typo = here("report", run_id[:-1] + "x")
    assert typo.returncode == 1 and f"did you mean '{run_id}'" in typo.stderr and "Traceback" not in typo.stderr
    elsewhere = pipetest("report", run_id, "--workspace", str(tmp_path / "pipetest_workspace"),
                         "-o", str(tmp_path / "r2.html"))
    assert elsewhere.returncode == 0, elsewhere.stderr


def test_recorded_step_warnings_are_printed(tmp_path):
    path = write_pipeline(tmp_path / "p", WARNS, {"quiet.py": "def main(*a):\n    pass\n"})
    done = pipetest("run", str(path), "--workspace", str(tmp_path / "ws"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warnings (1):\n  quiet: the step wrote nothing to output 'out'" in done.stdout


def test_draft_from_a_data_file_bounds_numbers_to_finite_ranges(tmp_path):
    import numpy as np
    import pandas as pd

    data = tmp_path / "data.parquet"
    pd.DataFrame({"score": [0.5, 1.5, np.inf, -np.inf, 2.5, 1.0, 0.7], "n": range(7)}).to_parquet(data)
    out = tmp_path / "expectations" / "scores.json"
    done = pipetest("expectations", "draft", "--from", str(data), "--name", "scores", "-o", str(out))
    assert done.returncode == 0, done.stderr
    suite = json.loads(out.read_text())
    ranges = {e["kwargs"]["column"]: e["kwargs"] for e in suite["expectations"]
              if e["type"] == "expect_column_values_to_be_between" and "column" in e["kwargs"]}
    assert ranges["score"]["min_value"] == 0.5 and ranges["score"]["max_value"] == 2.5  # finite, both ends
    assert suite["meta"]["excluded"] == ["column 'score': 2 infinite value(s) left out of the drafted range"]
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    assert pipetest("expectations", "draft", "--from", str(csv), "--name", "c").returncode == 0
    bad = pipetest("expectations", "draft", "--from", str(tmp_path / "notes.txt"), "--name", "c")
    assert bad.returncode == 1 and "notes.txt" in bad.stderr and "Traceback" not in bad.stderr


FIRST_SUITE = """\
name: first-suite
defaults: {isolation: inprocess}
steps:
  make: {script: make.py, outputs: {rows: {format: parquet}}}
  use: {script: use.py, inputs: {DATA: make.rows}}
edges:
  - {from: make.rows, to: use.DATA, expectations: rows}
"""
MAKE_ROWS = """\
import os
import pandas as pd
def main(input_paths, output_paths, environ_vars, job_args):
    pd.DataFrame({"age": [20, 30, 41], "city": ["a", "b", "a"]}).to_parquet(os.path.join(output_paths["rows"], "t.parquet"))
"""


def test_a_first_suite_is_a_warning_with_the_command_that_drafts_it(tmp_path):
    import shlex

    def here(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)

    write_pipeline(tmp_path, FIRST_SUITE, {"make.py": MAKE_ROWS, "use.py": "def main(*a):\n    pass\n"})
    checked = here("validate", "pipeline.yaml")
    assert checked.returncode == 0, checked.stderr
    assert ("warning: edge make.rows -> use.DATA names suite 'rows', but expectations/rows.json does not exist yet"
            in checked.stderr)
    assert "pipetest expectations draft --from DATA.parquet --name rows -o expectations/rows.json" in checked.stderr

    first = here("run", "pipeline.yaml")
    assert first.returncode == 0, first.stdout + first.stderr  # the edge is not checked, the run goes on
    line = next(x for x in first.stdout.splitlines() if "does not exist yet" in x)
    command = line.split("draft it from this run: ", 1)[1]
    run_id = first.stdout.split("Run folder: ")[1].split()[0].rsplit("/", 1)[1]
    assert command == f"pipetest expectations draft {run_id} make.rows --name rows -o expectations/rows.json"

    again = here("validate", "pipeline.yaml")  # a run has the data now: the missing suite is an error
    assert again.returncode == 1 and command in again.stderr

    drafted = here(*shlex.split(command)[1:])  # the command as printed
    assert drafted.returncode == 0, drafted.stderr
    assert here("validate", "pipeline.yaml").returncode == 0
    checked_run = here("run", "pipeline.yaml")
    assert checked_run.returncode == 0 and "Warnings" not in checked_run.stdout
    record = json.loads((tmp_path / "pipetest_workspace" / "runs" / run_id / "run.json").read_text())
    assert record["edges"]["make.rows->use.DATA"]["state"] == "warned"  # the first run's edge: not checked
