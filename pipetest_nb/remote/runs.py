"""Run folders copied out to remote storage (``--upload s3://bucket/prefix/``) and brought back to be
reopened (``Session.open("s3://bucket/prefix/<run_id>")``): a CI run inspected from a laptop.

The folder goes as it is on disk: its record, events, logs and each step's outputs. Records hold no
credentials (the engine masks env and args), and nothing here adds any.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipetest_nb.remote.errors import RemoteDataError, explain
from pipetest_nb.remote.fetch import WORKERS, _retrying
from pipetest_nb.remote.filesystems import filesystem, protocol
from pipetest_nb.remote.inputs import fetch_inputs

_SKIPPED = (".lock",)  # a lock names a process on this machine: meaningless elsewhere


def upload_run(run_dir: Path, url: str) -> str:
    """Copy the run folder to ``<url>/<run_id>/``; the URL it can be reopened from."""
    run_dir = Path(run_dir)
    dest = f"{url.rstrip('/')}/{run_dir.name}"
    fs, root = filesystem(dest)
    files = [Path(d, f) for d, _dirs, names in os.walk(run_dir) for f in names if f not in _SKIPPED]
    files = [f for f in files if f.is_file() and not f.is_symlink()]

    def put(path: Path) -> None:
        rel = path.relative_to(run_dir).as_posix()
        _retrying(f"{dest}/{rel}", lambda: fs.put_file(str(path), f"{root}/{rel}"))

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pipetest-upload") as pool:
        list(pool.map(put, files))
    return dest


def download_run(url: str, into: Path) -> Path:
    """The run at ``url`` as a local folder under ``into`` (fetched through the cache, files read-only):
    ``remote_runs/<url hash>/runs/<run id>``, a workspace of its own, so that it opens like any run."""
    url = url.rstrip("/")
    run_id = url.rsplit("/", 1)[-1]
    if not run_id or "://" in run_id:
        raise RemoteDataError(url, "names no run", "give the URL of a run folder: <upload URL>/<run id>")
    fetched = fetch_inputs({"run": url + "/"}, Path(into) / "cache" / ".remote")["run"]
    if not any(o.rel == "run.json" for o in fetched.objects):
        raise RemoteDataError(url, "holds no run.json, so it is no run folder",
                              "give the URL printed by `pipetest run --upload`")
    local = Path(into) / "remote_runs" / hashlib.sha256(url.encode()).hexdigest()[:16] / "runs" / run_id
    marker = local.parent / f".{run_id}.key"
    if not (local.is_dir() and marker.is_file() and marker.read_text() == fetched.key):
        shutil.rmtree(local, ignore_errors=True)
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(fetched.path, local)
        marker.write_text(fetched.key)
    return local


def check_upload_url(url: str) -> None:
    """Fail before a run, not after it, when ``url`` cannot take the upload (no bucket, no access)."""
    fs, root = filesystem(url)
    if protocol(url) not in ("s3", "s3a", "gs", "gcs"):
        return
    bucket = root.split("/", 1)[0]
    try:
        _retrying(url, lambda: fs.ls(bucket))
    except RemoteDataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(url, exc) from None
