"""Drafting a starter suite from data: what one run's table looked like, to be edited into what it must be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import PipetestError, SuiteError
from pipetest_nb.validation.expectations.checks import jsonable

if TYPE_CHECKING:
    import pandas as pd

LOW_CARDINALITY = 10  # suite_from_frame drafts a value set for columns with at most this many values


def _type_name(dtype: Any) -> str:
    """The ``type_`` GX observes for a pandas dtype."""
    text = str(dtype)
    return "CategoricalDtypeType" if text == "category" else text


def suite_from_frame(df: pd.DataFrame, name: str) -> dict[str, Any]:
    """Draft a starter suite from a DataFrame: columns, types, not-null, small value sets, ranges.

    It describes the data as it is; edit it into what the data must be.
    """
    import pandas as pd

    expectations: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]
    notes: list[str] = []

    def add(kind: str, **kwargs: Any) -> None:
        expectations.append({"type": kind, "kwargs": jsonable(kwargs)})

    for column in df.columns:
        series = df[column]
        col = str(column)
        add("expect_column_to_exist", column=col)
        add("expect_column_values_to_be_of_type", column=col, type_=_type_name(series.dtype))
        non_null = series.dropna()
        if len(non_null) == len(series) and len(series):
            add("expect_column_values_to_not_be_null", column=col)
        if non_null.empty:
            continue
        is_bool = pd.api.types.is_bool_dtype(series)
        is_number = pd.api.types.is_numeric_dtype(series) and not is_bool
        values = non_null.unique()
        if (len(values) <= LOW_CARDINALITY and not pd.api.types.is_float_dtype(series)
                and not pd.api.types.is_datetime64_any_dtype(series)
                and (not is_number or len(values) * 5 <= len(non_null))):
            add("expect_column_values_to_be_in_set", column=col, value_set=sorted(jsonable(list(values)), key=str))
        elif is_number:
            _add_finite_range(add, col, non_null, notes)
        elif pd.api.types.is_datetime64_any_dtype(series):
            add("expect_column_values_to_be_between", column=col, min_value=non_null.min().isoformat(),
                max_value=non_null.max().isoformat())
    return {"name": name, "expectations": expectations,
            "meta": {"drafted_by": "pipetest", "drafted_from_rows": len(df), **({"excluded": notes} if notes else {})},
            "notes": "Drafted from one run's data: it describes what the data was, edit it into what it must be."}


def _add_finite_range(add: Any, column: str, values: pd.Series, notes: list[str]) -> None:
    """A range between the smallest and largest finite values: +inf and -inf stay outside it (an open
    bound would accept them), and the values left out are said in the suite's meta."""
    import numpy as np

    finite = values[np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))]
    left_out = len(values) - len(finite)
    if left_out:
        notes.append(f"column '{column}': {left_out} infinite value(s) left out of the drafted range")
    if finite.empty:
        return
    add("expect_column_values_to_be_between", column=column, min_value=finite.min(), max_value=finite.max())


def write_suite(suite: dict[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a suite as indented JSON; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SuiteError(str(path), "the file exists; pass overwrite=True (--force) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite, indent=2) + "\n")
    return path


def draft_suite(run_dir: str | Path, target: str, *, table: str | None = None, name: str | None = None,
                ) -> dict[str, Any]:
    """Draft a suite from the output ``STEP.OUTPUT`` of a run (every table, or those matching ``table``)."""
    from pipetest_nb.validation.artifacts import frame

    if "." not in target:
        raise PipetestError(f"'{target}' is not STEP.OUTPUT (for example load.raw_data)")
    step, output = target.split(".", 1)
    folder = Path(run_dir) / "steps" / step / "outputs" / output
    if not folder.is_dir():
        known = sorted(p.name for p in (Path(run_dir) / "steps" / step / "outputs").glob("*"))
        raise PipetestError(f"no output folder {folder}" + (f"; outputs of '{step}': {', '.join(known)}" if known
                                                             else f"; is {run_dir} a run folder with step '{step}'?"))
    return suite_from_frame(frame(folder, table or "**"), name or target)



DRAFT_FORMATS = (".parquet", ".pq", ".csv", ".tsv")


def draft_from_data(path: str | Path, name: str, *, table: str | None = None) -> dict[str, Any]:
    """Draft a suite from data at hand, before any run: a .parquet or .csv file, or a folder of tables."""
    import pandas as pd

    from pipetest_nb.validation.artifacts import frame

    path = Path(path)
    if path.is_dir():
        return suite_from_frame(frame(path, table or "**"), name)
    if not path.is_file():
        raise PipetestError(f"--from {path}: no such file or folder; give a .parquet or .csv file, or a folder of them")
    suffix = path.suffix.lower()
    if suffix not in DRAFT_FORMATS:
        raise PipetestError(f"--from {path}: cannot read '{suffix or path.name}' files; give one of "
                            f"{', '.join(DRAFT_FORMATS)}, or a folder of them")
    try:
        df = pd.read_parquet(path) if suffix in (".parquet", ".pq") else pd.read_csv(
            path, sep="\t" if suffix == ".tsv" else ",")
    except Exception as exc:  # noqa: BLE001 - any reader error is a bad file, said with its name
        raise PipetestError(f"--from {path}: cannot be read as {suffix[1:]}: {type(exc).__name__}: {exc}") from None
    return suite_from_frame(df, name)


def draft_command(suite: str, source: str, target: str | Path, *, run: str | None = None,
                  workspace: str | None = None) -> str:
    """The ``pipetest expectations draft`` command that writes the missing suite ``suite`` of ``source``
    (``STEP.OUTPUT``) to ``target``: from ``run`` when one wrote it, else from a data file the user has."""
    import shlex

    out = shlex.quote(str(target))
    if run is None:
        return f"pipetest expectations draft --from DATA.parquet --name {shlex.quote(suite)} -o {out}"
    where = f" --workspace {shlex.quote(workspace)}" if workspace else ""
    return f"pipetest expectations draft {run} {source}{where} --name {shlex.quote(suite)} -o {out}"
