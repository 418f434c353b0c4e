"""The one place that imports and calls Great Expectations: lazily, once per process, quietly.

GX is imported the first time a suite runs or a suite file is checked, with one ephemeral in-memory
context, progress bars and INFO logging off, the host's warnings handling left as it was, and
DataFrame fingerprinting off (GX hashes every frame under ``HASH_THRESHOLD`` bytes, a private
constant pinned by a test).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class GX:
    """The one place that imports and calls Great Expectations; one per process."""

    _instance: GX | None = None
    _create_lock = threading.Lock()

    @classmethod
    def get(cls) -> GX:
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        for name in ("great_expectations", "great_expectations.data_context.types.base"):
            logging.getLogger(name).setLevel(logging.WARNING)  # before the import: it logs while importing
        showwarning = warnings.showwarning
        with warnings.catch_warnings():  # silences import-time warnings; restores warnings.showwarning
            warnings.simplefilter("ignore")
            try:
                import great_expectations as gx
                import great_expectations.execution_engine.pandas_execution_engine as engine
                from great_expectations.data_context.types.base import (
                    DataContextConfig,
                    InMemoryStoreBackendDefaults,
                    ProgressBarsConfig,
                )

                engine.HASH_THRESHOLD = 0  # fingerprinting a frame costs more than validating it
                config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                                           progress_bars=ProgressBarsConfig(globally=False))
                self.context = gx.get_context(mode="ephemeral", project_config=config)
                asset = self.context.data_sources.add_pandas("pipetest").add_dataframe_asset("frame")
                self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
            finally:
                if warnings.showwarning is not showwarning:  # GX called logging.captureWarnings(True)
                    logging.captureWarnings(False)
        self._suites: dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def build_problem(expectation: Any) -> str | None:
        """Why GX cannot build this expectation dict, or None when it can."""
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        if not isinstance(expectation, dict):
            return "an expectation is a JSON object with 'type' and 'kwargs'"
        try:
            ExpectationConfiguration(**clean(expectation)).to_domain_obj()
        except Exception as exc:
            return _pydantic_text(exc)
        return None

    def run(self, expectations: list[dict[str, Any]], df: pd.DataFrame, result_format: str) -> Any:
        """Validate ``df`` with GX's own validator (what ``ValidationDefinition.run`` calls), without
        its freshness checks and without keeping every result in the context's store."""
        from great_expectations import ExpectationSuite
        from great_expectations.validator.v1_validator import Validator

        key = hashlib.sha1(json.dumps(expectations, sort_keys=True, default=str).encode()).hexdigest()[:16]
        with self._lock:
            suite = self._suites.get(key)
            if suite is None:
                suite = self._suites[key] = ExpectationSuite(name=f"pipetest-{key}", expectations=expectations)
            validator = Validator(batch_definition=self.batch_definition, batch_parameters={"dataframe": df},
                                  result_format=result_format)
            return validator.validate_expectation_suite(suite)


def clean(expectation: dict[str, Any]) -> dict[str, Any]:
    """An expectation without the keys GX adds when it saves a suite (``id``, ``rendered_content``)."""
    return {k: v for k, v in expectation.items() if k not in ("id", "rendered_content")}


def _pydantic_text(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if len(lines) > 1 and "validation error" in lines[0]:  # pydantic: "N validation errors for X", field, reason
        reasons = [re.sub(r"\s*\(type=[^)]*\)$", "", line) for line in lines]
        pairs = [f"{lines[i]}: {reasons[i + 1]}" for i in range(1, len(lines) - 1, 2)]
        return "; ".join(pairs[:4])
    return lines[0] if lines else type(exc).__name__

