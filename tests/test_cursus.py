"""Cursus pipelines: loading the DAG, configuration and contracts, matching names, contract checks, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipetest_nb.cursus import (
    CursusIntegrationLayer,
    load_cursus_pipeline,
    name_similarity,
    normalise_name,
    read_cursus_dag,
    read_python_contracts,
    scan_script,
)
from pipetest_nb.exceptions import PipelineSpecError
from pipetest_nb.spec.model import PipelineDAG

CHAIN = Path(__file__).parent / "fixtures" / "cursus" / "chain"
CHAIN_ARGS = (CHAIN / "pipeline_dag.json", CHAIN / "config.json", CHAIN / "contracts")

NOOP = """
def main(input_paths, output_paths, environ_vars, job_args):
    pass
"""


def project(folder: Path, steps: dict[str, dict], edges: list[tuple[str, str]], shared: dict | None = None,
            config_types: dict[str, str] | None = None) -> tuple[Path, Path, Path]:
    """Write a small Cursus project: each step has 'contract' (YAML text), optional 'script' and 'fields'."""
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "contracts").mkdir(exist_ok=True)
    specific = {}
    for name, step in steps.items():
        (folder / "scripts" / f"{name}.py").write_text(textwrap.dedent(step.get("script", NOOP)))
        (folder / "contracts" / f"{name}.step.yaml").write_text(textwrap.dedent(step["contract"]))
        specific[name] = {"processing_entry_point": f"{name}.py", **step.get("fields", {})}
    config = {"configuration": {"shared": {"processing_source_dir": "scripts", **(shared or {})},
                                "specific": specific},
              "metadata": {"config_types": config_types or {}}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "dag.json").write_text(json.dumps({"nodes": list(steps), "edges": [list(e) for e in edges]}))
    return folder / "dag.json", folder / "config.json", folder / "contracts"


def outputs_contract(*names: str, hints: str = "") -> str:
    lines = "".join(f"    {n}: {{path: /opt/ml/processing/output/{n}}}\n" for n in names)
    return f"contract:\n  outputs:\n{lines}" + (f"spec:\n  outputs:\n{hints}" if hints else "")


def inputs_contract(*names: str, spec: str = "", required: bool = True) -> str:
    lines = "".join(f"    {n}: {{path: /opt/ml/processing/input/{n}, required: {str(required).lower()}}}\n"
                    for n in names)
    return f"contract:\n  inputs:\n{lines}" + (f"spec:\n  dependencies:\n{spec}" if spec else "")


# -- loading --------------------------------------------------------------------------------------


def test_chain_loads_as_a_pipeline_dag_in_main_mode():
    dag = load_cursus_pipeline(*CHAIN_ARGS, overrides=CHAIN / "overrides.yaml")
    assert isinstance(dag, PipelineDAG) and dag.name == "cursus-churn"
    assert list(dag.steps) == ["CradleDataLoading_training", "TabularPreprocessing_training", "XGBoostTraining",
                               "ModelEvaluation_calibration"]
    assert {s.mode for s in dag.steps.values()} == {"main"}
    load, prep = dag.steps["CradleDataLoading_training"], dag.steps["TabularPreprocessing_training"]
    assert load.inputs["RAW"].path == CHAIN / "data" / "raw.csv"
    assert prep.inputs["DATA"].source == "CradleDataLoading_training.DATA"
    signature = prep.inputs["SIGNATURE"]  # optional, indexed directly by the script: an empty folder
    assert signature.optional and signature.path is None and signature.source is None
    assert prep.env == {"TRAIN_RATIO": "0.7", "LABEL_FIELD": "label", "OUTPUT_FORMAT": "parquet"}
    assert prep.args == {"job_type": "training"}
    train = dag.steps["XGBoostTraining"]
    assert train.script == CHAIN / "scripts" / "training" / "train.py"
    assert train.inputs["processed_data_input"].source == "TabularPreprocessing_training.processed_data"
    assert train.env == {"LABEL_FIELD": "label", "MAX_DEPTH": "4"} and train.args == {}
    evaluate = dag.steps["ModelEvaluation_calibration"]
    assert evaluate.inputs["model_input"].source == "XGBoostTraining.model_output"
    assert evaluate.args == {"job_type": "calibration"}  # the step's own field wins over 'shared'
    assert evaluate.script == CHAIN / "scripts" / "model_evaluation.py"
    assert list(evaluate.outputs) == ["metrics_output"]


def test_bare_dag_dict_and_objects_with_nodes_and_edges_load_the_same(tmp_path):
    import networkx as nx

    serialized = json.loads((CHAIN / "pipeline_dag.json").read_text())
    bare = serialized["dag"]

    class CursusLikeDAG:  # Cursus' own PipelineDAG has these two attributes
        nodes = list(bare["nodes"])
        edges = [tuple(e) for e in bare["edges"]]

    graph = nx.DiGraph()
    graph.add_nodes_from(bare["nodes"])
    graph.add_edges_from(bare["edges"])
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    rest = dict(contracts_dir=CHAIN / "contracts", overrides=CHAIN / "overrides.yaml")
    reference = load_cursus_pipeline(CHAIN / "pipeline_dag.json", CHAIN / "config.json", **rest).to_dict()
    for source in (bare, CursusLikeDAG(), graph, tmp_path / "bare.json"):
        loaded = load_cursus_pipeline(source, CHAIN / "config.json", **rest).to_dict()
        assert loaded["steps"] == reference["steps"]
    assert read_cursus_dag(CursusLikeDAG()).predecessors("ModelEvaluation_calibration") == [
        "XGBoostTraining", "TabularPreprocessing_training"]


def test_dag_mistakes_are_reported_together(tmp_path):
    with pytest.raises(PipelineSpecError) as info:
        read_cursus_dag({"nodes": ["a", "a", 3], "edges": [["a", "b"], ["a"]]})
    text = str(info.value)
    assert "node 'a' appears more than once" in text and "got 3" in text
    assert "unknown node 'b'" in text and "[source, target]" in text
    with pytest.raises(PipelineSpecError, match="has no entry in configuration.specific"):
        CursusIntegrationLayer({"nodes": ["Loading", "Extra"], "edges": []},
                               {"configuration": {"shared": {}, "specific": {"Loading": {}}}})


def test_shared_fields_merge_under_specific_ones():
    layer = CursusIntegrationLayer(*CHAIN_ARGS)
    fields = layer.step_fields("ModelEvaluation_calibration")
    assert fields["job_type"] == "calibration" and fields["label_name"] == "label"
    assert fields["processing_source_dir"] == "scripts" and fields["script_path"] == "scripts/model_evaluation.py"
    assert layer.step_fields("TabularPreprocessing_training")["job_type"] == "training"


@pytest.mark.parametrize("fields, expected", [
    ({"script_path": "a/run.py", "processing_source_dir": "x", "processing_entry_point": "y.py"}, "x/y.py"),
    ({"processing_source_dir": "proc", "processing_entry_point": "p.py"}, "proc/p.py"),
    ({"source_dir": "src", "entry_point": "train.py"}, "src/train.py"),
    ({"processing_source_dir": "proc", "source_dir": "src", "entry_point": "train.py"}, "src/train.py"),
    ({"processing_source_dir": "proc", "entry_point": "e.py"}, "proc/e.py"),
])
def test_script_path_resolution(tmp_path, fields, expected):
    config = {"configuration": {"shared": {}, "specific": {"s": {}}}}
    layer = CursusIntegrationLayer({"nodes": ["s"], "edges": []}, config, source_root=tmp_path)
    assert layer.get_script_path(fields) == tmp_path / expected


@pytest.mark.parametrize("fields, message", [
    ({"label_name": "y"}, "cannot tell which script this step runs"),
    ({"processing_entry_point": "p.py"}, "entry point 'p.py' has no source folder"),
])
def test_script_path_error_says_what_to_set(fields, message):
    config = {"configuration": {"shared": {}, "specific": {"s": fields}}}
    layer = CursusIntegrationLayer({"nodes": ["s"], "edges": []}, config)
    with pytest.raises(PipelineSpecError, match=message) as info:
        layer.script_for("s")
    assert info.value.problems[0].step == "s" and "processing_entry_point" in info.value.problems[0].hint


def test_relative_paths_start_at_the_config_folder_unless_source_root_is_given(tmp_path):
    config = json.loads((CHAIN / "config.json").read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text(json.dumps(config))
    dag, contracts = CHAIN / "pipeline_dag.json", CHAIN / "contracts"
    with pytest.raises(PipelineSpecError, match="no contract for script|script file not found"):
        CursusIntegrationLayer(dag, elsewhere / "config.json",
                               inputs={"CradleDataLoading_training.RAW": CHAIN / "data"}).to_pipeline()
    moved = CursusIntegrationLayer(dag, elsewhere / "config.json", contracts,
                                   inputs={"CradleDataLoading_training.RAW": CHAIN / "data"})
    # not where the config says: found by file name in the scripts folder beside the contracts, and noted
    assert moved.to_pipeline().steps["CradleDataLoading_training"].script == CHAIN / "scripts" / "data_loading.py"
    assert "found by file name at" in moved.script_notes["CradleDataLoading_training"]
    layer = CursusIntegrationLayer(dag, elsewhere / "config.json", contracts, source_root=CHAIN,
                                   inputs={"CradleDataLoading_training.RAW": CHAIN / "data"})
    assert layer.script_for("XGBoostTraining") == CHAIN / "scripts" / "training" / "train.py"
    assert layer.to_pipeline().steps["CradleDataLoading_training"].script == CHAIN / "scripts" / "data_loading.py"
    assert CursusIntegrationLayer(dag, elsewhere / "config.json").script_for("XGBoostTraining") == (
        elsewhere / "scripts" / "training" / "train.py")


def test_override_file_paths_are_relative_to_it_and_cli_inputs_to_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "o.yaml").write_text("steps:\n  CradleDataLoading_training:\n    inputs: {RAW: my/raw.csv}\n")
    layer = CursusIntegrationLayer(*CHAIN_ARGS, overrides=tmp_path / "o.yaml")
    assert layer.bindings_for("CradleDataLoading_training")[0].path == tmp_path / "my" / "raw.csv"
    monkeypatch.chdir(tmp_path / "..")
    layer = CursusIntegrationLayer(*CHAIN_ARGS, overrides=tmp_path / "o.yaml",
                                   inputs={"CradleDataLoading_training.RAW": "x.csv"})
    assert layer.bindings_for("CradleDataLoading_training")[0].path == tmp_path.parent / "x.csv"


# -- env vars and job arguments -------------------------------------------------------------------


ENV_CONTRACT = """\
contract:
  job_arguments:
    - {flag: --job_type, source: job_type}
    - {flag: --mode, source: run_mode, required: false, default: fast}
  env_vars:
    required: [LABEL_FIELD, ID_FIELD, TRAIN_RATIO, FLAGS]
    optional: {OUTPUT_FORMAT: CSV, EMPTY_DEFAULT: ""}
"""


def env_layer(tmp_path: Path, fields: dict, overrides: dict | None = None) -> CursusIntegrationLayer:
    dag, config, contracts = project(tmp_path, {"s": {"contract": ENV_CONTRACT, "fields": fields}}, [])
    return CursusIntegrationLayer(dag, config, contracts, overrides=overrides)


def test_env_values_come_from_config_fields_then_aliases_then_contract_defaults(tmp_path):
    layer = env_layer(tmp_path, {"label_name": "churned", "Id_Field": 7, "train_ratio": 0.8,
                                 "flags": {"a": [1, True]}, "job_type": "training"})
    step = layer.resolve_step_configuration("s")
    assert step.env == {"LABEL_FIELD": "churned", "ID_FIELD": "7", "TRAIN_RATIO": "0.8", "FLAGS": '{"a": [1, true]}',
                        "OUTPUT_FORMAT": "CSV", "EMPTY_DEFAULT": ""}
    assert step.args == {"job_type": "training", "mode": "fast"}


def test_same_name_field_beats_alias_and_overrides_beat_everything(tmp_path):
    overrides = {"steps": {"s": {"env": {"ID_FIELD": "override", "EXTRA": True}, "args": {"mode": "slow"}}}}
    layer = env_layer(tmp_path, {"label_name": "alias", "label_field": "own", "id_name": "x", "run_mode": "m",
                                 "output_format": "parquet"}, overrides)
    step = layer.resolve_step_configuration("s")
    assert step.env["LABEL_FIELD"] == "own" and step.env["ID_FIELD"] == "override" and step.env["EXTRA"] == "true"
    assert step.env["OUTPUT_FORMAT"] == "parquet" and step.args["mode"] == "slow"
    again = layer.resolve_step_configuration("s", {"steps": {"s": {"env": {"ID_FIELD": "call"}}}})
    assert again.env["ID_FIELD"] == "call" and layer.resolve_step_configuration("s").env["ID_FIELD"] == "override"


def test_job_argument_values_keep_scalars_and_lists(tmp_path):
    layer = env_layer(tmp_path, {"job_type": {"split": "train"}, "run_mode": ["a", 1]})
    assert layer.resolve_step_configuration("s").args == {"job_type": '{"split": "train"}', "mode": ["a", 1]}


def test_extra_env_aliases(tmp_path):
    dag, config, contracts = project(tmp_path, {"s": {"contract": ENV_CONTRACT, "fields": {"target": "y"}}}, [])
    layer = CursusIntegrationLayer(dag, config, contracts, env_aliases={"LABEL_FIELD": ("target",)})
    assert layer.resolve_step_configuration("s").env["LABEL_FIELD"] == "y"


# -- matching -------------------------------------------------------------------------------------


def test_names_are_compared_as_cursus_compares_them():
    assert normalise_name("Processed-Data_Config") == "processed data configuration"
    assert normalise_name("model_of_the_eval") == "model evaluation"
    assert name_similarity("DATA", "data") == 1.0 and name_similarity("hyperparams", "hyperparameters") == 1.0
    assert 0.3 < name_similarity("training_set", "train_set") < 1.0
    assert name_similarity("signature", "metadata") < name_similarity("training_set", "train_set")


def test_chain_bindings_report_kind_and_confidence():
    layer = CursusIntegrationLayer(*CHAIN_ARGS, overrides=CHAIN / "overrides.yaml")
    table = {(b.step, b.input): (b.kind, b.source, b.confidence) for b in layer.match()}
    assert table[("TabularPreprocessing_training", "DATA")] == ("exact", "CradleDataLoading_training.DATA", 1.0)
    assert table[("XGBoostTraining", "processed_data_input")][::2] == ("similarity", 0.7926)
    assert table[("ModelEvaluation_calibration", "model_input")] == (
        "similarity", "XGBoostTraining.model_output", 0.8827)
    assert table[("ModelEvaluation_calibration", "eval_data")] == (
        "alias", "TabularPreprocessing_training.processed_data", 1.0)
    assert table[("TabularPreprocessing_training", "SIGNATURE")][0] == "empty"
    assert table[("CradleDataLoading_training", "RAW")][0] == "path"


def test_compatible_source_binds_the_single_output_of_a_compatible_producer(tmp_path):
    dag, config, contracts = project(tmp_path, {
        "Trainer_main": {"contract": outputs_contract("artifacts")},
        "Scorer": {"contract": inputs_contract("weights", spec="    weights: {compatible_sources: [XGBTraining]}\n")},
    }, [("Trainer_main", "Scorer")], config_types={"Trainer_main": "XGBTrainingConfig"})
    (binding,) = CursusIntegrationLayer(dag, config, contracts).bindings_for("Scorer")
    assert (binding.kind, binding.source, binding.confidence) == ("compatible_source", "Trainer_main.artifacts", 0.7281)


def test_similarity_binding_and_low_confidence_error(tmp_path):
    dag, config, contracts = project(tmp_path, {
        "a": {"contract": outputs_contract("train_set", "reports")},
        "b": {"contract": inputs_contract("training_set")},
    }, [("a", "b")])
    (binding,) = CursusIntegrationLayer(dag, config, contracts).bindings_for("b")
    assert binding.kind == "similarity" and binding.source == "a.train_set" and binding.ok
    strict = CursusIntegrationLayer(dag, config, contracts, min_confidence=0.9)
    (binding,) = strict.bindings_for("b")
    assert binding.kind == "low_confidence" and not binding.ok
    with pytest.raises(PipelineSpecError) as info:
        strict.to_pipeline()
    (problem,) = info.value.problems
    assert problem.step == "b" and problem.key == "inputs.training_set" and "a.train_set" in problem.message
    confirmed = CursusIntegrationLayer(dag, config, contracts, min_confidence=0.9,
                                       overrides={"bindings": {"b.training_set": "a.train_set"}})
    assert confirmed.to_pipeline().steps["b"].inputs["training_set"].source == "a.train_set"


def test_ambiguous_bindings_are_spec_errors_resolved_by_an_override(tmp_path):
    dag, config, contracts = project(tmp_path, {
        "left": {"contract": outputs_contract("DATA")},
        "right": {"contract": outputs_contract("DATA")},
        "join": {"contract": inputs_contract("DATA", "OTHER")},
    }, [("left", "join"), ("right", "join")])
    layer = CursusIntegrationLayer(dag, config, contracts)
    with pytest.raises(PipelineSpecError) as info:
        layer.to_pipeline()
    problems = {p.key: p for p in info.value.problems}
    # OTHER is not a problem: Cursus gives it the output DATA does not take (score 0.6 + its name's)
    assert set(problems) == {"inputs.DATA"}
    assert "left.DATA, right.DATA" in problems["inputs.DATA"].message
    assert problems["inputs.DATA"].file == str(contracts / "join.step.yaml")
    assert "bindings: {join.DATA: left.DATA}" in problems["inputs.DATA"].message  # ready to paste
    assert "only because it is declared first" in problems["inputs.DATA"].message
    with pytest.raises(PipelineSpecError, match="scores 0.90 with 2 outputs"):
        layer.resolve_step_configuration("join")
    errors = {(f.kind, f.name, f.line) for f in layer.check().errors}
    assert errors == {("ambiguous_binding", "DATA", 3)}
    resolved = CursusIntegrationLayer(dag, config, contracts, overrides={
        "bindings": {"join.DATA": "right.DATA", "join.OTHER": "left.DATA"}})
    join = resolved.to_pipeline().steps["join"]
    assert join.inputs["DATA"].source == "right.DATA" and join.inputs["OTHER"].source == "left.DATA"
    kinds = {b.input: b.kind for b in resolved.bindings_for("join")}
    assert kinds == {"DATA": "override", "OTHER": "override"}


def test_edges_that_carry_no_data_become_depends_on(tmp_path):
    dag, config, contracts = project(tmp_path, {
        "setup": {"contract": outputs_contract("zzz")},
        "work": {"contract": outputs_contract("result")},
    }, [("setup", "work")])
    layer = CursusIntegrationLayer(dag, config, contracts)
    assert layer.to_pipeline().steps["work"].depends_on == ("setup",)
    (warning,) = [f for f in layer.check().findings if f.kind == "edge_without_data"]
    assert warning.severity == "warning" and warning.step == "work" and warning.name == "setup"


def test_optional_inputs_not_indexed_directly_are_left_out(tmp_path):
    script = """
    def main(input_paths, output_paths, environ_vars, job_args):
        if "HINTS" in input_paths:
            print(input_paths.get("HINTS"))
    """
    dag, config, contracts = project(tmp_path, {"s": {"contract": inputs_contract("HINTS", required=False),
                                                      "script": script}}, [])
    layer = CursusIntegrationLayer(dag, config, contracts)
    assert [b.kind for b in layer.match()] == ["omitted"]
    assert layer.to_pipeline().steps["s"].inputs == {}


# -- contracts and the static scan ----------------------------------------------------------------


def test_python_contract_is_read_without_importing_it(tmp_path):
    (contract,) = read_python_contracts(CHAIN / "contracts" / "train_contract.py")  # imports cursus: never run
    assert contract.entry_point == "train.py"
    assert list(contract.inputs) == ["processed_data_input"] and contract.inputs["processed_data_input"].required
    assert contract.outputs == {"model_output": "/opt/ml/model"}
    assert contract.required_env == ("LABEL_FIELD",) and contract.optional_env == {"MAX_DEPTH": "3"}
    (tmp_path / "c.py").write_text('from x import ScriptContract\nPATHS = {"a": "/in"}\n'
                                   'C = ScriptContract(entry_point="s.py", expected_input_paths=PATHS,\n'
                                   '                   expected_arguments={"job-type": "training"})\n')
    with pytest.raises(PipelineSpecError, match="'expected_input_paths' is not a literal") as info:
        read_python_contracts(tmp_path / "c.py")
    assert info.value.problems[0].line == 3


def test_python_contract_job_arguments(tmp_path):
    (tmp_path / "c.py").write_text('C = ProcessingScriptContract(entry_point="s.py", '
                                   'expected_arguments={"job-type": "training", "--seed": ""})\n')
    (contract,) = read_python_contracts(tmp_path / "c.py")
    assert {n: (a.flag, a.source, a.default) for n, a in contract.job_arguments.items()} == {
        "job_type": ("--job-type", "job_type", "training"), "seed": ("--seed", "seed", None)}


def test_interface_mistakes_name_the_file_and_line(tmp_path):
    dag, config, contracts = project(tmp_path, {"s": {"contract": (
        "contract:\n  inputs: [a, b]\n  job_arguments:\n    - {source: x}\n  env_vars: {required: 3}\n")}}, [])
    with pytest.raises(PipelineSpecError) as info:
        CursusIntegrationLayer(dag, config, contracts).contract_for("s")
    lines = {p.key: p.line for p in info.value.problems}
    assert lines == {"inputs": 2, "job_arguments": 3, "required": 5}
    assert all(p.file == str(contracts / "s.step.yaml") for p in info.value.problems)


def test_scan_finds_every_way_a_script_reads_names(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent("""
        import os as system
        from os import environ, getenv

        def helper(paths):
            return paths["HELPER_IN"]

        def main(inputs, outputs, env, args):
            data = inputs["DATA"]
            extra = inputs.get("EXTRA")
            if "MAYBE" in inputs:
                pass
            out = outputs["result"]
            label = env["LABEL_FIELD"]
            fmt = env.get("FORMAT", "csv")
            home = system.environ["HOME_DIR"]
            user = system.environ.get("USER_NAME")
            debug = getenv("DEBUG")
            region = environ["REGION"]
            if args is not None and args.job_type:
                mode = getattr(args, "mode", "fast")

        if __name__ == "__main__":
            main({"NOT_A_USE": "/x"}, {}, {"ALSO_NOT": system.environ["NOPE"]}, None)
    """))
    usage = scan_script(script)
    assert usage.has_main and usage.error is None and usage.opaque == set()
    found = {(u.kind, u.name, u.direct, u.via_os) for u in usage.uses}
    assert found == {
        ("input", "DATA", True, False), ("input", "EXTRA", False, False), ("input", "MAYBE", False, False),
        ("output", "result", True, False), ("env", "LABEL_FIELD", True, False), ("env", "FORMAT", False, False),
        ("env", "HOME_DIR", True, True), ("env", "USER_NAME", False, True), ("env", "DEBUG", False, True),
        ("env", "REGION", True, True), ("arg", "job_type", True, False), ("arg", "mode", False, False)}
    assert usage.names("input")["DATA"].line == 9


def test_scan_marks_containers_passed_on_whole_as_opaque(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("def main(input_paths, output_paths, environ_vars, job_args):\n"
                      "    process(input_paths)\n    for k, v in environ_vars.items():\n        print(k)\n"
                      "    output_paths[name_of()]\n")
    usage = scan_script(script)
    assert usage.opaque == {"input", "env", "output"}
    (tmp_path / "bad.py").write_text("def main(:\n")
    broken = scan_script(tmp_path / "bad.py")
    assert broken.error.startswith("Python syntax error") and broken.error_line == 1


VIOLATIONS_CONTRACT = """\
contract:
  inputs:
    DATA: {path: /opt/ml/processing/input/data, required: true}
    UNUSED_IN: {path: /opt/ml/processing/input/unused, required: false}
  outputs:
    result: {path: /opt/ml/processing/output}
    never_written: {path: /opt/ml/processing/output2}
  job_arguments:
    - {flag: --job_type, source: job_type}
  env_vars:
    required: [LABEL_FIELD]
    optional: {UNUSED_ENV: "1"}
"""

VIOLATIONS_SCRIPT = """\
import os


def main(input_paths, output_paths, environ_vars, job_args):
    data = input_paths["DATA"]
    typo = input_paths["DATTA"]
    maybe = input_paths.get("SOMETIMES")
    out = output_paths["result"]
    label = environ_vars["LABEL_FIELD"]
    missing = environ_vars["NOT_DECLARED"]
    region = os.environ.get("AWS_REGION")
    kind = job_args.job_type
    seed = job_args.seed
"""


def test_every_contract_violation_names_step_name_and_file(tmp_path):
    dag, config, contracts = project(tmp_path, {"Train": {"contract": VIOLATIONS_CONTRACT,
                                                          "script": VIOLATIONS_SCRIPT}}, [])
    result = CursusIntegrationLayer(dag, config, contracts).check()
    script, contract = str(tmp_path / "scripts" / "Train.py"), str(contracts / "Train.step.yaml")
    found = {(f.severity, f.kind, f.name, f.file, f.line) for f in result.findings}
    assert found == {
        ("error", "missing_env_var", "LABEL_FIELD", contract, 11),
        ("error", "missing_job_argument", "job_type", contract, 9),
        ("error", "unbound_input", "DATA", contract, 3),
        ("error", "undeclared_input", "DATTA", script, 6),
        ("warning", "undeclared_input", "SOMETIMES", script, 7),
        ("error", "undeclared_env", "NOT_DECLARED", script, 10),
        ("warning", "undeclared_env", "AWS_REGION", script, 11),
        ("error", "undeclared_arg", "seed", script, 13),
        ("warning", "unused_input", "UNUSED_IN", contract, 4),
        ("warning", "unused_output", "never_written", contract, 7),
        ("warning", "unused_env", "UNUSED_ENV", contract, 12),
    }
    assert {f.step for f in result.findings} == {"Train"} and not result.ok
    text = result.format()
    assert "6 errors, 5 warnings" in text and f"{script}:6: step 'Train'" in text
    assert "did you mean 'DATA'?" in text


def test_violations_disappear_when_config_and_overrides_provide_the_values(tmp_path):
    dag, config, contracts = project(tmp_path, {"Train": {
        "contract": VIOLATIONS_CONTRACT, "script": VIOLATIONS_SCRIPT,
        "fields": {"label_name": "y", "job_type": "training"}}}, [])
    layer = CursusIntegrationLayer(dag, config, contracts, inputs={"Train.DATA": tmp_path},
                                   overrides={"steps": {"Train": {"env": {"NOT_DECLARED": "v"},
                                                                  "args": {"seed": 3}}}})
    result = layer.check()
    assert {f.kind for f in result.errors} == {"undeclared_input"}  # DATTA: a real bug in the script
    step = layer.resolve_step_configuration("Train")
    assert layer.validate_step_contract("Train", step).findings == result.findings


def test_missing_contract_and_missing_main_are_findings(tmp_path):
    dag, config, contracts = project(tmp_path, {"a": {"contract": outputs_contract("x"), "script": "X = 1\n"}},
                                     [])
    (contracts / "a.step.yaml").rename(contracts / "renamed.step.yaml")
    result = CursusIntegrationLayer(dag, config, contracts).check()
    (finding,) = result.findings
    assert finding.kind == "spec" and "no contract for script 'a.py'" in finding.message
    (contracts / "renamed.step.yaml").write_text("contract:\n  entry_point: a.py\n  outputs: {x: {}}\n")
    result = CursusIntegrationLayer(dag, config, contracts).check()
    assert [(f.kind, f.severity) for f in result.findings] == [("no_main", "error"), ("unused_output", "warning")]


def test_a_broken_producer_is_reported_once_under_its_own_name(tmp_path):
    dag, config, contracts = project(tmp_path, {"a": {"contract": outputs_contract("DATA")},
                                                "b": {"contract": inputs_contract("DATA")}}, [("a", "b")])
    data = json.loads(config.read_text())
    data["configuration"]["specific"]["a"] = {"processing_entry_point": "gone.py"}
    config.write_text(json.dumps(data))
    layer = CursusIntegrationLayer(dag, config, contracts)
    findings = layer.check().findings
    assert [(f.step, f.kind) for f in findings] == [("a", "spec")]
    assert "no contract for script 'gone.py'" in findings[0].message


def test_overrides_mistakes(tmp_path):
    with pytest.raises(PipelineSpecError) as info:
        CursusIntegrationLayer(*CHAIN_ARGS, overrides={"step": {}, "steps": {"Nope": {"inputz": {}}},
                                                       "bindings": {"x": "y"}})
    text = str(info.value)
    assert "unknown key 'step'" in text and "did you mean 'steps'" in text and "'inputz'" in text
    assert "a binding is 'consumer.input: producer.output'" in text
    with pytest.raises(PipelineSpecError, match="overrides name unknown step 'Nope'"):
        CursusIntegrationLayer(*CHAIN_ARGS, overrides={"steps": {"Nope": {}}})
    layer = CursusIntegrationLayer(*CHAIN_ARGS, inputs={"CradleDataLoading_training.RAWW": "x",
                                                        "CradleDataLoading_training.RAW": "y"})
    with pytest.raises(PipelineSpecError, match="does not declare.*did you mean 'RAW'"):
        layer.to_pipeline()
    layer = CursusIntegrationLayer(*CHAIN_ARGS, overrides={"bindings": {"XGBoostTraining.processed": None}})
    with pytest.raises(PipelineSpecError, match="overrides give a binding for input 'processed'"):
        layer.resolve_step_configuration("XGBoostTraining")


# -- command line ---------------------------------------------------------------------------------


def pipetest(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_cli_match_prints_the_binding_table():
    done = pipetest("cursus", "match", CHAIN / "pipeline_dag.json", CHAIN / "config.json",
                    "--contracts", CHAIN / "contracts", "--overrides", CHAIN / "overrides.yaml")
    assert done.returncode == 0, done.stderr
    lines = {line.split()[1]: line.split()[2:] for line in done.stdout.splitlines()[2:] if line.strip()
             and not line.startswith("6 inputs")}
    assert lines["eval_data"][:3] == ["TabularPreprocessing_training.processed_data", "alias", "1.00"]
    assert lines["SIGNATURE"][:3] == ["(empty", "folder)", "empty"]
    assert "6 inputs, 0 to resolve" in done.stdout
    done = pipetest("cursus", "match", CHAIN / "pipeline_dag.json", CHAIN / "config.json",
                    "--contracts", CHAIN / "contracts", "--json")
    assert done.returncode == 1  # RAW has no data
    rows = {r["input"]: r for r in json.loads(done.stdout)}
    assert rows["RAW"]["kind"] == "unbound" and rows["model_input"]["confidence"] == 0.8827


def test_cli_check_exits_1_on_errors_and_0_when_clean():
    done = pipetest("cursus", "check", CHAIN / "pipeline_dag.json", CHAIN / "config.json",
                    "--contracts", CHAIN / "contracts")
    assert done.returncode == 1
    assert "step 'CradleDataLoading_training': required input 'RAW' is not bound" in done.stdout
    assert "data_loading.step.yaml:4" in done.stdout and "1 error, 0 warnings" in done.stdout
    done = pipetest("cursus", "check", CHAIN / "pipeline_dag.json", CHAIN / "config.json",
                    "--contracts", CHAIN / "contracts", "--input",
                    f"CradleDataLoading_training.RAW={CHAIN / 'data' / 'raw.csv'}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: 4 steps agree with their contracts" in done.stdout


def test_cli_reports_user_mistakes_without_a_traceback(tmp_path):
    done = pipetest("cursus", "check", tmp_path / "missing.json", CHAIN / "config.json")
    assert done.returncode == 1 and "file not found" in done.stderr and "Traceback" not in done.stderr
    done = pipetest("cursus", "match", CHAIN / "pipeline_dag.json", CHAIN / "config.json", "--input", "RAW")
    assert done.returncode == 1 and "--input must be STEP.NAME=PATH" in done.stderr


# -- running --------------------------------------------------------------------------------------


def test_chain_runs_end_to_end_with_the_executor(tmp_path):
    from pipetest_nb.engine.executor import PipelineExecutor

    dag = load_cursus_pipeline(*CHAIN_ARGS, overrides=CHAIN / "overrides.yaml")
    result = PipelineExecutor(workspace_dir=tmp_path, isolation="inprocess").execute_pipeline(
        dag, data_source="files")
    assert result.success, result.error
    assert [r.step_name for r in result.completed_steps] == list(dag.steps)
    metrics = json.loads((result.steps["ModelEvaluation_calibration"].outputs["metrics_output"]
                          / "metrics.json").read_text())
    assert metrics["job_type"] == "calibration" and metrics["rows"] == 6 and metrics["ids"] == list(range(34, 40))
    signature = result.steps["TabularPreprocessing_training"].inputs["SIGNATURE"]
    assert signature.is_dir() and not any(signature.iterdir())  # the optional input: an empty folder


def test_a_session_steps_through_a_cursus_pipeline(tmp_path):
    from pipetest_nb.session import Session

    dag = load_cursus_pipeline(*CHAIN_ARGS, inputs={"CradleDataLoading_training.RAW": CHAIN / "data"})
    with Session(dag, tmp_path, isolation="inprocess", progress=False) as session:
        session.step()
        session.step()
        frame = session.outputs("TabularPreprocessing_training").frame(table="train/*.parquet")
        assert len(frame) == 28 and {"id", "label"} <= set(frame.columns)
        assert session.status["XGBoostTraining"] == "pending"


def test_cli_run_checks_first_then_runs(tmp_path):
    args = ("cursus", "run", CHAIN / "pipeline_dag.json", CHAIN / "config.json", "--contracts", CHAIN / "contracts",
            "--workspace", tmp_path / "ws")
    done = pipetest(*args)
    assert done.returncode == 1 and "not running: fix the errors above first" in done.stderr
    assert not (tmp_path / "ws").exists()
    done = pipetest(*args, "--overrides", CHAIN / "overrides.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("succeeded") == 5
    (metrics,) = (tmp_path / "ws").glob("runs/*/steps/ModelEvaluation_calibration/outputs/metrics_output/*.json")
    assert json.loads(metrics.read_text())["accuracy"] > 0.5
