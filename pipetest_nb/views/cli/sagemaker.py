"""``pipetest sagemaker pull``: a SageMaker processing job (or one step of a pipeline execution) written as
a one-step pipeline file that ``pipetest run`` replays on the same S3 data.

Nothing secret is written: env values and arguments under secret-looking names (or shaped like keys and
tokens) are left out of the file and named in the output, to be set in the environment before the run.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any


def _contract(folder: str | None, entry_point: str | None, job_type: Any) -> Any:
    if not folder:
        return None
    from pipetest_nb.cursus.contracts import ContractIndex
    from pipetest_nb.exceptions import PipetestError

    if not Path(folder).is_dir():
        raise PipetestError(f"--contracts {folder}: no such folder; give the folder of the steps' contracts")
    contract = ContractIndex(Path(folder)).find(Path(entry_point or "script.py"),
                                                job_type=job_type if isinstance(job_type, str) else None)
    if contract is None:
        raise PipetestError(f"--contracts {folder}: no contract for script '{entry_point}'; name one with "
                            f"entry_point: {entry_point}")
    return contract


def _without_secrets(replay: Any) -> list[str]:
    """Drop secret env values and arguments from the replay; say which, and how to give them."""
    from pipetest_nb.records.masking import secret_name, shape_secrets

    left_out = []
    for key in list(replay.env):
        if secret_name(key) or shape_secrets(replay.env[key]):
            del replay.env[key]
            left_out.append(f"env {key}: not written (it looks secret); export {key}=... before `pipetest run`")
    for key in list(replay.args):
        value = replay.args[key]
        if secret_name(key) or (isinstance(value, str) and shape_secrets(value)):
            del replay.args[key]
            left_out.append(f"argument --{key}: not written (it looks secret); add it to args: in the file")
    return left_out


def _code(replay: Any, folder: Path, script: str | None, workspace: Path) -> str:
    """The step's script, relative to the pipeline file: ``--script``, or the job's code input fetched."""
    from pipetest_nb.exceptions import PipetestError

    if script:
        if not Path(script).is_file():
            raise PipetestError(f"--script {script}: no such file")
        return str(Path(script).absolute())
    if not replay.code_url or not replay.entry_point:
        raise PipetestError(f"job {replay.job_name} names no code input with a .py entry point; give the script "
                            "with --script PATH")
    from pipetest_nb.remote.inputs import fetch_inputs

    url = replay.code_url
    fetched = fetch_inputs({"code": url}, workspace / "cache" / ".remote")["code"]
    code = folder / "code"
    shutil.rmtree(code, ignore_errors=True)
    if fetched.path.is_dir():
        shutil.copytree(fetched.path, code)
    else:
        code.mkdir(parents=True)
        shutil.copyfile(fetched.path, code / replay.entry_point.rsplit("/", 1)[-1])
    for path in code.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    target = code / (replay.entry_point if fetched.path.is_dir() else replay.entry_point.rsplit("/", 1)[-1])
    if not target.is_file():
        raise PipetestError(f"the code input {url} of job {replay.job_name} has no {replay.entry_point}; give the "
                            "script with --script PATH")
    return str(target.relative_to(folder))


def cmd_pull(args: argparse.Namespace) -> int:
    """Write ``<workspace>/sagemaker/<job>/pipeline.yaml`` (and its code) from a processing job."""
    import yaml

    from pipetest_nb.remote.sagemaker import describe, replay_of

    desc = _saved(args.description) if args.description else describe(args.job, args.step)
    replay = replay_of(desc)
    contract = _contract(args.contracts, replay.entry_point, replay.args.get("job_type"))
    if contract is not None:
        replay = replay_of(desc, contract)
    left_out = _without_secrets(replay)
    workspace = Path(args.workspace).absolute()
    folder = workspace / "sagemaker" / replay.step
    folder.mkdir(parents=True, exist_ok=True)
    data = replay.pipeline(_code(replay, folder, args.script, workspace))
    target = folder / "pipeline.yaml"
    target.write_text(f"# {data['description']}\n" + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    print(f"Pulled {replay.job_name}" + (f" ({replay.status})" if replay.status else ""))
    if replay.failure:
        print(f"  it failed with: {replay.failure}")
    for note in [*replay.notes, *left_out]:
        print(f"  note: {note}")
    code = _check(target, contract, replay.step)
    print(f"Pipeline file: {target}\nReplay it: pipetest run {target}")
    return code


def _check(target: Path, contract: Any, step: str) -> int:
    """The written file loaded back, and checked against the contract if one was given; 1 on an error."""
    from pipetest_nb.spec.model import PipelineDAG

    dag = PipelineDAG.load(target)
    if contract is None:
        return 0
    from pipetest_nb.cursus.checks import config_findings

    findings = config_findings(step, contract, dag.steps[step], {})
    for finding in findings:
        print(f"  {finding}")
    return 1 if any(f.severity == "error" for f in findings) else 0


def _saved(path: str) -> dict[str, Any]:
    """A saved ``describe_processing_job`` answer (``aws sagemaker describe-processing-job ... > FILE``)."""
    import json

    from pipetest_nb.exceptions import PipetestError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PipetestError(f"--description {path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict) or "ProcessingInputs" not in data and "AppSpecification" not in data:
        raise PipetestError(f"--description {path}: not a describe_processing_job answer (no ProcessingInputs "
                            "or AppSpecification)")
    return data


def add_sagemaker_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest sagemaker pull``."""
    p = sub.add_parser("sagemaker", help="replay a SageMaker processing job locally")
    commands = p.add_subparsers(dest="sagemaker_command", required=True, metavar="COMMAND")
    pull = commands.add_parser("pull", help="write a one-step pipeline file from a processing job")
    pull.add_argument("job", help="processing job name, or a pipeline execution ARN with --step")
    pull.add_argument("--step", help="the step of the pipeline execution to pull")
    pull.add_argument("--description", metavar="FILE", help="read the job from a saved describe_processing_job "
                      "answer (JSON) instead of asking SageMaker")
    pull.add_argument("--script", help="the step's script (default: the job's code input, downloaded)")
    pull.add_argument("--contracts", metavar="DIR", help="folder of script contracts to name inputs and check")
    pull.add_argument("--workspace", default="pipetest_workspace", help="where the pipeline file is written")
    pull.set_defaults(func=cmd_pull)
