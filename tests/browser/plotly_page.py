"""Reading a plotly figure in a real page: colours as the browser reports them, markers of a trace."""

from __future__ import annotations


def rgb(hex_colour: str) -> str:
    """How the browser reports a CSS colour: ``rgb(r, g, b)``."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def points_of(page, trace: int) -> str:
    """CSS selector of a trace's markers: plotly.js names each trace's group ``trace<uid>``."""
    uid = page.evaluate(f"document.querySelector('.js-plotly-plot').data[{trace}].uid")
    return f".js-plotly-plot g.trace{uid} path.point"
