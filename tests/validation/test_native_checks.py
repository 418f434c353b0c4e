"""Routing expectations between the native evaluator and Great Expectations: which engine ran each,
GX left unimported when a suite is all native, ``checks_engine`` from the file, the options and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from pipelines import write_pipeline

from pipetest_nb import PipelineDAG
from pipetest_nb.engine.options import RunOptions
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.validation.expectations.checks import check_output, validate_frame, validate_output

NATIVE_SUITE = {"name": "native", "expectations": [
    {"type": "expect_column_to_exist", "kwargs": {"column": "age"}, "meta": {}, "severity": "critical"},  # as GX saves
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age", "mostly": 0.7}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "city", "value_set": ["a", "b"]}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
]}
GX_ONLY = {"type": "expect_column_values_to_be_decreasing", "kwargs": {"column": "age"}}


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [1.0, 50.0, 130.0, None], "city": ["a", "b", "c", "a"]})


def test_a_suite_the_native_evaluator_handles_never_imports_gx(tmp_path):
    code = textwrap.dedent("""
        import sys
        import pandas as pd
        from pipetest_nb.validation.expectations.checks import validate_frame
        suite = %r
        check = validate_frame(pd.DataFrame({"age": [1.0, 50.0, 130.0, None], "city": ["a", "b", "c", "a"]}), suite)
        print("great_expectations" in sys.modules)
        print(check.success, check.statistics.get("engines"), [f.type for f in check.failures])
    """) % (NATIVE_SUITE,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    lines = out.stdout.splitlines()
    assert lines[0] == "False", "GX was imported for a suite that is all native"
    assert lines[1] == ("False {'native': 5, 'gx': 0} ['expect_column_values_to_be_between', "
                        "'expect_column_values_to_be_in_set']")


def test_each_expectation_runs_on_its_engine_and_the_statistics_say_which():
    suite = {"name": "mixed", "expectations": [*NATIVE_SUITE["expectations"], GX_ONLY]}
    auto = validate_frame(_frame(), suite)
    assert auto.statistics["engines"] == {"native": 5, "gx": 1}
    assert auto.statistics["evaluated_expectations"] == 6
    assert {f.type for f in auto.failures} == {"expect_column_values_to_be_between",
                                               "expect_column_values_to_be_in_set",
                                               "expect_column_values_to_be_decreasing"}
    gx = validate_frame(_frame(), suite, engine="gx")
    assert gx.statistics["engines"] == {"native": 0, "gx": 6}
    assert sorted(f.to_dict().items().__repr__() for f in auto.failures) == sorted(
        f.to_dict().items().__repr__() for f in gx.failures)


def test_native_only_reports_what_it_cannot_evaluate_as_not_run():
    suite = {"name": "forced", "expectations": [NATIVE_SUITE["expectations"][0], GX_ONLY,
                                                {"type": "expect_column_values_to_be_between",
                                                 "kwargs": {"column": "city", "min_value": "a"}}]}
    check = validate_frame(_frame(), suite, engine="native")
    assert not check.success and check.statistics["engines"] == {"native": 1, "gx": 0}
    messages = {f.type: f.exception for f in check.failures}
    assert messages["expect_column_values_to_be_decreasing"].startswith(
        "not evaluated natively (no native evaluator for this type); set checks_engine to auto or gx")
    assert "a bound that is not a number" in messages["expect_column_values_to_be_between"]


def test_data_the_native_evaluator_does_not_handle_goes_to_gx_for_that_expectation_only():
    df = pd.DataFrame({"n": pd.array([1, 2, None], dtype="Int64"), "x": [1.0, 2.0, 3.0]})
    suite = {"name": "nullable", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": 0, "max_value": 1}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0, "max_value": 5}}]}
    check = validate_frame(df, suite)
    assert check.statistics["engines"] == {"native": 1, "gx": 1}
    (failure,) = check.failures
    assert failure.column == "n" and failure.unexpected_count == 1 and failure.unexpected_values == [2]


def test_an_argument_gx_does_not_know_is_reported_as_gx_reports_it():
    suite = {"name": "extra", "expectations": [
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "age", "min_value": 0, "mostly": 0.9}}]}
    native, gx = validate_frame(_frame(), suite, engine="native"), validate_frame(_frame(), suite, engine="gx")
    assert [f.exception for f in native.failures] == [f.exception for f in gx.failures] == [
        "mostly: extra fields not permitted"]


def test_a_missing_column_gets_gx_s_own_message():
    suite = {"name": "missing", "expectations": [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "nope"}}]}
    (failure,) = validate_frame(_frame(), suite).failures
    assert failure.exception == 'Error: The column "nope" in BatchData does not exist.'


def test_an_output_s_tables_share_one_plan_and_count_engines_together(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _frame().to_parquet(out / "a.parquet")
    _frame().head(2).to_parquet(out / "b.parquet")
    check = validate_output(NATIVE_SUITE, out, edge="s.out")
    assert check.tables == ["a.parquet", "b.parquet"] or sorted(check.tables) == ["a", "b"] or len(check.tables) == 2
    assert check.statistics["engines"] == {"native": 10, "gx": 0}
    assert check.statistics["evaluated_expectations"] == 10


def test_an_unknown_engine_is_refused_with_the_choices():
    check = validate_output(NATIVE_SUITE, ".", edge="s.out", engine="fast")
    assert check.error == "checks_engine must be one of auto, native, gx, not 'fast'"
    with pytest.raises(PipetestError, match="checks_engine must be one of auto, native, gx"):
        RunOptions(checks_engine="fast")


def _pipeline(tmp_path, engine_line: str) -> PipelineDAG:
    path = write_pipeline(tmp_path, f"""
        name: engines
        defaults:
          {engine_line}
        steps:
          load: {{script: load.py, outputs: {{data: {{}}}}}}
    """, {"load.py": "def main(i, o, e, a):\n    pass\n"})
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "load.data.json").write_text(
        json.dumps({"name": "load.data", "expectations": [GX_ONLY]}))
    return PipelineDAG.from_yaml(path)


def test_the_pipeline_file_sets_the_engine_and_the_run_options_override_it(tmp_path):
    dag = _pipeline(tmp_path, "checks_engine: native")
    assert dag.defaults.checks_engine == "native"
    out = tmp_path / "out"
    out.mkdir()
    _frame().to_parquet(out / "data.parquet")
    (native,) = check_output(dag, "load", "data", out)
    assert native.error is None, native.error
    assert native.failures[0].exception.startswith("not evaluated natively")
    (gx,) = check_output(dag, "load", "data", out, engine="auto")
    assert gx.statistics["engines"] == {"native": 0, "gx": 1} and gx.failures[0].exception is None


def test_a_wrong_engine_in_the_file_names_the_key_and_the_choices(tmp_path):
    with pytest.raises(PipetestError, match=r"checks_engine.*auto.*native.*gx"):
        _pipeline(tmp_path, "checks_engine: quick")


def test_pipetest_run_takes_checks_engine(tmp_path):
    from pipetest_nb.views.cli.main import build_parser

    args = build_parser().parse_args(["run", "p.yaml", "--checks-engine", "gx"])
    assert args.checks_engine == "gx"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "p.yaml", "--checks-engine", "fast"])


def test_a_suite_file_edited_between_checks_is_read_again(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _frame().to_parquet(out / "a.parquet")
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps({"name": "s", "expectations": [NATIVE_SUITE["expectations"][0]]}))
    assert validate_output(suite, out, edge="s.out").success
    suite.write_text(json.dumps({"name": "s", "expectations": [NATIVE_SUITE["expectations"][2]]}))
    assert not validate_output(suite, out, edge="s.out").success
