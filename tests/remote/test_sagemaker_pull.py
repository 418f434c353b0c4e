"""``pipetest sagemaker pull``: a processing job created on the local server with the demo's script and data,
pulled into a one-step pipeline file and replayed by ``pipetest run`` on the same S3 data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import BUCKET, S3Server

import pipetest_nb
from pipetest_nb.engine.options import RunOptions
from pipetest_nb.engine.start import run_selected, start_run
from pipetest_nb.spec.model import PipelineDAG

DEMO = Path(pipetest_nb.__file__).parent / "demo"
JOB = "churn-preprocess-2026-12-02"
TOKEN = "tok_9fQ2xLr7Vb3KpZ8wYc1NdE5s"  # a secret in the job's environment: never written
ENV = {"LABEL_FIELD": "is_churn", "ID_FIELD": "customer_id", "TRAIN_RATIO": "0.6", "CALIBRATION_RATIO": "0.1",
       "SEED": "7", "API_TOKEN": TOKEN}


def pipetest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=180, env=os.environ.copy())


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory):
    """The demo's load_data and tabular_preprocessing, run locally."""
    options = RunOptions(workspace=tmp_path_factory.mktemp("local"), to_steps="tabular_preprocessing",
                         isolation="subprocess")
    run = start_run(PipelineDAG.load(DEMO / "pipeline.yaml"), options)
    try:
        run_selected(run, options)
        result = run.result()
    finally:
        run.close()
    assert result.steps["tabular_preprocessing"].success
    return result


@pytest.fixture
def job(s3: S3Server, local) -> dict:
    """The local run's data and the demo's script on S3; a processing job that ran it on the server."""
    client = s3.client()
    for path in sorted(local.steps["load_data"].outputs["DATA"].iterdir()):
        client.upload_file(str(path), BUCKET, f"jobs/input/data/{path.name}")
    client.upload_file(str(DEMO / "scripts" / "tabular_preprocessing.py"), BUCKET,
                       "jobs/code/tabular_preprocessing.py")
    sagemaker = s3.client("sagemaker")
    sagemaker.create_processing_job(
        ProcessingJobName=JOB, RoleArn="arn:aws:iam::123456789012:role/processing",
        ProcessingInputs=[
            {"InputName": "code", "S3Input": {"S3Uri": f"s3://{BUCKET}/jobs/code/tabular_preprocessing.py",
                                              "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
                                              "S3InputMode": "File"}},
            {"InputName": "DATA", "S3Input": {"S3Uri": f"s3://{BUCKET}/jobs/input/data", "S3DataType": "S3Prefix",
                                              "LocalPath": "/opt/ml/processing/input/data", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"Outputs": [
            {"OutputName": name, "S3Output": {"S3Uri": f"s3://{BUCKET}/jobs/output/{name}",
                                              "LocalPath": f"/opt/ml/processing/output/{name}",
                                              "S3UploadMode": "EndOfJob"}}
            for name in ("processed_data", "calibration_data")]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 30}},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        AppSpecification={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2",
                          "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/tabular_preprocessing.py"],
                          "ContainerArguments": ["--job_type", "training"]},
        Environment=ENV)
    return {"local": local, "description": sagemaker.describe_processing_job(ProcessingJobName=JOB)}


def frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.relative_to(folder).as_posix(): pd.read_parquet(p) for p in sorted(folder.rglob("*.parquet"))}


def test_a_job_on_the_server_is_pulled_and_replayed_on_the_same_s3_data_with_the_same_outputs(
        job: dict, tmp_path: Path) -> None:
    desc = job["description"]
    assert desc["ProcessingJobName"] == JOB and desc["ProcessingInputs"][1]["S3Input"]["LocalPath"].endswith("data")
    # moto's server keeps no Environment; AWS returns it: the answer is saved as AWS gives it
    saved = {**desc, "Environment": desc.get("Environment") or ENV}
    (tmp_path / "job.json").write_text(json.dumps(saved, default=str))
    pulled = pipetest("sagemaker", "pull", JOB, "--description", str(tmp_path / "job.json"), "--workspace", "ws",
                      cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert "API_TOKEN" in pulled.stdout and TOKEN not in pulled.stdout
    target = tmp_path / "ws" / "sagemaker" / JOB.replace(".", "_") / "pipeline.yaml"
    assert TOKEN not in target.read_text() and "API_TOKEN" not in target.read_text()
    replay = pipetest("run", str(target), "--workspace", "ws", cwd=tmp_path)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    run_dir = Path(replay.stdout.split("Run folder: ", 1)[1].splitlines()[0])
    record = json.loads((run_dir / "run.json").read_text())
    step = record["steps"][JOB.replace(".", "_")]
    assert step["remote_inputs"]["DATA"]["url"] == f"s3://{BUCKET}/jobs/input/data/"
    local = job["local"].steps["tabular_preprocessing"].outputs
    for name in ("processed_data", "calibration_data"):
        mine, theirs = frames(Path(step["outputs"][name])), frames(local[name])
        assert mine.keys() == theirs.keys() and mine
        for rel, frame in mine.items():
            pd.testing.assert_frame_equal(frame, theirs[rel])
    assert TOKEN not in "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())


def test_a_job_is_read_from_the_server_by_name(job: dict, tmp_path: Path) -> None:
    pulled = pipetest("sagemaker", "pull", JOB, "--workspace", "ws", cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    folder = tmp_path / "ws" / "sagemaker" / JOB
    data = yaml.safe_load((folder / "pipeline.yaml").read_text())
    step = data["steps"][JOB]
    assert step["inputs"] == {"DATA": f"s3://{BUCKET}/jobs/input/data/"}
    assert step["outputs"] == ["processed_data", "calibration_data"] and step["args"] == {"job_type": "training"}
    assert (folder / step["script"]).read_bytes() == (DEMO / "scripts" / "tabular_preprocessing.py").read_bytes()
    PipelineDAG.load(folder / "pipeline.yaml")  # a valid pipeline file


def test_pulling_a_job_that_does_not_exist_names_it(s3: S3Server, tmp_path: Path) -> None:
    pulled = pipetest("sagemaker", "pull", "no-such-job", "--workspace", "ws", cwd=tmp_path)
    assert pulled.returncode == 1
    assert "no processing job named 'no-such-job'" in pulled.stderr and "Traceback" not in pulled.stderr


def test_with_contracts_container_paths_name_the_inputs_and_the_file_is_checked(job: dict, tmp_path: Path) -> None:
    contracts = Path(__file__).parents[1] / "fixtures" / "cursus" / "chain" / "contracts"
    desc = job["description"]
    renamed = {**desc, "ProcessingInputs": [dict(i, InputName="input-1") if i["InputName"] == "DATA" else i
                                            for i in desc["ProcessingInputs"]]}
    (tmp_path / "renamed.json").write_text(json.dumps({**renamed, "Environment": ENV}, default=str))
    pulled = pipetest("sagemaker", "pull", JOB, "--description", "renamed.json", "--contracts", str(contracts),
                      "--workspace", "ws", cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    step = yaml.safe_load((tmp_path / "ws" / "sagemaker" / JOB / "pipeline.yaml").read_text())["steps"][JOB]
    assert step["inputs"] == {"DATA": f"s3://{BUCKET}/jobs/input/data/"}  # by /opt/ml/processing/input/data
    # the server keeps no Environment: the contract's required env vars are missing, and said so
    unchecked = pipetest("sagemaker", "pull", JOB, "--contracts", str(contracts), "--workspace", "ws2", cwd=tmp_path)
    assert unchecked.returncode == 1
    assert "required env var LABEL_FIELD has no value" in unchecked.stdout


def test_a_pipeline_execution_needs_its_step_and_an_endpoint_that_lists_steps(s3: S3Server, tmp_path: Path) -> None:
    sagemaker = s3.client("sagemaker")
    sagemaker.create_pipeline(PipelineName="churn", RoleArn="arn:aws:iam::123456789012:role/pipeline",
                              PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}))
    execution = sagemaker.start_pipeline_execution(PipelineName="churn")["PipelineExecutionArn"]
    no_step = pipetest("sagemaker", "pull", execution, "--workspace", "ws", cwd=tmp_path)
    assert no_step.returncode == 1 and "name the step to pull with --step NAME" in no_step.stderr
    # moto's server has no list_pipeline_execution_steps: the error says so, and what to do instead
    listed = pipetest("sagemaker", "pull", execution, "--step", "Preprocess", "--workspace", "ws", cwd=tmp_path)
    assert listed.returncode == 1
    assert f"{execution}: this SageMaker endpoint does not answer list_pipeline_execution_steps" in listed.stderr
    assert "pull the processing job that ran step 'Preprocess' by its name" in listed.stderr
