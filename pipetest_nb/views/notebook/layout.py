"""How a plan is drawn: the layered left-to-right layout, the palette and the plotly traces.

Built once per plan and shared by the live ``DagGraph`` (``graph.py``), the static figure of
``display.py`` and the HTML report, so all three look the same. Steps are placed by ``sugiyama.py``
and labelled by ``labels.py``; plotly is never imported here.

Trace order (the indexes below are fixed): ordering-only edges, one line trace per edge state, the
arrowheads, the edge midpoint markers (coloured by state; they make edges clickable), the steps,
the rings of changed and of suspect steps, then one legend-only trace per step status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.text import format_bytes, format_duration
from pipetest_nb.views.notebook import labels as label_fit
from pipetest_nb.views.notebook.labels import (
    EDGE_MARK_SIZE,
    FONT_FAMILY,
    FONT_SIZE,
    LABEL_ROOM,
    LINE_HEIGHT,
    MIN_PLOT_WIDTH,
    NODE_SIZE,
    Label,
)
from pipetest_nb.views.notebook.sugiyama import place

if TYPE_CHECKING:
    from pipetest_nb.plan import PipelineExecutionPlan
    from pipetest_nb.spec.model import PipelineDAG

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
BADGE_COLOURS = {**EDGE_COLORS, **STATUS_COLORS}  # a state's colour: a step status's, else an edge state's
ORDERING_EDGE_COLOR = "#BBBBBB"
#: Rings around marked steps: a suspect (the likely cause of a failure downstream) and a changed step
#: (it differs from the run compared against).
SUSPECT, CHANGED = "suspect", "changed"
MARK_STYLE: dict[str, dict[str, Any]] = {
    SUSPECT: dict(symbol="circle-open", size=NODE_SIZE + 6, color="#E69F00", line=dict(width=3)),
    CHANGED: dict(symbol="square-open", size=NODE_SIZE + 4, color="#6A3D9A", line=dict(width=2)),
}
METRIC_KEYS = ("duration", "peak_rss", "rows_in", "rows_out")

# Fixed trace indexes (see the module docstring).
ORDERING_TRACE = 0
EDGE_TRACES = {state: 1 + i for i, state in enumerate(EdgeState.ALL)}
ARROW_TRACE = 1 + len(EdgeState.ALL)
EDGE_MARK_TRACE = ARROW_TRACE + 1
NODE_TRACE = EDGE_MARK_TRACE + 1
MARK_TRACES = {CHANGED: NODE_TRACE + 1, SUSPECT: NODE_TRACE + 2}
# Trace uids of static figures: plotly.js names a trace's SVG group "trace<uid>" (FigureWidget
# replaces uids with its own; read them from the figure there).
NODE_UID = "pipetest-nodes"
EDGE_MARK_UID = "pipetest-edge-marks"

Edge = tuple[str, str]
Marks = dict[str, dict[str, str]]  # SUSPECT / CHANGED -> step -> why (shown on hover)

_STEP_PITCH = NODE_SIZE + 3 * LINE_HEIGHT + 6  # px a step needs within its layer: marker, 2 name lines, duration
_EDGE_PITCH = 14.0  # px a long edge needs where it passes a layer
_MIN_HEIGHT = 120.0  # px of plot for the smallest pipelines
_FAN = 12.0  # px between parallel edges of one pair of steps
_TITLE_HEIGHT = 26
_LEGEND_ROW = 22
_LEGEND_FONT = 10
_MARGIN = 8


def _discrete_scale(colours: list[str]) -> dict[str, Any]:
    """Marker colour settings that show value ``i`` exactly in ``colours[i]``.

    Colours are sent as small integers: the front end gets a compact binary array instead of
    thousands of strings, which is what keeps one update of a 2,000-step graph in a few ms.
    """
    top = len(colours) - 1
    return dict(cmin=0, cmax=top, showscale=False, colorscale=[[i / top, c] for i, c in enumerate(colours)])


STATUS_CODE = {status: i for i, status in enumerate(StepStatus.ALL)}
EDGE_CODE = {state: i for i, state in enumerate(EdgeState.ALL)}
ORDERING_CODE = len(EdgeState.ALL)  # the arrowheads of ordering-only edges
ARROW_SCALE = _discrete_scale([*(EDGE_COLORS[s] for s in EdgeState.ALL), ORDERING_EDGE_COLOR])


# --------------------------------------------------------------------------------------------------
# The model: where everything goes (pure Python, no plotly)
# --------------------------------------------------------------------------------------------------


@dataclass
class GraphModel:
    """Positions (x: layer, y: px from the top, negated) of the steps, their labels, and the edges' lines."""

    name: str
    steps: list[str]
    pos: dict[str, tuple[float, float]]
    data_edges: list[Edge]  # ("producer.output", "consumer.input")
    ordering_edges: list[tuple[str, str]]  # (producer step, consumer step), no data
    edge_paths: dict[Edge, tuple[list[float], list[float]]] = field(default_factory=dict)
    ordering_paths: list[tuple[list[float], list[float]]] = field(default_factory=list)
    labels: dict[str, Label] = field(default_factory=dict)
    layers: int = 1
    height: float = _MIN_HEIGHT  # px of plot the steps need
    external: frozenset[str] = frozenset()  # steps that do not run: their outputs are the user's folders

    @property
    def step_index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.steps)}


def as_plan(plan_or_dag: PipelineExecutionPlan | PipelineDAG) -> PipelineExecutionPlan:
    """A plan, resolving a ``PipelineDAG`` first (duck-typed, so a plan from anywhere works)."""
    if hasattr(plan_or_dag, "generations") and hasattr(plan_or_dag, "data_flow_map"):
        return plan_or_dag  # type: ignore[return-value]
    from pipetest_nb.plan import PipelineDAGResolver

    return PipelineDAGResolver(plan_or_dag).create_execution_plan()  # type: ignore[arg-type]


def build_model(plan_or_dag: PipelineExecutionPlan | PipelineDAG, width: float | None = None) -> GraphModel:
    """Lay the plan out: x is the generation, the order within a generation keeps crossings few, and
    every step gets a label that fits a figure ``width`` px wide or wider (default: the narrowest
    the debugger draws)."""
    plan = as_plan(plan_or_dag)
    steps = list(plan.execution_order)
    known = set(steps)
    links = [(d, s) for s in steps for d in plan.dependencies.get(s, []) if d in known]
    layers = [g for g in ([s for s in g if s in known] for g in plan.generations) if g]
    placement = place(layers, links, _STEP_PITCH, _EDGE_PITCH)
    ys = [placement.y[s] for s in steps] + [y for bends in placement.bends.values() for _, y in bends]
    low, high = min(ys, default=0.0), max(ys, default=0.0)
    drawn = high - low + 2 * LABEL_ROOM
    height = max(drawn, _MIN_HEIGHT)
    shift = (height - drawn) / 2 + LABEL_ROOM - low  # labels fit above the top step; small drawings centred
    pos = {s: (float(placement.layer[s]), -(placement.y[s] + shift)) for s in steps}
    data_edges: list[Edge] = []
    bound: set[tuple[str, str]] = set()
    for consumer in steps:
        for input_name, source in plan.data_flow_map.get(consumer, {}).items():
            producer, _, output = source.partition(":")
            if producer in known:
                data_edges.append((f"{producer}.{output}", f"{consumer}.{input_name}"))
                bound.add((producer, consumer))
    external = frozenset(s for s in steps if getattr(getattr(plan, "step_configs", {}).get(s), "external", False))
    model = GraphModel(name=getattr(plan.dag, "name", None) or "pipeline", steps=steps, pos=pos,
                       data_edges=data_edges, ordering_edges=[(d, s) for d, s in links if (d, s) not in bound],
                       layers=len(layers) or 1, height=height, external=external)
    bends = {k: [(float(x), -(y + shift)) for x, y in v] for k, v in placement.bends.items()}
    _route_edges(model, bends)
    fit_labels(model, width)
    return model


def _route_edges(model: GraphModel, bends: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    """Each edge runs through the bends of its long link; parallel data edges between two steps fan out."""
    def path(producer: str, consumer: str, offset: float) -> tuple[list[float], list[float]]:
        points = bends.get((producer, consumer), [])
        (x0, y0), (x1, y1) = model.pos[producer], model.pos[consumer]
        if not points:  # a midpoint to carry the edge's marker and the fan
            points = [((x0 + x1) / 2, (y0 + y1) / 2)]
        return [x0, *(x for x, _ in points), x1], [y0, *(y + offset for _, y in points), y1]

    groups: dict[tuple[str, str], list[Edge]] = {}
    for edge in model.data_edges:
        groups.setdefault((edge[0].split(".", 1)[0], edge[1].split(".", 1)[0]), []).append(edge)
    for (producer, consumer), edges in groups.items():
        for k, edge in enumerate(edges):
            model.edge_paths[edge] = path(producer, consumer, (k - (len(edges) - 1) / 2) * _FAN)
    model.ordering_paths = [path(a, b, 0.0) for a, b in model.ordering_edges]


def fit_labels(model: GraphModel, width: float | None = None) -> float:
    """Fit the labels (``model.labels``) to a figure ``width`` px wide or wider; the plot width used."""
    plot = MIN_PLOT_WIDTH if width is None else max(float(width) - 2 * _MARGIN, 2 * NODE_SIZE)
    pitch = plot / model.layers
    centres = {s: ((x + 0.5) * pitch, -y) for s, (x, y) in model.pos.items()}
    marks = [((x + 0.5) * pitch, -y) for x, y in (midpoint(p) for p in model.edge_paths.values())]
    names = {s: f"{s} (external)" if s in model.external else s for s in model.steps}
    model.labels = label_fit.fit(names, centres, plot, model.height, pitch - NODE_SIZE / 2, marks)
    return plot


def midpoint(path: tuple[list[float], list[float]]) -> tuple[float, float]:
    """Where an edge's marker sits: the middle point of its line."""
    xs, ys = path
    return xs[len(xs) // 2], ys[len(ys) // 2]


# --------------------------------------------------------------------------------------------------
# What the traces hold
# --------------------------------------------------------------------------------------------------


def _fmt_count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def node_label(label: Label, info: dict[str, Any]) -> str:
    """The text beside a node: its fitted name, and its duration once known (nothing where no name fits)."""
    duration = info.get("duration")
    if duration is None or not label.text:
        return label.text
    return f"{label.text}<br>{format_duration(float(duration))}"


def node_hover(step: str, status: str, info: dict[str, Any], external: bool = False,
               marks: Iterable[tuple[str, str]] = ()) -> str:
    """Hover text of a node: its full name, status, metrics (duration, peak memory, rows in/out), marks."""
    import html

    lines = [f"<b>{html.escape(step)}</b>", f"status: {html.escape(status)}"
             + (" (external: its outputs are folders you provide)" if external else "")]
    if info.get("duration") is not None:
        lines.append(f"duration: {format_duration(float(info['duration']))}")
    if info.get("peak_rss") is not None:
        lines.append(f"peak memory: {format_bytes(float(info['peak_rss']))}")
    rows = [f"{label}: {_fmt_count(info[key])}" for key, label in (("rows_in", "rows in"), ("rows_out", "rows out"))
            if info.get(key) is not None]
    if rows:
        lines.append(" · ".join(rows))
    lines += [f"{kind}: {html.escape(why)}" if why else kind for kind, why in marks]
    return "<br>".join(lines)


def edge_hover(edge: Edge, state: str) -> str:
    import html

    return f"<b>{html.escape(edge[0])} → {html.escape(edge[1])}</b><br>checks: {html.escape(state)}"


def edge_xy(model: GraphModel, edges: Iterable[Edge]) -> tuple[list[float | None], list[float | None]]:
    """Line coordinates of some data edges, one polyline each, separated by gaps."""
    return _polylines([model.edge_paths[e] for e in edges])


def _polylines(paths: list[tuple[list[float], list[float]]]) -> tuple[list[float | None], list[float | None]]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ex, ey in paths:
        xs += [*ex, None]
        ys += [*ey, None]
    return (xs, ys) if xs else ([None], [None])  # an empty trace keeps its legend entry


def mark_reasons(marks: Marks, step: str) -> list[tuple[str, str]]:
    """(kind, why) of each mark on ``step``."""
    return [(kind, marks[kind][step]) for kind in (SUSPECT, CHANGED) if step in marks.get(kind, {})]


def normal_marks(suspects: Mapping[str, str] | Iterable[str] = (),
                 changed: Mapping[str, str] | Iterable[str] = ()) -> Marks:
    """Marks as kind -> step -> why, from steps or from step -> why mappings."""
    def as_map(steps: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
        if isinstance(steps, str):
            steps = [steps]
        return {str(k): str(v or "") for k, v in steps.items()} if isinstance(steps, Mapping) else dict.fromkeys(
            map(str, steps), "")

    return {SUSPECT: as_map(suspects), CHANGED: as_map(changed)}


def mark_trace_update(model: GraphModel, marked: Mapping[str, str]) -> dict[str, Any]:
    """The points of one ring trace for the steps in ``marked``."""
    steps = [s for s in model.steps if s in marked]
    return dict(x=[model.pos[s][0] for s in steps] or [None], y=[model.pos[s][1] for s in steps] or [None],
                showlegend=bool(steps))


def arrow_points(model: GraphModel) -> tuple[list[float], list[float]]:
    """Two points per edge (data edges, then ordering ones): its last bend, then its end; the marker on
    the end is an arrowhead that plotly turns along the segment from the bend."""
    xs: list[float] = []
    ys: list[float] = []
    for ex, ey in [model.edge_paths[e] for e in model.data_edges] + model.ordering_paths:
        xs += ex[-2:]
        ys += ey[-2:]
    return xs, ys


def arrow_codes(model: GraphModel, edge_states: Mapping[Edge, str]) -> list[int]:
    """The colour code of each arrowhead point (see ``arrow_points``)."""
    codes = [EDGE_CODE[edge_states[e]] for e in model.data_edges for _ in (0, 1)]
    return codes + [ORDERING_CODE] * (2 * len(model.ordering_edges))


def _edge_traces(model: GraphModel, edge_states: Mapping[Edge, str]) -> list[dict[str, Any]]:
    oxs, oys = _polylines(model.ordering_paths)
    data: list[dict[str, Any]] = [dict(
        type="scatter", x=oxs, y=oys, mode="lines", hoverinfo="skip",
        line=dict(color=ORDERING_EDGE_COLOR, width=1.5, dash="dash"), name="ordering only")]
    for state in EdgeState.ALL:
        xs, ys = edge_xy(model, [e for e in model.data_edges if edge_states[e] == state])
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", hoverinfo="skip", name=state,
                         line=dict(color=EDGE_COLORS[state], width=2)))
    ax, ay = arrow_points(model)
    n = len(ax) // 2
    data.append(dict(
        type="scatter", x=ax or [None], y=ay or [None], mode="markers", hoverinfo="skip", showlegend=False,
        name="arrows", marker=dict(symbol="arrow", angleref="previous", size=[0, 11] * n or [0],
                                   standoff=[0, NODE_SIZE / 2 + 1] * n or [0], line=dict(width=0),
                                   color=arrow_codes(model, edge_states) or [0], **ARROW_SCALE)))
    mids = [midpoint(model.edge_paths[e]) for e in model.data_edges]
    data.append(dict(
        type="scatter", uid=EDGE_MARK_UID, x=[m[0] for m in mids] or [None], y=[m[1] for m in mids] or [None],
        mode="markers", showlegend=False, name="edge checks",
        marker=dict(symbol="diamond", size=EDGE_MARK_SIZE, color=[EDGE_CODE[edge_states[e]] for e in model.data_edges],
                    **_discrete_scale([EDGE_COLORS[s] for s in EdgeState.ALL]),
                    line=dict(width=[1] * len(mids), color="#333333")),
        hovertext=[edge_hover(e, edge_states[e]) for e in model.data_edges],
        hovertemplate="%{hovertext}<extra></extra>"))
    return data


def figure_spec(model: GraphModel, statuses: Mapping[str, str], edge_states: Mapping[Edge, str],
                info: Mapping[str, dict[str, Any]], marks: Marks | None = None,
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The traces and layout of the graph in a given state: the one source of every figure of a plan."""
    marks = marks or normal_marks()
    data = _edge_traces(model, edge_states)
    data.append(dict(
        type="scatter", uid=NODE_UID, x=[model.pos[s][0] for s in model.steps],
        y=[model.pos[s][1] for s in model.steps], mode="markers+text", showlegend=False, name="steps",
        text=[node_label(model.labels[s], info[s]) for s in model.steps],
        textposition=[model.labels[s].position for s in model.steps], textfont=dict(size=FONT_SIZE, shadow="auto"),
        customdata=list(model.steps),
        marker=dict(size=NODE_SIZE, color=[STATUS_CODE[statuses[s]] for s in model.steps],
                    **_discrete_scale([STATUS_COLORS[s] for s in StepStatus.ALL]),
                    line=dict(width=[1] * len(model.steps), color="#333333")),
        hovertext=[node_hover(s, statuses[s], info[s], s in model.external, mark_reasons(marks, s))
                   for s in model.steps],
        hovertemplate="%{hovertext}<extra></extra>"))
    for kind in (CHANGED, SUSPECT):
        style = MARK_STYLE[kind]
        data.append(dict(type="scatter", mode="markers", name=kind, hoverinfo="skip", legend="legend2",
                         legendrank=2000,
                         marker=dict(symbol=style["symbol"], size=style["size"], color=style["color"],
                                     line=dict(width=style["line"]["width"], color=style["color"])),
                         **mark_trace_update(model, marks.get(kind, {}))))
    for status in StepStatus.ALL:
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=status, legend="legend2",
                         marker=dict(size=11, color=STATUS_COLORS[status])))
    return data, _layout(model)


def _legend_rows(names: list[str], title: str) -> int:
    """Rows a horizontal legend takes at ``MIN_PLOT_WIDTH``: each entry is its symbol and its name."""
    rows, used = 1, label_fit.text_width(title, _LEGEND_FONT) + 10
    for name in names:
        entry = 40 + label_fit.text_width(name, _LEGEND_FONT)
        if used + entry > MIN_PLOT_WIDTH:
            rows, used = rows + 1, 0.0
        used += entry
    return rows


#: The two legends, each horizontal under the title: edge states, then step statuses and marks.
_LEGENDS = (("legend", "edges", ["ordering only", *EdgeState.ALL]),
            ("legend2", "steps", [*StepStatus.ALL, CHANGED, SUSPECT]))


def _layout(model: GraphModel) -> dict[str, Any]:
    tops = [_TITLE_HEIGHT]
    for _, title, names in _LEGENDS:
        tops.append(tops[-1] + _LEGEND_ROW * _legend_rows(names, title))
    top = tops[-1] + 4
    height = int(round(model.height + top + _MARGIN))
    legends = {key: dict(orientation="h", x=0, xanchor="left", y=1 - at / height, yanchor="top", yref="container",
                         title=dict(text=title), font=dict(size=_LEGEND_FONT), itemclick=False,
                         itemdoubleclick=False)
               for (key, title, _), at in zip(_LEGENDS, tops, strict=False)}
    return dict(
        title=dict(text=model.name, x=0, xref="paper", y=1, yref="container", yanchor="top",
                   pad=dict(t=6), font=dict(size=14)),
        autosize=True, height=height,
        margin=dict(l=_MARGIN, r=_MARGIN, t=top, b=_MARGIN, autoexpand=False), font=dict(family=FONT_FAMILY),
        plot_bgcolor="white", hovermode="closest", dragmode="pan",
        xaxis=dict(visible=False, range=[-0.5, model.layers - 0.5]),
        yaxis=dict(visible=False, range=[-model.height, 0]),
        uirevision=model.name, **legends)
