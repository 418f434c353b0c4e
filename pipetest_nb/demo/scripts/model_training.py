"""Train a gradient-boosting classifier on the encoded train split; report validation AUC.

Writes ``model.pkl`` (the fitted scikit-learn model), ``feature_columns.json`` and
``hyperparameters.json`` into the ``model_output`` folder.
"""

import json
import pickle
from pathlib import Path

import pandas as pd


def load(folder: Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(next((folder / split).glob("*_processed_data.parquet")))


def main(input_paths, output_paths, environ_vars, job_args):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    label, id_field = environ_vars["LABEL_FIELD"], environ_vars["ID_FIELD"]
    data = Path(input_paths["input_data"])
    train, val = load(data, "train"), load(data, "val")
    features = [c for c in train.columns if c not in (label, id_field)]
    params = {"n_estimators": int(environ_vars.get("N_ESTIMATORS", "100")),
              "max_depth": int(environ_vars.get("MAX_DEPTH", "3")),
              "learning_rate": float(environ_vars.get("LEARNING_RATE", "0.1")), "random_state": 0}
    model = GradientBoostingClassifier(**params).fit(train[features], train[label])
    auc = roc_auc_score(val[label], model.predict_proba(val[features])[:, 1])
    out = Path(output_paths["model_output"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.pkl").write_bytes(pickle.dumps(model))
    (out / "feature_columns.json").write_text(json.dumps(features))
    (out / "hyperparameters.json").write_text(json.dumps(params))
    print(f"trained on {len(train)} rows, {len(features)} features; validation AUC {auc:.3f}")
