"""Hostile or broken input gets a clear error naming the file, the line and the key; never a crash or a hang.

Pipeline files (YAML and JSON, and dicts given to ``from_dict``), suite files and ``--workspace``
are checked the way `pipetest validate` and a run read them. Anything that could block runs under a
hard wall (SIGALRM) or in a subprocess with a timeout, so a hang fails instead of blocking.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from pipelines import hard_wall

from pipetest_nb import PipelineDAG, PipelineSpecError
from pipetest_nb.exceptions import PipetestError, SuiteError
from pipetest_nb.records.workspace import Workspace
from pipetest_nb.spec.names import name_problem
from pipetest_nb.validation.expectations.checks import validate_output
from pipetest_nb.validation.expectations.suites import check_suite_files, load_suite
from pipetest_nb.views.cli import main

HEAD = "name: bad\nsteps:\n  a:\n    script: a.py\n"
MAX_TIMEOUT = 7 * 24 * 3600  # the documented ranges
MAX_RETRIES = 100


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text("def main(*args):\n    pass\n")
    return tmp_path


def spec_error(path: Path, *, loader=PipelineDAG.load) -> PipelineSpecError:
    """The PipelineSpecError loading ``path`` raises (under a hard wall); it names the file."""
    with hard_wall(), pytest.raises(PipelineSpecError) as info:
        loader(path)
    assert str(path) in str(info.value)
    assert all(p.file == str(path) for p in info.value.problems)
    return info.value


def write(folder: Path, text: str | bytes, name: str = "pipeline.yaml") -> Path:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def pipetest(*args: str, timeout: float = 60, limit_memory: bool = False) -> subprocess.CompletedProcess:
    """The real `pipetest` CLI in a subprocess (a hang or an out-of-memory stays there)."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=cap if limit_memory else None)


def assert_clean_cli_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


# --------------------------------------------------------------------------------------------------
# YAML bombs, depth, huge integers, bad tagged values
# --------------------------------------------------------------------------------------------------

BOMB = "name: bomb\n" + "".join(
    f"x{i}: &a{i} [" + ", ".join(["lol" if i == 0 else f"*a{i - 1}"] * 10) + "]\n" for i in range(9)
) + "steps:\n  a:\n    script: a.py\n    args: {x: *a8}\n"


def test_alias_bomb_is_a_spec_error_with_file_line_and_key(folder, capsys):
    path = write(folder, BOMB)
    start = time.monotonic()
    err = spec_error(path)
    assert time.monotonic() - start < 5
    problem = err.problems[0]
    assert "expands to more than 100000 values" in problem.message
    assert problem.line == 6 and problem.key == "x4"
    assert main(["validate", str(path)]) == 1
    assert "expands to more than" in capsys.readouterr().err


def test_a_recursive_alias_is_a_spec_error(folder):
    err = spec_error(write(folder, HEAD + "    args: {x: &l [1, *l]}\n"))
    assert "recursive alias" in str(err) and err.problems[0].line == 5


def test_aliases_that_stay_small_still_load(folder):
    dag = PipelineDAG.from_yaml(write(folder, "name: n\nsteps:\n  a: &s {script: a.py, timeout: 5}\n"
                                              "  b: {<<: *s, retries: 2}\n  c: *s\n"))
    assert dag.steps["b"].timeout == 5 and dag.steps["b"].retries == 2


@pytest.mark.parametrize("opener, closer", [("[", "]"), ("{a: ", "}")])
def test_yaml_nested_10000_deep_is_a_spec_error_with_line_and_key(folder, opener, closer):
    err = spec_error(write(folder, "name: deep\nsteps: " + opener * 10_000 + "1" * (opener != "[")
                           + closer * 10_000 + "\n"))
    problem = err.problems[0]
    assert "nest" in problem.message and problem.line == 2


def test_json_nested_10000_deep_is_a_spec_error(folder):
    err = spec_error(write(folder, '{"name": "deep", "steps": ' + "[" * 10_000 + "]" * 10_000 + "}", "p.json"))
    assert "nested" in str(err)
    err = spec_error(write(folder, '{"name": "deep", "steps": {"a": {"script": "a.py", "args": {"x": '
                           + "[" * 500 + "]" * 500 + "}}}}", "q.json"))
    assert "nested more than 100 levels" in str(err) and err.problems[0].key.startswith("steps.a.args.x")


def test_from_dict_nested_10000_deep_is_a_spec_error(folder):
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    with hard_wall(), pytest.raises(PipelineSpecError, match="nested more than 100 levels"):
        PipelineDAG.from_dict({"steps": {"a": {"script": "a.py", "args": {"x": deep}}}}, base_dir=folder)


def test_from_dict_with_shared_structure_that_expands_hugely_is_a_spec_error(folder):
    bomb: list = ["lol"] * 10
    for _ in range(8):
        bomb = [bomb] * 10  # 10**9 values once written out (as run.json would)
    with hard_wall(), pytest.raises(PipelineSpecError, match="more than 100000 values"):
        PipelineDAG.from_dict({"steps": {"a": {"script": "a.py", "args": {"x": bomb}}}}, base_dir=folder)


@pytest.mark.parametrize("where, key", [("    timeout: {n}\n", "steps.a.timeout"),
                                        ("    args: {{x: {n}}}\n", "steps.a.args.x"),
                                        ("    outputs: {{o: {{schema: {{rows: {n}}}}}}}\n",
                                         "steps.a.outputs.o.schema.rows")])
def test_integers_with_thousands_of_digits_are_spec_errors(folder, capsys, where, key):
    path = write(folder, HEAD + where.format(n="9" * 5000))
    problem = spec_error(path).problems[0]
    assert "5000 digits" in problem.message and problem.line == 5 and problem.key == key
    assert main(["validate", str(path)]) == 1
    assert "5000 digits" in capsys.readouterr().err


def test_huge_integers_in_json_and_dicts_are_spec_errors(folder):
    spec_error(write(folder, '{"steps": {"a": {"script": "a.py", "timeout": ' + "9" * 5000 + "}}}", "p.json"))
    with pytest.raises(PipelineSpecError, match="more than 1000 digits") as info:
        PipelineDAG.from_dict({"steps": {"a": {"script": "a.py", "env": {"N": 10**5000}}}}, base_dir=folder)
    assert info.value.problems[0].key == "steps.a.env.N"


@pytest.mark.parametrize("value", ["!!timestamp abc", "2020-13-45", "!!bool maybe", "!!float abc", "!!int 0x",
                                   "!!int abc"])
def test_values_their_tag_cannot_read_are_spec_errors(folder, value):
    problem = spec_error(write(folder, HEAD + f"    description: {value}\n")).problems[0]
    assert "cannot read this value" in problem.message and problem.line == 5


# --------------------------------------------------------------------------------------------------
# Values out of range: timeout, memory, retries
# --------------------------------------------------------------------------------------------------

OUT_OF_RANGE = [
    ("timeout", ".inf", "at most 604800"), ("timeout", ".nan", "at most 604800"),
    ("timeout", "-.inf", "at most 604800"), ("timeout", "0", "positive"), ("timeout", "-1", "positive"),
    ("timeout", str(MAX_TIMEOUT + 1), "at most 604800"), ("timeout", "!!float 1e300", "at most 604800"),
    ("memory", ".inf", "from 1MB to 1PiB"), ("memory", "0.5", "from 1MB to 1PiB"),
    ("memory", "-1", "from 1MB to 1PiB"), ("memory", "2", "from 1MB to 1PiB"),
    ("memory", "1" + "0" * 30, "from 1MB to 1PiB"), ("memory", "9000PiB", "from 1MB to 1PiB"),
    ("memory", "1" + "0" * 400 + "GB", "from 1MB to 1PiB"),
    ("retries", "1000000000", f"from 0 to {MAX_RETRIES}"), ("retries", str(MAX_RETRIES + 1), "from 0 to 100"),
    ("retries", "-1", "from 0 to 100"), ("retries", "1.5", "from 0 to 100"), ("retries", "true", "from 0 to 100"),
]


@pytest.mark.parametrize("key, value, allowed", OUT_OF_RANGE)
def test_out_of_range_values_are_spec_errors_that_say_the_range(folder, key, value, allowed):
    problem = spec_error(write(folder, HEAD + f"    {key}: {value}\n")).problems[0]
    assert problem.key == key and problem.step == "a" and problem.line == 5
    assert allowed in problem.message


@pytest.mark.parametrize("key, value, allowed", [("timeout", ".inf", "at most 604800"),
                                                 ("memory", ".inf", "from 1MB"), ("retries", "1000000000", "100")])
def test_out_of_range_defaults_are_spec_errors(folder, key, value, allowed):
    problem = spec_error(write(folder, f"name: bad\ndefaults: {{{key}: {value}}}\n"
                                       "steps:\n  a: {script: a.py}\n")).problems[0]
    assert problem.key == key and problem.line == 2 and allowed in problem.message


@pytest.mark.parametrize("key, value", [("timeout", float("inf")), ("timeout", float("nan")), ("memory", 0.5),
                                        ("memory", float("inf")), ("retries", 10**9)])
def test_out_of_range_values_from_dict_are_spec_errors(folder, key, value):
    with pytest.raises(PipelineSpecError) as info:
        PipelineDAG.from_dict({"steps": {"a": {"script": "a.py", key: value}}}, base_dir=folder)
    assert info.value.problems[0].key == key


def test_values_in_range_load(folder):
    dag = PipelineDAG.from_yaml(write(folder, HEAD + f"    timeout: {MAX_TIMEOUT}\n    memory: 1MB\n"
                                                     f"    retries: {MAX_RETRIES}\n"))
    step = dag.steps["a"]
    assert (step.timeout, step.memory, step.retries) == (MAX_TIMEOUT, 10**6, MAX_RETRIES)


# --------------------------------------------------------------------------------------------------
# Names that cannot be folders
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a" * 256, "CON", "nul", "Lpt1", "com9", "aux"])
def test_step_names_that_cannot_be_folders_are_spec_errors(folder, name):
    problem = spec_error(write(folder, f"name: bad\nsteps:\n  {name}:\n    script: a.py\n")).problems[0]
    assert problem.line == 3
    assert ("256 bytes long" in problem.message) or ("reserved device name" in problem.message)


@pytest.mark.parametrize("name", ["o" * 300, "PRN"])
def test_output_names_that_cannot_be_folders_are_spec_errors(folder, name):
    problem = spec_error(write(folder, HEAD + f"    outputs: {{{name}: {{}}}}\n")).problems[0]
    assert problem.key == "outputs" and problem.line == 5 and problem.step == "a"


def test_step_and_output_names_too_long_for_the_suite_file_name_are_spec_errors(folder):
    step, output = "s" * 200, "o" * 60  # each fits a folder; <step>.<output>.json does not fit a file name
    problem = spec_error(write(folder, f"name: bad\nsteps:\n  {step}:\n    script: a.py\n"
                                       f"    outputs: {{{output}: {{}}}}\n")).problems[0]
    assert problem.key == f"outputs.{output}" and "suite file" in problem.message


@pytest.mark.parametrize("suite", ["../../etc/passwd", "x" * 300, ".hidden", "a/b"])
def test_edge_suite_names_that_are_not_file_names_are_spec_errors(folder, suite):
    path = write(folder, "name: bad\nsteps:\n  a: {script: a.py, outputs: {out: {}}}\n"
                         "  b: {script: a.py, inputs: {IN: a.out}}\n"
                         f"edges:\n  - from: a.out\n    to: b.IN\n    expectations: '{suite}'\n")
    problem = spec_error(path).problems[0]
    assert problem.key == "edges" and problem.line == 8 and "suite name" in problem.message


@pytest.mark.parametrize("name", ["a\x00b", "a/b", "a\\b", "..", "a..b", ".a", "a\x07", "a\nb", "a ", "a.", " a",
                                  "a<b", "a:b", 'a"b', "a|b", "a?b", "a*b", "é" * 128, "a" * 256, "CON", "lpt1"])
def test_name_problem_refuses_every_name_that_is_not_a_portable_folder_name(name):
    assert name_problem(name, "step") is not None
    assert len(name_problem(name, "step")) < 200  # the message stays short whatever the name


def test_name_problem_accepts_portable_names():
    for name in ["a", "load_data", "step-2", "A" * 255, "_x", "9lives", "console", "conx"]:
        assert name_problem(name, "step") is None, name


# --------------------------------------------------------------------------------------------------
# Pipeline files that are not files: FIFOs, devices, folders, too large, not UTF-8
# --------------------------------------------------------------------------------------------------


def test_a_fifo_as_pipeline_file_is_an_error_not_a_hang(folder):
    fifo = folder / "pipeline.yaml"
    os.mkfifo(fifo)
    assert "not a regular file" in str(spec_error(fifo))
    assert_clean_cli_error(pipetest("validate", str(fifo), timeout=20), "not a regular file")


def test_dev_zero_as_pipeline_file_is_an_error_not_an_out_of_memory(folder):
    link = folder / "pipeline.yaml"
    link.symlink_to("/dev/zero")
    assert_clean_cli_error(pipetest("validate", str(link), timeout=30, limit_memory=True), "not a regular file")


def test_a_folder_or_an_oversized_file_as_pipeline_file_is_a_spec_error(folder):
    (folder / "dir.yaml").mkdir()
    assert "is a folder" in str(spec_error(folder / "dir.yaml"))
    big = write(folder, "name: big\n" + "#" * 2**21 + "\nsteps: {a: {script: a.py}}\n", "big.yaml")
    assert "the limit is 1048576 bytes" in str(spec_error(big))


def test_a_pipeline_file_that_is_not_utf8_names_the_line(folder):
    problem = spec_error(write(folder, HEAD.encode() + b"    description: caf\xe9\n")).problems[0]
    assert "not UTF-8" in problem.message and problem.line == 5


# --------------------------------------------------------------------------------------------------
# --workspace that cannot hold runs
# --------------------------------------------------------------------------------------------------


def test_a_workspace_that_cannot_hold_runs_is_a_clear_error(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for path, why in [(afile, "is a file"), ("/dev/null", "device"), (afile / "sub", "no folder can be made"),
                      ("/proc/pipetest-ws", "under /proc"), ("/sys/pipetest-ws", "under /sys"),
                      ("/proc/self", "under /proc")]:
        with pytest.raises(PipetestError, match=why) as info:
            Workspace(Path(path))
        assert str(path) in str(info.value)
    assert Workspace(tmp_path / "new" / "ws").root == tmp_path / "new" / "ws"  # missing folders are fine


@pytest.mark.parametrize("workspace", ["/dev/null", "FILE", "/proc/pipetest-ws"])
def test_pipetest_run_with_a_bad_workspace_is_a_clear_error(folder, workspace):
    (folder / "FILE").write_text("x")
    path = write(folder, HEAD)
    target = str(folder / "FILE") if workspace == "FILE" else workspace
    assert_clean_cli_error(pipetest("run", str(path), "--workspace", target), f"workspace {target}")


# --------------------------------------------------------------------------------------------------
# Suite files
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gx():
    """Great Expectations imported once, outside any hard wall (its import takes seconds)."""
    from pipetest_nb.validation.expectations.gx import GX as _GX

    return _GX.get()


@pytest.fixture
def suites(folder: Path, gx):
    """A pipeline with one output, and the path of its conventional suite file."""
    (folder / "expectations").mkdir()
    path = write(folder, "name: s\nsteps:\n  a: {script: a.py, outputs: {out: {}}}\n")
    return PipelineDAG.from_yaml(path), folder / "expectations" / "a.out.json"


def suite_problems(dag: PipelineDAG, suite: Path, *, seconds: float = 10.0) -> list:
    """check_suite_files under a hard wall; every problem names the suite file; load_suite agrees."""
    with hard_wall(seconds):
        problems = check_suite_files(dag)
        assert problems and all(p.file == str(suite) for p in problems), [str(p) for p in problems]
        with pytest.raises(SuiteError) as info:
            load_suite(suite)
    assert str(suite) in str(info.value)
    return problems


BIG_SET = json.dumps({"expectations": [{"type": "expect_column_values_to_be_in_set",
                                        "kwargs": {"column": "x", "value_set": list(range(2_000_000))}}]})


@pytest.mark.parametrize("content, needle", [
    (b'{"name": "caf\xe9", "expectations": []}', "not UTF-8"),
    (b'{"expectations": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested too deeply"),
    (b'{"expectations": [' + b"[" * 150 + b"]" * 150 + b"]}", "nested more than 100 levels"),
    (b'{"expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": '
     + b"9" * 5000 + b"}}]}", "digits"),
    (BIG_SET.encode(), "a list has 2000000 values; the limit is 100000"),
    (b'{"name": 5, "expectations": []}', "'name' must be a string"),
    (b'{"expectations": {"type": "x"}}', "'expectations' list"),
    (b'{"expectations": [], "meta": []}', "'meta' must be a JSON object"),
])
def test_unusable_suite_files_name_the_file_and_key(suites, content, needle):
    dag, suite = suites
    suite.write_bytes(content)
    problems = suite_problems(dag, suite)
    assert needle in problems[0].message
    assert needle in str(pytest.raises(SuiteError, load_suite, suite).value)


def test_a_2m_value_set_is_refused_in_about_a_second(suites):
    dag, suite = suites
    suite.write_text(BIG_SET)
    start = time.monotonic()
    problem = suite_problems(dag, suite)[0]
    assert time.monotonic() - start < 3  # about 1 s on an idle machine, mostly json.loads
    assert problem.key == "expectations[0].kwargs.value_set" and problem.line == 1


def test_a_folder_or_a_fifo_named_like_a_suite_is_an_error(suites):
    dag, suite = suites
    suite.mkdir()
    assert "is a folder" in suite_problems(dag, suite)[0].message
    suite.rmdir()
    os.mkfifo(suite)
    assert "not a regular file" in suite_problems(dag, suite)[0].message


@pytest.mark.parametrize("expectation, needle", [
    (5, "must be a JSON object, not int"), ("x", "must be a JSON object, not str"),
    ({"type": ["expect_column_to_exist"], "kwargs": {}}, "'type' must be"),
    ({"kwargs": {"column": "x"}}, "'type' is missing"),
    ({"type": "expect_column_to_exist", "kwargs": [1]}, "'kwargs' must be a JSON object"),
    ({"type": "expect_column_to_exist"}, "'kwargs' is missing"),
    ({"type": "expect_column_to_exist", "kwargs": {"column": "x"}, "meta": "m"}, "'meta' must be a JSON object"),
])
def test_expectations_with_wrong_types_name_the_key(suites, expectation, needle):
    dag, suite = suites
    suite.write_text(json.dumps({"expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "a"}},
                                                  expectation]}))
    with hard_wall():
        problems = check_suite_files(dag)
    assert len(problems) == 1 and problems[0].key == "expectations[1]" and problems[0].file == str(suite)
    assert needle in problems[0].message


def test_pipetest_validate_reports_a_bad_suite_without_a_traceback(suites):
    dag, suite = suites
    suite.write_bytes(b'{"expectations": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}")
    assert_clean_cli_error(pipetest("validate", str(dag.source)), str(suite), "nested too deeply")
    suite.unlink()
    os.mkfifo(suite)
    assert_clean_cli_error(pipetest("validate", str(dag.source), timeout=30), str(suite), "not a regular file")


@pytest.mark.parametrize("content", [b'{"expectations": [], "name": "caf\xe9"}', BIG_SET.encode(), None])
def test_an_edge_check_with_a_bad_suite_fails_the_check_with_the_reason(tmp_path, gx, content):
    output = tmp_path / "out"
    output.mkdir()
    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(output / "part.parquet")
    suite = tmp_path / "s.json"
    if content is None:
        suite.mkdir()
    else:
        suite.write_bytes(content)
    with hard_wall(30):
        check = validate_output(suite, output, edge="a.out -> b.IN")
    assert not check.success and str(suite) in check.error
