"""Generate the raw customer table (deterministic, no download) as parquet shards ``part-*.parquet``.

A churn-style table: numeric and categorical features with some missing values, and a label that
depends on them, so that the model downstream has something to learn.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west", "central"]
PLANS = ["basic", "standard", "premium"]
PAYMENTS = ["card", "bank_transfer", "direct_debit", "cash"]


def make_table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(42, 12, rows).clip(18, 90).round()
    income = rng.lognormal(10.8, 0.45, rows).round(-2)
    tenure = rng.integers(1, 120, rows)
    products = rng.integers(1, 6, rows)
    region = rng.choice(REGIONS, rows, p=[0.25, 0.25, 0.2, 0.2, 0.1])
    plan = rng.choice(PLANS, rows, p=[0.5, 0.3, 0.2])
    payment = rng.choice(PAYMENTS, rows, p=[0.4, 0.25, 0.25, 0.1])
    charges = (20 + 15 * products + np.select([plan == "standard", plan == "premium"], [20, 45], 0)
               + rng.normal(0, 8, rows)).round(2)
    score = (-1.2 - 0.025 * tenure + 0.03 * (charges - 70) + 0.9 * (payment == "cash")
             + 0.6 * (region == "south") - 0.5 * (plan == "premium") - 0.2 * (products - 3)
             + 0.01 * (age - 42) + rng.normal(0, 0.4, rows))
    label = (rng.random(rows) < 1 / (1 + np.exp(-score))).astype("int64")
    frame = pd.DataFrame({
        "customer_id": np.arange(100_000, 100_000 + rows, dtype="int64"),
        "age": age,
        "annual_income": income,
        "tenure_months": tenure.astype("int64"),
        "num_products": products.astype("int64"),
        "monthly_charges": charges,
        "region": region,
        "plan_type": plan,
        "payment_method": payment,
        "is_churn": label,
    })
    for column, share in (("age", 0.03), ("annual_income", 0.04), ("region", 0.08), ("payment_method", 0.02)):
        frame.loc[rng.random(rows) < share, column] = None
    return frame


def main(input_paths, output_paths, environ_vars, job_args):
    rows = int(environ_vars.get("ROWS", os.environ.get("ROWS", "4000")))
    seed = int(environ_vars.get("SEED", "42"))
    shards = int(environ_vars.get("SHARDS", "2"))
    frame = make_table(rows, seed)
    out = Path(output_paths["DATA"])
    out.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(rows), shards)):
        frame.iloc[part].to_parquet(out / f"part-{i:05d}.parquet", index=False)
    print(f"wrote {rows} rows in {shards} shards; churn rate {frame['is_churn'].mean():.3f}")
