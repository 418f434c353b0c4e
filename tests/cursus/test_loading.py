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
from pipetest_nb.spec.model import PipelineDAG

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



def test_the_overrides_give_an_external_output_relative_to_their_file_and_unprovided_optional_ones_stay_unwired(
        tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "o.yaml").write_text("steps:\n  CradleDataLoading_training:\n    outputs: {DATA: train}\n")
    steps = real_layer("rnr_NA", overrides=tmp_path / "o.yaml").to_pipeline_dict()["steps"]
    assert steps["CradleDataLoading_training"]["external"] is True
    assert steps["CradleDataLoading_training"]["outputs"] == {"DATA": {"path": str(tmp_path / "train")}}
    inputs = steps["TabularPreprocessing_training"]["inputs"]
    assert inputs["DATA"] == {"from": "CradleDataLoading_training.DATA"}
    assert "DATA_SECONDARY" not in inputs or inputs["DATA_SECONDARY"] == {"optional": True}  # METADATA: not given


# -- external steps run end to end ----------------------------------------------------------------

CONSUME = """
import os, shutil

def main(input_paths, output_paths, environ_vars, job_args):
    for name in sorted(os.listdir(input_paths["DATA"])):
        shutil.copy(os.path.join(input_paths["DATA"], name), os.path.join(output_paths["out"], "copy_" + name))
"""


def external_pipeline(folder: Path, columns: str) -> Path:
    """A pipeline file: an external step whose output is ``data/raw`` (a CSV with ``columns``), and a consumer."""
    (folder / "data" / "raw").mkdir(parents=True)
    (folder / "data" / "raw" / "part.csv").write_text(f"{columns}\n1,2\n3,4\n")
    (folder / "consume.py").write_text(CONSUME)
    (folder / "p.yaml").write_text(
        "name: ext\nsteps:\n"
        "  load:\n    external: true\n"
        "    outputs: {DATA: {path: data/raw, format: csv, schema: {required_columns: [a, b]}}}\n"
        "  use:\n    script: consume.py\n    inputs: {DATA: load.DATA}\n    outputs: {out: {format: csv}}\n")
    return folder / "p.yaml"


def run_pipeline(path: Path, workspace: Path):
    from pipetest_nb.engine.options import RunOptions
    from pipetest_nb.engine.start import start_run

    pipeline_run = start_run(PipelineDAG.from_yaml(path), RunOptions(workspace=workspace))
    try:
        pipeline_run.run()
        return pipeline_run.result()
    finally:
        pipeline_run.close()


def test_an_external_step_of_a_pipeline_file_runs_end_to_end_and_its_output_is_checked(tmp_path):
    run = run_pipeline(external_pipeline(tmp_path, "a,b"), tmp_path / "ws")
    assert run.success, run.error
    assert run.steps["load"].status == "succeeded"
    assert (run.run_dir / "steps" / "load" / "outputs" / "DATA" / "part.csv").is_file()
    assert (run.run_dir / "steps" / "use" / "outputs" / "out" / "copy_part.csv").read_text().startswith("a,b")
    record = json.loads((run.run_dir / "run.json").read_text())
    assert record["steps"]["load"]["isolation"] == "external"
    assert "data/raw" in (run.run_dir / "steps" / "load" / "stdout.log").read_text()
    assert (tmp_path / "data" / "raw" / "part.csv").read_text() == "a,b\n1,2\n3,4\n"  # the user's folder untouched


def test_an_external_output_that_breaks_its_schema_fails_like_any_output(tmp_path):
    run = run_pipeline(external_pipeline(tmp_path, "a,c"), tmp_path / "ws")
    assert not run.success
    assert run.steps["load"].status == "failed" and "b" in (run.steps["load"].error or "")
    assert run.steps["use"].status == "blocked"


def test_an_external_step_without_its_folder_is_rejected_when_the_file_is_read(tmp_path):
    path = external_pipeline(tmp_path, "a,b")
    path.write_text(path.read_text().replace("path: data/raw", "path: data/nope"))
    with pytest.raises(PipelineSpecError, match="output 'DATA' of external step 'load' not found"):
        PipelineDAG.from_yaml(path)
    path.write_text(path.read_text().replace("{path: data/nope, ", "{"))
    with pytest.raises(PipelineSpecError, match="output 'DATA' of external step 'load' has no path"):
        PipelineDAG.from_yaml(path)


CONSUMER_INTERFACE = """\
step_type: Consume
contract:
  entry_point: consume.py
  inputs: {DATA: {path: /opt/ml/processing/input/data, required: true}}
  outputs: {out: {path: /opt/ml/processing/output}}
spec:
  dependencies:
    DATA: {type: processing_output, required: true, compatible_sources: [CradleDataLoading], data_type: S3Uri}
  outputs:
    out: {type: processing_output, data_type: S3Uri}
"""


def test_cursus_run_feeds_an_sdk_step_from_a_folder(tmp_path):
    """CradleDataLoading (its real interface) does not run: --input gives its DATA, the consumer reads it."""
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "cradle_data_loading.step.yaml").write_text(
        (INTERFACES / "cradle_data_loading.step.yaml").read_text())
    (tmp_path / "contracts" / "consume.step.yaml").write_text(CONSUMER_INTERFACE)
    (tmp_path / "scripts").mkdir()  # beside the contracts: found there by name
    (tmp_path / "scripts" / "consume.py").write_text(CONSUME)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "dag.json").write_text(json.dumps({"nodes": ["CradleDataLoading_training", "Consume"],
                                                   "edges": [["CradleDataLoading_training", "Consume"]]}))
    (tmp_path / "config.json").write_text(json.dumps({"configuration": {"shared": {}, "specific": {
        "CradleDataLoading_training": {"__model_type__": "CradleDataLoadingConfig", "job_type": "training"},
        "Consume": {"__model_type__": "ConsumeConfig", "processing_entry_point": "consume.py",
                    "processing_source_dir": "/home/someone/project/scripts"}}},
        "metadata": {"config_types": {"CradleDataLoading_training": "CradleDataLoadingConfig",
                                      "Consume": "ConsumeConfig"}}}))
    base = ["dag.json", "config.json", "--contracts", "contracts", "--workspace", "ws"]
    done = cli("run", *base, cwd=tmp_path)
    assert done.returncode == 1 and "--input CradleDataLoading_training.DATA=" in done.stdout + done.stderr
    done = cli("run", *base, "--input", "CradleDataLoading_training.DATA=data", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (copied,) = (tmp_path / "ws").glob("runs/*/steps/Consume/outputs/out/copy_train.csv")
    assert copied.read_text() == "a,b\n1,2\n"
    table = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if line.split()[:1] in
             (["CradleDataLoading_training"], ["Consume"])}
    assert table == {"CradleDataLoading_training": "external", "Consume": "succeeded"}  # it ran nothing
