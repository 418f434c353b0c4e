"""Results of natively evaluated expectations, in the shape Great Expectations gives them.

Each function here restates one piece of GX 1.x's result bookkeeping for pandas (``_format_map_output``,
``_mostly_success``, ``_validate_metric_value_between`` in ``great_expectations/expectations/
expectation.py``), so that a result dict ``{"success": ..., "result": {...}}`` reads the same whichever
engine produced it: ``unexpected_percent`` over the non-null rows for map expectations (over all rows
for the null checks), vacuous success on an empty domain, the first 20 unexpected values in row order,
and their counts sorted by (-count, value), left out when the values cannot be sorted or hashed.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: GX's default ``partial_unexpected_count`` for the SUMMARY result format.
PARTIAL_COUNT = 20


class NotNative(Exception):
    """The data (a dtype, a value) is one the native evaluator does not handle exactly: GX runs it."""


def mostly_success(considered: int, unexpected: int, mostly: float) -> bool:
    """GX's ``_mostly_success``: the share of expected rows against ``mostly``."""
    return (float(considered) - float(unexpected)) / float(considered) >= mostly


def partial_counts(values: list[Any]) -> list[dict[str, Any]] | None:
    """``partial_unexpected_counts`` as GX builds it; None where GX leaves it out (TypeError)."""
    if values and isinstance(values[0], dict):
        values = [tuple(v.values()) for v in values]
    try:
        return [{"value": key, "count": count} for key, count in
                sorted(Counter(values).most_common(PARTIAL_COUNT), key=lambda x: (-x[1], x[0]))]
    except TypeError:
        return None


def map_output(success: bool, element_count: int, nonnull_count: int | None, unexpected_count: int,
               unexpected_values: list[Any]) -> dict[str, Any]:
    """The SUMMARY result of a map expectation; ``nonnull_count`` None for the null checks."""
    result: dict[str, Any] = {"element_count": element_count, "unexpected_count": unexpected_count,
                              "unexpected_percent": None}
    if element_count > 0:
        total = unexpected_count / element_count * 100
        if nonnull_count is None:
            result["unexpected_percent"] = total
        elif nonnull_count > 0:
            result["unexpected_percent"] = unexpected_count / nonnull_count * 100
    result["partial_unexpected_list"] = unexpected_values[:PARTIAL_COUNT]
    if nonnull_count is not None:
        result["missing_count"] = element_count - nonnull_count
    counts = partial_counts(unexpected_values[:PARTIAL_COUNT])
    if counts is not None:
        result["partial_unexpected_counts"] = counts
    return {"success": success, "result": result}


def column_map(series: pd.Series, expected: Any, mostly: float, *, nulls_count: bool = False,
               element_count: int | None = None) -> dict[str, Any]:
    """A column map expectation's result from the column and the boolean mask of expected rows.

    ``series`` is the domain (the non-null rows unless ``nulls_count``); ``element_count`` the
    table's rows (defaults to the domain's).
    """
    import numpy as np

    total = len(series) if element_count is None else element_count
    mask = np.asarray(expected, dtype=bool)
    unexpected = int(len(mask) - np.count_nonzero(mask))
    considered = total if nulls_count else len(series)
    values = list(series[~mask][:PARTIAL_COUNT]) if unexpected else []
    success = True if total == 0 or considered == 0 else mostly_success(considered, unexpected, mostly)
    return map_output(success, total, None if nulls_count else considered, unexpected, values)


def metric_between(value: Any, min_value: Any, max_value: Any, strict_min: bool | None,
                   strict_max: bool | None) -> dict[str, Any]:
    """GX's ``_validate_metric_value_between`` for numeric metrics and numeric bounds."""
    import pandas as pd

    if value is None:
        return {"success": False, "result": {"observed_value": None}}
    if isinstance(value, (datetime.date, datetime.datetime)):
        raise NotNative("a date or time metric")
    if pd.isnull(value):
        return {"success": False, "result": {"observed_value": None}}
    above = True if min_value is None else (value > min_value if strict_min else value >= min_value)
    below = True if max_value is None else (value < max_value if strict_max else value <= max_value)
    return {"success": bool(above and below), "result": {"observed_value": value}}
