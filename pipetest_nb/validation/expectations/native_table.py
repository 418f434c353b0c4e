"""Table, type and aggregate expectations evaluated natively, as GX 1.x computes them on pandas.

Row counts and column lists come from the frame's shape; ``of_type`` / ``in_type_list`` restate GX's
``_validate_pandas`` (a column's numpy or pandas dtype against the names resolved through numpy,
pandas and Python's own types); aggregates are the pandas reductions GX's metrics call (``min``,
``max``, ``mean``, ``median`` of the non-null values, ``sum``) held against the bounds as GX's
``_validate_metric_value_between`` does. Left to GX:

- ``of_type`` / ``in_type_list`` on an object column: GX checks every value's Python type.
- Aggregates of anything but a numeric (non-bool) numpy column: GX parses dates and compares
  decimals and objects with its own rules.
- ``distinct_values_to_be_in_set`` on date or time columns: GX coerces the value set to the
  column's type first.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pipetest_nb.validation.expectations.native_columns import column
from pipetest_nb.validation.expectations.native_results import (
    PARTIAL_COUNT,
    NotNative,
    map_output,
    metric_between,
    mostly_success,
)

if TYPE_CHECKING:
    import pandas as pd

_OBJECT_NAMES = ("object", "object_", "O", None)
_NATIVE_TYPES = {"none": (type(None),), "bool": (bool,), "int": (int,), "long": (int,), "float": (float,),
                 "bytes": (bytes,), "complex": (complex,), "str": (str,), "string_types": (str,),
                 "list": (list,), "dict": (dict,)}


def to_exist(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    columns = list(df.columns)
    index = kw.get("column_index")
    if index:
        success = index < len(columns) and index >= -len(columns) and columns[index] == kw["column"]
    else:
        success = kw["column"] in columns
    return {"success": bool(success), "result": {}}


def row_count_between(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    return metric_between(len(df), kw.get("min_value"), kw.get("max_value"), kw.get("strict_min"),
                          kw.get("strict_max"))


def row_count_equal(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    return {"success": len(df) == kw["value"], "result": {"observed_value": len(df)}}


def columns_ordered(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    actual, expected = list(df.columns), kw.get("column_list")
    return {"success": expected is None or actual == list(expected), "result": {"observed_value": actual}}


def columns_set(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    actual = set(df.columns)
    expected = set(kw["column_set"]) if kw.get("column_set") is not None else set()
    observed = sorted(str(c) for c in actual)
    unexpected, missing = actual - expected, expected - actual
    success = not missing and (not unexpected or not kw.get("exact_match", True))
    return {"success": success, "result": {"observed_value": observed}}


def compound_unique(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    names = list(kw["column_list"])
    if any(not isinstance(n, str) or n not in df.columns for n in names) or not df.columns.is_unique:
        raise NotNative("a column is missing")
    frame = df[names]
    kept = frame[~frame.isna().all(axis=1)] if len(names) else frame
    try:
        duplicated = kept.duplicated(keep=False).to_numpy(dtype=bool)
    except TypeError as exc:
        raise NotNative(str(exc)) from exc
    unexpected = int(duplicated.sum())
    values = kept[duplicated].head(PARTIAL_COUNT).to_dict("records") if unexpected else []
    considered = len(kept)
    success = True if len(df) == 0 or considered == 0 else mostly_success(considered, unexpected, kw["mostly"])
    return map_output(success, len(df), considered, unexpected, values)


def _comp_types(name: str) -> list[Any]:
    """The types GX's ``_validate_pandas`` (``..._to_be_of_type``) compares a dtype's type with."""
    import numpy as np
    import pandas as pd

    found: list[Any] = []
    try:
        found.append(np.dtype(name).type)
    except TypeError:
        for space in (pd, pd.core.dtypes.dtypes):
            candidate = getattr(space, name, None)
            if isinstance(candidate, type):
                found.append(candidate)
    found.extend(_NATIVE_TYPES.get(name.lower(), ()))
    return found


def _list_comp_types(name: str) -> list[Any]:
    """The types and dtypes GX's ``_validate_pandas`` (``..._in_type_list``) compares a dtype with."""
    import numpy as np
    import pandas as pd

    found: list[Any] = []
    try:
        found += [np.dtype(name).type, np.dtype(name)]
    except TypeError:
        candidate = getattr(pd, name, None)
        if isinstance(candidate, type):
            found.append(candidate)
            try:
                if isinstance(candidate(), pd.core.dtypes.base.ExtensionDtype):
                    found.append(candidate())
            except TypeError:
                pass
        candidate = getattr(pd.core.dtypes.dtypes, name, None)
        if isinstance(candidate, type):
            found.append(candidate)
    found.extend(_NATIVE_TYPES.get(name.lower(), ()))
    return found


def of_type(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    dtype = column(df, kw["column"]).dtype
    if dtype.type.__name__ == "object_" and kw["type_"] not in _OBJECT_NAMES:
        raise NotNative("GX checks each value of an object column")
    try:
        success = kw["type_"] is None or dtype.type in _comp_types(kw["type_"])
    except Exception as exc:  # numpy/pandas reject odd names in ways GX reports itself
        raise NotNative(str(exc)) from exc
    return {"success": bool(success), "result": {"observed_value": dtype.type.__name__}}


def in_type_list(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    dtype = column(df, kw["column"]).dtype
    names = kw.get("type_list")
    if dtype.type.__name__ == "object_" and names is not None:
        raise NotNative("GX checks each value of an object column")
    try:
        success = names is None or dtype in [t for n in names for t in _list_comp_types(n)]
    except Exception as exc:
        raise NotNative(str(exc)) from exc
    return {"success": bool(success), "result": {"observed_value": dtype.type.__name__}}


def aggregate(name: str) -> Any:
    """The evaluator of ``expect_column_<name>_to_be_between``."""
    def evaluate(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        series = column(df, kw["column"])
        if not isinstance(series.dtype, np.dtype) or series.dtype.kind not in "iuf":
            raise NotNative(f"GX computes the {name} of a {series.dtype} column its own way")
        if name == "median":
            series = series[~series.isnull()]
        value = getattr(series, name)()
        return metric_between(value, kw.get("min_value"), kw.get("max_value"), kw.get("strict_min"),
                              kw.get("strict_max"))

    return evaluate


def distinct_in_set(df: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    import datetime

    import numpy as np

    present = set(column(df, kw["column"]).dropna().unique())
    sample = next(iter(present), None)
    if isinstance(sample, (np.datetime64, datetime.date)):
        raise NotNative("GX coerces the value set to the column's dates")
    missing = list(present - set(kw["value_set"]))
    with contextlib.suppress(TypeError):
        missing = sorted(missing)
    return {"success": not missing,
            "result": {"observed_value": None, "unexpected_count": len(missing),
                       "partial_unexpected_list": missing[:PARTIAL_COUNT]}}
