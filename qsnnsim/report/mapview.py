"""Terminal view of a mapping and its footprint: the text `qsnnsim map` prints.

Formatting only: the slices, their cores and every bit count come from
:mod:`qsnnsim.mapping` and :mod:`qsnnsim.footprint`.
"""

from __future__ import annotations

from qsnnsim._guard import escape_lines
from qsnnsim.arch import ArchSpec
from qsnnsim.footprint import Footprint
from qsnnsim.mapping import Mapping
from qsnnsim.report.terminal import fmt_bytes, fmt_count, table

# Meshes wider than this are drawn one character per core instead of one cell per core.
_WIDE_MESH_COLS = 8
# Per-core slice lists are printed only for mappings up to this many slices.
_MAX_LISTED_SLICES = 120


def _pct(fraction: float) -> str:
    return f"{round(100 * fraction):d}%"


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
    out, run = [], []
    for v in sorted(set(values)):
        if run and v == run[-1] + 1:
            run.append(v)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [v]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _cell_grid(mapping: Mapping, footprint: Footprint, pass_index: int) -> list[str]:
    """One two-line cell per core: weight%/membrane% and accumulator% with the slice count."""
    width = 15
    lines = [
        "       "
        + "".join(f"col {c}".ljust(width) for c in range(mapping.mesh_cols)).rstrip()
    ]
    for r in range(mapping.mesh_rows):
        top, bottom = [], []
        for c in range(mapping.mesh_cols):
            cf = footprint.core(r * mapping.mesh_cols + c, pass_index)
            if cf.n_slices == 0:
                top.append("-".ljust(width))
                bottom.append("".ljust(width))
                continue
            top.append(
                f"w{_pct(cf.weight.fraction):>5} m{_pct(cf.membrane.fraction):>5}".ljust(
                    width
                )
            )
            bottom.append(
                f"a{_pct(cf.acc.fraction):>5} {cf.n_slices:>2}sl".ljust(width)
            )
        lines.append(f"row {r:<3}" + "".join(top).rstrip())
        lines.append("       " + "".join(bottom).rstrip())
    return lines


def _char_grid(mapping: Mapping, footprint: Footprint, pass_index: int) -> list[str]:
    """One character per core: the fullest of its SRAMs in tenths ('.' idle, '#' full)."""
    lines = []
    for r in range(mapping.mesh_rows):
        row = []
        for c in range(mapping.mesh_cols):
            cf = footprint.core(r * mapping.mesh_cols + c, pass_index)
            if cf.n_slices == 0:
                row.append(".")
                continue
            full = max(cf.weight.fraction, cf.membrane.fraction, cf.acc.fraction)
            row.append("#" if full >= 0.995 else str(min(9, int(10 * full))))
        lines.append(f"row {r:<3} " + "".join(row))
    return lines


def format_mapping(mapping: Mapping, footprint: Footprint, arch: ArchSpec) -> str:
    """The text of `qsnnsim map`: passes, a mesh picture of SRAM use per core, slices, footprint.

    Parameters
    ----------
    mapping : Mapping
        From :func:`qsnnsim.mapping.map_workload`.
    footprint : Footprint
        From :func:`qsnnsim.footprint.compute_footprint` for the same mapping.
    arch : ArchSpec
        The architecture mapped onto.

    Returns
    -------
    str
    """
    out = []
    n_used = len({(s.pass_index, s.core) for s in mapping.slices})
    row, col = mapping.core_position(mapping.core_of_input)
    out.append(
        f"mapping of {mapping.workload_name} onto {arch.name}: {mapping.mesh_rows}x{mapping.mesh_cols} mesh "
        f"({mapping.n_cores} cores), strategy {mapping.strategy}"
    )
    if mapping.n_passes == 1:
        passes = ("1 pass: no passes needed, the whole network is resident on chip" if arch.system.n_chips == 1
                  else f"1 pass: no passes needed, the whole network is resident on the {arch.system.n_chips} chips")
    else:
        passes = (
            f"{mapping.n_passes} passes: the network does not fit on chip at once; each pass runs all "
            f"timesteps of its slices, with weights loaded and boundary spikes moved through off-chip memory"
        )
    out.append(passes)
    out.append(
        f"{len(mapping.slices)} slices on {n_used} core-passes; input injected at core {mapping.core_of_input} "
        f"(router [{row}, {col}]) into {len(mapping.input_destinations)} slices"
    )
    if arch.system.n_chips > 1:
        out += _system_lines(mapping, arch)
    for p in range(mapping.n_passes):
        out.append("")
        if mapping.mesh_cols > _WIDE_MESH_COLS:
            out.append(
                f"pass {p}: fullest SRAM per core in tenths (. idle, 0-9, # full)"
            )
            out.extend(_char_grid(mapping, footprint, p))
        else:
            out.append(
                f"pass {p}: SRAM use per core (w weight, m membrane, a accumulator; sl slices)"
            )
            out.extend(_cell_grid(mapping, footprint, p))

    out.append("")
    rows = []
    for name in dict.fromkeys(s.population for s in mapping.slices):
        mine = mapping.slices_of(name)
        passes_of = sorted({s.pass_index for s in mine})
        widest = max(s.n_neurons for s in mine)
        if any(s.is_row_range for s in mine):
            cut = "row ranges"
        else:
            cut = (
                f"{min(s.n_channels for s in mine)}-{max(s.n_channels for s in mine)} ch"
                if len({s.n_channels for s in mine}) > 1
                else f"{mine[0].n_channels} ch"
            )
        rows.append(
            [
                name,
                fmt_count(sum(s.n_neurons for s in mine)),
                len(mine),
                cut,
                fmt_count(widest),
                _ranges([s.core for s in mine]),
                _ranges(passes_of),
            ]
        )
    out.append(
        table(
            [
                "population",
                "neurons",
                "slices",
                "per slice",
                "max neurons",
                "cores",
                "pass",
            ],
            rows,
            "lrrlrll",
        )
    )

    if len(mapping.slices) <= _MAX_LISTED_SLICES:
        out.append("")
        rows = []
        for p in range(mapping.n_passes):
            for core in range(mapping.n_cores):
                here = mapping.slices_on(core, p)
                if here:
                    r, c = mapping.core_position(core)
                    rows.append(
                        [
                            f"{core}",
                            f"({r},{c})",
                            str(p),
                            " ".join(s.label for s in here),
                        ]
                    )
        out.append(table(["core", "(row,col)", "pass", "slices"], rows, "lllll"))

    out.append("")
    out.append(format_footprint(footprint, arch))
    return escape_lines("\n".join(out))


def format_footprint(footprint: Footprint, arch: ArchSpec) -> str:
    """The footprint table: model size vs float32, membranes, mapped SRAM, buffers."""
    f = footprint
    core = arch.core
    by_bits = " + ".join(
        f"{fmt_count(n)} x {b}-bit" for b, n in f.weights_by_bits.items()
    )
    at_widths = ", ".join(
        f"{fmt_bytes(f.membrane_bits_at(b))} at {b} bits" for b in (2, 4, 8, 16)
    )
    mean_bits = f.membrane_bits / f.n_lif_neurons if f.n_lif_neurons else 0
    mapped = f.mapped_weight_bits
    padding = 100.0 * (1 - f.stored_weight_bits / mapped) if mapped else 0.0
    chip_bits = (
        f.chip_weight_capacity_bits
        + f.chip_membrane_capacity_bits
        + f.chip_acc_capacity_bits
    )

    whole = "chip" if arch.system.n_chips == 1 else "system"

    def of_chip(bits: int, capacity: int) -> str:
        return f"{_pct(bits / capacity / f.n_passes)} of {whole}"

    notes = [
        ("weights (model size)", f.weight_bits, by_bits or "none"),
        (
            "same network in float32",
            f.float32_bits,
            (
                f"{fmt_count(f.float32_params)} params: weights + "
                f"{fmt_count(f.batchnorm_params)} BatchNorm + {fmt_count(f.bias_params)} bias"
            ),
        ),
        (
            "membranes (LIF)",
            f.membrane_bits,
            f"{fmt_count(f.n_lif_neurons)} neurons x {mean_bits:g} bits ({at_widths})",
        ),
        (
            "readout state",
            f.readout_state_bits,
            f"{fmt_count(f.n_readout_neurons)} neurons x 64 bits",
        ),
        (
            "scale/threshold params",
            f.scale_param_bits,
            "mult 25 + shift 5 bits per projection channel; threshold, bias 32 bits per channel",
        ),
        (
            "identity codes",
            f.identity_code_bits,
            "residual scale codes, not synaptic weights",
        ),
        (
            "mapped weight SRAM",
            mapped,
            f"{fmt_count(f.stored_weight_bits)} bits of codes, {padding:.1f}% row padding; "
            + of_chip(mapped, f.chip_weight_capacity_bits),
        ),
        (
            "mapped membrane SRAM",
            f.mapped_membrane_bits,
            of_chip(f.mapped_membrane_bits, f.chip_membrane_capacity_bits),
        ),
        (
            "mapped accumulator SRAM",
            f.mapped_acc_bits,
            "one accumulator per neuron per incoming projection; "
            + of_chip(f.mapped_acc_bits, f.chip_acc_capacity_bits),
        ),
        (
            "spike buffers",
            f.spike_buffer_bits,
            f"{arch.n_cores} cores x {core.spike_buffer_packets} one-flit packets x {arch.noc.flit_bits} bits",
        ),
        (
            "chip SRAM capacity" if arch.system.n_chips == 1 else f"system SRAM capacity ({arch.system.n_chips} chips)",
            chip_bits,
            (
                f"per core {core.weight_sram.capacity_kib:g} + "
                f"{core.membrane_sram.capacity_kib:g} + {core.acc_sram.capacity_kib:g} KiB "
                "(weight + membrane + accumulator)"
            ),
        ),
    ]
    if f.n_passes > 1:
        notes.append(
            (
                "off-chip weight reload",
                f.offchip_weight_bits_per_sample,
                f"per sample, {f.n_passes} passes",
            )
        )
    rows = [
        [label, fmt_count(bits), fmt_bytes(bits), note] for label, bits, note in notes
    ]
    out = [table(["memory", "bits", "size", "note"], rows, "lrrl")]
    out.append("")
    out.append(
        f"weights: {fmt_bytes(f.weight_bits)} vs {fmt_bytes(f.float32_bits)} in float32: "
        f"{f.weight_saving_percent:.1f}% smaller; membranes {fmt_bytes(f.membrane_bits)} "
        "(reported separately)"
    )
    return escape_lines("\n".join(out))


def _system_lines(mapping: Mapping, arch: ArchSpec) -> list[str]:
    """A system of chips: the chips, their links, and what each chip holds (DESIGN §12)."""
    from qsnnsim.system import chip_holdings, chip_link_latency_cycles, chip_link_packet_cycles

    system, link = arch.system, arch.system.link
    lines = [f"system: {system.chip_rows}x{system.chip_cols} chips of {arch.chip.mesh_rows}x{arch.chip.mesh_cols} "
             f"cores; chip-to-chip links {link.bandwidth_bits_per_cycle.value:g} bits/cycle "
             f"({chip_link_packet_cycles(arch)} cycle(s) per packet), {chip_link_latency_cycles(arch)} cycles, "
             f"{link.pj_per_bit.value:g} pJ/bit; host at chip {list(system.io_chip)}"]
    word = arch.core.weight_sram.word_bits
    for row in chip_holdings(mapping, arch):
        pops = ", ".join(row["populations"][:4]) + (" ..." if len(row["populations"]) > 4 else "")
        lines.append(f"  chip {row['chip']} {tuple(row['position'])}: {row['slices']} slices, "
                     f"{row['neurons']:,} neurons, {row['weight_words'] * word / 8 / 1024:,.1f} KiB weights"
                     + (f" ({pops})" if pops else " (idle)"))
    return lines
