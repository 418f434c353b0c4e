"""Fit a tiny logistic-style baseline with numpy (no extra dependency)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["tenure", "monthly_charges"]


def main(input_paths, output_paths, environ_vars, job_args):
    label = environ_vars["LABEL_FIELD"]
    train = pd.read_parquet(Path(input_paths["DATA"]) / "train")
    x = train[FEATURES].to_numpy(dtype=float)
    mean, std = x.mean(axis=0), x.std(axis=0)
    x = (x - mean) / std
    y = train[label].to_numpy(dtype=float)
    weights, bias = np.zeros(x.shape[1]), 0.0
    for _ in range(300):
        p = 1 / (1 + np.exp(-(x @ weights + bias)))
        weights -= 0.5 * x.T @ (p - y) / len(y)
        bias -= 0.5 * float(np.mean(p - y))
    out = Path(output_paths["model"])
    out.mkdir(parents=True, exist_ok=True)
    model = {"features": FEATURES, "mean": mean.tolist(), "std": std.tolist(),
             "weights": weights.tolist(), "bias": bias}
    (out / "model.json").write_text(json.dumps(model))
