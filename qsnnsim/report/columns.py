"""Report schema, defined once: every table a report shows or writes is a dataclass here.

A field's name is the column's machine name, with its unit as the suffix (``latency_us``,
``energy_uj``, ``soma_busy_percent``); the human header is derived from it
(``latency (us)``). Markdown, HTML, CSV and the terminal all take their headers and cell
formats from these classes, and :func:`read_csv` reads a written table back into them, so
no writer or reader types a header by hand.

Energies in tables are uJ (``_uj``), except where a row shows a count x a pJ table value,
which stays in pJ so the product can be checked by eye.
"""

from __future__ import annotations

import csv
import html
import math
import typing
from dataclasses import MISSING, dataclass, field, fields, make_dataclass

from qsnnsim._guard import escape_text
from qsnnsim.energy import (
    COMPONENT_LABELS,
    COMPONENTS,
    DYNAMIC_COMPONENTS,
    PAPER_AC_PJ,
    PAPER_MAC_PJ,
    PAPER_SOURCE,
    EnergyBreakdown,
    RunEnergy,
    describe,
    written_energy,
)

#: Name suffix -> unit shown in a header (longest suffix first).
UNIT_SUFFIXES = (
    ("_pj_per_sop", "pJ/SOP"), ("_per_s", "1/s"), ("_percent", "%"), ("_cycles", "cycles"),
    ("_pj", "pJ"), ("_uj", "uJ"), ("_us", "us"), ("_uw", "uW"), ("_mw", "mW"), ("_bits", "bits"),
    ("_mb", "MB"), ("_kib", "KiB"), ("_words", "words"), ("_flits", "flits"),
)
_UJ = 10**6  # pJ per uJ
#: ``component`` of the last row of :func:`component_rows`.
TOTAL_LABEL = "total"
_FORMATS = ("text", "count", "sig", "pct", "fixed2", "repr")


def column(fmt: str = "text", doc: str = "", default=MISSING):
    """A field that is a report column.

    Parameters
    ----------
    fmt : str
        How a cell is shown: ``text`` (as is), ``count`` (integer with thousands separators),
        ``sig`` (4 significant digits, no exponent), ``pct`` (one decimal), ``fixed2``
        (two decimals) or ``repr`` (full precision).
    doc : str
        What the column holds (shown in docs/results-format.md and as an HTML tooltip).
    """
    if fmt not in _FORMATS:
        raise ValueError(f"unknown column format {fmt!r}")
    meta = {"fmt": fmt, "doc": doc}
    if default is MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def header(name: str) -> str:
    """``energy_per_inference_uj`` -> ``energy per inference (uJ)``."""
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)].replace("_", " ") + f" ({unit})"
    return name.replace("_", " ")


def fmt_sig(x: float, digits: int = 4) -> str:
    """``22413097.4`` -> ``22,413,097``; ``0.0012345`` -> ``0.001235``: ``digits`` significant digits."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def fmt_cell(value, fmt: str) -> str:
    """One cell as shown (``-`` for a missing value)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if fmt == "count":
        if isinstance(value, float) and not value.is_integer():
            return fmt_sig(value)
        return f"{int(value):,}"
    if fmt == "sig":
        return fmt_sig(float(value))
    if fmt == "pct":
        return f"{float(value):.1f}"
    if fmt == "fixed2":
        return f"{float(value):,.2f}"
    if fmt == "repr":
        return repr(value)
    return str(value)


def names(cls, only: tuple | None = None) -> list[str]:
    """Column names of a row class (all, or ``only`` those, in class order)."""
    all_names = [f.name for f in fields(cls)]
    if only is None:
        return all_names
    unknown = set(only) - set(all_names)
    if unknown:
        raise KeyError(f"{cls.__name__} has no column(s) {sorted(unknown)}")
    return [n for n in all_names if n in only]


def headers(cls, only: tuple | None = None) -> list[str]:
    return [header(n) for n in names(cls, only)]


def docs(cls) -> dict[str, str]:
    return {f.name: f.metadata.get("doc", "") for f in fields(cls)}


def cells(row, only: tuple | None = None) -> list[str]:
    by_name = {f.name: f for f in fields(row)}
    return [fmt_cell(getattr(row, n), by_name[n].metadata.get("fmt", "text")) for n in names(type(row), only)]


def aligns(cls, only: tuple | None = None) -> str:
    """``l`` for text columns, ``r`` for numbers (for :func:`qsnnsim.report.terminal.table`)."""
    by_name = {f.name: f for f in fields(cls)}
    return "".join("l" if by_name[n].metadata.get("fmt", "text") == "text" else "r" for n in names(cls, only))


# --------------------------------------------------------------------------- writers and reader


def markdown_table(rows: list, cls, only: tuple | None = None) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""
    def esc(text: str, align: str) -> str:
        # Text cells may hold names from a file; formatted numbers are shown as they are.
        return (markdown_text(text) if align == "l" else escape_text(text).replace("|", "\\|")).replace("\n", " ")

    heads = headers(cls, only)
    marks = ["---:" if a == "r" else ":---" for a in aligns(cls, only)]
    lines = ["| " + " | ".join(heads) + " |", "| " + " | ".join(marks) + " |"]
    al = aligns(cls, only)
    lines += ["| " + " | ".join(esc(c, a) for c, a in zip(cells(r, only), al)) + " |" for r in rows]
    return "\n".join(lines)


_MARKDOWN_SPECIAL = "\\`<>[]|&!"


def markdown_text(text) -> str:
    """``text`` shown literally in Markdown: punctuation Markdown or HTML would act on is
    backslash-escaped, and control characters and lone surrogates are escaped as in the terminal."""
    text = escape_text(text)
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)


def csv_cell(value):
    """A CSV cell: text that starts like a spreadsheet formula (``=``, ``+``, ``-``, ``@``, tab,
    carriage return) gets a leading ``'`` so no spreadsheet evaluates it; numbers stay numbers."""
    if isinstance(value, str):
        value = escape_text(value)
        if value[:1] in _FORMULA_STARTS:
            return "'" + value
    return value


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def html_table(rows: list, cls, only: tuple | None = None) -> str:
    """An HTML ``<table>`` (header tooltips carry each column's doc)."""
    col_docs = docs(cls)
    heads = "".join(f'<th title="{html.escape(col_docs[n])}">{html.escape(header(n))}</th>' for n in names(cls, only))
    body = []
    for r in rows:
        tds = "".join(f'<td class="{"num" if a == "r" else "txt"}">{html.escape(escape_text(c))}</td>'
                      for c, a in zip(cells(r, only), aligns(cls, only)))
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_csv(path: str, rows: list, cls) -> None:
    """CSV with the column names as the header row and full-precision values."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names(cls))
        for r in rows:
            writer.writerow(["" if getattr(r, n) is None else csv_cell(getattr(r, n)) for n in names(cls)])


def _parser(tp):
    args = typing.get_args(tp)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), tp) if args else tp

    def parse(text: str):
        if text == "" and (optional or base is not str):
            return None
        if base is int:
            return int(text)
        if base is float:
            return float(text)
        if text[:1] == "'" and text[1:2] in _FORMULA_STARTS:
            return text[1:]  # undo csv_cell's guard
        return text

    return parse


def read_csv(path: str, cls) -> list:
    """Read a table :func:`write_csv` wrote back into ``cls`` rows.

    Raises
    ------
    ValueError
        When the header row is not ``cls``'s column names.
    """
    hints = typing.get_type_hints(cls)
    parsers = {n: _parser(hints[n]) for n in names(cls)}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        head = next(reader, None)
        if head != names(cls):
            raise ValueError(f"{path}: header {head} is not {cls.__name__}'s columns {names(cls)}")
        return [cls(**{n: parsers[n](v) for n, v in zip(head, line)}) for line in reader]


# --------------------------------------------------------------------------- the tables


def _energy_columns(components: tuple, doc: str) -> list:
    cols = [(f"{c}_uj", float, column("sig", f"{c.replace('_', ' ')}: {doc}")) for c in components]
    return cols + [("total_uj", float, column("sig", f"sum of the components: {doc}"))]


@dataclass(frozen=True)
class SampleRow:
    """One simulated sample."""

    sample: int = column("count", "sample index in the workload")
    label: str = column("text", "the workload's label (index and class name), '-' if unlabelled")
    predicted: str = column("text", "argmax of the readout (index and class name)")
    matches_golden: str = column("text", "'yes' when spikes and readout equal the golden model's")
    latency_cycles: int = column("count", "cycles to the readout's last fire")
    latency_us: float = column("fixed2", "latency_cycles / clock_mhz")
    energy_uj: float = column("sig", "energy of this inference: dynamic + leakage")
    synaptic_ops: int = column("count", "SOPs: synaptic_add + mac8 + mac16")
    energy_pj_per_sop: float | None = column("sig", "energy / SOPs")
    average_power_mw: float | None = column("sig", "energy / latency")
    throughput_per_s: float | None = column("sig", "1 / latency: inferences per second, one at a time")
    spikes: int = column("count", "spikes fired by all LIF populations")
    packets: int = column("count", "packets sent on the NoC (spikes, analog values, markers)")
    paper_estimate_uj: float = column("sig", "synaptic_add x 0.9 pJ + MACs x 4.6 pJ (45 nm, Horowitz 2014)")


@dataclass(frozen=True)
class StatRow:
    """One quantity over the samples of a run."""

    quantity: str = column("text", "what is measured")
    unit: str = column("text", "its unit")
    mean: float = column("sig", "mean over samples")
    min: float = column("sig", "smallest sample")
    max: float = column("sig", "largest sample")
    p95: float = column("sig", "95th percentile (numpy linear interpolation)")


@dataclass(frozen=True)
class ComponentRow:
    """One energy component, per inference over the samples and in whole pJ over the run; the
    last row is the total."""

    component: str = column("text", "energy component (docs/energy-model.md)")
    counters: str = column("text", "the counters (or leakage entries) it sums")
    mean_uj: float = column("sig", "mean per inference")
    share_percent: float = column("pct", "share of the mean total")
    min_uj: float = column("sig", "smallest sample")
    max_uj: float = column("sig", "largest sample")
    p95_uj: float = column("sig", "95th percentile over samples")
    all_samples_pj: int = column("count", "all samples together, whole pJ as result.json's run components_pj: "
                                          "the sum of its energy-table terms, each rounded to the nearest pJ per "
                                          "sample; the rows add up to the total row exactly")


@dataclass(frozen=True)
class TermRow:
    """One energy-table entry: quantity x value = energy, with the value's source."""

    component: str = column("text", "energy component")
    entry: str = column("text", "energy-table entry of the arch file")
    counter: str = column("text", "the counter it multiplies ('-' for leakage)")
    quantity: float = column("count", "counted actions or bits; for leakage KiB x us, cores x us or routers x us")
    quantity_unit: str = column("text", "unit of the quantity")
    value: float = column("repr", "the table value")
    value_unit: str = column("text", "pJ, pJ/bit, uW/KiB or uW")
    energy_pj: float = column("count", "quantity x value")
    share_percent: float = column("pct", "share of the total")
    source: str = column("text", "citation of the value, from the arch file")


@dataclass(frozen=True)
class ComparisonRow:
    """The simulator's energy beside the estimate SNN papers quote."""

    estimate: str = column("text", "what is counted")
    energy_uj: float = column("sig", "mean per inference")
    relative_to_simulator_percent: float = column("pct", "as a share of the simulator's total")
    note: str = column("text", "how it is computed or what it leaves out")


SampleEnergyRow = make_dataclass(
    "SampleEnergyRow", [("sample", int, column("count", "sample index"))]
    + _energy_columns(COMPONENTS, "energy of this sample"), frozen=True)
SampleEnergyRow.__doc__ = "One sample's energy by component (uJ)."
SampleEnergyRow.__module__ = __name__

LayerRow = make_dataclass(
    "LayerRow",
    [("population", str, column("text", "population (layer)")),
     ("kind", str, column("text", "input, lif or readout")),
     ("neurons", int, column("count", "neurons")),
     ("spikes", float, column("count", "spikes per inference (mean over samples)")),
     ("firing_rate_percent", float | None, column("pct", "spikes / (neurons x T)")),
     ("synaptic_ops", float, column("count", "SOPs into this population per inference (mean)")),
     ("soma_busy_cycles", float, column("count", "soma cycles firing this population, all cores (mean)")),
     ("integrate_busy_cycles", float, column("count", "integrate cycles spent on packets of this population's "
                                                      "spikes, all cores (mean)"))]
    + _energy_columns(DYNAMIC_COMPONENTS, "dynamic energy per inference (mean over samples)"), frozen=True)
LayerRow.__doc__ = "One population: activity and dynamic energy per inference (leakage is the chip's)."
LayerRow.__module__ = __name__

TimestepRow = make_dataclass(
    "TimestepRow",
    [("timestep", int, column("count", "timestep t")),
     ("spikes", float, column("count", "spikes at t per inference (mean)")),
     ("synaptic_ops", float, column("count", "SOPs at t per inference (mean)"))]
    + _energy_columns(DYNAMIC_COMPONENTS, "dynamic energy at t per inference (mean)"), frozen=True)
TimestepRow.__doc__ = "One timestep: activity and dynamic energy per inference."
TimestepRow.__module__ = __name__


@dataclass(frozen=True)
class CoreRow:
    """One core (or the host interface): time and energy per inference, over the samples."""

    core: str = column("text", "core id (row * mesh_cols + col), or 'host' for the off-chip/host interface")
    position: str = column("text", "(row, col) on the mesh; on a system of chips, chip c (row, col) on its chip")
    slices: int = column("count", "slices mapped on the core (all passes)")
    soma_busy_percent: float | None = column("pct", "soma (fire) busy cycles / latency")
    integrate_busy_percent: float | None = column("pct", "integrate busy cycles / latency")
    ejection_stall_cycles: float = column("count", "cycles packets waited for a full spike buffer (mean)")
    link_wait_cycles: float = column("count", "cycles trains waited for a link of this core's router (mean): its "
                                              "injection port, mesh outputs and ejection port, and at the io "
                                              "core the host port")
    dynamic_uj: float = column("sig", "dynamic energy per inference (mean)")
    leakage_uj: float = column("sig", "leakage of its SRAM, logic and router per inference (mean)")
    total_uj: float = column("sig", "dynamic + leakage")


@dataclass(frozen=True)
class ChipRow:
    """One chip of a system (DESIGN §12): what it holds and what it costs per inference."""

    chip: int = column("count", "chip id (chip row * chip cols + chip col)")
    position: str = column("text", "(row, col) in the mesh of chips")
    slices: int = column("count", "slices on its cores (all passes)")
    neurons: int = column("count", "neurons of those slices")
    weight_kib: float = column("sig", "weight SRAM they use, KiB")
    dynamic_uj: float = column("sig", "dynamic energy of its cores per inference (mean)")
    leakage_uj: float = column("sig", "leakage of its cores per inference (mean)")


@dataclass(frozen=True)
class ChipLinkRow:
    """One chip-to-chip link: what it carries per inference."""

    link: str = column("text", "a->b: from router a to router b (core ids of the system's grid)")
    chips: str = column("text", "from chip -> to chip")
    flits: float = column("fixed2", "packets carried per inference (mean)")
    bits: float = column("sig", "bits carried per inference (flits x noc.flit_bits)")
    energy_uj: float = column("sig", "bits x system.link.pj_per_bit, per inference")


@dataclass(frozen=True)
class CriticalRow:
    """One unit's share of a traced sample's critical path (docs/timing-model.md §11)."""

    sample: int = column("count", "the traced sample")
    unit: str = column("text", "soma / integrate / spike buffer of a core, a link (its waits), NoC latency, off-chip")
    cycles: int = column("count", "cycles of the critical path charged to the unit")
    share_percent: float = column("pct", "cycles / the sample's latency")


@dataclass(frozen=True)
class NocLinkRow:
    """One link of a traced sample: contention and back-pressure (docs/timing-model.md §11)."""

    sample: int = column("count", "the traced sample")
    link: str = column("text", "inject c, host, a->b (mesh link from router a to b) or eject c")
    wait_cycles: int = column("count", "cycles trains waited there for a grant (contention)")
    stall_cycles: int = column("count", "cycles packets waited there for a credit (back-pressure; finite buffers)")


@dataclass(frozen=True)
class RouterBufferRow:
    """One router of a traced sample: the most flits its fullest input port held."""

    sample: int = column("count", "the traced sample")
    router: int = column("count", "core id of the router")
    position: str = column("text", "(row, col) on the mesh")
    peak_flits: int = column("count", "most flits one of its input ports held at once")
    depth_flits: int = column("count", "noc.buffer_depth_flits")
    over_depth: str = column("text", "yes: a router of that depth would have stalled (unbounded buffers)")


@dataclass(frozen=True)
class CoreMappingRow:
    """One core in one pass: the slices placed on it and the SRAM they use."""

    pass_index: int = column("count", "pass")
    core: int = column("count", "core id")
    position: str = column("text", "(row, col) on the mesh")
    slices: str = column("text", "slice labels: population[channel range) or population[c r rows)")
    neurons: int = column("count", "neurons of its slices")
    neuron_capacity_percent: float = column("pct", "neurons / core.neuron_capacity")
    weight_sram_percent: float = column("pct", "weight SRAM words used x word bits / capacity")
    membrane_sram_percent: float = column("pct", "membrane SRAM used / capacity")
    acc_sram_percent: float = column("pct", "accumulator SRAM used / capacity")


@dataclass(frozen=True)
class FootprintRow:
    """One memory figure of the mapped network."""

    item: str = column("text", "what is stored")
    bits: int = column("count", "bits")
    size_mb: float = column("sig", "bits / 8 / 10^6 (decimal MB, as the Q-SNN paper)")
    capacity_percent: float | None = column("pct", "share of the matching chip capacity, where there is one")
    note: str = column("text", "how it is counted")


#: Every table a report writes, by its CSV file name.
#: Tables a report writes only for a system of chips (DESIGN §12).
SYSTEM_TABLES = ("chips.csv", "chip_links.csv")
#: Every table a report can write, and its row class.
TABLES = {
    "samples.csv": SampleRow,
    "statistics.csv": StatRow,
    "components.csv": ComponentRow,
    "energy_terms.csv": TermRow,
    "paper_estimate.csv": ComparisonRow,
    "sample_energy.csv": SampleEnergyRow,
    "layers.csv": LayerRow,
    "timesteps.csv": TimestepRow,
    "cores.csv": CoreRow,
    "mapping.csv": CoreMappingRow,
    "footprint.csv": FootprintRow,
    "chips.csv": ChipRow,
    "chip_links.csv": ChipLinkRow,
    "critical_path.csv": CriticalRow,
    "noc_links.csv": NocLinkRow,
    "noc_routers.csv": RouterBufferRow,
}


def sample_row(sample: int, label: int | None, predicted: int, class_names, matches_golden: bool | None,
               breakdown) -> SampleRow:
    """A :class:`SampleRow` from one sample's outputs and its :class:`qsnnsim.energy.EnergyBreakdown`."""
    def name(k):
        if k is None:
            return "-"
        if class_names and 0 <= k < len(class_names) and class_names[k] != str(k):
            return f"{k} {class_names[k]}"
        return str(k)

    b = breakdown
    return SampleRow(
        sample=sample, label=name(label), predicted=name(predicted),
        matches_golden="-" if matches_golden is None else ("yes" if matches_golden else "NO"),
        latency_cycles=b.latency_cycles, latency_us=float(b.latency_us), energy_uj=float(b.total_pj) / _UJ,
        synaptic_ops=b.synaptic_ops, energy_pj_per_sop=None if b.pj_per_sop is None else float(b.pj_per_sop),
        average_power_mw=None if b.average_power_uw is None else float(b.average_power_uw) / 1000,
        throughput_per_s=None if b.throughput_per_s is None else float(b.throughput_per_s),
        spikes=b.counts["spike"], packets=b.counts["packet"],
        paper_estimate_uj=float(b.paper_estimate.energy_pj) / _UJ,
    )


# --------------------------------------------------------------------------- rows from energy


def sample_energy_row(sample: int, b: EnergyBreakdown):
    """A :data:`SampleEnergyRow`: one sample's components in uJ."""
    comps = b.by_component
    return SampleEnergyRow(sample, *[float(comps[c]) / _UJ for c in COMPONENTS], float(b.total_pj) / _UJ)


def _stat(quantity: str, unit: str, values: list) -> StatRow:
    if any(v is None for v in values):
        return StatRow(quantity, unit, None, None, None, None)
    s = describe(values)
    return StatRow(quantity, unit, s.mean, s.min, s.max, s.p95)


def stat_rows(energy: RunEnergy) -> list[StatRow]:
    """Headline figures per inference over the samples (mean, min, max, p95)."""
    bs = energy.samples

    def scaled(values, by):
        return [None if v is None else v / by for v in values]

    return [
        _stat("latency", "cycles", [b.latency_cycles for b in bs]),
        _stat("latency", "us", [b.latency_us for b in bs]),
        _stat("energy per inference", "uJ", [b.total_pj / _UJ for b in bs]),
        _stat("dynamic energy", "uJ", [b.dynamic_pj / _UJ for b in bs]),
        _stat("leakage energy", "uJ", [b.leakage_pj / _UJ for b in bs]),
        _stat("synaptic operations (SOPs)", "SOPs", [b.synaptic_ops for b in bs]),
        _stat("energy per SOP", "pJ/SOP", [b.pj_per_sop for b in bs]),
        _stat("average power", "mW", scaled([b.average_power_uw for b in bs], 1000)),
        _stat("throughput", "inferences/s", [b.throughput_per_s for b in bs]),
        _stat("paper-style estimate", "uJ", [b.paper_estimate.energy_pj / _UJ for b in bs]),
        _stat("spikes", "spikes", [b.counts["spike"] for b in bs]),
    ]


def component_rows(energy: RunEnergy) -> list[ComponentRow]:
    """Energy per component per inference over the samples, with the counters each one sums,
    then a ``total`` row.

    ``all_samples_pj`` is the run's whole-pJ figure as written to result.json
    (:func:`qsnnsim.energy.written_energy`), so that column adds up to its total exactly; the
    uJ columns are the exact values rounded once and may not add up in their shown digits.
    """
    covers = {c: [] for c in COMPONENTS}
    for t in energy.run.terms:
        covers[t.component].append(t.action or t.entry)
    written = written_energy(energy)[1]
    mean_total = float(energy.run.energy_per_inference_pj) / _UJ
    rows = []
    for c in COMPONENTS:
        s = energy.stats(lambda b, c=c: b.by_component[c] / _UJ)
        rows.append(ComponentRow(COMPONENT_LABELS[c], ", ".join(covers[c]), s.mean,
                                 100 * s.mean / mean_total if mean_total else 0.0, s.min, s.max, s.p95,
                                 written.components_pj[c]))
    s = energy.stats(lambda b: b.total_pj / _UJ)
    rows.append(ComponentRow(TOTAL_LABEL, "all of the above", s.mean, 100.0 if mean_total else 0.0, s.min, s.max,
                             s.p95, written.total_pj))
    return rows


def term_rows(b: EnergyBreakdown) -> list[TermRow]:
    """One row per energy-table entry: quantity x value = energy, with the source."""
    total = b.total_pj
    return [TermRow(COMPONENT_LABELS[t.component], t.entry, t.action or "-", float(t.quantity), t.quantity_unit,
                    t.value, t.value_unit, float(t.energy_pj), 100 * float(t.energy_pj / total) if total else 0.0,
                    t.source)
            for t in b.terms]


def comparison_rows(energy: RunEnergy) -> list[ComparisonRow]:
    """The simulator's energy per inference beside the paper-style estimate and what that leaves out."""
    run = energy.run
    n = run.n_inferences
    comps = {c: float(v) / n / _UJ for c, v in run.by_component.items()}
    total = float(run.energy_per_inference_pj) / _UJ
    paper = run.paper_estimate

    def row(what, uj, note):
        return ComparisonRow(what, uj, 100 * uj / total if total else None, note)

    memory = comps["weight_sram"] + comps["membrane_sram"] + comps["accumulators"]
    return [
        row("simulator: every component", total, "counters x the arch's energy table + leakage x latency"),
        row("paper-style: SOPs x E_AC + MACs x E_MAC", float(paper.energy_pj) / n / _UJ,
            f"{paper.n_accumulates:,} accumulates x {PAPER_AC_PJ} pJ + {paper.n_macs:,} MACs x {PAPER_MAC_PJ} pJ "
            f"over {n} sample(s); {PAPER_SOURCE}"),
        row("simulator: synaptic adds + MACs only", comps["synaptic_adds"] + comps["macs"],
            "the arithmetic the paper-style figure counts, at this arch's pJ"),
        row("left out: SRAM accesses", memory, "weight, membrane and accumulator SRAM"),
        row("left out: neuron updates", comps["neuron_updates"], "decay/add, scale multiply, compare"),
        row("left out: NoC and off-chip", comps["noc"] + comps["offchip"], "flit-hops, spike buffers, off-chip bits"),
        row("left out: leakage", comps["leakage"], "static power x simulated latency"),
    ]
