"""Risk-table encoding: replace each category by the smoothed churn rate of that category.

``job_type=training`` fits the tables on the train split, saves them (``bin_mapping.pkl`` and a
readable ``risk_tables.json``) and encodes train/val/test. Any other job type (``calibration``) loads
the saved tables from its ``risk_tables`` input and encodes its one split with them.
"""

import json
import pickle
from pathlib import Path

import pandas as pd


def fit(train: pd.DataFrame, columns: list[str], label: str, smooth: float, threshold: int) -> dict:
    prior = float(train[label].mean())
    tables = {}
    for column in columns:
        stats = train.groupby(column, observed=True)[label].agg(["sum", "count"])
        risk = (stats["sum"] + smooth * prior * len(train)) / (stats["count"] + smooth * len(train))
        risk[stats["count"] < threshold] = prior
        tables[column] = {"bins": {str(k): float(v) for k, v in risk.items()}, "default_bin": prior}
    return tables


def encode(frame: pd.DataFrame, tables: dict) -> pd.DataFrame:
    frame = frame.copy()
    for column, table in tables.items():
        frame[column] = frame[column].astype(str).map(table["bins"]).fillna(table["default_bin"]).astype("float64")
    return frame


def main(input_paths, output_paths, environ_vars, job_args):
    columns = [c for c in environ_vars["CAT_FIELD_LIST"].split(",") if c]
    label = environ_vars["LABEL_FIELD"]
    source = Path(input_paths["input_data"])
    splits = {d.name: pd.read_parquet(next(d.glob("*_processed_data.parquet")))
              for d in sorted(source.iterdir()) if d.is_dir()}
    if job_args.job_type == "training":
        tables = fit(splits["train"], columns, label, float(environ_vars.get("SMOOTH_FACTOR", "0.01")),
                     int(environ_vars.get("COUNT_THRESHOLD", "5")))
        artifacts = Path(output_paths["risk_tables"])
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "bin_mapping.pkl").write_bytes(pickle.dumps(tables))
        (artifacts / "risk_tables.json").write_text(json.dumps(tables, indent=1))
    else:
        tables = pickle.loads((Path(input_paths["risk_tables"]) / "bin_mapping.pkl").read_bytes())
        splits = {job_args.job_type: splits[job_args.job_type]}
    out = Path(output_paths["processed_data"])
    for split, frame in splits.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        encode(frame, tables).to_parquet(out / split / f"{split}_processed_data.parquet", index=False)
    print(f"job_type={job_args.job_type}: encoded {', '.join(columns)} in {', '.join(splits)}")
