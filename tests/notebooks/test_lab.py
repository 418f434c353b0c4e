"""``make lab``: the command it runs starts JupyterLab on a notebooks folder, and a report the quickstart
writes under ``scratch/`` is served at the relative address its IFrame and link use."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from notebook_runner import NOTEBOOKS, REPO

TOKEN = "pipetest-lab-test"


def lab_command() -> list[str]:
    """The JupyterLab command of ``make lab`` (what make would run once the venv is set up)."""
    done = subprocess.run(["make", "-n", "-s", "lab"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if " lab " in f" {x} " and "jupyter" in x]
    command = shlex.split(line)
    program = REPO / command[0]
    if not program.exists():  # a checkout without its own .venv: the venv these tests run in
        program = Path(sys.executable).parent / program.name
    return [str(program), *command[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_make_lab_installs_the_notebook_extra_and_opens_the_notebooks_folder():
    done = subprocess.run(["make", "-n", "-B", "lab"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "pip --disable-pip-version-check -q install -e '.[demo,notebook]'" in done.stdout  # as if from scratch
    assert lab_command()[1:3] == ["lab", "--notebook-dir=notebooks"]


@pytest.mark.slow
def test_the_lab_serves_the_notebooks_and_the_reports_they_write(tmp_path):
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOKS / "01_quickstart.ipynb", tmp_path / "notebooks")
    report = tmp_path / "notebooks" / "scratch" / "quickstart-x" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<!DOCTYPE html><title>a report</title>")
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = tmp_path / "lab.log"
    lab = subprocess.Popen([*lab_command(), "--no-browser", f"--port={port}", "--ip=127.0.0.1", "--allow-root",
                            f"--IdentityProvider.token={TOKEN}"],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                status, body = get(f"{base}/api/contents/01_quickstart.ipynb?content=0")
                break
            except OSError:
                assert lab.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "JupyterLab did not start within 90 s"
                time.sleep(0.5)
        assert status == 200 and b'"type": "notebook"' in body.replace(b'"type":"notebook"', b'"type": "notebook"')
        status, body = get(f"{base}/files/scratch/quickstart-x/report.html")  # the IFrame's relative src
        assert status == 200 and b"a report" in body
        status, body = get(f"{base}/lab")
        assert status == 200 and b"JupyterLab" in body
    finally:
        lab.terminate()
        lab.wait(30)


def test_the_readme_says_how_to_open_the_notebooks_and_has_no_placeholder_address():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    notebooks = readme.split("## Notebooks", 1)[1].split("\n## ", 1)[0]
    assert "make lab" in notebooks and "jupyter lab --notebook-dir=notebooks" in notebooks
    assert "OWNER" not in readme and "mybinder.org/v2/gh/" not in readme
