"""Running suites on data: ``EdgeCheck`` results for an edge, an output or a DataFrame.

Each expectation runs on the engine ``checks_engine`` picks: ``auto`` evaluates the common expectations
natively (``native``: vectorised pandas, the same results as GX's) and hands the rest to GX, per
expectation; ``native`` reports what it cannot evaluate as not run; ``gx`` runs everything through GX.
GX is imported only when an expectation goes to it. There, suites run through GX's v1 ``Validator``
(what ``ValidationDefinition.run`` uses, minus storing every result in memory), first with
``BOOLEAN_ONLY``; only the expectations that failed run again for their details. Failures read the
same whichever engine ran; ``statistics["engines"]`` counts the expectations each one evaluated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.validation.expectations.suites import load_suite, suites_for_output

if TYPE_CHECKING:
    import pandas as pd

    from pipetest_nb.spec.model import PipelineDAG
    from pipetest_nb.validation.artifacts import OutputInfo
    from pipetest_nb.validation.expectations.native import Plan

MAX_UNEXPECTED_VALUES = 5

#: ``checks_engine``: native where supported and GX for the rest, native only, or GX only.
ENGINES = ("auto", "native", "gx")

#: Below this size a table converts to pandas faster on one thread than by starting a pool.
THREADED_CONVERSION_BYTES = 8 * 2**20

_PLANNED: dict[tuple, tuple[dict[str, Any], list[Plan]]] = {}

#: Seconds one suite may spend on one output's tables; the tables it has not reached then fail the check.
CHECK_TIME_LIMIT = 600.0


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


def jsonable(value: Any) -> Any:
    """Plain JSON values for the run record: numpy scalars, NaN, timestamps and sets included."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
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


def _failure(kind: str, kwargs: dict[str, Any], details: dict[str, Any], exception: str | None,
             table: str | None) -> ExpectationFailure:
    """One failure from a result's details, as GX's SUMMARY format or the native evaluator gives them."""
    from pipetest_nb.json_values import plain_value  # values from data: NaN, ±inf, None and NaT kept apart

    counts = details.get("partial_unexpected_counts") or []
    values = [c.get("value") for c in counts] or list(details.get("partial_unexpected_list") or [])
    column = kwargs.get("column") or kwargs.get("column_A") or (
        ", ".join(kwargs["column_list"]) if isinstance(kwargs.get("column_list"), list) else None)
    return ExpectationFailure(
        type=kind, column=column, kwargs=jsonable(kwargs), table=table,
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=plain_value(details.get("unexpected_percent")),
        unexpected_values=plain_value(values[:MAX_UNEXPECTED_VALUES]),
        observed_value=plain_value(details.get("observed_value")),
        exception=exception)


def _gx_failure(result: Any, table: str | None) -> ExpectationFailure:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    return _failure(config.type, kwargs, result.result or {}, _exception_text(result.exception_info), table)


def plan_suite(suite: dict[str, Any], engine: str = "auto") -> list[Plan]:
    """How each expectation of ``suite`` runs; with ``engine="gx"`` none runs natively."""
    from pipetest_nb.validation.expectations.native import Plan, plan

    if engine not in ENGINES:
        raise PipetestError(f"checks_engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    plans = [plan(e) for e in suite.get("expectations", [])]
    if engine == "gx":
        plans = [p if p.problem and p.type == "None" else Plan(p.type, p.kwargs, reason="checks_engine: gx")
                 for p in plans]
    return plans


def _run_suite(suite: dict[str, Any], df: pd.DataFrame, table: str | None, engine: str = "auto",
               plans: list[Plan] | None = None) -> tuple[bool, dict[str, Any], list[ExpectationFailure]]:
    """Native expectations first, the rest through GX; details only for what failed."""
    from pipetest_nb.validation.expectations.native import NotNative

    plans = plan_suite(suite, engine) if plans is None else plans
    failures, to_gx = [], []
    tally = {"evaluated_expectations": 0, "successful_expectations": 0, "native": 0, "gx": 0}
    for expectation, p in zip(suite.get("expectations", []), plans, strict=True):
        if p.problem:
            failures.append(ExpectationFailure(p.type, p.kwargs.get("column"), jsonable(p.kwargs), table,
                                               exception=p.problem))
            tally["evaluated_expectations"] += 1
            continue
        reason = p.reason
        if p.evaluate is not None:
            try:
                outcome = p.evaluate(df)
            except NotNative as exc:
                reason = str(exc)
            except Exception as exc:  # a case the native evaluator did not foresee: GX judges it
                reason = f"{type(exc).__name__}: {exc}"
            else:
                tally["native"] += 1
                tally["evaluated_expectations"] += 1
                tally["successful_expectations"] += bool(outcome["success"])
                if not outcome["success"]:
                    failures.append(_failure(p.type, p.kwargs, outcome.get("result") or {}, None, table))
                continue
        if engine == "native":
            failures.append(ExpectationFailure(
                p.type, p.kwargs.get("column"), jsonable(p.kwargs), table,
                exception=f"not evaluated natively ({reason}); set checks_engine to auto or gx to run it with "
                          "Great Expectations"))
            tally["evaluated_expectations"] += 1
            continue
        to_gx.append((expectation, p))
    if to_gx:
        _run_gx(to_gx, df, table, tally, failures)
    evaluated = tally["evaluated_expectations"]
    stats = {"evaluated_expectations": evaluated, "successful_expectations": tally["successful_expectations"],
             "unsuccessful_expectations": evaluated - tally["successful_expectations"],
             "success_percent": 100.0 * tally["successful_expectations"] / evaluated if evaluated else 100.0,
             "engines": {"native": tally["native"], "gx": tally["gx"]}}
    return not failures, stats, failures


def _run_gx(expectations: list[tuple[Any, Plan]], df: pd.DataFrame, table: str | None, tally: dict[str, int],
            failures: list[ExpectationFailure]) -> None:
    """GX's validator on ``expectations``: pass/fail first, then details only for what failed.

    Whether GX can build an expectation is asked once per plan, not once per table."""
    from pipetest_nb.validation.expectations.gx import GX, clean

    gx = GX.get()
    good = []
    for expectation, p in expectations:
        if p.gx_problem is None:
            p.gx_problem = gx.build_problem(expectation) or ""
        problem = p.gx_problem
        if problem:
            exp = expectation if isinstance(expectation, dict) else {}
            kwargs = exp.get("kwargs") if isinstance(exp.get("kwargs"), dict) else {}
            failures.append(ExpectationFailure(str(exp.get("type")), kwargs.get("column"), jsonable(kwargs),
                                               table, exception=problem))
            tally["evaluated_expectations"] += 1
        else:
            good.append(clean(expectation))
    if not good:
        return
    quick = gx.run(good, df, "BOOLEAN_ONLY")
    tally["gx"] += quick.statistics["evaluated_expectations"]
    tally["evaluated_expectations"] += quick.statistics["evaluated_expectations"]
    tally["successful_expectations"] += quick.statistics["successful_expectations"]
    failed = [{"type": r.expectation_config.type, "kwargs": {k: v for k, v in r.expectation_config.kwargs.items()
                                                               if k != "batch_id"}}
              for r in quick.results if not r.success]
    if failed:
        detailed = gx.run(failed, df, "SUMMARY")
        failures += [_gx_failure(r, table) for r in detailed.results if not r.success]


def validate_frame(df: pd.DataFrame, suite: dict[str, Any] | str | Path, *, edge: str = "frame",
                   table: str | None = None, on_failure: str = "fail", engine: str = "auto") -> EdgeCheck:
    """Run a suite (a dict, or a suite file) on a DataFrame: for notebooks, tests and benchmarks.

    ``engine`` is the ``checks_engine``: ``auto`` (native where supported), ``native`` or ``gx``.
    """
    suite_path = None
    if not isinstance(suite, dict):
        suite_path, suite = str(suite), load_suite(suite)
    start = time.perf_counter()
    success, stats, failures = _run_suite(suite, df, table, engine)
    return EdgeCheck(edge, suite.get("name", "suite"), suite_path, [table] if table else [], success, stats, failures,
                     on_failure=on_failure, duration_s=time.perf_counter() - start)


def _planned(suite: dict[str, Any] | str | Path, engine: str) -> tuple[dict[str, Any], list[Plan]]:
    """A suite and its plans; a suite file is read and planned once while it is unchanged."""
    if isinstance(suite, dict):
        return suite, plan_suite(suite, engine)
    try:
        stat = Path(suite).stat()
        key = (str(suite), stat.st_ino, stat.st_mtime_ns, stat.st_size, engine)
    except OSError:  # load_suite says what is wrong with it
        key = None
    if key is not None and key in _PLANNED:
        return _PLANNED[key]
    loaded = load_suite(suite)
    found = loaded, plan_suite(loaded, engine)
    if key is not None:
        if len(_PLANNED) >= 256:
            _PLANNED.clear()
        _PLANNED[key] = found
    return found


def validate_output(suite: dict[str, Any] | str | Path, output: str | Path | OutputInfo, *, edge: str,
                    tables: str | None = None, on_failure: str = "fail", engine: str = "auto") -> EdgeCheck:
    """Run a suite on each table of an output (the files matching ``tables``); one ``EdgeCheck`` for all.

    The suite is planned once for all tables; ``engine`` as for ``validate_frame``.
    """
    from pipetest_nb.validation.artifacts import inspect_output, read_files

    start = time.perf_counter()
    suite_path = None if isinstance(suite, dict) else str(suite)
    name = suite.get("name", "suite") if isinstance(suite, dict) else Path(suite).stem
    try:
        suite, plans = _planned(suite, engine)
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
    stats: dict[str, Any] = {"evaluated_expectations": 0, "successful_expectations": 0,
                             "unsuccessful_expectations": 0}
    engines = {"native": 0, "gx": 0}
    for done, (table, paths) in enumerate(selected.items()):
        if time.perf_counter() - start > CHECK_TIME_LIMIT:
            success = False
            failures.append(ExpectationFailure(
                "time_limit", None, {"limit_s": CHECK_TIME_LIMIT}, table,
                exception=f"the suite ran past its time limit of {CHECK_TIME_LIMIT:g} s after {done} of "
                          f"{len(selected)} tables; tables from '{table}' on were not checked "
                          "(pipetest_nb.validation.expectations.checks.CHECK_TIME_LIMIT)"))
            break
        try:
            data = read_files(info, paths)
            df = data.to_pandas(use_threads=data.nbytes > THREADED_CONVERSION_BYTES)
        except Exception as exc:  # an unreadable table fails its check; it must not stop the run
            success = False
            failures.append(ExpectationFailure("read_table", None, {"files": paths}, table,
                                               exception=f"cannot read the table: {exc}"))
            continue
        ok, part, found = _run_suite(suite, df, table, engine, plans)
        success = success and ok
        failures += found
        for key in stats:
            stats[key] += part[key]
        for key in engines:
            engines[key] += part["engines"][key]
    evaluated = stats["evaluated_expectations"]
    stats["success_percent"] = 100.0 * stats["successful_expectations"] / evaluated if evaluated else 100.0
    stats["engines"] = engines
    return EdgeCheck(edge, name, suite_path, list(selected), success, stats, failures, on_failure=on_failure,
                     duration_s=time.perf_counter() - start)


def check_output(dag: PipelineDAG, producer: str, output: str, output_dir: str | Path,
                 engine: str | None = None) -> list[EdgeCheck]:
    """Run every suite that applies to ``producer.output`` once the producer has written ``output_dir``.

    One ``EdgeCheck`` per edge and suite; a suite shared by several edges runs once. ``engine``
    overrides the pipeline's ``defaults.checks_engine`` (``auto`` when neither is set).
    """
    from pipetest_nb.validation.artifacts import inspect_output

    uses = suites_for_output(dag, producer, output)
    if not uses:
        return []
    info = inspect_output(output_dir, dag.steps[producer].outputs.get(output))
    engine = engine or getattr(dag.defaults, "checks_engine", None) or "auto"
    done: dict[tuple[str, str | None], EdgeCheck] = {}
    checks = []
    for use in uses:
        key = (str(use.file), use.tables)
        if key not in done:
            done[key] = validate_output(use.file, info, edge=use.edge, tables=use.tables, on_failure=use.on_failure,
                                        engine=engine)
        first = done[key]
        checks.append(EdgeCheck(use.edge, first.suite, first.suite_file, list(first.tables), first.success,
                                dict(first.statistics), list(first.failures), on_failure=use.on_failure,
                                error=first.error, duration_s=first.duration_s))
    return checks

