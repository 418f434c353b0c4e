"""Write a JSON profile of the raw table."""

import json
from pathlib import Path

import pandas as pd


def main(input_paths, output_paths, environ_vars, job_args):
    frame = pd.read_parquet(Path(input_paths["DATA"]))
    out = Path(output_paths["profile"])
    out.mkdir(parents=True, exist_ok=True)
    profile = {"rows": len(frame), "columns": list(frame.columns),
               "null_counts": {c: int(n) for c, n in frame.isna().sum().items()}}
    (out / "profile.json").write_text(json.dumps(profile, indent=2))
