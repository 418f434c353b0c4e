"""The one place that imports and calls Great Expectations: lazily, once per process, quietly.

GX is imported the first time a suite runs, with one ephemeral in-memory context, progress bars and
INFO logging off, the host's warnings handling left as it was, and DataFrame fingerprinting off (GX
hashes every frame under ``HASH_THRESHOLD`` bytes, a private constant pinned by a test). A run that
will need GX starts that import in a background thread when it is created (``warmup.prepare``), so
that the first edge check does not wait about 3 s for it.
"""

from __future__ import annotations

import contextlib
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
    _create_lock = threading.Lock()  # held while GX is set up: a caller of get() waits for the thread
    _start_lock = threading.Lock()
    _importing: threading.Thread | None = None
    #: Why the background import failed, if it did; get() then sets GX up in its caller, and an error
    #: there is raised from this one.
    background_error: BaseException | None = None

    @classmethod
    def get(cls) -> GX:
        """The process's GX, set up on first use (or by the background import, waited for here)."""
        with cls._create_lock:
            if cls._instance is None:
                try:
                    cls._instance = cls()
                except Exception as exc:
                    if cls.background_error is None:
                        raise
                    raise exc from cls.background_error
                cls.background_error = None
            return cls._instance

    @classmethod
    def ready(cls) -> bool:
        """Whether GX is set up in this process (without waiting for a background import)."""
        return cls._instance is not None

    @classmethod
    def import_in_background(cls) -> threading.Thread | None:
        """Set GX up in a daemon thread; the thread, or None when GX is set up already or a thread is at it.

        Import what the main thread may look up in ``sys.modules`` without importing it (pandas, for
        plotly) before calling this: the thread leaves each module half-imported there for a while."""
        with cls._start_lock:
            if cls._instance is not None or (cls._importing is not None and cls._importing.is_alive()):
                return None
            cls._importing = threading.Thread(target=cls._import, name="pipetest-gx-import", daemon=True)
            cls._importing.start()
            return cls._importing

    @classmethod
    def _import(cls) -> None:
        try:
            cls.get()
        except BaseException as exc:  # kept for get(): a thread's traceback would go to stderr unasked
            cls.background_error = exc

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        for name in ("great_expectations", "great_expectations.data_context.types.base"):
            logging.getLogger(name).setLevel(logging.WARNING)  # before the import: it logs while importing
        with _quiet_import():
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


@contextlib.contextmanager
def _quiet_import() -> Any:
    """Ignore warnings from GX's modules while it imports, and undo its ``logging.captureWarnings(True)``.

    One filter is added and removed, rather than the whole warnings state swapped as
    ``warnings.catch_warnings`` does: the import may run in a thread while the main thread runs a
    step, and two threads swapping that state can leave either one's filters in place."""
    showwarning = warnings.showwarning
    warnings.filterwarnings("ignore", module=r"great_expectations(\.|$)")
    added_to, entry = warnings.filters, warnings.filters[0]
    try:
        yield
    finally:  # from the list it went into, which a catch_warnings() meanwhile may restore, and the current one
        for filters in (added_to, warnings.filters):
            with contextlib.suppress(ValueError):
                filters.remove(entry)
        if warnings.showwarning is not showwarning:  # GX called logging.captureWarnings(True)
            logging.captureWarnings(False)


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

