"""Marks on the graph's steps beyond their status: the suspects of a failure and the steps a diff found changed.

``show_marks`` uses the graph's own marking (``DagGraph.mark_steps``) when the graph has one; else
it outlines the marked steps itself (a thick ring: red-orange for a suspect, blue for a changed
step), keeping the selected step's ring the thickest. Call it again after a selection, which
redraws the rings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipetest_nb.views.notebook.layout import NODE_TRACE

if TYPE_CHECKING:
    from pipetest_nb.views.notebook.graph import DagGraph

SUSPECT_RING = "#D55E00"
CHANGED_RING = "#0072B2"
PLAIN_RING = "#333333"


def show_marks(graph: DagGraph, suspects: dict[str, str], changed: dict[str, str]) -> None:
    """Mark ``suspects`` (step -> why) and ``changed`` (step -> what changed) on ``graph``; the rest plain."""
    mark = getattr(graph, "mark_steps", None)
    if callable(mark):
        mark(suspects=suspects, changed=changed)
        return
    selected = graph.selected[1] if graph.selected and graph.selected[0] == "step" else None
    colours, widths = [], []
    for step in graph.model.steps:
        ring = SUSPECT_RING if step in suspects else CHANGED_RING if step in changed else PLAIN_RING
        colours.append(ring)
        widths.append(5 if step == selected else 4 if ring != PLAIN_RING else 1)
    graph._restyle({"marker.line.color": [colours], "marker.line.width": [widths]}, [NODE_TRACE])

