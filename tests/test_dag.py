"""The spec layer: loading pipeline files, reporting every mistake, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
from pipelines import write_pipeline

from pipetest_nb import PipelineDAG, PipelineSpecError, StepConfig
from pipetest_nb.spec.parse_values import parse_memory

DIAMOND = """\
name: diamond
defaults: {timeout: 60, isolation: pool, env: {SHARED: "1"}}
steps:
  a:
    script: a.py
    outputs: {out: {format: parquet, schema: {required_columns: [id], column_types: {id: int64}}}}
    env: {LABEL_FIELD: label}
    args: {job_type: training}
  b:
    script: b.py
    inputs: {DATA: a.out}
    outputs: {out: {}}
  c:
    script: c.py
    inputs:
      DATA: {from: a.out, format: parquet, schema: {required_columns: [id]}, required_files: [x.parquet]}
      RAW: data/raw.csv
    outputs: [out]
    timeout: 5
  d:
    script: d.py
    inputs: {LEFT: b.out, RIGHT: c.out}
    depends_on: [a]
    on_error: {timeout: retry, default: skip_step}
    memory: 512MB
edges:
  - {from: a.out, to: c.DATA, expectations: a_out, tables: "train/*", on_expectation_failure: warn}
"""


def load(folder: Path, text: str) -> PipelineDAG:
    return PipelineDAG.from_yaml(write_pipeline(folder, text))


def test_loads_a_diamond_with_every_input_form(pipeline_dir):
    dag = load(pipeline_dir, DIAMOND)
    assert dag.name == "diamond"
    assert list(dag.steps) == ["a", "b", "c", "d"]
    assert isinstance(dag.steps["a"], StepConfig)
    assert dag.steps["a"].script == pipeline_dir / "a.py"
    c = dag.steps["c"]
    assert c.inputs["DATA"].source == "a.out" and c.inputs["DATA"].producer == "a"
    assert c.inputs["DATA"].required_files == ("x.parquet",)
    assert c.inputs["RAW"].path == pipeline_dir / "data" / "raw.csv" and not c.inputs["RAW"].is_binding
    assert list(c.outputs) == ["out"]
    assert dag.steps["d"].memory == 512_000_000
    assert dag.steps["d"].upstream_steps == ["b", "c", "a"]
    assert dag.edge("a.out", "c.DATA").on_expectation_failure == "warn"
    assert dag.data_edges() == [("a.out", "b.DATA"), ("a.out", "c.DATA"), ("b.out", "d.LEFT"),
                                ("c.out", "d.RIGHT")]


def test_defaults_fill_what_a_step_leaves_unset(pipeline_dir):
    dag = load(pipeline_dir, DIAMOND)
    a, c = dag.resolved("a"), dag.resolved("c")
    assert (a.timeout, a.isolation, a.mode) == (60, "pool", "main")
    assert c.timeout == 5
    assert a.env == {"SHARED": "1", "LABEL_FIELD": "label"}


def test_plain_string_is_a_binding_only_when_it_names_a_step(pipeline_dir):
    dag = load(pipeline_dir, """\
        steps:
          a: {script: a.py, outputs: {out: {}}}
          b:
            script: b.py
            inputs: {X: a.out, Y: raw.csv, Z: a/out.csv, W: ./a.out}
        """)
    inputs = dag.steps["b"].inputs
    assert inputs["X"].is_binding
    assert inputs["Y"].path == pipeline_dir / "raw.csv"
    assert inputs["Z"].path == pipeline_dir / "a" / "out.csv"
    assert inputs["W"].path == pipeline_dir / "a.out"


def test_round_trip_through_dict_yaml_and_json(pipeline_dir, tmp_path):
    dag = load(pipeline_dir, DIAMOND)
    again = PipelineDAG.from_dict(dag.to_dict(), base_dir=dag.base_dir)
    assert again == dag
    json_file = pipeline_dir / "copy.json"
    json_file.write_text(json.dumps(dag.to_dict()))
    assert PipelineDAG.from_json(json_file) == dag
    assert PipelineDAG.load(json_file) == dag


def test_networkx_export_and_import(pipeline_dir):
    dag = load(pipeline_dir, DIAMOND)
    graph = dag.to_networkx()
    assert set(graph.edges) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")}
    assert graph.edges["b", "d"]["bindings"] == [("out", "LEFT")]
    assert graph.nodes["a"]["config"] is dag.steps["a"]
    assert PipelineDAG.from_networkx(graph) == dag


def test_networkx_graph_of_plain_attributes(pipeline_dir):
    graph = nx.DiGraph(name="from-graph")
    graph.add_node("a", script=str(pipeline_dir / "a.py"))
    graph.add_node("b", script=str(pipeline_dir / "b.py"))
    graph.add_edge("a", "b")
    dag = PipelineDAG.from_networkx(graph)
    assert dag.name == "from-graph"
    assert dag.steps["b"].depends_on == ("a",)


def test_source_dir_and_entry_point(pipeline_dir):
    (pipeline_dir / "src").mkdir()
    (pipeline_dir / "src" / "x.py").write_text("def main(*a): pass\n")
    dag = load(pipeline_dir, "steps:\n  x: {source_dir: src, entry_point: x.py}\n")
    assert dag.steps["x"].script == pipeline_dir / "src" / "x.py"


# -- every mistake, reported with where and what to do ----------------------------------------------


def spec_error(folder: Path, text: str) -> PipelineSpecError:
    with pytest.raises(PipelineSpecError) as info:
        load(folder, text)
    return info.value


def test_unknown_key_names_step_line_and_suggestion(pipeline_dir):
    err = spec_error(pipeline_dir, "steps:\n  a:\n    script: a.py\n    timout: 5\n")
    assert "pipeline.yaml:4" in str(err)
    assert "step 'a'" in str(err) and "unknown key 'timout'" in str(err)
    assert "did you mean 'timeout'?" in str(err)


def test_every_problem_is_reported_at_once(pipeline_dir):
    err = spec_error(pipeline_dir, """\
        steps:
          a: {script: missing.py, colour: red}
          b: {script: b.py, inputs: {X: a.nope}, depends_on: [zz]}
        """)
    text = str(err)
    assert len(err.problems) == 4, text
    assert "script file not found" in text and "missing.py" in text
    assert "unknown key 'colour'" in text
    assert "step 'a' declares no output 'nope'" in text
    assert "depends_on names unknown step 'zz'" in text
    assert text.startswith("4 problems in pipeline")


@pytest.mark.parametrize("bad_name, why", [
    ('""', "name is empty"),
    ("a/b", "path separator"),
    ("..", "contains '..'"),
    (".hidden", "starts with a dot"),
    ("a.b", "contains a dot"),
    ('"a b"', "may use only letters"),
])
def test_invalid_step_names(pipeline_dir, bad_name, why):
    err = spec_error(pipeline_dir, f"steps:\n  {bad_name}: {{script: a.py}}\n")
    assert why in str(err)


def test_duplicate_step_name_with_line(pipeline_dir):
    err = spec_error(pipeline_dir, "steps:\n  a: {script: a.py}\n  a: {script: b.py}\n")
    assert "pipeline.yaml:3" in str(err) and "step 'a' appears more than once" in str(err)


def test_binding_to_unknown_step_suggests_close_name(pipeline_dir):
    err = spec_error(pipeline_dir, """\
        steps:
          load: {script: a.py, outputs: {raw: {}}}
          b: {script: b.py, inputs: {X: {from: laod.raw}}}
        """)
    assert "bound to unknown step 'laod'" in str(err) and "did you mean 'load'?" in str(err)


def test_binding_to_unknown_output_suggests_close_name(pipeline_dir):
    err = spec_error(pipeline_dir, """\
        steps:
          load: {script: a.py, outputs: {raw_data: {}}}
          b: {script: b.py, inputs: {X: load.raw_dat}}
        """)
    assert "declares no output 'raw_dat'" in str(err) and "did you mean 'raw_data'?" in str(err)


@pytest.mark.parametrize("snippet, message", [
    ("timeout: -1", "'timeout' must be a positive number"),
    ("timeout: fast", "'timeout' must be a positive number"),
    ("mode: batch", "'mode' must be one of main, cli"),
    ("isolation: subproces", "did you mean 'subprocess'?"),
    ("env: [A, B]", "'env' must be a mapping"),
    ("env: {A: [1]}", "value of A must be a string or number"),
    ("args: [x]", "'args' must be a mapping"),
    ("on_error: explode", "unknown recovery strategy 'explode'"),
    ("on_error: {timout: retry}", "unknown error type 'timout'"),
    ("memory: lots", "'memory' must be a size"),
    ("retries: 1.5", "'retries' must be a whole number"),
    ("depends_on: 3", "'depends_on' must be a list of strings"),
    ("outputs: {o: {format: xls}}", "'format' must be one of"),
    ("outputs: {o: {schema: {required_columns: id}}}", "'required_columns' must be a list"),
    ("inputs: {X: {from: nodot}}", "'from' must be 'producer_step.output_name'"),
    ("inputs: {X: {from: a.out, path: x.csv}}", "not both"),
    ("inputs: {X: 3}", "an input must be a path"),
])
def test_bad_types_are_named(pipeline_dir, snippet, message):
    err = spec_error(pipeline_dir, f"steps:\n  a: {{script: a.py, outputs: {{out: {{}}}}}}\n"
                                   f"  b:\n    script: b.py\n    {snippet}\n")
    assert message in str(err)
    assert "step 'b'" in str(err)


def test_yaml_syntax_error_has_line_and_column(pipeline_dir):
    err = spec_error(pipeline_dir, "steps:\n  a: {script: a.py\n  b: [\n")
    assert "YAML syntax error" in str(err)
    assert err.problems[0].line is not None and err.problems[0].column is not None


def test_json_syntax_error_has_line(pipeline_dir):
    path = pipeline_dir / "p.json"
    path.write_text('{"steps": {\n "a": }\n')
    with pytest.raises(PipelineSpecError, match=r"p\.json:2:\d+: JSON syntax error"):
        PipelineDAG.from_json(path)


def test_yaml_is_loaded_safely(pipeline_dir):
    err = spec_error(pipeline_dir, "steps: !!python/object/apply:os.system ['echo pwned']\n")
    assert "YAML syntax error" in str(err)


def test_not_a_mapping(pipeline_dir):
    with pytest.raises(PipelineSpecError, match="must be a mapping with a 'steps' key"):
        load(pipeline_dir, "- a\n- b\n")


def test_missing_file():
    with pytest.raises(PipelineSpecError, match="file not found"):
        PipelineDAG.from_yaml("/nonexistent/pipeline.yaml")


def test_edge_must_describe_a_declared_binding(pipeline_dir):
    err = spec_error(pipeline_dir, """\
        steps:
          a: {script: a.py, outputs: {out: {}, other: {}}}
          b: {script: b.py, inputs: {X: a.out}}
        edges:
          - {from: a.other, to: b.X}
          - {from: a.out, to: b.Y}
        """)
    assert "that input is bound to 'a.out'" in str(err)
    assert "step 'b' has no input 'Y'" in str(err)


def test_no_script(pipeline_dir):
    with pytest.raises(PipelineSpecError, match="no script"):
        load(pipeline_dir, "steps:\n  a: {mode: main}\n")


def test_parse_memory():
    assert parse_memory("2GiB") == 2 * 2**30
    assert parse_memory(1024) == 1024
    assert parse_memory("1.5g") == 1_500_000_000
    for bad in ("", "-1", "2 parsecs", True, 0):
        with pytest.raises(ValueError):
            parse_memory(bad)
