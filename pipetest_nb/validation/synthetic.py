"""Synthetic data for external inputs that declare a schema or have a suite: run a pipeline with no data.

Columns come from the input's ``schema`` (names and types) and from its suite. Values honour these
expectations of the suite: column exists / table columns lists, of type, between (with strict
bounds), in set, not in set, unique, not null (nothing is ever null), value lengths between / equal,
and table row count between / equal. Other expectations (regex, means, ...) are not honoured: the
edge check will say so. A seeded ``numpy`` generator makes the same data every time.

Data is written in the declared format into a folder the caller gives; an existing file is never
replaced, so the user's own data cannot be overwritten.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import SyntheticDataError
from pipetest_nb.validation.column_types import type_family
from pipetest_nb.validation.readers import detect_format

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pipetest_nb.spec.model import PipelineDAG
    from pipetest_nb.spec.parts import InputSpec

DEFAULT_ROWS = 1000
_DEFAULT_TIME_RANGE = ("2024-01-01T00:00:00", "2024-12-31T23:59:59")


def suite_for_input(dag: PipelineDAG, step: str, input_name: str) -> dict[str, Any] | None:
    """The suite describing a step's input: its edge's suite, the producer's ``<step>.<output>.json``,
    or, for external inputs, ``<step>.<input>.json``; None when there is none."""
    from pipetest_nb.validation.expectations.suites import load_suite, suite_file

    spec = dag.steps[step].inputs[input_name]
    names = []
    if spec.source:
        edge = dag.edge(spec.source, f"{step}.{input_name}")
        names += [edge.expectations] if edge and edge.expectations else []
        names.append(spec.source)
    names.append(f"{step}.{input_name}")
    for name in names:
        if suite_file(dag, name).is_file():
            return load_suite(suite_file(dag, name))
    return None


def generate_inputs(dag: PipelineDAG, dest_root: str | Path, *, rows: int | None = None, seed: int = 0,
                    ) -> dict[str, dict[str, Path]]:
    """Generate every external input that declares a schema or has a suite, under ``dest_root/<step>/<input>/``.

    Returns ``{step: {input: path to pass to the step}}``; inputs with nothing declared are left out.
    """
    out: dict[str, dict[str, Path]] = {}
    for step_name, step in dag.steps.items():
        for input_name, spec in step.inputs.items():
            if spec.source:
                continue
            suite = suite_for_input(dag, step_name, input_name)
            if spec.schema is None and suite is None:
                continue
            per_input = seed + zlib.crc32(f"{step_name}.{input_name}".encode())
            out.setdefault(step_name, {})[input_name] = generate_input(
                spec, Path(dest_root) / step_name / input_name, suite=suite, rows=rows, seed=per_input,
                step=step_name)
    return out


def generate_input(spec: InputSpec, dest: str | Path, *, suite: dict[str, Any] | None = None,
                   rows: int | None = None, seed: int = 0, step: str = "?") -> Path:
    """Write data for one input into the folder ``dest``; returns the path the step should get.

    When the input's path names a file (``data/raw.csv``) the same file name is written and its path
    returned; otherwise the folder is returned, holding ``data.<format>`` or each tabular
    ``required_files`` entry.
    """
    dest = Path(dest)
    fmt = spec.format or (detect_format(spec.path.name) if spec.path and spec.path.suffix else None) or "parquet"
    if fmt not in _WRITERS:
        raise SyntheticDataError(step, spec.name, f"cannot write format '{fmt}' (formats: {', '.join(_WRITERS)})")
    columns = _columns(spec, suite)
    if not columns:
        raise SyntheticDataError(step, spec.name, "no columns declared: give schema.required_columns or "
                                                  "column_types, or a suite with expect_column_to_exist")
    count = rows if rows is not None else (spec.schema.rows if spec.schema and spec.schema.rows is not None
                                           else DEFAULT_ROWS)
    df = generate_frame(columns, suite, rows=count, seed=seed, where=(step, spec.name))
    is_file = bool(spec.path and spec.path.suffix and detect_format(spec.path.name) != "binary")
    if is_file:
        targets = [dest / spec.path.name]  # type: ignore[union-attr]
    else:
        tabular = [f for f in spec.required_files if detect_format(f) in _WRITERS]
        targets = [dest / f for f in tabular] or [dest / f"data.{_EXTENSIONS.get(fmt, fmt)}"]
    user_path = spec.path.resolve() if spec.path else None
    for target in targets:
        if target.exists() or (user_path is not None and target.resolve() == user_path):
            raise SyntheticDataError(step, spec.name, f"{target} exists; synthetic data never replaces a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        _WRITERS[fmt](df, target)
    return targets[0] if is_file else dest


_EXTENSIONS = {"csv.gz": "csv.gz"}
_WRITERS = {
    "parquet": lambda df, p: df.to_parquet(p, index=False),
    "csv": lambda df, p: df.to_csv(p, index=False),
    "tsv": lambda df, p: df.to_csv(p, index=False, sep="\t"),
    "csv.gz": lambda df, p: df.to_csv(p, index=False, compression="gzip"),
    "json": lambda df, p: df.to_json(p, orient="records", date_format="iso"),
    "jsonl": lambda df, p: df.to_json(p, orient="records", lines=True, date_format="iso"),
}


def _columns(spec: InputSpec, suite: dict[str, Any] | None) -> dict[str, str | None]:
    """Column name -> declared type (None: decide from the suite), in declaration order."""
    columns: dict[str, str | None] = {}
    if spec.schema is not None:
        for name in spec.schema.columns:
            columns[name] = spec.schema.column_types.get(name)
    for exp in _expectations(suite):
        kwargs = exp["kwargs"]
        names = [kwargs.get("column")] + list(kwargs.get("column_list") or kwargs.get("column_set") or [])
        for name in names:
            if isinstance(name, str) and name not in columns:
                columns[name] = None
    return columns


def _expectations(suite: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [e for e in (suite or {}).get("expectations", [])
            if isinstance(e, dict) and isinstance(e.get("kwargs"), dict) and isinstance(e.get("type"), str)]


def _rules(suite: dict[str, Any] | None) -> tuple[dict[str, dict[str, Any]], tuple[int | None, int | None]]:
    """Per-column constraints, and the table's (min, max) row count, from a suite."""
    rules: dict[str, dict[str, Any]] = {}
    row_bounds: tuple[int | None, int | None] = (None, None)
    for exp in _expectations(suite):
        kind, kw = exp["type"], exp["kwargs"]
        if kind == "expect_table_row_count_to_equal":
            row_bounds = (kw.get("value"), kw.get("value"))
            continue
        if kind == "expect_table_row_count_to_be_between":
            row_bounds = (kw.get("min_value"), kw.get("max_value"))
            continue
        column = kw.get("column")
        if not isinstance(column, str):
            continue
        rule = rules.setdefault(column, {})
        if kind == "expect_column_values_to_be_between":
            rule.update(min=kw.get("min_value"), max=kw.get("max_value"), strict_min=kw.get("strict_min", False),
                        strict_max=kw.get("strict_max", False))
        elif kind == "expect_column_values_to_be_in_set":
            rule["in_set"] = list(kw.get("value_set") or [])
        elif kind == "expect_column_values_to_not_be_in_set":
            rule["not_in_set"] = list(kw.get("value_set") or [])
        elif kind == "expect_column_values_to_be_unique":
            rule["unique"] = True
        elif kind == "expect_column_values_to_be_of_type":
            rule["type"] = kw.get("type_")
        elif kind == "expect_column_values_to_be_in_type_list" and kw.get("type_list"):
            rule["type"] = kw["type_list"][0]
        elif kind == "expect_column_value_lengths_to_be_between":
            rule.update(min_len=kw.get("min_value"), max_len=kw.get("max_value"))
        elif kind == "expect_column_value_lengths_to_equal":
            rule.update(min_len=kw.get("value"), max_len=kw.get("value"))
    return rules, row_bounds


def _type_from_rule(rule: dict[str, Any]) -> str:
    """The column type a suite implies: its of-type expectation, else a guess from its bounds or set."""
    named = rule.get("type")
    if named in ("str", "object", "string"):
        return "string"
    if named == "CategoricalDtypeType":
        return "category"
    return named or _guess_type(rule)


def _guess_type(rule: dict[str, Any]) -> str:
    values = rule.get("in_set") or [v for v in (rule.get("min"), rule.get("max")) if v is not None]
    if any(isinstance(v, str) for v in values):
        text = [v for v in values if isinstance(v, str)]
        return "datetime64[ns]" if "in_set" not in rule and all(_is_timestamp(v) for v in text) else "string"
    if values and all(isinstance(v, bool) for v in values):
        return "bool"
    if values and all(isinstance(v, int) or (isinstance(v, float) and v.is_integer() and "in_set" not in rule)
                      for v in values):
        return "int64"
    return "float64" if values else "string"


def _is_timestamp(text: str) -> bool:
    import pandas as pd

    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        return False
    return True


def generate_frame(columns: dict[str, str | None], suite: dict[str, Any] | None = None, *, rows: int = DEFAULT_ROWS,
                   seed: int = 0, where: tuple[str, str] = ("?", "?")) -> pd.DataFrame:
    """A DataFrame with these columns (name -> type or None) whose values satisfy the suite's rules."""
    import numpy as np
    import pandas as pd

    rules, (low_rows, high_rows) = _rules(suite)
    if low_rows is not None:
        rows = max(rows, int(low_rows))
    if high_rows is not None:
        rows = min(rows, int(high_rows))
    rng = np.random.default_rng(seed)
    data = {}
    for name, declared in columns.items():
        rule = rules.get(name, {})
        try:
            data[name] = _column(rng, declared or _type_from_rule(rule), rule, rows)
        except ValueError as exc:
            raise SyntheticDataError(where[0], where[1], f"column '{name}': {exc}") from None
    return pd.DataFrame(data)


def _column(rng: np.random.Generator, type_name: str, rule: dict[str, Any], rows: int) -> Any:
    import pandas as pd

    family = type_family(type_name)
    unique = rule.get("unique", False)
    if "in_set" in rule:
        values = [v for v in rule["in_set"] if v not in rule.get("not_in_set", [])]
        if not values or (unique and len(values) < rows):
            raise ValueError(f"cannot draw {rows} {'unique ' if unique else ''}values from the set {values}")
        picked = rng.permutation(len(values))[:rows] if unique else rng.integers(0, len(values), rows)
        column = pd.Series([values[i] for i in picked])
        if family in ("integer", "float", "bool"):
            return column.astype(_numpy_type(type_name, family))
        if family in ("datetime", "date"):
            stamps = pd.to_datetime(column)
            return stamps.dt.date if family == "date" else stamps
        return pd.Categorical(column) if family == "category" else column.astype("str")
    avoid = set(rule.get("not_in_set", []))
    for _ in range(50):  # redraw the few values a not-in-set rule forbids
        column = _draw(rng, type_name, family, rule, rows, unique)
        if not avoid:
            return column
        bad = pd.Series(column).isin(avoid).to_numpy()
        if not bad.any():
            return column
        if unique:
            raise ValueError("unique values with a not-in-set rule are not supported")
    raise ValueError(f"could not avoid the values {sorted(avoid, key=str)[:5]}")


def _numpy_type(type_name: str, family: str) -> str:
    low = type_name.lower()
    if family == "integer":
        return low if low[-1].isdigit() else "int64"
    if family == "float":
        return low if low[-1].isdigit() else "float64"
    return "bool"


def _draw(rng: np.random.Generator, type_name: str, family: str, rule: dict[str, Any], rows: int,
          unique: bool) -> Any:
    import numpy as np
    import pandas as pd

    lo, hi = rule.get("min"), rule.get("max")
    if family == "integer":
        dtype = np.dtype(_numpy_type(type_name, family))
        info = np.iinfo(dtype)
        low = math.ceil(lo) + (1 if rule.get("strict_min") and float(lo).is_integer() else 0) if lo is not None \
            else max(0 if hi is None or hi >= 0 else int(hi) - 10 * rows, info.min)
        high = math.floor(hi) - (1 if rule.get("strict_max") and float(hi).is_integer() else 0) if hi is not None \
            else min(low + max(10 * rows, 1000), info.max)
        if high < low or (unique and high - low + 1 < rows):
            raise ValueError(f"cannot draw {rows} {'unique ' if unique else ''}integers in [{low}, {high}]")
        if unique:
            return (low + rng.choice(high - low + 1, size=rows, replace=False)).astype(dtype)
        return rng.integers(low, high, size=rows, endpoint=True).astype(dtype)
    if family == "float":
        low = float(lo) if lo is not None else (float(hi) - 1.0 if hi is not None else 0.0)
        high = float(hi) if hi is not None else low + 1.0
        if high < low:
            raise ValueError(f"empty range [{low}, {high}]")
        values = rng.uniform(low, high, rows)
        if rule.get("strict_min"):
            values = np.maximum(values, np.nextafter(low, np.inf))
        if rule.get("strict_max"):
            values = np.minimum(values, np.nextafter(high, -np.inf))
        return values.astype(_numpy_type(type_name, family))
    if family == "bool":
        return rng.integers(0, 2, rows).astype(bool)
    if family in ("datetime", "date"):
        start = pd.Timestamp(lo if lo is not None else _DEFAULT_TIME_RANGE[0])
        end = pd.Timestamp(hi if hi is not None else _DEFAULT_TIME_RANGE[1])
        span = int((end - start) / pd.Timedelta(seconds=1))
        if span < 0 or (unique and span + 1 < rows):
            raise ValueError(f"cannot draw {rows} {'unique ' if unique else ''}times in [{start}, {end}]")
        seconds = rng.choice(span + 1, size=rows, replace=False) if unique else rng.integers(0, span, rows,
                                                                                           endpoint=True)
        stamps = start + pd.to_timedelta(seconds, unit="s")
        if family == "date":
            return pd.Series(stamps).dt.date
        unit = type_name[type_name.find("[") + 1:type_name.find("]")].split(",")[0] if "[" in type_name else "ns"
        return pd.Series(stamps).astype(f"datetime64[{unit}]")
    return _strings(rng, rule, rows, unique, category=family == "category")


def _strings(rng: np.random.Generator, rule: dict[str, Any], rows: int, unique: bool, category: bool) -> Any:
    import numpy as np
    import pandas as pd

    min_len = int(rule.get("min_len") or 1)
    need = max(1, math.ceil(math.log(max(rows, 2), 26))) if unique else 1
    length = max(min_len, min(8, int(rule.get("max_len") or 8)), need)
    if rule.get("max_len") is not None and length > int(rule["max_len"]):
        raise ValueError(f"cannot draw {rows} unique strings of at most {rule['max_len']} characters")
    if unique:
        codes = rng.choice(26 ** need, size=rows, replace=False) if 26 ** need < 2**62 else np.arange(rows)
        letters = [_base26(int(c), need) for c in codes]
        pad = rng.integers(0, 26, (rows, length - need))
        values = [word + "".join(chr(97 + x) for x in extra) for word, extra in zip(letters, pad, strict=True)]
    else:
        codes = rng.integers(0, 26, (rows, length))
        values = ["".join(chr(97 + x) for x in row) for row in codes]
    series = pd.Series(values, dtype="str")
    return pd.Categorical(series) if category else series


def _base26(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 26)
        chars.append(chr(97 + rest))
    return "".join(reversed(chars))
