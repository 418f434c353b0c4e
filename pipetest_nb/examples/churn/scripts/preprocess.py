"""Split the raw table into train/val/test folders."""

from pathlib import Path

import numpy as np
import pandas as pd


def main(input_paths, output_paths, environ_vars, job_args):
    frame = pd.read_parquet(Path(input_paths["DATA"]))
    rng = np.random.default_rng(0)
    split = rng.choice(["train", "val", "test"], len(frame), p=[0.7, 0.15, 0.15])
    out = Path(output_paths["processed_data"])
    for name in ("train", "val", "test"):
        (out / name).mkdir(parents=True, exist_ok=True)
        frame[split == name].to_parquet(out / name / f"{name}_processed_data.parquet", index=False)
    print(f"job_type={job_args.job_type}: split {len(frame)} rows")
