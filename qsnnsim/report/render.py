"""Report rendering: a result JSON -> Markdown + self-contained HTML + SVG figures + CSV tables.

Reads nothing but the result object (``qsnnsim-result`` v3, docs/results-format.md), so
``qsnnsim report RESULT.json`` re-renders any run. Energy comes from
:func:`qsnnsim.energy.energy_from_result` on the JSON's counters and energy table; every table
is a :mod:`qsnnsim.report.columns` row class; figures are drawn by :mod:`qsnnsim.report.plots`.

Layout of a report folder: ``report.md``, ``report.html`` (figures embedded, so the single
file opens offline), ``figures/*.svg`` (what the Markdown links to) and ``tables/*.csv``.
Writing is atomic: everything is built in a hidden staging folder beside the target and moved
into place only once complete, so an error never leaves a half-written report (an earlier
report in the folder stays as it was); the run's ``result.json`` is never touched.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from dataclasses import dataclass, field, fields

import numpy as np

from qsnnsim._guard import escape_text, text_tree_problem
from qsnnsim.counters import Action, Unit
from qsnnsim.energy import (
    COMPONENT_LABELS,
    COMPONENTS,
    DYNAMIC_COMPONENTS,
    LEAKAGE_ENTRIES,
    PAPER_LEAVES_OUT,
    RunEnergy,
    arch_from_result,
    counters_from_json,
    energy_from_result,
)
from qsnnsim.errors import InputError, ResultError
from qsnnsim.mapping import Slice
from qsnnsim.report import columns as col
from qsnnsim.report import plots
from qsnnsim.report.folder import OutputFolder, new_run_id

#: Per-sample figures (timelines) are drawn for at most this many samples.
MAX_SAMPLE_FIGURES = 8
#: Up to this many samples the page lists one row each; beyond, distributions (rows in the CSV).
MAX_SAMPLE_ROWS = 16
_UJ = 10**6  # pJ per uJ
_FIX = "re-run qsnnsim run to write it again"


# --------------------------------------------------------------------------- reading


class _Reader:
    """Checked access to the result object: every failure is a ResultError naming the field."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, problem: str, fix: str = _FIX):
        raise ResultError(self.path, where, problem, fix)

    def get(self, obj, key, where: str, kind, optional: bool = False):
        if not isinstance(obj, dict) or key not in obj:
            if optional:
                return None
            self.fail(f"{where}.{key}".lstrip("."), "is missing")
        value = obj[key]
        if value is None and optional:
            return None
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else "number"
            self.fail(f"{where}.{key}".lstrip("."), f"must be a {names} (got {type(value).__name__})")
        return value

    def texts(self, obj, where: str) -> None:
        """Refuse any string (or key) under ``obj`` holding a control character or a lone
        surrogate: such text would corrupt the terminal, report.md or a figure."""
        found = text_tree_problem(obj, where)
        if found:
            self.fail(found[0], found[1], "re-run qsnnsim run with a clean workload and arch")

    def rows(self, obj, key, where: str, width: int) -> list:
        """A list of lists whose first ``width`` items are integers."""
        value = self.get(obj, key, where, list)
        for i, item in enumerate(value):
            if (not isinstance(item, list) or len(item) < width
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in item[:width])):
                self.fail(f"{where}.{key}[{i}]", f"must be a list of {width} integers")
        return value


@dataclass
class _Model:
    """Everything a report shows, computed once from the result object."""

    title: str
    facts: list
    energy: RunEnergy
    n: int
    tables: dict = field(default_factory=dict)       # CSV name -> rows
    figures: list = field(default_factory=list)      # (file name, caption, draw(path))
    notes: dict = field(default_factory=dict)


def summarise(data: dict, path: str = "<result>") -> _Model:
    """Check the result object and compute every table and figure input of the report.

    Raises
    ------
    ResultError
        Naming the first field that is missing, of the wrong type or inconsistent.
    """
    rd = _Reader(path)
    if not isinstance(data, dict):
        rd.fail("", "is not a JSON object", "give the result.json a run wrote")
    wl = rd.get(data, "workload", "", dict)
    rd.texts(wl, "workload")
    rd.texts(data.get("arch"), "arch")
    arch = arch_from_result(data, path)
    mapping = rd.get(data, "mapping", "", dict)
    footprint = rd.get(data, "footprint", "", dict)
    samples = rd.get(data, "samples", "", list)
    if not samples:
        rd.fail("samples", "is empty", _FIX)
    pops = rd.get(wl, "populations", "workload", list)
    pop_names = [rd.get(p, "name", f"workload.populations[{i}]", str) for i, p in enumerate(pops)]
    T = rd.get(wl, "timesteps", "workload", int)
    class_names = rd.get(wl, "class_names", "workload", list, optional=True)
    rows_n, cols_n = rd.get(mapping, "mesh_rows", "mapping", int), rd.get(mapping, "mesh_cols", "mapping", int)
    if (rows_n, cols_n) != (arch.grid_rows, arch.grid_cols):
        rd.fail("mapping.mesh_rows", f"{rows_n}x{cols_n} differs from the arch's mesh "
                f"{arch.grid_rows}x{arch.grid_cols}")
    slices = []
    for i, s in enumerate(rd.get(mapping, "slices", "mapping", list)):
        where = f"mapping.slices[{i}]"
        try:
            slices.append(Slice(**s))
        except TypeError as exc:
            rd.fail(where, f"is not a slice ({exc})")
        for f in fields(Slice):
            if f.name not in ("population", "is_row_range"):
                rd.get(s, f.name, where, int)
        if rd.get(s, "population", where, str) not in pop_names:
            rd.fail(f"{where}.population", f"{s['population']!r} is not a population of the workload")
        if not 0 <= slices[-1].core < arch.n_cores:
            rd.fail(f"{where}.core", f"{slices[-1].core} is not a core of the {arch.n_cores}")
    energy = energy_from_result(data, path)
    counters = counters_from_json(data["counters"], path, "counters")
    if list(counters.population_names) != pop_names:
        rd.fail("counters.population_names", "differ from workload.populations")
    if counters.actions.shape[2] != T:
        rd.fail("counters.action_counts", f"has shape {counters.actions.shape}, expected "
                f"({arch.n_cores + 1}, {len(pop_names)}, {T}, actions)")
    n = len(samples)
    name = f"{rd.get(wl, 'name', 'workload', str)} on {arch.name}"
    m = _Model(title=f"qsnnsim report: {name}", facts=[], energy=energy, n=n)

    sample_rows = []
    for i, (s, b) in enumerate(zip(samples, energy.samples)):
        where = f"samples[{i}]"
        gold = rd.get(s, "golden", where, dict, optional=True)
        ok = None if gold is None else (bool(gold.get("readout_equal")) and bool(gold.get("spikes_equal"))
                                        and bool(gold.get("membranes_equal", True)))
        sample_rows.append(col.sample_row(
            rd.get(s, "sample", where, int), rd.get(s, "label", where, int, optional=True),
            rd.get(s, "predicted", where, int), class_names, ok, b))
    m.tables["samples.csv"] = sample_rows
    m.tables["sample_energy.csv"] = [col.sample_energy_row(r.sample, b) for r, b in zip(sample_rows, energy.samples)]
    m.tables["statistics.csv"] = col.stat_rows(energy)
    m.tables["components.csv"] = col.component_rows(energy)
    m.tables["energy_terms.csv"] = col.term_rows(energy.run)
    m.tables["paper_estimate.csv"] = col.comparison_rows(energy)
    _activity_tables(m, rd, energy, counters, pops, pop_names, T, slices, arch, samples)
    _memory_tables(m, rd, footprint, slices, arch)
    passes = rd.get(mapping, "n_passes", "mapping", int)
    wl_path = wl.get("path") or "(not recorded)"
    arch_path = data["arch"].get("path") or "(not recorded)"
    checked = [r for r in sample_rows if r.matches_golden != "-"]
    if not checked:
        golden_fact = "Golden-model check: not run (`--check none`)."
    elif all(r.matches_golden == "yes" for r in checked):
        golden_fact = (f"Golden-model check: {len(checked)} of {n} sample(s) checked, every one bit-exact"
                       + ("." if len(checked) == n else " (`--check first`; `--check all` checks every sample)."))
    else:
        golden_fact = "Golden-model check: NOT bit-exact: " + ", ".join(
            f"sample {r.sample}" for r in checked if r.matches_golden != "yes")
    labelled = [r for r in sample_rows if r.label != "-"]
    m.notes["accuracy"] = None
    if labelled:
        correct = sum(1 for r in labelled if r.label == r.predicted)
        m.notes["accuracy"] = (correct, len(labelled))
    provenance = wl.get("provenance") if isinstance(wl.get("provenance"), dict) else {}
    m.notes["provenance"] = [(str(k), v if isinstance(v, str) else json.dumps(v, sort_keys=True))
                             for k, v in sorted(provenance.items())]
    m.facts = [
        (f"Workload `{wl['name']}` ({wl_path}): T = {T} timesteps, {wl.get('input_kind', '?')} input, "
        f"{len(pop_names)} populations; {n} of {wl.get('n_samples', '?')} sample(s) simulated."),
        (f"Architecture `{arch.name}` ({arch_path}): {arch.grid_rows}x{arch.grid_cols} mesh"
         + (f" ({arch.system.chip_rows}x{arch.system.chip_cols} chips of {arch.chip.mesh_rows}x"
            f"{arch.chip.mesh_cols} cores, joined by chip-to-chip links)" if arch.system.n_chips > 1 else "")
         + ", "
        f"clock {arch.chip.clock_mhz:g} MHz; mapped in {passes} pass(es) "
        f"({mapping.get('strategy', '?')} strategy), {len(slices)} slices."),
        golden_fact,
    ]
    if m.notes["accuracy"]:
        correct, total = m.notes["accuracy"]
        m.facts.append(f"Accuracy: {correct}/{total} = {100.0 * correct / total:.2f}% of the labelled samples.")
    if wl.get("is_calibrated") is True:
        m.facts.append("This workload is calibrated, not trained: its predictions mean nothing (see provenance).")
    _figures(m, rd, data, energy, samples, slices, arch, pop_names, pops, T, footprint)
    m.notes["arbitration"] = arch.noc.arbitration
    m.notes["router_buffers"] = arch.noc.router_buffers
    m.notes["soma_order"] = arch.core.soma_order
    _noc_tables(m, rd, samples, arch)
    return m


def _position(core: int, arch) -> str:
    """A core's (row, col) on the grid, and on a system of chips its address ``chip c (row, col)``."""
    if arch.system.n_chips == 1:
        return str(divmod(core, arch.grid_cols))
    from qsnnsim.system import topology

    chip, row, col_ = topology(arch).address(core)
    return f"chip {chip} ({row}, {col_})"


def _noc_tables(m, rd, samples, arch) -> None:
    """The first traced sample's critical path, per-link waits and stalls and router buffer
    peaks (docs/timing-model.md §11), with a figure of where trains waited."""
    from qsnnsim.report.critical import bottleneck_line

    m.notes["bottleneck"] = None
    entry = next((s for s in samples if isinstance(s, dict) and isinstance(s.get("trace"), dict)), None)
    if entry is None:
        return
    i = samples.index(entry)
    where = f"samples[{i}]"
    sample = rd.get(entry, "sample", where, int)
    latency = rd.get(entry, "latency_cycles", where, int)
    path = rd.get(entry, "critical_path", where, dict, optional=True)
    if path is not None:
        units = rd.get(path, "units", f"{where}.critical_path", list)
        for k, unit in enumerate(units):
            if not (isinstance(unit, list) and len(unit) == 2 and isinstance(unit[0], str)
                    and isinstance(unit[1], int) and not isinstance(unit[1], bool)):
                rd.fail(f"{where}.critical_path.units[{k}]", "must be [unit name, cycles]")
        m.tables["critical_path.csv"] = [col.CriticalRow(sample, u, c, 100.0 * c / latency if latency else 0.0)
                                         for u, c in units]
        m.notes["bottleneck"] = f"Sample {sample}: " + bottleneck_line(path) + "."
    trace = entry["trace"]
    waits = rd.get(trace, "link_wait_cycles", f"{where}.trace", dict, optional=True) or {}
    stalls = rd.get(trace, "link_stall_cycles", f"{where}.trace", dict, optional=True) or {}
    for name, table in (("link_wait_cycles", waits), ("link_stall_cycles", stalls)):
        for k, v in table.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                rd.fail(f"{where}.trace.{name}.{k}", "must be a count of cycles")
    names = sorted(set(waits) | set(stalls), key=lambda k: (-(waits.get(k, 0) + stalls.get(k, 0)), k))
    m.tables["noc_links.csv"] = [col.NocLinkRow(sample, k, waits.get(k, 0), stalls.get(k, 0)) for k in names]
    peaks = rd.get(entry, "noc_buffer_peak_flits", where, list, optional=True) or []
    if peaks and len(peaks) != arch.n_cores:
        rd.fail(f"{where}.noc_buffer_peak_flits", f"has {len(peaks)} routers, the mesh {arch.n_cores}")
    depth = arch.noc.buffer_depth_flits
    m.tables["noc_routers.csv"] = [
        col.RouterBufferRow(sample, r, _position(r, arch), int(p), depth,
                            "yes" if p > depth else "no") for r, p in enumerate(peaks)]
    # where trains waited: mesh links as arrows, the ejection port's waits as the core's shading
    cols = arch.grid_cols
    arrows, eject = [], np.zeros(arch.n_cores)
    for k in names:
        cycles = waits.get(k, 0) + stalls.get(k, 0)
        if "->" in k:
            a, b = (int(x) for x in k.split("->"))
            if 0 <= a < arch.n_cores and 0 <= b < arch.n_cores:
                arrows.append((a, b, cycles))
        elif k.startswith("eject ") and k[6:].isdigit() and int(k[6:]) < arch.n_cores:
            eject[int(k[6:])] = cycles
    if names:
        m.figures.append(("noc_waits.svg", (f"Sample {sample}: cycles trains waited for a grant or a credit on each "
                                            "mesh link (arrows) and at each core's ejection port (shading)"),
                          lambda p: plots.plot_links(arch.grid_rows, cols, arrows, eject, p,
                                                     f"NoC waits and stalls (cycles, sample {sample})")))


def _activity_tables(m, rd, energy, counters, pops, pop_names, T, slices, arch, samples) -> None:
    n = m.n
    run = energy.run
    actions = counters.actions                                  # summed over samples
    spikes_pt = actions[..., int(Action.SPIKE)].sum(axis=0)       # (pop, t)
    sops_pt = sum(actions[..., int(a)].sum(axis=0) for a in (Action.SYNAPTIC_ADD, Action.MAC8, Action.MAC16))
    unit_by_pop = counters.unit_cycles_by_population()  # (pop, unit), summed over samples
    layer_rows = []
    for i, (p, name) in enumerate(zip(pops, pop_names)):
        kind = rd.get(p, "kind", f"workload.populations[{i}]", str)
        neurons = rd.get(p, "n_neurons", f"workload.populations[{i}]", int)
        spikes = float(spikes_pt[i].sum()) / n
        rate = 100 * spikes / (neurons * T) if kind == "lif" and neurons else None
        comps = run.by_population[name]
        busy = unit_by_pop[i]
        layer_rows.append(col.LayerRow(name, kind, neurons, spikes, rate, float(sops_pt[i].sum()) / n,
                                       float(busy[Unit.SOMA_BUSY]) / n, float(busy[Unit.INTEGRATE_BUSY]) / n,
                                       *[float(comps[c]) / n / _UJ for c in DYNAMIC_COMPONENTS],
                                       float(sum(comps.values())) / n / _UJ))
    m.tables["layers.csv"] = layer_rows
    m.tables["timesteps.csv"] = [
        col.TimestepRow(t, float(spikes_pt[:, t].sum()) / n, float(sops_pt[:, t].sum()) / n,
                        *[float(comps[c]) / n / _UJ for c in DYNAMIC_COMPONENTS],
                        float(sum(comps.values())) / n / _UJ)
        for t, comps in enumerate(run.by_timestep)]
    unit_cycles = counters.unit_cycles_by_core()
    latency = run.latency_cycles
    core_rows = []
    for core in range(arch.n_cores + 1):
        comps = run.by_core[core]
        dyn = float(sum(v for k, v in comps.items() if k != "leakage")) / n / _UJ
        leak = float(comps["leakage"]) / n / _UJ
        is_host = core == arch.n_cores
        uc = unit_cycles[core]

        def pct(unit, uc=uc, is_host=is_host):
            return None if is_host or not latency else 100 * float(uc[int(unit)]) / latency

        core_rows.append(col.CoreRow(
            "host" if is_host else str(core),
            "io router " + str(tuple(arch.offchip.io_router)) if is_host else _position(core, arch),
            sum(1 for s in slices if s.core == core and not is_host),
            pct(Unit.SOMA_BUSY), pct(Unit.INTEGRATE_BUSY),
            float(uc[int(Unit.EJECTION_STALL)]) / n, float(uc[int(Unit.LINK_WAIT)]) / n, dyn, leak, dyn + leak))
    m.tables["cores.csv"] = core_rows
    if arch.system.n_chips > 1:
        _chip_tables(m, slices, arch, core_rows, n)


def _chip_tables(m, slices, arch, core_rows, n) -> None:
    """Per chip what it holds and costs; per chip-to-chip link what it carries (DESIGN §12)."""
    from qsnnsim.system import topology

    topo = topology(arch)
    word = arch.core.weight_sram.word_bits
    chips = []
    for chip in range(topo.n_chips):
        cores = [c for c in range(arch.n_cores) if topo.chip_of(c) == chip]
        held = [s for s in slices if topo.chip_of(s.core) == chip]
        chips.append(col.ChipRow(chip, str(divmod(chip, topo.chip_cols)), len(held),
                                 sum(s.n_neurons for s in held), sum(s.weight_words for s in held) * word / 8192,
                                 sum(core_rows[c].dynamic_uj for c in cores),
                                 sum(core_rows[c].leakage_uj for c in cores)))
    m.tables["chips.csv"] = chips
    m.notes["chip_links"] = True


def _memory_tables(m, rd, fp, slices, arch) -> None:
    def num(key):
        return rd.get(fp, key, "footprint", int)

    rows = []
    cores = rd.get(fp, "cores", "footprint", list)
    for i, c in enumerate(cores):
        where = f"footprint.cores[{i}]"
        core, p = rd.get(c, "core", where, int), rd.get(c, "pass_index", where, int)
        here = [s for s in slices if s.core == core and s.pass_index == p]
        if not here:
            continue
        percent = {}
        for k in ("weight", "membrane", "acc"):
            use = rd.get(c, k, where, dict)
            cap = rd.get(use, "capacity_bits", f"{where}.{k}", int)
            percent[k] = 100 * rd.get(use, "used_bits", f"{where}.{k}", int) / cap if cap else 0.0
        neurons = rd.get(c, "n_neurons", where, int)
        rows.append(col.CoreMappingRow(p, core, _position(core, arch),
                                       ", ".join(s.label for s in here), neurons,
                                       100 * neurons / arch.core.neuron_capacity, percent["weight"],
                                       percent["membrane"], percent["acc"]))
    m.tables["mapping.csv"] = rows
    m.notes["idle_cores"] = arch.n_cores * max(1, num("n_passes")) - len(rows)

    def fr(item, bits, cap, note):
        return col.FootprintRow(item, bits, bits / 8e6, 100 * bits / cap if cap else None, note)

    by_bits = rd.get(fp, "weights_by_bits", "footprint", dict)
    for b in by_bits:
        rd.get(by_bits, b, "footprint.weights_by_bits", int)
    m.tables["footprint.csv"] = [
        fr("synaptic weights (quantized)", num("weight_bits"), 0,
           "; ".join(f"{int(n):,} x {b}-bit" for b, n in by_bits.items()) or "none"),
        fr("synaptic weights in float32", num("float32_bits"), 0,
           f"{num('float32_params'):,} params: weights + {num('batchnorm_params'):,} BatchNorm + "
           f"{num('bias_params'):,} bias"),
        fr("LIF membranes", num("membrane_bits"), 0, f"{num('n_lif_neurons'):,} neurons at their membrane bits"),
        fr("readout state", num("readout_state_bits"), 0, f"{num('n_readout_neurons'):,} neurons x 64 bits"),
        fr("identity (shortcut) codes", num("identity_code_bits"), 0, "one code per shortcut channel"),
        fr("scale and threshold parameters", num("scale_param_bits"), 0, "mult, shift, threshold, bias"),
        fr("mapped weight SRAM", num("mapped_weight_bits"), num("chip_weight_capacity_bits"),
           f"rows padded to whole words (payload {num('stored_weight_bits'):,} bits); % of all passes' chips"),
        fr("mapped membrane SRAM", num("mapped_membrane_bits"), num("chip_membrane_capacity_bits"), "packed words"),
        fr("mapped accumulator SRAM", num("mapped_acc_bits"), num("chip_acc_capacity_bits"),
           "one accumulator per neuron per incoming projection"),
        fr("spike input buffers", num("spike_buffer_bits"), 0, "every core's buffer"),
        fr("off-chip weight reload per sample", num("offchip_weight_bits_per_sample"), 0,
           "0 when the mapping has one pass (weights resident)"),
    ]
    m.notes["model_size"] = ([("weights, quantized", num("weight_bits") / 8e6),
                              ("weights, float32", num("float32_bits") / 8e6),
                              ("LIF membranes, quantized", num("membrane_bits") / 8e6),
                              ("LIF membranes, float32", num("n_lif_neurons") * 32 / 8e6)])


def _figures(m, rd, data, energy, samples, slices, arch, pop_names, pops, T, fp) -> None:
    n = m.n
    comp_rows = m.tables["components.csv"][:len(COMPONENTS)]   # without the total row
    labels = [COMPONENT_LABELS[c] for c in COMPONENTS]
    figs = m.figures
    figs.append(("energy_components.svg", "Energy per inference by component (whiskers: min and max over samples)",
                 lambda p: plots.plot_components(list(COMPONENTS), labels, [r.mean_uj for r in comp_rows],
                                                 [r.min_uj for r in comp_rows], [r.max_uj for r in comp_rows],
                                                 [r.share_percent for r in comp_rows], p,
                                                 f"Energy per inference by component ({n} sample(s))")))
    mean_comps = [r.mean_uj for r in comp_rows]
    paper_uj = float(energy.run.paper_estimate.energy_pj) / n / _UJ
    figs.append(("paper_estimate.svg", "The simulator's figure beside the paper-style estimate",
                 lambda p: plots.plot_comparison(list(COMPONENTS), labels, mean_comps, paper_uj, p)))
    layers = [r for r in m.tables["layers.csv"] if r.total_uj > 0]
    # (layers, components) even when no layer has dynamic energy (an all-zero energy table)
    matrix = np.array([[getattr(r, f"{c}_uj") for c in DYNAMIC_COMPONENTS] for r in layers],
                      dtype=float).reshape(len(layers), len(DYNAMIC_COMPONENTS))
    figs.append(("energy_layers.svg", "Dynamic energy per inference by layer, stacked by component",
                 lambda p: plots.plot_layers([r.population for r in layers], list(DYNAMIC_COMPONENTS),
                                             labels[:-1], matrix, p)))
    lif = [r for r in layers if r.firing_rate_percent is not None]
    figs.append(("firing_rates.svg", "Firing rate per LIF population: spikes / (neurons x T)",
                 lambda p: plots.plot_firing_rates([r.population for r in lif],
                                                   [r.firing_rate_percent for r in lif], p)))
    cores = m.tables["cores.csv"][:-1]
    shape = (arch.grid_rows, arch.grid_cols)
    soma = np.array([r.soma_busy_percent or 0.0 for r in cores]).reshape(shape)
    integ = np.array([r.integrate_busy_percent or 0.0 for r in cores]).reshape(shape)
    figs.append(("core_utilisation.svg", ("Busy time of every core's soma and integrate unit, % of the latency "
                 "(summed over samples)"), lambda p: plots.plot_utilisation(soma, integ, p)))
    link_sum: dict = {}
    for a, b, flits in rd.rows(data, "link_flits", "", 3):
        if not (0 <= a < arch.n_cores and 0 <= b < arch.n_cores):
            rd.fail("link_flits", f"names core {a} or {b}, not one of {arch.n_cores}")
        link_sum[(a, b)] = link_sum.get((a, b), 0) + flits
    ejection = np.zeros(arch.n_cores)
    links = []
    for (a, b), flits in sorted(link_sum.items()):
        if a == b:
            ejection[a] = flits / n
        else:
            links.append((a, b, flits / n))
    if arch.system.n_chips > 1:
        from qsnnsim.system import chip_link_loads, topology

        topo = topology(arch)
        pj = arch.system.link.pj_per_bit.value
        m.tables["chip_links.csv"] = [
            col.ChipLinkRow(f"{a}->{b}", f"{topo.chip_of(a)} -> {topo.chip_of(b)}", flits / n,
                            flits * arch.noc.flit_bits / n, flits * arch.noc.flit_bits * pj / n / _UJ)
            for a, b, flits in chip_link_loads(link_sum, arch)]
    figs.append(("noc_links.svg", ("NoC load per inference: flits per link (arrows) and flits ejected into "
                 "each core (shading)"),
                 lambda p: plots.plot_links(shape[0], shape[1], links, ejection, p,
                                            "NoC link load (mean flits per inference)")))
    pop_index = {name: i for i, name in enumerate(pop_names)}
    input_index = next((i for i, p in enumerate(pops) if p.get("kind") == "input"), 0)
    drawn = set()
    traced = [(i, s) for i, s in enumerate(samples) if isinstance(s, dict) and s.get("trace") is not None]
    for i, entry in traced[:MAX_SAMPLE_FIGURES]:
        where = f"samples[{i}]"
        if rd.get(entry, "sample", where, int) in drawn:
            continue
        drawn.add(entry["sample"])
        s = rd.get(entry, "trace", where, dict)
        where += ".trace"
        fires = [[] for _ in range(arch.n_cores)]
        integ_spans = [[] for _ in range(arch.n_cores)]
        to_us = 1.0 / arch.chip.clock_mhz
        for k, (sl, _t, start, end) in enumerate(x[:4] for x in rd.rows(s, "fires", where, 4)):
            if not 0 <= sl < len(slices):
                rd.fail(f"{where}.fires[{k}]", f"names slice {sl}, the mapping has {len(slices)}")
            fires[slices[sl].core].append((start * to_us, end * to_us, pop_index[slices[sl].population]))
        for k, tr in enumerate(rd.rows(s, "trains", where, 4)):
            if (len(tr) < 7 or not isinstance(tr[4], list) or not tr[4]
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in (*tr[4], tr[5], tr[6]))):
                rd.fail(f"{where}.trains[{k}]", "must be [pass, source, t, dest, grants, delivery, marker_start]")
            src, dest = tr[1], tr[3]
            if not 0 <= dest < arch.n_cores or src >= len(slices):
                rd.fail(f"{where}.trains[{k}]", f"names a source {src} or core {dest} the mapping does not have")
            pop = pop_index[slices[src].population] if src >= 0 else input_index
            # The train's packets reach the integrate unit back to back (trains never interleave at
            # the ejection port): from the ejection grant to the marker's integrate start.
            integ_spans[dest].append(((tr[4][-1] + 1) * to_us, (tr[6] + 1) * to_us, pop))
        used = [c for c in range(arch.n_cores) if fires[c] or integ_spans[c]]
        latency_us = energy.samples[i].latency_cycles * to_us
        starts = rd.get(entry, "pass_starts", f"samples[{i}]", list)
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in starts):
            rd.fail(f"samples[{i}].pass_starts", "must be a list of integers")
        starts_us = tuple(c * to_us for c in starts)
        sample_id = entry["sample"]
        figs.append((f"timeline_sample{sample_id}.svg",
                     (f"Sample {sample_id}: busy phases of the used cores, the {plots.MAX_TIMELINE_CORES} busiest "
                      "at most (fire above, integrate below)"),
                     lambda p, used=used, fires=fires, integ_spans=integ_spans, latency_us=latency_us,
                     sample_id=sample_id, starts_us=starts_us: plots.plot_timeline(
                         [f"core {c}" for c in used], [fires[c] for c in used], [integ_spans[c] for c in used],
                         pop_names, latency_us, p, f"Sample {sample_id}: core activity over time", starts_us)))
    mapping_rows = m.tables["mapping.csv"]
    per_pass = []
    for p_index in sorted({r.pass_index for r in mapping_rows}):
        here = [r for r in mapping_rows if r.pass_index == p_index]
        per_pass.append((p_index, [r.core for r in here], [r.weight_sram_percent for r in here],
                         [r.membrane_sram_percent for r in here], [r.acc_sram_percent for r in here]))
    if per_pass:
        figs.append(("sram_per_core.svg", "SRAM used per core (cores holding slices), % of each SRAM's capacity",
                     lambda p: plots.plot_sram(per_pass, p, shape)))
    if n > MAX_SAMPLE_ROWS:
        latency = [r.latency_us for r in m.tables["samples.csv"]]
        energy_uj = [r.energy_uj for r in m.tables["samples.csv"]]
        figs.append(("sample_distributions.svg", f"Latency and energy per inference over the {n} samples",
                     lambda p: plots.plot_distributions(latency, energy_uj, p)))
    sizes = m.notes["model_size"]
    figs.append(("model_size.svg", "Model size: quantized weights and membranes vs float32",
                 lambda p: plots.plot_model_size([k for k, _ in sizes], [v for _, v in sizes], p)))


# --------------------------------------------------------------------------- documents


def _blocks(m: _Model) -> list[tuple]:
    """The report as a list of blocks: ("h", level, text) | ("p", text) | ("list", items) |
    ("table", rows, cls, only) | ("fig", file, caption)."""
    t = m.tables
    s0 = m.energy.run
    out = [("h", 1, m.title), ("list", m.facts), ("toc",)]
    per = m.tables["statistics.csv"]
    energy_row = per[2]
    out += [("h", 2, "Summary"),
            ("p", (f"Energy per inference: mean {energy_row.mean:.4g} uJ over {m.n} sample(s); leakage power "
                  f"{float(s0.leakage_power_uw) / 1000:.4g} mW. All figures are per inference unless a table says "
                  "otherwise; the statistics are over samples (p95: numpy's linear interpolation).")),
            ("table", per, col.StatRow, None if m.n > 1 else ("quantity", "unit", "mean")),
            ("h", 2, "Samples")]
    if m.n <= MAX_SAMPLE_ROWS:
        out += [("table", t["samples.csv"], col.SampleRow, None),
                ("table", t["sample_energy.csv"], col.SampleEnergyRow, None)]
    else:
        out += [("p", (f"{m.n} samples: the page shows their distributions (the Summary's statistics and the "
                       "figure below); `tables/samples.csv` and `tables/sample_energy.csv` have one row per "
                       "sample.")), ("fig", "sample_distributions.svg")]
    out += [
            ("h", 2, "Energy"),
            ("p", ("Energy = every counter x its energy-table entry + leakage power x simulated latency, nothing "
                  "else (docs/energy-model.md). Totals are exact sums of their parts. The uJ columns are per "
                  "inference, rounded for display; the last column is all samples together in whole pJ (each "
                  "energy-table term rounded to the nearest pJ per sample, as result.json writes it), and its "
                  "rows add up to the total row exactly.")),
            ("table", t["components.csv"], col.ComponentRow, None),
            ("fig", "energy_components.svg"),
            ("h", 3, "Beside the estimate SNN papers quote"),
            ("p", "Papers usually report SOPs x E_AC + MACs x E_MAC with 45 nm figures (E_AC = 0.9 pJ, E_MAC = "
                  "4.6 pJ, Horowitz ISSCC 2014). That counts arithmetic only and leaves out: "
                  + "; ".join(PAPER_LEAVES_OUT) + "."),
            ("table", t["paper_estimate.csv"], col.ComparisonRow, None),
            ("fig", "paper_estimate.svg"),
            ("h", 3, f"Energy table: counter x value = energy (run total over {m.n} sample(s))"),
            ("p", "Each row multiplies one counter (or, for leakage, capacity x time) by one entry of the arch "
                  "file's energy table; the source column is the entry's citation. Leakage entries: "
                  + ", ".join(f"{k} x {v}" for k, v in LEAKAGE_ENTRIES.items()) + "."),
            ("table", t["energy_terms.csv"], col.TermRow, None),
            ("h", 3, "By layer"), ("table", t["layers.csv"], col.LayerRow, None),
            ("fig", "energy_layers.svg"), ("fig", "firing_rates.svg"),
            ("h", 3, "By timestep"), ("table", t["timesteps.csv"], col.TimestepRow, None),
            ("h", 2, "Time and utilisation"),
            ("p", ("Busy percentages are busy cycles over the latency, summed over samples; cycle counts are "
                  "means per inference. The host row is the off-chip/host interface (its injections and "
                  "off-chip bits).")),
            ("table", t["cores.csv"], col.CoreRow, None),
            ("fig", "core_utilisation.svg"), ("fig", "noc_links.svg")]
    if "chips.csv" in t:
        out += [("h", 3, "Chips and chip-to-chip links"),
                ("p", "What each chip of the system holds and costs, and what each chip-to-chip link carries "
                      "(per inference; docs/timing-model.md §12)."),
                ("table", t["chips.csv"], col.ChipRow, None),
                ("table", t.get("chip_links.csv", []), col.ChipLinkRow, None)]
    if "noc_links.csv" in t:
        arb = "fixed level order" if m.notes.get("arbitration", "level_order") == "level_order" else "round-robin"
        out += [("h", 3, "What bounds the latency"),
                ("p", (m.notes["bottleneck"] or "No critical path was recorded for this run.")
                 + " The critical path runs back from the last fire through what each job waited for; each "
                   "cycle of the latency is charged to one unit (docs/timing-model.md §11)."),
                ("table", t.get("critical_path.csv", [])[:12], col.CriticalRow, None),
                ("h", 3, "NoC waits, back-pressure and buffers"),
                ("p", f"Links ({arb}; {m.notes.get('router_buffers', 'unbounded')} router buffers; "
                      f"{m.notes.get('soma_order', 'level')} soma order): cycles trains "
                      "waited for a grant and packets for a credit, the busiest first (all in "
                      "`tables/noc_links.csv`). Routers: the most flits one input port held, against "
                      "`noc.buffer_depth_flits`."),
                ("table", t["noc_links.csv"][:12], col.NocLinkRow, None),
                ("table", [r for r in t["noc_routers.csv"] if r.peak_flits], col.RouterBufferRow, None)]
        if any(f == "noc_waits.svg" for f, _, _ in m.figures):
            out.append(("fig", "noc_waits.svg"))
    out += [("fig", f) for f, _, _ in m.figures if f.startswith("timeline_")]
    if m.n > 1:
        out.append(("p", "Timelines are drawn for traced samples: the first sample, or with `qsnnsim run "
                         f"--trace` every sample (the first {MAX_SAMPLE_FIGURES} drawn)."))
    out += [("h", 2, "Mapping: slices per core"),
            ("p", f"{m.notes['idle_cores']} core slot(s) hold no slice." if m.notes["idle_cores"] else
             "Every core holds at least one slice."),
            ("table", t["mapping.csv"], col.CoreMappingRow, None)]
    out += [("fig", f) for f, _, _ in m.figures if f.startswith("sram_")]
    out += [("h", 2, "Memory footprint"), ("table", t["footprint.csv"], col.FootprintRow, None),
            ("fig", "model_size.svg"),
            ("h", 2, "Provenance"),
            ("kv", m.notes["provenance"]) if m.notes["provenance"] else ("p", "The workload records no provenance."),
            ("h", 2, "Files"),
            ("p", "Tables as CSV (column names carry the units): " + ", ".join(f"`tables/{k}`" for k in t)
             + ". Re-render with `qsnnsim report result.json --out DIR`.")]
    return out


def _captions(m: _Model) -> dict:
    return {f: cap for f, cap, _ in m.figures}


def _md(text: str) -> str:
    """Report text for Markdown: names from the files may hold ``<``, ``>`` or ``&``, which a
    Markdown viewer would take as HTML; shown as entities (code spans in backticks stay)."""
    return escape_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(m: _Model) -> str:
    caps = _captions(m)
    parts = []
    blocks = _blocks(m)
    for b in blocks:
        if b[0] == "toc":
            parts.append("Contents: " + " · ".join(f"[{h[2]}](#{_anchor(h[2])})" for h in blocks
                                                   if h[0] == "h" and h[1] == 2))
        elif b[0] == "kv":
            parts.append("| key | value |\n|---|---|\n" + "\n".join(
                f"| {col.markdown_text(k)} | {col.markdown_text(v)} |" for k, v in b[1]))
        elif b[0] == "h":
            parts.append("#" * b[1] + " " + _md(b[2]))
        elif b[0] == "p":
            parts.append(_md(b[1]))
        elif b[0] == "list":
            parts.append("\n".join(f"- {_md(x)}" for x in b[1]))
        elif b[0] == "table":
            parts.append(col.markdown_table(b[1], b[2], b[3]))
        else:
            parts.append(f"![{caps[b[1]]}](figures/{b[1]})\n\n*{caps[b[1]]}*")
    return "\n\n".join(parts) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}th{background:#f2f2f2}
td.num{text-align:right;white-space:nowrap}figure{margin:1em 0}img{max-width:100%}
figcaption{font-size:.85em;color:#555}code{background:#f4f4f4;padding:0 .2em}"""


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, spaces to dashes, punctuation dropped."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(escape_text(text)))


def to_html(m: _Model, figure_dir: str) -> str:
    """The report as one HTML page with every figure embedded (``figure_dir`` holds the SVGs)."""
    caps = _captions(m)
    body = []
    blocks = _blocks(m)
    for b in blocks:
        if b[0] == "toc":
            body.append("<nav><b>Contents</b>: " + " · ".join(
                f'<a href="#{_anchor(h[2])}">{html.escape(h[2])}</a>' for h in blocks if h[0] == "h" and h[1] == 2)
                + "</nav>")
        elif b[0] == "kv":
            body.append("<table><tr><th>key</th><th>value</th></tr>" + "".join(
                f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in b[1]) + "</table>")
        elif b[0] == "h":
            body.append(f'<h{b[1]} id="{_anchor(b[2])}">{_inline(b[2])}</h{b[1]}>')
        elif b[0] == "p":
            body.append(f"<p>{_inline(b[1])}</p>")
        elif b[0] == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in b[1]) + "</ul>")
        elif b[0] == "table":
            body.append(col.html_table(b[1], b[2], b[3]))
        else:
            # Each SVG goes in as an <img> data URI, not inline: an image document never runs
            # script or loads anything (a safety net under the escaping of names in it), and
            # its styles and coordinates stay its own whatever the page around it.
            with open(os.path.join(figure_dir, b[1]), "rb") as fh:
                data = base64.b64encode(fh.read()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(caps[b[1]])}" src="data:image/svg+xml;base64,{data}">'
                        f"<figcaption>{html.escape(caps[b[1]])}</figcaption></figure>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(m.title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


# --------------------------------------------------------------------------- writing


def _write_all(m: _Model, stage: str) -> None:
    fig_dir = os.path.join(stage, "figures")
    table_dir = os.path.join(stage, "tables")
    os.makedirs(fig_dir)
    os.makedirs(table_dir)
    for name, _caption, draw in m.figures:
        draw(os.path.join(fig_dir, name))
    for name, rows in m.tables.items():
        col.write_csv(os.path.join(table_dir, name), rows, col.TABLES[name])
    with open(os.path.join(stage, "report.md"), "w", encoding="utf-8") as fh:
        fh.write(to_markdown(m))
    with open(os.path.join(stage, "report.html"), "w", encoding="utf-8") as fh:
        fh.write(to_html(m, fig_dir))


def write_report_files(result: dict, stage: str, source: str = "<result>") -> None:
    """Render a result object into an empty staging folder (see :mod:`qsnnsim.report.folder`).

    Raises
    ------
    ResultError
        The result object is incomplete or inconsistent (checked before anything is drawn).
    """
    _write_all(summarise(result, source), stage)


def build_report(result: dict, out_dir: str, source: str = "<result>") -> list[str]:
    """Render a result object into ``out_dir`` (created if needed) and return the files written.

    Parameters
    ----------
    result : dict
        A ``qsnnsim-result`` object (as :func:`qsnnsim.report.files.read_result` returns).
    out_dir : str
        The report folder; a run's ``result.json`` in it is left alone, and nothing outside
        it is written or deleted (:class:`qsnnsim.report.folder.OutputFolder`).
    source : str
        Where ``result`` came from, for error messages.

    Returns
    -------
    list[str]
        ``report.html``, ``report.md``, then the figures and tables.

    Raises
    ------
    ResultError
        The result object is incomplete or inconsistent (nothing is written).
    InputError
        ``out_dir`` is a file, cannot be written, is in use by another run, or holds a link
        in place of ``figures``/``tables``.
    """
    model = summarise(result, source)
    run_id = result.get("run_id") if isinstance(result.get("run_id"), str) else None
    with OutputFolder(out_dir) as folder:
        try:
            stage = folder.stage()
            _write_all(model, stage)
            return folder.commit(stage, run_id or new_run_id())
        except OSError as exc:
            raise InputError(out_dir, "", f"cannot be written ({exc.strerror or exc})", "choose another folder") \
                from None
