"""Fill missing values: fit on the train split, save the fill values, apply them to every split.

Numbers get the train median, categories the train mode (or a constant). The artifact
``impute_dict.json`` is what a calibration or inference job would load to impute the same way.
"""

import json
from pathlib import Path

import pandas as pd


def read_splits(folder: Path) -> dict[str, pd.DataFrame]:
    return {d.name: pd.read_parquet(next(d.glob("*_processed_data.parquet")))
            for d in sorted(folder.iterdir()) if d.is_dir()}


def fit(train: pd.DataFrame, skip: set[str], strategy: str, fill: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for column in train.columns:
        if column in skip:
            continue
        if pd.api.types.is_numeric_dtype(train[column]):
            values[column] = float(train[column].median() if strategy == "median" else train[column].mean())
        else:
            values[column] = fill if fill else str(train[column].mode().iloc[0])
    return values


def apply(frames: dict[str, pd.DataFrame], values: dict[str, object], out: Path) -> None:
    for split, frame in frames.items():
        frame = frame.fillna({c: v for c, v in values.items() if c in frame.columns})
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
