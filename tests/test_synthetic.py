"""Synthetic data for inputs that are only declared: right columns and types, and it passes its suite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipelines import write_pipeline

from pipetest_nb.exceptions import SyntheticDataError
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.spec.parts import InputSpec, TableSchema
from pipetest_nb.validation.artifacts import frame, inspect_output
from pipetest_nb.validation.expectations.checks import validate_frame
from pipetest_nb.validation.expectations.drafting import suite_from_frame, write_suite
from pipetest_nb.validation.synthetic import generate_frame, generate_input, generate_inputs, suite_for_input

HAND_SUITE = {"name": "customers", "expectations": [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 50, "max_value": 300}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "customer_id"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "customer_id", "min_value": 1,
                                                              "max_value": 400}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "tenure", "min_value": 0, "max_value": 72,
                                                              "strict_min": True}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "charges", "min_value": 10.5,
                                                              "max_value": 99.5}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "contract",
                                                             "value_set": ["monthly", "yearly"]}},
    {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "region", "value_set": ["aaaa"]}},
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "region", "min_value": 4,
                                                                     "max_value": 4}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "code"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "code"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "signup", "min_value": "2023-01-01T00:00:00",
                                                              "max_value": "2023-06-30T00:00:00"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "churned", "value_set": [0, 1]}},
]}


def test_generated_data_passes_a_hand_written_suite():
    spec = InputSpec("DATA", format="parquet", schema=TableSchema(
        required_columns=("customer_id", "code"), column_types={"charges": "float32", "churned": "int8"}))
    columns = {"customer_id": None, "code": None, "charges": "float32", "churned": "int8", "tenure": None,
               "contract": None, "region": None, "signup": None}
    df = generate_frame(columns, HAND_SUITE, rows=1000, seed=3)
    assert len(df) == 300 and list(df.columns) == list(columns)
    assert (str(df.charges.dtype), str(df.churned.dtype), str(df.tenure.dtype)) == ("float32", "int8", "int64")
    assert df.tenure.min() >= 1 and df.customer_id.is_unique and df.code.is_unique
    check = validate_frame(df, HAND_SUITE)
    assert check.success, check
    again = generate_frame(columns, HAND_SUITE, rows=1000, seed=3)
    pd.testing.assert_frame_equal(df, again)
    assert not generate_frame(columns, HAND_SUITE, rows=1000, seed=4).equals(df)
    assert spec.schema.columns == ["customer_id", "code", "charges", "churned"]


def test_data_drafted_into_a_suite_regenerates_and_passes_it(tmp_path):
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"id": np.arange(500), "age": rng.integers(18, 90, 500), "score": rng.normal(size=500),
                         "city": rng.choice(["paris", "lyon", "nice"], 500), "vip": rng.integers(0, 2, 500) == 1,
                         "seen": pd.date_range("2024-03-01", periods=500, freq="h"),
                         "tier": pd.Categorical(rng.choice(["gold", "silver"], 500))})
    suite = suite_from_frame(real, "people")
    spec = InputSpec("DATA", path=tmp_path / "user" / "people.parquet")  # the format comes from the name
    path = generate_input(spec, tmp_path / "synthetic", suite=suite, rows=200, seed=1)
    assert path == tmp_path / "synthetic" / "people.parquet"
    fake = frame(path)
    assert list(fake.columns) == list(real.columns) and len(fake) == 200
    check = validate_frame(pd.read_parquet(path), suite)
    assert check.success, check


@pytest.mark.parametrize("fmt", ["csv", "tsv", "csv.gz", "jsonl", "json", "parquet"])
def test_writes_the_declared_format_into_a_folder(tmp_path, fmt):
    spec = InputSpec("DATA", format=fmt, schema=TableSchema(column_types={"a": "int64", "b": "string"}))
    folder = generate_input(spec, tmp_path / "in", rows=25)
    assert folder == tmp_path / "in"
    info = inspect_output(folder)
    [(name, file)] = info.files.items()
    assert file.format == fmt and file.rows == 25 and file.column_types == {"a": "int64", "b": "string"}


def test_required_files_get_the_data_and_user_files_are_never_replaced(tmp_path):
    spec = InputSpec("DATA", schema=TableSchema(required_columns=("x",)), required_files=("train.csv", "meta.txt"))
    folder = generate_input(spec, tmp_path / "in", rows=5)
    assert sorted(p.name for p in folder.iterdir()) == ["train.csv"]
    with pytest.raises(SyntheticDataError, match="exists; synthetic data never replaces a file"):
        generate_input(spec, tmp_path / "in", rows=5)
    user = tmp_path / "data"
    user.mkdir()
    (user / "raw.csv").write_text("x\n1\n")
    with pytest.raises(SyntheticDataError, match="never replaces"):
        generate_input(InputSpec("DATA", path=user / "raw.csv", schema=TableSchema(required_columns=("x",))), user)
    assert (user / "raw.csv").read_text() == "x\n1\n"
    with pytest.raises(SyntheticDataError, match="no columns declared"):
        generate_input(InputSpec("DATA"), tmp_path / "none")
    with pytest.raises(SyntheticDataError, match="column 'k': cannot draw 10 unique integers"):
        generate_frame({"k": "int64"}, {"expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "k"}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "k", "min_value": 0,
                                                                      "max_value": 3}}]}, rows=10)


def test_generate_inputs_for_a_pipeline_whose_inputs_are_only_declared(pipeline_dir):
    path = write_pipeline(pipeline_dir, """
        name: synth
        steps:
          load:
            script: a.py
            inputs:
              DATA: {path: data/raw.parquet, schema: {required_columns: [id], column_types: {id: int64}, rows: 40}}
              LOOKUP: data/lookup.csv
              CODES: data/codes
            outputs: {raw_data: {}}
          use:
            script: b.py
            inputs: {DATA: load.raw_data}
        """)
    (pipeline_dir / "expectations").mkdir()
    write_suite({"name": "load.CODES", "expectations": [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "code", "value_set": ["A", "B"]}}]},
        pipeline_dir / "expectations" / "load.CODES.json")
    dag = PipelineDAG.load(path)
    assert suite_for_input(dag, "load", "CODES")["name"] == "load.CODES"
    assert suite_for_input(dag, "load", "LOOKUP") is None
    paths = generate_inputs(dag, pipeline_dir / "run" / "synthetic", seed=2)
    assert set(paths) == {"load"} and set(paths["load"]) == {"DATA", "CODES"}  # LOOKUP declares nothing
    assert paths["load"]["DATA"].name == "raw.parquet" and len(frame(paths["load"]["DATA"])) == 40
    codes = frame(paths["load"]["CODES"])
    assert set(codes.code) <= {"A", "B"} and len(codes) == 1000
    assert not (pipeline_dir / "data").exists()
