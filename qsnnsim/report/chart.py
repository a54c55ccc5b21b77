"""Charts on an SVG canvas: axes laid out from their labels, legends, colour bars, figures.

The plotting layer between :mod:`qsnnsim.report.svg` (the document) and
:mod:`qsnnsim.report.plots` (the report's figures):

- :func:`nice_ticks` (steps of 1, 2, 2.5, 5 x 10^k) and :func:`tick_labels`;
- :class:`Axes`, a plot area of a given size in pixels with its limits and decorations
  (title, tick labels, axis labels, grid, :class:`Legend`, :class:`ColourBar`), whose
  margins are computed from the lengths of its labels, so nothing overlaps whatever the
  names; its drawing methods (bars, stacked bars, steps, spans, whiskers, heat maps with
  cell labels) take data coordinates;
- :class:`Figure`, a grid of axes (plot areas of a column line up) with a title and an
  optional shared colour bar, which sizes the canvas and places everything.

Two steps, because a figure's size depends on its labels: build the axes with every label,
``Figure(...).render()`` sizes and places them (drawing the decorations), then draw the data
through the axes. Crowded ticks are thinned rather than overlapped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsnnsim.report.svg import (
    LINE_HEIGHT,
    TICK_PX,
    Canvas,
    ColourMap,
    hex_rgb,
    text_colour_on,
    text_height,
    text_width,
)

FRAME_COLOUR = "#444444"
GRID_COLOUR = "#e3e3e3"
LABEL_PX = 12.0             # axis labels
TITLE_PX = 13.5             # figure titles (an axes' title is a point smaller)
_GAP = 6.0                  # between a plot area and its tick labels, tick labels and axis label, ...
_TICK_LEN = 4.0

# --------------------------------------------------------------------------- ticks


def nice_ticks(low: float, high: float, max_ticks: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 x 10^k) inside [low, high], at most ``max_ticks``."""
    if not high > low:
        return [low]
    decade = 10.0 ** math.floor(math.log10((high - low) / max(max_ticks - 1, 1)))

    def inside(step: float) -> list[float]:
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        return [0.0 if k == 0 else k * step for k in range(first, last + 1)]

    # The smallest round step that leaves at most max_ticks values inside the range.
    return next(values for m in (1, 2, 2.5, 5, 10, 20) if len(values := inside(m * decade)) <= max_ticks)


def tick_labels(values: list[float]) -> list[str]:
    """Labels with one number of decimals, enough to tell the ticks apart (1,000 separators)."""
    if len(values) < 2:
        return [f"{v:,.6g}" for v in values]
    step = min(abs(b - a) for a, b in zip(values, values[1:])) or 1.0
    decimals = 0
    while decimals < 7 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    if decimals == 7:   # tiny steps: significant digits read better than a row of zeros
        return [f"{v:.3g}" for v in values]
    return [f"{v:,.{decimals}f}" for v in values]


def _fitting_ticks(low: float, high: float, length_px: float, size_px: float, horizontal: bool):
    """Auto ticks along an axis of ``length_px``: as many as fit without their labels touching."""
    for n in range(8, 1, -1):
        values = nice_ticks(low, high, n)
        labels = tick_labels(values)
        need = (max(text_width(s, size_px) for s in labels) + 12 if horizontal
                else size_px * 2.0) * len(values)
        if need <= length_px or n == 2:
            break
    return list(zip(values, labels))


# --------------------------------------------------------------------------- legends and colour bars


@dataclass
class Legend:
    """Keys for the colours of a plot. ``entries`` are ``(label, colour, kind)`` with kind
    ``box`` (a filled swatch) or ``line``; ``where`` is ``right`` (a column beside the plot),
    ``top`` (a row above it, right-aligned) or ``inside`` (upper right corner, on a white box)."""

    entries: list
    title: str = ""
    where: str = "right"
    size_px: float = TICK_PX - 1

    def _row_px(self) -> float:
        return self.size_px * 1.55

    def size(self) -> tuple[float, float]:
        swatch = self.size_px * 1.6
        if self.where == "top":
            width = sum(swatch + 6 + text_width(lab, self.size_px) + 16 for lab, _, _ in self.entries)
            return width, self._row_px()
        width = max([swatch + 6 + text_width(lab, self.size_px) for lab, _, _ in self.entries]
                    + [text_width(self.title, self.size_px + 1)])
        height = len(self.entries) * self._row_px() + (text_height(self.title, self.size_px + 1) if self.title else 0)
        return width + (12 if self.where == "inside" else 0), height + (8 if self.where == "inside" else 0)

    def draw(self, canvas: Canvas, x: float, y: float) -> None:
        """Draw with the top-left corner at (x, y)."""
        size, row = self.size_px, self._row_px()
        swatch = size * 1.6
        if self.where == "inside":
            w, h = self.size()
            canvas.rect(x, y, w, h, "#ffffff", stroke="#cccccc", stroke_px=0.6, layer="over", opacity=0.85)
            x, y = x + 6, y + 4
        if self.title:
            canvas.text(x, y, self.title, size + 1, valign="top", layer="over")
            y += text_height(self.title, size + 1)
        for label, colour, kind in self.entries:
            cy = y + row / 2
            if kind == "line":
                canvas.line(x, cy, x + swatch, cy, colour, 2.0, layer="over")
            else:
                canvas.rect(x, cy - size * 0.45, swatch, size * 0.9, colour, stroke="#000000", stroke_px=0.4,
                            layer="over")
            canvas.text(x + swatch + 6, cy, label, size, layer="over")
            if self.where == "top":
                x += swatch + 6 + text_width(label, size) + 16
            else:
                y += row


@dataclass
class ColourBar:
    """The key of a colour map from ``low`` to ``high``: a bar with ticks and a label, to the
    ``right`` of its plot(s) or at the ``bottom``. ``ticks`` are ``(value, label)``; None picks
    round values (labelled by ``formatter`` when given). Crowded ticks are thinned."""

    cmap: ColourMap
    low: float
    high: float
    label: str = ""
    ticks: list | None = None
    where: str = "right"
    formatter: object = None
    size_px: float = TICK_PX - 1
    thickness_px: float = 14.0

    def tick_list(self, length_px: float) -> list:
        if self.ticks is None:
            ticks = _fitting_ticks(self.low, self.high, length_px, self.size_px, self.where == "bottom")
            if self.formatter is not None:
                ticks = [(v, self.formatter(v)) for v, _ in ticks]
        else:
            ticks = list(self.ticks)
        spacing = (max((text_width(s, self.size_px) for _, s in ticks), default=0) + 10
                   if self.where == "bottom" else self.size_px * 1.3)
        step = max(1, math.ceil(spacing * len(ticks) / max(length_px, 1.0)))
        return ticks[::step]

    def extent(self, length_px: float) -> float:
        """Space it takes across its bar (px), given the bar's length."""
        ticks = self.tick_list(length_px)
        if self.where == "bottom":
            return (self.thickness_px + _TICK_LEN + 2 + self.size_px * LINE_HEIGHT
                    + (_GAP + text_height(self.label, self.size_px + 1) if self.label else 0))
        return (self.thickness_px + _TICK_LEN + 3 + max((text_width(s, self.size_px) for _, s in ticks), default=0)
                + (_GAP + text_height(self.label, self.size_px + 1) if self.label else 0))

    def draw(self, canvas: Canvas, x: float, y: float, length_px: float) -> None:
        """Draw with the bar's top-left corner at (x, y); ``length_px`` along the bar."""
        n = 64
        t = self.thickness_px
        span = (self.high - self.low) or 1.0
        for k in range(n):   # 64 bands, low at the bottom (right bar) or at the left (bottom bar)
            band = ((x + length_px * k / n, y, length_px / n, t) if self.where == "bottom"
                    else (x, y + length_px * (n - 1 - k) / n, t, length_px / n))
            canvas.rects([band], self.cmap((k + 0.5) / n), crisp=True)
        canvas.rect(x, y, *((length_px, t) if self.where == "bottom" else (t, length_px)), "none",
                    stroke=FRAME_COLOUR, stroke_px=0.6, layer="over")
        size = self.size_px
        widest = 0.0
        for value, label in self.tick_list(length_px):
            f = (value - self.low) / span
            if self.where == "bottom":
                px = x + f * length_px
                canvas.line(px, y + t, px, y + t + _TICK_LEN, FRAME_COLOUR, 0.8, layer="over")
                canvas.text(px, y + t + _TICK_LEN + 2, label, size, anchor="middle", valign="top", layer="over")
            else:
                py = y + (1 - f) * length_px
                canvas.line(x + t, py, x + t + _TICK_LEN, py, FRAME_COLOUR, 0.8, layer="over")
                canvas.text(x + t + _TICK_LEN + 3, py, label, size, layer="over")
                widest = max(widest, text_width(label, size))
        if not self.label:
            return
        if self.where == "bottom":
            canvas.text(x + length_px / 2, y + t + _TICK_LEN + 2 + size * LINE_HEIGHT + _GAP, self.label,
                        size + 1, anchor="middle", valign="top", layer="over")
        else:
            lx = x + t + _TICK_LEN + 3 + widest + _GAP + text_height(self.label, size + 1) / 2
            canvas.text(lx, y + length_px / 2, self.label, size + 1, anchor="middle", rotate=-90, layer="over")


# --------------------------------------------------------------------------- axes


class Axes:
    """A plot area of ``width`` x ``height`` px showing ``xlim`` x ``ylim`` (``invert_y``: the
    first y value at the top, as rows of a matrix), with its decorations.

    ``xticks``/``yticks``: ``None`` for round values that fit, or ``(value, label)`` pairs
    (crowded ones are thinned), ``[]`` for none. ``xtick_rotation`` turns the x labels
    (degrees anticlockwise; anchored at their end). ``grid`` is ``""``, ``"x"``, ``"y"``.
    """

    def __init__(self, width: float, height: float, xlim: tuple, ylim: tuple, *, title: str = "",
                 xlabel: str = "", ylabel: str = "", xticks: list | None = None, yticks: list | None = None,
                 xtick_rotation: float = 0.0, tick_px: float = TICK_PX, invert_y: bool = False, grid: str = "",
                 legend: Legend | None = None, colourbar: ColourBar | None = None, title_px: float = TITLE_PX - 1,
                 title_align: str = "middle"):
        self.width, self.height = float(width), float(height)
        self.xlim = (float(xlim[0]), float(xlim[1]) if xlim[1] != xlim[0] else float(xlim[0]) + 1.0)
        self.ylim = (float(ylim[0]), float(ylim[1]) if ylim[1] != ylim[0] else float(ylim[0]) + 1.0)
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.tick_px, self.title_px, self.title_align = tick_px, title_px, title_align
        self.invert_y, self.grid = invert_y, grid
        self.legend, self.colourbar = legend, colourbar
        self.xtick_rotation = xtick_rotation
        self.xticks = _thin(self._auto(xticks, self.xlim, self.width, True), self.width,
                            self.tick_px * 1.3 if xtick_rotation else None, self.tick_px)
        self.yticks = _thin(self._auto(yticks, self.ylim, self.height, False), self.height, self.tick_px * 1.25,
                            self.tick_px)
        self.canvas: Canvas | None = None
        self.x0 = self.y0 = 0.0

    def _auto(self, ticks, lim, length, horizontal):
        if ticks is not None:
            return [(float(v), str(s)) for v, s in ticks if min(lim) - 1e-9 <= v <= max(lim) + 1e-9]
        return _fitting_ticks(min(lim), max(lim), length, self.tick_px, horizontal)

    # ---- coordinates
    def px(self, x: float) -> float:
        return self.x0 + (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * self.width

    def py(self, y: float) -> float:
        f = (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return self.y0 + (f if self.invert_y else 1 - f) * self.height

    # ---- layout
    def _xtick_extent(self) -> tuple[float, float, float]:
        """(height below the plot, overhang left, overhang right) of the x tick labels."""
        if not self.xticks:
            return 0.0, 0.0, 0.0
        size = self.tick_px
        down, left, right = 0.0, 0.0, 0.0
        angle = math.radians(self.xtick_rotation)
        for value, label in self.xticks:
            w = text_width(label, size)
            pos = (value - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * self.width
            if angle:
                down = max(down, w * math.sin(angle) + size * math.cos(angle))
                left = max(left, w * math.cos(angle) - pos)
            else:
                down = max(down, text_height(label, size))
                left, right = max(left, w / 2 - pos), max(right, pos + w / 2 - self.width)
        return down + _TICK_LEN + 3, left, right

    def margins(self) -> tuple[float, float, float, float]:
        """Space (left, top, right, bottom) in px that the decorations take around the plot area."""
        ytick_w = max((text_width(s, self.tick_px) for _, s in self.yticks), default=0.0)
        left = (ytick_w + _TICK_LEN + 3 if self.yticks else 0.0) + (
            text_height(self.ylabel, LABEL_PX) + _GAP if self.ylabel else 0.0)
        down, over_left, over_right = self._xtick_extent()
        bottom = down + (text_height(self.xlabel, LABEL_PX) + _GAP if self.xlabel else 0.0)
        top = text_height(self.title, self.title_px) + _GAP if self.title else 0.0
        right = over_right
        if self.colourbar is not None:
            if self.colourbar.where == "bottom":
                bottom += 2 * _GAP + self.colourbar.extent(self.width * 0.8)
            else:
                right = max(right, 0.0) + 2 * _GAP + self.colourbar.extent(self.height)
        if self.legend is not None:
            lw, lh = self.legend.size()
            if self.legend.where == "right":
                right += 2 * _GAP + lw
                bottom = max(bottom, lh - self.height)
            elif self.legend.where == "top":
                top += lh + 2
        # A title wider than its plot overhangs it (centred: on both sides; else to the right).
        excess = max(0.0, text_width(self.title, self.title_px) - self.width)
        if self.title_align == "middle":
            left, right = max(left, excess / 2), max(right, excess / 2)
        elif self.title_align == "start":
            right = max(right, excess)
        return max(left, over_left) + 2, top + 2, right + 4, bottom + 2

    # ---- drawing
    def place(self, canvas: Canvas, x0: float, y0: float) -> None:
        """Put the plot area's top-left corner at (x0, y0) and draw the decorations."""
        self.canvas, self.x0, self.y0 = canvas, x0, y0
        c, w, h, size = canvas, self.width, self.height, self.tick_px
        for value, _ in self.xticks if self.grid == "x" else ():
            c.line(self.px(value), y0, self.px(value), y0 + h, GRID_COLOUR, 0.8, layer="under")
        for value, _ in self.yticks if self.grid == "y" else ():
            c.line(x0, self.py(value), x0 + w, self.py(value), GRID_COLOUR, 0.8, layer="under")
        c.rect(x0, y0, w, h, "none", stroke=FRAME_COLOUR, stroke_px=0.8, layer="over")
        for value, label in self.xticks:
            x = self.px(value)
            c.line(x, y0 + h, x, y0 + h + _TICK_LEN, FRAME_COLOUR, 0.8, layer="over")
            if self.xtick_rotation:
                c.text(x, y0 + h + _TICK_LEN + 3 + size * 0.4, label, size, anchor="end", valign="middle",
                       rotate=-self.xtick_rotation, layer="over")
            else:
                c.text(x, y0 + h + _TICK_LEN + 3, label, size, anchor="middle", valign="top", layer="over")
        ytick_w = 0.0
        for value, label in self.yticks:
            y = self.py(value)
            c.line(x0 - _TICK_LEN, y, x0, y, FRAME_COLOUR, 0.8, layer="over")
            c.text(x0 - _TICK_LEN - 3, y, label, size, anchor="end", layer="over")
            ytick_w = max(ytick_w, text_width(label, size))
        if self.ylabel:
            lx = x0 - (ytick_w + _TICK_LEN + 3 if self.yticks else 0) - _GAP - text_height(self.ylabel, LABEL_PX) / 2
            c.text(lx, y0 + h / 2, self.ylabel, LABEL_PX, anchor="middle", rotate=-90, layer="over")
        down = self._xtick_extent()[0]
        if self.xlabel:
            c.text(x0 + w / 2, y0 + h + down + _GAP, self.xlabel, LABEL_PX, anchor="middle", valign="top",
                   layer="over")
        top = y0 - _GAP
        if self.legend is not None and self.legend.where == "top":
            lw, lh = self.legend.size()
            self.legend.draw(c, max(x0, x0 + w - lw), y0 - lh - 2)
            top -= lh + 2
        if self.title:
            tx = {"start": x0, "middle": x0 + w / 2, "end": x0 + w}[self.title_align]
            c.text(tx, top, self.title, self.title_px, anchor=self.title_align, valign="bottom", layer="over")
        right = x0 + w + max(self._xtick_extent()[2], 0.0) + 2 * _GAP
        if self.colourbar is not None:
            if self.colourbar.where == "bottom":
                length = w * 0.8
                by = y0 + h + down + (text_height(self.xlabel, LABEL_PX) + _GAP if self.xlabel else 0) + 2 * _GAP
                self.colourbar.draw(c, x0 + (w - length) / 2, by, length)
            else:
                self.colourbar.draw(c, right, y0, h)
                right += self.colourbar.extent(h) + 2 * _GAP
        if self.legend is not None and self.legend.where == "right":
            lw, lh = self.legend.size()
            self.legend.draw(c, right, y0 + max(0.0, (h - lh) / 2))
        elif self.legend is not None and self.legend.where == "inside":
            lw, _ = self.legend.size()
            self.legend.draw(c, x0 + w - lw - 6, y0 + 6)

    def hbars(self, ys, widths, height: float, colours, lefts=None, edge: str = "#000000",
              edge_px: float = 0.5) -> None:
        """Horizontal bars centred on ``ys``, from ``lefts`` (default 0) over ``widths`` (data units)."""
        lefts = [0.0] * len(ys) if lefts is None else lefts
        colours = [colours] * len(ys) if isinstance(colours, str) else colours
        for y, w, left, colour in zip(ys, widths, lefts, colours):
            if w > 0:
                x1, x2 = self.px(left), self.px(left + w)
                y1, y2 = self.py(y - height / 2), self.py(y + height / 2)
                self.canvas.rect(x1, min(y1, y2), x2 - x1, abs(y2 - y1), colour, stroke=edge, stroke_px=edge_px)

    def vbars(self, xs, heights, width: float, colours, edge: str = "#000000", edge_px: float = 0.5) -> None:
        """Vertical bars centred on ``xs``, from 0 up to ``heights`` (data units)."""
        colours = [colours] * len(xs) if isinstance(colours, str) else colours
        for x, h, colour in zip(xs, heights, colours):
            if h > 0:
                x1, x2 = self.px(x - width / 2), self.px(x + width / 2)
                self.canvas.rect(x1, self.py(h), x2 - x1, self.py(0) - self.py(h), colour, stroke=edge,
                                 stroke_px=edge_px)

    def steps(self, edges, counts, fill: str, edge: str = "#000000") -> None:
        """A filled histogram: ``counts[i]`` between ``edges[i]`` and ``edges[i + 1]``, outlined as stairs."""
        points = [(self.px(edges[0]), self.py(0))]
        for (a, b), n in zip(zip(edges, edges[1:]), counts):
            points += [(self.px(a), self.py(n)), (self.px(b), self.py(n))]
        points.append((self.px(edges[-1]), self.py(0)))
        self.canvas.polygon(points, fill, stroke=edge, stroke_px=0.6)
        inner = [(self.px(b), self.py(0), self.px(b), self.py(min(n, m)))
                 for b, n, m in zip(edges[1:-1], counts, counts[1:])]
        self.canvas.lines(inner, edge, 0.6)

    def spans(self, spans, colour: str) -> None:
        """Boxes ``(x0, x1, y0, y1)`` in data units, clipped to the limits, drawn as one path."""
        lo, hi = min(self.xlim), max(self.xlim)
        boxes = []
        for a, b, c, d in spans:
            a, b = max(a, lo), min(b, hi)
            if b > a:
                x1, x2, y1, y2 = self.px(a), self.px(b), self.py(c), self.py(d)
                boxes.append((x1, min(y1, y2), x2 - x1, abs(y2 - y1)))
        self.canvas.rects(boxes, colour)

    def whiskers(self, ys, lows, highs, cap: float) -> None:
        """Horizontal error bars from ``lows`` to ``highs`` at ``ys``, with caps ``cap`` px tall."""
        segments = []
        for y, a, b in zip(ys, lows, highs):
            py, x1, x2 = self.py(y), self.px(a), self.px(b)
            segments += [(x1, py, x2, py), (x1, py - cap / 2, x1, py + cap / 2), (x2, py - cap / 2, x2, py + cap / 2)]
        self.canvas.lines(segments, "#000000", 0.9)

    def vline(self, x: float, colour: str, width_px: float = 1.0, dash: str | None = None) -> None:
        self.canvas.line(self.px(x), self.y0, self.px(x), self.y0 + self.height, colour, width_px, dash)

    def text(self, x: float, y: float, text: str, size_px: float = TICK_PX - 1, dx: float = 0.0, dy: float = 0.0,
             **kwargs) -> None:
        """Text at data point (x, y), moved by (dx, dy) px."""
        self.canvas.text(self.px(x) + dx, self.py(y) + dy, text, size_px, **kwargs)

    def heatmap(self, values: np.ndarray, cmap: ColourMap, low: float, high: float, bad: str = "#dddddd",
                origin: tuple[int, int] = (0, 0), labels=None, label_px: float = TICK_PX - 1.5) -> None:
        """Cells of a (rows, cols) array, cell (r, c) centred on (origin col + c, origin row + r);
        NaN cells are ``bad``. ``labels(v)`` (when given) is printed in each finite cell, black or
        white for contrast. Maps of more than 1,024 cells are drawn as one raster image."""
        values = np.asarray(values, dtype=float)
        rows, cols = values.shape
        r0, c0 = origin
        span = (high - low) or 1.0
        x1, x2 = self.px(c0 - 0.5), self.px(c0 + cols - 0.5)
        y1, y2 = self.py(r0 - 0.5), self.py(r0 + rows - 0.5)
        cell_w, cell_h = (x2 - x1) / cols, (y2 - y1) / rows
        finite = np.isfinite(values)
        level = np.clip(np.round((np.where(finite, values, low) - low) / span * 255), 0, 255).astype(np.int64)
        if rows * cols > 1024:
            rgb = cmap.lut()[level]
            rgb[~finite] = hex_rgb(bad)
            self.canvas.image(x1, min(y1, y2), x2 - x1, abs(y2 - y1), rgb if y2 > y1 else rgb[::-1])
            return
        by_colour: dict[str, list] = {}
        for r, c in np.ndindex(rows, cols):
            colour = cmap(level[r, c] / 255) if finite[r, c] else bad
            by_colour.setdefault(colour, []).append((x1 + c * cell_w, y1 + r * cell_h, cell_w, cell_h))
        for colour in sorted(by_colour):
            self.canvas.rects([(x, min(y, y + h), w, abs(h)) for x, y, w, h in by_colour[colour]], colour,
                              crisp=True)
        if labels is not None:
            for (r, c), v in np.ndenumerate(values):
                if finite[r, c]:
                    self.canvas.text(x1 + (c + 0.5) * cell_w, y1 + (r + 0.5) * cell_h, labels(v), label_px,
                                     anchor="middle", colour=text_colour_on(cmap(level[r, c] / 255)))


def _thin(ticks: list, length_px: float, spacing_px: float | None, size_px: float) -> list:
    """Every k-th tick, so that labels at least ``spacing_px`` apart (or, when None, their
    widths plus a gap) fit along ``length_px``."""
    if len(ticks) < 2:
        return ticks
    need = spacing_px if spacing_px is not None else max(text_width(s, size_px) for _, s in ticks) + 8
    step = max(1, math.ceil(need * len(ticks) / max(length_px, 1.0)))
    return ticks[::step]


# --------------------------------------------------------------------------- figure


class Figure:
    """A grid of :class:`Axes` (``rows`` of them; plot areas of a column line up), a
    ``title`` above and an optional ``colourbar`` shared by all, to their right."""

    PAD_PX = 10.0

    def __init__(self, rows: list[list[Axes]], title: str = "", colourbar: ColourBar | None = None,
                 spacing_px: float = 18.0):
        self.rows, self.title, self.colourbar, self.spacing = rows, title, colourbar, spacing_px

    def render(self) -> Canvas:
        """Size the canvas, place every axes (drawing its decorations) and return the canvas;
        the caller then draws the data through the axes."""
        n_cols = max(len(r) for r in self.rows)
        margins = [[ax.margins() for ax in row] for row in self.rows]
        col_left = [max(m[c][0] for m in margins if c < len(m)) for c in range(n_cols)]
        col_right = [max(m[c][2] for m in margins if c < len(m)) for c in range(n_cols)]
        col_width = [max(row[c].width for row in self.rows if c < len(row)) for c in range(n_cols)]
        row_top = [max(m[1] for m in ms) for ms in margins]
        row_bottom = [max(m[3] for m in ms) for ms in margins]
        row_height = [max(ax.height for ax in row) for row in self.rows]
        title_h = text_height(self.title, TITLE_PX) + _GAP if self.title else 0.0
        width = 2 * self.PAD_PX + sum(col_left) + sum(col_width) + sum(col_right) + self.spacing * (n_cols - 1)
        height = (2 * self.PAD_PX + title_h + sum(row_top) + sum(row_height) + sum(row_bottom)
                  + self.spacing * (len(self.rows) - 1))
        plots_right = width - self.PAD_PX
        plots_top = self.PAD_PX + title_h + row_top[0]
        plots_bottom = height - self.PAD_PX - row_bottom[-1]
        if self.colourbar is not None:
            width += 2 * _GAP + self.colourbar.extent(plots_bottom - plots_top)
        # A title wider than the plots widens the figure; the plots are then centred under it.
        shift = max(0.0, text_width(self.title, TITLE_PX) + 2 * self.PAD_PX - width) / 2
        width, plots_right = width + 2 * shift, plots_right + shift
        canvas = Canvas(width, height, self.title or next((ax.title for row in self.rows for ax in row), ""))
        if self.title:
            canvas.text(width / 2, self.PAD_PX, self.title, TITLE_PX, anchor="middle", valign="top", layer="over")
        y = self.PAD_PX + title_h
        for r, row in enumerate(self.rows):
            x = self.PAD_PX + shift
            for c, ax in enumerate(row):
                ax.place(canvas, x + col_left[c], y + row_top[r])
                x += col_left[c] + col_width[c] + col_right[c] + self.spacing
            y += row_top[r] + row_height[r] + row_bottom[r] + self.spacing
        if self.colourbar is not None:
            self.colourbar.draw(canvas, plots_right + 2 * _GAP, plots_top, plots_bottom - plots_top)
        return canvas
