"""Great Expectations suites on the edges of a pipeline, with real GX 1.x (imported once per test process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipelines import write_pipeline

from pipetest_nb.events import EdgeState
from pipetest_nb.exceptions import SuiteError
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.validation.expectations.checks import EdgeCheck, check_output, validate_frame
from pipetest_nb.validation.expectations.drafting import suite_from_frame, write_suite
from pipetest_nb.validation.expectations.suites import check_suite_files, load_suite, suites_for_output
from pipetest_nb.views.cli import main

RANGE_SUITE = {"name": "raw_data", "expectations": [
    {"type": "expect_column_to_exist", "kwargs": {"column": "age"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
]}


def _people(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"id": np.arange(n), "age": rng.integers(18, 90, n), "city": rng.choice(["a", "b", "c"], n)})


@pytest.fixture
def pipeline(pipeline_dir) -> PipelineDAG:
    path = write_pipeline(pipeline_dir, """
        name: gx
        steps:
          load:
            script: a.py
            outputs: {raw_data: {format: parquet}}
          split:
            script: b.py
            inputs: {DATA: load.raw_data}
            outputs: {splits: {format: parquet}}
          train:
            script: c.py
            inputs: {DATA: split.splits}
          audit:
            script: d.py
            inputs: {DATA: load.raw_data}
        edges:
          - {from: load.raw_data, to: split.DATA, expectations: raw_data}
          - {from: split.splits, to: train.DATA, expectations: raw_data, tables: "train/*"}
          - {from: load.raw_data, to: audit.DATA, on_expectation_failure: warn}
        """)
    (pipeline_dir / "expectations").mkdir()
    write_suite(RANGE_SUITE, pipeline_dir / "expectations" / "raw_data.json")
    return PipelineDAG.load(path)


def _output(folder: Path, df: pd.DataFrame, rel: str = "raw.parquet") -> Path:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(folder / rel, index=False)
    return folder


def test_range_expectation_fails_on_planted_rows_and_lists_unexpected_values(pipeline, tmp_path):
    df = _people()
    df.loc[[5, 17, 40], "age"] = [-3, 150, 999]
    out = _output(tmp_path / "raw_data", df)
    [check] = check_output(pipeline, "load", "raw_data", out)
    assert check.edge == "load.raw_data -> split.DATA" and check.suite == "raw_data"
    assert not check.success and check.state == EdgeState.FAILED and check.blocks_consumer
    assert check.statistics["evaluated_expectations"] == 3 and check.statistics["unsuccessful_expectations"] == 1
    [failure] = check.failures
    assert (failure.type, failure.column, failure.table) == ("expect_column_values_to_be_between", "age", "raw.parquet")
    assert failure.unexpected_count == 3 and failure.unexpected_percent == pytest.approx(1.5)
    assert sorted(failure.unexpected_values) == [-3, 150, 999]
    assert "3 unexpected (1.50%), e.g." in str(check) and "FAILED" in str(check)
    again = EdgeCheck.from_dict(json.loads(json.dumps(check.to_dict())))
    assert again == check


def test_passing_suite_convention_file_and_warn_edges(pipeline, tmp_path):
    base = pipeline.base_dir / "expectations"
    write_suite({"name": "load.raw_data", "expectations": [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "city", "value_set": ["a", "b"]}}]},
        base / "load.raw_data.json")
    out = _output(tmp_path / "raw_data", _people())
    checks = {(c.edge, c.suite): c for c in check_output(pipeline, "load", "raw_data", out)}
    assert set(checks) == {("load.raw_data -> split.DATA", "raw_data"), ("load.raw_data -> split.DATA", "load.raw_data"),
                           ("load.raw_data -> audit.DATA", "load.raw_data")}
    assert checks["load.raw_data -> split.DATA", "raw_data"].state == EdgeState.PASSED
    conventional = checks["load.raw_data -> split.DATA", "load.raw_data"]
    assert conventional.state == EdgeState.FAILED and conventional.failures[0].unexpected_values == ["c"]
    warned = checks["load.raw_data -> audit.DATA", "load.raw_data"]
    assert warned.state == EdgeState.WARNED and not warned.blocks_consumer


def test_edge_tables_glob_validates_only_matching_tables(pipeline, tmp_path):
    out = tmp_path / "splits"
    _output(out, _people(), "train/train.parquet")
    bad = _people()
    bad.loc[0, "age"] = -1
    _output(out, bad, "test/test.parquet")
    [check] = check_output(pipeline, "split", "splits", out)
    assert check.success and check.tables == ["train"]
    use = suites_for_output(pipeline, "split", "splits")[0]
    assert use.tables == "train/*"
    missing = check_output(pipeline, "split", "splits", tmp_path / "nothing")[0]
    assert not missing.success and "does not exist" in missing.error
    (tmp_path / "other").mkdir()
    _output(tmp_path / "other", _people(), "val/v.parquet")
    unmatched = check_output(pipeline, "split", "splits", tmp_path / "other")[0]
    assert unmatched.state == EdgeState.FAILED and "no table matches 'train/*'" in unmatched.error


def test_draft_suite_passes_on_its_frame_and_catches_a_change(tmp_path):
    df = _people().assign(score=np.linspace(0, 1, 200), when=pd.date_range("2024-01-01", periods=200, freq="h"),
                          kind=pd.Categorical(["x", "y"] * 100), flag=[True, False] * 100)
    suite = suite_from_frame(df, "people")
    kinds = [(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]]
    assert ("expect_column_values_to_be_in_set", "city") in kinds
    assert ("expect_column_values_to_be_between", "age") in kinds
    assert ("expect_column_values_to_be_between", "when") in kinds
    assert ("expect_column_values_to_be_in_set", "id") not in kinds  # high cardinality: a range instead
    path = write_suite(suite, tmp_path / "people.json")
    assert load_suite(path) == json.loads(json.dumps(suite))
    with pytest.raises(SuiteError, match="exists"):
        write_suite(suite, path)
    assert validate_frame(df, path).success, validate_frame(df, path)
    changed = validate_frame(df.assign(age=df.age.astype(str)), suite)
    assert not changed.success
    assert {f.type for f in changed.failures} >= {"expect_column_values_to_be_of_type"}


def test_typo_in_expectation_type_is_a_spec_error_with_file_and_line(pipeline, capsys):
    base = pipeline.base_dir / "expectations"
    (base / "raw_data.json").write_text(textwrap.dedent("""\
        {
          "name": "raw_data",
          "expectations": [
            {"type": "expect_column_to_exist", "kwargs": {"column": "age"}},
            {"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "age", "min_value": 0}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"colum": "age", "min_value": 0}}
          ]
        }
        """))
    (base / "broken.json").write_text('{"name": "broken", "expectations": [\n  {"type": "x",}\n]}\n')
    (base / "lod.raw_data.json").write_text('{"name": "lod.raw_data", "expectations": []}')
    problems = check_suite_files(pipeline)
    text = "\n".join(str(p) for p in problems)
    assert f"{base / 'raw_data.json'}:5:6: key 'expectations[1]': unknown expectation type " \
           "'expect_column_values_to_be_betwen' (did you mean 'expect_column_values_to_be_between'?)" in text
    assert f"{base / 'raw_data.json'}:6:6: key 'expectations[2]': expectation expect_column_values_to_be_between is " \
           "not valid: required argument 'column' is missing; 'colum' is not one of its arguments (did you mean " \
           "'column'?) (expect_column_values_to_be_between takes column, " in text
    assert f"{base / 'broken.json'}:2:" in text and "not valid JSON" in text
    assert "suite 'lod.raw_data' applies to no output: there is no step 'lod' (did you mean 'load.raw_data.json'?)" \
        in text
    assert main(["validate", str(pipeline.source)]) == 1
    err = capsys.readouterr().err
    assert "raw_data.json:5:6" in err and "expect_column_values_to_be_betwen" in err


def test_suite_named_by_an_edge_must_exist(pipeline):
    (pipeline.base_dir / "expectations" / "raw_data.json").rename(pipeline.base_dir / "expectations" / "raw_dat.json")
    problems = check_suite_files(pipeline)
    assert any("names suite 'raw_data'" in p.message and p.hint == "did you mean 'raw_dat'?" for p in problems)


def test_expectations_draft_cli(tmp_path, capsys):
    _output(tmp_path / "run" / "steps" / "load" / "outputs" / "raw_data", _people(), "train/a.parquet")
    _output(tmp_path / "run" / "steps" / "load" / "outputs" / "raw_data", _people(), "test/a.parquet")
    target = tmp_path / "expectations" / "load.raw_data.json"
    assert main(["expectations", "draft", str(tmp_path / "run"), "load.raw_data", "-o", str(target)]) == 0
    assert "drafted from 400 rows" in capsys.readouterr().out
    assert load_suite(target)["name"] == "load.raw_data"
    assert main(["expectations", "draft", str(tmp_path / "run"), "load.raw_dta"]) == 1
    assert "outputs of 'load': raw_data" in capsys.readouterr().err


def test_gx_private_hash_threshold_is_pinned_and_fingerprinting_off():
    """GX fingerprints every frame under HASH_THRESHOLD bytes; we set it to 0. Private API: fail loudly if it moves."""
    import great_expectations.execution_engine.pandas_execution_engine as engine

    from pipetest_nb.validation.expectations.gx import GX as _GX

    gx = _GX.get()
    assert engine.HASH_THRESHOLD == 0
    result = gx.run([{"type": "expect_column_to_exist", "kwargs": {"column": "id"}}], _people(), "BOOLEAN_ONLY")
    assert result.success and "pandas_data_fingerprint" not in result.meta["batch_markers"]


def test_gx_is_lazy_quiet_and_leaves_warnings_alone(tmp_path):
    """In a fresh interpreter: no GX on import, no noise on stdout/stderr, warnings handling unchanged."""
    code = textwrap.dedent("""
        import logging, sys, warnings
        logging.basicConfig(level=logging.INFO)
        import pipetest_nb, pipetest_nb.validation.expectations.checks, pipetest_nb.validation.expectations.drafting, pipetest_nb.validation.expectations.suites, pipetest_nb.validation.artifacts
        assert "great_expectations" not in sys.modules and "pandas" not in sys.modules, "heavy import"
        before = warnings.showwarning
        import pandas as pd
        from pipetest_nb.validation.expectations.checks import validate_frame
        check = validate_frame(pd.DataFrame({"a": [1, 2]}), {"name": "s", "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "max_value": 1}}]})
        assert not check.success and check.failures[0].unexpected_values == [2]
        assert warnings.showwarning is before and logging._warnings_showwarning is None
        print("ok")
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n" and done.stderr == ""


def test_a_suite_past_its_time_limit_fails_the_check_and_says_which_tables_were_not_checked(tmp_path, monkeypatch):
    from pipetest_nb.validation.expectations import checks as expectations

    out = tmp_path / "out"
    for name in ("a", "b", "c"):
        (out / name).mkdir(parents=True)
        pd.DataFrame({"x": [1, 2]}).to_parquet(out / name / "part.parquet")
    suite = {"name": "s", "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "x"}}]}
    assert expectations.validate_output(suite, out, edge="p.out->c.IN").success
    monkeypatch.setattr(expectations, "CHECK_TIME_LIMIT", 0.0)  # fault injection: a suite that is too slow
    check = expectations.validate_output(suite, out, edge="p.out->c.IN")
    assert not check.success
    assert "time limit of 0 s after 0 of 3 tables" in check.failures[-1].exception
