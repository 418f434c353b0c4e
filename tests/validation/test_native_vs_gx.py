"""The native evaluator and Great Expectations agree: hypothesis-generated frames x every natively
supported expectation x generated kwargs, each run with ``checks_engine="native"`` and ``"gx"``.

Both runs go through ``validate_frame``, so what is compared is what a run records: success, the
failure's unexpected count and percent, its unexpected values (as sets), its observed value and its
kwargs. A case the native evaluator hands to GX (``not evaluated natively``) is counted, not compared.
``HYPOTHESIS_PROFILE=thorough`` runs many more examples.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pipetest_nb.json_values import plain_value
from pipetest_nb.validation.expectations.checks import validate_frame
from pipetest_nb.validation.expectations.native import EVALUATORS

pytestmark = pytest.mark.slow
EXAMPLES = 1000 if settings.default.max_examples <= 60 else settings.default.max_examples * 5  # quick: 1,000
SEEN: Counter = Counter()

_TEXT = st.text(alphabet="ab Z\u00e9\U0001f600", max_size=3)
_SMALL = st.integers(-3, 12)
_HUGE = st.sampled_from([2**63 - 1, -(2**63), 2**53 + 1, 10**18])
_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, -1.5, 2.5]))
_TIME = st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                     max_value=pd.Timestamp("2030-01-01").to_pydatetime())


def _series(kind: str, values: list) -> pd.Series:
    makers = {
        "float": lambda v: pd.Series(v, dtype="float64"),
        "int": lambda v: pd.Series(v, dtype="int64"),
        "nullable_int": lambda v: pd.Series(v, dtype="Int64"),
        "bool": lambda v: pd.Series(v, dtype=bool),
        "str": lambda v: pd.Series(v, dtype="str"),
        "object_str": lambda v: pd.Series(v, dtype=object),
        "category": lambda v: pd.Series(v, dtype="category"),
        "mixed": lambda v: pd.Series(v, dtype=object),
        "datetime": lambda v: pd.Series(pd.to_datetime(v)),
        "datetime_tz": lambda v: pd.Series(pd.to_datetime(v)).dt.tz_localize("UTC"),
    }
    return makers[kind](values)


_VALUES = {
    "float": st.one_of(_FLOAT, st.none()),
    "int": st.one_of(_SMALL, _HUGE, st.integers()).filter(lambda v: -(2**63) <= v < 2**63),
    "nullable_int": st.one_of(_SMALL, st.none()),
    "bool": st.booleans(),
    "str": st.one_of(_TEXT, st.none()),
    "object_str": st.one_of(_TEXT, st.none()),
    "category": st.one_of(st.sampled_from(["a", "b", "Z"]), st.none()),
    "mixed": st.one_of(_SMALL, _TEXT, _FLOAT, st.none(), st.booleans()),
    "datetime": st.one_of(_TIME, st.none()),
    "datetime_tz": st.one_of(_TIME, st.none()),
}


@st.composite
def frames(draw, kinds: tuple[str, ...] = (*sorted(_VALUES), "float", "int", "str")) -> pd.DataFrame:
    """Two columns of any kinds (numbers and text more often), 0 to 8 rows."""
    rows = draw(st.integers(0, 8))
    columns = {}
    for name in ("a", "b"):
        kind = draw(st.sampled_from(kinds))
        columns[name] = _series(kind, draw(st.lists(_VALUES[kind], min_size=rows, max_size=rows)))
    return pd.DataFrame(columns)


_PLAIN = st.one_of(_SMALL, _TEXT, st.sampled_from([0.0, 2.5, -1.5, True, None]))
_BOUND = st.one_of(st.none(), _SMALL, st.floats(-20, 20, allow_nan=False), _HUGE)
_TYPES = ["int64", "float64", "int", "float", "str", "object", "bool", "datetime64[ns]", "datetime64",
          "DatetimeTZDtype", "CategoricalDtype", "StringDtype", "string", "category", "Int64", "int32",
          "bool_", "O", "no_such_type"]
_ABSENT = object()


def _kwargs_for(kind: str) -> st.SearchStrategy:
    fields = EVALUATORS[kind][1]
    options = {"column": st.sampled_from(["a", "b"]),
               "mostly": st.one_of(st.just(_ABSENT), st.floats(0, 1), st.sampled_from([0, 1, 0.5])),
               "value_set": st.lists(_PLAIN, min_size=1, max_size=4),
               "min_value": _BOUND, "max_value": _BOUND,
               "strict_min": st.sampled_from([_ABSENT, True, False]),
               "strict_max": st.sampled_from([_ABSENT, True, False]),
               "regex": st.sampled_from([_ABSENT, "a", "^a", "Z$", ".", "[0-9]", "a|\u00e9", "(?s).*"]),
               "type_": st.sampled_from(_TYPES), "type_list": st.one_of(st.none(), st.lists(st.sampled_from(_TYPES),
                                                                                          max_size=3)),
               "value": st.integers(0, 9), "column_index": st.sampled_from([_ABSENT, None, 0, 1, -1, 5]),
               "column_list": st.sampled_from([["a"], ["a", "b"], ["b", "a"], ["a", "b", "c"], []]),
               "column_set": st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)),
               "exact_match": st.sampled_from([_ABSENT, True, False, None])}
    if kind in ("expect_column_value_lengths_to_be_between", "expect_table_row_count_to_be_between"):
        options["min_value"] = options["max_value"] = st.one_of(st.none(), st.integers(0, 6))
    drawn = {name: options[name] for name in fields if name in options}
    if kind == "expect_table_columns_to_match_ordered_list":
        drawn["column_list"] = st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
    required = {k: drawn.pop(k) for k in ("column", "value_set", "type_", "value", "min_value", "max_value")
                if k in drawn}
    if kind == "expect_compound_columns_to_be_unique":
        required["column_list"] = drawn.pop("column_list")
    return st.fixed_dictionaries(required, optional=drawn).map(
        lambda d: {k: v for k, v in d.items() if v is not _ABSENT})


_EXPECTATIONS = st.sampled_from(sorted(EVALUATORS)).flatmap(
    lambda kind: _kwargs_for(kind).map(lambda kwargs: {"type": kind, "kwargs": kwargs}))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _values(failure) -> set[str]:
    return {repr(plain_value(v)) for v in failure.unexpected_values}


_NUMERIC_TYPES = sorted(k for k in EVALUATORS if k.endswith("_to_be_between") and "length" not in k)
_NUMERIC_EXPECTATIONS = st.sampled_from(_NUMERIC_TYPES).flatmap(
    lambda kind: _kwargs_for(kind).map(lambda kwargs: {"type": kind, "kwargs": kwargs}))


@settings(max_examples=EXAMPLES, deadline=None)
@given(df=frames(), expectation=_EXPECTATIONS)
def test_native_and_gx_record_the_same_result(df: pd.DataFrame, expectation: dict) -> None:
    _compare(df, expectation)


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(df=frames(("float", "int")), expectation=_NUMERIC_EXPECTATIONS)
def test_numeric_bounds_agree(df: pd.DataFrame, expectation: dict) -> None:
    """Between and the aggregates on int64 / float64 columns (NaN, ±inf, huge ints), most often run."""
    _compare(df, expectation)


def _compare(df: pd.DataFrame, expectation: dict) -> None:
    suite = {"name": "diff", "expectations": [expectation]}
    native = validate_frame(df, suite, engine="native")
    routed = [f for f in native.failures if f.exception and f.exception.startswith("not evaluated natively")]
    SEEN["examples"] += 1
    if routed:
        SEEN["routed to GX"] += 1
        event(f"routed: {expectation['type']}: {routed[0].exception.split('(', 1)[1].split(')')[0]}")
        return
    gx = validate_frame(df, suite, engine="gx")
    SEEN["compared"] += 1
    event(f"compared: {expectation['type']}")
    assert native.statistics["engines"] == {"native": 1, "gx": 0}
    assert native.success == gx.success, (native.failures, gx.failures)
    if native.success:
        return
    (mine,), (theirs,) = native.failures, gx.failures
    assert mine.exception == theirs.exception
    assert mine.kwargs == theirs.kwargs
    assert mine.unexpected_count == theirs.unexpected_count
    assert _same(mine.unexpected_percent, theirs.unexpected_percent)
    assert _values(mine) == _values(theirs)
    assert _same(mine.observed_value, theirs.observed_value)


def test_the_examples_were_counted() -> None:
    """Runs after the property test: most generated cases were compared, not routed."""
    if not SEEN["examples"]:
        pytest.skip("the property test did not run in this session")
    print(f"\nnative vs GX: {SEEN['examples']} examples, {SEEN['compared']} compared, "
          f"{SEEN['routed to GX']} routed to GX")
    assert SEEN["compared"] >= SEEN["examples"] * 2 // 5


def test_the_argument_lists_are_gx_s_own() -> None:
    """Each native type declares exactly the arguments GX's model of it has (so an extra one is
    reported as GX reports it)."""
    from great_expectations.expectations.registry import get_expectation_impl

    from pipetest_nb.validation.expectations.native import BASE_FIELDS

    for kind, (_, fields) in EVALUATORS.items():
        assert set(get_expectation_impl(kind).__fields__) - BASE_FIELDS == set(fields), kind


def test_huge_ints_compare_as_gx_compares_them() -> None:
    """Bounds become floats as in GX's model, so 2**63 - 1 against a float bound agrees."""
    df = pd.DataFrame({"a": np.array([2**63 - 1, 2**53 + 1, 0], dtype="int64")})
    suite = {"name": "huge", "expectations": [{"type": "expect_column_values_to_be_between",
                                               "kwargs": {"column": "a", "max_value": 2**53}}]}
    native, gx = validate_frame(df, suite, engine="native"), validate_frame(df, suite, engine="gx")
    assert native.success == gx.success
    assert [f.to_dict() for f in native.failures] == [f.to_dict() for f in gx.failures]
