"""Fill missing values (BROKEN VARIANT: silently drops a column).

Same as ``scripts/missing_value_imputation.py``, plus a "clean-up" that drops every column with more
than 5% missing values in train instead of imputing it. ``region`` (about 8% missing) disappears
without a word; the expectation suite on the edge into risk-table mapping catches it, and the
risk-table step then raises ``KeyError: 'region'``. The fix: delete the clean-up in ``fit``.
"""

import json
from pathlib import Path

import pandas as pd

MAX_MISSING_RATIO = 0.05


def read_splits(folder: Path) -> dict[str, pd.DataFrame]:
    return {d.name: pd.read_parquet(next(d.glob("*_processed_data.parquet")))
            for d in sorted(folder.iterdir()) if d.is_dir()}


def fit(train: pd.DataFrame, skip: set[str], strategy: str, fill: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for column in train.columns:
        if column in skip:
            continue
        if train[column].isna().mean() > MAX_MISSING_RATIO:  # the bug: "too sparse to impute"
            values[column] = "__drop__"
        elif pd.api.types.is_numeric_dtype(train[column]):
            values[column] = float(train[column].median() if strategy == "median" else train[column].mean())
        else:
            values[column] = fill if fill else str(train[column].mode().iloc[0])
    return values


def apply(frames: dict[str, pd.DataFrame], values: dict[str, object], out: Path) -> None:
    dropped = [c for c, v in values.items() if v == "__drop__"]
    for split, frame in frames.items():
        frame = frame.drop(columns=dropped).fillna(
            {c: v for c, v in values.items() if c in frame.columns and c not in dropped})
        (out / split).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out / split / f"{split}_processed_data.parquet", index=False)


def main(input_paths, output_paths, environ_vars, job_args):
    skip = {environ_vars["LABEL_FIELD"], environ_vars.get("ID_FIELD", "")}
    splits = read_splits(Path(input_paths["input_data"]))
    values = fit(splits["train"], skip, environ_vars.get("NUMERICAL_STRATEGY", "median"),
                 environ_vars.get("CATEGORICAL_FILL", ""))
    apply(splits, values, Path(output_paths["processed_data"]))
    apply(read_splits(Path(input_paths["calibration_data"])), values, Path(output_paths["calibration_data"]))
    params = Path(output_paths["imputation_params"])
    params.mkdir(parents=True, exist_ok=True)
    (params / "impute_dict.json").write_text(json.dumps(values, indent=1))
    print(f"job_type={job_args.job_type}: imputed {len(values)} columns")
