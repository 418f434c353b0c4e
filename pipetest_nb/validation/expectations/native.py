"""Which expectations run natively, and their arguments checked as GX's models would check them.

``plan`` reads one expectation of a suite (no data yet) and says whether the native evaluator takes
it: the type is one of ``EVALUATORS`` and every argument has a value whose meaning is plain (numbers
for numeric bounds, booleans for flags, a list for a value set, no ``row_condition``). The arguments
are then normalised as GX's pydantic models normalise them (numeric bounds of value and aggregate
expectations become floats, ``mostly`` a float), so the kwargs recorded with a failure read the same
whichever engine ran. An argument the model does not declare is reported as GX reports it
(``name: extra fields not permitted``) without importing GX.

Routed to GX (the whole expectation, not the suite): any other type; ``row_condition`` /
``condition_parser``; ``result_format``, ``catch_exceptions`` and the other base fields given inside
kwargs; suite-parameter dicts (``{"$PARAMETER": ...}``); bounds given as text or dates; bounds with
``min_value > max_value`` or both missing where GX raises; integers too large for a float; a
``compound_columns`` ``ignore_row_if`` other than the default; and, once data is seen, whatever the
evaluators raise ``NotNative`` for (see ``native_columns`` and ``native_table``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipetest_nb.validation.expectations import native_columns as col
from pipetest_nb.validation.expectations import native_table as tab
from pipetest_nb.validation.expectations.native_results import NotNative

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EVALUATORS", "NotNative", "Plan", "plan"]

#: Fields every GX expectation model has; inside ``kwargs`` they change how GX runs it.
BASE_FIELDS = frozenset({"id", "meta", "notes", "result_format", "description", "catch_exceptions",
                         "rendered_content", "severity", "windows", "batch_id"})
_TOP_LEVEL = frozenset({"type", "kwargs", "meta", "id", "notes", "description", "rendered_content", "severity"})
_SEVERITIES = (None, "critical", "warning", "info")  # GX's FailureSeverity; a failure's severity is not recorded
_MAP = {"mostly": "mostly", "row_condition": "none", "condition_parser": "none"}
_BOUNDS = {"min_value": "float", "max_value": "float", "strict_min": "flag", "strict_max": "flag"}
_COLUMN = {"column": "column"}

#: type -> (evaluator, {argument: kind}); kinds are checked by ``_ARG_CHECKS``.
EVALUATORS: dict[str, tuple[Callable[[pd.DataFrame, dict[str, Any]], dict[str, Any]], dict[str, str]]] = {
    "expect_column_to_exist": (tab.to_exist, {**_COLUMN, "column_index": "index"}),
    "expect_column_values_to_not_be_null": (col.not_null, {**_COLUMN, **_MAP}),
    "expect_column_values_to_be_null": (col.null, {**_COLUMN, **_MAP}),
    "expect_column_values_to_be_in_set": (col.in_set, {**_COLUMN, **_MAP, "value_set": "values"}),
    "expect_column_values_to_not_be_in_set": (col.not_in_set, {**_COLUMN, **_MAP, "value_set": "values"}),
    "expect_column_values_to_be_between": (col.between, {**_COLUMN, **_MAP, **_BOUNDS}),
    "expect_column_values_to_be_unique": (col.unique, {**_COLUMN, **_MAP}),
    "expect_column_values_to_match_regex": (col.match_regex, {**_COLUMN, **_MAP, "regex": "regex"}),
    "expect_column_value_lengths_to_be_between": (col.value_lengths, {
        **_COLUMN, **_MAP, **_BOUNDS, "min_value": "int", "max_value": "int"}),
    "expect_column_values_to_be_of_type": (tab.of_type, {**_COLUMN, **_MAP, "type_": "text"}),
    "expect_column_values_to_be_in_type_list": (tab.in_type_list, {**_COLUMN, **_MAP, "type_list": "names"}),
    "expect_table_row_count_to_be_between": (tab.row_count_between, {
        **_BOUNDS, "min_value": "int", "max_value": "int", "row_condition": "none", "condition_parser": "none"}),
    "expect_table_row_count_to_equal": (tab.row_count_equal, {
        "value": "count", "row_condition": "none", "condition_parser": "none"}),
    "expect_table_columns_to_match_ordered_list": (tab.columns_ordered, {"column_list": "names"}),
    "expect_table_columns_to_match_set": (tab.columns_set, {"column_set": "names", "exact_match": "flag"}),
    "expect_compound_columns_to_be_unique": (tab.compound_unique, {
        "column_list": "columns", **_MAP, "ignore_row_if": "ignore_row_if"}),
    **{f"expect_column_{name}_to_be_between": (tab.aggregate(name), {
        **_COLUMN, **_BOUNDS, "row_condition": "none", "condition_parser": "none"})
       for name in ("min", "max", "mean", "median", "sum")},
    "expect_column_distinct_values_to_be_in_set": (tab.distinct_in_set, {
        **_COLUMN, "value_set": "values", "row_condition": "none", "condition_parser": "none"}),
}
_REQUIRED = {"column", "value_set", "type_", "value", "columns"}
_DEFAULTS = {"mostly": 1.0, "regex": "(?s).*", "exact_match": True, "ignore_row_if": "all_values_are_missing"}
_FIELD_DEFAULTS = {**_DEFAULTS, "strict_min": False, "strict_max": False}  # any other field: None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_float(value: Any) -> Any:
    """A bound as pydantic's ``float`` makes it; raises for what GX must judge itself."""
    if value is None:
        return None
    if not _number(value):
        raise NotNative("a bound that is not a number")
    result = float(value)  # OverflowError for huge ints: GX's to report
    if math.isnan(result):
        raise NotNative("a NaN bound")
    return result


def _as_int(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise NotNative("an integer bound that is not an integer")
    return value


def _scalars(value: Any) -> list[Any]:
    if not isinstance(value, list) or not all(v is None or isinstance(v, (str, int, float)) for v in value):
        raise NotNative("a value set that is not a list of plain values")
    if not value:
        raise NotNative("an empty value set: GX's model refuses it")
    return value


def _names(value: Any) -> Any:
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise NotNative("a list of names that is not a list of strings")
    return value


def _check(kind: str, value: Any) -> Any:
    """``value`` as GX's model holds it, or NotNative."""
    simple = {"column": lambda v: isinstance(v, str), "none": lambda v: v is None,
              "flag": lambda v: v is None or isinstance(v, bool), "regex": lambda v: isinstance(v, str),
              "text": lambda v: isinstance(v, str), "index": lambda v: v is None or _as_int(v) is not None,
              "count": lambda v: _as_int(v) is not None,
              "ignore_row_if": lambda v: v == "all_values_are_missing",
              "mostly": lambda v: _number(v) and 0 <= v <= 1}
    if kind in simple:
        if not simple[kind](value):
            raise NotNative(f"an argument GX must judge ({kind})")
        return float(value) if kind == "mostly" else value
    converters = {"float": _as_float, "int": _as_int, "values": _scalars, "names": _names,
                  "columns": lambda v: _names(v) if v is not None else _fail("no column list")}
    return converters[kind](value)


def _fail(reason: str) -> Any:
    raise NotNative(reason)


@dataclass
class Plan:
    """How one expectation runs: ``evaluate`` natively, or by GX (``reason`` says why)."""

    type: str
    kwargs: dict[str, Any]  # as GX's model normalises them, for the record
    evaluate: Callable[[pd.DataFrame], dict[str, Any]] | None = None
    reason: str | None = None
    problem: str | None = None  # why the expectation cannot be built, as GX would say it
    gx_problem: str | None = None  # GX's own verdict once asked ("" when GX builds it)


def plan(expectation: Any) -> Plan:
    """Whether ``expectation`` (one entry of a suite's ``expectations``) runs natively."""
    if not isinstance(expectation, dict):
        return Plan("None", {}, problem="an expectation is a JSON object with 'type' and 'kwargs'")
    kind, kwargs = str(expectation.get("type")), expectation.get("kwargs", {})
    if kind not in EVALUATORS:
        return Plan(kind, kwargs if isinstance(kwargs, dict) else {}, reason="no native evaluator for this type")
    if not isinstance(kwargs, dict) or set(expectation) - _TOP_LEVEL or expectation.get("severity") not in _SEVERITIES:
        return Plan(kind, kwargs if isinstance(kwargs, dict) else {}, reason="an unusual expectation shape")
    evaluator, fields = EVALUATORS[kind]
    extra = [k for k in kwargs if k not in fields and k not in BASE_FIELDS]
    try:
        normal = _normalise(kind, kwargs, fields)
    except (NotNative, OverflowError) as exc:
        return Plan(kind, kwargs, reason=str(exc))
    if extra:
        if len(extra) > 1:
            return Plan(kind, kwargs, reason="several arguments GX does not know")
        return Plan(kind, kwargs, problem=f"{extra[0]}: extra fields not permitted")
    full = {**{k: v for k, v in _DEFAULTS.items() if k in fields}, **normal}
    return Plan(kind, normal, evaluate=lambda df: evaluator(df, full))


def _normalise(kind: str, kwargs: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """The kwargs as GX's model keeps them; NotNative for anything GX must judge."""
    if any(k in BASE_FIELDS for k in kwargs):
        raise NotNative("a base field (result_format, catch_exceptions, ...) inside kwargs")
    missing = [name for name, k in fields.items() if (name in _REQUIRED or k in _REQUIRED) and name not in kwargs]
    if missing:
        raise NotNative(f"missing {', '.join(missing)}")
    normal = {k: _check(fields[k], v) for k, v in kwargs.items() if k in fields}
    normal = {k: v for k, v in normal.items() if v != _FIELD_DEFAULTS.get(k)}  # GX's model leaves out defaults
    if kind == "expect_compound_columns_to_be_unique" and len(normal["column_list"]) < 2:
        raise NotNative("fewer than two columns: GX's model refuses them")
    if "max_value" in fields and "min_value" in fields:
        low, high = normal.get("min_value"), normal.get("max_value")
        if low is None and high is None and kind in ("expect_column_values_to_be_between",
                                                     "expect_column_value_lengths_to_be_between"):
            raise NotNative("no bound: GX raises")
        if low is not None and high is not None and low > high:
            raise NotNative("min_value above max_value: GX raises")
    return normal
