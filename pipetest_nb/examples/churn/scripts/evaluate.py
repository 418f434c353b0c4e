"""Score the test split and write accuracy to metrics.json."""

import json
from pathlib import Path

import numpy as np
import pandas as pd


def main(input_paths, output_paths, environ_vars, job_args):
    model = json.loads((Path(input_paths["model"]) / "model.json").read_text())
    test = pd.read_parquet(Path(input_paths["DATA"]) / "test")
    x = (test[model["features"]].to_numpy(dtype=float) - model["mean"]) / np.array(model["std"])
    predicted = (x @ np.array(model["weights"]) + model["bias"]) > 0
    accuracy = float(np.mean(predicted == test[environ_vars["LABEL_FIELD"]].to_numpy().astype(bool)))
    out = Path(output_paths["metrics"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "rows": len(test)}))
    print(f"accuracy={accuracy:.3f}")
