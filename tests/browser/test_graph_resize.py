"""The debugger's graph follows its box: wider and narrower windows, and a box resized without one.

JupyterLab changes an output area's width without a window resize (a side panel opened or closed,
a split view dragged); the graph must follow both.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "step_fails_suite_warns"
SIZES = """() => {
    const box = document.querySelector('.pipetest-graph').getBoundingClientRect().width;
    const svg = document.querySelector('.pipetest-graph .js-plotly-plot .main-svg').getBoundingClientRect().width;
    return [Math.round(box), Math.round(svg)];
}"""


def wait_graph_fills_its_box(page, previous: int | None = None) -> int:
    """Wait until the figure is as wide as its box (and no longer ``previous`` px wide): that width."""
    try:
        page.wait_for_function(f"(() => {{ const [box, svg] = ({SIZES})();"
                               f" return Math.abs(box - svg) <= 2 && svg !== {previous or -1}; }})()",
                               timeout=20_000)
    except Exception as exc:
        raise AssertionError(f"box and figure widths (px): {page.evaluate(SIZES)}; before: {previous}") from exc
    return page.evaluate(SIZES)[1]


def test_graph_follows_the_width_of_its_box(voila, offline_page, tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "people")
    cell = textwrap.dedent("""
        from pipetest_nb import Debugger
        dbg = Debugger("people/pipeline.yaml", workspace="pipetest_workspace")
        display(dbg)
    """)
    page = offline_page.page
    page.set_viewport_size({"width": 1000, "height": 900})
    page.goto(voila([cell], name="resize"), wait_until="domcontentloaded", timeout=150_000)
    page.wait_for_function("document.querySelector('.pipetest-graph .js-plotly-plot')?.data?.length > 0",
                           timeout=150_000)
    first = wait_graph_fills_its_box(page)

    page.set_viewport_size({"width": 1600, "height": 900})  # a wider window: a wider graph
    wider = wait_graph_fills_its_box(page, first)
    assert wider > first + 300

    page.set_viewport_size({"width": 1100, "height": 900})  # and narrower again
    narrower = wait_graph_fills_its_box(page, wider)
    assert narrower < wider - 300

    # The debugger's box alone narrowed, as when a side panel opens: no window resize event.
    page.evaluate("document.querySelector('.pipetest-debugger').style.width = '540px'")
    alone = wait_graph_fills_its_box(page, narrower)
    assert alone < narrower - 100
    offline_page.screenshot("graph-resized")
    assert offline_page.unexpected_requests == []
