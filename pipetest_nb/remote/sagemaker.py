"""A SageMaker processing job as a one-step pipeline: its S3 inputs, outputs, environment, arguments and
code, read with ``describe_processing_job`` (or found from a pipeline execution's step), so that the step
replays locally on the same S3 data.

Container paths map to logical names the way Cursus builds its jobs: each ``ProcessingInput`` is named
after the contract's logical input (``/opt/ml/processing/input/<name>``); given the step's contract, the
container path decides. The job's description is data: values are checked, never run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetest_nb.exceptions import PipetestError
from pipetest_nb.remote.errors import INSTALL_HINT, RemoteDataError, explain
from pipetest_nb.spec.names import name_problem

CODE_INPUT = "code"
_EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:pipeline/[^/]+/execution/[^/]+$")


@dataclass
class JobReplay:
    """What a processing job becomes locally: the step's inputs (URLs), outputs, env and args, its code."""

    job_name: str
    step: str
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # logical name -> the job's S3 destination
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)
    code_url: str | None = None
    entry_point: str | None = None  # the script's file name inside the code input
    status: str | None = None
    failure: str | None = None
    notes: list[str] = field(default_factory=list)

    def pipeline(self, script: str) -> dict[str, Any]:
        """The pipeline file's content, ``script`` relative to the file."""
        step: dict[str, Any] = {"script": script, "inputs": dict(self.inputs), "outputs": list(self.outputs)}
        if self.env:
            step["env"] = dict(self.env)
        if self.args:
            step["args"] = dict(self.args)
        what = f"SageMaker processing job {self.job_name}" + (f" ({self.status})" if self.status else "")
        return {"name": self.step, "description": f"Local replay of {what}", "steps": {self.step: step}}


def _client(service: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise PipetestError(f"reading SageMaker jobs needs boto3; install the s3 extra: {INSTALL_HINT}") from None
    endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")
    from botocore.config import Config

    return boto3.client(service, config=Config(retries={"max_attempts": 3, "mode": "standard"}),
                        **({"endpoint_url": endpoint} if endpoint else {}))


def describe(job: str, step: str | None = None) -> dict[str, Any]:
    """``describe_processing_job`` of ``job``: a job name, or a pipeline execution ARN with the ``step`` name."""
    client = _client("sagemaker")
    where = f"sagemaker://{job}"
    if _EXECUTION_ARN.match(job):
        if not step:
            raise PipetestError(f"{job} is a pipeline execution: name the step to pull with --step NAME")
        job = _job_of_step(client, job, step)
    try:
        return client.describe_processing_job(ProcessingJobName=job)
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError, or the network
        text = str(exc)
        if "ValidationException" in text or "does not exist" in text or "Could not find" in text:
            raise RemoteDataError(where, f"no processing job named '{job}'",
                                  "check the name (and AWS_DEFAULT_REGION)") from None
        raise explain(where, exc) from None


def _job_of_step(client: Any, execution: str, step: str) -> str:
    """The processing job a pipeline execution ran for ``step`` (``list_pipeline_execution_steps``)."""
    try:
        pages = client.get_paginator("list_pipeline_execution_steps").paginate(PipelineExecutionArn=execution)
        steps = [s for page in pages for s in page.get("PipelineExecutionSteps", [])]
    except Exception as exc:  # noqa: BLE001
        if any(word in str(exc) for word in ("(500)", "(501)", "NotImplemented", "UnknownOperation")):
            raise RemoteDataError(execution, "this SageMaker endpoint does not answer list_pipeline_execution_steps",
                                  f"pull the processing job that ran step '{step}' by its name") from None
        raise explain(execution, exc) from None
    for entry in steps:
        if entry.get("StepName") == step:
            arn = ((entry.get("Metadata") or {}).get("ProcessingJob") or {}).get("Arn")
            if not arn:
                raise PipetestError(f"step '{step}' of {execution} ran no processing job; only processing "
                                    "steps can be pulled")
            return arn.rsplit("/", 1)[-1]
    names = ", ".join(sorted(str(s.get("StepName")) for s in steps)) or "none"
    raise PipetestError(f"pipeline execution {execution} has no step '{step}' (its steps: {names})")


def replay_of(desc: Mapping[str, Any], contract: Any = None) -> JobReplay:
    """The local replay of one ``describe_processing_job`` answer; ``contract`` (a ``CursusContract``) names
    inputs and outputs by their container paths."""
    name = str(desc.get("ProcessingJobName") or "job")
    replay = JobReplay(job_name=name, step=_step_name(name), status=desc.get("ProcessingJobStatus"),
                       failure=desc.get("FailureReason"))
    by_path_in = {str(i.path).rstrip("/"): n for n, i in (contract.inputs.items() if contract else ())
                  if i.path}
    by_path_out = {str(p).rstrip("/"): n for n, p in (contract.outputs.items() if contract else ()) if p}
    app = desc.get("AppSpecification") or {}
    script_path = next((a for a in reversed(list(app.get("ContainerEntrypoint") or [])) if str(a).endswith(".py")),
                       None)
    for item in desc.get("ProcessingInputs") or []:
        s3 = item.get("S3Input") or {}
        uri, local = s3.get("S3Uri"), str(s3.get("LocalPath") or "").rstrip("/")
        if not uri:
            replay.notes.append(f"input '{item.get('InputName')}' is not on S3 (a dataset definition); left out")
            continue
        if item.get("InputName") == CODE_INPUT or (script_path and script_path.startswith(local + "/")):
            replay.code_url = uri
            if script_path and script_path.startswith(local + "/"):
                replay.entry_point = script_path[len(local) + 1:]
            continue
        logical = by_path_in.get(local) or str(item.get("InputName") or local.rsplit("/", 1)[-1])
        if contract and local not in by_path_in:
            replay.notes.append(f"input '{logical}' ({local}) is not in the step's contract")
        replay.inputs[logical] = _as_prefix(uri, s3.get("S3DataType"))
    for item in (desc.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        s3 = item.get("S3Output") or {}
        local = str(s3.get("LocalPath") or "").rstrip("/")
        logical = by_path_out.get(local) or str(item.get("OutputName") or local.rsplit("/", 1)[-1])
        replay.outputs[logical] = str(s3.get("S3Uri") or "")
    replay.env = {str(k): str(v) for k, v in (desc.get("Environment") or {}).items()}
    replay.args = parse_arguments(list(app.get("ContainerArguments") or []))
    if replay.entry_point is None and script_path:
        replay.entry_point = script_path.rsplit("/", 1)[-1]
    return replay


def _as_prefix(uri: str, data_type: str | None) -> str:
    """An ``S3Prefix`` input is every object under it: a URL ending with ``/`` (a single object stays one)."""
    if data_type in (None, "S3Prefix") and not uri.rsplit("/", 1)[-1].count("."):
        return uri.rstrip("/") + "/"
    return uri


def parse_arguments(arguments: list[str]) -> dict[str, Any]:
    """``["--job_type", "training", "--verbose"]`` -> ``{"job_type": "training", "verbose": True}``."""
    args: dict[str, Any] = {}
    i = 0
    while i < len(arguments):
        item = str(arguments[i])
        if item.startswith("--"):
            key, sep, value = item[2:].partition("=")
            key = key.replace("-", "_")
            if sep:
                args[key] = value
            elif i + 1 < len(arguments) and not str(arguments[i + 1]).startswith("--"):
                args[key] = str(arguments[i + 1])
                i += 1
            else:
                args[key] = True
        i += 1
    return args


def _step_name(job_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", job_name).strip("_") or "job"
    return name if not name_problem(name, "step") else "job"
