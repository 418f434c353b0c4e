"""Generated pipelines shaped like real ones: a few wide layers, long step names, skip edges.

Shared by the graph's layout tests and its benchmark. The same ``n`` always gives the same pipeline.
"""

from __future__ import annotations

import math
import random
from typing import Any

_WORDS = ("ingest_events", "load_customers", "missing_value_imputation", "risk_table_mapping",
          "tabular_preprocessing", "feature_selection", "currency_conversion", "label_ruleset_generation",
          "xgboost_training", "model_calibration", "batch_transform", "model_metrics_computation",
          "stratified_sampling", "payload_generation", "percentile_model_calibration", "dedupe_accounts",
          "join_transactions", "train_test_split", "package_model", "register_model")


def layered_spec(n: int, seed: int | None = None) -> dict[str, Any]:
    """A pipeline file's dict with ``n`` steps in about sqrt(n) layers; every step but the first layer
    reads one to three outputs of earlier layers, mostly the previous one."""
    rng = random.Random(n if seed is None else seed)
    width = max(1, round(math.sqrt(n) * 0.8))
    names = [f"{_WORDS[i % len(_WORDS)]}{'' if i < len(_WORDS) else f'_{i // len(_WORDS) + 1}'}"
             for i in range(n)]
    layers: list[list[str]] = []
    i = 0
    while i < n:
        take = 1 if not layers else min(n - i, rng.randint(math.ceil(width / 2), width))
        layers.append(names[i:i + take])
        i += take
    steps: dict[str, Any] = {}
    for depth, layer in enumerate(layers):
        for name in layer:
            inputs = {}
            if depth:
                sources = {rng.choice(layers[depth - 1])}
                for _ in range(rng.randint(0, 2)):
                    sources.add(rng.choice(layers[rng.randint(max(0, depth - 3), depth - 1)]))
                inputs = {f"IN{k}": f"{s}.out" for k, s in enumerate(sorted(sources))}
            steps[name] = {"script": "s.py", "outputs": {"out": {}}, "inputs": inputs}
    return {"name": f"generated_{n}", "steps": steps}
