"""Where the steps go: a layered (Sugiyama) layout, left to right, that keeps edge crossings few.

The ordering within a layer and the coordinates come from grandalf's ``SugiyamaLayout`` (median
ordering sweeps, Brandes-Köpf placement, dummy vertices that route long edges around steps).
grandalf is pure Python and small; igraph's ``layout_sugiyama`` would do the same from a compiled
dependency. It is imported only when a graph is laid out.

The layers are the plan's generations (x = generation); within a layer, positions are in pixels of
the figure's height. A plan whose long edges would need more dummy vertices than ``MAX_DUMMIES``
(a 2,000-step chain with skip edges needs a million) is ordered by barycentre sweeps instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Past this many dummy vertices grandalf takes seconds: the barycentre ordering is used instead.
MAX_DUMMIES = 20_000
COMPONENT_GAP = 40.0  # px between the drawings of unconnected parts of a pipeline


@dataclass
class Placement:
    """Layer and vertical position (px, downwards) of each step, and the bends of long links."""

    layer: dict[str, int]
    y: dict[str, float]
    bends: dict[tuple[str, str], list[tuple[int, float]]]  # (producer, consumer) -> (layer, y) between


def place(layers: Sequence[Sequence[str]], links: Sequence[tuple[str, str]], pitch: float,
          dummy_pitch: float) -> Placement:
    """Lay out ``layers`` (lists of steps, in generation order) joined by ``links`` (producer, consumer).

    ``pitch`` is the vertical room one step needs (its marker and labels), ``dummy_pitch`` that of
    an edge passing through a layer.
    """
    layer_of = {s: i for i, layer in enumerate(layers) for s in layer}
    links = list(dict.fromkeys((a, b) for a, b in links if a in layer_of and b in layer_of))
    dummies = sum(max(layer_of[b] - layer_of[a] - 1, 0) for a, b in links)
    if dummies > MAX_DUMMIES:
        return _barycentre(layers, links, layer_of, pitch)
    return _grandalf(layers, links, layer_of, pitch, dummy_pitch)


def _grandalf(layers: Sequence[Sequence[str]], links: list[tuple[str, str]], layer_of: dict[str, int],
              pitch: float, dummy_pitch: float) -> Placement:
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout, VertexViewer

    vertices = {s: Vertex(s) for layer in layers for s in layer}
    for v in vertices.values():
        v.view = VertexViewer(w=pitch, h=10)  # grandalf's x is our y: w is the room within a layer
    edges = {(a, b): Edge(vertices[a], vertices[b]) for a, b in links}
    graph = Graph(list(vertices.values()), list(edges.values()))
    y: dict[str, float] = {}
    bends: dict[tuple[str, str], list[tuple[int, float]]] = {}
    top = 0.0
    for component in sorted(graph.C, key=lambda c: -c.order()):
        sug = SugiyamaLayout(component)
        sug.xspace, sug.dw = 0.0, dummy_pitch  # dummies: room for an edge, not a step
        sug.init_all(roots=sorted((v for v in component.sV if not v.e_in()), key=lambda v: layer_of[v.data]))
        sug.draw(3)
        seen = [v for v in component.sV] + [d for ctrl in sug.ctrls.values() for d in ctrl.values()]
        low = min(v.view.xy[0] - v.view.w / 2 for v in seen)
        high = max(v.view.xy[0] + v.view.w / 2 for v in seen)
        for v in component.sV:
            y[v.data] = top + v.view.xy[0] - low
        for e, ctrl in sug.ctrls.items():
            a, b = e.v[0].data, e.v[1].data
            bends[(a, b)] = [(rank, top + ctrl[rank].view.xy[0] - low)
                             for rank in range(layer_of[a] + 1, layer_of[b])]
        top += high - low + COMPONENT_GAP
    return Placement(layer_of, y, bends)


def _barycentre(layers: Sequence[Sequence[str]], links: list[tuple[str, str]], layer_of: dict[str, int],
                pitch: float, sweeps: int = 4) -> Placement:
    """Each layer sorted by the mean position of its neighbours, down and up a few times."""
    preds: dict[str, list[str]] = {s: [] for s in layer_of}
    succs: dict[str, list[str]] = {s: [] for s in layer_of}
    for a, b in links:
        preds[b].append(a)
        succs[a].append(b)
    order = [list(layer) for layer in layers]
    y: dict[str, float] = {}

    def spread(layer: list[str]) -> None:
        for i, s in enumerate(layer):
            y[s] = i * pitch

    for layer in order:
        spread(layer)
    for _ in range(sweeps):
        for sweep, near in ((range(1, len(order)), preds), (range(len(order) - 2, -1, -1), succs)):
            for i in sweep:
                order[i].sort(key=lambda s, near=near: _mean([y[n] for n in near[s]], y[s]))
                spread(order[i])
    height = max((len(layer) for layer in order), default=1) * pitch
    for layer in order:  # each layer centred in the drawing
        shift = (height - len(layer) * pitch) / 2 + pitch / 2
        for s in layer:
            y[s] += shift
    return Placement(layer_of, y, {})


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default
