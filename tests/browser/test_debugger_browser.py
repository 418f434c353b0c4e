"""The debugger in a real browser: a failing pipeline, stepped and run by clicks, inspected by clicks.

Colours are checked against the documented palette written out here (not imported from graph.py),
so a wrong palette fails this test. Screenshots of each state go to test-artifacts/browser/.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from plotly_page import points_of, rgb

from pipetest_nb import PipelineDAG
from pipetest_nb.views.notebook.layout import EDGE_MARK_TRACE, NODE_TRACE, build_model

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "step_fails_suite_warns"
# The documented, colour-blind-safe palette (Okabe-Ito), as the README promises it.
PENDING, SUCCEEDED, FAILED, UNCHECKED = "#BBBBBB", "#009E73", "#D55E00", "#999999"
SUITE_EDGE = ("load.raw_data", "audit.DATA")
AFTER_FAILURE = ("clean.clean_data", "train.DATA")


def wait_fill(page, selector: str, index: int, colour: str) -> None:
    page.wait_for_function(f"getComputedStyle(document.querySelectorAll({selector!r})[{index}]).fill"
                           f" === {rgb(colour)!r}", timeout=120_000)


def fill(page, selector: str, index: int) -> str:
    return page.eval_on_selector_all(selector, f"els => getComputedStyle(els[{index}]).fill")


def click_point(page, selector: str, index: int) -> None:
    """Click where the point is drawn: plotly listens on the layer above it, as for a user.

    First a pause as long as a person takes between two clicks: two clicks within plotly's
    double-click delay are a double click, which resets the axes.
    """
    page.wait_for_timeout(1000)
    point = page.locator(selector).nth(index)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def open_tab(page, title: str) -> None:
    page.locator(".pipetest-tabs .lm-TabBar-tab", has_text=title).click()


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(f"document.querySelector({selector!r})?.innerText.includes({text!r})",
                           timeout=120_000)


def test_debugger_steps_runs_and_inspects_a_failing_pipeline(voila, offline_page, tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "people")
    model = build_model(PipelineDAG.load(tmp_path / "people" / "pipeline.yaml"))
    cell = textwrap.dedent("""
        from pipetest_nb import Debugger
        dbg = Debugger("people/pipeline.yaml", workspace="pipetest_workspace")  # next to the notebook
        display(dbg)
    """)
    page = offline_page.page
    page.set_viewport_size({"width": 1280, "height": 1000})  # the graph and a whole tab in one screenshot
    page.goto(voila([cell], name="debugger"), wait_until="domcontentloaded", timeout=150_000)
    page.wait_for_function("document.querySelector('.js-plotly-plot')?.data?.length > 0", timeout=150_000)
    nodes, edges = points_of(page, NODE_TRACE), points_of(page, EDGE_MARK_TRACE)
    page.wait_for_function(f"document.querySelectorAll({nodes!r}).length === {len(model.steps)}", timeout=30_000)
    assert model.steps == ["load", "audit", "clean", "train"]
    assert [fill(page, nodes, i) for i in range(4)] == [rgb(PENDING)] * 4
    offline_page.screenshot("debugger-loaded")

    page.click(".pipetest-step")
    wait_fill(page, nodes, 0, SUCCEEDED)
    wait_text(page, ".pipetest-message", "step load: succeeded")
    assert [fill(page, nodes, i) for i in range(1, 4)] == [rgb(PENDING)] * 3
    offline_page.screenshot("debugger-after-step")

    page.click(".pipetest-run-all")
    wait_fill(page, nodes, 2, FAILED)
    wait_text(page, ".pipetest-message", "run failed: step clean failed")
    assert fill(page, nodes, 1) == rgb(SUCCEEDED) and fill(page, nodes, 3) == rgb(PENDING)
    assert fill(page, edges, model.data_edges.index(AFTER_FAILURE)) == rgb(UNCHECKED)

    click_point(page, nodes, 2)  # the failed step
    open_tab(page, "Logs")
    wait_text(page, ".pipetest-logs", "cleaning <people>: 2 rows with impossible ages")  # markup shown as text
    wait_text(page, ".pipetest-logs", "ValueError: age out of range: [-3, 150]")
    offline_page.screenshot("debugger-failed-run-logs")

    click_point(page, edges, model.data_edges.index(SUITE_EDGE))
    open_tab(page, "Validation")
    wait_text(page, ".pipetest-validation", "expect_column_values_to_be_between")
    validation = page.inner_text(".pipetest-validation")
    assert "✘ failed" in validation and "✔ passed" in validation and "-3, 150" in validation
    offline_page.screenshot("debugger-validation")

    click_point(page, nodes, 0)
    open_tab(page, "Data")
    wait_text(page, ".pipetest-data", "rows 1–20 of 45")
    cells = page.eval_on_selector_all(".pipetest-data .pipetest-rows td", "els => els.map(e => e.innerText)")
    assert "<b>Lyon</b>" in cells and "150" in cells
    offline_page.screenshot("debugger-data")
    assert offline_page.unexpected_requests == []
