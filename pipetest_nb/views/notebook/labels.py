"""Step labels that never overlap: widths from font metrics, then each label placed where it fits.

Each label goes below its step, else above, in full, else wrapped on two lines at ``_``/``-``/
camelCase, else shortened with ``…`` (the full name is always in the hover text), else left out.
A label must not touch another label, another step's marker, or the edges of the plot.

Positions are pixels of a plot ``MIN_PLOT_WIDTH`` wide. The figure keeps the same data ranges at
any width, so a wider plot only moves the steps further apart: what does not overlap at this
width does not overlap wider. Heights are exact (the figure's height is set from them).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

#: Advance widths of Arial (and the metric-compatible Liberation Sans and Helvetica) per 1000 em,
#: measured in chromium; the figure asks for these fonts, so the estimate holds where they exist.
_NARROW = {"'": 191, "|": 260, "i": 222, "j": 222, "l": 222, " ": 278, "!": 278, ",": 278, ".": 278,
           "/": 278, ":": 278, ";": 278, "I": 278, "[": 278, "\\": 278, "]": 278, "f": 278, "t": 278,
           "(": 333, ")": 333, "-": 333, "`": 333, "r": 333, "{": 334, "}": 334, '"': 355, "*": 389}
_WIDE = {"J": 500, "c": 500, "k": 500, "s": 500, "v": 500, "x": 500, "y": 500, "z": 500, "+": 584,
         "<": 584, "=": 584, ">": 584, "~": 584, "F": 611, "T": 611, "Z": 611, "&": 667, "A": 667,
         "B": 667, "E": 667, "K": 667, "P": 667, "S": 667, "V": 667, "X": 667, "Y": 667, "C": 722,
         "D": 722, "H": 722, "N": 722, "R": 722, "U": 722, "w": 722, "G": 778, "O": 778, "Q": 778,
         "M": 833, "m": 833, "%": 889, "W": 944, "@": 1015, "^": 469, "…": 1000}
_DEFAULT_WIDTH = 556  # digits, most lower-case letters, "_"; wider than average for other scripts
FONT_FAMILY = "Arial, 'Liberation Sans', Helvetica, sans-serif"
FONT_SIZE = 11
LINE_HEIGHT = 1.3 * FONT_SIZE  # plotly's line spacing
SAFETY = 1.08  # fonts render a little wider than their advance widths at small sizes
MIN_PLOT_WIDTH = 464.0  # the debugger keeps its graph at least 480 px wide
NODE_SIZE = 22.0  # marker diameter, px
EDGE_MARK_SIZE = 9.0  # the diamond on an edge, px
_TEXT_GAP = 3.0  # plotly's gap between a marker and its text
#: px above the top step and below the bottom one for a label of two lines and a duration
LABEL_ROOM = NODE_SIZE / 2 + _TEXT_GAP + 3 * LINE_HEIGHT + 2
_MIN_CHARS = 3  # a shorter prefix than this says nothing: the label is left out
_DURATION_SAMPLE = "99.9 min"  # the widest duration line a label may get


@functools.lru_cache(maxsize=4096)
def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated width in px of one line of ``text``."""
    units = sum(_NARROW.get(c) or _WIDE.get(c) or _DEFAULT_WIDTH for c in text)
    return units * size / 1000 * SAFETY


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def hits(self, other: Box, gap: float = 2.0) -> bool:
        return not (self.right + gap <= other.left or other.right + gap <= self.left
                    or self.bottom + gap <= other.top or other.bottom + gap <= self.top)


@dataclass(frozen=True)
class Label:
    """What a step's label shows (HTML-escaped lines joined by ``<br>``) and where (plotly textposition)."""

    text: str
    position: str = "bottom center"
    lines: int = 1


def candidates(name: str, room: float) -> list[list[str]]:
    """The name on one line and wrapped on two and three lines (at ``_``, ``-``, ``.``, spaces or
    camelCase); the wrapped forms first when one line is wider than ``room``. Shortened forms come
    after, see ``fit``."""
    parts = [p for p in re.split(r"(?<=[_\-. ])|(?<=[a-z0-9])(?=[A-Z])", name) if p]
    forms = [[name]]
    for count in (2, 3):
        if len(parts) >= count:
            forms.append(min(_splits(parts, count), key=lambda lines: max(map(text_width, lines))))
    if text_width(name) > room:
        forms = forms[1:] + forms[:1]
    return forms


def _splits(parts: list[str], count: int) -> Iterator[list[str]]:
    """Every way to join ``parts`` into ``count`` consecutive lines."""
    if count == 1:
        yield ["".join(parts)]
        return
    for cut in range(1, len(parts) - count + 2):
        for rest in _splits(parts[cut:], count - 1):
            yield ["".join(parts[:cut]), *rest]


def _box(x: float, y: float, lines: list[str], below: bool) -> Box:
    width = max(text_width(_DURATION_SAMPLE), *map(text_width, lines))
    height = (len(lines) + 1) * LINE_HEIGHT  # room for the duration line added once it is known
    edge = NODE_SIZE / 2 + _TEXT_GAP
    top = y + edge if below else y - edge - height
    return Box(x - width / 2, top, x + width / 2, top + height)


class _Grid:
    """Boxes bucketed by cell, so a check looks at its neighbourhood, not at every label."""

    def __init__(self, cell: float = 64.0):
        self.cell = cell
        self.cells: dict[tuple[int, int], list[Box]] = {}

    def _keys(self, box: Box) -> Iterator[tuple[int, int]]:
        for i in range(int(box.left // self.cell), int(box.right // self.cell) + 1):
            for j in range(int(box.top // self.cell), int(box.bottom // self.cell) + 1):
                yield i, j

    def add(self, box: Box) -> None:
        for key in self._keys(box):
            self.cells.setdefault(key, []).append(box)

    def free(self, box: Box) -> bool:
        return not any(box.hits(b) for key in self._keys(box) for b in self.cells.get(key, ()))


def fit(names: dict[str, str], centres: dict[str, tuple[float, float]], width: float,
        height: float, room: float, marks: Sequence[tuple[float, float]] = ()) -> dict[str, Label]:
    """A label for each step (``names``: the text to show, ``centres``: its marker's centre in px)
    such that no two overlap, none covers a step's marker and all stay inside ``width`` x ``height``;
    ``room`` is the width a label may take without crowding the next layer's. A label keeps off the
    edges' markers (``marks``) unless that would cost it part of its name."""
    core, strict = _Grid(), _Grid()  # labels and steps; those and the edges' markers
    half = NODE_SIZE / 2 + 1  # the marker with its selection outline
    for x, y in centres.values():
        for grid in (core, strict):
            grid.add(Box(x - half, y - half, x + half, y + half))
    for x, y in marks:
        strict.add(Box(x - EDGE_MARK_SIZE / 2, y - EDGE_MARK_SIZE / 2, x + EDGE_MARK_SIZE / 2, y + EDGE_MARK_SIZE / 2))

    def fitter(grid: _Grid) -> Callable[[Box], bool]:
        return lambda box: (box.left >= 0 and box.right <= width and box.top >= 0 and box.bottom <= height
                            and grid.free(box))

    labels: dict[str, Label] = {}
    if room < NODE_SIZE / 2:  # the steps of a layer touch those of the next: no label could be read
        return {step: Label("", "bottom center", 0) for step in centres}
    for step in sorted(centres, key=lambda s: (centres[s][0], centres[s][1])):
        x, y = centres[step]
        forms = candidates(names[step], room)
        chosen = (_whole(forms, x, y, fitter(strict)) or _whole(forms, x, y, fitter(core))
                  or _shortened(names[step], x, y, fitter(core)))
        if chosen is None:
            labels[step] = Label("", "bottom center", 0)
            continue
        lines, below, box = chosen
        core.add(box)
        strict.add(box)
        labels[step] = Label("<br>".join(html.escape(line) for line in lines),
                             "bottom center" if below else "top center", len(lines))
    return labels


Fit = tuple[list[str], bool, Box]  # the lines, below the marker (else above), the box


def _whole(forms: list[list[str]], x: float, y: float, fits: Callable[[Box], bool]) -> Fit | None:
    """The first form of the whole name that fits below, else above, the marker."""
    for lines in forms:
        for below in (True, False):
            box = _box(x, y, lines, below)
            if fits(box):
                return lines, below, box
    return None


def _shortened(name: str, x: float, y: float, fits: Callable[[Box], bool]) -> Fit | None:
    """The longest prefix of the name (with "…") that fits, by bisection: a shorter one is narrower."""
    best: tuple[int, Fit] | None = None
    for below in (True, False):
        low, high = _MIN_CHARS, len(name) - 1
        while low <= high:
            mid = (low + high) // 2
            lines = [name[:mid].rstrip("_-. ") + "…"]
            box = _box(x, y, lines, below)
            if fits(box):
                if best is None or mid > best[0]:
                    best = (mid, (lines, below, box))
                low = mid + 1
            else:
                high = mid - 1
    return None if best is None else best[1]
