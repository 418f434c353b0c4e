"""The real-browser harness: Debian chromium driven by playwright, notebooks served by Voila.

One browser per pytest session (playwright allows one ``sync_playwright()`` per process). Jupyter's
folders are redirected to a temporary folder, the kernel is this project's Python, and every
request that does not go to 127.0.0.1 is aborted and counted, so the tests prove the pages work
offline. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
LOCAL = "http://127.0.0.1:"
# Voila's page template asks a CDN for its icon font; offline the page only loses icons.
COSMETIC_REQUESTS = ("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Remember each phase's report on the item, so fixtures can tell a failed test at teardown."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


def _ensure_chromium() -> None:
    """Install Debian's chromium when it is missing (as ``make test`` does); skip, saying why, if we cannot."""
    if CHROMIUM.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing and cannot be installed here (needs apt-get as root): "
                    "run `apt-get install -y chromium` or `make test`")
    for cmd in ([apt, "update"], [apt, "install", "-y", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            pytest.skip(f"{CHROMIUM} is missing and `{' '.join(cmd)}` failed: {done.stderr.strip()[-500:]}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the whole session."""
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@dataclass
class OfflinePage:
    """A page whose requests to anything but 127.0.0.1 are aborted and listed in ``blocked``."""

    page: Any
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def unexpected_requests(self) -> list[str]:
        """Blocked requests other than the known cosmetic ones: the page needed the internet."""
        return [u for u in self.blocked if not u.startswith(COSMETIC_REQUESTS)]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def offline_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[OfflinePage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    result = OfflinePage(page)

    def route(r: Any) -> None:
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            result.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: result.console_errors.append(m.text) if m.type == "error" else None)
    yield result
    if _failed(request):
        print(f"blocked requests: {result.blocked}\nconsole errors: {result.console_errors}")
        print(f"page text: {page.inner_text('body')[:2000]!r}")
        print(f"screenshot: {result.screenshot('FAILED-' + request.node.name)}")
    context.close()


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment with Jupyter's and IPython's folders in a temporary folder and our Python as kernel."""
    root = tmp_path_factory.mktemp("jupyter")
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"), ("IPYTHONDIR", "ipython")):
        (root / sub).mkdir()
        env[var] = str(root / sub)
    kernel = root / "data" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (pipetest)", "language": "python"}))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_server(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """Stop a Jupyter server started in its own process group, and the kernels it started."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (pipetest)", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def voila(jupyter_env: dict[str, str], tmp_path: Path,
          request: pytest.FixtureRequest) -> Iterator[Callable[[list[str]], str]]:
    """``voila(cells)`` writes a notebook, serves it with Voila on 127.0.0.1 and returns its URL."""
    servers: list[tuple[subprocess.Popen, Path]] = []

    def serve(cells: list[str], name: str = "notebook") -> str:
        notebook = write_notebook(tmp_path / f"{name}.ipynb", cells)
        port = _free_port()
        log = tmp_path / f"voila-{name}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
                 "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
                cwd=tmp_path, env=jupyter_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        servers.append((proc, log))
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:  # any answer will do; GET / itself would start a kernel
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/status")
                conn.getresponse()
                conn.close()
                return url
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"voila did not answer on {url}:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.3)

    yield serve
    for proc, log in servers:
        if proc.poll() is None:
            stop_server(proc)
        if _failed(request):
            print(f"--- {log.name} ---\n{log.read_text()[-6000:]}")

