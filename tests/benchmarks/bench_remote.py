"""Fetching a remote input: 200 objects of 1 MB under one S3 prefix, from moto's server on 127.0.0.1.

Baseline: a plain sequential boto3 loop (``download_file`` of each object), on the same server in the
same run. pipetest lists the prefix once and downloads in parallel into its cache (temporary name,
then rename), then assembles the input folder. The server runs in a process of its own, so that the
client's threads do not share an interpreter with it; its CPU time bounds the gain on a small machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import Row, compare, median_ms

BUCKET = "pipetest-bench"


def _server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return child, url
        except OSError:
            if time.monotonic() > deadline or child.poll() is not None:
                child.kill()
                raise RuntimeError("moto's server did not start") from None
            time.sleep(0.1)


def run(quick: bool = False) -> list[Row]:
    import boto3

    from pipetest_nb.remote.fetch import list_remote
    from pipetest_nb.remote.inputs import fetch_inputs

    count, size, repeat = (10, 64 * 1024, 1) if quick else (200, 1024 * 1024, 3)
    child, url = _server()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    work = Path(tempfile.mkdtemp(prefix="pipetest-bench-remote-"))
    try:
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        payload = os.urandom(size)
        keys = [f"objects/part-{i:04d}.bin" for i in range(count)]
        for key in keys:
            client.put_object(Bucket=BUCKET, Key=key, Body=payload)

        def fresh() -> None:
            shutil.rmtree(work / "out", ignore_errors=True)
            shutil.rmtree(work / "cache", ignore_errors=True)
            (work / "out").mkdir()

        def sequential() -> None:
            for key in keys:
                client.download_file(BUCKET, key, str(work / "out" / key.rsplit("/", 1)[1]))

        def pipetest() -> None:
            fetched = fetch_inputs({"objects": f"s3://{BUCKET}/objects/"}, work / "cache", progress=False)
            assert len(fetched["objects"].objects) == count

        list_remote(f"s3://{BUCKET}/objects/")  # the filesystem made once, as the baseline's client is
        baseline = median_ms(sequential, repeat, setup=fresh)
        mine = median_ms(pipetest, repeat, setup=fresh)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        child.kill()
        child.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    mb = count * size / 2**20
    rows = compare(f"fetch {count} objects of {size // 1024} KB from S3", "boto3 download_file, sequential",
                   baseline, {"pipetest fetch_inputs (list, parallel download, cache)": mine},
                   note=f"{mb / (mine / 1000):.0f} MB/s vs {mb / (baseline / 1000):.0f} MB/s")
    rows[-1].figure = "fetch 200 x 1 MB from S3: pipetest vs sequential boto3"
    rows[-1].today = "—"
    rows[-1].target = "<= 0.75x"  # two cores, shared with the server: the parallel gain is bounded by it
    return rows
