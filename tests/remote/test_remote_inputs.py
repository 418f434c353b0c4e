"""Remote inputs against a real S3-compatible server: same outputs as local data, the cache, changed data,
killed downloads, and the errors that name the URL and the cause."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BUCKET, S3Server, StallingProxy, ThrottlingServer, aws_env

from pipetest_nb.engine.options import RunOptions
from pipetest_nb.engine.start import run_selected, start_run
from pipetest_nb.session import Session
from pipetest_nb.spec.model import PipelineDAG

SECRET = "pipetestSecretValue0123456789abcdefXYZ"  # the access secret the runs see: must never be written

SCRIPT = '''
import hashlib, os
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    if os.path.exists(environ_vars.get("FAIL_IF", "/nonexistent")):
        raise RuntimeError("asked to fail")
    root = Path(input_paths["raw"])
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    out = Path(output_paths["summary"])
    lines = [f"{p.relative_to(root) if root.is_dir() else p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}"
             for p in files]
    (out / "summary.txt").write_text("\\n".join(lines) + "\\n")
    (out / "upper.csv").write_text("".join(p.read_text().upper() for p in files))
'''

DATA = {"a.csv": "id,name\n1,ann\n2,bob\n", "part/b.csv": "id,name\n3,cy\n"}


@pytest.fixture
def project(tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    (tmp_path / "step.py").write_text(SCRIPT)
    local = tmp_path / "raw"
    client = s3.client()
    for rel, text in DATA.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_text(text)
        client.put_object(Bucket=BUCKET, Key=f"raw/{rel}", Body=text.encode())
    return tmp_path


def dag(project: Path, raw: str, env: dict | None = None) -> PipelineDAG:
    return PipelineDAG.from_dict({"name": "remote", "steps": {"summarise": {
        "script": "step.py", "inputs": {"raw": raw}, "outputs": ["summary"], "env": env or {}}}}, project)


def run(pipeline: PipelineDAG, workspace: Path, **options):
    opts = RunOptions(workspace=workspace, cache=False, **options)
    pipeline_run = start_run(pipeline, opts)
    try:
        run_selected(pipeline_run, opts)
        return pipeline_run.result(), pipeline_run.record
    finally:
        pipeline_run.close()


def outputs(result) -> dict[str, bytes]:
    folder = result.steps["summarise"].outputs["summary"]
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_s3_input_gives_the_outputs_of_the_same_data_on_disk(project: Path) -> None:
    local, _ = run(dag(project, "raw"), project / "ws")
    remote, record = run(dag(project, f"s3://{BUCKET}/raw/"), project / "ws")
    assert local.success and remote.success, remote.steps["summarise"].error_message
    assert outputs(remote) == outputs(local)
    pin = record["steps"]["summarise"]["remote_inputs"]["raw"]
    assert pin["url"] == f"s3://{BUCKET}/raw/" and pin["objects"] == 2 and len(pin["key"]) == 64
    written = b"".join(p.read_bytes() for p in (project / "ws").rglob("*") if p.is_file())
    assert SECRET.encode() not in written  # records, events, logs, cache: no credentials


def test_a_second_run_reads_the_cache_without_getting_any_object_body(project: Path, s3: S3Server) -> None:
    first, _ = run(dag(project, f"s3://{BUCKET}/raw/"), project / "ws")
    assert first.success
    s3.start_recording()
    second, _ = run(dag(project, f"s3://{BUCKET}/raw/"), project / "ws")
    requests = s3.requests()
    assert second.success and outputs(second) == outputs(first)
    assert requests, "the listing should have reached the server"
    bodies = [r for r in requests if r["method"] == "GET" and "/raw/" in r["url"].split("?", 1)[0]]
    assert bodies == []


def test_a_changed_object_is_a_new_key_and_a_warning(project: Path, s3: S3Server) -> None:
    first, rec1 = run(dag(project, f"s3://{BUCKET}/raw/a.csv"), project / "ws")
    s3.client().put_object(Bucket=BUCKET, Key="raw/a.csv", Body=b"id,name\n9,zed\n")
    second, rec2 = run(dag(project, f"s3://{BUCKET}/raw/a.csv"), project / "ws")
    assert first.success and second.success
    pin1, pin2 = (r["steps"]["summarise"]["remote_inputs"]["raw"] for r in (rec1, rec2))
    assert pin1["key"] != pin2["key"] and pin1["etag"] != pin2["etag"]
    warnings = second.steps["summarise"].warnings
    assert any("changed since it was last fetched" in w and f"s3://{BUCKET}/raw/a.csv" in w for w in warnings)
    assert outputs(second)["upper.csv"] == b"ID,NAME\n9,ZED\n"


def test_rerun_failed_reads_the_bytes_the_run_recorded_and_says_the_data_changed(project: Path, s3: S3Server) -> None:
    marker = project / "fail-now"
    marker.write_text("")
    first, _ = run(dag(project, f"s3://{BUCKET}/raw/a.csv", {"FAIL_IF": str(marker)}), project / "ws")
    assert not first.success
    s3.client().put_object(Bucket=BUCKET, Key="raw/a.csv", Body=b"id,name\n9,zed\n")
    marker.unlink()
    with Session.open(first.run_dir, progress=False) as session:
        again = session.rerun_failed()
    step = again.steps["summarise"]
    assert step.success, step.error_message
    assert (step.outputs["summary"] / "upper.csv").read_text() == DATA["a.csv"].upper()
    assert any("changed since this run read it" in w and "bytes the run recorded" in w for w in step.warnings)


def test_a_killed_download_leaves_no_partial_file_in_the_cache(project: Path, s3: S3Server, tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024)
    s3.client().put_object(Bucket=BUCKET, Key="big/blob.bin", Body=big)
    cache = tmp_path / "cache"
    proxy = StallingProxy(int(s3.url.rsplit(":", 1)[1]))
    code = ("import sys; from pathlib import Path; from pipetest_nb.remote.inputs import fetch_inputs; "
            f"fetch_inputs({{'blob': 's3://{BUCKET}/big/blob.bin'}}, Path(sys.argv[1]), progress=False)")
    child = subprocess.Popen([sys.executable, "-c", code, str(cache)], env={**os.environ, "AWS_ENDPOINT_URL": proxy.url})
    try:
        deadline = time.monotonic() + 30
        while not (proxy.stalled.is_set() and list((cache / "tmp").glob("*.part"))):
            assert child.poll() is None and time.monotonic() < deadline, "the download should hang mid-body"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        proxy.close()
        if child.poll() is None:
            child.kill()
    cached = [p for d in ("objects", "inputs") for p in (cache / d).rglob("*") if p.is_file()]
    assert cached == []
    from pipetest_nb.remote.inputs import fetch_inputs

    fetched = fetch_inputs({"blob": f"s3://{BUCKET}/big/blob.bin"}, cache, progress=False)["blob"]
    assert fetched.path.read_bytes() == big
    assert list((cache / "tmp").glob("*.part")) == []  # what the killed fetch left is cleaned up


@pytest.mark.parametrize(("url", "cause"), [
    (f"s3://{BUCKET}/raw/missing.csv", "no such key"),
    (f"s3://{BUCKET}/nothing-here/", "no such key"),
    ("s3://pipetest-no-such-bucket/raw/a.csv", "no such bucket 'pipetest-no-such-bucket'"),
])
def test_a_missing_key_or_bucket_fails_the_step_naming_the_url_and_the_cause(project: Path, url: str,
                                                                              cause: str) -> None:
    result, _ = run(dag(project, url), project / "ws")
    message = result.steps["summarise"].error_message
    assert not result.success and url in message and cause in message, message


def test_a_url_with_credentials_in_it_is_refused_when_the_file_is_read(project: Path) -> None:
    from pipetest_nb.exceptions import PipelineSpecError

    with pytest.raises(PipelineSpecError, match="carries credentials") as caught:
        dag(project, f"s3://AKIAEXAMPLE:{SECRET}@{BUCKET}/raw/")
    assert SECRET not in str(caught.value)


def test_without_the_s3_extra_an_s3_input_says_what_to_install(project: Path) -> None:
    code = ("import sys; sys.modules['s3fs'] = None\n"  # the fault: s3fs is not installed
            "from pathlib import Path; from pipetest_nb.remote.inputs import fetch_inputs\n"
            f"fetch_inputs({{'raw': 's3://{BUCKET}/raw/'}}, Path(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", code, str(project / "c")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "RemoteDataError" in last and "pip install 'pipetest_nb[s3]'" in last and f"s3://{BUCKET}/raw/" in last


def test_denied_access_is_its_own_error(locked_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pipetest_nb.remote.errors import RemoteDataError
    from pipetest_nb.remote.inputs import fetch_inputs

    url, keys = locked_server
    aws_env(monkeypatch, url, tmp_path, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])
    for where in ("s3://pipetest-locked/raw/a.csv", "s3://pipetest-locked/raw/"):
        with pytest.raises(RemoteDataError) as caught:
            fetch_inputs({"raw": where}, tmp_path / "cache", progress=False)
        assert str(caught.value).startswith(f"{where}: access denied; check the credentials")
        assert keys["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)


def test_throttling_is_retried_a_bounded_number_of_times_then_said(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    from pipetest_nb.remote.errors import RemoteDataError
    from pipetest_nb.remote.inputs import fetch_inputs

    server = ThrottlingServer()
    try:
        aws_env(monkeypatch, server.url, tmp_path)
        with pytest.raises(RemoteDataError, match=r"^s3://pipetest-data/raw/a.csv: throttled by the server "
                                                  r"\(after 3 tries\)"):
            fetch_inputs({"raw": f"s3://{BUCKET}/raw/a.csv"}, tmp_path / "cache", progress=False)
    finally:
        server.close()
    assert 3 <= server.count <= 30  # retried, and not forever


def test_an_unreachable_endpoint_is_a_network_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from conftest import free_port

    from pipetest_nb.remote.errors import RemoteDataError
    from pipetest_nb.remote.inputs import fetch_inputs

    aws_env(monkeypatch, f"http://127.0.0.1:{free_port()}", tmp_path)
    with pytest.raises(RemoteDataError, match=r"network error \(after 3 tries\).*check the connection and "
                                              "AWS_ENDPOINT_URL"):
        fetch_inputs({"raw": f"s3://{BUCKET}/raw/a.csv"}, tmp_path / "cache", progress=False)


def test_cursus_overrides_and_input_pairs_keep_urls_and_refuse_credentials(tmp_path: Path) -> None:
    from pipetest_nb.cursus.overrides import read_overrides
    from pipetest_nb.exceptions import PipelineSpecError

    (tmp_path / "overrides.yaml").write_text(f"steps:\n  Load:\n    inputs:\n      DATA: s3://{BUCKET}/raw/\n"
                                             "      LOCAL: data/local\n")
    read = read_overrides(tmp_path / "overrides.yaml", {"Train.DATA": f"s3://{BUCKET}/train/"})
    assert read.for_step("Load", "inputs") == {"DATA": f"s3://{BUCKET}/raw/", "LOCAL": tmp_path / "data/local"}
    assert read.for_step("Train", "inputs") == {"DATA": f"s3://{BUCKET}/train/"}
    with pytest.raises(PipelineSpecError, match="carries credentials"):
        read_overrides(None, {"Train.DATA": f"s3://key:{SECRET}@{BUCKET}/train/"})


def test_any_fsspec_url_is_an_input_file_urls_too(project: Path) -> None:
    local, _ = run(dag(project, "raw"), project / "ws")
    remote, record = run(dag(project, (project / "raw").as_uri() + "/"), project / "ws")
    assert remote.success, remote.steps["summarise"].error_message
    assert outputs(remote) == outputs(local)
    assert record["steps"]["summarise"]["remote_inputs"]["raw"]["objects"] == 2


def test_rerun_fetches_the_recorded_version_again_when_the_cache_lost_it(project: Path, s3: S3Server) -> None:
    import shutil

    client = s3.client()
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=BUCKET, Key="versioned/a.csv", Body=b"id,name\n1,old\n")
    marker = project / "fail-now"
    marker.write_text("")
    first, record = run(dag(project, f"s3://{BUCKET}/versioned/a.csv", {"FAIL_IF": str(marker)}), project / "ws")
    assert record["steps"]["summarise"]["remote_inputs"]["raw"]["version"]
    client.put_object(Bucket=BUCKET, Key="versioned/a.csv", Body=b"id,name\n2,new\n")
    shutil.rmtree(project / "ws" / "cache" / ".remote")
    marker.unlink()
    with Session.open(first.run_dir, progress=False) as session:
        step = session.rerun_failed().steps["summarise"]
    assert step.success, step.error_message
    assert (step.outputs["summary"] / "upper.csv").read_text() == "ID,NAME\n1,OLD\n"
    assert any("bytes the run recorded (version " in w and "fetched again" in w for w in step.warnings)
