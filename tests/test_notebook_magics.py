"""``%pipetest`` in a real IPython ``InteractiveShell``: load, step, run, load_step, debug, and mistakes."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from pipetest_nb import Debugger, PipelineDAG, Session
from pipetest_nb.views.notebook.magics import step_code

FIXTURE = Path(__file__).parent / "fixtures" / "step_fails_suite_warns"


@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "pipetest_nb")
    yield ip
    magics = ip.magics_manager.registry["PipetestMagics"]
    if magics.debugger is not None:
        magics.debugger.close()
        magics.debugger = None
    ip.user_ns.pop("dbg", None)
    ip.rl_next_input = None


@pytest.fixture
def loaded(shell, tmp_path, capsys):
    shutil.copytree(FIXTURE, tmp_path / "p")
    shell.run_line_magic("pipetest", f"load {tmp_path / 'p' / 'pipeline.yaml'} --workspace {tmp_path / 'ws'}")
    capsys.readouterr()
    return shell


def test_load_shows_the_debugger_and_binds_it(shell, tmp_path, capsys):
    shutil.copytree(FIXTURE, tmp_path / "p")
    shell.run_line_magic("pipetest", f"load {tmp_path / 'p' / 'pipeline.yaml'} --workspace {tmp_path / 'ws'} "
                                      "--as debugger")
    out = capsys.readouterr().out
    assert "Debugger(" in out  # displayed (a plain shell prints the widget's text form)
    assert "debugger = the debugger; debugger.session is its Session" in out
    dbg = shell.user_ns["debugger"]
    assert isinstance(dbg, Debugger) and dbg.session.workspace.root == (tmp_path / "ws").absolute()
    shell.user_ns.pop("debugger")


def test_step_and_run_drive_the_session_and_the_graph_follows(loaded, capsys):
    dbg = loaded.user_ns["dbg"]
    loaded.run_line_magic("pipetest", "step")
    assert capsys.readouterr().out.startswith("load: succeeded (")
    assert dbg.graph.statuses["load"] == "succeeded"

    loaded.run_line_magic("pipetest", "step 5")  # stops at the first failure
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["audit", "clean"]
    assert "clean: failed" in out[1] and "ValueError: age out of range" in out[1]

    result = loaded.run_line_magic("pipetest", "run --to audit")
    assert result.success and dbg.graph.statuses["clean"] == "failed"


def test_load_step_puts_a_runnable_cell_below(loaded, tmp_path):
    dbg = loaded.user_ns["dbg"]
    loaded.run_line_magic("pipetest", "load_step load")
    code = loaded.rl_next_input
    assert "input_paths = {}" in code and "output_paths = {'raw_data': " in code
    assert "environ_vars = {'ROWS': '45'}" in code and "job_args = argparse.Namespace(**{'job_type': 'training'})" in code
    assert "s3cret" not in code and "environ_vars['API_TOKEN'] = str(_secrets['API_TOKEN'])" in code
    assert "module.main(input_paths, output_paths, environ_vars, job_args)" in code

    namespace: dict = {}
    exec(compile(code, "<load_step>", "exec"), namespace)  # the user runs the cell
    assert namespace["environ_vars"]["API_TOKEN"] == "s3cret-token-value"
    written = pd.read_parquet(Path(namespace["output_paths"]["raw_data"]) / "people.parquet")
    assert len(written) == 45
    assert Path(namespace["output_paths"]["raw_data"]).is_relative_to(dbg.session.run_dir)

    dbg.session.step()
    loaded.run_line_magic("pipetest", "load_step clean")  # its input is load's output in this run
    code = loaded.rl_next_input
    assert repr(str(dbg.session.outputs("load")["raw_data"])) in code
    with pytest.raises(ValueError, match=r"age out of range: \[-3, 150\]"):
        exec(compile(code, "<load_step>", "exec"), {})


def test_debug_opens_the_post_mortem_debugger_in_the_failing_frame(loaded, monkeypatch, capsys):
    loaded.run_line_magic("pipetest", "step")  # load
    monkeypatch.setattr(sys, "stdin", io.StringIO("p len(bad)\np bad.age.tolist()\nq\n"))  # what the user types
    loaded.run_line_magic("pipetest", "debug clean")
    out = capsys.readouterr().out
    assert "step 'clean' raised ValueError: age out of range: [-3, 150]" in out
    assert "ipdb> 2\nipdb> [-3, 150]\n" in out  # the locals of clean's main(), where it raised
    assert loaded.user_ns["dbg"].session.status["clean"] == "failed"

    loaded.run_line_magic("pipetest", "debug load")
    assert "step 'load' did not fail (" in capsys.readouterr().out


def test_mistakes_are_usage_errors_that_say_what_to_do(shell, tmp_path):
    with pytest.raises(UsageError, match="no pipeline loaded: run %pipetest load PIPELINE first"):
        shell.run_line_magic("pipetest", "step")
    with pytest.raises(UsageError, match="invalid choice: 'stpe'"):
        shell.run_line_magic("pipetest", "stpe")
    with pytest.raises(UsageError, match="nope.yaml does not exist"):
        shell.run_line_magic("pipetest", f"load {tmp_path / 'nope.yaml'}")
    with pytest.raises(UsageError, match="argument count: invalid int value"):
        shell.run_line_magic("pipetest", "step many")


EDGE_FAILS = """\
name: edge-fails
defaults: {isolation: inprocess}
steps:
  make: {script: make.py, outputs: {rows: {format: parquet}}}
  clean: {script: clean.py, inputs: {DATA: make.rows}, outputs: {clean_data: {format: parquet}}}
  use: {script: use.py, inputs: {DATA: clean.clean_data}}
edges:
  - {from: clean.clean_data, to: use.DATA, expectations: clean_rows}
"""
WRITE_ROWS = """\
import os
import pandas as pd
def main(input_paths, output_paths, environ_vars, job_args):
    pd.DataFrame({"age": [20, 30, 200]}).to_parquet(os.path.join(next(iter(output_paths.values())), "t.parquet"))
"""
AGE_SUITE = json.dumps({"name": "clean_rows", "expectations": [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}}]})


def test_help_is_printed_once_and_is_no_error(shell, capsys):
    assert shell.run_line_magic("pipetest", "--help") is None  # no UsageError
    out = capsys.readouterr().out
    assert out.count("Drive the pipetest debugger from a notebook cell.") == 1
    assert shell.run_line_magic("pipetest", "load --help") is None
    assert capsys.readouterr().out.count("usage: %pipetest load") == 1


def test_debug_after_an_edge_check_failure_says_the_checks_failed(shell, tmp_path, capsys):
    from pipelines import write_pipeline

    path = write_pipeline(tmp_path / "p", EDGE_FAILS, {"make.py": WRITE_ROWS, "clean.py": WRITE_ROWS,
                                                        "use.py": "def main(*a):\n    pass\n",
                                                        "expectations/clean_rows.json": AGE_SUITE})
    shell.run_line_magic("pipetest", f"load {path} --workspace {tmp_path / 'ws'}")
    shell.run_line_magic("pipetest", "run")
    assert shell.user_ns["dbg"].session.status["clean"] == "failed"
    capsys.readouterr()
    shell.run_line_magic("pipetest", "debug clean")
    out = capsys.readouterr().out
    assert "did not fail" not in out
    assert "step 'clean' ran without raising, then its output failed the edge checks (expectation_failed" in out
    assert "Validation tab" in out


def test_load_takes_a_run_id_as_pipetest_runs_lists_it(loaded, tmp_path, capsys):
    loaded.run_line_magic("pipetest", "step")
    run_id = loaded.user_ns["dbg"].session.run_id
    loaded.run_line_magic("pipetest", f"load {run_id} --workspace {tmp_path / 'ws'}")
    assert loaded.user_ns["dbg"].session.run_id == run_id
    assert loaded.user_ns["dbg"].session.status["load"] == "succeeded"


def test_unknown_step_names_the_close_match(loaded):
    with pytest.raises(UsageError, match="clean"):
        loaded.run_line_magic("pipetest", "debug claen")


# -- the cell makes the launcher's call ------------------------------------------------------------

RECORDER = """\
import json, os, sys
from pathlib import Path


def main(input_paths, output_paths, environ_vars, job_args{logger}):
    received = {{
        "module": __name__, "registered": getattr(sys.modules.get(__name__), "__file__", None) == __file__,
        "logger": {logger_given}, "input_paths": input_paths, "output_paths": output_paths,
        "environ_vars": environ_vars, "os_environ": {{k: os.environ.get(k) for k in environ_vars}},
        "job_args": None if job_args is None else vars(job_args), "cwd": os.getcwd(), "path0": sys.path[0],
    }}
    with open(Path(__file__).parent / "received.jsonl", "a") as log:
        log.write(json.dumps(received) + "\\n")
"""

CLI_RECORDER = """\
import json, os, sys
from pathlib import Path

received = {"name": __name__, "argv": sys.argv[1:], "cwd": os.getcwd(), "path0": sys.path[0],
            "env": {k: v for k, v in os.environ.items() if k.startswith("PIPETEST_") or k in ("ROWS", "API_TOKEN", "LABEL")}}
with open(Path(__file__).parent / "received.jsonl", "a") as log:
    log.write(json.dumps(received) + "\\n")
"""


SECRET = "s3cret-Xk9mQ2vL8pR4tN7w"  # read from the pipeline when the cell runs, never written into it


def _recording_pipeline(root: Path, script: str, mode: str = "main") -> Path:
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "first.py").write_text("from pathlib import Path\n\ndef main(i, o, e, a):\n"
                                               "    (Path(o['out']) / 'x.txt').write_text('x')\n")
    (root / "scripts" / "recorder.py").write_text(script)
    (root / "extra.csv").write_text("a\n1\n")
    spec = {"name": "recording", "steps": {
        "first": {"script": "scripts/first.py", "outputs": {"out": {}}},
        "the-step": {"script": "scripts/recorder.py", "mode": mode,
                     "inputs": {"DATA": "first.out", "extra-file": {"path": "extra.csv"}},
                     "outputs": {"model": {}}, "env": {"ROWS": "45", "API_TOKEN": SECRET, "LABEL": "a b"},
                     "args": {"job_type": "training", "api_key": SECRET, "n": 3, "tags": ["a", "b"],
                              "verbose": True, "quiet": False}}}}
    (root / "pipeline.json").write_text(json.dumps(spec))
    return root / "pipeline.json"


def _received_by_launchers_and_cell(tmp_path: Path, script: str, mode: str = "main") -> list[dict]:
    """What the step's script received from an in-process launch, a subprocess launch and the load_step cell."""
    pipeline = _recording_pipeline(tmp_path / "p", script, mode)
    with Session(PipelineDAG.load(pipeline), tmp_path / "ws", progress=False, cache=False) as session:
        session.step()
        for isolation in ("inprocess", "subprocess"):
            assert session.run_step("the-step", isolation=isolation).success
        code = step_code(session, "the-step")
    assert SECRET not in code
    cwd, environ, path = os.getcwd(), dict(os.environ), list(sys.path)
    try:
        exec(compile(code, "<load_step>", "exec"), {})  # the user runs the cell
        assert os.getcwd() == cwd
    finally:  # the cell leaves its env, path and module in the kernel, as it should; not in this test process
        os.environ.clear()
        os.environ.update(environ)
        sys.path[:] = path
        sys.modules.pop("recorder", None)
    lines = (tmp_path / "p" / "scripts" / "received.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("takes_logger", [True, False])
def test_the_load_step_cell_calls_main_as_the_launchers_do(tmp_path, takes_logger):
    script = RECORDER.format(logger=", logger=None" if takes_logger else "",
                             logger_given="logger is not None" if takes_logger else "False")
    inprocess, subprocess, cell = _received_by_launchers_and_cell(tmp_path, script)
    assert inprocess == subprocess == cell
    assert cell["module"] == "recorder" and cell["registered"] and cell["logger"] is takes_logger
    assert cell["environ_vars"] == cell["os_environ"] == {"ROWS": "45", "API_TOKEN": SECRET, "LABEL": "a b"}
    assert cell["job_args"] == {"job_type": "training", "api_key": SECRET, "n": 3, "tags": ["a", "b"],
                                "verbose": True, "quiet": False}
    assert list(cell["job_args"]) == list(inprocess["job_args"])  # in the same order
    assert set(cell["input_paths"]) == {"DATA", "extra-file"} and list(cell["output_paths"]) == ["model"]
    assert cell["input_paths"]["extra-file"] == str(tmp_path / "p" / "extra.csv")
    assert cell["cwd"] == str(tmp_path / "p") and cell["path0"] == str(tmp_path / "p" / "scripts")


def test_the_load_step_cell_runs_a_cli_script_as_the_launchers_do(tmp_path):
    inprocess, subprocess, cell = _received_by_launchers_and_cell(tmp_path, CLI_RECORDER, mode="cli")
    assert inprocess == subprocess == cell
    assert cell["name"] == "__main__"
    assert cell["argv"] == ["--job_type", "training", "--api_key", SECRET, "--n", "3", "--tags", "a", "b", "--verbose"]
    assert {"ROWS", "API_TOKEN", "LABEL", "PIPETEST_INPUT_DATA", "PIPETEST_INPUT_EXTRA_FILE", "PIPETEST_OUTPUT_MODEL"} == set(cell["env"])
