"""The notebook layer: the live DAG graph, rich displays of results, and (later) the debugger widget.

Importing this package is light: plotly and ipywidgets load when a graph or display is first made.
``register_displays(shell)`` teaches an IPython shell to draw pipetest objects; ``pipetest_nb``
calls it on import when a shell is running, so the core modules never import this layer.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DagGraph": "graph",
    "STATUS_COLORS": "layout",
    "EDGE_COLORS": "layout",
    "dag_figure": "display",
}

# (module, class) -> name of the function in display.py that renders it as HTML
HTML_DISPLAYS = {
    ("pipetest_nb.spec.model", "PipelineDAG"): "dag_html",
    ("pipetest_nb.engine.results", "StepResult"): "step_result_html",
    ("pipetest_nb.engine.results", "PipelineExecutionResult"): "execution_result_html",
    ("pipetest_nb.validation.expectations.checks", "EdgeCheck"): "edge_check_html",
    ("pipetest_nb.validation.compatibility", "DataCompatibilityReport"): "compatibility_report_html",
}
MIMEBUNDLE_DISPLAYS = {
    ("pipetest_nb.spec.model", "PipelineDAG"): "dag_mimebundle",
}

__all__ = sorted([*_EXPORTS, "register_displays"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipetest_nb.views.notebook' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)


def _lazy(function: str) -> Any:
    """A formatter that imports display.py only when an object is first shown."""

    def render(obj: Any) -> Any:
        from . import display

        return getattr(display, function)(obj)

    render.__name__ = render.__qualname__ = function
    return render


def register_displays(shell: Any) -> None:
    """Register our HTML (and plotly mimebundle) formatters with ``shell`` by class name.

    By name, so the classes need not be imported (or even exist yet) for this to work.
    """
    formatters = shell.display_formatter
    for (module, name), function in HTML_DISPLAYS.items():
        formatters.formatters["text/html"].for_type_by_name(module, name, _lazy(function))
    for (module, name), function in MIMEBUNDLE_DISPLAYS.items():
        formatters.mimebundle_formatter.for_type_by_name(module, name, _lazy(function))
