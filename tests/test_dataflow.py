"""Artifact inspection, reading tables, and compatibility between a producer's output and its consumer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipelines import write_pipeline

from pipetest_nb.events import EdgeState
from pipetest_nb.exceptions import TableNotFoundError
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.spec.parts import InputSpec, OutputSpec, TableSchema
from pipetest_nb.validation.artifacts import frame, inspect_output, match_glob
from pipetest_nb.validation.column_types import compare_types
from pipetest_nb.validation.compatibility import (
    DataCompatibilityReport,
    DataCompatibilityValidator,
    check_edge,
    check_output_edges,
)


def _table(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(n, dtype="int64"), "score": np.linspace(0, 1, n),
                         "label": ["yes", "no"] * (n // 2) + ["yes"] * (n % 2)})


@pytest.fixture
def formats_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    df = _table()
    df.to_parquet(out / "a.parquet", index=False)
    df.to_csv(out / "b.csv", index=False)
    df.to_csv(out / "c.tsv", index=False, sep="\t")
    with gzip.open(out / "d.csv.gz", "wt") as fh:
        df.to_csv(fh, index=False)
    df.to_json(out / "e.jsonl", orient="records", lines=True)
    (out / "f.json").write_text(json.dumps(df.to_dict(orient="records")))
    (out / "config.json").write_text(json.dumps({"lr": 0.1, "layers": [1, 2]}, indent=2))
    (out / "model.pkl").write_bytes(b"\x80\x04not really a pickle")
    return out


def test_inspects_every_format_with_schema_and_rows(formats_dir):
    info = inspect_output(formats_dir)
    for name, fmt in [("a.parquet", "parquet"), ("b.csv", "csv"), ("c.tsv", "tsv"), ("d.csv.gz", "csv.gz"),
                      ("e.jsonl", "jsonl"), ("f.json", "json")]:
        f = info.files[name]
        assert (f.format, f.tabular, f.rows, f.error) == (fmt, True, 5, None), name
        assert f.columns == ["id", "score", "label"], name
        assert f.column_types == {"id": "int64", "score": "float64", "label": "string"}, name
    assert info.files["config.json"].tabular is False
    assert info.files["model.pkl"].format == "pkl" and info.files["model.pkl"].columns is None
    assert info.files["model.pkl"].size == len(b"\x80\x04not really a pickle")
    assert info.total_rows == 30 and info.layout == "multi"
    shaped = info.to_dict()["files"]
    assert shaped["a.parquet"] == {"format": "parquet", "size": (formats_dir / "a.parquet").stat().st_size,
                                   "schema": {"columns": ["id", "score", "label"],
                                              "column_types": {"id": "int64", "score": "float64",
                                                               "label": "string"}},
                                   "rows": 5}
    assert shaped["model.pkl"] == {"format": "pkl", "size": info.files["model.pkl"].size}


def test_parquet_schema_and_rows_come_from_the_footer_alone(tmp_path):
    """Overwrite the data pages: reading the file fails, inspecting it still works."""
    out = tmp_path / "out"
    out.mkdir()
    path = out / "big.parquet"
    pq.write_table(pa.table({"x": np.arange(200_000), "y": np.arange(200_000) * 2.0}), path, compression="none")
    data = bytearray(path.read_bytes())
    data[100:len(data) // 2] = b"\xff" * (len(data) // 2 - 100)
    path.write_bytes(bytes(data))
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises on garbage pages
        pq.read_table(path).to_pandas()
    f = inspect_output(out).files["big.parquet"]
    assert (f.rows, f.columns, f.column_types, f.error) == (200_000, ["x", "y"], {"x": "int64", "y": "float64"}, None)


def test_types_of_a_sampled_csv_and_unreadable_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "t.csv").write_text("when,flag,empty\n2024-01-01 10:00:00,true,\n2024-01-02 11:00:00,false,\n")
    (out / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (out / "empty.csv").write_text("")
    info = inspect_output(out)
    assert info.files["t.csv"].column_types == {"when": "datetime64[s]", "flag": "bool", "empty": "null"}
    assert info.files["t.csv"].rows == 2
    assert "cannot read parquet" in info.files["broken.parquet"].error
    assert info.files["empty.csv"].error == "empty file"
    assert list(info.tables) == ["t.csv"]


def test_split_layout_becomes_named_tables_and_part_files_one_table(tmp_path):
    out = tmp_path / "processed"
    for split in ("train", "val", "test"):
        (out / split).mkdir(parents=True)
        _table(4).to_parquet(out / split / f"{split}_processed_data.parquet", index=False)
    (out / "parts").mkdir()
    for i in range(3):
        _table(2).to_csv(out / "parts" / f"part-0000{i}.csv", index=False)
    info = inspect_output(out)
    assert info.layout == "split"
    assert info.tables == {"train": ["train/train_processed_data.parquet"], "val": ["val/val_processed_data.parquet"],
                           "test": ["test/test_processed_data.parquet"],
                           "parts/part-*": ["parts/part-00000.csv", "parts/part-00001.csv", "parts/part-00002.csv"]}
    assert info.table_rows("train") == 4 and info.table_rows("parts/part-*") == 6
    assert "table train: 1 file(s), 4 rows" in str(info)


def test_output_spec_marks_non_tabular_files_and_limits_tables(tmp_path):
    out = tmp_path / "out"
    (out / "train").mkdir(parents=True)
    _table().to_parquet(out / "train" / "data.parquet", index=False)
    _table().to_csv(out / "metrics.csv", index=False)
    info = inspect_output(out, OutputSpec("o", tables="train/*.parquet", non_tabular=("metrics.csv",)))
    assert info.files["metrics.csv"].tabular is False and info.files["metrics.csv"].columns is None
    assert list(info.tables) == ["train"]
    binary = inspect_output(out, OutputSpec("o", format="binary"))
    assert not binary.tables and all(not f.tabular for f in binary.files.values())


def test_missing_folder_and_single_file(tmp_path):
    assert inspect_output(tmp_path / "nope").exists is False
    _table().to_parquet(tmp_path / "one.parquet", index=False)
    info = inspect_output(tmp_path / "one.parquet")
    assert list(info.tables) == ["one.parquet"]
    assert len(frame(tmp_path / "one.parquet")) == 5


@pytest.mark.parametrize(("path", "pattern", "hit"), [
    ("train/x.parquet", "*/*.parquet", True),
    ("a/b/x.parquet", "*/*.parquet", False),
    ("a/b/x.parquet", "**/*.parquet", True),
    ("x.parquet", "**/*.parquet", True),
    ("a/b/x.parquet", "*.parquet", True),
    ("train/x.csv", "train/*", True),
    ("val/x.csv", "train/*", False),
])
def test_globs(path, pattern, hit):
    assert match_glob(path, pattern) is hit


# --------------------------------------------------------------------------------------------------
# frame()
# --------------------------------------------------------------------------------------------------


def test_frame_reads_tables_globs_columns_and_nrows(tmp_path):
    out = tmp_path / "out"
    for i, split in enumerate(("train", "val")):
        (out / split).mkdir(parents=True)
        df = _table(10)
        df["id"] += 100 * i
        df.to_parquet(out / split / "data.parquet", index=False)
        df.to_csv(out / split / "data.csv", index=False)
    train = frame(out, "train/data.parquet")
    assert list(train.id) == list(range(10))
    both = frame(out, "*/*.parquet", columns=["id", "label"])
    assert list(both.columns) == ["id", "label"] and len(both) == 20 and both.id.iloc[-1] == 109
    assert len(frame(out, "*/*.parquet", nrows=13)) == 13
    assert list(frame(out, "*/*.csv", nrows=3).id) == [0, 1, 2]
    assert len(frame(out, "val", columns=["score"])) == 20  # the named table: its parquet and csv files
    with pytest.raises(TableNotFoundError, match="holds 2 tables .*train, val.*pick one"):
        frame(out)
    with pytest.raises(TableNotFoundError, match="no table 'trian'.*did you mean 'train'"):
        frame(out, "trian")
    with pytest.raises(TableNotFoundError, match="no column 'nope'.*train/data.parquet"):
        frame(out, "train/data.parquet", columns=["nope"])


def test_frame_gives_pandas_3_dtypes_as_read_parquet_does(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    df = pd.DataFrame({"s": ["a", None, "c"], "n": pd.array([1, None, 3], dtype="Int64"),
                       "c": pd.Categorical(["x", "y", "x"]), "t": pd.to_datetime(["2024-01-01"] * 3)})
    df.to_parquet(out / "a.parquet", index=False)
    df.to_parquet(out / "b.parquet", index=False)
    got = frame(out, "*.parquet")
    expected = pd.concat([pd.read_parquet(out / "a.parquet"), pd.read_parquet(out / "b.parquet")], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert str(got.n.dtype) == "Int64" and got.s.isna().sum() == 2


def test_frame_of_json_lines_with_nrows(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _table(50).to_json(out / "rows.jsonl", orient="records", lines=True)
    got = frame(out, nrows=7)
    assert len(got) == 7 and list(got.columns) == ["id", "score", "label"]


# --------------------------------------------------------------------------------------------------
# Compatibility
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expected", "actual", "verdict"), [
    ("int64", "int64", "ok"),
    ("int", "int32", "ok"),
    ("number", "float64", "ok"),
    ("str", "string", "ok"),
    ("object", "string", "ok"),
    ("double", "float64", "ok"),
    ("Int64", "int64", "ok"),
    ("int64", "int32", "warning"),
    ("float32", "float64", "warning"),
    ("datetime64[ns]", "datetime64[us]", "warning"),
    ("float64", "int64", "warning"),
    ("string", "category", "warning"),
    ("int64", "null", "warning"),
    ("money", "int64", "warning"),
    ("int64", "string", "issue"),
    ("string", "int64", "issue"),
    ("int64", "float64", "issue"),
    ("bool", "int64", "issue"),
    ("number", "string", "issue"),
])
def test_type_rules(expected, actual, verdict):
    assert compare_types(expected, actual)[0] == verdict


@pytest.fixture
def two_steps(pipeline_dir) -> PipelineDAG:
    path = write_pipeline(pipeline_dir, """
        name: edge
        steps:
          load:
            script: a.py
            outputs: {raw_data: {format: parquet}}
          preprocess:
            script: b.py
            inputs:
              DATA: {from: load.raw_data, format: parquet,
                     schema: {required_columns: [id, label], column_types: {id: int64, score: float64}}}
          report:
            script: c.py
            inputs: {DATA: load.raw_data}
        """)
    return PipelineDAG.load(path)


def _write(folder: Path, df: pd.DataFrame, name: str = "raw.parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    df.to_parquet(folder / name, index=False)
    return folder


def test_dropped_column_fails_the_edge_naming_both_steps_and_the_column(two_steps, tmp_path):
    out = _write(tmp_path / "raw_data", _table().drop(columns=["label"]))
    reports = check_output_edges(two_steps, "load", "raw_data", out)
    assert len(reports) == 1  # report.DATA declares nothing to check
    report = reports[0]
    assert not report.compatible and report.state == EdgeState.FAILED
    assert report.edge == "load.raw_data -> preprocess.DATA"
    [issue] = report.issues
    assert issue.startswith("load.raw_data -> preprocess.DATA: column 'label' required by preprocess.DATA")
    assert "raw.parquet" in issue and "columns there: id, score" in issue
    assert report.details[0]["column"] == "label" and report.details[0]["files"] == ["raw.parquet"]
    assert "NOT compatible" in str(report)


def test_int_to_string_is_an_issue_and_int32_a_warning(two_steps, tmp_path):
    spec = two_steps.steps["preprocess"].inputs["DATA"]
    df = _table()
    as_text = _write(tmp_path / "text", df.assign(id=df.id.astype(str)))
    report = check_edge("load", "raw_data", as_text, "preprocess", spec)
    assert not report.compatible
    assert any("column 'id' in raw.parquet is string, expected int64" in i for i in report.issues)
    narrow = _write(tmp_path / "narrow", df.assign(id=df.id.astype("int32")))
    report = check_edge("load", "raw_data", narrow, "preprocess", spec)
    assert report.compatible and report.state == EdgeState.WARNED
    assert any("is int32, expected int64 (same kind of data" in w for w in report.warnings)


def test_format_required_files_and_missing_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _table().to_csv(out / "data.csv", index=False)
    (out / "_SUCCESS").write_text("")
    spec = InputSpec("DATA", source="a.o", format="parquet", required_files=("data.csv", "model.pkl"))
    report = check_edge("a", "o", out, "b", spec)
    assert any("required file 'model.pkl' is missing" in i for i in report.issues)
    assert any("data.csv: csv, expected parquet" in i for i in report.issues)
    assert not any("data.csv' is missing" in i for i in report.issues)
    gone = check_edge("a", "o", tmp_path / "nothing", "b", InputSpec("DATA", source="a.o", format="parquet"))
    assert gone.issues == ["a.o -> b.DATA: the output folder does not exist (the step wrote nothing)"]
    _table().to_parquet(out / "data.parquet", index=False)
    (out / "data.csv").unlink()
    report = check_edge("a", "o", out, "b", InputSpec("DATA", source="a.o", format="parquet"))
    assert report.compatible and any("_SUCCESS" in w for w in report.warnings)


def test_edge_tables_glob_limits_the_check(tmp_path):
    out = tmp_path / "out"
    _write(out / "train", _table(), "x.parquet")
    _write(out / "extra", _table().drop(columns=["label"]), "x.parquet")
    spec = InputSpec("DATA", source="a.o", schema=TableSchema(required_columns=("label",)))
    assert not check_edge("a", "o", out, "b", spec).compatible
    assert check_edge("a", "o", out, "b", spec, tables="train/*").compatible


def test_original_plan_dict_shapes_and_report_round_trip(tmp_path):
    out = _write(tmp_path / "out", _table())
    producer_output = inspect_output(out).to_dict()
    consumer = {"required_files": ["raw.parquet"], "file_formats": {"raw.parquet": "csv"},
                "schemas": {"raw.parquet": {"required_columns": ["id", "missing"],
                                            "column_types": {"score": "float32"}}}}
    report = DataCompatibilityValidator().validate_step_transition(producer_output, consumer)
    assert not report.compatible
    assert "raw.parquet: parquet, expected csv" in report.issues
    assert any("column 'missing'" in i for i in report.issues)
    assert any("float64, expected float32" in w for w in report.warnings)
    assert report.data_summary["tables"]["raw.parquet"]["rows"] == 5
    again = DataCompatibilityReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    both = DataCompatibilityReport.combine([report, DataCompatibilityReport(True, [], ["w"], {}, edge="x")])
    assert not both.compatible and both.warnings[-1] == "w" and len(both.issues) == len(report.issues)
    assert DataCompatibilityReport.combine([]).compatible


def test_links_and_special_files_are_listed_never_followed_out_or_opened(tmp_path):
    import os

    out = tmp_path / "out"
    out.mkdir()
    _table().to_csv(out / "v3.csv", index=False)
    os.symlink("v3.csv", out / "latest.csv")  # inside the output: read through
    outside = tmp_path / "outside.csv"
    outside.write_text("secret,x\n1,2\n")
    os.symlink(outside, out / "far.csv")  # out of the output: listed, not read
    os.symlink(tmp_path / "gone", out / "dangling.csv")
    os.mkfifo(out / "pipe.csv")  # opening it for reading would wait for a writer for ever
    os.symlink("/dev/zero", out / "zero.csv")
    info = inspect_output(out)
    assert info.files["latest.csv"].rows == 5 and info.files["latest.csv"].link == "v3.csv"
    far = info.files["far.csv"]
    assert (far.format, far.tabular, far.columns, far.link) == ("link", False, None, str(outside))
    assert info.files["dangling.csv"].format == "link"
    assert info.files["pipe.csv"].special == "FIFO" and "a FIFO" in info.files["pipe.csv"].error
    assert info.files["zero.csv"].special == "device" and "/dev/zero" in info.files["zero.csv"].error
    assert set(info.special_files) == {"pipe.csv", "zero.csv"}
    assert sorted(info.tables) == ["latest.csv", "v3.csv"]
    assert info.to_dict()["files"]["far.csv"]["link"] == str(outside)


def test_inspection_has_a_time_limit(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _table().to_csv(out / "b.csv", index=False)
    info = inspect_output(out, time_limit=0)
    assert "took longer than 0 s (pipetest_nb.validation.artifacts.INSPECT_TIME_LIMIT)" in info.files["b.csv"].error
    report = DataCompatibilityValidator().validate_step_transition(info, {"format": "csv"})
    assert not report.compatible and "INSPECT_TIME_LIMIT" in report.issues[0]


def test_undecodable_file_names_are_inspected_read_and_shown_escaped(tmp_path):
    import os

    out = tmp_path / "out"
    out.mkdir()
    name = os.fsdecode(b"bad\xff.csv")
    _table().to_csv(out / name, index=False)
    info = inspect_output(out)
    assert (info.files[name].rows, info.files[name].error) == (5, None)
    assert list(info.to_dict()["files"]) == ["bad\\xff.csv"]
    json.dumps(info.to_dict()).encode("utf-8")
    assert frame(out)["id"].tolist() == [0, 1, 2, 3, 4]
    report = check_edge("p", "o", out, "c", InputSpec("IN", format="parquet"))
    assert "bad\\xff.csv: csv, expected parquet" in str(report)
    str(report).encode("utf-8")
