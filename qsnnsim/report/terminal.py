"""Terminal views: the text `qsnnsim inspect`, `map` and `run` print.

Formatting only: every number shown is computed by an earlier stage and passed in. Every
line is passed through :func:`qsnnsim._guard.escape_text`, so a name from a file can never
send an escape sequence or a lone surrogate to the terminal.
"""

from __future__ import annotations

import numpy as np

import json

from qsnnsim._guard import escape_lines, escape_text
from qsnnsim.footprint import model_size
from qsnnsim.workload import Workload, dense_synaptic_ops


def fmt_count(n: int) -> str:
    """12550144 -> '12,550,144'."""
    return f"{int(n):,}"


def fmt_si(x: float, unit: str = "") -> str:
    """2285240320 -> '2.285 G' (three decimals, SI prefix)."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3f} {prefix}{unit}"
    return f"{x:g} {unit}".rstrip()


def fmt_bytes(bits: int) -> str:
    """Bits as decimal megabytes/kilobytes (the seed paper's MB are 10^6 bytes)."""
    n_bytes = bits / 8
    if n_bytes >= 1e5:  # from 0.10 MB on, in MB as the seed paper writes model sizes (0.36 MB)
        return f"{n_bytes / 1e6:.2f} MB"
    if n_bytes >= 1e3:
        return f"{n_bytes / 1e3:.2f} kB"
    return f"{n_bytes:.0f} B"


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text table; ``align`` is one letter per column (l or r), numbers right by default."""
    cells = [[escape_text(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    def line(values):
        out = []
        for v, w, a in zip(values, widths, align):
            out.append(v.ljust(w) if a == "l" else v.rjust(w))
        return "  ".join(out).rstrip()
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in cells])


def workload_counts(wl: Workload) -> dict:
    """Headline counts of a workload (weights by bit width, neurons, synaptic ops per step)."""
    size = model_size(wl)
    return {
        "weights_by_bits": size.weights_by_bits,
        "weight_storage_bits": size.weight_bits,
        "weight_storage_float32_bits": size.float32_bits,
        "float32_params": size.float32_params,
        "n_lif_populations": size.n_lif_populations,
        "n_spiking_neurons": size.n_lif_neurons,
        "weighted_synaptic_ops_per_step": size.weighted_synaptic_ops_per_step,
        "dense_synaptic_ops_per_step": size.all_synaptic_ops_per_step,
        "membrane_bits": size.membrane_bits,
    }


def _dialect_model(pop) -> str:
    """A dialect population's neuron model in one cell: dialect, state widths, spike, parameters."""
    spec = pop.neuron
    state = ", ".join(f"{name} {bits}b" for name, bits in spec.state_vars(pop) if bits)
    spike = f"counts <= {spec.spike_max}" if spec.graded else "1-bit spikes"
    params = []
    for param in spec.params:
        value = pop.params[param.name]
        lo, hi = int(np.min(value)), int(np.max(value))
        params.append(f"{param.name} {lo}" if lo == hi else f"{param.name} {lo}..{hi}")
    return f"{spec.name}: {state}, {spike}; " + ", ".join(params)


def format_workload(wl: Workload, path: str = "") -> str:
    """The text of `qsnnsim inspect`: populations, projections, totals, provenance."""
    pops = {p.name: p for p in wl.populations}
    counts = workload_counts(wl)
    out = [f"workload {wl.name}" + (f"  ({path})" if path else "")]
    out.append(
        f"T = {wl.timesteps} timesteps, input {wl.input_kind} {wl.input_population.shape}, "
        f"{wl.n_samples} sample(s)" + (", labelled" if wl.labels is not None else "")
    )
    out.append("")
    rows = []
    for p in wl.populations:
        if p.kind == "input":
            model = f"{wl.input_kind} input"
        elif p.kind == "readout":
            model = "readout (64-bit, no fire)" if p.neuron.name == "readout" else \
                f"{p.neuron.name} ({', '.join(n for n, _ in p.neuron.state_vars(p))} 64-bit, no fire)"
        elif p.neuron.params:
            model = _dialect_model(p)
        else:
            model = (f"{p.membrane_bits}-bit m, decay {p.decay_mult}>>{p.decay_shift}, "
                     f"{p.reset} reset, {'>' if p.fire_cmp == 'gt' else '>='} theta")
        rows.append([p.name, p.kind, "x".join(map(str, p.shape)), fmt_count(p.n_neurons), model])
    out.append(table(["population", "kind", "shape", "neurons", "neuron model"], rows, "lllrl"))
    out.append("")
    rows = []
    for proj in wl.projections:
        src, tgt = pops[proj.source], pops[proj.target]
        if proj.kind == "conv2d":
            geo = (f"k{proj.kernel[0]}x{proj.kernel[1]} s{proj.stride[0]} p{proj.padding[0]}" if proj.stride[0] == proj.stride[1]
                   and proj.padding[0] == proj.padding[1] else f"k{proj.kernel[0]}x{proj.kernel[1]} "
                   f"s{proj.stride[0]}x{proj.stride[1]} p{proj.padding[0]}x{proj.padding[1]}")
        elif proj.kind == "sumpool2d":
            geo = f"k{proj.kernel[0]}x{proj.kernel[1]} s{proj.stride[0]}"
        elif proj.kind == "linear" and proj.global_sum_pool:
            geo = "global sum-pool"
        else:
            geo = ""
        if proj.delay:
            geo = f"{geo}, delay {proj.delay}" if geo else f"delay {proj.delay}"
        bits = f"{proj.weight_bits}" if proj.weights is not None else "-"
        rows.append([
            proj.name, proj.kind, geo, bits, fmt_count(proj.n_weights),
            fmt_count(2 * proj.mult.size + (proj.weights.size if proj.kind == "identity" else 0)),
            proj.acc_bits, fmt_count(dense_synaptic_ops(proj, src, tgt)),
        ])
    out.append(table(["projection", "kind", "geometry", "w bits", "weights", "scale params", "acc bits", "dense SOP/step"],
                     rows, "llllrrrr"))
    out.append("")
    parts = [f"{fmt_count(n)} {b}-bit weights" for b, n in counts["weights_by_bits"].items()]
    out.append("weights:   " + (" and ".join(parts) if parts else "none"))
    out.append(f"neurons:   {fmt_count(counts['n_spiking_neurons'])} spiking neurons in "
               f"{counts['n_lif_populations']} LIF populations")
    weighted = counts["weighted_synaptic_ops_per_step"]
    dense = counts["dense_synaptic_ops_per_step"]
    out.append(f"dense synaptic operations per timestep: {fmt_count(weighted)} ({fmt_si(weighted)}; conv and "
               f"linear synapses as SNN papers count them)")
    out.append(f"  all synaptic operations if every neuron fired: {fmt_count(dense)} ({fmt_si(dense)}; with "
               f"shortcuts, pooling and per-position readout adds)")
    wb, fb = counts["weight_storage_bits"], counts["weight_storage_float32_bits"]
    saving = 100.0 * (1 - wb / fb) if fb else 0.0
    out.append(f"weight storage: {fmt_count(wb)} bits ({fmt_bytes(wb)}) vs float32 {fmt_count(fb)} bits "
               f"({fmt_bytes(fb)}; weights + BatchNorm gamma/beta + linear biases): {saving:.1f}% smaller")
    mb = counts["membrane_bits"]
    out.append(f"membrane storage: {fmt_count(mb)} bits ({fmt_bytes(mb)}) for the LIF neurons")
    if wl.class_names:
        out.append("classes:   " + ", ".join(wl.class_names))
    if not wl.provenance:
        out.append("provenance: (none)")
    else:
        out.append("provenance:")
        for key in sorted(wl.provenance):
            value = wl.provenance[key]
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            out.append(escape_text(f"  {key}: {text}"))  # a newline in a note stays on its line
    return escape_lines("\n".join(out))
