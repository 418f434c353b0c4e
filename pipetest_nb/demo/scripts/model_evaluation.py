"""Score the test split and the calibration split with the trained model.

Writes ``metrics.json`` (AUC, log loss, accuracy per split, and the expected calibration error on
the calibration split) and a predictions table ``predictions/eval_predictions.parquet``.
"""

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd


def load(folder: Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(next((folder / split).glob("*_processed_data.parquet")))


def calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probs, edges) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(labels[mask].mean() - probs[mask].mean())
    return float(error)


def main(input_paths, output_paths, environ_vars, job_args):
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    label, id_field = environ_vars["LABEL_FIELD"], environ_vars["ID_FIELD"]
    model_dir = Path(input_paths["model_input"])
    model = pickle.loads((model_dir / "model.pkl").read_bytes())
    features = json.loads((model_dir / "feature_columns.json").read_text())
    frames = {"test": load(Path(input_paths["eval_data"]), "test"),
              "calibration": load(Path(input_paths["calibration_data"]), "calibration")}
    metrics, predictions = {}, []
    for split, frame in frames.items():
        probs = model.predict_proba(frame[features])[:, 1]
        labels = frame[label].to_numpy()
        metrics[split] = {"rows": len(frame), "auc": float(roc_auc_score(labels, probs)),
                          "log_loss": float(log_loss(labels, probs)),
                          "accuracy": float(accuracy_score(labels, probs >= 0.5))}
        predictions.append(pd.DataFrame({id_field: frame[id_field], "split": split, label: labels,
                                         "prob_churn": probs}))
    metrics["calibration"]["expected_calibration_error"] = calibration_error(
        predictions[1][label].to_numpy(), predictions[1]["prob_churn"].to_numpy())
    out = Path(output_paths["metrics_output"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    table = Path(output_paths["eval_output"]) / "predictions"
    table.mkdir(parents=True, exist_ok=True)
    pd.concat(predictions, ignore_index=True).to_parquet(table / "eval_predictions.parquet", index=False)
    print(f"job_type={job_args.job_type}: test AUC {metrics['test']['auc']:.3f}, "
          f"calibration ECE {metrics['calibration']['expected_calibration_error']:.3f}")
