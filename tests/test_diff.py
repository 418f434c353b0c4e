"""Diffing one output between two runs: files, schema, rows and column statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipetest_nb.validation.diff import diff_outputs


def _write(folder, df, rel="train/data.parquet"):
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def _frame(n=100):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": np.arange(n), "age": rng.integers(20, 60, n).astype("int64"),
                         "city": rng.choice(["a", "b"], n), "when": pd.date_range("2024-01-01", periods=n, freq="D")})


def test_diff_finds_schema_rows_nulls_ranges_and_top_values(tmp_path):
    old_df = _frame()
    new_df = _frame().iloc[:90].copy()
    new_df["age"] = new_df["age"].astype("float64")
    new_df.loc[new_df.index[:9], "age"] = np.nan
    new_df.loc[new_df.index[9], "age"] = 999.0
    new_df["city"] = ["z"] * 60 + ["a"] * 30
    new_df = new_df.drop(columns=["when"]).assign(extra=1)
    _write(tmp_path / "old", old_df)
    _write(tmp_path / "new", new_df)
    _write(tmp_path / "old", old_df, "val/data.parquet")
    (tmp_path / "new" / "model.pkl").write_bytes(b"x")
    diff = diff_outputs(tmp_path / "old", tmp_path / "new")
    assert diff.changed and diff.files_added == ["model.pkl"] and diff.tables_removed == ["val"]
    train = diff.tables["train"]
    assert train.rows == (100, 90)
    assert train.added_columns == {"extra": "int64"} and train.removed_columns == {"when": "datetime64[us]"}
    assert train.type_changes == {"age": ("int64", "float64")}
    old_age, new_age = train.columns["age"]
    assert old_age.null_rate == 0 and new_age.null_rate == 0.1 and new_age.max == 999.0
    old_city, new_city = train.columns["city"]
    assert new_city.top == [("z", 60), ("a", 30)] and {v for v, _ in old_city.top} == {"a", "b"}
    assert "id" in train.changed_columns  # rows dropped: its max moved
    text = str(diff)
    assert "table train: rows 100 -> 90 (-10)" in text
    assert "~ column age: int64 -> float64" in text and "+ column extra (int64)" in text
    assert "null 0.0% -> 10.0%" in text and "max 59 -> 999" in text and "'z' 67%" in text
    assert json.loads(json.dumps(diff.to_dict()))["tables"]["train"]["rows"] == [100, 90]


def test_identical_outputs_and_table_globs(tmp_path):
    for side in ("old", "new"):
        _write(tmp_path / side, _frame(), "train/a.parquet")
        _write(tmp_path / side, _frame(), "test/a.parquet")
    same = diff_outputs(tmp_path / "old", tmp_path / "new")
    assert not same.changed and str(same).endswith(": no change" + "".join(
        f"\n  table {t}: rows 100 -> 100\n    (4 columns unchanged)" for t in ("test", "train")))
    narrowed = diff_outputs(tmp_path / "old", tmp_path / "new", table="*/a.parquet")
    assert list(narrowed.tables) == ["*/a.parquet"] and narrowed.tables["*/a.parquet"].rows == (200, 200)
