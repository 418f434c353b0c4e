"""Generate a deterministic churn table (no download)."""

import os
from pathlib import Path

import numpy as np
import pandas as pd


def main(input_paths, output_paths, environ_vars, job_args):
    rows = int(environ_vars.get("ROWS", "2000"))
    rng = np.random.default_rng(int(environ_vars.get("SEED", "7")))
    tenure = rng.integers(0, 72, rows)
    charges = rng.normal(70, 20, rows).round(2)
    churn_score = 0.04 * charges - 0.05 * tenure + rng.normal(0, 1, rows)
    frame = pd.DataFrame({
        "customer_id": np.arange(rows, dtype="int64"),
        "tenure": tenure.astype("int64"),
        "monthly_charges": charges,
        "contract": rng.choice(["monthly", "yearly", "two-year"], rows),
        "churned": (churn_score > 1.0).astype("int64"),
    })
    out = Path(output_paths["raw_data"])
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / "raw.parquet", index=False)
    print(f"wrote {rows} rows to {out}", flush=True)


if __name__ == "__main__":
    main({}, {"raw_data": os.environ.get("OUTPUT_RAW_DATA", "raw_data")}, dict(os.environ), None)
