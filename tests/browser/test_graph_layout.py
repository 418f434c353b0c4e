"""The graph's layout as plotly.js draws it in chromium: no two step labels overlap, none is cut off.

Generated pipelines of 7, 18 and 50 steps (long names, skip edges), every step finished with a
duration (a label's longest form), drawn by plotly.js in a 1,000 px wide page: the live
``DagGraph``'s figure and the report's. The boxes are read from the DOM.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dag_shapes import layered_spec

from pipetest_nb import PipelineDAG
from pipetest_nb.views.notebook.display import dag_figure
from pipetest_nb.views.notebook.graph import DagGraph
from pipetest_nb.views.notebook.layout import NODE_TRACE
from pipetest_nb.views.report.html import REPORT_FIGURE_WIDTH

pytestmark = pytest.mark.browser

SIZES = (7, 18, 50)
PAGE_WIDTH = 1000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
#: The box of the plot area and of every non-empty label (its text, lines joined by newlines) of
#: the figure inside ``root``.
READ_BOXES = """(root) => {
    const box = e => { const r = e.getBoundingClientRect();
                       return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const el = document.querySelector(root);
    const plot = el.classList.contains('js-plotly-plot') ? el : el.querySelector('.js-plotly-plot');
    const uid = plot.data[NODE_TRACE].uid;
    const texts = [...plot.querySelectorAll(`g.trace${uid} g.textpoint text`)];
    return {plot: box(plot.querySelector('.nsewdrag')),
            labels: texts.map(t => ({...box(t), text: [...t.childNodes].map(n => n.textContent).join('\\n')}))
                         .filter(l => l.text.trim())};
}""".replace("NODE_TRACE", str(NODE_TRACE))

def live(dag: PipelineDAG):
    """The live graph's figure with every step succeeded in 12.5 s."""
    graph = DagGraph(dag)
    for step in graph.model.steps:
        graph.set_status(step, "succeeded")
        graph.set_step_info(step, duration=12.5)
    return graph.figure


def report(dag: PipelineDAG):
    """The report's figure of the same run."""
    steps = list(dag.steps)
    return dag_figure(dag, statuses=dict.fromkeys(steps, "succeeded"), info={s: {"duration": 12.5} for s in steps},
                      width=REPORT_FIGURE_WIDTH)


def static_page(plotly_js: str, figures: dict[str, object]) -> str:
    divs = []
    for n, figure in figures.items():
        spec = figure.to_plotly_json()
        divs.append(f"<div id='{n}' style='width:100%'></div><script>Plotly.newPlot('{n}', "
                    f"{json.dumps(spec['data'], default=list)}, {json.dumps(spec['layout'], default=list)}, "
                    "{responsive: true});</script>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><script>{plotly_js}</script></head>"
            f"<body style='margin:0'>{''.join(divs)}</body></html>")


def intersect(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def problems(seen: dict, steps: list[str], every_name: bool) -> list[str]:
    """What is wrong with the labels of one figure, as sentences."""
    plot, labels = seen["plot"], seen["labels"]
    found = []
    if plot["right"] - plot["left"] < PAGE_WIDTH * 0.8:
        found.append(f"the plot is {plot['right'] - plot['left']:.0f} px wide in a {PAGE_WIDTH} px page")
    found += [f"labels overlap: {a['text']!r} and {b['text']!r}"
              for i, a in enumerate(labels) for b in labels[i + 1:] if intersect(a, b)]
    found += [f"label cut off at the plot's edge: {label['text']!r}" for label in labels
              if label["left"] < plot["left"] or label["right"] > plot["right"]
              or label["top"] < plot["top"] or label["bottom"] > plot["bottom"]]
    shown = {label["text"].split("\n12.5 s")[0].replace("\n", "") for label in labels}
    shown = {name for name in shown if not name.endswith("…")}
    if every_name and shown != set(steps):
        found.append(f"names not shown in full: {sorted(set(steps) - shown)}")
    if len(labels) < 0.7 * len(steps):
        found.append(f"only {len(labels)} of {len(steps)} steps labelled")
    return found


def dags(folder: Path) -> dict[int, PipelineDAG]:
    (folder / "s.py").write_text("def main(*a): pass\n")
    return {n: PipelineDAG.from_dict(layered_spec(n), base_dir=folder) for n in SIZES}


def test_labels_never_overlap_nor_leave_the_plot(browser, tmp_path):
    import plotly.offline

    pipelines = dags(tmp_path)
    figures = {**{f"live-{n}": live(dag) for n, dag in pipelines.items()},
               **{f"report-{n}": report(dag) for n, dag in pipelines.items()}}
    context = browser.new_context(viewport={"width": PAGE_WIDTH, "height": 900})
    try:
        page = context.new_page()
        page.route("**/*", lambda r: r.abort())  # the page is self-contained
        page.set_content(static_page(plotly.offline.get_plotlyjs(), figures), wait_until="load")
        found = {}
        for key in figures:
            page.wait_for_selector(f"#{key} g.textpoint text")
            kind, n = key.split("-")
            found[key] = problems(page.evaluate(READ_BOXES, f"#{key}"), list(pipelines[int(n)].steps),
                                  every_name=int(n) <= (18 if kind == "report" else 7))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "graph-layout.png"), full_page=True)
    finally:
        context.close()
    assert found == dict.fromkeys(figures, [])
