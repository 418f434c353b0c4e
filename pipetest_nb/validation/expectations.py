"""Great Expectations at the edges of a pipeline: suites per output, results as ``EdgeCheck``.

Suites are GX 1.x JSON files in ``<pipeline folder>/expectations/``. An edge names its suite
(``expectations: raw_data`` -> ``expectations/raw_data.json``), and ``<producer>.<output>.json``
applies by convention to that output, on every edge leaving it.

Great Expectations sits behind one adapter (``_GX``): it is imported the first time a suite runs,
with one ephemeral in-memory context per process, progress bars and INFO logging off, the host's
warnings handling left as it was, and DataFrame fingerprinting off (GX hashes every frame under
``HASH_THRESHOLD`` bytes, a private constant pinned by a test). Suites run through GX's v1
``Validator`` (what ``ValidationDefinition.run`` uses, minus storing every result in memory),
first with ``BOOLEAN_ONLY``; only the expectations that failed run again for their details.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState
from pipetest_nb.exceptions import PipetestError, SpecProblem, SuiteError

if TYPE_CHECKING:
    import pandas as pd

    from pipetest_nb.spec.model import PipelineDAG
    from pipetest_nb.validation.artifacts import OutputInfo

SUITES_DIR = "expectations"
MAX_UNEXPECTED_VALUES = 5
LOW_CARDINALITY = 10  # suite_from_frame drafts a value set for columns with at most this many values
# Bounds on a suite file, so that reading, checking and running it stay bounded in time: GX needs about
# 0.4 ms per value of a value_set on every table, so 2M values would hold one edge check for ~15 minutes.
MAX_SUITE_LIST = 100_000  # values in any one list (value_set, column_list, ...)
MAX_SUITE_VALUES = 1_000_000  # values in the whole file
MAX_EXPECTATIONS = 10_000
MAX_PROBLEMS_PER_SUITE = 50


#: Seconds one suite may spend on one output's tables; the tables it has not reached then fail the check.
CHECK_TIME_LIMIT = 600.0

def suites_dir(dag: PipelineDAG) -> Path:
    """Where a pipeline's suites live."""
    return dag.base_dir / SUITES_DIR


def suite_file(dag: PipelineDAG, name: str) -> Path:
    """The file of the suite ``name`` (the file stem is the suite name)."""
    return suites_dir(dag) / f"{name}.json"


def load_suite(path: str | Path) -> dict[str, Any]:
    """Read a suite file as a dict (no GX import); the name defaults to the file stem.

    Raises ``SuiteError`` naming the file, the key and the line for anything that is not a bounded
    suite: not UTF-8, a folder or device, bad JSON, too deep or too large, fields of the wrong type.
    """
    path = Path(path)
    try:
        _, data = _read_suite(path)
    except _BadSuite as exc:
        problem = exc.problem
        where = "".join([f"line {problem.line}: " if problem.line else "",
                         f"key '{problem.key}': " if problem.key else ""])
        raise SuiteError(str(path), where + problem.message) from None
    data.setdefault("name", path.stem)
    data.setdefault("expectations", [])
    return data


class _BadSuite(Exception):
    """A suite file that cannot be used at all; ``problem`` says where and why."""

    def __init__(self, problem: SpecProblem):
        super().__init__(str(problem))
        self.problem = problem


def _read_suite(path: Path) -> tuple[str, dict[str, Any]]:
    """The text and the data of a suite file, within the bounds above; raises ``_BadSuite``."""
    from pipetest_nb.spec.documents import UnreadableDocument, read_document, shape_problem

    def bad(message: str, **where: Any) -> _BadSuite:
        return _BadSuite(SpecProblem(message, file=str(path), **where))

    try:
        text = read_document(path)
    except UnreadableDocument as exc:
        raise bad(exc.reason, line=exc.line) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"suite is not valid JSON: {exc.msg}", line=exc.lineno, column=exc.colno,
                  hint="fix the JSON syntax at that position") from None
    except RecursionError:
        raise bad("values are nested too deeply") from None
    except ValueError as exc:  # a number with thousands of digits
        raise bad(f"cannot read a value: {str(exc).split(';')[0]}") from None
    found = shape_problem(data, max_nodes=MAX_SUITE_VALUES, max_list=MAX_SUITE_LIST)
    if found:
        message, key = found
        raise bad(message, key=key or None, line=_line_of_key(text, key),
                  hint="pipetest checks value sets of at most "
                       f"{MAX_SUITE_LIST} values; use a range or a pattern expectation" if "a list has" in message
                  else None)
    if not isinstance(data, dict) or not isinstance(data.get("expectations", []), list):
        raise bad("a suite is a JSON object with an 'expectations' list", line=1,
                  key="expectations" if isinstance(data, dict) else None)
    for key, kind in (("name", str), ("meta", dict)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise bad(f"'{key}' must be a {'string' if kind is str else 'JSON object'}, not {type(data[key]).__name__}",
                      key=key, line=_line_of_key(text, key))
    if len(data.get("expectations", [])) > MAX_EXPECTATIONS:
        raise bad(f"the suite has {len(data['expectations'])} expectations; the limit is {MAX_EXPECTATIONS}",
                  key="expectations", hint="split it into several suites")
    return text, data


def _line_of_key(text: str, key: str | None) -> int | None:
    """The line of the first ``"<last name in key>":`` in a suite file, for a message; None if not found."""
    names = [part for part in re.findall(r"[^.\[\]]+", key or "") if not part.isdigit()]
    found = re.search(re.escape(json.dumps(names[-1])) + r"\s*:", text) if names else None
    return text.count("\n", 0, found.start()) + 1 if found else None


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class ExpectationFailure:
    """One expectation that failed (or could not run) on one table."""

    type: str
    column: str | None
    kwargs: dict[str, Any]
    table: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_values: list[Any] = field(default_factory=list)
    observed_value: Any = None
    exception: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v not in (None, [])}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExpectationFailure:
        return cls(**{k: d.get(k) for k in ("type", "column", "kwargs", "table", "unexpected_count",
                                            "unexpected_percent", "observed_value", "exception")},
                   unexpected_values=list(d.get("unexpected_values") or []))

    def __str__(self) -> str:
        where = f"[{self.table}] " if self.table else ""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items() if k != "column")
        text = f"{where}{self.type}({self.column or ''}{', ' if self.column and args else ''}{args})"
        if self.exception:
            return f"{text}: could not run: {self.exception}"
        if self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            text += f": {self.unexpected_count} unexpected{pct}"
            if self.unexpected_values:
                text += ", e.g. " + ", ".join(repr(v) for v in self.unexpected_values)
        elif self.observed_value is not None:
            text += f": observed {self.observed_value!r}"
        return text


@dataclass
class EdgeCheck:
    """The result of one suite on one edge (or output): the graph colours the edge by ``state``."""

    edge: str
    suite: str
    suite_file: str | None
    tables: list[str]
    success: bool
    statistics: dict[str, Any]
    failures: list[ExpectationFailure] = field(default_factory=list)
    on_failure: str = "fail"
    error: str | None = None
    duration_s: float = 0.0

    @property
    def state(self) -> str:
        """passed, or on failure warned / failed as the edge's ``on_expectation_failure`` says."""
        if self.success:
            return EdgeState.PASSED
        return EdgeState.WARNED if self.on_failure == "warn" else EdgeState.FAILED

    @property
    def blocks_consumer(self) -> bool:
        return self.state == EdgeState.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {"edge": self.edge, "suite": self.suite, "suite_file": self.suite_file, "tables": list(self.tables),
                "success": self.success, "state": self.state, "statistics": dict(self.statistics),
                "failures": [f.to_dict() for f in self.failures], "on_failure": self.on_failure,
                "error": self.error, "duration_s": self.duration_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EdgeCheck:
        return cls(edge=d["edge"], suite=d["suite"], suite_file=d.get("suite_file"), tables=list(d.get("tables") or []),
                   success=d["success"], statistics=dict(d.get("statistics") or {}),
                   failures=[ExpectationFailure.from_dict(f) for f in d.get("failures") or []],
                   on_failure=d.get("on_failure", "fail"), error=d.get("error"), duration_s=d.get("duration_s", 0.0))

    def __str__(self) -> str:
        stats = self.statistics
        head = (f"{self.edge}: suite '{self.suite}' {self.state.upper()}"
                f" ({stats.get('successful_expectations', 0)}/{stats.get('evaluated_expectations', 0)} expectations"
                + (f" passed on {', '.join(self.tables)})" if self.tables else " passed)"))
        lines = [head] + ([f"  error: {self.error}"] if self.error else [])
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The Great Expectations adapter
# --------------------------------------------------------------------------------------------------


class _GX:
    """The one place that imports and calls Great Expectations; one per process."""

    _instance: _GX | None = None
    _create_lock = threading.Lock()

    @classmethod
    def get(cls) -> _GX:
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
            ExpectationConfiguration(**_clean(expectation)).to_domain_obj()
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


def _clean(expectation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in expectation.items() if k not in ("id", "rendered_content")}


def _pydantic_text(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if len(lines) > 1 and "validation error" in lines[0]:  # pydantic: "N validation errors for X", field, reason
        reasons = [re.sub(r"\s*\(type=[^)]*\)$", "", line) for line in lines]
        pairs = [f"{lines[i]}: {reasons[i + 1]}" for i in range(1, len(lines) - 1, 2)]
        return "; ".join(pairs[:4])
    return lines[0] if lines else type(exc).__name__


def _jsonable(value: Any) -> Any:
    """Plain JSON values for the run record: numpy scalars, NaN, timestamps and sets included."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _exception_text(info: dict[str, Any] | None) -> str | None:
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for nested in info.values():  # keyed by metric id when a metric raised
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return nested.get("exception_message")
    return None


def _failure(result: Any, table: str | None) -> ExpectationFailure:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    details = result.result or {}
    counts = details.get("partial_unexpected_counts") or []
    values = [c.get("value") for c in counts] or list(details.get("partial_unexpected_list") or [])
    column = kwargs.get("column") or kwargs.get("column_A") or (
        ", ".join(kwargs["column_list"]) if isinstance(kwargs.get("column_list"), list) else None)
    from pipetest_nb.json_values import plain_value  # values from data: NaN, ±inf, None and NaT kept apart

    return ExpectationFailure(
        type=config.type, column=column, kwargs=_jsonable(kwargs), table=table,
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=plain_value(details.get("unexpected_percent")),
        unexpected_values=plain_value(values[:MAX_UNEXPECTED_VALUES]),
        observed_value=plain_value(details.get("observed_value")),
        exception=_exception_text(result.exception_info))


def _run_suite(suite: dict[str, Any], df: pd.DataFrame, table: str | None,
               ) -> tuple[bool, dict[str, Any], list[ExpectationFailure]]:
    """Pass/fail first; details only for what failed. Expectations GX cannot build fail with the reason."""
    gx = _GX.get()
    good, failures = [], []
    for expectation in suite.get("expectations", []):
        problem = gx.build_problem(expectation)
        if problem:
            exp = expectation if isinstance(expectation, dict) else {}
            kwargs = exp.get("kwargs") if isinstance(exp.get("kwargs"), dict) else {}
            failures.append(ExpectationFailure(str(exp.get("type")), kwargs.get("column"), _jsonable(kwargs),
                                               table, exception=problem))
        else:
            good.append(_clean(expectation))
    stats = {"evaluated_expectations": len(failures), "successful_expectations": 0,
             "unsuccessful_expectations": len(failures)}
    if good:
        quick = gx.run(good, df, "BOOLEAN_ONLY")
        for key in ("evaluated_expectations", "successful_expectations", "unsuccessful_expectations"):
            stats[key] += quick.statistics[key]
        failed = [{"type": r.expectation_config.type, "kwargs": {k: v for k, v in r.expectation_config.kwargs.items()
                                                                   if k != "batch_id"}}
                  for r in quick.results if not r.success]
        if failed:
            detailed = gx.run(failed, df, "SUMMARY")
            failures += [_failure(r, table) for r in detailed.results if not r.success]
    evaluated = stats["evaluated_expectations"]
    stats["success_percent"] = 100.0 * stats["successful_expectations"] / evaluated if evaluated else 100.0
    return not failures, stats, failures


def validate_frame(df: pd.DataFrame, suite: dict[str, Any] | str | Path, *, edge: str = "frame",
                   table: str | None = None, on_failure: str = "fail") -> EdgeCheck:
    """Run a suite (a dict, or a suite file) on a DataFrame: for notebooks, tests and benchmarks."""
    suite_path = None
    if not isinstance(suite, dict):
        suite_path, suite = str(suite), load_suite(suite)
    start = time.perf_counter()
    success, stats, failures = _run_suite(suite, df, table)
    return EdgeCheck(edge, suite.get("name", "suite"), suite_path, [table] if table else [], success, stats, failures,
                     on_failure=on_failure, duration_s=time.perf_counter() - start)


def validate_output(suite: dict[str, Any] | str | Path, output: str | Path | OutputInfo, *, edge: str,
                    tables: str | None = None, on_failure: str = "fail") -> EdgeCheck:
    """Run a suite on each table of an output (the files matching ``tables``); one ``EdgeCheck`` for all."""
    from pipetest_nb.validation.artifacts import inspect_output, read_files

    start = time.perf_counter()
    suite_path = None if isinstance(suite, dict) else str(suite)
    name = suite.get("name", "suite") if isinstance(suite, dict) else Path(suite).stem
    try:
        suite = suite if isinstance(suite, dict) else load_suite(suite)
        info = inspect_output(output) if isinstance(output, (str, Path)) else output
        if not info.exists:
            raise PipetestError(f"the output folder {info.folder} does not exist (the step wrote nothing)")
        selected = info.resolve(tables)
        if not selected:
            raise PipetestError(f"no table matches '{tables}' in {info.folder} (tables: "
                                f"{', '.join(info.tables) or 'none'})" if tables
                                else f"no data table in {info.folder}")
    except PipetestError as exc:
        return EdgeCheck(edge, name, suite_path, [], False, {}, on_failure=on_failure, error=str(exc),
                         duration_s=time.perf_counter() - start)
    success, failures = True, []
    stats = {"evaluated_expectations": 0, "successful_expectations": 0, "unsuccessful_expectations": 0}
    for done, (table, paths) in enumerate(selected.items()):
        if time.perf_counter() - start > CHECK_TIME_LIMIT:
            success = False
            failures.append(ExpectationFailure(
                "time_limit", None, {"limit_s": CHECK_TIME_LIMIT}, table,
                exception=f"the suite ran past its time limit of {CHECK_TIME_LIMIT:g} s after {done} of "
                          f"{len(selected)} tables; tables from '{table}' on were not checked "
                          "(pipetest_nb.validation.expectations.CHECK_TIME_LIMIT)"))
            break
        try:
            df = read_files(info, paths).to_pandas()
        except Exception as exc:  # an unreadable table fails its check; it must not stop the run
            success = False
            failures.append(ExpectationFailure("read_table", None, {"files": paths}, table,
                                               exception=f"cannot read the table: {exc}"))
            continue
        ok, part, found = _run_suite(suite, df, table)
        success = success and ok
        failures += found
        for key in stats:
            stats[key] += part[key]
    evaluated = stats["evaluated_expectations"]
    stats["success_percent"] = 100.0 * stats["successful_expectations"] / evaluated if evaluated else 100.0
    return EdgeCheck(edge, name, suite_path, list(selected), success, stats, failures, on_failure=on_failure,
                     duration_s=time.perf_counter() - start)


@dataclass(frozen=True)
class SuiteUse:
    """One suite applying to one edge (or, for an output nobody reads, to the output itself)."""

    edge: str
    suite: str
    file: Path
    tables: str | None
    on_failure: str


def suites_for_output(dag: PipelineDAG, producer: str, output: str) -> list[SuiteUse]:
    """The suites that apply to ``producer.output``: named by its edges, and ``<producer>.<output>.json``."""
    source = f"{producer}.{output}"
    out_spec = dag.steps[producer].outputs.get(output)
    default_tables = out_spec.tables if out_spec else None
    targets = [t for s, t in dag.data_edges() if s == source]
    uses = []
    for edge in dag.edges:
        if edge.source == source and edge.expectations:
            uses.append(SuiteUse(f"{edge.source} -> {edge.target}", edge.expectations,
                                 suite_file(dag, edge.expectations), edge.tables or default_tables,
                                 edge.on_expectation_failure))
    conventional = suite_file(dag, source)
    if conventional.is_file():
        for target in targets or [None]:
            spec = dag.edge(source, target) if target else None
            label = f"{source} -> {target}" if target else source
            if not any(u.edge == label and u.suite == source for u in uses):
                uses.append(SuiteUse(label, source, conventional, (spec.tables if spec else None) or default_tables,
                                     spec.on_expectation_failure if spec else "fail"))
    return uses


def check_output(dag: PipelineDAG, producer: str, output: str, output_dir: str | Path) -> list[EdgeCheck]:
    """Run every suite that applies to ``producer.output`` once the producer has written ``output_dir``.

    One ``EdgeCheck`` per edge and suite; a suite shared by several edges runs once.
    """
    from pipetest_nb.validation.artifacts import inspect_output

    uses = suites_for_output(dag, producer, output)
    if not uses:
        return []
    info = inspect_output(output_dir, dag.steps[producer].outputs.get(output))
    done: dict[tuple[str, str | None], EdgeCheck] = {}
    checks = []
    for use in uses:
        key = (str(use.file), use.tables)
        if key not in done:
            done[key] = validate_output(use.file, info, edge=use.edge, tables=use.tables, on_failure=use.on_failure)
        first = done[key]
        checks.append(EdgeCheck(use.edge, first.suite, first.suite_file, list(first.tables), first.success,
                                dict(first.statistics), list(first.failures), on_failure=use.on_failure,
                                error=first.error, duration_s=first.duration_s))
    return checks


# --------------------------------------------------------------------------------------------------
# Drafting suites
# --------------------------------------------------------------------------------------------------


def _type_name(dtype: Any) -> str:
    """The ``type_`` GX observes for a pandas dtype."""
    text = str(dtype)
    return "CategoricalDtypeType" if text == "category" else text


def suite_from_frame(df: pd.DataFrame, name: str) -> dict[str, Any]:
    """Draft a starter suite from a DataFrame: columns, types, not-null, small value sets, ranges.

    It describes the data as it is; edit it into what the data must be.
    """
    import pandas as pd

    expectations: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]

    def add(kind: str, **kwargs: Any) -> None:
        expectations.append({"type": kind, "kwargs": _jsonable(kwargs)})

    for column in df.columns:
        series = df[column]
        col = str(column)
        add("expect_column_to_exist", column=col)
        add("expect_column_values_to_be_of_type", column=col, type_=_type_name(series.dtype))
        non_null = series.dropna()
        if len(non_null) == len(series) and len(series):
            add("expect_column_values_to_not_be_null", column=col)
        if non_null.empty:
            continue
        is_bool = pd.api.types.is_bool_dtype(series)
        is_number = pd.api.types.is_numeric_dtype(series) and not is_bool
        values = non_null.unique()
        if (len(values) <= LOW_CARDINALITY and not pd.api.types.is_float_dtype(series)
                and not pd.api.types.is_datetime64_any_dtype(series)
                and (not is_number or len(values) * 5 <= len(non_null))):
            add("expect_column_values_to_be_in_set", column=col, value_set=sorted(_jsonable(list(values)), key=str))
        elif is_number:
            add("expect_column_values_to_be_between", column=col, min_value=non_null.min(), max_value=non_null.max())
        elif pd.api.types.is_datetime64_any_dtype(series):
            add("expect_column_values_to_be_between", column=col, min_value=non_null.min().isoformat(),
                max_value=non_null.max().isoformat())
    return {"name": name, "expectations": expectations,
            "meta": {"drafted_by": "pipetest", "drafted_from_rows": len(df)},
            "notes": "Drafted from one run's data: it describes what the data was, edit it into what it must be."}


def write_suite(suite: dict[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a suite as indented JSON; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SuiteError(str(path), "the file exists; pass overwrite=True (--force) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite, indent=2) + "\n")
    return path


def draft_suite(run_dir: str | Path, target: str, *, table: str | None = None, name: str | None = None,
                ) -> dict[str, Any]:
    """Draft a suite from the output ``STEP.OUTPUT`` of a run (every table, or those matching ``table``)."""
    from pipetest_nb.validation.artifacts import frame

    if "." not in target:
        raise PipetestError(f"'{target}' is not STEP.OUTPUT (for example load.raw_data)")
    step, output = target.split(".", 1)
    folder = Path(run_dir) / "steps" / step / "outputs" / output
    if not folder.is_dir():
        known = sorted(p.name for p in (Path(run_dir) / "steps" / step / "outputs").glob("*"))
        raise PipetestError(f"no output folder {folder}" + (f"; outputs of '{step}': {', '.join(known)}" if known
                                                             else f"; is {run_dir} a run folder with step '{step}'?"))
    return suite_from_frame(frame(folder, table or "**"), name or target)


# --------------------------------------------------------------------------------------------------
# Checking suite files (pipetest validate)
# --------------------------------------------------------------------------------------------------


def check_suite_files(dag: PipelineDAG) -> list[SpecProblem]:
    """Every problem in the pipeline's suites: missing files, bad JSON, unknown or malformed expectations.

    Great Expectations is imported only when there is a suite file to check.
    """
    problems: list[SpecProblem] = []
    pipeline_file = str(dag.source) if dag.source else None
    named = {e.expectations for e in dag.edges if e.expectations}
    for edge in dag.edges:
        if edge.expectations and not suite_file(dag, edge.expectations).is_file():
            present = [p.stem for p in suites_dir(dag).glob("*.json")]
            close = get_close_matches(edge.expectations, present, n=1)
            problems.append(SpecProblem(
                f"edge {edge.source} -> {edge.target} names suite '{edge.expectations}', but "
                f"{suite_file(dag, edge.expectations)} does not exist", file=pipeline_file, key="edges",
                hint=f"did you mean '{close[0]}'?" if close
                else f"draft one with: pipetest expectations draft RUN_DIR {edge.source} -o "
                     f"{SUITES_DIR}/{edge.expectations}.json"))
    files = sorted(suites_dir(dag).glob("*.json"))
    for path in files:
        problems += _check_suite_file(path, dag, named)
    return problems


def _check_suite_file(path: Path, dag: PipelineDAG, named: set[str]) -> list[SpecProblem]:
    try:
        text, data = _read_suite(path)
    except _BadSuite as exc:
        return [exc.problem]
    problems = []
    stem = path.stem
    if stem not in named and stem.count(".") == 1:
        step, output = stem.split(".")
        if step not in dag.steps:
            close = get_close_matches(step, list(dag.steps), n=1)
            problems.append(SpecProblem(f"suite '{stem}' applies to no output: there is no step '{step}'",
                                        file=str(path), hint=f"did you mean '{close[0]}.{output}.json'?" if close
                                        else "name it <step>.<output>.json, or name it in an edge"))
        elif output not in dag.steps[step].outputs:
            close = get_close_matches(output, list(dag.steps[step].outputs), n=1)
            problems.append(SpecProblem(f"suite '{stem}' applies to no output: step '{step}' has no output '{output}'",
                                        file=str(path), step=step,
                                        hint=f"did you mean '{step}.{close[0]}.json'?" if close else None))
    expectations = data.get("expectations", [])
    if not expectations:
        return problems
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    _GX.get()
    known = list_registered_expectation_implementations()
    positions = _positions(text)
    seen: dict[str, int] = {}
    for index, expectation in enumerate(expectations):
        if len(problems) >= MAX_PROBLEMS_PER_SUITE:
            problems.append(SpecProblem(f"more problems not shown (expectations[{index}] onwards)", file=str(path)))
            break
        kind = expectation.get("type") if isinstance(expectation, dict) else None
        line, column = _position(positions, kind, seen.get(str(kind), 0))
        seen[str(kind)] = seen.get(str(kind), 0) + 1
        key = f"expectations[{index}]"
        if isinstance(expectation, dict) and "expectation_type" in expectation and kind is None:
            problems.append(SpecProblem("'expectation_type' is the GX 0.x key", file=str(path),
                                        line=_position(positions, expectation["expectation_type"], 0)[0], key=key,
                                        hint="GX 1.x suites use 'type'"))
            continue
        shape = _expectation_shape_problem(expectation)
        if shape:
            problems.append(SpecProblem(shape, file=str(path), line=line, column=column, key=key,
                                        hint='an expectation is {"type": "expect_...", "kwargs": {...}}'))
            continue
        if kind not in known:
            close = get_close_matches(kind, known, n=1)
            problems.append(SpecProblem(f"unknown expectation type '{kind}'", file=str(path), line=line,
                                        column=column, key=key,
                                        hint=f"did you mean '{close[0]}'?" if close else "see the GX 1.x gallery"))
            continue
        why = _GX.build_problem(expectation)
        if why:
            problems.append(SpecProblem(f"expectation {kind or '?'} is not valid: {why}", file=str(path), line=line,
                                        column=column, key=key))
    return problems


def _expectation_shape_problem(expectation: Any) -> str | None:
    """Why an entry of 'expectations' is not shaped like an expectation (checked before GX sees it)."""
    if not isinstance(expectation, dict):
        return f"an expectation must be a JSON object, not {type(expectation).__name__}"
    if not isinstance(expectation.get("type"), str):
        return "'type' must be the expectation's name as a string" if "type" in expectation else "'type' is missing"
    if not isinstance(expectation.get("kwargs"), dict):
        return "'kwargs' must be a JSON object" if "kwargs" in expectation else "'kwargs' is missing"
    if expectation.get("meta") is not None and not isinstance(expectation["meta"], dict):
        return "'meta' must be a JSON object"
    return None


def _positions(text: str) -> dict[str, list[tuple[int, int]]]:
    """Line and column of every ``"type": "<name>"`` in a suite file, by name: one pass over the text."""
    found: dict[str, list[tuple[int, int]]] = {}
    line, last, line_start = 1, 0, 0
    for match in re.finditer(r'"(?:type|expectation_type)"\s*:\s*("(?:[^"\\]|\\.)*")', text):
        start = match.start()
        line += text.count("\n", last, start)
        line_start = max(line_start, text.rfind("\n", last, start) + 1)
        last = start
        try:
            name = json.loads(match.group(1))
        except ValueError:
            continue
        found.setdefault(name, []).append((line, start - line_start + 1))
    return found


def _position(positions: dict[str, list[tuple[int, int]]], value: Any, occurrence: int,
              ) -> tuple[int | None, int | None]:
    """Line and column of the ``occurrence``-th ``"type": "<value>"`` in a suite file."""
    places = positions.get(value, []) if isinstance(value, str) else []
    return places[occurrence] if occurrence < len(places) else (None, None)
