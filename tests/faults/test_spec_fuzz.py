"""Pipeline and suite files from hypothesis: valid ones load, every other one is a clear error naming the
file, and none crashes or hangs.

Each example runs under a hypothesis ``deadline`` and a hard wall (SIGALRM), so a hang fails the test
instead of blocking it. ``HYPOTHESIS_PROFILE=thorough`` (tests/faults/conftest.py) runs many more.
"""

from __future__ import annotations

import contextlib
import json
import math
import string
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipelines import Hang, hard_wall

from pipetest_nb import PipelineDAG, PipelineSpecError
from pipetest_nb.exceptions import SuiteError
from pipetest_nb.plan import PipelineDAGResolver
from pipetest_nb.spec.keys import FORMATS, ISOLATIONS, MODES
from pipetest_nb.spec.policy import STRATEGY_NAMES
from pipetest_nb.validation.expectations.suites import check_suite_files, load_suite

MAX_TIMEOUT, MAX_RETRIES = 7 * 24 * 3600, 100  # the documented ranges
FUZZ = settings(deadline=timedelta(seconds=3), suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])

VALID = """\
name: fuzz
defaults: {timeout: 10, isolation: pool, env: {A: "1"}}
steps:
  a:
    script: a.py
    outputs: {out: {format: parquet, schema: {required_columns: [id], column_types: {id: int64}}}}
  b:
    script: a.py
    inputs: {IN: a.out, RAW: {path: raw.csv, format: csv}}
    outputs: {out: {}}
    on_error: {timeout: retry, default: skip_step}
edges:
  - {from: a.out, to: b.IN, expectations: s}
"""

FOLDER = Path(tempfile.mkdtemp())
(FOLDER / "a.py").write_text("def main(*a):\n    pass\n")
(FOLDER / "expectations").mkdir()


def load_pipeline(text: str | bytes, suffix: str = ".yaml", *, must_load: bool = False) -> PipelineDAG | None:
    """Load a pipeline file as `pipetest validate` and `run` do: a PipelineDAG, or None after a
    PipelineSpecError that names the file (unless ``must_load``). Anything else (a crash, a hang)
    fails the example."""
    path = FOLDER / f"pipeline{suffix}"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    with hard_wall():
        try:
            dag = PipelineDAG.load(path)
            PipelineDAGResolver(dag).create_execution_plan()
        except PipelineSpecError as exc:
            if must_load:
                raise
            assert str(path) in str(exc), str(exc)
            assert all(p.file in (str(path), None) for p in exc.problems)
            return None
        # what a run does with it: record it as JSON, and reopen it from that record
        record = json.dumps(dag.to_dict())
        PipelineDAG.from_dict(json.loads(record), base_dir=dag.base_dir, check_files=False)
    return dag


# --------------------------------------------------------------------------------------------------
# Valid pipelines: generated, and checked to load
# --------------------------------------------------------------------------------------------------

names = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=20).filter(
    lambda n: n[0] not in "-" and n.upper() not in {"CON", "PRN", "AUX", "NUL"}
    and not (n[:3].upper() in ("COM", "LPT") and n[3:].isdigit() and len(n) == 4))
env_names = st.text(string.ascii_uppercase + "_", min_size=1, max_size=8)
arg_values = st.one_of(st.text(max_size=10), st.integers(-10**6, 10**6), st.booleans(),
                       st.floats(allow_nan=False, allow_infinity=False),
                       st.lists(st.one_of(st.text(max_size=5), st.integers(-100, 100)), max_size=4))


@st.composite
def valid_pipelines(draw: st.DrawFn) -> dict[str, Any]:
    """A pipeline dict that must load: acyclic bindings, every value in its allowed range."""
    step_names = draw(st.lists(names, min_size=1, max_size=6, unique_by=str.lower))
    steps: dict[str, Any] = {}
    edges = []
    for i, name in enumerate(step_names):
        step: dict[str, Any] = {"script": "a.py"}
        outputs = draw(st.lists(names, max_size=3, unique=True))
        if outputs:
            step["outputs"] = {o: ({"format": draw(st.sampled_from(FORMATS))} if draw(st.booleans()) else {})
                               for o in outputs}
        earlier = [(s, o) for s in step_names[:i] for o in steps[s].get("outputs", {})]
        if earlier:
            bound = draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True))
            step["inputs"] = {f"IN{k}": f"{s}.{o}" for k, (s, o) in enumerate(bound)}
            for k, (s, o) in enumerate(bound):
                if draw(st.booleans()):
                    edges.append({"from": f"{s}.{o}", "to": f"{name}.IN{k}",
                                  "on_expectation_failure": draw(st.sampled_from(["fail", "warn"]))})
        optional: dict[str, st.SearchStrategy] = {
            "timeout": st.one_of(st.integers(1, MAX_TIMEOUT), st.floats(0.001, MAX_TIMEOUT)),
            "retries": st.integers(0, MAX_RETRIES),
            "memory": st.one_of(st.integers(1, 4096).map(lambda m: f"{m}MB"), st.integers(2**20, 2**40)),
            "isolation": st.sampled_from(ISOLATIONS),
            "mode": st.sampled_from(MODES),
            "on_error": st.sampled_from(STRATEGY_NAMES),
            "env": st.dictionaries(env_names, st.one_of(st.text(max_size=8).filter(lambda v: "\x00" not in v),
                                                        st.integers(-99, 99)), max_size=3),
            "args": st.dictionaries(names, arg_values, max_size=3),
            "depends_on": st.lists(st.sampled_from(step_names[:i]), max_size=2, unique=True) if i else st.just([]),
        }
        for key in draw(st.lists(st.sampled_from(sorted(optional)), max_size=5, unique=True)):
            step[key] = draw(optional[key])
        steps[name] = step
    pipeline: dict[str, Any] = {"name": draw(names), "steps": steps}
    if edges:
        pipeline["edges"] = edges
    return pipeline


@FUZZ
@given(valid_pipelines(), st.sampled_from([".yaml", ".json"]))
def test_valid_pipelines_load(pipeline, suffix):
    text = json.dumps(pipeline) if suffix == ".json" else yaml.safe_dump(pipeline, sort_keys=False)
    dag = load_pipeline(text, suffix, must_load=True)
    assert list(dag.steps) == list(pipeline["steps"])
    for name, step in pipeline["steps"].items():
        assert {k: v.source for k, v in dag.steps[name].inputs.items()} == step.get("inputs", {})


# --------------------------------------------------------------------------------------------------
# Near-valid pipelines: one value, key or type mutated
# --------------------------------------------------------------------------------------------------

nasty = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20), st.just(10**4000),
    st.sampled_from([math.inf, -math.inf, math.nan, 0, 0.5, -1, 1e300, 10**9, 2**64]),
    st.floats(), st.text(max_size=12), st.text(min_size=250, max_size=400),
    st.sampled_from(["", ".", "..", "../x", "/abs", "a/b", "a.b", " a", "a ", "a.", "CON", "nul", "lpt1",
                     "x\x00y", "\x07bell", "é" * 200, "a" * 256, "512MB", "1.5g", "-5MB", "1e400GB",
                     "inf", "nan", "2020-13-45"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.integers(50, 300).map(lambda depth: _deep(depth)),
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a pipeline dict (lists by index), the document itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _mutate(data: st.DataObject, pipeline: dict[str, Any]) -> dict[str, Any]:
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(pipeline)))
        if not path:
            continue
        *parents, last = path
        holder = pipeline
        for part in parents:
            holder = holder[part]
        action = data.draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if action == "replace":
            holder[last] = data.draw(nasty)
        elif action == "delete":
            del holder[last]
        elif action == "rename" and isinstance(holder, dict):
            holder[data.draw(nasty.filter(lambda k: isinstance(k, (str, int, bool, float)) or k is None))] = \
                holder.pop(last)
        elif isinstance(holder, dict):
            holder[data.draw(st.sampled_from(["timout", "steps", "memory", "timeout", "retries", "name",
                                              "x" * 300]))] = data.draw(nasty)
    return pipeline


@FUZZ
@given(valid_pipelines(), st.data(), st.sampled_from([".yaml", ".json"]))
def test_mutated_pipelines_load_or_name_the_file(pipeline, data, suffix):
    pipeline = _mutate(data, pipeline)
    try:
        text = json.dumps(pipeline) if suffix == ".json" else yaml.safe_dump(pipeline, sort_keys=False)
    except (ValueError, TypeError, RecursionError):  # the generator made something no file can hold
        return
    load_pipeline(text, suffix)
    base = FOLDER
    with hard_wall(), contextlib.suppress(PipelineSpecError):
        PipelineDAG.from_dict(pipeline, base_dir=base)


# --------------------------------------------------------------------------------------------------
# Raw text: YAML that the structured generator cannot make (tags, aliases, bombs, depth)
# --------------------------------------------------------------------------------------------------


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["bomb", "deep", "tag", "alias", "garble"]))
    if kind == "bomb":
        width, levels = draw(st.integers(2, 12)), draw(st.integers(2, 9))
        lines = ["x0: &a0 [" + ", ".join(["lol"] * width) + "]"]
        lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
        return "name: bomb\n" + "\n".join(lines) + f"\nsteps: {{a: {{script: a.py, args: {{x: *a{levels - 1}}}}}}}\n"
    if kind == "deep":
        depth = draw(st.integers(50, 20_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return "name: deep\nsteps: " + opener * depth + "1" * (opener == "{a: ") + closer * depth + "\n"
    if kind == "tag":
        tag = draw(st.sampled_from(["!!int", "!!float", "!!bool", "!!timestamp", "!!binary", "!!set", "!!omap",
                                    "!!str", "!!null", "!!python/object:os.system", "!custom", "!!map", "!!seq"]))
        value = draw(st.sampled_from(["abc", "9" * 5000, "0x", "2020-13-45", "[1, 2]", "{a: 1}", "''", "maybe",
                                      "1e999", "AAAA=", "- a", ".inf"]))
        key = draw(st.sampled_from(["timeout", "retries", "memory", "script", "args", "name"]))
        return f"name: tags\nsteps:\n  a:\n    script: a.py\n    {key}: {tag} {value}\n"
    if kind == "alias":
        return draw(st.sampled_from([
            "a: &a [*a]\nsteps: *a\n", "steps: &s {a: {script: a.py, args: {x: *s}}}\n",
            "x: &x {script: a.py}\nsteps: {a: *x, b: *x, c: {<<: *x, timeout: 5}}\n",
            "steps: {a: {script: a.py, args: &l {x: [1, 2]}}, b: {script: a.py, args: *l}}\n",
            "steps: *undefined\n", "steps: {a: {<<: [*a]}}\n",
        ]))
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:j] + draw(st.text(max_size=6)) + lines[i][j + draw(st.integers(0, 3)):]
    return "\n".join(lines) + "\n"


@FUZZ
@given(yaml_texts())
def test_raw_yaml_loads_or_names_the_file(text):
    load_pipeline(text)


@FUZZ
@given(st.binary(max_size=200))
def test_bytes_load_or_name_the_file(raw):
    load_pipeline(raw)
    load_pipeline(raw, ".json")


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4)),
    max_leaves=25)


@FUZZ
@given(documents)
def test_random_documents(document):
    load_pipeline(yaml.safe_dump(document))


@FUZZ
@given(st.data())
def test_mutations_of_a_valid_file(data):
    lines = VALID.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "garble", "replace", "indent"]))
        if action == "delete":
            lines.pop(i)
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = "  " + lines[i]
        elif action == "garble":
            j = data.draw(st.integers(0, max(0, len(lines[i]) - 1)))
            lines[i] = lines[i][:j] + data.draw(st.text(max_size=3)) + lines[i][j + 1:]
        else:
            key, _, _ = lines[i].partition(":")
            lines[i] = f"{key}: {yaml.safe_dump(data.draw(scalars)).strip().splitlines()[0]}"
        if not lines:
            break
    load_pipeline("\n".join(lines) + "\n")


def test_raw_bytes_that_are_not_yaml():
    for text in ["\x00\x01", "{{{{", "- [", "steps: !!binary AAAA", "&a [*a]", "a: *missing", "? [1]: 2"]:
        load_pipeline(text)


def test_the_valid_file_loads():
    assert load_pipeline(VALID) is not None


def test_the_hard_wall_stops_a_hang():
    with pytest.raises(Hang), hard_wall(0.2):
        while True:
            pass


# --------------------------------------------------------------------------------------------------
# Suite files
# --------------------------------------------------------------------------------------------------

SUITE_DAG_TEXT = "name: suites\nsteps:\n  a: {script: a.py, outputs: {out: {}}}\n"


@pytest.fixture(scope="module")
def suite_dag():
    """The pipeline whose conventional suite expectations/a.out.json the examples write; GX imported
    once up front, so its import time is not one example's."""
    from pipetest_nb.validation.expectations.gx import GX as _GX

    (FOLDER / "suites.yaml").write_text(SUITE_DAG_TEXT)
    _GX.get()
    return PipelineDAG.from_yaml(FOLDER / "suites.yaml")


def check_suite(dag: PipelineDAG, raw: bytes) -> list:
    """Check and load one suite file as `pipetest validate` and an edge check do: problems name the
    file; loading gives a dict or a SuiteError naming the file."""
    path = FOLDER / "expectations" / "a.out.json"
    path.write_bytes(raw)
    with hard_wall():
        problems = check_suite_files(dag)
        assert all(p.file == str(path) for p in problems), [str(p) for p in problems]
        try:
            suite = load_suite(path)
        except SuiteError as exc:
            assert str(path) in str(exc)
            assert problems, f"validate passed a suite that cannot be loaded: {exc}"
        else:
            assert isinstance(suite, dict) and isinstance(suite["expectations"], list)
    return problems


columns = st.text(string.ascii_letters + "_", min_size=1, max_size=8)
valid_expectations = st.one_of(
    st.builds(lambda c: {"type": "expect_column_to_exist", "kwargs": {"column": c}}, columns),
    st.builds(lambda c: {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}}, columns),
    st.builds(lambda c, lo, span: {"type": "expect_column_values_to_be_between",
                                   "kwargs": {"column": c, "min_value": lo, "max_value": lo + span}},
              columns, st.integers(-10**6, 10**6), st.integers(0, 10**6)),
    st.builds(lambda c, values: {"type": "expect_column_values_to_be_in_set",
                                 "kwargs": {"column": c, "value_set": values}},
              columns, st.lists(st.one_of(st.integers(), st.text(max_size=5)), min_size=1, max_size=20)),
    st.builds(lambda lo: {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": lo}},
              st.integers(0, 1000)),
)
valid_suites = st.builds(lambda name, exps: {"name": name, "expectations": exps}, columns,
                         st.lists(valid_expectations, max_size=6))


@FUZZ
@given(valid_suites)
def test_valid_suites_pass(suite_dag, suite):
    assert check_suite(suite_dag, json.dumps(suite).encode()) == []


@FUZZ
@given(valid_suites, st.data())
def test_mutated_suites_load_or_name_the_file(suite_dag, suite, data):
    suite = _mutate(data, suite)
    with contextlib.suppress(ValueError, TypeError, RecursionError):  # a value JSON cannot hold
        check_suite(suite_dag, json.dumps(suite).encode())


@FUZZ
@given(st.one_of(st.binary(max_size=200), documents.map(lambda d: json.dumps(d).encode()),
                 st.sampled_from([b'{"expectations": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}",
                                  b'{"expectations": [{"type": "x", "kwargs": {"v": ' + b"9" * 5000 + b"}}]}",
                                  b'{"name": "caf\xe9", "expectations": []}', b"\xef\xbb\xbf{}", b"[]", b"null",
                                  b'{"expectations": {}}', b'{"expectations": [null, 1, "x", []]}'])))
def test_raw_suites_load_or_name_the_file(suite_dag, raw):
    check_suite(suite_dag, raw)
