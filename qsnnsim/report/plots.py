"""Report figures: matplotlib PNGs drawn from numbers the report stage has already computed.

No computation here beyond placing what is passed in: every function takes plain lists or
arrays with their units in the parameter names and writes one PNG. Figures are built on a
:class:`matplotlib.figure.Figure` with the Agg canvas directly, never through pyplot, so
no global backend or figure state is touched (safe inside tests and other programs).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

DPI = 110
#: One colour per energy component, fixed so every figure uses the same key.
COMPONENT_COLOURS = {
    "weight_sram": "#4e79a7", "membrane_sram": "#76b7b2", "accumulators": "#f28e2b", "synaptic_adds": "#59a14f",
    "macs": "#edc948", "neuron_updates": "#b07aa1", "noc": "#e15759", "offchip": "#9c755f", "leakage": "#bab0ac",
}


def _save(fig: Figure, path: str) -> str:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
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
    fig = Figure(figsize=(8.0, 0.45 * n + 1.6), layout="constrained")
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
        ax.text(top, yi, f"  {v:,.4g} {unit} ({share:.1f}%)", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"energy per inference ({unit})")
    ax.set_xlim(0, max(float((mean + hi).max()) * 1.45, 1e-12))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_comparison(components: list[str], labels: list[str], simulator_uj: list[float], paper_uj: float,
                    path: str) -> str:
    """The simulator's energy per inference (stacked by component) beside the paper-style estimate."""
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
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
    fig = Figure(figsize=(9.0, 0.32 * n + 1.8), layout="constrained")
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
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_firing_rates(populations: list[str], rate_percent: list[float], path: str) -> str:
    """Bars of spikes / (neurons x T) per LIF population, in %."""
    n = len(populations)
    fig = Figure(figsize=(max(5.0, 0.42 * n + 2.0), 3.6), layout="constrained")
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
    """Two mesh heat maps (rows x cols): soma busy and integrate busy as % of latency."""
    soma = np.asarray(soma_percent, float)
    integ = np.asarray(integrate_percent, float)
    rows, cols = soma.shape
    cell = 0.75 if max(rows, cols) <= 8 else 0.35
    fig = Figure(figsize=(2 * max(2.6, cols * cell) + 1.6, max(2.6, rows * cell) + 1.3), layout="constrained")
    axes = fig.subplots(1, 2)
    norm = Normalize(0, 100)
    image = None
    for ax, data, name in zip(axes, (soma, integ), ("soma (fire) busy", "integrate busy")):
        image = ax.imshow(data, cmap="viridis", norm=norm, origin="upper")
        if rows * cols <= 64:
            for r in range(rows):
                for c in range(cols):
                    v = data[r, c]
                    ax.text(c, r, f"{v:.0f}%", ha="center", va="center", fontsize=8,
                            color="white" if v < 60 else "black")
        ax.set_title(f"{name} (% of latency)", fontsize=9)
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        ax.set_xlabel("mesh column")
        ax.set_ylabel("mesh row")
    fig.colorbar(image, ax=list(axes), label="% of latency", shrink=0.9)
    return _save(fig, path)


def plot_timeline(core_labels: list[str], fires_us: list[list[tuple]], integrate_us: list[list[tuple]],
                  populations: list[str], latency_us: float, path: str, title: str,
                  pass_starts_us: tuple = ()) -> str:
    """Busy phases of every core: soma fires (by population) and integrate spans, against time.

    ``fires_us[i]`` and ``integrate_us[i]`` are lists of ``(start_us, end_us, population index)``
    of core ``core_labels[i]``. With several passes, ``pass_starts_us`` are drawn as dashed lines.
    """
    n = len(core_labels)
    fig = Figure(figsize=(10.0, 0.42 * n + 1.9), layout="constrained")
    ax = fig.add_subplot()
    colours = _population_colours(len(populations))
    # Fires can be a thousandth of the run; a minimum width keeps every one visible as a tick.
    min_width = max(latency_us, 1e-9) * 2e-3
    used = set()
    for i in range(n):
        y = n - 1 - i
        ax.broken_barh([(a, max(b - a, min_width)) for a, b, _ in integrate_us[i]], (y - 0.4, 0.36),
                       facecolors=_INTEGRATE_COLOUR, linewidth=0)
        for start, end, pop in fires_us[i]:
            used.add(pop)
            ax.broken_barh([(start, max(end - start, min_width))], (y + 0.02, 0.38), facecolors=colours[pop],
                           linewidth=0)
    if len(pass_starts_us) > 1:
        for k, start in enumerate(pass_starts_us):
            ax.axvline(start, color="black", linewidth=0.7, linestyle="--")
            ax.text(start, n - 0.45, f" pass {k}", fontsize=7, va="bottom")
    ax.set_yticks(range(n), core_labels[::-1], fontsize=8)
    ax.set_ylim(-0.6, n - 0.4 + (0.35 if len(pass_starts_us) > 1 else 0))
    ax.set_xlim(0, max(latency_us, 1e-9) * 1.01)
    ax.set_xlabel("time (us)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=_INTEGRATE_COLOUR, label="integrate (lower bar)")]
    handles += [Patch(color=colours[p], label="fire: " + _short(populations[p])) for p in sorted(used)]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              ncol=1 if len(handles) <= 26 else 2, title="upper bar: fire of", title_fontsize=8)
    return _save(fig, path)


_INTEGRATE_COLOUR = "#9aa7b8"


def _population_colours(n: int) -> list:
    """Distinct colours in sequence: tab20's dark shades first, then its light ones, then tab20b."""
    tab20 = colormaps["tab20"].colors
    base = tab20[0::2] + tab20[1::2] + colormaps["tab20b"].colors
    return [base[i % len(base)] for i in range(max(n, 1))]


def plot_links(mesh_rows: int, mesh_cols: int, links: list[tuple], ejection_flits: np.ndarray,
               path: str, title: str) -> str:
    """NoC load on the mesh: an arrow per directed link (width and colour = flits), cores shaded
    by the flits ejected into them. ``links`` are ``(from core, to core, flits)``."""
    cell = 1.5 if max(mesh_rows, mesh_cols) <= 6 else 0.8
    fig = Figure(figsize=(mesh_cols * cell + 2.4, mesh_rows * cell + 1.2), layout="constrained")
    ax = fig.add_subplot()
    peak = max([f for _, _, f in links] + [float(np.max(ejection_flits)) if np.size(ejection_flits) else 0.0, 1.0])
    norm = Normalize(0, peak)
    cmap = colormaps["plasma_r"]
    ejection = np.asarray(ejection_flits, float).reshape(mesh_rows, mesh_cols)
    for r in range(mesh_rows):
        for c in range(mesh_cols):
            v = ejection[r, c]
            ax.add_patch(_core_box(c, r, cmap(norm(v)) if v else "#f4f4f4"))
            if max(mesh_rows, mesh_cols) <= 8:
                ax.text(c, r, f"core {r * mesh_cols + c}\n{v:,.0f} in", ha="center", va="center", fontsize=7,
                        color="white" if norm(v) > 0.55 else "black")
    for a, b, flits in links:
        ra, ca = divmod(a, mesh_cols)
        rb, cb = divmod(b, mesh_cols)
        dr, dc = rb - ra, cb - ca
        # Opposite directions of one link are drawn side by side, offset to the right of travel.
        off_r, off_c = 0.12 * dc, -0.12 * dr
        start = (ca + 0.3 * dc + off_c, ra + 0.3 * dr + off_r)
        end = (cb - 0.3 * dc + off_c, rb - 0.3 * dr + off_r)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10,
                                     linewidth=0.8 + 4.0 * flits / peak, color=cmap(norm(flits))))
    ax.set_xlim(-0.6, mesh_cols - 0.4)
    ax.set_ylim(mesh_rows - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.set_xticks(range(mesh_cols))
    ax.set_yticks(range(mesh_rows))
    ax.set_xlabel("mesh column")
    ax.set_ylabel("mesh row")
    ax.set_title(title, fontsize=10)
    sm = ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, label="flits per inference (link; core = ejected)", shrink=0.85)
    return _save(fig, path)


def _core_box(c: int, r: int, colour):
    return FancyBboxPatch((c - 0.28, r - 0.28), 0.56, 0.56, boxstyle="round,pad=0.02", facecolor=colour,
                          edgecolor="black", linewidth=0.6)


def plot_sram(passes: list[tuple], path: str) -> str:
    """Grouped bars per core: weight, membrane and accumulator SRAM used, % of each one's capacity.

    ``passes`` holds one ``(pass index, core labels, weight %, membrane %, accumulator %)`` per
    pass; each pass gets its own row of bars.
    """
    widest = max(len(labels) for _, labels, *_ in passes)
    fig = Figure(figsize=(max(6.0, 0.55 * widest + 2.0), 1.9 * len(passes) + 1.0), layout="constrained")
    axes = fig.subplots(len(passes), 1, squeeze=False)[:, 0]
    w = 0.27
    for ax, (p_index, labels, *percent) in zip(axes, passes):
        x = np.arange(len(labels))
        for k, (values, label, colour) in enumerate(zip(percent, ("weight SRAM", "membrane SRAM", "accumulator SRAM"),
                                                        ("#4e79a7", "#76b7b2", "#f28e2b"))):
            ax.bar(x + (k - 1) * w, values, w, label=label, color=colour, edgecolor="black", linewidth=0.3)
        ax.axhline(100, color="black", linewidth=0.8, linestyle="--")
        ax.set_xticks(x, labels, rotation=0 if len(labels) <= 16 else 90, fontsize=8)
        ax.set_ylabel("used (% of capacity)", fontsize=8)
        ax.set_ylim(0, 112)
        ax.set_title(f"pass {p_index}" if len(passes) > 1 else "SRAM footprint per core", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xlabel("core")
    axes[0].legend(fontsize=7, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.12 if len(passes) > 1 else 1.1),
                   frameon=False)
    if len(passes) > 1:
        fig.suptitle("SRAM footprint per core and pass", fontsize=10)
    return _save(fig, path)


def plot_model_size(labels: list[str], size_mb: list[float], path: str) -> str:
    """Bars of model storage in MB (10^6 bytes): quantized weights vs float32, membranes."""
    n = len(labels)
    fig = Figure(figsize=(7.5, 0.5 * n + 1.5), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    colours = ["#4e79a7" if "float32" not in lab else "#bab0ac" for lab in labels]
    ax.barh(y, size_mb, color=colours, edgecolor="black", linewidth=0.4)
    for yi, v in zip(y, size_mb):
        ax.text(v, yi, f"  {v:.4g} MB", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("size (MB, 10^6 bytes)")
    ax.set_xlim(0, max(max(size_mb, default=0) * 1.3, 1e-6))
    ax.set_title("Model size: quantized vs float32", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
