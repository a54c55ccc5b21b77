"""Report figures: SVG files drawn from numbers the report stage has already computed.

No computation here beyond placing what is passed in (and choosing what fits: the busiest
cores of a timeline, the active part of a large mesh): every function takes plain lists or
arrays with their units in the parameter names and writes one SVG (through
:mod:`qsnnsim.report.chart` and :mod:`qsnnsim.report.svg`), never larger than :data:`MAX_FIGURE_PX` whatever the mesh or
network. Names from the workload or arch are shortened here and escaped by the SVG layer.
"""

from __future__ import annotations

import math

import numpy as np

from qsnnsim.report.chart import Axes, ColourBar, Figure, Legend
from qsnnsim.report.svg import PLASMA, TAB10, TICK_PX, VIRIDIS, YLORRD, text_colour_on, text_width

#: The largest figure, in px (width, height), whatever the mesh or network.
MAX_FIGURE_PX = (1980, 1600)
#: One colour per energy component, fixed so every figure uses the same key.
COMPONENT_COLOURS = {
    "weight_sram": "#4e79a7", "membrane_sram": "#76b7b2", "accumulators": "#f28e2b", "synaptic_adds": "#59a14f",
    "macs": "#edc948", "neuron_updates": "#b07aa1", "noc": "#e15759", "offchip": "#9c755f", "leakage": "#bab0ac",
}
_BAR_BLUE = "#4e79a7"
_FLOAT32_GREY = "#bab0ac"
_LABEL_PX = TICK_PX - 1      # value labels beside bars


def _energy_unit(largest_uj: float) -> tuple[float, str]:
    """A display unit for energies given in uJ: (uJ per unit, unit name)."""
    if largest_uj >= 1e3:
        return 1e3, "mJ"
    if 0 < largest_uj < 1:
        return 1e-3, "nJ"
    return 1.0, "uJ"


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _room_for_labels(ends: list[float], labels: list[str], width_px: float, least: float) -> float:
    """The x limit (from 0) at which each label, written 4 px after its bar's end, stays inside
    a plot ``width_px`` wide: end / xmax * width + 4 + label width <= width."""
    xmax = least
    for end, label in zip(ends, labels):
        free = 1.0 - (text_width(label, _LABEL_PX) + 8) / width_px
        xmax = max(xmax, end * 1.05, end / max(free, 0.2))
    return xmax


def _hbar_axes(n: int, labels: list[str], xmax: float, xlabel: str, title: str, width_px: float = 560.0,
               row_px: float = 26.0, **kwargs) -> Axes:
    """Axes for ``n`` horizontal bars, the first at the top (at y = n - 1)."""
    return Axes(width_px, max(row_px * n, 40.0) + 8, (0.0, xmax), (-0.6, max(n, 1) - 0.4), title=title,
                xlabel=xlabel, yticks=[(n - 1 - i, lab) for i, lab in enumerate(labels)], grid="x", **kwargs)


def plot_components(components: list[str], labels: list[str], mean_uj: list[float], min_uj: list[float],
                    max_uj: list[float], share_percent: list[float], path: str, title: str) -> str:
    """Horizontal bars of energy per component, per inference (mean; min-max whiskers)."""
    n = len(components)
    scale, unit = _energy_unit(max(max_uj, default=0.0))
    mean = np.asarray(mean_uj, float) / scale
    # Clipped at 0: the mean of equal floats can land an ulp outside [min, max].
    lo = np.clip(mean - np.asarray(min_uj, float) / scale, 0, None)
    hi = np.clip(np.asarray(max_uj, float) / scale - mean, 0, None)
    texts = []
    for v, share in zip(mean, share_percent):
        # Shares under 0.05% keep two significant digits instead of reading "0.0%".
        share_text = f"{share:.2g}" if 0 < share < 0.05 else f"{share:.1f}"
        texts.append(f"{v:,.4g} {unit} ({share_text}%)")
    tops = [float(t) for t in mean + hi]
    ax = _hbar_axes(n, labels, _room_for_labels(tops, texts, 560.0, 1e-12), f"energy per inference ({unit})", title)
    Figure([[ax]]).render()
    y = [n - 1 - i for i in range(n)]
    ax.hbars(y, mean, 0.7, [COMPONENT_COLOURS.get(c, "#808080") for c in components])
    if (lo > 0).any() or (hi > 0).any():
        ax.whiskers(y, mean - lo, mean + hi, cap=7.0)
    for yi, top, text in zip(y, tops, texts):
        ax.text(top, yi, text, dx=4)
    return ax.canvas.save(path)


def plot_comparison(components: list[str], labels: list[str], simulator_uj: list[float], paper_uj: float,
                    path: str) -> str:
    """The simulator's energy per inference (stacked by component) beside the paper-style estimate."""
    scale, unit = _energy_unit(max(sum(simulator_uj), paper_uj))
    values = [v / scale for v in simulator_uj]
    total, paper = sum(values), paper_uj / scale
    texts = [f"{total:,.4g} {unit}", f"{paper:,.4g} {unit}"]
    legend = Legend([(lab, COMPONENT_COLOURS.get(c, "#808080"), "box") for c, lab in zip(components, labels)])
    ax = Axes(560, 150, (0.0, _room_for_labels([total, paper], texts, 560.0, 1e-12)), (-0.6, 1.6),
              title="Simulator vs the estimate SNN papers quote (45 nm, Horowitz 2014)",
              xlabel=f"energy per inference ({unit})", grid="x", legend=legend,
              yticks=[(0, "paper-style\nSOPs x E_AC + MACs x E_MAC"), (1, "simulator\n(all components)")])
    canvas = Figure([[ax]]).render()
    left = 0.0
    for comp, v in zip(components, values):
        ax.hbars([1], [v], 0.6, COMPONENT_COLOURS.get(comp, "#808080"), lefts=[left], edge_px=0.3)
        left += v
    if paper > 0:
        x1, x2, y1, y2 = ax.px(0), ax.px(paper), ax.py(0.3), ax.py(-0.3)
        canvas.rect(x1, y1, x2 - x1, y2 - y1, "#cccccc")
        canvas.hatch(x1, y1, x2 - x1, y2 - y1, "#555555")
        canvas.rect(x1, y1, x2 - x1, y2 - y1, "none", stroke="#000000", stroke_px=0.5)
    ax.text(total, 1, texts[0], dx=4)
    ax.text(paper, 0, texts[1], dx=4)
    return canvas.save(path)


def plot_layers(populations: list[str], components: list[str], labels: list[str], energy_uj: np.ndarray,
                path: str) -> str:
    """Stacked horizontal bars: dynamic energy per inference of every population, by component.

    ``energy_uj`` is (n_populations, n_components).
    """
    scale, unit = _energy_unit(float(np.asarray(energy_uj, float).sum(axis=1).max(initial=0.0)))
    energy = np.asarray(energy_uj, float).reshape(len(populations), len(components)) / scale
    n = len(populations)
    drawn = [j for j in range(len(components)) if energy[:, j].any()]
    # An all-zero energy table draws no bar to name: no legend then.
    legend = Legend([(labels[j], COMPONENT_COLOURS.get(components[j], "#808080"), "box") for j in drawn]) \
        if drawn else None
    xmax = max(float(energy.sum(axis=1).max(initial=0.0)) * 1.05, 1e-12)
    ax = _hbar_axes(n, [_short(p) for p in populations], xmax, f"dynamic energy per inference ({unit})",
                    "Energy by layer (leakage is the chip's, not a layer's)", width_px=620.0, row_px=20.0,
                    tick_px=TICK_PX - 1, legend=legend)
    canvas = Figure([[ax]]).render()
    y = [n - 1 - i for i in range(n)]
    left = np.zeros(n)
    for j in drawn:
        ax.hbars(y, energy[:, j], 0.75, COMPONENT_COLOURS.get(components[j], "#808080"), lefts=left, edge_px=0.25)
        left = left + energy[:, j]
    return canvas.save(path)


def plot_firing_rates(populations: list[str], rate_percent: list[float], path: str) -> str:
    """Bars of spikes / (neurons x T) per LIF population, in %."""
    n = len(populations)
    top = max(max(rate_percent, default=0) * 1.2, 1.0)
    ax = Axes(max(300.0, 34.0 * n + 20), 260, (-0.6, max(n, 1) - 0.4), (0.0, top),
              title="Firing rate per layer (mean over samples)", ylabel="firing rate (% of neurons x timesteps)",
              xticks=[(i, _short(p, 14)) for i, p in enumerate(populations)], xtick_rotation=60,
              tick_px=TICK_PX - 1, grid="y")
    canvas = Figure([[ax]]).render()
    ax.vbars(range(n), rate_percent, 0.8, _BAR_BLUE)
    for x, v in enumerate(rate_percent):
        ax.text(x, v, f"{v:.1f}", size_px=TICK_PX - 2, dy=-2, anchor="middle", valign="bottom")
    return canvas.save(path)


def plot_utilisation(soma_percent: np.ndarray, integrate_percent: np.ndarray, path: str) -> str:
    """Two mesh heat maps (rows x cols): soma busy and integrate busy as % of latency.

    Each map has its own colour scale (0 to a round number above its busiest core), so a soma
    busy 0.1% of the time is as visible as an integrate unit busy 40%; the title gives the peak.
    """
    rows, cols = np.shape(soma_percent)
    cell = min(48.0, 480.0 / cols, 640.0 / rows)
    panels = []
    for data, name in zip((soma_percent, integrate_percent), ("soma (fire) busy", "integrate busy")):
        data = np.asarray(data, float)
        high = _round_up(float(data.max(initial=0.0)))
        peak = int(np.argmax(data))
        ax = _mesh_axes(rows, cols, cell, f"{name} (% of latency)\npeak {_pct(data.flat[peak])} on core {peak}",
                        colourbar=ColourBar(VIRIDIS, 0.0, high, "% of latency"))
        panels.append((ax, data, high))
    canvas = Figure([[ax for ax, _, _ in panels]]).render()
    for ax, data, high in panels:
        ax.heatmap(data, VIRIDIS, 0.0, high, labels=_pct if rows * cols <= 64 else None)
    return canvas.save(path)


#: At most this many cores get a row in a timeline: the busiest ones (fire + integrate time).
MAX_TIMELINE_CORES = 32
#: Up to this many firing populations get a colour each; more are coloured by network depth.
MAX_POPULATION_COLOURS = 10
_INTEGRATE_COLOUR = "#9aa7b8"
#: tab10 with its grey replaced by black, so no fire colour looks like the grey integrate bars.
_CATEGORY_COLOURS = tuple(c if i != 7 else "#000000" for i, c in enumerate(TAB10))
#: plasma without its palest yellow, which vanishes on white.
_DEPTH_COLOURS = PLASMA.truncated(0.88)


def plot_timeline(core_labels: list[str], fires_us: list[list[tuple]], integrate_us: list[list[tuple]],
                  populations: list[str], latency_us: float, path: str, title: str,
                  pass_starts_us: tuple = ()) -> str:
    """Busy phases of the cores: soma fires (by population) and integrate spans, against time.

    ``fires_us[i]`` and ``integrate_us[i]`` are lists of ``(start_us, end_us, population index)``
    of core ``core_labels[i]``. With several passes, ``pass_starts_us`` are drawn as dashed lines.
    Only the :data:`MAX_TIMELINE_CORES` busiest cores are drawn (the title says so), in the
    order given. Fires are coloured by population when at most :data:`MAX_POPULATION_COLOURS`
    fire, otherwise by the population's place in the network (a colour bar names them).
    """
    n_given = len(core_labels)
    keep = range(n_given)
    if n_given > MAX_TIMELINE_CORES:
        busy = [sum(b - a for a, b, _ in fires_us[i]) + sum(b - a for a, b, _ in integrate_us[i])
                for i in range(n_given)]
        keep = sorted(sorted(range(n_given), key=lambda i: (-busy[i], i))[:MAX_TIMELINE_CORES])
        title = f"{title}: the {MAX_TIMELINE_CORES} busiest of {n_given} cores"
    labels = [_short(core_labels[i]) for i in keep]
    fires = [fires_us[i] for i in keep]
    integrate = [integrate_us[i] for i in keep]
    n = len(labels)
    firing = sorted({pop for spans in fires for _, _, pop in spans})
    by_depth = len(firing) > MAX_POPULATION_COLOURS
    integrate_key = ("integrate (lower bar)", _INTEGRATE_COLOUR, "box")
    if by_depth:
        depth_top = max(len(populations) - 1, 1)
        colour = {p: _DEPTH_COLOURS(p / depth_top) for p in firing}
        legend = Legend([integrate_key, ("fire (upper bar), colour = layer", _DEPTH_COLOURS(0.5), "box")],
                        where="top")
        named = range(0, len(populations), -(-len(populations) // 24))
        colourbar = ColourBar(_DEPTH_COLOURS, 0.0, float(depth_top), "fire colour: layer, in network order",
                              ticks=[(p, _short(populations[p], 18)) for p in named])
    else:
        key = {p: p if len(populations) <= MAX_POPULATION_COLOURS else k for k, p in enumerate(firing)}
        colour = {p: _CATEGORY_COLOURS[key[p] % len(_CATEGORY_COLOURS)] for p in firing}
        legend = Legend([integrate_key] + [("fire: " + _short(populations[p]), colour[p], "box") for p in firing],
                        title="upper bar: fire of")
        colourbar = None
    has_passes = len(pass_starts_us) > 1
    end_us = max(latency_us, 1e-9) * 1.01
    ax = Axes(1000, (22.0 if n <= 16 else 18.0) * max(n, 1) + (14 if has_passes else 4), (0.0, end_us),
              (-0.6, max(n, 1) - 0.4 + (0.35 if has_passes else 0)), title=title, xlabel="time (us)",
              yticks=[(n - 1 - i, lab) for i, lab in enumerate(labels)], tick_px=TICK_PX - 1, grid="x",
              legend=legend, colourbar=colourbar, title_align="start" if by_depth else "middle")
    canvas = Figure([[ax]]).render()
    # Fires can be a thousandth of the run; a minimum width keeps every one visible as a tick.
    min_width = max(latency_us, 1e-9) * 3e-3
    integrate_spans, fire_spans = [], {p: [] for p in firing}
    for i in range(n):
        y = n - 1 - i
        integrate_spans += [(a, a + max(b - a, min_width), y - 0.4, y - 0.04) for a, b, _ in integrate[i]]
        for start, end, pop in fires[i]:
            fire_spans[pop].append((start, start + max(end - start, min_width), y + 0.02, y + 0.4))
    ax.spans(integrate_spans, _INTEGRATE_COLOUR)
    for pop in firing:
        ax.spans(fire_spans[pop], colour[pop])
    if has_passes:
        for k, start in enumerate(pass_starts_us):
            ax.vline(start, "#000000", 0.8, dash="5 3")
            ax.text(start, n - 0.45, f" pass {k}", size_px=TICK_PX - 2, valign="bottom")
    return canvas.save(path)


def plot_links(mesh_rows: int, mesh_cols: int, links: list[tuple], ejection_flits: np.ndarray,
               path: str, title: str) -> str:
    """NoC load on the mesh: an arrow per directed link (width and colour = flits), cores shaded
    by the flits ejected into them. ``links`` are ``(from core, to core, flits)``.

    A mesh wider than 16 is cut to the rectangle of cores with traffic (the title says which).
    Up to 8 cores a side, each box prints the core's number and ejected flits; when cores get
    smaller than 50 px, they are a heat map and links are lines (directions side by side).
    """
    ejection = np.asarray(ejection_flits, float).reshape(mesh_rows, mesh_cols)
    r0, r1, c0, c1 = 0, mesh_rows - 1, 0, mesh_cols - 1
    if max(mesh_rows, mesh_cols) > 16:
        active = {int(i) for i in np.flatnonzero(ejection)} | {x for a, b, _ in links for x in (a, b)}
        if active:
            r_active, c_active = np.divmod(sorted(active), mesh_cols)
            r0, r1, c0, c1 = int(r_active.min()), int(r_active.max()), int(c_active.min()), int(c_active.max())
            title += (f"\nrows {r0}-{r1} and columns {c0}-{c1} of the {mesh_rows}x{mesh_cols} mesh: "
                      "the cores with traffic")
    rows, cols = r1 - r0 + 1, c1 - c0 + 1
    cell = min(100.0 if max(rows, cols) <= 8 else 70.0, 1300.0 / cols, 1100.0 / rows)
    strip = cols > 3 * rows   # a colour bar under a strip of cores, beside anything squarer
    peak = max([f for _, _, f in links] + [float(ejection.max(initial=0.0)), 1.0])
    cmap = PLASMA.reversed()
    colourbar = ColourBar(cmap, 0.0, peak, "flits per inference (link; core = ejected)",
                          where="bottom" if strip else "right", formatter=_compact)
    ax = Axes((cols + 0.2) * cell, (rows + 0.2) * cell, (c0 - 0.6, c1 + 0.6), (r0 - 0.6, r1 + 0.6), title=title,
              xlabel="mesh column", ylabel="mesh row", xticks=_mesh_ticks(c0, cols), yticks=_mesh_ticks(r0, rows),
              invert_y=True, colourbar=colourbar)
    canvas = Figure([[ax]]).render()
    segments = []
    for a, b, flits in links:
        ra, ca = divmod(a, mesh_cols)
        rb, cb = divmod(b, mesh_cols)
        dr, dc = rb - ra, cb - ca
        # Opposite directions of one link are drawn side by side, offset to the right of travel.
        off_r, off_c = 0.12 * dc, -0.12 * dr
        segments.append((ax.px(ca + 0.3 * dc + off_c), ax.py(ra + 0.3 * dr + off_r),
                         ax.px(cb - 0.3 * dc + off_c), ax.py(rb - 0.3 * dr + off_r), flits))
    if cell < 50:
        shown = ejection[r0:r1 + 1, c0:c1 + 1]
        ax.heatmap(np.where(shown > 0, shown, np.nan), cmap, 0.0, peak, bad="#f4f4f4", origin=(r0, c0))
        # Lines grouped by a 32-level quantised load: one path per colour and width.
        by_level: dict[int, list] = {}
        for *segment, flits in segments:
            by_level.setdefault(round(31 * flits / peak), []).append(segment)
        for level in sorted(by_level):
            canvas.lines(by_level[level], cmap(level / 31), 0.4 + 2.0 * level / 31)
        return canvas.save(path)
    half = 0.28 * cell
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            v = ejection[r, c]
            fill = cmap(v / peak) if v else "#f4f4f4"
            canvas.rect(ax.px(c) - half, ax.py(r) - half, 2 * half, 2 * half, fill, stroke="#000000",
                        stroke_px=0.6, rx=0.04 * cell)
            if cell >= 90:
                canvas.text(ax.px(c), ax.py(r), f"core {r * mesh_cols + c}\n{_compact(v)} in", TICK_PX - 2,
                            anchor="middle", colour=text_colour_on(fill))
    for x1, y1, x2, y2, flits in segments:
        canvas.arrow(x1, y1, x2, y2, cmap(flits / peak), 0.8 + 4.0 * flits / peak)
    return canvas.save(path)


_SRAMS = ("weight SRAM", "membrane SRAM", "accumulator SRAM")
_NO_SLICE_COLOUR = "#dddddd"
#: Up to this many passes, each pass gets a row of mesh maps; more get one core x pass map per SRAM.
MAX_MESH_PASSES = 3


def plot_sram(passes: list[tuple], path: str, mesh_shape: tuple[int, int] | None = None) -> str:
    """Heat maps of weight, membrane and accumulator SRAM used, % of each one's capacity.

    ``passes`` holds one ``(pass index, core numbers, weight %, membrane %, accumulator %)`` per
    pass. With ``mesh_shape`` (rows, cols) and at most :data:`MAX_MESH_PASSES` passes, each pass
    is a row of three maps laid out as the mesh; otherwise each SRAM is one map of core by pass.
    Cores holding no slice in a pass are grey; each map's title gives its fullest core, and the
    values are printed in the cells when there is room.
    """
    panels = []   # (axes, grid, annotate)
    if mesh_shape is not None and len(passes) <= MAX_MESH_PASSES:
        rows, cols = mesh_shape
        cell = min(44.0, 330.0 / cols, (1150.0 / len(passes) - 90.0) / rows)
        grid_rows = []
        for row, (p_index, cores, *percent) in enumerate(passes):
            grid_rows.append([])
            for k in range(3):
                grid = np.full(rows * cols, np.nan)
                grid[np.asarray(cores, int)] = percent[k]
                grid = grid.reshape(rows, cols)
                fullest = int(np.nanargmax(grid))
                ax = _mesh_axes(rows, cols, cell, f"{_SRAMS[k]}{f', pass {p_index}' if len(passes) > 1 else ''}\n"
                                f"fullest: core {fullest}, {_pct(grid.flat[fullest])}",
                                xlabel=row == len(passes) - 1, ylabel=k == 0)
                grid_rows[-1].append(ax)
                panels.append((ax, grid, rows * cols <= 64))
        title = "SRAM used per core, % of capacity" + (", per pass" if len(passes) > 1 else "")
    else:
        cores = sorted({int(c) for _, here, *_ in passes for c in here})
        row_of = {c: i for i, c in enumerate(cores)}
        n_cores, n_passes = len(cores), len(passes)
        # Wide grids (more passes than cores) are stacked, narrow ones side by side.
        stacked = n_passes > n_cores
        width_px, height_px = (1500.0, 260.0) if stacked else (480.0, 1200.0)
        cell_w, cell_h = min(60.0, width_px / n_passes), min(30.0, height_px / n_cores)
        for k in range(3):
            grid = np.full((n_cores, n_passes), np.nan)
            for j, (_, here, *percent) in enumerate(passes):
                grid[[row_of[int(c)] for c in here], j] = percent[k]
            r, c = np.unravel_index(int(np.nanargmax(grid)), grid.shape)
            ax = Axes(n_passes * cell_w, max(n_cores * cell_h, 90.0), (-0.5, n_passes - 0.5), (-0.5, n_cores - 0.5),
                      title=f"{_SRAMS[k]}\nfullest: core {cores[r]} in pass {passes[c][0]}, {_pct(grid[r, c])}",
                      xlabel="pass", ylabel="core", xticks=_ticks([p for p, *_ in passes]), yticks=_ticks(cores),
                      invert_y=True, title_px=TICK_PX + 1)
            panels.append((ax, grid, cell_w >= 40 and cell_h >= 22))
        maps = [ax for ax, _, _ in panels]
        grid_rows = [[ax] for ax in maps] if stacked else [maps]
        title = "SRAM used per core and pass, % of capacity"
    canvas = Figure(grid_rows, title=f"{title} (grey: the core holds no slice)",
                    colourbar=ColourBar(YLORRD, 0.0, 100.0, "used (% of capacity)")).render()
    for ax, grid, annotate in panels:
        ax.heatmap(grid, YLORRD, 0.0, 100.0, bad=_NO_SLICE_COLOUR, labels=_pct if annotate else None)
    return canvas.save(path)


def _ticks(values: list) -> list[tuple[int, str]]:
    """At most 16 ticks along ``values`` (positions 0, 1, ...), labelled by the values."""
    step = -(-len(values) // 16)
    return [(i, str(values[i])) for i in range(0, len(values), step)]


def _mesh_ticks(start: int, n: int) -> list[tuple[int, str]]:
    """At most 16 ticks over mesh rows (or columns) ``start`` .. ``start + n - 1``."""
    return [(start + i, label) for i, label in _ticks(list(range(start, start + n)))]


def _mesh_axes(rows: int, cols: int, cell_px: float, title: str, xlabel: bool = True, ylabel: bool = True,
               colourbar: ColourBar | None = None) -> Axes:
    """Axes for a ``rows`` x ``cols`` heat map of the mesh, cells of ``cell_px``, row 0 at the top."""
    return Axes(cols * cell_px, rows * cell_px, (-0.5, cols - 0.5), (-0.5, rows - 0.5), title=title,
                xlabel="mesh column" if xlabel else "", ylabel="mesh row" if ylabel else "",
                xticks=_mesh_ticks(0, cols), yticks=_mesh_ticks(0, rows), invert_y=True, title_px=TICK_PX + 1,
                colourbar=colourbar)


def _round_up(largest: float) -> float:
    """The next of 1, 2, 5 x 10^k at or above ``largest`` (1 for nothing), for a colour scale's top."""
    if not largest > 0:
        return 1.0
    decade = 10.0 ** math.floor(math.log10(largest))
    return next(m * decade for m in (1, 2, 5, 10) if largest <= m * decade * (1 + 1e-9))


def _pct(value: float) -> str:
    """A percentage with two significant digits below 10 (0.12%, 7.4%) and none above (44%)."""
    if value == 0:
        return "0%"
    return f"{value:.2g}%" if abs(value) < 9.95 else f"{value:.0f}%"


def _compact(value: float) -> str:
    """A count in four characters or so: 950, 6.1k, 109k, 1.2M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
        if abs(value) >= scale * 0.9995 or scale == 1.0:
            q = value / scale
            return (f"{q:.2g}" if abs(q) < 9.95 else f"{q:.0f}") + suffix
    return str(value)


def plot_model_size(labels: list[str], size_mb: list[float], path: str) -> str:
    """Bars of model storage in MB (10^6 bytes), or kB (10^3 bytes) when all are under 0.1 MB
    (as the terminal summary writes them): quantized weights vs float32, membranes."""
    n = len(labels)
    scale, unit = (1.0, "MB") if max(size_mb, default=0) >= 0.1 else (1e-3, "kB")
    size = [v / scale for v in size_mb]
    texts = [f"{v:,.4g} {unit}" for v in size]
    ax = _hbar_axes(n, labels, _room_for_labels(size, texts, 520.0, 1e-6),
                    f"size ({unit}, 10^{6 if unit == 'MB' else 3} bytes)", "Model size: quantized vs float32",
                    width_px=520.0, row_px=30.0, tick_px=TICK_PX - 1)
    canvas = Figure([[ax]]).render()
    y = [n - 1 - i for i in range(n)]
    ax.hbars(y, size, 0.7, [_FLOAT32_GREY if "float32" in lab else _BAR_BLUE for lab in labels])
    for yi, v, text in zip(y, size, texts):
        ax.text(v, yi, text, dx=4)
    return canvas.save(path)


def plot_distributions(latency_us: list[float], energy_uj: list[float], path: str) -> str:
    """Histograms of per-sample latency (us) and energy per inference (uJ), side by side."""
    panels = []
    for values, label in ((latency_us, "latency (us)"), (energy_uj, "energy per inference (uJ)")):
        values = np.asarray(values, float)
        counts, edges = np.histogram(values, bins=min(30, max(5, int(math.sqrt(values.size)))))
        mean = float(values.mean())
        ax = Axes(420, 240, (float(edges[0]), float(edges[-1])), (0.0, max(float(counts.max()) * 1.15, 1.0)),
                  xlabel=label, ylabel="samples", grid="y",
                  legend=Legend([(f"mean {mean:.4g}", "#e15759", "line")], where="inside"))
        panels.append((ax, counts, edges, mean))
    canvas = Figure([[ax for ax, *_ in panels]], title=f"Distributions over {len(latency_us)} samples").render()
    for ax, counts, edges, mean in panels:
        ax.steps([float(e) for e in edges], [int(c) for c in counts], _BAR_BLUE)
        ax.vline(mean, "#e15759", 1.6)
    return canvas.save(path)
