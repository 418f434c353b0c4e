"""Real Cursus projects load as they are: scripts found the way a config stays portable, SDK steps external.

The material is the Cursus repository's own (tests/fixtures/cursus_real, see its README): 7 project
configs with their DAGs, the 61 step interfaces and the step scripts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipetest_nb.cursus import CursusIntegrationLayer
from pipetest_nb.exceptions import PipelineSpecError

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "cursus_real"
SCRIPTS, INTERFACES = REAL / "scripts", REAL / "interfaces"
PAIRS = json.loads((REAL / "dags" / "pairs.json").read_text(encoding="utf-8"))["pairs"]
SDK_TYPES = {"CradleDataLoading", "RedshiftDataLoading", "Registration", "DataUploading"}
#: what a clear rejection names, per rejected pair (pairs.json's "why")
REJECTED_NAMES = {"ab_lightgbm": ["LightGBMTraining", "LightGBMModelEval_calibration"],
                  "munged_NA": ["PercentileModelCalibration_calibration", "Registration"]}


def real_layer(pair_id: str, **kwargs) -> CursusIntegrationLayer:
    pair = next(p for p in PAIRS if p["id"] == pair_id)
    return CursusIntegrationLayer(REAL / pair["dag"], REAL / pair["config"], INTERFACES, source_root=SCRIPTS,
                                  **kwargs)


def cli(*args: str, cwd: Path = REAL) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "cursus", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("pair", [p for p in PAIRS if p["expect"] == "loads"], ids=lambda p: p["id"])
def test_every_loadable_real_config_loads_unedited(pair):
    layer = real_layer(pair["id"])
    unresolved = {f"{b.step}.{b.input}" for b in layer.match() if b.problem or b.kind == "unbound"}
    assert unresolved == set(pair["external_required_inputs"])
    for step in layer.steps:
        if layer.is_external(step):
            assert layer.step_type(step) in SDK_TYPES
        else:  # the real script, though the config names a folder on its author's machine
            assert layer.script_for(step).parent == SCRIPTS and layer.script_for(step).is_file()


@pytest.mark.parametrize("pair", [p for p in PAIRS if p["expect"] == "rejected"], ids=lambda p: p["id"])
def test_a_real_config_that_does_not_fit_its_dag_is_one_clear_spec_error(pair):
    with pytest.raises(PipelineSpecError) as info:
        real_layer(pair["id"])
    for name in REJECTED_NAMES[pair["id"]]:
        assert name in str(info.value)
    done = cli("match", pair["dag"], pair["config"], "--contracts", "interfaces", "--source-root", "scripts")
    assert done.returncode != 0 and "Traceback" not in done.stderr and REJECTED_NAMES[pair["id"]][0] in done.stderr


def test_the_portable_fields_win_and_a_script_found_by_name_is_noted():
    layer = real_layer("rnr")  # script_path is /home/ec2-user/...: processing_source_dir + entry point first
    assert layer.script_for("TabularPreprocessing_training") == SCRIPTS / "tabular_preprocessing.py"
    note = layer.script_notes["TabularPreprocessing_training"]
    assert "processing_source_dir + processing_entry_point" in note and "found by file name at" in note
    assert layer.script_for("PyTorchTraining") == SCRIPTS / "pytorch_training.py"  # training_entry_point
    findings = [f for f in layer.check().findings if f.kind == "script_found_by_name"]
    assert {f.step for f in findings} >= {"TabularPreprocessing_training", "PyTorchTraining"}
    assert all(f.severity == "warning" for f in findings)


def test_scripts_are_found_beside_the_contracts_without_a_source_root():
    pair = next(p for p in PAIRS if p["id"] == "atoz")
    layer = CursusIntegrationLayer(REAL / pair["dag"], REAL / pair["config"], INTERFACES)
    assert layer.script_for("XGBoostTraining") == SCRIPTS / "xgboost_training.py"


def test_sdk_steps_are_external_and_registration_needs_no_inference_handler():
    layer = real_layer("atoz")
    external = {s for s in layer.steps if layer.is_external(s)}
    assert external == {"CradleDataLoading_training", "CradleDataLoading_calibration", "Registration"}
    assert layer.bindings_for("Registration") == []
    assert set(layer.contract_for("CradleDataLoading_training").outputs) == {"DATA", "METADATA", "SIGNATURE"}


def test_the_overrides_set_a_script_and_mark_a_step_external(tmp_path):
    script = tmp_path / "mine" / "dummy_training.py"  # its own copy; the contract is the step's
    script.parent.mkdir()
    script.write_text("def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n")
    (tmp_path / "o.yaml").write_text("steps:\n  DummyDataLoading_calibration: {external: true}\n"
                                     "  DummyTraining: {script: mine/dummy_training.py}\n")
    layer = real_layer("rnr_dummy", overrides=tmp_path / "o.yaml")
    assert layer.is_external("DummyDataLoading_calibration") and layer.script_for("DummyTraining") == script
    assert not [b for b in layer.match() if b.problem or b.kind == "unbound"]  # its INPUT_DATA is not read
    with pytest.raises(PipelineSpecError, match="'external' of a step override must be true or false"):
        real_layer("rnr_dummy", overrides={"steps": {"DummyDataLoading_calibration": {"external": "yes"}}})


def test_a_missing_external_folder_is_one_clear_error_before_anything_runs(tmp_path):
    layer = real_layer("rnr_NA")
    with pytest.raises(PipelineSpecError) as info:
        layer.to_pipeline()
    (problem,) = [p for p in info.value.problems if p.step == "CradleDataLoading_training"]
    assert "output 'DATA'" in problem.message and "--input CradleDataLoading_training.DATA=" in problem.hint
    errors = [f for f in layer.check().errors if f.step == "CradleDataLoading_training"]
    assert [f.kind for f in errors] == ["external_data"]
    pair = next(p for p in PAIRS if p["id"] == "rnr_NA")
    done = cli("run", str(REAL / pair["dag"]), str(REAL / pair["config"]), "--contracts", str(INTERFACES),
               "--source-root", str(SCRIPTS), "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert done.returncode == 1 and "--input CradleDataLoading_training.DATA=" in done.stdout + done.stderr
    assert not (tmp_path / "ws").exists()  # nothing ran


def test_a_provided_folder_that_is_not_there_or_names_no_output_is_an_error(tmp_path):
    layer = real_layer("rnr_NA", inputs={"CradleDataLoading_training.DATA": tmp_path / "nope",
                                         "CradleDataLoading_training.DATTA": tmp_path})
    messages = [f.message + " " + (f.hint or "") for f in layer.check().errors
                if f.step == "CradleDataLoading_training"]
    assert any("does not exist" in m for m in messages)
    assert any("'DATTA', which is not an output" in m and "did you mean 'DATA'" in m for m in messages)
