"""``%pipetest`` in a real IPython ``InteractiveShell``: load, step, run, load_step, debug, and mistakes."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from pipetest_nb import Debugger

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


def test_unknown_step_names_the_close_match(loaded):
    with pytest.raises(UsageError, match="clean"):
        loaded.run_line_magic("pipetest", "debug claen")
