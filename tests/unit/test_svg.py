"""qsnnsim.report.svg and .chart, the figures' plotting layer: well-formed, escaped, deterministic
SVG; round ticks; margins computed from the labels."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from qsnnsim.report.chart import Axes, ColourBar, Figure, Legend, nice_ticks, tick_labels
from qsnnsim.report.svg import PLASMA, VIRIDIS, Canvas, escape, png_bytes, text_colour_on, text_width

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>&\"'"


def _texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(SVG + "text")]


def _every_kind_of_figure(name: str) -> str:
    """One figure using every drawing call, with ``name`` in each kind of text."""
    bars = Axes(300, 120, (0, 10), (-0.6, 1.4), title=f"bars of {name}", xlabel=f"x of {name} (us)",
                ylabel="y", yticks=[(0, name), (1, "two\nlines")], grid="x",
                legend=Legend([(name, "#4e79a7", "box"), ("mean", "#e15759", "line")], title=name))
    heat = Axes(120, 120, (-0.5, 3.5), (-0.5, 3.5), invert_y=True, title="map",
                colourbar=ColourBar(VIRIDIS, 0, 50, f"% of {name}", ticks=[(0, name), (50, "50")]))
    canvas = Figure([[bars, heat]], title=f"figure of {name}").render()
    bars.hbars([0, 1], [4.0, 7.5], 0.6, ["#4e79a7", "#f28e2b"])
    bars.whiskers([0], [3.0], [5.0], cap=6)
    bars.spans([(1, 2, -0.2, 0.2), (8, 12, 0.8, 1.2)], "#9aa7b8")
    bars.vline(5, "#000000", dash="4 2")
    bars.text(4.0, 0, name, dx=4)
    heat.heatmap(np.arange(16.0).reshape(4, 4) * 3, VIRIDIS, 0, 50, labels=lambda v: f"{v:.0f}%")
    canvas.arrow(10, 10, 60, 40, "#e15759", 2.0)
    canvas.hatch(20, 20, 50, 30, "#555555")
    return canvas.to_svg()


def test_a_figure_is_well_formed_xml_with_a_fixed_size():
    root = ET.fromstring(_every_kind_of_figure("layer 1"))
    assert root.tag == SVG + "svg"
    width, height = int(root.get("width")), int(root.get("height"))
    assert root.get("viewBox") == f"0 0 {width} {height}" and width > 420 and height > 120
    assert root.find(SVG + "title").text == "figure of layer 1"


def test_hostile_text_is_escaped_and_shown_as_typed():
    svg = _every_kind_of_figure(HOSTILE)
    assert "<script" not in svg
    texts = _texts(svg)   # parses: the name broke neither the markup nor an attribute
    assert sum(HOSTILE in t for t in texts) >= 6   # title, tick, axis label, legend, colour bar, bar label
    assert escape(HOSTILE) == "&lt;script&gt;&amp;&quot;&#39;"


def test_characters_xml_cannot_carry_become_replacement_characters():
    canvas = Canvas(100, 50)
    canvas.text(10, 10, "bell\x07 nul\x00 surrogate\ud800 ok")
    assert _texts(canvas.to_svg()) == ["bell\ufffd nul\ufffd surrogate\ufffd ok"]


def test_the_same_calls_give_the_same_bytes():
    assert _every_kind_of_figure("a") == _every_kind_of_figure("a")
    assert _every_kind_of_figure("a") != _every_kind_of_figure("b")


def test_coordinates_are_rounded_and_never_negative_zero():
    canvas = Canvas(10, 10)
    canvas.line(-0.001, 1 / 3, 2.0, 2.5, "#000000")
    assert '<line x1="0" y1="0.33" x2="2" y2="2.5"' in canvas.to_svg()
    with pytest.raises(ValueError, match="not a finite number"):
        canvas.rect(float("nan"), 0, 1, 1, "#000000")


@pytest.mark.parametrize("low,high,most,expected", [
    (0, 1, 6, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0, 100, 6, [0, 20, 40, 60, 80, 100]),
    (0, 13.13, 8, [0, 2, 4, 6, 8, 10, 12]),
    (0, 1, 5, [0, 0.25, 0.5, 0.75, 1.0]),
    (-3, 7, 6, [-2, 0, 2, 4, 6]),
    (86.2, 114.7, 6, [90, 95, 100, 105, 110]),
    (5, 5, 6, [5]),
])
def test_ticks_are_round_numbers_inside_the_range(low, high, most, expected):
    ticks = nice_ticks(low, high, most)
    assert ticks == pytest.approx(expected)
    assert len(ticks) <= most


def test_tick_labels_share_their_decimals():
    assert tick_labels([0.0, 0.25, 0.5]) == ["0.00", "0.25", "0.50"]
    assert tick_labels([0, 10000, 20000]) == ["0", "10,000", "20,000"]
    assert tick_labels([0.0, 0.5, 1.0]) == ["0.0", "0.5", "1.0"]


def test_auto_ticks_do_not_crowd_a_short_axis():
    wide = Axes(800, 100, (0, 24_357_934), (0, 1))
    narrow = Axes(120, 100, (0, 24_357_934), (0, 1))
    assert len(narrow.xticks) < len(wide.xticks)
    gaps = np.diff([narrow.px(v) for v, _ in narrow.xticks])
    assert all(g > text_width(label, 11) for g, (_, label) in zip(gaps, narrow.xticks))


def test_margins_grow_with_the_labels():
    short = Axes(200, 100, (0, 1), (0, 1), yticks=[(0.5, "a")])
    long = Axes(200, 100, (0, 1), (0, 1), yticks=[(0.5, "a rather long population name")])
    assert long.margins()[0] > short.margins()[0] + 100
    rotated = Axes(200, 100, (0, 3), (0, 1), xticks=[(k, "a long label") for k in range(4)], xtick_rotation=60)
    assert rotated.margins()[3] > text_width("a long label", 11) * 0.8


def test_every_label_lands_inside_the_canvas():
    labels = [f"population number {k}" for k in range(6)]
    ax = Axes(200, 150, (-0.5, 5.5), (0, 1), title="a title much wider than its narrow plot area, centred",
              xticks=list(enumerate(labels)), xtick_rotation=60, ylabel="rate (%)",
              yticks=[(0.5, "a long tick label on the left")],
              legend=Legend([(lab, "#000000", "box") for lab in labels]))
    canvas = Figure([[ax]]).render()
    root = ET.fromstring(canvas.to_svg())
    for t in root.iter(SVG + "text"):
        x, y = float(t.get("x")), float(t.get("y"))
        if t.get("transform") is None and t.get("text-anchor") is None:    # start-anchored, unrotated
            assert 0 <= x and x + text_width("".join(t.itertext()), float(t.get("font-size"))) <= canvas.width
        assert 0 <= y <= canvas.height


def test_colour_maps_match_their_tables_and_choose_readable_text():
    assert VIRIDIS(0.0) == "#440154" and VIRIDIS(1.0) == "#fde725" and VIRIDIS(0.5) == "#21918c"
    assert VIRIDIS(float("nan")) == VIRIDIS(-1.0) == "#440154" and VIRIDIS(7.0) == "#fde725"
    assert PLASMA.reversed()(0.0) == PLASMA(1.0)
    assert PLASMA.truncated(0.5)(1.0) == PLASMA(0.5)
    assert text_colour_on(VIRIDIS(0.0)) == "#ffffff" and text_colour_on(VIRIDIS(1.0)) == "#000000"


def test_large_heat_maps_are_one_embedded_image():
    small = Axes(100, 100, (-0.5, 9.5), (-0.5, 9.5), invert_y=True)
    large = Axes(100, 100, (-0.5, 63.5), (-0.5, 63.5), invert_y=True)
    canvas = Figure([[small, large]]).render()
    small.heatmap(np.ones((10, 10)), VIRIDIS, 0, 2)
    large.heatmap(np.full((64, 64), np.nan), VIRIDIS, 0, 2)
    root = ET.fromstring(canvas.to_svg())
    images = list(root.iter(SVG + "image"))
    assert len(images) == 1
    href = images[0].get("{http://www.w3.org/1999/xlink}href")
    assert href.startswith("data:image/png;base64,")


def test_png_bytes_decode_to_the_pixels():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    data = png_bytes(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (3, 2)
    length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41:41 + length])
    assert raw == b"\x00" + rgb[0].tobytes() + b"\x00" + rgb[1].tobytes()


def test_text_width_follows_the_longest_line_and_the_font_size():
    assert text_width("mmm", 10) > text_width("iii", 10) * 2
    assert text_width("ab\nabcdef", 10) == text_width("abcdef", 10)
    assert text_width("abc", 20) == pytest.approx(2 * text_width("abc", 10))
