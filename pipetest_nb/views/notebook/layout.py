"""How a plan is drawn: a layered left-to-right layout, the palette and the plotly traces.

Built once per plan and shared by the live ``DagGraph`` (``graph.py``) and the static figure of
``display.py``, so both views look the same. The layout is pure Python; plotly is never imported here.

Trace order (the indexes below are fixed): ordering-only edges, one line trace per edge state, the
edge midpoint markers (coloured by state; they make edges clickable), the steps, then one
legend-only trace per step status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.text import format_bytes, format_duration

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
                       max_layer=max((len(g) for g in layers), default=1),
                       external=frozenset(s for s in steps if getattr(getattr(plan, "step_configs", {}).get(s), "external", False)))
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


def node_label(step: str, info: dict[str, Any], external: bool = False) -> str:
    """The text under a node: its name (``external`` for a step that does not run), and its duration once
    known."""
    name = f"{step} (external)" if external else step
    duration = info.get("duration")
    return name if duration is None else f"{name}<br>{format_duration(float(duration))}"


def node_hover(step: str, status: str, info: dict[str, Any], external: bool = False) -> str:
    """Hover text of a node: status and metrics (duration, peak memory, rows in/out)."""
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
        text=[node_label(s, info[s], s in model.external) for s in model.steps], textposition="bottom center",
        customdata=list(model.steps),
        marker=dict(size=22, color=[STATUS_CODE[statuses[s]] for s in model.steps],
                    **_discrete_scale([STATUS_COLORS[s] for s in StepStatus.ALL]),
                    line=dict(width=[1] * len(model.steps), color="#333333")),
        hovertext=[node_hover(s, statuses[s], info[s], s in model.external) for s in model.steps],
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
