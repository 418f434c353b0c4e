"""Inputs Cursus makes from config fields at build time are made the same way, outside the user's tree."""

from __future__ import annotations

import json
from pathlib import Path

from pipetest_nb.cursus.build_inputs import build_input, ruleset_files
from pipetest_nb.cursus.documents import read_cursus_config
from pipetest_nb.cursus.layer import CursusIntegrationLayer

REAL = Path(__file__).parents[1] / "fixtures" / "cursus_real"
RNR_DAG = REAL / "dags" / "shared__bedrock__bedrock_batch_pytorch_with_label_ruleset_e2e.dag.json"
RNR = REAL / "configs" / "rnr_pytorch_bedrock__config.json"
DUMMY_DAG = REAL / "dags" / "nb__rnr_pytorch_bedrock__demo_pipeline_dummy_pytorch_eval_mods.dag.json"
DUMMY = REAL / "configs" / "rnr_pytorch_bedrock__config_dummy.json"


def _layer(dag: Path, config: Path | dict, tmp_path: Path, **kw) -> CursusIntegrationLayer:
    return CursusIntegrationLayer(dag, config, REAL / "interfaces", source_root=REAL / "scripts",
                                  build_dir=tmp_path / "built", **kw)


def _binding(layer: CursusIntegrationLayer, step: str, name: str):
    return next(b for b in layer.bindings_for(step) if b.input == name)


def _tree(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def test_label_ruleset_generation_gets_the_files_cursus_writes_from_its_config(tmp_path):
    before = _tree(RNR.parent)
    layer = _layer(RNR_DAG, RNR, tmp_path)
    b = _binding(layer, "LabelRulesetGeneration", "ruleset_configs")

    assert b.kind == "path"
    folder = Path(b.path)
    assert folder.is_relative_to(tmp_path / "built")
    assert sorted(p.name for p in folder.iterdir()) == ["label_config.json", "ruleset.json"]
    fields = read_cursus_config(RNR).step_fields("LabelRulesetGeneration")
    label = json.loads((folder / "label_config.json").read_text(encoding="utf-8"))
    assert label == fields["label_config"]  # every LabelConfig field, as to_script_format gives them
    rules = json.loads((folder / "ruleset.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in rules] == [r["name"] for r in fields["rule_definitions"]["rules"]]
    assert [r["output_label"] for r in rules] == [r["output_label"] for r in fields["rule_definitions"]["rules"]]
    first = fields["rule_definitions"]["rules"][0]["conditions"]
    assert rules[0]["conditions"] == {k: v for k, v in first.items() if v is not None}  # None parts dropped
    assert "LabelRulesetGeneration.ruleset_configs" in layer.build_notes
    assert _tree(RNR.parent) == before  # nothing written beside the user's configuration


def test_bedrock_prompt_template_generation_gets_one_file_per_configured_setting(tmp_path):
    layer = _layer(RNR_DAG, RNR, tmp_path)
    b = _binding(layer, "BedrockPromptTemplateGeneration", "prompt_configs")
    assert b.kind == "path"
    fields = read_cursus_config(RNR).step_fields("BedrockPromptTemplateGeneration")
    written = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in Path(b.path).iterdir()}
    assert written["system_prompt.json"] == fields["system_prompt_settings"]
    assert written["instruction.json"] == fields["instruction_settings"]
    assert written["output_format.json"] == fields["output_format_settings"]


def test_dummy_training_pretrained_model_is_bound_from_its_config_field_when_the_path_exists(tmp_path):
    raw = json.loads(DUMMY.read_text(encoding="utf-8"))
    model = tmp_path / "models"
    model.mkdir()
    raw["configuration"]["specific"]["DummyTraining"]["pretrained_model_path"] = "models"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(raw), encoding="utf-8")
    layer = _layer(DUMMY_DAG, config, tmp_path)  # the source root is the scripts folder

    b = _binding(layer, "DummyTraining", "model_artifacts_input")
    assert (b.kind, b.path) == ("path", model)  # relative to the configuration's folder
    assert "pretrained_model_path" in layer.build_notes["DummyTraining.model_artifacts_input"]


def test_an_s3_config_path_is_not_fetched_and_named_in_what_to_give(tmp_path):
    layer = _layer(DUMMY_DAG, DUMMY, tmp_path)
    b = _binding(layer, "DummyTraining", "model_artifacts_input")
    assert b.path is None
    note = layer.build_notes["DummyTraining.model_artifacts_input"]
    assert "pretrained_model_path" in note and "--input DummyTraining.model_artifacts_input=PATH" in note
    assert not (tmp_path / "built").exists()


def test_ruleset_files_leave_out_what_the_config_does_not_set():
    assert ruleset_files({"rule_definitions": {"rules": []}}) == {"ruleset.json": []}
    assert build_input("S", "ruleset_configs", "LabelRulesetGeneration", {},
                       {"ruleset_configs": "resolved_ruleset_configs_path"}, (Path("."),)) is None


def test_cursus_run_builds_the_inputs_in_its_workspace_once_the_check_passed(tmp_path):
    from pipetest_nb.views.cli.cursus import cmd_cursus_run
    from pipetest_nb.views.cli.main import build_parser

    pair = ["dags/shared__bedrock__bedrock_batch_pytorch_with_label_ruleset_e2e.dag.json",
            "configs/rnr_pytorch_bedrock__config.json"]
    args = build_parser().parse_args(["cursus", "run", *(str(REAL / p) for p in pair), "--contracts",
                                      str(REAL / "interfaces"), "--source-root", str(REAL / "scripts"),
                                      "--workspace", str(tmp_path / "ws")])
    assert cmd_cursus_run(args) == 1  # its DummyDataLoading inputs are not given: the check stops it
    assert not (tmp_path / "ws").exists()  # so nothing is written, built inputs included


def test_inputs_built_after_the_build_folder_is_moved_go_to_the_new_folder(tmp_path):
    layer = CursusIntegrationLayer(
        REAL / "dags" / "shared__bedrock__bedrock_batch_pytorch_with_label_ruleset_e2e.dag.json",
        REAL / "configs" / "rnr_pytorch_bedrock__config.json", REAL / "interfaces",
        inputs={"DummyDataLoading_training.INPUT_DATA": tmp_path, "DummyDataLoading_calibration.INPUT_DATA": tmp_path},
        source_root=REAL / "scripts")
    layer.check()  # built in a temporary folder
    layer.build_dir = tmp_path / "ws" / "cursus_inputs"  # what cursus run does once the check passed
    ruleset = layer.to_pipeline().steps["LabelRulesetGeneration"].inputs["ruleset_configs"].path
    assert ruleset == tmp_path / "ws" / "cursus_inputs" / "LabelRulesetGeneration" / "ruleset_configs"
    assert (ruleset / "ruleset.json").is_file()
