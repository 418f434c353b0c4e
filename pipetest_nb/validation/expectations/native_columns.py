"""Column map expectations evaluated natively: one vectorised pandas expression per expectation.

Each evaluator makes the same pandas call GX 1.x's pandas metric makes (``column_map_metrics/*.py``)
on the same domain (the column's non-null rows, except for the null checks), so the results agree
value for value; what GX computes element by element in Python is left to GX:

- ``..._to_be_between`` runs natively on int64 and float64 columns only: GX compares those
  vectorised, and every other dtype (other widths, bool, nullable, datetime, object) element by
  element with its own type rules.
- ``..._to_not_be_in_set`` on a datetime column: GX parses the value set into timestamps first.
- ``..._to_be_unique`` on values pandas cannot hash: GX reports the error its own way.

A column the frame does not have goes to GX too, for its own error message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipetest_nb.validation.expectations.native_results import NotNative, column_map

if TYPE_CHECKING:
    import pandas as pd


def column(df: pd.DataFrame, name: Any) -> pd.Series:
    """The column ``name``; one the frame does not have (or has twice) is GX's to report."""
    if not isinstance(name, str) or name not in df.columns or not df.columns.is_unique:
        raise NotNative("the column is missing or not unique")
    return df[name]


def _domain(series: pd.Series) -> pd.Series:
    """The non-null rows, as GX's ``filter_column_isnull`` domain keeps them."""
    nulls = series.isna()
    return series[~nulls] if nulls.any() else series


def not_null(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    series = column(df, kw["column"])
    return column_map(series, series.notna(), kw["mostly"], nulls_count=True)


def null(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    series = column(df, kw["column"])
    return column_map(series, series.isna(), kw["mostly"], nulls_count=True)


def _on_domain(df: pd.DataFrame, kw: dict[str, Any], test: Any) -> dict[str, Any]:
    series = column(df, kw["column"])
    domain = _domain(series)
    try:
        expected = test(domain)
    except (TypeError, ValueError) as exc:  # GX raises the same; its message is the one recorded
        raise NotNative(str(exc)) from exc
    return column_map(domain, expected, kw["mostly"], element_count=len(series))


def in_set(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    return _on_domain(df, kw, lambda s: s.isin(kw["value_set"]))


def not_in_set(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column(df, kw["column"])):
        raise NotNative("GX parses the value set for a datetime column")
    return _on_domain(df, kw, lambda s: ~s.isin(kw["value_set"]))


def _between_mask(values: Any, low: Any, high: Any, strict_min: Any, strict_max: Any) -> Any:
    """GX's ``_pandas_vectorized`` comparison."""
    if low is None:
        return values < high if strict_max else values <= high
    if high is None:
        return low < values if strict_min else low <= values
    above = low < values if strict_min else low <= values
    below = values < high if strict_max else values <= high
    return above & below


def between(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    dtype = column(df, kw["column"]).dtype
    if dtype not in (np.dtype("int64"), np.dtype("float64")):
        raise NotNative(f"GX compares a {dtype} column value by value")
    return _on_domain(df, kw, lambda s: _between_mask(s.to_numpy(), kw.get("min_value"), kw.get("max_value"),
                                                      kw.get("strict_min"), kw.get("strict_max")))


def unique(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    return _on_domain(df, kw, lambda s: ~s.duplicated(keep=False))


def match_regex(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    import re

    try:
        re.compile(kw["regex"])
    except re.error as exc:
        raise NotNative(f"bad regex: {exc}") from exc
    return _on_domain(df, kw, lambda s: s.astype(str).str.contains(kw["regex"]))


def value_lengths(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    def test(s: pd.Series) -> Any:
        lengths = s.astype(str).str.len()
        low, high = kw.get("min_value"), kw.get("max_value")
        if low is not None and high is not None:
            inclusive = {(True, True): "neither", (True, False): "right", (False, True): "left",
                         (False, False): "both"}[(bool(kw.get("strict_min")), bool(kw.get("strict_max")))]
            return lengths.between(low, high, inclusive=inclusive)
        return _between_mask(lengths, low, high, kw.get("strict_min"), kw.get("strict_max"))

    return _on_domain(df, kw, test)
