"""A real S3-compatible HTTP server on 127.0.0.1 (moto's server mode) for the remote-data tests.

The product reaches it exactly as it reaches AWS: over HTTP, through ``AWS_ENDPOINT_URL``, with
credentials from the environment. Requests are counted with moto's own recorder on the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# moto's recorder reads where to write when it is imported: before the import below
os.environ.setdefault("MOTO_RECORDER_FILEPATH", os.path.join(tempfile.mkdtemp(prefix="pipetest-moto-"), "rec.jsonl"))
pytest.importorskip("moto.server", reason="the remote-data tests need the dev extra (moto[server])")
pytest.importorskip("s3fs", reason="the remote-data tests need the dev extra (s3fs)")

BUCKET = "pipetest-data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """The running server: its URL, a boto3 client on it, and the requests it served."""

    def __init__(self, url: str):
        self.url = url

    def client(self, service: str = "s3"):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def _api(self, path: str, data: bytes | None = b"") -> bytes:
        request = urllib.request.Request(f"{self.url}/moto-api/{path}", data=data, method="POST" if data is not None
                                         else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def reset(self) -> None:
        self._api("reset")

    def start_recording(self) -> None:
        self._api("recorder/reset-recording")
        self._api("recorder/start-recording")

    def requests(self) -> list[dict]:
        """The requests served since ``start_recording``: method, path (and query) of each."""
        self._api("recorder/stop-recording")
        lines = self._api("recorder/download-recording", data=None).decode().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """A fresh server state with one bucket, and this process's environment pointed at the server."""
    s3_server.reset()
    aws_env(monkeypatch, s3_server.url, tmp_path)
    s3_server.client().create_bucket(Bucket=BUCKET)
    return s3_server


def aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, tmp_path: Path, key: str = "testing",
            secret: str = "testing") -> None:
    """Dummy credentials and the endpoint, and no profile or config file of the machine."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class StallingProxy:
    """A TCP proxy in front of the server that stops forwarding a response after ``stall_after`` bytes of
    it (and keeps the connection open): a download that hangs mid-body, for killing it there."""

    def __init__(self, upstream_port: int, stall_after: int = 64 * 1024):
        self.upstream_port, self.stall_after = upstream_port, stall_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stalled = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.stall_after), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := src.recv(16384):
                if limit is not None and sent + len(data) > limit:
                    self.stalled.set()
                    threading.Event().wait()  # hang: the response never finishes
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()


class ThrottlingServer:
    """An S3 endpoint that answers every request 503 SlowDown, as S3 does under load; counts the requests."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.count = 0

        class Handler(BaseHTTPRequestHandler):
            def _slow_down(self) -> None:
                owner.count += 1
                body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                        b"<Message>Please reduce your request rate.</Message></Error>")
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = _slow_down

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def locked_server() -> Iterator[tuple[str, dict[str, str]]]:
    """A second moto server, in a process of its own, that checks IAM: a bucket with an object, and the keys of
    a user with no permission at all. Its first four actions (making those) are not checked."""
    import subprocess
    import sys
    import time

    import boto3

    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"}
    child = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and child.poll() is None, "moto's server did not start"
                time.sleep(0.1)
        admin = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "admin",
                 "aws_secret_access_key": "admin"}
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        s3 = boto3.client("s3", **admin)
        s3.create_bucket(Bucket="pipetest-locked")
        s3.put_object(Bucket="pipetest-locked", Key="raw/a.csv", Body=b"id\n1\n")
        yield url, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    finally:
        child.kill()
        child.wait(10)
