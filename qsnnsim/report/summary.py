"""The summary `qsnnsim run` prints, from a :class:`qsnnsim.run.RunRecord`, in at most 100 columns.

A few samples get one row each; many get distributions (mean, min, p95, max) and the rows
go to ``tables/samples.csv``. Names from the workload are shown printable only (control
characters and escape sequences are escaped), so a hostile name cannot drive the terminal.
Formatting only: every number comes from the record.
"""

from __future__ import annotations

import numpy as np

from qsnnsim._guard import escape_text as printable

#: Up to this many samples the summary prints one row each.
MAX_SAMPLE_ROWS = 16
WIDTH = 100


def _sig(x: float) -> str:
    return f"{x:#.4g}".rstrip(".")  # four significant digits, trailing zeros kept: 11.00, not 11


def _row_table(record) -> list[str]:
    heads = ["sample", "label", "predicted", "golden", "cycles", "us", "energy uJ", "SOPs", "spikes"]
    rows = []
    for s in record.samples:
        gold = "-" if s.matches_golden is None else ("yes" if s.matches_golden else "NO")
        rows.append([str(s.sample), "-" if s.label is None else str(s.label), str(s.predicted), gold,
                     f"{s.latency_cycles:,}", f"{s.latency_us:,.2f}", _sig(s.energy_pj / 1e6),
                     f"{s.synaptic_ops:,}", f"{s.spikes:,}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    fmt = [lambda v, w: v.rjust(w)] * len(heads)
    lines = ["  ".join(f(h, w) for f, h, w in zip(fmt, heads, widths))]
    lines += ["  ".join(f(v, w) for f, v, w in zip(fmt, r, widths)) for r in rows]
    return lines


def _distribution(name: str, values, unit: str, fmt=_sig) -> str:
    v = np.asarray(values, float)
    return (f"  {name:<22} mean {fmt(v.mean())}  min {fmt(v.min())}  p95 {fmt(np.percentile(v, 95))}  "
            f"max {fmt(v.max())} {unit}").rstrip()


def format_summary(record, result_path: str | None = None, report_path: str | None = None) -> str:
    """The text `qsnnsim run` prints for ``record``; every line at most :data:`WIDTH` columns."""
    from qsnnsim.energy import COMPONENT_LABELS

    n = len(record.samples)
    out = [f"{printable(record.workload_name)} on {printable(record.arch_name)}: {n} sample(s), "
           f"T = {record.timesteps}, {record.n_passes} pass(es), {record.clock_mhz:g} MHz"]
    if record.is_calibrated:
        out.append("note: this workload is calibrated, not trained: its predictions mean nothing")
    if n <= MAX_SAMPLE_ROWS:
        out += _row_table(record)
    else:
        out.append(f"per sample ({n} samples; one row each in tables/samples.csv):")
        out.append(_distribution("latency (cycles)", [s.latency_cycles for s in record.samples], "",
                                 lambda x: f"{x:,.0f}"))
        out.append(_distribution("energy (uJ)", [s.energy_pj / 1e6 for s in record.samples], "uJ"))
        out.append(_distribution("synaptic ops", [s.synaptic_ops for s in record.samples], "",
                                 lambda x: f"{x:,.0f}"))
    if record.accuracy is not None:
        out.append(f"accuracy: {record.n_correct}/{record.n_labelled} = {100 * record.accuracy:.2f}%")
    if record.n_checked == 0:
        out.append("golden-model check: not run (--check none)")
    elif record.all_match:
        scope = "every sample" if record.n_checked == n else f"{record.n_checked} of {n} samples (--check first)"
        out.append(f"golden-model check: {scope} bit-exact")
    else:
        bad = [str(s.sample) for s in record.samples if s.matches_golden is False]
        out.append(f"golden-model check: NOT bit-exact on sample(s) {', '.join(bad)}")
    out.append(f"latency: mean {record.latency_cycles_mean:,.0f} cycles = {record.latency_us_mean:,.2f} us")
    if record.bottleneck:
        head, _, rest = record.bottleneck.partition("; next: ")
        out.append(f"  {head}")
        if rest:
            out.append(f"    next: {rest}")
    e_uj = record.energy_per_inference_pj / 1e6
    sops = record.synaptic_ops_per_inference
    per_sop = f", {record.energy_per_inference_pj / sops:#.3g}".rstrip(".") + " pJ/SOP" if sops else ""
    out.append(f"energy per inference: {_sig(e_uj)} uJ mean; {sops:,.0f} SOPs{per_sop}")
    total = sum(record.energy_components_pj.values())
    top = sorted(record.energy_components_pj.items(), key=lambda kv: kv[1], reverse=True)[:3]
    if total:
        out.append("  top components: " + ", ".join(f"{COMPONENT_LABELS[c]} {100 * v / total:.1f}%"
                                                     for c, v in top if v))
    saving = 100 * (1 - record.weight_bits / record.float32_weight_bits) if record.float32_weight_bits else 0.0
    out.append(f"weights: {_bytes(record.weight_bits)} vs float32 {_bytes(record.float32_weight_bits)} "
               f"({saving:.1f}% smaller); membranes {_bytes(record.membrane_bits)}; "
               f"mapped SRAM {_bytes(record.mapped_sram_bits)}")
    if result_path:
        out.append(f"result: {printable(result_path)}")
    if report_path:
        out.append(f"report: {printable(report_path)}")
    return "\n".join(line if line.startswith(("result: ", "report: ")) else _fit(line) for line in out)


def _bytes(bits: int) -> str:
    n = bits / 8
    if n >= 1e5:
        return f"{n / 1e6:.2f} MB"
    if n >= 1e3:
        return f"{n / 1e3:.2f} kB"
    return f"{n:.0f} B"


def _fit(line: str) -> str:
    """A line cut to :data:`WIDTH` columns (paths and names can be long)."""
    return line if len(line) <= WIDTH else line[:WIDTH - 3] + "..."
