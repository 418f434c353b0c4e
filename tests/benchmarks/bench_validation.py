"""Validation costs: a parquet output's schema from metadata vs reading it; a suite vs plain pandas.

Targets: inspecting a 1M-row parquet output at least 50x faster than reading it; a 6-expectation
suite on 1M rows within 1.2x of the same checks written in pandas when evaluated natively (the
default, ``checks_engine: auto``), within 1.5x through Great Expectations (``checks_engine: gx``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import Row, compare, median_ms

SUITE = {"name": "bench", "expectations": [
    {"type": "expect_column_to_exist", "kwargs": {"column": "city"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "score", "min_value": -10, "max_value": 10}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "city", "value_set": ["a", "b", "c"]}},
    {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "score", "type_": "float64"}},
]}


def _frame(rows: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": np.arange(rows), "age": rng.integers(0, 100, rows),
                         "score": rng.normal(size=rows).clip(-9, 9), "city": rng.choice(["a", "b", "c"], rows)})


def _pandas_checks(df) -> bool:
    return bool("city" in df.columns and df["id"].notna().all() and df["age"].between(0, 120).all()
                and df["score"].between(-10, 10).all() and df["city"].isin(["a", "b", "c"]).all()
                and str(df["score"].dtype) == "float64")


def run(quick: bool = False) -> list[Row]:
    import pandas as pd

    from pipetest_nb.validation.artifacts import inspect_output
    from pipetest_nb.validation.expectations.checks import validate_frame

    rows: list[Row] = []
    repeat = 1 if quick else 5
    folder = Path(tempfile.mkdtemp()) / "out"
    folder.mkdir()
    n = 10_000 if quick else 1_000_000
    _frame(n).to_parquet(folder / "data.parquet", index=False)
    read = median_ms(lambda: pd.read_parquet(folder / "data.parquet"), repeat)
    inspect = median_ms(lambda: inspect_output(folder), repeat)
    rows += compare(f"parquet schema, {n:,} rows", "pd.read_parquet (read it all)", read,
                    {"inspect_output (footer only)": inspect}, note=f"{read / inspect:.0f}x faster (target >= 50x)")
    validate_frame(_frame(100), SUITE)  # imports, and GX's import and context: once per process, not measured
    validate_frame(_frame(100), SUITE, engine="gx")
    sizes = [10_000] if quick else [1_000_000, 5_000_000]
    for size in sizes:
        df = _frame(size)
        assert _pandas_checks(df) and validate_frame(df, SUITE).success
        assert validate_frame(df, SUITE).statistics["engines"] == {"native": 6, "gx": 0}
        plain = median_ms(lambda d=df: _pandas_checks(d), repeat)
        native = median_ms(lambda d=df: validate_frame(d, SUITE), repeat)
        gx = median_ms(lambda d=df: validate_frame(d, SUITE, engine="gx"), repeat)
        bad = df.copy()
        bad.loc[::1000, "age"] = -1
        native_failing = median_ms(lambda d=bad: validate_frame(d, SUITE), repeat)
        failing = median_ms(lambda d=bad: validate_frame(d, SUITE, engine="gx"), repeat)
        found = compare(f"6 expectations, {size:,} rows", "plain pandas checks", plain,
                        {"native (checks_engine auto), passing": native, "native, 1 failing": native_failing,
                         "GX suite (BOOLEAN_ONLY, passing)": gx, "GX suite, 1 failing (+ details pass)": failing},
                        note="targets: native <= 1.2x, GX <= 1.5x")
        if size == sizes[0]:
            found[1].figure, found[1].today, found[1].target = (
                "6 expectations on 1M rows, native / plain pandas", "(GX 2.85x)", "<= 1.2x")
            found[3].figure, found[3].today, found[3].target = (
                "6 expectations on 1M rows, GX path / plain pandas", "2.85x", "<= 1.5x")
        rows += found
    return rows
