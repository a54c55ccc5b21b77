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


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_components(components: list[str], labels: list[str], mean_uj: list[float], min_uj: list[float],
                    max_uj: list[float], path: str, title: str) -> str:
    """Horizontal bars of energy per component, per inference (mean; min-max whiskers)."""
    n = len(components)
    fig = Figure(figsize=(8.0, 0.45 * n + 1.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    mean = np.asarray(mean_uj, float)
    colours = [COMPONENT_COLOURS.get(c, "grey") for c in components]
    ax.barh(y, mean, color=colours, edgecolor="black", linewidth=0.4)
    lo = mean - np.asarray(min_uj, float)
    hi = np.asarray(max_uj, float) - mean
    if (lo > 0).any() or (hi > 0).any():
        ax.errorbar(mean, y, xerr=[lo, hi], fmt="none", ecolor="black", capsize=3, linewidth=0.8)
    total = mean.sum()
    for yi, v in zip(y, mean):
        share = 100 * v / total if total else 0.0
        ax.text(v, yi, f"  {v:.4g} uJ ({share:.1f}%)", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel("energy per inference (uJ)")
    ax.set_xlim(0, max(mean.max() * 1.45, 1e-12))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_comparison(components: list[str], labels: list[str], simulator_uj: list[float], paper_uj: float,
                    path: str) -> str:
    """The simulator's energy per inference (stacked by component) beside the paper-style estimate."""
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    left = 0.0
    for comp, label, v in zip(components, labels, simulator_uj):
        ax.barh(1, v, left=left, color=COMPONENT_COLOURS.get(comp, "grey"), edgecolor="black", linewidth=0.3,
                label=label)
        left += v
    ax.barh(0, paper_uj, color="#cccccc", edgecolor="black", hatch="//", linewidth=0.5)
    ax.text(left, 1, f"  {left:.4g} uJ", va="center", fontsize=8)
    ax.text(paper_uj, 0, f"  {paper_uj:.4g} uJ", va="center", fontsize=8)
    ax.set_yticks([0, 1], ["paper-style\nSOPs x E_AC + MACs x E_MAC", "simulator\n(all components)"])
    ax.set_xlabel("energy per inference (uJ)")
    ax.set_xlim(0, max(left, paper_uj, 1e-12) * 1.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title("Simulator vs the estimate SNN papers quote (45 nm, Horowitz 2014)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_layers(populations: list[str], components: list[str], labels: list[str], energy_uj: np.ndarray,
                path: str) -> str:
    """Stacked horizontal bars: dynamic energy per inference of every population, by component.

    ``energy_uj`` is (n_populations, n_components).
    """
    energy_uj = np.asarray(energy_uj, float)
    n = len(populations)
    fig = Figure(figsize=(9.0, 0.32 * n + 1.8), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    left = np.zeros(n)
    for j, (comp, label) in enumerate(zip(components, labels)):
        if not energy_uj[:, j].any():
            continue
        ax.barh(y, energy_uj[:, j], left=left, color=COMPONENT_COLOURS.get(comp, "grey"), label=label,
                edgecolor="black", linewidth=0.2)
        left += energy_uj[:, j]
    ax.set_yticks(y, [_short(p) for p in populations], fontsize=8)
    ax.set_xlabel("dynamic energy per inference (uJ)")
    ax.set_title("Energy by layer (leakage is the chip's, not a layer's)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right", frameon=True)
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
                  populations: list[str], latency_us: float, path: str, title: str) -> str:
    """Busy phases of every core: soma fires (by population) and integrate spans, against time.

    ``fires_us[i]`` and ``integrate_us[i]`` are lists of ``(start_us, end_us, population index)``
    of core ``core_labels[i]``.
    """
    n = len(core_labels)
    fig = Figure(figsize=(10.0, 0.42 * n + 1.9), layout="constrained")
    ax = fig.add_subplot()
    cmap = _population_colours(len(populations))
    used = set()
    for i in range(n):
        y = n - 1 - i
        for spans, y0, h, alpha in ((fires_us[i], y + 0.05, 0.42, 1.0), (integrate_us[i], y - 0.42, 0.42, 0.55)):
            for start, end, pop in spans:
                used.add(pop)
                ax.broken_barh([(start, max(end - start, latency_us * 1e-4))], (y0, h),
                               facecolors=cmap[pop], alpha=alpha, linewidth=0)
    ax.set_yticks(range(n), core_labels[::-1], fontsize=8)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, max(latency_us, 1e-9) * 1.01)
    ax.set_xlabel("time (us)")
    ax.set_ylabel("core: upper bar fire (soma), lower bar integrate")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=cmap[p], label=_short(populations[p])) for p in sorted(used)]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                  ncol=1 if len(handles) <= 24 else 2, title="population", title_fontsize=8)
    return _save(fig, path)


def _population_colours(n: int) -> list:
    base = colormaps["tab20"].colors + colormaps["tab20b"].colors
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
                ax.text(c, r, f"{r * mesh_cols + c}\n{v:,.0f}", ha="center", va="center", fontsize=7,
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


def plot_sram(core_labels: list[str], weight_percent: list[float], membrane_percent: list[float],
              acc_percent: list[float], path: str, title: str) -> str:
    """Grouped bars per core: weight, membrane and accumulator SRAM used, % of each one's capacity."""
    n = len(core_labels)
    fig = Figure(figsize=(max(6.0, 0.55 * n + 2.0), 3.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(n)
    w = 0.27
    for k, (values, label, colour) in enumerate(((weight_percent, "weight SRAM", "#4e79a7"),
                                                 (membrane_percent, "membrane SRAM", "#76b7b2"),
                                                 (acc_percent, "accumulator SRAM", "#f28e2b"))):
        ax.bar(x + (k - 1) * w, values, w, label=label, color=colour, edgecolor="black", linewidth=0.3)
    ax.axhline(100, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, core_labels, rotation=0 if n <= 16 else 90, fontsize=8)
    ax.set_xlabel("core")
    ax.set_ylabel("used (% of capacity)")
    ax.set_ylim(0, 112)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18) if n > 16 else (0.5, 1.0),
              frameon=False)
    ax.grid(axis="y", alpha=0.3)
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
