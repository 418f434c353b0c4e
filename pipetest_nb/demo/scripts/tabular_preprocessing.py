"""Split the raw shards into train/val/test, plus a calibration split for the calibration branch.

Output layout (Cursus): ``processed_data/<split>/<split>_processed_data.parquet`` for train, val and
test; ``calibration_data/calibration/calibration_processed_data.parquet``.
"""

from pathlib import Path

import numpy as np
import pandas as pd


def write_split(folder: Path, split: str, frame: pd.DataFrame) -> None:
    (folder / split).mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / split / f"{split}_processed_data.parquet", index=False)


def main(input_paths, output_paths, environ_vars, job_args):
    shards = sorted(Path(input_paths["DATA"]).glob("part-*"))
    frame = pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True)
    label = environ_vars["LABEL_FIELD"]
    frame = frame[frame[label].notna()].reset_index(drop=True)
    frame[label] = frame[label].astype("int64")

    train_ratio = float(environ_vars.get("TRAIN_RATIO", "0.6"))
    calibration_ratio = float(environ_vars.get("CALIBRATION_RATIO", "0.1"))
    rng = np.random.default_rng(int(environ_vars.get("SEED", "7")))
    order = rng.permutation(len(frame))
    n_train, n_cal = int(len(frame) * train_ratio), int(len(frame) * calibration_ratio)
    n_val = (len(frame) - n_train - n_cal) // 2
    cuts = np.cumsum([n_train, n_val, n_val])
    parts = dict(zip(["train", "val", "test", "calibration"], np.split(order, cuts), strict=True))

    out = Path(output_paths["processed_data"])
    for split in ("train", "val", "test"):
        write_split(out, split, frame.iloc[parts[split]])
    write_split(Path(output_paths["calibration_data"]), "calibration", frame.iloc[parts["calibration"]])
    print(f"job_type={job_args.job_type}: " + ", ".join(f"{k}={len(v)}" for k, v in parts.items()))
