"""Terminal views: the text `qsnnsim inspect`, `map` and `run` print.

Formatting only: every number shown is computed by an earlier stage and passed in.
"""

from __future__ import annotations

import json

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
    if n_bytes >= 1e6:
        return f"{n_bytes / 1e6:.2f} MB"
    if n_bytes >= 1e3:
        return f"{n_bytes / 1e3:.2f} kB"
    return f"{n_bytes:.0f} B"


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text table; ``align`` is one letter per column (l or r), numbers right by default."""
    cells = [[str(c) for c in row] for row in rows]
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
    """Headline counts of a workload (weights by bit width, neurons, dense SOPs per step)."""
    pops = {p.name: p for p in wl.populations}
    weights_by_bits: dict[int, int] = {}
    dense = 0
    for proj in wl.projections:
        if proj.n_weights:
            weights_by_bits[proj.weight_bits] = weights_by_bits.get(proj.weight_bits, 0) + proj.n_weights
        dense += dense_synaptic_ops(proj, pops[proj.source], pops[proj.target])
    lif = [p for p in wl.populations if p.kind == "lif"]
    weight_bits = sum(b * n for b, n in weights_by_bits.items())
    n_weights = sum(weights_by_bits.values())
    return {
        "weights_by_bits": dict(sorted(weights_by_bits.items())),
        "weight_storage_bits": weight_bits,
        "weight_storage_float32_bits": 32 * n_weights,
        "n_lif_populations": len(lif),
        "n_spiking_neurons": sum(p.n_neurons for p in lif),
        "dense_synaptic_ops_per_step": dense,
    }


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
            model = "readout (64-bit, no fire)"
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
            geo = f"k{proj.kernel[0]}x{proj.kernel[1]} s{proj.stride[0]} p{proj.padding[0]}"
        elif proj.kind == "sumpool2d":
            geo = f"k{proj.kernel[0]}x{proj.kernel[1]} s{proj.stride[0]}"
        elif proj.kind == "linear" and proj.global_sum_pool:
            geo = "global sum-pool"
        else:
            geo = ""
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
    dense = counts["dense_synaptic_ops_per_step"]
    out.append(f"dense synaptic operations per timestep: {fmt_count(dense)} ({fmt_si(dense)})")
    wb, fb = counts["weight_storage_bits"], counts["weight_storage_float32_bits"]
    saving = 100.0 * (1 - wb / fb) if fb else 0.0
    out.append(f"weight storage: {fmt_count(wb)} bits ({fmt_bytes(wb)}) vs float32 {fmt_count(fb)} bits "
               f"({fmt_bytes(fb)}): {saving:.1f}% smaller")
    if wl.class_names:
        out.append("classes:   " + ", ".join(wl.class_names))
    out.append("provenance: " + (json.dumps(wl.provenance, sort_keys=True) if wl.provenance else "(none)"))
    return "\n".join(out)


def format_run(run, footprint, checks: list, result_path: str) -> str:
    """The summary `qsnnsim run` prints: per sample outputs and time, then totals."""
    wl, arch = run.workload, run.arch
    names = wl.class_names
    out = [f"{wl.name} on {arch.name}: {len(run.samples)} of {wl.n_samples} sample(s), T = {wl.timesteps}, "
           f"{run.mapping.n_passes} pass(es), clock {arch.chip.clock_mhz:g} MHz"]
    rows = []
    for s, check in zip(run.samples, checks):
        def name(k):
            if k is None:
                return "-"
            return f"{k} {names[k]}" if names else str(k)
        ok = check["readout_equal"] and check["spikes_equal"]
        c = s.counters
        rows.append([
            s.sample, name(s.label), name(s.predicted), "yes" if ok else "NO",
            fmt_count(s.latency_cycles), f"{s.latency_us:,.2f}", fmt_count(c.synaptic_ops()),
            fmt_count(c.total(_action("SPIKE"))), fmt_count(c.total(_action("PACKET"))),
        ])
    out.append(table(["sample", "label", "predicted", "= golden", "latency cycles", "latency us", "SOPs",
                      "spikes", "packets"], rows, "rllrrrrrr"))
    labelled = [s for s in run.samples if s.label is not None]
    if labelled:
        correct = sum(1 for s in labelled if s.predicted == s.label)
        out.append(f"accuracy: {correct}/{len(labelled)} = {100.0 * correct / len(labelled):.2f}%")
    mean_cycles = sum(s.latency_cycles for s in run.samples) / len(run.samples)
    out.append(f"mean latency: {mean_cycles:,.0f} cycles = {mean_cycles / arch.chip.clock_mhz:,.2f} us")
    out.append(f"weights: {fmt_bytes(footprint.weight_bits)} vs float32 {fmt_bytes(footprint.float32_bits)} "
               f"({footprint.weight_saving_percent:.1f}% smaller); membranes {fmt_bytes(footprint.membrane_bits)}")
    out.append(f"result: {result_path}")
    return "\n".join(out)


def _action(name: str):
    from qsnnsim.counters import Action

    return Action[name]
