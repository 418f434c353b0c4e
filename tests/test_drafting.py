"""Drafted suites: what one table looked like, with numeric ranges that never admit +inf or -inf."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipetest_nb.validation.expectations.checks import validate_frame
from pipetest_nb.validation.expectations.drafting import suite_from_frame


def test_a_drafted_range_is_finite_and_rejects_infinities():
    drafted = pd.DataFrame({"score": [0.5, 1.5, np.inf, 2.5, 1.0, 0.7, 0.9]})
    suite = suite_from_frame(drafted, "scores")
    between = [e["kwargs"] for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_between"
               and e["kwargs"].get("column") == "score"]
    assert between == [{"column": "score", "min_value": 0.5, "max_value": 2.5}]
    later = pd.DataFrame({"score": [1.0, np.inf, -np.inf, 2.0]})
    check = validate_frame(later, suite)
    assert not check.success
    assert [f.type for f in check.failures] == ["expect_column_values_to_be_between"]
    assert check.failures[0].unexpected_count == 2
