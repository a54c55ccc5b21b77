"""Report figures: matplotlib PNGs drawn from numbers the report stage has already computed.

No computation here beyond placing what is passed in (and choosing what fits: the busiest
cores of a timeline, the active part of a large mesh): every function takes plain lists or
arrays with their units in the parameter names and writes one PNG, never larger than
:data:`MAX_FIGURE_IN` whatever the mesh or network. Figures are built on a
:class:`matplotlib.figure.Figure` with the Agg canvas chosen explicitly
(:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`), never through pyplot, so no
global backend or figure state is touched (safe inside tests and other programs).

matplotlib is imported inside the functions that draw, not when this module is imported: it
costs about 0.4 s, which a run without a report (``--no-report``) must not pay.
"""

from __future__ import annotations

import functools
import math

import numpy as np

DPI = 110
#: The largest figure, in inches: about 1980 x 1595 px at DPI, whatever the mesh or network.
MAX_FIGURE_IN = (18.0, 14.5)
#: One colour per energy component, fixed so every figure uses the same key.
COMPONENT_COLOURS = {
    "weight_sram": "#4e79a7", "membrane_sram": "#76b7b2", "accumulators": "#f28e2b", "synaptic_adds": "#59a14f",
    "macs": "#edc948", "neuron_updates": "#b07aa1", "noc": "#e15759", "offchip": "#9c755f", "leakage": "#bab0ac",
}


def load_matplotlib() -> None:
    """Import the parts of matplotlib the figures use (what the first figure would otherwise pay)."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


#: zlib level of the PNGs: 1 encodes several times faster than PIL's default 6, and flat-colour
#: charts compress about as well either way.
PNG_COMPRESS_LEVEL = 1


def _figure(width_in: float, height_in: float):
    """A constrained-layout figure of the asked size, clipped to :data:`MAX_FIGURE_IN`."""
    import matplotlib
    from matplotlib.figure import Figure

    # Labels are names from the user's files, shown as typed: a "$" never starts mathtext.
    matplotlib.rcParams["text.parse_math"] = False
    return Figure(figsize=(min(width_in, MAX_FIGURE_IN[0]), min(height_in, MAX_FIGURE_IN[1])), layout="constrained")


def _save(fig, path: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return path


def _energy_unit(largest_uj: float) -> tuple[float, str]:
    """A display unit for energies given in uJ: (uJ per unit, unit name)."""
    if largest_uj >= 1e3:
        return 1e3, "mJ"
    if 0 < largest_uj < 1:
        return 1e-3, "nJ"
    return 1.0, "uJ"


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_components(components: list[str], labels: list[str], mean_uj: list[float], min_uj: list[float],
                    max_uj: list[float], share_percent: list[float], path: str, title: str) -> str:
    """Horizontal bars of energy per component, per inference (mean; min-max whiskers)."""
    n = len(components)
    fig = _figure(8.0, 0.45 * n + 1.6)
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    scale, unit = _energy_unit(max(max_uj, default=0.0))
    mean = np.asarray(mean_uj, float) / scale
    colours = [COMPONENT_COLOURS.get(c, "grey") for c in components]
    ax.barh(y, mean, color=colours, edgecolor="black", linewidth=0.4)
    # Clipped at 0: the mean of equal floats can land an ulp outside [min, max].
    lo = np.clip(mean - np.asarray(min_uj, float) / scale, 0, None)
    hi = np.clip(np.asarray(max_uj, float) / scale - mean, 0, None)
    if (lo > 0).any() or (hi > 0).any():
        ax.errorbar(mean, y, xerr=[lo, hi], fmt="none", ecolor="black", capsize=3, linewidth=0.8)
    for yi, v, top, share in zip(y, mean, mean + hi, share_percent):
        # Shares under 0.05% keep two significant digits instead of reading "0.0%".
        share_text = f"{share:.2g}" if 0 < share < 0.05 else f"{share:.1f}"
        ax.text(top, yi, f"  {v:,.4g} {unit} ({share_text}%)", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"energy per inference ({unit})")
    ax.set_xlim(0, max(float((mean + hi).max()) * 1.45, 1e-12))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_comparison(components: list[str], labels: list[str], simulator_uj: list[float], paper_uj: float,
                    path: str) -> str:
    """The simulator's energy per inference (stacked by component) beside the paper-style estimate."""
    fig = _figure(8.0, 3.0)
    ax = fig.add_subplot()
    scale, unit = _energy_unit(max(sum(simulator_uj), paper_uj))
    left = 0.0
    for comp, label, v in zip(components, labels, simulator_uj):
        ax.barh(1, v / scale, left=left, color=COMPONENT_COLOURS.get(comp, "grey"), edgecolor="black",
                linewidth=0.3, label=label)
        left += v / scale
    ax.barh(0, paper_uj / scale, color="#cccccc", edgecolor="black", hatch="//", linewidth=0.5)
    ax.text(left, 1, f"  {left:,.4g} {unit}", va="center", fontsize=8)
    ax.text(paper_uj / scale, 0, f"  {paper_uj / scale:,.4g} {unit}", va="center", fontsize=8)
    ax.set_yticks([0, 1], ["paper-style\nSOPs x E_AC + MACs x E_MAC", "simulator\n(all components)"])
    ax.set_xlabel(f"energy per inference ({unit})")
    ax.set_xlim(0, max(left, paper_uj / scale, 1e-12) * 1.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title("Simulator vs the estimate SNN papers quote (45 nm, Horowitz 2014)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_layers(populations: list[str], components: list[str], labels: list[str], energy_uj: np.ndarray,
                path: str) -> str:
    """Stacked horizontal bars: dynamic energy per inference of every population, by component.

    ``energy_uj`` is (n_populations, n_components).
    """
    scale, unit = _energy_unit(float(np.asarray(energy_uj, float).sum(axis=1).max(initial=0.0)))
    energy = np.asarray(energy_uj, float) / scale
    n = len(populations)
    fig = _figure(9.0, 0.32 * n + 1.8)
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    left = np.zeros(n)
    for j, (comp, label) in enumerate(zip(components, labels)):
        if not energy[:, j].any():
            continue
        ax.barh(y, energy[:, j], left=left, color=COMPONENT_COLOURS.get(comp, "grey"), label=label,
                edgecolor="black", linewidth=0.2)
        left += energy[:, j]
    ax.set_yticks(y, [_short(p) for p in populations], fontsize=8)
    ax.set_xlabel(f"dynamic energy per inference ({unit})")
    ax.set_title("Energy by layer (leakage is the chip's, not a layer's)", fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # an all-zero energy table draws no bar to name
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_firing_rates(populations: list[str], rate_percent: list[float], path: str) -> str:
    """Bars of spikes / (neurons x T) per LIF population, in %."""
    n = len(populations)
    fig = _figure(max(5.0, 0.42 * n + 2.0), 3.6)
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x, rate_percent, color="#4e79a7", edgecolor="black", linewidth=0.4)
    for xi, v in zip(x, rate_percent):
        ax.text(xi, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [_short(p, 14) for p in populations], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("firing rate (% of neurons x timesteps)")
    ax.set_ylim(0, max(max(rate_percent, default=0) * 1.2, 1.0))
    ax.set_title("Firing rate per layer (mean over samples)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_utilisation(soma_percent: np.ndarray, integrate_percent: np.ndarray, path: str) -> str:
    """Two mesh heat maps (rows x cols): soma busy and integrate busy as % of latency.

    Each map has its own colour scale (0 to a round number above its busiest core), so a soma
    busy 0.1% of the time is as visible as an integrate unit busy 40%; the title gives the peak.
    """
    from matplotlib.colors import Normalize

    rows, cols = np.shape(soma_percent)
    cell = min(0.75, 6.0 / cols, 11.0 / rows)
    fig = _figure(2 * (cols * cell + 1.7), rows * cell + 1.7)
    axes = fig.subplots(1, 2)
    for ax, data, name in zip(axes, (soma_percent, integrate_percent), ("soma (fire) busy", "integrate busy")):
        data = np.asarray(data, float)
        norm = Normalize(0, _round_up(float(data.max(initial=0.0))))
        image = ax.imshow(data, cmap="viridis", norm=norm, interpolation="nearest")
        if rows * cols <= 64:
            for (r, c), v in np.ndenumerate(data):
                # Cell labels sit inside the axes: kept out of the layout's text measuring.
                ax.text(c, r, _pct(v), ha="center", va="center", fontsize=7,
                        color=_text_colour(image.cmap(norm(v))), in_layout=False)
        peak = int(np.argmax(data))
        ax.set_title(f"{name} (% of latency)\npeak {_pct(data.flat[peak])} on core {peak}", fontsize=9)
        _mesh_axes(ax, rows, cols)
        fig.colorbar(image, ax=ax, label="% of latency", shrink=0.85)
    return _save(fig, path)


#: At most this many cores get a row in a timeline: the busiest ones (fire + integrate time).
MAX_TIMELINE_CORES = 32
#: Up to this many firing populations get a colour each; more are coloured by network depth.
MAX_POPULATION_COLOURS = 10


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
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    n_given = len(core_labels)
    keep = range(n_given)
    if n_given > MAX_TIMELINE_CORES:
        busy = [sum(b - a for a, b, _ in fires_us[i]) + sum(b - a for a, b, _ in integrate_us[i])
                for i in range(n_given)]
        keep = sorted(sorted(range(n_given), key=lambda i: (-busy[i], i))[:MAX_TIMELINE_CORES])
        title = f"{title}: the {MAX_TIMELINE_CORES} busiest of {n_given} cores"
    labels = [core_labels[i] for i in keep]
    fires = [fires_us[i] for i in keep]
    integrate = [integrate_us[i] for i in keep]
    n = len(labels)
    firing = sorted({pop for spans in fires for _, _, pop in spans})
    by_depth = len(firing) > MAX_POPULATION_COLOURS
    if by_depth:
        cmap = _depth_colours()
        depth = Normalize(0, max(len(populations) - 1, 1))
        colour = {p: cmap(depth(p)) for p in firing}
    else:
        key = {p: p if len(populations) <= MAX_POPULATION_COLOURS else k for k, p in enumerate(firing)}
        categories = _category_colours()
        colour = {p: categories[key[p] % len(categories)] for p in firing}
    row_in = 0.42 if n <= 16 else 0.34
    fig = _figure(11.0, row_in * n + 2.0)
    ax = fig.add_subplot()
    # Fires can be a thousandth of the run; a minimum width keeps every one visible as a tick.
    min_width = max(latency_us, 1e-9) * 3e-3
    # Every bar of the figure in one collection (integrate bars, then fires), added without a
    # data-limit update (the limits are set below): the picture of one broken_barh per bar,
    # at a fraction of the artists and of the time.
    bars, faces = [], []
    for i in range(n):
        y = n - 1 - i
        for a, b, _ in integrate[i]:
            bars.append(_rectangle(a, max(b - a, min_width), y - 0.4, 0.36))
            faces.append(_INTEGRATE_COLOUR)
        for start, end, pop in fires[i]:
            bars.append(_rectangle(start, max(end - start, min_width), y + 0.02, 0.38))
            faces.append(colour[pop])
    ax.add_collection(PolyCollection(bars, facecolors=faces, linewidths=0), autolim=False)
    if len(pass_starts_us) > 1:
        for k, start in enumerate(pass_starts_us):
            ax.axvline(start, color="black", linewidth=0.7, linestyle="--")
            ax.text(start, n - 0.45, f" pass {k}", fontsize=7, va="bottom")
    ax.set_yticks(range(n), labels[::-1], fontsize=8)
    ax.set_ylim(-0.6, n - 0.4 + (0.35 if len(pass_starts_us) > 1 else 0))
    ax.set_xlim(0, max(latency_us, 1e-9) * 1.01)
    ax.set_xlabel("time (us)")
    ax.grid(axis="x", alpha=0.3)
    integrate_key = Patch(color=_INTEGRATE_COLOUR, label="integrate (lower bar)")
    if by_depth:
        ax.set_title(title, fontsize=10, loc="left")
        ax.legend(handles=[integrate_key, Patch(color=cmap(0.5), label="fire (upper bar), colour = layer")],
                  fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)
        bar = fig.colorbar(ScalarMappable(norm=depth, cmap=cmap), ax=ax, shrink=0.9, pad=0.01, aspect=40)
        named = list(range(0, len(populations), -(-len(populations) // 24)))
        bar.set_ticks(named, labels=[_short(populations[p], 18) for p in named], fontsize=7)
        bar.set_label("fire colour: layer, in network order", fontsize=8)
    else:
        ax.set_title(title, fontsize=10)
        handles = [integrate_key] + [Patch(color=colour[p], label="fire: " + _short(populations[p]))
                                     for p in firing]
        ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                  title="upper bar: fire of", title_fontsize=8)
    return _save(fig, path)


_INTEGRATE_COLOUR = "#9aa7b8"


def _rectangle(x: float, width: float, y: float, height: float) -> list[tuple]:
    """The corners of a bar, as broken_barh draws it."""
    return [(x, y), (x, y + height), (x + width, y + height), (x + width, y)]


@functools.cache
def _category_colours() -> list:
    """tab10 with its grey replaced by black, so no fire colour looks like the grey integrate bars."""
    from matplotlib import colormaps

    return [c if i != 7 else (0.0, 0.0, 0.0) for i, c in enumerate(colormaps["tab10"].colors)]


@functools.cache
def _depth_colours():
    """plasma without its palest yellow, which vanishes on white."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["plasma"](np.linspace(0.0, 0.88, 256)), name="plasma_depth")


def plot_links(mesh_rows: int, mesh_cols: int, links: list[tuple], ejection_flits: np.ndarray,
               path: str, title: str) -> str:
    """NoC load on the mesh: an arrow per directed link (width and colour = flits), cores shaded
    by the flits ejected into them. ``links`` are ``(from core, to core, flits)``.

    A mesh wider than 16 is cut to the rectangle of cores with traffic (the title says which).
    Up to 8 cores a side, each box prints the core's number and ejected flits; when cores get
    smaller than half an inch, they are a heat map and links are lines (directions side by side).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.ticker import FuncFormatter

    ejection = np.asarray(ejection_flits, float).reshape(mesh_rows, mesh_cols)
    r0, r1, c0, c1 = 0, mesh_rows - 1, 0, mesh_cols - 1
    if max(mesh_rows, mesh_cols) > 16:
        active = {int(i) for i in np.flatnonzero(ejection)} | {x for a, b, _ in links for x in (a, b)}
        if active:
            r_active, c_active = np.divmod(sorted(active), mesh_cols)
            r0, r1, c0, c1 = r_active.min(), r_active.max(), c_active.min(), c_active.max()
            title += (f"\nrows {r0}-{r1} and columns {c0}-{c1} of the {mesh_rows}x{mesh_cols} mesh: "
                      "the cores with traffic")
    rows, cols = r1 - r0 + 1, c1 - c0 + 1
    cell = min(1.1 if max(rows, cols) <= 8 else 0.8, 14.0 / cols, 12.0 / rows)
    strip = cols > 3 * rows   # a colour bar under a strip of cores, beside anything squarer
    fig = _figure(cols * cell + (1.0 if strip else 2.6), rows * cell + (2.6 if strip else 1.5))
    ax = fig.add_subplot()
    peak = max([f for _, _, f in links] + [float(ejection.max(initial=0.0)), 1.0])
    norm = Normalize(0, peak)
    cmap = colormaps["plasma_r"]
    segments = []
    for a, b, flits in links:
        ra, ca = divmod(a, mesh_cols)
        rb, cb = divmod(b, mesh_cols)
        dr, dc = rb - ra, cb - ca
        # Opposite directions of one link are drawn side by side, offset to the right of travel.
        off_r, off_c = 0.12 * dc, -0.12 * dr
        segments.append(((ca + 0.3 * dc + off_c, ra + 0.3 * dr + off_r),
                         (cb - 0.3 * dc + off_c, rb - 0.3 * dr + off_r)))
    if cell < 0.5:
        ax.imshow(np.ma.masked_equal(ejection, 0.0), cmap=cmap.with_extremes(bad="#f4f4f4"), norm=norm,
                  interpolation="nearest")
        ax.add_collection(LineCollection(segments, colors=[cmap(norm(f)) for *_, f in links],
                                         linewidths=[0.4 + 2.0 * f / peak for *_, f in links]))
    else:
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                v = ejection[r, c]
                ax.add_artist(_core_box(c, r, cmap(norm(v)) if v else "#f4f4f4"))
                if cell >= 1.0:
                    ax.text(c, r, f"core {r * mesh_cols + c}\n{_compact(v)} in", ha="center", va="center",
                            fontsize=7, color="white" if norm(v) > 0.55 else "black", in_layout=False)
        # add_artist, not add_patch: the limits are set below, so the data-limit update (a
        # path per patch) is wasted; no shrink at the ends, which would cost a Bezier
        # clipping per arrow end: the segments already stop short of the core boxes.
        for (start, end), (*_, flits) in zip(segments, links):
            ax.add_artist(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, shrinkA=0, shrinkB=0,
                                          linewidth=0.8 + 4.0 * flits / peak, color=cmap(norm(flits))))
    ax.set_xlim(c0 - 0.6, c1 + 0.6)
    ax.set_ylim(r1 + 0.6, r0 - 0.6)
    ax.set_aspect("equal")
    _mesh_axes(ax, rows, cols, first=(r0, c0))
    ax.set_title(title, fontsize=10)
    sm = ScalarMappable(norm=norm, cmap=cmap)
    bar = fig.colorbar(sm, ax=ax, label="flits per inference (link; core = ejected)", shrink=0.85,
                       location="bottom" if strip else "right")
    bar.formatter = FuncFormatter(lambda v, _: _compact(v))
    return _save(fig, path)


def _core_box(c: int, r: int, colour):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((c - 0.28, r - 0.28), 0.56, 0.56, boxstyle="round,pad=0.02", facecolor=colour,
                          edgecolor="black", linewidth=0.6)


_SRAMS = ("weight SRAM", "membrane SRAM", "accumulator SRAM")
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
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap = colormaps["YlOrRd"].with_extremes(bad=_NO_SLICE_COLOUR)
    norm = Normalize(0, 100)
    if mesh_shape is not None and len(passes) <= MAX_MESH_PASSES:
        rows, cols = mesh_shape
        cell = min(0.6, 4.6 / cols, (12.0 / len(passes) - 1.2) / rows)
        fig = _figure(3 * (cols * cell + 0.9) + 1.4, len(passes) * (rows * cell + 1.2) + 0.9)
        axes = fig.subplots(len(passes), 3, squeeze=False)
        for row, (p_index, cores, *percent) in enumerate(passes):
            for k, ax in enumerate(axes[row]):
                grid = np.full(rows * cols, np.nan)
                grid[np.asarray(cores, int)] = percent[k]
                _sram_map(ax, grid.reshape(rows, cols), cmap, norm, rows * cols <= 64)
                _mesh_axes(ax, rows, cols, xlabel=row == len(passes) - 1, ylabel=k == 0)
                fullest = int(np.nanargmax(grid))
                ax.set_title(f"{_SRAMS[k]}{f', pass {p_index}' if len(passes) > 1 else ''}\n"
                             f"fullest: core {fullest}, {_pct(grid[fullest])}", fontsize=9)
        title = "SRAM used per core, % of capacity" + (", per pass" if len(passes) > 1 else "")
    else:
        cores = sorted({int(c) for _, here, *_ in passes for c in here})
        row_of = {c: i for i, c in enumerate(cores)}
        n_cores, n_passes = len(cores), len(passes)
        # Wide grids (more passes than cores) are stacked, narrow ones side by side.
        stacked = n_passes > n_cores
        width_in, height_in = (14.0, 11.0 / 3 - 1.0) if stacked else (4.6, 11.5)
        cell_w, cell_h = min(0.6, width_in / n_passes), min(0.3, height_in / n_cores)
        panel = (n_passes * cell_w + 1.1, max(n_cores * cell_h, 0.9) + 1.0)
        if stacked:
            fig = _figure(panel[0] + 1.6, 3 * panel[1] + 0.6)
            axes = fig.subplots(3, 1, squeeze=False)[:, 0]
        else:
            fig = _figure(3 * panel[0] + 1.4, panel[1] + 0.6)
            axes = fig.subplots(1, 3, squeeze=False)[0]
        for k, ax in enumerate(axes):
            grid = np.full((n_cores, n_passes), np.nan)
            for j, (_, here, *percent) in enumerate(passes):
                grid[[row_of[int(c)] for c in here], j] = percent[k]
            _sram_map(ax, grid, cmap, norm, cell_w >= 0.4 and cell_h >= 0.22, aspect="auto")
            ax.set_xticks(*_ticks([p for p, *_ in passes]))
            ax.set_yticks(*_ticks(cores))
            ax.set_xlabel("pass")
            ax.set_ylabel("core")
            r, c = np.unravel_index(int(np.nanargmax(grid)), grid.shape)
            ax.set_title(f"{_SRAMS[k]}; fullest: core {cores[r]} in pass {passes[c][0]}, {_pct(grid[r, c])}",
                         fontsize=9)
        axes = np.asarray(axes)
        title = "SRAM used per core and pass, % of capacity"
    fig.suptitle(f"{title} (grey: the core holds no slice)", fontsize=10)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes.ravel().tolist(), shrink=0.85,
                 label="used (% of capacity)")
    return _save(fig, path)


_NO_SLICE_COLOUR = "#dddddd"


def _sram_map(ax, grid: np.ndarray, cmap, norm, annotate: bool, aspect: str = "equal") -> None:
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, interpolation="nearest", aspect=aspect)
    if annotate:
        for (r, c), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(c, r, _pct(v), ha="center", va="center", fontsize=7, color=_text_colour(cmap(norm(v))),
                        in_layout=False)


def _ticks(values: list) -> tuple[list[int], list[str]]:
    """Positions and labels of at most 16 ticks along ``values``."""
    step = -(-len(values) // 16)
    positions = list(range(0, len(values), step))
    return positions, [str(values[i]) for i in positions]


def _mesh_axes(ax, rows: int, cols: int, xlabel: bool = True, ylabel: bool = True,
               first: tuple[int, int] = (0, 0)) -> None:
    """Mesh row and column ticks (at most 16 each) for ``rows`` x ``cols`` cores from ``first``."""
    for set_ticks, start, n in ((ax.set_yticks, first[0], rows), (ax.set_xticks, first[1], cols)):
        positions, labels = _ticks(list(range(start, start + n)))
        set_ticks([start + p for p in positions], labels)
    if xlabel:
        ax.set_xlabel("mesh column")
    if ylabel:
        ax.set_ylabel("mesh row")


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


def _text_colour(rgba) -> str:
    """Black on a light cell, white on a dark one."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def plot_model_size(labels: list[str], size_mb: list[float], path: str) -> str:
    """Bars of model storage in MB (10^6 bytes), or kB (10^3 bytes) when all are under 0.1 MB
    (as the terminal summary writes them): quantized weights vs float32, membranes."""
    n = len(labels)
    fig = _figure(7.5, 0.5 * n + 1.5)
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    scale, unit = (1.0, "MB") if max(size_mb, default=0) >= 0.1 else (1e-3, "kB")
    size = np.asarray(size_mb, float) / scale
    colours = ["#4e79a7" if "float32" not in lab else "#bab0ac" for lab in labels]
    ax.barh(y, size, color=colours, edgecolor="black", linewidth=0.4)
    for yi, v in zip(y, size):
        ax.text(v, yi, f"  {v:,.4g} {unit}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"size ({unit}, 10^{6 if unit == 'MB' else 3} bytes)")
    ax.set_xlim(0, max(float(size.max(initial=0.0)) * 1.3, 1e-6))
    ax.set_title("Model size: quantized vs float32", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_distributions(latency_us: list[float], energy_uj: list[float], path: str) -> str:
    """Histograms of per-sample latency (us) and energy per inference (uJ), side by side."""
    fig = _figure(9.0, 3.2)
    for ax, values, label in zip(fig.subplots(1, 2), (latency_us, energy_uj),
                                 ("latency (us)", "energy per inference (uJ)")):
        values = np.asarray(values, float)
        ax.hist(values, bins=min(30, max(5, int(math.sqrt(values.size)))), color="#4e79a7", edgecolor="black",
                linewidth=0.4)
        ax.axvline(float(values.mean()), color="#e15759", linewidth=1.2, label=f"mean {values.mean():.4g}")
        ax.set_xlabel(label)
        ax.set_ylabel("samples")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Distributions over {len(latency_us)} samples", fontsize=10)
    return _save(fig, path)
