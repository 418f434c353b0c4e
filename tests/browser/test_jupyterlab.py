"""The debugger in JupyterLab 4 (not only Voila): a real ``jupyter lab`` server, the notebook run from the
page, then a node and an edge clicked, tabs switched, failures-only toggled, the replay slider moved,
Step and Stop pressed, each time asserting from the DOM.

The server runs on a free port with a token, no browser, a temporary root folder and Jupyter's
folders redirected (``jupyter_env``). The page waits for the kernel to answer before it runs the
cells, since a fresh JupyterLab reports the kernel idle before its connection is open.
"""

from __future__ import annotations

import http.client
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import _failed, _free_port, stop_server, write_notebook
from plotly_page import rgb

from pipetest_nb import PipelineDAG
from pipetest_nb.views.notebook.layout import EDGE_MARK_TRACE, NODE_TRACE, build_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "step_fails_suite_warns"
# The documented palette (README), written out so that a wrong palette fails here.
PENDING, RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "#BBBBBB", "#56B4E9", "#009E73", "#D55E00", "#E69F00"
SUITE_EDGE = ("load.raw_data", "audit.DATA")
BUDGET_S = 150  # the whole test, from starting the server: every wait gets what is left of it
_deadline = [time.monotonic() + BUDGET_S]


def left(cap_ms: int = 60_000) -> int:
    """A wait's timeout: ``cap_ms``, or less when the test's budget runs out sooner (never below 1 s)."""
    return max(1_000, min(cap_ms, int((_deadline[0] - time.monotonic()) * 1000)))


@pytest.fixture
def lab(jupyter_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A ``jupyter lab`` server on 127.0.0.1 serving ``tmp_path/root``; yields its url, token and root."""
    _deadline[0] = time.monotonic() + BUDGET_S
    root = tmp_path / "root"
    root.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
             "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"],
            cwd=root, env=jupyter_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + left() / 1000
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", f"/api/status?token={token}")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer on port {port}:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "root": root}
    finally:
        stop_server(proc, grace_s=15)
        if _failed(request):
            print(f"--- lab.log ---\n{log.read_text()[-6000:]}")


def points(page, plot: int, trace: int) -> str:
    """CSS selector of the markers of ``trace`` in the ``plot``-th plotly figure of the page."""
    uid = page.evaluate(f"document.querySelectorAll('.js-plotly-plot')[{plot}].data[{trace}].uid")
    return f".js-plotly-plot g.trace{uid} path.point"


def fill(page, selector: str, index: int) -> str:
    return page.eval_on_selector_all(selector, f"els => getComputedStyle(els[{index}]).fill")


def wait_fill(page, selector: str, index: int, colour: str) -> None:
    page.wait_for_function(f"(() => {{ const e = document.querySelectorAll({selector!r})[{index}];"
                           f" return e && getComputedStyle(e).fill === {rgb(colour)!r}; }})()", timeout=left())


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(f"[...document.querySelectorAll({selector!r})].some(e => e.innerText.includes({text!r}))",
                           timeout=left())


def wait_tab(page, title: str) -> None:
    page.wait_for_function("[...document.querySelectorAll('.pipetest-tabs .lm-TabBar-tab.lm-mod-current')]"
                           f".some(t => t.innerText.trim() === {title!r})", timeout=left())


def click_point(page, selector: str, index: int) -> None:
    """Click where a marker is drawn, after a pause (two quick clicks would be plotly's double click)."""
    page.wait_for_timeout(800)
    point = page.locator(selector).nth(index)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def current_tab(page, debugger: int = 0) -> str:
    return page.locator(".pipetest-debugger").nth(debugger).locator(
        ".pipetest-tabs .lm-TabBar-tab.lm-mod-current").inner_text().strip()


def run_notebook_in_page(page, url: str, token: str, name: str) -> None:
    """Open the notebook in JupyterLab, wait until its kernel answers, then run all cells."""
    page.goto(f"{url}/lab/tree/{name}?token={token}", wait_until="domcontentloaded", timeout=left())
    page.wait_for_function("window.jupyterapp?.shell?.currentWidget?.sessionContext !== undefined", timeout=left())
    page.wait_for_function("""async () => {
        const context = window.jupyterapp.shell.currentWidget.sessionContext;
        await context.ready;
        const kernel = context.session?.kernel;
        if (!kernel) return false;
        try { await kernel.requestKernelInfo(); return kernel.connectionStatus === 'connected'; }
        catch (e) { return false; }
    }""", timeout=left(), polling=500)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def test_debugger_in_jupyterlab(lab, offline_page):
    root = lab["root"]
    shutil.copytree(FIXTURE, root / "people")
    (root / "slow").mkdir()
    (root / "slow" / "pipeline.yaml").write_text(
        "name: slow\nsteps:\n  sleepy: {script: sleepy.py, isolation: subprocess, outputs: {out: {}}}\n")
    (root / "slow" / "sleepy.py").write_text(textwrap.dedent("""
        import time
        def main(input_paths, output_paths, environ_vars, job_args):
            print("going to sleep", flush=True)
            time.sleep(120)
    """))
    model = build_model(PipelineDAG.load(root / "people" / "pipeline.yaml"))
    write_notebook(root / "debugger.ipynb", [
        "from pipetest_nb import Debugger\n"
        "dbg = Debugger('people/pipeline.yaml', workspace='ws')\ndbg",
        "slow = Debugger('slow/pipeline.yaml', workspace='ws-slow')\nslow",
    ])
    page = offline_page.page
    page.set_default_timeout(20_000)
    page.set_viewport_size({"width": 1400, "height": 1000})
    run_notebook_in_page(page, lab["url"], lab["token"], "debugger.ipynb")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 2"
                           " && [...document.querySelectorAll('.js-plotly-plot')].every(p => p.data?.length > 0)",
                           timeout=left(90_000))
    nodes, edges = points(page, 0, NODE_TRACE), points(page, 0, EDGE_MARK_TRACE)
    page.wait_for_function(f"document.querySelectorAll({nodes!r}).length >= {len(model.steps)}", timeout=left())
    first = page.locator(".pipetest-debugger").nth(0)

    # the tabs sit right of the graph in a wide notebook
    graph_box, tabs_box = first.locator(".pipetest-graph").bounding_box(), first.locator(".pipetest-tabs").bounding_box()
    assert tabs_box["x"] >= graph_box["x"] + graph_box["width"] - 1 and tabs_box["y"] < graph_box["y"] + 50

    first.locator(".pipetest-step").click()  # Step: load runs
    wait_fill(page, nodes, 0, SUCCEEDED)
    wait_text(page, ".pipetest-message", "step load: succeeded")
    assert fill(page, nodes, 2) == rgb(PENDING)

    first.locator(".pipetest-run-all").click()
    wait_fill(page, nodes, 2, FAILED)
    wait_text(page, ".pipetest-message", "run failed: step clean failed")
    offline_page.screenshot("jupyterlab-failed-run")

    click_point(page, nodes, model.steps.index("clean"))  # a failed step opens on its Logs, error first
    wait_tab(page, "Logs")
    wait_text(page, ".pipetest-logs", "ValueError: age out of range: [-3, 150]")
    logs = first.locator(".pipetest-logs").inner_text()
    assert logs.index("ValueError: age out of range") < logs.index("stderr")

    click_point(page, edges, model.data_edges.index(SUITE_EDGE))  # a warned edge opens on Validation
    wait_tab(page, "Validation")
    wait_text(page, ".pipetest-validation", "expect_column_values_to_be_between")
    validation = first.locator(".pipetest-validation").inner_text()
    assert validation.index("✘ failed") < validation.index("✔ passed")
    first.locator(".pipetest-failures-only").click()
    wait_text(page, ".pipetest-validation", "1 passed expectation hidden")
    assert "✔ passed" not in first.locator(".pipetest-validation").inner_text()
    offline_page.screenshot("jupyterlab-validation-failures-only")

    first.locator(".pipetest-tabs .lm-TabBar-tab", has_text="Metrics").click()  # switch tabs by hand
    wait_text(page, ".pipetest-metrics", "Timeline")
    assert current_tab(page) == "Metrics"

    handle = first.locator(".pipetest-replay .noUi-handle")  # drag the replay slider to its first event
    track = first.locator(".pipetest-replay .noUi-target").bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] - 20, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    wait_text(page, ".pipetest-status", "replay")
    wait_fill(page, nodes, 2, PENDING)  # before clean ran
    assert fill(page, nodes, 0) == rgb(PENDING)
    first.locator(".pipetest-live").click()
    wait_fill(page, nodes, 2, FAILED)

    second = page.locator(".pipetest-debugger").nth(1)  # Step, then Stop, on a step that sleeps
    slow_nodes = points(page, 1, NODE_TRACE)
    second.locator(".pipetest-step").click()
    wait_fill(page, slow_nodes, 0, RUNNING)
    page.wait_for_function("!document.querySelectorAll('.pipetest-debugger')[1]"
                           ".querySelector('button.pipetest-stop')?.disabled", timeout=left())
    second.locator(".pipetest-stop").click()
    wait_fill(page, slow_nodes, 0, INTERRUPTED)
    wait_text(page, ".pipetest-status", "1 interrupted")
    offline_page.screenshot("jupyterlab-stopped")

    page.set_viewport_size({"width": 900, "height": 1000})  # a narrow notebook: the tabs go below the graph
    page.wait_for_function("(() => { const m = document.querySelector('.pipetest-main');"
                           " const g = m.querySelector('.pipetest-graph'), t = m.querySelector('.pipetest-tabs');"
                           " return t.getBoundingClientRect().top >= g.getBoundingClientRect().bottom - 1; })()",
                           timeout=left(10_000))
    graph_box, tabs_box = first.locator(".pipetest-graph").bounding_box(), first.locator(".pipetest-tabs").bounding_box()
    assert abs(tabs_box["width"] - graph_box["width"]) < 5 and abs(tabs_box["x"] - graph_box["x"]) < 5
    assert offline_page.unexpected_requests == []
