"""Suite files: where a pipeline's suites live, which apply to an output, reading one within bounds,
and checking them all (``pipetest validate``).

Suites are GX 1.x JSON files in ``<pipeline folder>/expectations/``. An edge names its suite
(``expectations: raw_data`` -> ``expectations/raw_data.json``), and ``<producer>.<output>.json``
applies by convention to that output, on every edge leaving it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import SpecProblem, SuiteError
from pipetest_nb.text import close_match, did_you_mean
from pipetest_nb.validation.expectations import catalogue

if TYPE_CHECKING:
    from pipetest_nb.spec.model import PipelineDAG

SUITES_DIR = "expectations"
# Bounds on a suite file, so that reading, checking and running it stay bounded in time: GX needs about
# 0.4 ms per value of a value_set on every table, so 2M values would hold one edge check for ~15 minutes.
MAX_SUITE_LIST = 100_000  # values in any one list (value_set, column_list, ...)
MAX_SUITE_VALUES = 1_000_000  # values in the whole file
MAX_EXPECTATIONS = 10_000
MAX_PROBLEMS_PER_SUITE = 50


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


def has_suites(dag: PipelineDAG) -> bool:
    """Whether a suite applies to some output of ``dag`` (an edge names one, or ``<step>.<output>.json``
    exists): one listing of the suites folder, no file read."""
    if any(edge.expectations for edge in dag.edges):
        return True
    outputs = {f"{step}.{output}" for step, config in dag.steps.items() for output in config.outputs}
    folder = suites_dir(dag)
    return folder.is_dir() and any(path.stem in outputs for path in folder.glob("*.json"))


# --------------------------------------------------------------------------------------------------
# Checking suite files (pipetest validate)
# --------------------------------------------------------------------------------------------------


def missing_suites(dag: PipelineDAG) -> list[tuple[Any, Path]]:
    """The edges naming a suite whose file does not exist and is no typo of one that does (a first suite,
    still to be drafted), with that file."""
    present = [p.stem for p in suites_dir(dag).glob("*.json")]
    return [(edge, suite_file(dag, edge.expectations)) for edge in dag.edges if edge.expectations
            and not suite_file(dag, edge.expectations).is_file() and not did_you_mean(edge.expectations, present)]


def check_suite_files(dag: PipelineDAG, *, skip: frozenset[str] = frozenset()) -> list[SpecProblem]:
    """Every problem in the pipeline's suites: missing files, bad JSON, unknown or malformed expectations.

    Expectations are checked against the catalogue of GX's types and their arguments; GX is not imported.
    """
    problems: list[SpecProblem] = []
    pipeline_file = str(dag.source) if dag.source else None
    named = {e.expectations for e in dag.edges if e.expectations}
    for edge in dag.edges:
        if edge.expectations and edge.expectations not in skip and not suite_file(dag, edge.expectations).is_file():
            present = [p.stem for p in suites_dir(dag).glob("*.json")]
            problems.append(SpecProblem(
                f"edge {edge.source} -> {edge.target} names suite '{edge.expectations}', but "
                f"{suite_file(dag, edge.expectations)} does not exist", file=pipeline_file, key="edges",
                hint=did_you_mean(edge.expectations, present)
                or f"draft one with: pipetest expectations draft RUN_DIR {edge.source} -o "
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
    problems = _name_problems(path, dag, named)
    expectations = data.get("expectations", [])
    if not expectations:
        return problems
    return problems + _expectation_problems(path, text, expectations, MAX_PROBLEMS_PER_SUITE - len(problems))


def _name_problems(path: Path, dag: PipelineDAG, named: set[str]) -> list[SpecProblem]:
    """A suite named ``<step>.<output>`` that no edge names must name an output of the pipeline."""
    stem = path.stem
    if stem in named or stem.count(".") != 1:
        return []
    step, output = stem.split(".")
    if step not in dag.steps:
        close = close_match(step, list(dag.steps))
        return [SpecProblem(f"suite '{stem}' applies to no output: there is no step '{step}'",
                            file=str(path), hint=f"did you mean '{close}.{output}.json'?" if close
                            else "name it <step>.<output>.json, or name it in an edge")]
    if output not in dag.steps[step].outputs:
        close = close_match(output, list(dag.steps[step].outputs))
        return [SpecProblem(f"suite '{stem}' applies to no output: step '{step}' has no output '{output}'",
                            file=str(path), step=step,
                            hint=f"did you mean '{step}.{close}.json'?" if close else None)]
    return []


def _expectation_problems(path: Path, text: str, expectations: list[Any], room: int) -> list[SpecProblem]:
    """What is wrong with each expectation of a suite file (by the catalogue: no GX import); at most
    ``room`` problems."""
    positions = _positions(text)
    seen: dict[str, int] = {}
    problems: list[SpecProblem] = []
    for index, expectation in enumerate(expectations):
        if len(problems) >= room:
            problems.append(SpecProblem(f"more problems not shown (expectations[{index}] onwards)", file=str(path)))
            break
        kind = expectation.get("type") if isinstance(expectation, dict) else None
        line, column = _position(positions, kind, seen.get(str(kind), 0))
        seen[str(kind)] = seen.get(str(kind), 0) + 1
        found = catalogue.diagnose(expectation)
        if found is None:
            continue
        if kind is None and isinstance(expectation, dict) and "expectation_type" in expectation:
            line, column = _position(positions, expectation["expectation_type"], 0)[0], None
        problems.append(SpecProblem(found.message, file=str(path), line=line, column=column,
                                    key=f"expectations[{index}]", hint=found.hint))
    return problems


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
