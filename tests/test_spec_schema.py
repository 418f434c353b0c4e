"""The one declaration of the pipeline file's keys, and what is generated from it: the JSON Schema, its
committed copy, the README table and ``pipetest schema``."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from pipelines import write_pipeline

from pipetest_nb import PipelineDAG, PipelineSpecError
from pipetest_nb.spec.keys import SECTIONS
from pipetest_nb.spec.reference import END, START, markdown_reference, readme_section
from pipetest_nb.spec.schema import json_schema, json_schema_text
from pipetest_nb.views.cli.schema import add_schema_command

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "pipeline.schema.json"
DEMO_SCHEMA_FILE = ROOT / "pipetest_nb" / "demo" / "pipeline.schema.json"
MODELINE = "# yaml-language-server: $schema="


def _tracked_documents() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.yaml", "*.yml", "*.json"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    return [ROOT / name for name in listed]


def _read(path: Path):
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def pipeline_files() -> list[Path]:
    """Tracked files that are pipeline files by their content: a mapping with a name and steps (a Cursus
    overrides file has steps but no name; a run record has steps but no name either)."""
    found = []
    for path in _tracked_documents():
        try:
            data = _read(path)
        except (ValueError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("steps"), dict) and isinstance(data.get("name"), str):
            found.append(path)
    return found


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_repo_has_pipeline_files_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in pipeline_files()}
    assert {"pipetest_nb/demo/pipeline.yaml", "pipetest_nb/demo/pipeline_broken.yaml",
            "pipetest_nb/examples/churn/pipeline.yaml"} <= names


@pytest.mark.parametrize("path", pipeline_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_pipeline_file_in_the_repo_matches_the_schema(path, validator):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_read(path))]
    assert not errors, errors
    PipelineDAG.load(path)  # and the loader takes it, the schema comment included


@pytest.mark.parametrize("path", pipeline_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_pipeline_yaml_names_the_schema_for_editors(path):
    if path.suffix == ".json":
        pytest.skip("JSON has no comments")
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(MODELINE), first
    assert (path.parent / first[len(MODELINE):]).resolve() in (SCHEMA_FILE, DEMO_SCHEMA_FILE)


GOOD = {"name": "p", "steps": {"a": {"script": "a.py", "outputs": {"out": {"format": "parquet"}}},
                               "b": {"script": "b.py", "inputs": {"X": "a.out"}}}}


@pytest.mark.parametrize("change, where", [
    (lambda d: d["steps"]["a"].update(timout=5), "unknown key in a step"),
    (lambda d: d.update(colour="red"), "unknown key at the top"),
    (lambda d: d["steps"]["a"]["outputs"]["out"].update(fromat="csv"), "unknown key in an output"),
    (lambda d: d["steps"]["a"].update(timeout="fast"), "a timeout that is not a number"),
    (lambda d: d["steps"]["a"].update(retries=1.5), "retries that are not whole"),
    (lambda d: d["steps"]["a"].update(mode="batch"), "a mode that is not one of the choices"),
    (lambda d: d["steps"]["a"].update(memory="lots"), "a memory that is not a size"),
    (lambda d: d["steps"]["a"].update(env=["A"]), "env that is not a mapping"),
    (lambda d: d["steps"]["b"].update(inputs={"X": {"from": "a.out", "path": "x.csv"}}), "from and path"),
    (lambda d: d["steps"]["a"].pop("script"), "a step without a script"),
    (lambda d: d["steps"].update({"a b": {"script": "c.py"}}), "a step name with a space"),
    (lambda d: d.update(edges=[{"from": "a.out"}]), "an edge without 'to'"),
    (lambda d: d.update(steps={}), "no steps"),
])
def test_invalid_files_are_rejected_by_the_schema_and_the_loader(change, where, validator, tmp_path):
    data = json.loads(json.dumps(GOOD))
    assert validator.is_valid(data)
    change(data)
    assert not validator.is_valid(data), where
    with pytest.raises(PipelineSpecError):
        PipelineDAG.from_dict(data, base_dir=tmp_path, check_files=False)


def test_a_file_the_loader_takes_matches_the_schema(validator, tmp_path):
    """Every documented form at once: the schema must not refuse what the loader accepts."""
    path = write_pipeline(tmp_path, """\
        name: every-form
        description: all the forms
        defaults: {timeout: 1.5, isolation: pool, on_error: retry, retries: 0, memory: 2GiB, mode: cli,
                   env: {A: 1, B: true}}
        preload: numpy
        steps:
          a:
            script_path: a.py
            outputs: [out, other]
            on_error: {timeout: retry, default: skip_step}
            memory: 1000000
            depends_on: b
          b:
            source_dir: src
            entry_point: b.py
            inputs:
              RAW: data/raw.csv
              OPT: {optional: true}
              EXT: {path: x.csv, format: csv, schema: {required_columns: [id], column_types: {id: int64},
                                                       rows: 5}, required_files: x.csv}
            outputs: {out: null, kept: {format: binary, non_tabular: "*.pkl", tables: "t/*", description: d}}
            args: {n: 3, names: [x, 1], flag: false}
            defaults: {env: {A: "2"}, args: {n: 4}}
          c:
            script: c.py
            inputs: {X: a.out, Y: {from: b.kept}}
        edges:
          - {from: b.kept, to: c.Y, expectations: kept_suite, tables: "t/*", on_expectation_failure: warn}
        """)
    data = yaml.safe_load(path.read_text())
    dag = PipelineDAG.from_dict(data, tmp_path, check_files=False)
    assert list(dag.steps) == ["a", "b", "c"]
    errors = [e.message for e in validator.iter_errors(data)]
    assert not errors, errors


def test_the_serializer_writes_keys_in_their_declared_order(tmp_path):
    dag = PipelineDAG.from_dict({"steps": {"a": {"description": "d", "timeout": 5, "script": "a.py",
                                                 "defaults": {"env": {"A": "1"}}}},
                                 "preload": ["x"], "name": "p"}, tmp_path, check_files=False)
    out = dag.to_dict()
    declared = SECTIONS["pipeline"].names
    assert list(out) == [k for k in declared if k in out]
    assert list(out["steps"]["a"]) == [k for k in SECTIONS["step"].names if k in out["steps"]["a"]]


@pytest.mark.parametrize("committed", [SCHEMA_FILE, DEMO_SCHEMA_FILE], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_committed_schema_is_current(committed):
    # the demo carries its own copy: `pipetest demo` copies the folder into a workspace, where
    # a path into the repository's docs/ would not resolve
    rel = committed.relative_to(ROOT).as_posix()
    assert committed.read_text(encoding="utf-8") == json_schema_text(), (
        f"{rel} is stale: run `pipetest schema -o {rel}`")


def test_the_readme_table_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in readme and END in readme
    assert readme_section(readme) == readme, (
        "the README's pipeline keys are stale: write readme_section(README) from pipetest_nb.spec.reference")
    for section in SECTIONS.values():
        for key in section.keys:
            assert f"| `{key.name}` |" in markdown_reference()


def _schema_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pipetest")
    add_schema_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_pipetest_schema_prints_the_schema(capsys):
    assert _schema_command(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_pipetest_schema_writes_a_file(tmp_path, capsys):
    target = tmp_path / "pipeline.schema.json"
    assert _schema_command(["schema", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")
    assert str(target) in capsys.readouterr().out
