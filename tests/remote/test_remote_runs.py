"""``pipetest run --upload s3://...`` copies the run folder out; ``Session.open("s3://.../<run_id>")`` brings it
back and reopens it, read-only."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUCKET, S3Server

from pipetest_nb.session import Session

SCRIPT = '''
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    text = Path(input_paths["raw"]).read_text()
    (Path(output_paths["upper"]) / "upper.csv").write_text(text.upper())
'''
PIPELINE = f"""name: uploaded
steps:
  shout:
    script: shout.py
    inputs: {{raw: s3://{BUCKET}/in/data.csv}}
    outputs: [upper]
    env: {{SERVICE_PASSWORD: hunter2-but-longer-than-eight}}
"""


@pytest.fixture
def project(tmp_path: Path, s3: S3Server) -> Path:
    (tmp_path / "shout.py").write_text(SCRIPT)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    s3.client().put_object(Bucket=BUCKET, Key="in/data.csv", Body=b"id,name\n1,ann\n")
    return tmp_path


def pipetest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())


def test_an_uploaded_run_reopens_from_s3_read_only(project: Path, s3: S3Server, tmp_path: Path) -> None:
    done = pipetest("run", "pipeline.yaml", "--workspace", "ci", "--upload", f"s3://{BUCKET}/ci-runs/", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    url = re.search(r"Uploaded: (\S+)", done.stdout).group(1)
    run_id = url.rsplit("/", 1)[1]
    assert url == f"s3://{BUCKET}/ci-runs/{run_id}"
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=BUCKET, Prefix="ci-runs/")["Contents"]}
    assert f"ci-runs/{run_id}/run.json" in keys and f"ci-runs/{run_id}/steps/shout/outputs/upper/upper.csv" in keys
    assert not any(k.endswith("/.lock") for k in keys)
    with Session.open(url, workspace=tmp_path / "laptop", progress=False) as session:
        assert session.run_id == run_id and session.status == {"shout": "succeeded"}
        result = session.result("shout")
        assert (result.outputs["upper"] / "upper.csv").read_text() == "ID,NAME\n1,ANN\n"
        assert str(session.run_dir).startswith(str(tmp_path / "laptop"))
        assert session.record["steps"]["shout"]["env"]["SERVICE_PASSWORD"] == "********"
        record = session.run_dir / "run.json"
        assert stat.S_IMODE(record.stat().st_mode) & 0o222 == 0  # read-only


def test_an_upload_url_that_cannot_take_the_run_fails_before_the_run(project: Path) -> None:
    done = pipetest("run", "pipeline.yaml", "--workspace", "ci", "--upload", "s3://pipetest-no-such-bucket/x/",
                    cwd=project)
    assert done.returncode == 1
    assert "s3://pipetest-no-such-bucket/x/: no such bucket 'pipetest-no-such-bucket'" in done.stderr
    assert not (project / "ci" / "runs").exists()


def test_opening_a_url_that_holds_no_run_says_so(s3: S3Server, tmp_path: Path) -> None:
    from pipetest_nb.remote.errors import RemoteDataError

    s3.client().put_object(Bucket=BUCKET, Key="elsewhere/r1/notes.txt", Body=b"hello")
    with pytest.raises(RemoteDataError, match="holds no run.json"):
        Session.open(f"s3://{BUCKET}/elsewhere/r1", workspace=tmp_path / "laptop")


def test_python_runs_upload_too(project: Path, s3: S3Server, tmp_path: Path) -> None:
    from pipetest_nb.engine.executor import PipelineExecutor
    from pipetest_nb.spec.model import PipelineDAG

    dag = PipelineDAG.load(project / "pipeline.yaml")
    result = PipelineExecutor(tmp_path / "batch").execute_pipeline(dag, data_source="files",
                                                                    upload=f"s3://{BUCKET}/batch/")
    assert result.success
    with Session.open(f"s3://{BUCKET}/batch/{result.run_id}", workspace=tmp_path / "laptop",
                      progress=False) as reopened:
        assert reopened.status == {"shout": "succeeded"}
    with Session(dag, tmp_path / "notebook", progress=False) as session:
        session.run_all()
        url = session.upload(f"s3://{BUCKET}/notebook")
    assert url == f"s3://{BUCKET}/notebook/{session.run_id}"
    s3.client().head_object(Bucket=BUCKET, Key=f"notebook/{session.run_id}/run.json")
