"""The live DAG graph: a plotly ``FigureWidget`` that follows the run's events and updates in place.

One ``plotly_restyle`` of the colour and text arrays per change, never a rebuild, so a 2,000-step
graph stays responsive. Where things go and how they look is ``layout.py``'s, shared with the
static figure of ``display.py``.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, Event, EventKind, StepStatus
from pipetest_nb.exceptions import UnknownEdgeError, UnknownStepError
from pipetest_nb.views.notebook.layout import (
    ARROW_TRACE,
    CHANGED,
    EDGE_CODE,
    EDGE_COLORS,
    EDGE_MARK_TRACE,
    EDGE_TRACES,
    MARK_TRACES,
    METRIC_KEYS,
    NODE_TRACE,
    STATUS_CODE,
    STATUS_COLORS,
    SUSPECT,
    Edge,
    Marks,
    build_model,
    edge_hover,
    figure_spec,
    mark_reasons,
    mark_trace_update,
    node_hover,
    node_label,
    normal_marks,
)

if TYPE_CHECKING:
    from pipetest_nb.plan import PipelineExecutionPlan
    from pipetest_nb.spec.model import PipelineDAG

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# The live graph
# --------------------------------------------------------------------------------------------------

SelectCallback = Callable[[str, Any], None]


class DagGraph:
    """A live plotly graph of a pipeline that follows the run's events.

    ``figure`` is the ``FigureWidget`` to display. Updates (from any thread) change only the colour
    and text arrays in place. ``on_select(cb)`` calls ``cb("step", name)`` when a node is clicked and
    ``cb("edge", (source, target))`` when an edge's midpoint marker is clicked. ``set_marks`` rings
    suspect and changed steps.
    """

    def __init__(self, plan_or_dag: PipelineExecutionPlan | PipelineDAG):
        import numpy as np
        import plotly.graph_objects as go

        self.model = model = build_model(plan_or_dag)
        self._index = model.step_index
        self._edge_index = {e: i for i, e in enumerate(model.data_edges)}
        self._lock = threading.RLock()
        self._statuses = dict.fromkeys(model.steps, StepStatus.PENDING)
        self._edge_states = dict.fromkeys(model.data_edges, EdgeState.UNCHECKED)
        self._info: dict[str, dict[str, Any]] = {s: {} for s in model.steps}
        self._marks: Marks = normal_marks()
        self._callbacks: list[SelectCallback] = []
        self.selected: tuple[str, Any] | None = None
        self.errors: list[str] = []  # tracebacks of select callbacks that raised
        data, layout = figure_spec(model, self._statuses, self._edge_states, self._info)
        # What the traces show, kept here so one change rebuilds one entry, not the whole array;
        # object arrays are several times cheaper for plotly to validate than lists of strings.
        nodes, marks = data[NODE_TRACE], data[EDGE_MARK_TRACE]
        self._node_arrays = {"color": np.array(nodes["marker"]["color"], dtype=np.uint8),
                             "hover": np.array(nodes["hovertext"], dtype=object),
                             "text": np.array(nodes["text"], dtype=object)}
        self._edge_arrays = {"color": np.array(marks["marker"]["color"], dtype=np.uint8),
                             "hover": np.array(marks["hovertext"], dtype=object)}
        self._arrow_colors = np.array(data[ARROW_TRACE]["marker"]["color"], dtype=np.uint8)
        # Every data edge's line, one after the other with a gap each, and the edge of each point:
        # the lines of one state are then one mask away.
        paths = [model.edge_paths[e] for e in model.data_edges]
        self._edge_x = np.array([v for x, _ in paths for v in (*x, np.nan)], dtype=float)
        self._edge_y = np.array([v for _, y in paths for v in (*y, np.nan)], dtype=float)
        self._edge_of_point = np.repeat(np.arange(len(paths)), [len(x) + 1 for x, _ in paths])
        self._dirty: set[str] = set()  # "color", "hover", "text", "edges", or an edge state (its line)
        self.figure: go.FigureWidget = go.FigureWidget(data=data, layout=layout)
        # two quick clicks (a node, then an edge) must select twice, not reset the axes as a double-click;
        # responsive: redrawn at its box's width on a window resize, which ``widget``'s FitWidth sends
        self.figure._config = {**self.figure._config, "doubleClick": False, "displaylogo": False,
                               "responsive": True}
        self.figure.data[NODE_TRACE].on_click(self._clicked_node)
        self.figure.data[EDGE_MARK_TRACE].on_click(self._clicked_edge)
        self._widget: Any = None

    @property
    def widget(self) -> Any:
        """The figure in a box it always fills (``FitWidth``): what to display."""
        if self._widget is None:
            import ipywidgets as widgets

            from pipetest_nb.views.notebook.fit_width import FitWidth

            fit = FitWidth(box=".pipetest-graph-fit", layout={"display": "none"})
            self._widget = widgets.Box([self.figure, fit], layout={"display": "block", "width": "100%"})
            self._widget.add_class("pipetest-graph-fit")
        return self._widget

    def close(self) -> None:
        """Close the figure and its box (the browser views go away)."""
        parts = [self.figure] if self._widget is None else [*self._widget.children, self._widget]
        for part in parts:
            part.close()

    # -- state ---------------------------------------------------------------------------------

    @property
    def statuses(self) -> dict[str, str]:
        """Step -> status, a copy."""
        with self._lock:
            return dict(self._statuses)

    @property
    def edge_states(self) -> dict[Edge, str]:
        """(source, target) -> edge state, a copy."""
        with self._lock:
            return dict(self._edge_states)

    @property
    def step_info(self) -> dict[str, dict[str, Any]]:
        """Step -> metrics shown on hover, a copy."""
        with self._lock:
            return {s: dict(v) for s, v in self._info.items()}

    def set_status(self, step: str, status: str) -> None:
        """Colour one step by its status."""
        with self._lock:
            self._set_status(step, status)
            self._flush()

    def set_edge_state(self, source: str, target: str, state: str) -> None:
        """Colour the data edge ``source`` ("producer.output") -> ``target`` ("consumer.input")."""
        with self._lock:
            self._set_edge_state((source, target), state)
            self._flush()

    @property
    def marks(self) -> Marks:
        """``{"suspect": {step: why}, "changed": {step: why}}``, a copy."""
        with self._lock:
            return {kind: dict(steps) for kind, steps in self._marks.items()}

    def set_marks(self, suspects: Mapping[str, str] | Iterable[str] = (),
                  changed: Mapping[str, str] | Iterable[str] = ()) -> None:
        """Ring ``suspects`` (likely causes of a failure downstream: orange circles) and ``changed`` steps
        (they differ from the run compared against: purple squares), replacing earlier marks.

        Each is an iterable of step names or a mapping step -> why (shown on hover). ``set_marks()``
        clears; ``reset`` and replays keep the marks.
        """
        marks = normal_marks(suspects, changed)
        with self._lock:
            for step in {s for steps in marks.values() for s in steps}:
                if step not in self._index:
                    raise UnknownStepError(step, self.model.steps)
            old, self._marks = self._marks, marks
            for step in {s for m in (old, marks) for steps in m.values() for s in steps}:
                i = self._index[step]
                self._node_arrays["hover"][i] = self._hover(step)
            self._dirty.add("hover")
            traces = [MARK_TRACES[CHANGED], MARK_TRACES[SUSPECT]]
            updates = [mark_trace_update(self.model, marks[CHANGED]), mark_trace_update(self.model, marks[SUSPECT])]
            self._restyle({key: [u[key] for u in updates] for key in ("x", "y", "showlegend")}, traces)
            self._flush()

    def set_step_info(self, step: str, **metrics: Any) -> None:
        """Show metrics of a step (duration in s, peak_rss in bytes, rows_in, rows_out) on hover."""
        with self._lock:
            self._set_info(step, metrics)
            self._flush()

    def apply(self, event: Event) -> None:
        """Follow one event; events about steps or edges this graph does not draw are ignored."""
        with self._lock:
            self._apply(event)
            self._flush()

    def apply_all(self, events: Iterable[Event]) -> None:
        """Follow many events with one update of the figure (replaying a recorded run)."""
        with self._lock:
            for event in events:
                self._apply(event)
            self._flush()

    def reset(self) -> None:
        """Back to every step pending, every edge unchecked, no metrics; the marks stay (``set_marks()``
        clears them)."""
        with self._lock:
            for step in self.model.steps:
                self._set_status(step, StepStatus.PENDING)
                self._set_info(step, None)
            for edge in self.model.data_edges:
                self._set_edge_state(edge, EdgeState.UNCHECKED)
            self._flush()

    def on_select(self, callback: SelectCallback) -> None:
        """Call ``callback(kind, value)`` when a step ("step", name) or edge ("edge", (source, target)) is clicked."""
        self._callbacks.append(callback)

    def select(self, kind: str | None, value: Any = None) -> None:
        """Outline the selected step or edge (``select(None)`` clears) and tell the callbacks."""
        with self._lock:
            if kind == "step" and value not in self._index:
                raise UnknownStepError(value, self.model.steps)
            if kind == "edge" and tuple(value) not in self._edge_index:
                raise UnknownEdgeError(tuple(value), self.model.data_edges)
            self.selected = None if kind is None else (kind, value if kind == "step" else tuple(value))
            node_width = [1] * len(self.model.steps)
            edge_width = [1] * len(self.model.data_edges)
            if kind == "step":
                node_width[self._index[value]] = 4
            elif kind == "edge":
                edge_width[self._edge_index[tuple(value)]] = 3
            self._restyle({"marker.line.width": [node_width, edge_width]}, [NODE_TRACE, EDGE_MARK_TRACE])
        if self.selected is not None:
            for callback in list(self._callbacks):
                try:
                    callback(*self.selected)
                except Exception:  # a broken callback must not kill the graph's click handling
                    self.errors.append(traceback.format_exc())
                    log.exception("graph selection callback %r failed", callback)

    # -- internals -------------------------------------------------------------------------------

    def _apply(self, event: Event) -> None:
        data = event.data or {}
        if event.kind == EventKind.EDGE_CHECKED:
            edge = tuple(data.get("edge") or ())
            if edge in self._edge_index and data.get("state") in EDGE_COLORS:
                self._set_edge_state(edge, data["state"])  # type: ignore[arg-type]
            return
        if event.step not in self._index:
            return
        if event.kind == EventKind.STEP_STARTED:
            self._set_status(event.step, StepStatus.RUNNING)
        elif event.kind in (EventKind.STEP_FINISHED, EventKind.STEP_STATUS) and data.get("status") in STATUS_COLORS:
            self._set_status(event.step, data["status"])
        metrics = data.get("metrics")
        if isinstance(metrics, dict):
            self._set_info(event.step, {k: metrics[k] for k in METRIC_KEYS if metrics.get(k) is not None})

    def _set_status(self, step: str, status: str) -> None:
        if step not in self._index:
            raise UnknownStepError(step, self.model.steps)
        if status not in STATUS_COLORS:
            raise ValueError(f"unknown status {status!r} for step '{step}'; use one of {', '.join(StepStatus.ALL)}")
        if self._statuses[step] != status:
            self._statuses[step] = status
            i = self._index[step]
            self._node_arrays["color"][i] = STATUS_CODE[status]
            self._node_arrays["hover"][i] = self._hover(step)
            self._dirty |= {"color", "hover"}

    def _set_info(self, step: str, metrics: dict[str, Any] | None) -> None:
        if step not in self._index:
            raise UnknownStepError(step, self.model.steps)
        if metrics is None:
            if not self._info[step]:
                return
            self._info[step] = {}
        else:
            unknown = set(metrics) - set(METRIC_KEYS)
            if unknown:
                raise ValueError(f"unknown metric(s) {', '.join(sorted(unknown))} for step '{step}'; "
                                 f"use {', '.join(METRIC_KEYS)}")
            self._info[step].update(metrics)
        i = self._index[step]
        self._node_arrays["hover"][i] = self._hover(step)
        self._node_arrays["text"][i] = node_label(self.model.labels[step], self._info[step])
        self._dirty |= {"hover", "text"}

    def _hover(self, step: str) -> str:
        return node_hover(step, self._statuses[step], self._info[step], step in self.model.external,
                          mark_reasons(self._marks, step))

    def _set_edge_state(self, edge: tuple[str, ...], state: str) -> None:
        if edge not in self._edge_index:
            raise UnknownEdgeError(edge, self.model.data_edges)
        if state not in EDGE_COLORS:
            raise ValueError(f"unknown edge state {state!r} for {edge[0]} -> {edge[1]}; "
                             f"use one of {', '.join(EdgeState.ALL)}")
        old = self._edge_states[edge]  # type: ignore[index]
        if old != state:
            self._edge_states[edge] = state  # type: ignore[index]
            i = self._edge_index[edge]  # type: ignore[index]
            self._edge_arrays["color"][i] = EDGE_CODE[state]
            self._arrow_colors[2 * i:2 * i + 2] = EDGE_CODE[state]
            self._edge_arrays["hover"][i] = edge_hover(edge, state)  # type: ignore[arg-type]
            self._dirty |= {"edges", old, state}

    def _flush(self) -> None:
        """Push what changed to the figure: one restyle per trace kind, of fresh copies of the arrays.

        Copies, because plotly keeps the array it is given and skips a restyle that changes nothing.
        """
        import numpy as np

        dirty, self._dirty = self._dirty, set()
        keys = {"color": "marker.color", "hover": "hovertext", "text": "text"}
        node_update = {keys[k]: [self._node_arrays[k].copy()] for k in keys if k in dirty}
        if node_update:
            self._restyle(node_update, [NODE_TRACE])
        if "edges" in dirty:
            self._restyle({"marker.color": [self._edge_arrays["color"].copy()],
                           "hovertext": [self._edge_arrays["hover"].copy()]}, [EDGE_MARK_TRACE])
            self._restyle({"marker.color": [self._arrow_colors.copy()]}, [ARROW_TRACE])
        states = [s for s in EdgeState.ALL if s in dirty]
        if states:
            codes = self._edge_arrays["color"][self._edge_of_point]
            masks = [codes == EDGE_CODE[s] for s in states]
            empty = np.array([np.nan])
            self._restyle({"x": [self._edge_x[m] if m.any() else empty for m in masks],
                           "y": [self._edge_y[m] if m.any() else empty for m in masks]},
                          [EDGE_TRACES[s] for s in states])

    def _restyle(self, update: dict[str, list[Any]], traces: list[int]) -> None:
        self.figure.plotly_restyle(update, trace_indexes=traces)
        # A view opened later (page reload, Voila) asks the kernel for the widget state, which
        # restyles do not touch: keep that snapshot current too, without sending it again.
        for key, values in update.items():
            for trace, value in zip(traces, values, strict=True):
                target = self.figure._widget_data[trace]
                *path, last = key.split(".")
                for part in path:
                    target = target.setdefault(part, {})
                target[last] = value

    def _clicked_node(self, trace: Any, points: Any, state: Any) -> None:
        if points.point_inds:
            self.select("step", self.model.steps[points.point_inds[0]])

    def _clicked_edge(self, trace: Any, points: Any, state: Any) -> None:
        if points.point_inds and self.model.data_edges:
            self.select("edge", self.model.data_edges[points.point_inds[0]])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)
