"""Pipeline files from hypothesis: each either loads or raises PipelineSpecError, never anything else."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipetest_nb import PipelineDAG, PipelineSpecError

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

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4)),
    max_leaves=25)


def loads_or_spec_error(text: str) -> None:
    path = FOLDER / "pipeline.yaml"
    path.write_text(text)
    with contextlib.suppress(PipelineSpecError):
        PipelineDAG.from_yaml(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents(document):
    loads_or_spec_error(yaml.safe_dump(document))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    loads_or_spec_error("\n".join(lines) + "\n")


def test_raw_bytes_that_are_not_yaml():
    for text in ["\x00\x01", "{{{{", "- [", "steps: !!binary AAAA", "&a [*a]", "a: *missing", "? [1]: 2"]:
        loads_or_spec_error(text)
