"""SVG documents written directly: the drawing layer under :mod:`qsnnsim.report.chart` and
:mod:`qsnnsim.report.plots`.

Why not matplotlib: the report's nine figures cost about 2.1 CPU seconds there plus 0.4 s of
import, more than the simulation they describe; written as SVG text they cost a few tens of
milliseconds, stay sharp at any zoom, and keep matplotlib off the run path.

What it owns:

- :func:`escape`: every string that reaches a file goes through it (names from a workload
  or arch are hostile input); characters XML cannot carry become U+FFFD;
- :func:`text_width`: an estimate of rendered width from DejaVu Sans' advance widths, the
  widest of the fonts the figures ask for, so margins computed from it are never too small;
- :class:`ColourMap`, with small embedded tables of matplotlib's ``viridis``, ``plasma`` and
  ``YlOrRd`` (17 evenly spaced stops, linear in between: within 5/255 of the originals) and
  the ``tab10`` categories;
- :class:`Canvas`, the document: rectangles (many of one colour as one path), lines,
  polygons, arrows, hatching, text (multi-line, rotated) and raster images (an embedded PNG,
  :func:`png_bytes`, for heat maps too large to draw cell by cell).

Units are pixels (1 px = 1 user unit of the ``viewBox``); every document has a fixed
``width``/``height`` equal to its ``viewBox``. Output is deterministic: coordinates are
rounded to 0.01 px and there are no ids, timestamps or random numbers, so the same calls
give the same bytes.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np

FONT_FAMILY = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
TEXT_COLOUR = "#222222"
TICK_PX = 11.0              # the default font size: tick labels
LINE_HEIGHT = 1.25          # line spacing of multi-line text, in font sizes

# --------------------------------------------------------------------------- text

# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF):
# replaced by U+FFFD so the file always parses.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text) -> str:
    """``text`` as XML character data or attribute value (``& < > " '`` as entities)."""
    text = _NOT_XML.sub("\ufffd", str(text))
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


# Advance widths of DejaVu Sans in ems, by character class (digits and most lower case are
# 0.61-0.64 em; "m", "w", "%" near 1 em; "i", "l", "." near 0.3 em).
_WIDTHS = {**{c: 0.30 for c in "ijl|!'.,:;` "}, **{c: 0.42 for c in "frtI()[]{}/\\\"-"},
           **{c: 0.96 for c in "mwMW%@"}}


def text_width(text: str, size_px: float) -> float:
    """Estimated width in px of ``text`` (its longest line) at ``size_px``."""
    def line_width(line: str) -> float:
        total = 0.0
        for ch in line:
            if ch in _WIDTHS:
                total += _WIDTHS[ch]
            elif ord(ch) >= 0x2E80:   # CJK and other full-width scripts
                total += 1.0
            else:
                total += 0.74 if ch.isupper() else 0.63
        return total * size_px

    return max((line_width(line) for line in str(text).split("\n")), default=0.0)


def text_height(text: str, size_px: float) -> float:
    """Height in px of ``text``'s lines at ``size_px``."""
    return (str(text).count("\n") + 1) * size_px * LINE_HEIGHT if text else 0.0


def _num(value: float) -> str:
    """A coordinate as the file writes it: at most two decimals, no trailing zeros, no ``-0``."""
    if not math.isfinite(value):
        raise ValueError(f"figure coordinate {value!r} is not a finite number")
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# --------------------------------------------------------------------------- colours


@dataclass(frozen=True)
class ColourMap:
    """A colour map: ``stops`` are ``#rrggbb`` colours at evenly spaced positions of [0, 1];
    a value in between is interpolated linearly (sRGB), a value outside is clipped."""

    name: str
    stops: tuple[str, ...]

    def rgb(self, t: float) -> tuple[int, int, int]:
        t = 0.0 if not t > 0 else min(float(t), 1.0)   # NaN -> the low end
        pos = t * (len(self.stops) - 1)
        i = min(int(pos), len(self.stops) - 2)
        f = pos - i
        a, b = hex_rgb(self.stops[i]), hex_rgb(self.stops[i + 1])
        return tuple(round(x + (y - x) * f) for x, y in zip(a, b))

    def __call__(self, t: float) -> str:
        r, g, b = self.rgb(t)
        return f"#{r:02x}{g:02x}{b:02x}"

    def reversed(self) -> ColourMap:
        return ColourMap(self.name + "_r", self.stops[::-1])

    def truncated(self, high: float) -> ColourMap:
        """The part of the map from 0 to ``high``, spread over [0, 1] again."""
        n = len(self.stops)
        return ColourMap(f"{self.name}_to_{high:g}", tuple(self(high * k / (n - 1)) for k in range(n)))

    def lut(self, n: int = 256) -> np.ndarray:
        """``n`` colours from 0 to 1 as an (n, 3) uint8 array (for raster heat maps)."""
        return np.array([self.rgb(k / (n - 1)) for k in range(n)], dtype=np.uint8)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (r, g, b), each 0..255."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _stops(table: str) -> tuple[str, ...]:
    return tuple("#" + h for h in table.split())


VIRIDIS = ColourMap("viridis", _stops(
    "440154 48186a 472d7b 424086 3b528b 33638d 2c728e 26828e 21918c 1fa088 28ae80 3fbc73 5ec962 84d44b addc30 "
    "d8e219 fde725"))
PLASMA = ColourMap("plasma", _stops(
    "0d0887 310597 4c02a1 6600a7 7e03a8 9511a1 aa2395 bc3587 cc4778 da5a6a e66c5c f0804e f89540 fdac33 fdc527 "
    "f8df25 f0f921"))
YLORRD = ColourMap("YlOrRd", _stops(
    "ffffcc fff6b6 ffeda0 fee38b fed976 fec561 feb24c fd9f44 fd8c3c fc6c33 fc4d2a ef3323 e2191c cf0c21 bb0026 "
    "9d0026 800026"))
#: matplotlib's ten categorical colours.
TAB10 = _stops("1f77b4 ff7f0e 2ca02c d62728 9467bd 8c564b e377c2 7f7f7f bcbd22 17becf")


def text_colour_on(colour: str) -> str:
    """Black on a light background colour, white on a dark one."""
    r, g, b = hex_rgb(colour)
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 127.5 else "#ffffff"


# --------------------------------------------------------------------------- canvas


class Canvas:
    """An SVG document of ``width`` x ``height`` px. Elements go into three layers, written in
    order: ``under`` (grid lines), ``data``, ``over`` (frames, ticks, labels).

    Text always goes through :func:`escape`; colours and dash patterns are the plotting code's
    own constants (never names from a file) and are written as given."""

    def __init__(self, width: float, height: float, title: str = ""):
        self.width = int(math.ceil(width))
        self.height = int(math.ceil(height))
        self.title = title
        self._layers: dict[str, list[str]] = {"under": [], "data": [], "over": []}

    def add(self, element: str, layer: str = "data") -> None:
        self._layers[layer].append(element)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str | None = None,
             stroke_px: float = 1.0, rx: float = 0.0, layer: str = "data", opacity: float | None = None) -> None:
        extra = f' rx="{_num(rx)}"' if rx else ""
        extra += f' stroke="{stroke}" stroke-width="{_num(stroke_px)}"' if stroke else ""
        extra += f' fill-opacity="{_num(opacity)}"' if opacity is not None else ""
        self.add(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(max(w, 0.0))}" height="{_num(max(h, 0.0))}" '
                 f'fill="{fill}"{extra}/>', layer)

    def rects(self, boxes, fill: str, stroke: str | None = None, stroke_px: float = 0.5, crisp: bool = False) -> None:
        """Many rectangles ``(x, y, w, h)`` of one colour as one path (a timeline has thousands).
        ``crisp`` turns anti-aliasing off, so cells that touch show no hairline seam between them."""
        d = "".join(f"M{_num(x)} {_num(y)}h{_num(w)}v{_num(h)}h{_num(-w)}z" for x, y, w, h in boxes)
        if d:
            extra = f' stroke="{stroke}" stroke-width="{_num(stroke_px)}"' if stroke else ""
            extra += ' shape-rendering="crispEdges"' if crisp else ""
            self.add(f'<path d="{d}" fill="{fill}"{extra}/>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, width_px: float = 1.0,
             dash: str | None = None, layer: str = "data") -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" stroke="{stroke}" '
                 f'stroke-width="{_num(width_px)}"{extra}/>', layer)

    def lines(self, segments, stroke: str, width_px: float = 1.0, layer: str = "data") -> None:
        """Many segments ``(x1, y1, x2, y2)`` of one colour and width as one path."""
        d = "".join(f"M{_num(a)} {_num(b)}L{_num(c)} {_num(e)}" for a, b, c, e in segments)
        if d:
            self.add(f'<path d="{d}" fill="none" stroke="{stroke}" stroke-width="{_num(width_px)}"/>', layer)

    def polygon(self, points, fill: str, stroke: str | None = None, stroke_px: float = 1.0) -> None:
        extra = f' stroke="{stroke}" stroke-width="{_num(stroke_px)}" stroke-linejoin="round"' if stroke else ""
        pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        self.add(f'<polygon points="{pts}" fill="{fill}"{extra}/>')

    def arrow(self, x1: float, y1: float, x2: float, y2: float, colour: str, width_px: float) -> None:
        """A line from (x1, y1) with a filled head ending at (x2, y2), sized for the line's width."""
        length = math.hypot(x2 - x1, y2 - y1)
        if length == 0:
            return
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        head = min(length * 0.6, 6.0 + 1.6 * width_px)
        bx, by = x2 - ux * head, y2 - uy * head
        half = head * 0.45
        self.line(x1, y1, bx + ux * 0.5, by + uy * 0.5, colour, width_px)
        self.polygon([(x2, y2), (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)], colour)

    def hatch(self, x: float, y: float, w: float, h: float, colour: str, spacing_px: float = 7.0,
              width_px: float = 0.8) -> None:
        """Diagonal lines (``//``) filling the rectangle, cut at its edges (no clip path needed)."""
        segments = []
        c = spacing_px / 2
        while c < w + h:
            # the line x' - y' = c - h in rectangle coordinates, from bottom-left to top-right
            x_start, y_start = max(0.0, c - h), min(h, c)
            x_end, y_end = min(w, c), max(0.0, c - w)
            segments.append((x + x_start, y + y_start, x + x_end, y + y_end))
            c += spacing_px
        self.lines(segments, colour, width_px)

    def text(self, x: float, y: float, text: str, size_px: float = TICK_PX, anchor: str = "start",
             valign: str = "middle", colour: str = TEXT_COLOUR, rotate: float = 0.0, bold: bool = False,
             layer: str = "data") -> None:
        """``text`` (lines split at ``\\n``) anchored at (x, y): ``anchor`` start|middle|end
        horizontally, ``valign`` top|middle|bottom vertically, rotated by ``rotate`` degrees
        (clockwise) about the anchor. The baseline is placed by arithmetic, not by
        ``dominant-baseline``, which not every SVG renderer honours."""
        lines = str(text).split("\n")
        step = size_px * LINE_HEIGHT
        block = step * (len(lines) - 1)
        # 0.36 em: half the height of DejaVu's capitals, from the baseline to the middle.
        first = {"top": y + size_px * 0.8, "middle": y + size_px * 0.36 - block / 2,
                 "bottom": y - size_px * 0.22 - block}[valign]
        attrs = f'x="{_num(x)}" y="{_num(first)}" font-size="{_num(size_px)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if colour != TEXT_COLOUR:
            attrs += f' fill="{colour}"'
        if bold:
            attrs += ' font-weight="bold"'
        if rotate:
            attrs += f' transform="rotate({_num(rotate)} {_num(x)} {_num(y)})"'
        if len(lines) == 1:
            body = escape(lines[0])
        else:
            body = "".join(f'<tspan x="{_num(x)}" dy="{_num(0 if k == 0 else step)}">{escape(line)}</tspan>'
                           for k, line in enumerate(lines))
        self.add(f"<text {attrs}>{body}</text>", layer)

    def image(self, x: float, y: float, w: float, h: float, rgb: np.ndarray) -> None:
        """An (rows, cols, 3) uint8 image stretched over the rectangle, drawn with sharp pixels."""
        data = base64.b64encode(png_bytes(rgb)).decode("ascii")
        self.add(f'<image x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" '
                 f'preserveAspectRatio="none" image-rendering="optimizeSpeed" style="image-rendering:pixelated" '
                 f'xlink:href="data:image/png;base64,{data}"/>')

    def to_svg(self) -> str:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                f'width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
                f'font-family="{FONT_FAMILY}" font-size="{_num(TICK_PX)}" fill="{TEXT_COLOUR}">\n')
        title = f"<title>{escape(self.title)}</title>\n" if self.title else ""
        background = f'<rect width="{self.width}" height="{self.height}" fill="#ffffff"/>\n'
        body = "".join(e + "\n" for layer in ("under", "data", "over") for e in self._layers[layer])
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + head + title + background + body + "</svg>\n"

    def save(self, path: str) -> str:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(self.to_svg())
        return path


def png_bytes(rgb: np.ndarray) -> bytes:
    """A (rows, cols, 3) uint8 array as a PNG file (8-bit RGB, no filter, zlib level 6)."""
    rows, cols = rgb.shape[:2]
    raw = np.zeros((rows, 1 + 3 * cols), dtype=np.uint8)   # each row: filter byte 0, then pixels
    raw[:, 1:] = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(rows, 3 * cols)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", cols, rows, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))
