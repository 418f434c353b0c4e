"""The live DAG graph in a real browser: drawn, coloured by status, clickable, updated in place."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from plotly_page import points_of, rgb

from pipetest_nb import PipelineDAG
from pipetest_nb.views.notebook.layout import (
    EDGE_COLORS,
    EDGE_MARK_TRACE,
    NODE_TRACE,
    STATUS_COLORS,
    build_model,
)

pytestmark = pytest.mark.browser

EXAMPLE = Path(__file__).resolve().parents[2] / "pipetest_nb" / "examples" / "churn" / "pipeline.yaml"
STATUSES = {"load": "succeeded", "preprocess": "failed", "profile": "running"}
EDGE_STATES = {("load.raw_data", "preprocess.DATA"): "failed", ("load.raw_data", "profile.DATA"): "passed"}

SETUP = textwrap.dedent(f"""
    import ipywidgets as widgets
    from pipetest_nb import PipelineDAG
    from pipetest_nb.views.notebook import DagGraph

    graph = DagGraph(PipelineDAG.load({str(EXAMPLE)!r}))
    selected = widgets.Label(value="nothing selected", layout={{"min_width": "400px"}})
    selected.add_class("selection")

    def show(kind, value):
        selected.value = f"{{kind}}: {{value}}"
        if kind == "step":
            graph.set_status(value, "cached")

    graph.on_select(show)
    display(widgets.VBox([graph.figure, selected]))
""")
# After the display: a page that connects later must still see these colours.
UPDATES = "\n".join([f"graph.set_status({s!r}, {st!r})" for s, st in STATUSES.items()]
                    + [f"graph.set_edge_state({a!r}, {b!r}, {st!r})" for (a, b), st in EDGE_STATES.items()])


def fills(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => getComputedStyle(e).fill)")


def click_point(page, selector: str, index: int, hover_text: str) -> None:
    """Point at a marker, wait for its hover label, then click, as a user does.

    plotly listens on the layer above the markers and reports the point it last hovered, so
    clicking before the hover label is up would click the previous point.
    """
    page.wait_for_timeout(500)  # a person's clicks are further apart than plotly's double-click window
    box = page.locator(selector).nth(index).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.locator(".js-plotly-plot .hoverlayer .hovertext", has_text=hover_text).wait_for(timeout=10_000)
    page.mouse.click(x, y)


def test_graph_draws_colours_and_follows_clicks(voila, offline_page):
    model = build_model(PipelineDAG.load(EXAMPLE))
    page = offline_page.page
    page.goto(voila([SETUP, UPDATES], name="graph"), wait_until="domcontentloaded", timeout=150_000)
    page.wait_for_function("document.querySelector('.js-plotly-plot')?.data?.length > 0", timeout=150_000)
    nodes, edge_marks = (points_of(page, NODE_TRACE), points_of(page, EDGE_MARK_TRACE))
    page.wait_for_function(f"document.querySelectorAll({nodes!r}).length === {len(model.steps)}",
                           timeout=30_000)

    assert page.locator(nodes).count() == len(model.steps)
    assert page.locator(edge_marks).count() == len(model.data_edges)
    expected_nodes = [rgb(STATUS_COLORS[STATUSES.get(s, "pending")]) for s in model.steps]
    assert fills(page, nodes) == expected_nodes
    expected_edges = [rgb(EDGE_COLORS[EDGE_STATES.get(e, "unchecked")]) for e in model.data_edges]
    assert fills(page, edge_marks) == expected_edges
    legends = [page.eval_on_selector_all(f".js-plotly-plot .{key} .traces", "els => els.map(e => e.textContent)")
               for key in ("legend", "legend2")]
    assert legends == [["ordering only", "unchecked", "passed", "warned", "failed"], [*STATUS_COLORS]]
    titles = [page.eval_on_selector(f".js-plotly-plot .{key}", "e => e.textContent") for key in ("legend", "legend2")]
    assert titles[0].startswith("edges") and titles[1].startswith("steps")
    offline_page.screenshot("graph-statuses")

    # a click in the page reaches the kernel, and the kernel's restyle comes back to the page
    train = model.steps.index("train")
    click_point(page, nodes, train, "status: pending")
    page.wait_for_function("document.querySelector('.selection')?.innerText.includes('step: train')",
                           timeout=30_000)
    page.wait_for_function(f"getComputedStyle(document.querySelectorAll({nodes!r})[{train}]).fill"
                           f" === {rgb(STATUS_COLORS['cached'])!r}", timeout=30_000)
    edge = model.data_edges.index(("load.raw_data", "preprocess.DATA"))
    click_point(page, edge_marks, edge, "load.raw_data → preprocess.DATA")
    page.wait_for_function("document.querySelector('.selection')?.innerText.includes("
                           "\"edge: ('load.raw_data', 'preprocess.DATA')\")", timeout=30_000)
    offline_page.screenshot("graph-after-clicks")
    assert offline_page.unexpected_requests == []
