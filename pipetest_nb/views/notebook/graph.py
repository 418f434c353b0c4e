"""The DAG graph: a layered left-to-right drawing of a plan, coloured by step status and edge checks.

``DagGraph`` is the live view: a plotly ``FigureWidget`` that follows the run's events and updates
in place (one ``plotly_restyle`` of the colour and text arrays per change, never a rebuild), so a
2,000-step graph stays responsive. The layout, palette and traces are built here once and shared
with the static figure of ``display.py``, so both views look the same.

Trace order (the indexes below are fixed): ordering-only edges, one line trace per edge state, the
edge midpoint markers (coloured by state; they make edges clickable), the steps, then one
legend-only trace per step status.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, Event, EventKind, StepStatus
from pipetest_nb.exceptions import UnknownEdgeError, UnknownStepError
from pipetest_nb.text import format_bytes, format_duration

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetest_nb.plan import PipelineExecutionPlan
    from pipetest_nb.spec.model import PipelineDAG

log = logging.getLogger(__name__)

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; grey for "nothing yet".
STATUS_COLORS: dict[str, str] = {
    StepStatus.PENDING: "#BBBBBB",
    StepStatus.RUNNING: "#56B4E9",
    StepStatus.SUCCEEDED: "#009E73",
    StepStatus.FAILED: "#D55E00",
    StepStatus.SKIPPED: "#F0E442",
    StepStatus.BLOCKED: "#CC79A7",
    StepStatus.CACHED: "#0072B2",
    StepStatus.INTERRUPTED: "#E69F00",
}
EDGE_COLORS: dict[str, str] = {
    EdgeState.UNCHECKED: "#999999",
    EdgeState.PASSED: "#009E73",
    EdgeState.WARNED: "#E69F00",
    EdgeState.FAILED: "#D55E00",
}
ORDERING_EDGE_COLOR = "#BBBBBB"
METRIC_KEYS = ("duration", "peak_rss", "rows_in", "rows_out")

# Fixed trace indexes (see the module docstring).
ORDERING_TRACE = 0
EDGE_TRACES = {state: 1 + i for i, state in enumerate(EdgeState.ALL)}
EDGE_MARK_TRACE = 1 + len(EdgeState.ALL)
NODE_TRACE = EDGE_MARK_TRACE + 1
# Trace uids of static figures: plotly.js names a trace's SVG group "trace<uid>" (FigureWidget
# replaces uids with its own; read them from the figure there).
NODE_UID = "pipetest-nodes"
EDGE_MARK_UID = "pipetest-edge-marks"

Edge = tuple[str, str]


def _discrete_scale(colours: list[str]) -> dict[str, Any]:
    """Marker colour settings that show value ``i`` exactly in ``colours[i]``.

    Colours are sent as small integers: the front end gets a compact binary array instead of
    thousands of strings, which is what keeps one update of a 2,000-step graph in a few ms.
    """
    top = len(colours) - 1
    return dict(cmin=0, cmax=top, showscale=False, colorscale=[[i / top, c] for i, c in enumerate(colours)])


STATUS_CODE = {status: i for i, status in enumerate(StepStatus.ALL)}
EDGE_CODE = {state: i for i, state in enumerate(EdgeState.ALL)}


# --------------------------------------------------------------------------------------------------
# The model: where everything goes (pure Python, no plotly)
# --------------------------------------------------------------------------------------------------


@dataclass
class GraphModel:
    """Positions of the steps and the geometry of the edges of one plan."""

    name: str
    steps: list[str]
    pos: dict[str, tuple[float, float]]
    data_edges: list[Edge]  # ("producer.output", "consumer.input")
    ordering_edges: list[tuple[str, str]]  # (producer step, consumer step), no data
    edge_paths: dict[Edge, tuple[list[float], list[float]]] = field(default_factory=dict)
    max_layer: int = 1

    @property
    def step_index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.steps)}


def as_plan(plan_or_dag: PipelineExecutionPlan | PipelineDAG) -> PipelineExecutionPlan:
    """A plan, resolving a ``PipelineDAG`` first (duck-typed, so a plan from anywhere works)."""
    if hasattr(plan_or_dag, "generations") and hasattr(plan_or_dag, "data_flow_map"):
        return plan_or_dag  # type: ignore[return-value]
    from pipetest_nb.plan import PipelineDAGResolver

    return PipelineDAGResolver(plan_or_dag).create_execution_plan()  # type: ignore[arg-type]


def build_model(plan_or_dag: PipelineExecutionPlan | PipelineDAG, sweeps: int = 4) -> GraphModel:
    """Lay the plan out: x is the generation; within a generation, barycentre sweeps reduce crossings."""
    plan = as_plan(plan_or_dag)
    steps = list(plan.execution_order)
    known = set(steps)
    preds = {s: [d for d in plan.dependencies.get(s, []) if d in known] for s in steps}
    succs: dict[str, list[str]] = {s: [] for s in steps}
    for s in steps:
        for d in preds[s]:
            succs[d].append(s)

    layers = [[s for s in g if s in known] for g in plan.generations]
    layers = [g for g in layers if g]
    y: dict[str, float] = {}

    def place(layer: list[str]) -> None:
        top = (len(layer) - 1) / 2
        for i, s in enumerate(layer):
            y[s] = top - i  # centred, first on top

    for layer in layers:
        place(layer)
    for _ in range(sweeps):
        for sweep, links in ((range(1, len(layers)), preds), (range(len(layers) - 2, -1, -1), succs)):
            for i in sweep:
                layers[i].sort(key=lambda s, links=links: -_mean([y[n] for n in links[s]], y[s]))
                place(layers[i])

    pos = {s: (float(x), y[s]) for x, layer in enumerate(layers) for s in layer}
    data_edges: list[Edge] = []
    bound: set[tuple[str, str]] = set()
    for consumer in steps:
        for input_name, source in plan.data_flow_map.get(consumer, {}).items():
            producer, _, output = source.partition(":")
            if producer in known:
                data_edges.append((f"{producer}.{output}", f"{consumer}.{input_name}"))
                bound.add((producer, consumer))
    ordering = [(d, s) for s in steps for d in preds[s] if (d, s) not in bound]
    model = GraphModel(name=getattr(plan.dag, "name", None) or "pipeline", steps=steps, pos=pos,
                       data_edges=data_edges, ordering_edges=ordering,
                       max_layer=max((len(g) for g in layers), default=1))
    _route_edges(model)
    return model


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _route_edges(model: GraphModel) -> None:
    """Each data edge goes through a midpoint; parallel edges between two steps fan out around it."""
    groups: dict[tuple[str, str], list[Edge]] = {}
    for edge in model.data_edges:
        groups.setdefault((edge[0].split(".", 1)[0], edge[1].split(".", 1)[0]), []).append(edge)
    for (producer, consumer), edges in groups.items():
        (x0, y0), (x1, y1) = model.pos[producer], model.pos[consumer]
        for k, edge in enumerate(edges):
            offset = (k - (len(edges) - 1) / 2) * 0.2
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + offset
            model.edge_paths[edge] = ([x0, mx, x1], [y0, my, y1])


# --------------------------------------------------------------------------------------------------
# What the traces hold
# --------------------------------------------------------------------------------------------------


def _fmt_count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def node_label(step: str, info: dict[str, Any]) -> str:
    """The text under a node: its name, and its duration once known."""
    duration = info.get("duration")
    return step if duration is None else f"{step}<br>{format_duration(float(duration))}"


def node_hover(step: str, status: str, info: dict[str, Any]) -> str:
    """Hover text of a node: status and metrics (duration, peak memory, rows in/out)."""
    import html

    lines = [f"<b>{html.escape(step)}</b>", f"status: {html.escape(status)}"]
    if info.get("duration") is not None:
        lines.append(f"duration: {format_duration(float(info['duration']))}")
    if info.get("peak_rss") is not None:
        lines.append(f"peak memory: {format_bytes(float(info['peak_rss']))}")
    rows = [f"{label}: {_fmt_count(info[key])}" for key, label in (("rows_in", "rows in"), ("rows_out", "rows out"))
            if info.get(key) is not None]
    if rows:
        lines.append(" · ".join(rows))
    return "<br>".join(lines)


def edge_hover(edge: Edge, state: str) -> str:
    import html

    return f"<b>{html.escape(edge[0])} → {html.escape(edge[1])}</b><br>checks: {html.escape(state)}"


def edge_xy(model: GraphModel, edges: Iterable[Edge]) -> tuple[list[float | None], list[float | None]]:
    """Line coordinates of some data edges, one polyline each, separated by gaps."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for edge in edges:
        ex, ey = model.edge_paths[edge]
        xs += [*ex, None]
        ys += [*ey, None]
    return (xs, ys) if xs else ([None], [None])  # an empty trace keeps its legend entry


def figure_spec(model: GraphModel, statuses: dict[str, str], edge_states: dict[Edge, str],
                info: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The traces and layout of the graph in a given state: the one source of both figures."""
    oxs: list[float | None] = []
    oys: list[float | None] = []
    for producer, consumer in model.ordering_edges:
        (x0, y0), (x1, y1) = model.pos[producer], model.pos[consumer]
        oxs += [x0, x1, None]
        oys += [y0, y1, None]
    data: list[dict[str, Any]] = [dict(
        type="scatter", x=oxs or [None], y=oys or [None], mode="lines", hoverinfo="skip",
        line=dict(color=ORDERING_EDGE_COLOR, width=1.5, dash="dash"), name="ordering only",
        legendgroup="edges", legendgrouptitle=dict(text="edges"))]
    for state in EdgeState.ALL:
        xs, ys = edge_xy(model, [e for e in model.data_edges if edge_states[e] == state])
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", hoverinfo="skip", name=state,
                         line=dict(color=EDGE_COLORS[state], width=2), legendgroup="edges"))
    mids = [model.edge_paths[e] for e in model.data_edges]
    data.append(dict(
        type="scatter", uid=EDGE_MARK_UID, x=[p[0][1] for p in mids] or [None],
        y=[p[1][1] for p in mids] or [None], mode="markers", showlegend=False, name="edge checks",
        marker=dict(symbol="diamond", size=9, color=[EDGE_CODE[edge_states[e]] for e in model.data_edges],
                    **_discrete_scale([EDGE_COLORS[s] for s in EdgeState.ALL]),
                    line=dict(width=[1] * len(mids), color="#333333")),
        hovertext=[edge_hover(e, edge_states[e]) for e in model.data_edges],
        hovertemplate="%{hovertext}<extra></extra>"))
    data.append(dict(
        type="scatter", uid=NODE_UID, x=[model.pos[s][0] for s in model.steps],
        y=[model.pos[s][1] for s in model.steps], mode="markers+text", showlegend=False, name="steps",
        text=[node_label(s, info[s]) for s in model.steps], textposition="bottom center",
        customdata=list(model.steps),
        marker=dict(size=22, color=[STATUS_CODE[statuses[s]] for s in model.steps],
                    **_discrete_scale([STATUS_COLORS[s] for s in StepStatus.ALL]),
                    line=dict(width=[1] * len(model.steps), color="#333333")),
        hovertext=[node_hover(s, statuses[s], info[s]) for s in model.steps],
        hovertemplate="%{hovertext}<extra></extra>"))
    for i, status in enumerate(StepStatus.ALL):
        extra = dict(legendgrouptitle=dict(text="step status")) if i == 0 else {}
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=status,
                         legendgroup="status", marker=dict(size=12, color=STATUS_COLORS[status]), **extra))
    layers = 1 + max((x for x, _ in model.pos.values()), default=0)
    layout = dict(
        title=dict(text=model.name, x=0.01), height=int(min(900, max(440, 110 + 70 * model.max_layer))),
        margin=dict(l=20, r=20, t=40, b=20), plot_bgcolor="white", hovermode="closest", dragmode="pan",
        xaxis=dict(visible=False, range=[-0.5, layers - 0.5]),
        yaxis=dict(visible=False, range=[-(model.max_layer + 1) / 2, (model.max_layer + 1) / 2]),
        legend=dict(itemclick=False, itemdoubleclick=False, groupclick="toggleitem", tracegroupgap=12),
        uirevision=model.name)
    return data, layout


# --------------------------------------------------------------------------------------------------
# The live graph
# --------------------------------------------------------------------------------------------------

SelectCallback = Callable[[str, Any], None]


class DagGraph:
    """A live plotly graph of a pipeline that follows the run's events.

    ``figure`` is the ``FigureWidget`` to display. Updates (from any thread) change only the colour
    and text arrays in place. ``on_select(cb)`` calls ``cb("step", name)`` when a node is clicked and
    ``cb("edge", (source, target))`` when an edge's midpoint marker is clicked.
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
        paths = [model.edge_paths[e] for e in model.data_edges]
        self._edge_x = np.array([[*x, np.nan] for x, _ in paths], dtype=float).reshape(-1, 4)
        self._edge_y = np.array([[*y, np.nan] for _, y in paths], dtype=float).reshape(-1, 4)
        self._dirty: set[str] = set()  # "color", "hover", "text", "edges", or an edge state (its line)
        self.figure: go.FigureWidget = go.FigureWidget(data=data, layout=layout)
        # two quick clicks (a node, then an edge) must select twice, not reset the axes as a double-click
        self.figure._config = {**self.figure._config, "doubleClick": False, "displaylogo": False}
        self.figure.data[NODE_TRACE].on_click(self._clicked_node)
        self.figure.data[EDGE_MARK_TRACE].on_click(self._clicked_edge)

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
        """Back to every step pending, every edge unchecked, no metrics."""
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
            self._node_arrays["hover"][i] = node_hover(step, status, self._info[step])
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
        i, info = self._index[step], self._info[step]
        self._node_arrays["hover"][i] = node_hover(step, self._statuses[step], info)
        self._node_arrays["text"][i] = node_label(step, info)
        self._dirty |= {"hover", "text"}

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
        states = [s for s in EdgeState.ALL if s in dirty]
        if states:
            masks = [self._edge_arrays["color"] == EDGE_CODE[s] for s in states]
            empty = np.array([np.nan])
            self._restyle({"x": [self._edge_x[m].ravel() if m.any() else empty for m in masks],
                           "y": [self._edge_y[m].ravel() if m.any() else empty for m in masks]},
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
        return self.figure._repr_mimebundle_(include=include, exclude=exclude)
