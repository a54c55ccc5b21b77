"""Energy stage: Counters x EnergyTable + leakage x time -> EnergyBreakdown (DESIGN §7).

The only module that multiplies by a pJ number. Dynamic energy is every counted action
times the energy-table entry for it; static energy is the chip's leakage power times the
simulated latency; nothing else is added (``docs/energy-model.md``).

Units: energies in pJ, power in uW, time in us; uW x us = pJ, so no conversion factor
appears anywhere. Arithmetic is exact: counts are integers, each table value is taken as
the exact rational value of its float, and every product and sum is a
:class:`fractions.Fraction`. A total is therefore *exactly* the sum of its parts (by
component, population, core or timestep, and a run is exactly the sum of its samples);
floats appear only when a number is shown, each rounded once. Written to JSON, the energies
that add up are whole pJ, rounded per term and sample and summed from there
(:func:`written_energy`), so they add up exactly in the file too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from qsnnsim.arch import ArchSpec, arch_from_dict
from qsnnsim.counters import ACTION_NAMES, Action, Counters, sum_counters
from qsnnsim.errors import ArchError, ResultError

#: Energy components in report order; ``leakage`` is the static part.
COMPONENTS = ("weight_sram", "membrane_sram", "accumulators", "synaptic_adds", "macs", "neuron_updates",
              "noc", "offchip", "leakage")
COMPONENT_LABELS = {
    "weight_sram": "weight SRAM",
    "membrane_sram": "membrane SRAM",
    "accumulators": "accumulator SRAM",
    "synaptic_adds": "synaptic adds",
    "macs": "multi-bit MACs",
    "neuron_updates": "neuron updates",
    "noc": "NoC",
    "offchip": "off-chip",
    "leakage": "leakage",
}
DYNAMIC_COMPONENTS = COMPONENTS[:-1]

#: Counted action -> (energy-table entry, component). Actions absent here cost nothing on
#: their own: a spike's and a packet's energy is in the flit-hops and spike-buffer accesses
#: it causes, and a saturation is a side effect of an add already paid for.
ACTION_ENTRIES = {
    Action.WEIGHT_SRAM_READ: ("weight_sram_read_pj", "weight_sram"),
    Action.WEIGHT_SRAM_WRITE: ("weight_sram_write_pj", "weight_sram"),
    Action.MEMBRANE_SRAM_READ: ("membrane_sram_read_pj", "membrane_sram"),
    Action.MEMBRANE_SRAM_WRITE: ("membrane_sram_write_pj", "membrane_sram"),
    Action.ACC_SRAM_READ: ("acc_sram_read_pj", "accumulators"),
    Action.ACC_SRAM_WRITE: ("acc_sram_write_pj", "accumulators"),
    Action.SPIKE_BUFFER_ACCESS: ("spike_buffer_access_pj", "noc"),
    Action.SYNAPTIC_ADD: ("synaptic_add_pj", "synaptic_adds"),
    Action.MAC8: ("mac8_pj", "macs"),
    Action.MAC16: ("mac16_pj", "macs"),
    Action.SCALE_MULT: ("scale_mult_pj", "neuron_updates"),
    Action.NEURON_UPDATE: ("neuron_update_pj", "neuron_updates"),
    Action.COMPARE: ("compare_pj", "neuron_updates"),
    Action.FLIT_HOP: ("flit_hop_pj", "noc"),
    Action.OFFCHIP_BIT: ("offchip_pj_per_bit", "offchip"),
    Action.CURRENT_UPDATE: ("current_update_pj", "neuron_updates"),
    Action.MULTI_SPIKE_COMPARE: ("multi_spike_compare_pj", "neuron_updates"),
    # a system's chip-to-chip links (DESIGN §12): the value is system.link.pj_per_bit, with its source
    Action.CHIP_LINK_BIT: ("chip_link_pj_per_bit", "noc"),
}
FREE_ACTIONS = (Action.SPIKE, Action.PACKET, Action.ACCUMULATOR_SATURATION)
#: Leakage entries and what each is multiplied by (a quantity x time).
LEAKAGE_ENTRIES = {
    "sram_leakage_uw_per_kib": "KiB x us",
    "core_logic_leakage_uw": "cores x us",
    "router_leakage_uw": "routers x us",
}

#: The estimate SNN papers quote: accumulates x E_AC + multiply-accumulates x E_MAC.
PAPER_AC_PJ = 0.9
PAPER_MAC_PJ = 4.6
PAPER_SOURCE = ("Horowitz, ISSCC 2014, 45 nm: 32-bit float add 0.9 pJ (E_AC); 32-bit float multiply "
                "3.7 pJ + add 0.9 pJ = 4.6 pJ (E_MAC)")
PAPER_LEAVES_OUT = ("SRAM accesses (weights, membranes, accumulators)", "neuron updates, scaling and compares",
                    "NoC flit-hops and spike buffers", "off-chip transfers", "leakage")

_ORDER = tuple(ACTION_ENTRIES)
_ACTION_COLUMNS = np.array([int(a) for a in _ORDER])


@dataclass(frozen=True)
class EnergyTerm:
    """One energy-table entry's contribution: ``quantity x value = energy_pj``.

    ``action`` is the counter's name (``None`` for a leakage entry, whose quantity is a
    capacity x time: KiB x us, cores x us or routers x us). ``value`` and ``source`` are the
    table's, verbatim.
    """

    entry: str
    action: str | None
    component: str
    quantity: Fraction
    quantity_unit: str
    value: float
    value_unit: str
    source: str
    energy_pj: Fraction


@dataclass(frozen=True)
class PaperEstimate:
    """``n_accumulates x E_AC + n_macs x E_MAC``, the figure SNN papers usually quote."""

    n_accumulates: int
    n_macs: int
    ac_pj: float
    mac_pj: float
    source: str
    energy_pj: Fraction
    leaves_out: tuple = PAPER_LEAVES_OUT


@dataclass(frozen=True, eq=False)
class EnergyBreakdown:
    """Energy of one sample (or of several, summed), exactly, in pJ.

    Attributes
    ----------
    terms : tuple[EnergyTerm, ...]
        One per energy-table entry, in table order; they sum to ``total_pj``.
    by_population : dict[str, dict[str, Fraction]]
        Dynamic energy per population and component (leakage is the chip's, not a layer's).
    by_core : tuple[dict[str, Fraction], ...]
        Per core (``n_cores + 1`` rows, the last one the host/off-chip interface) and
        component, leakage included (each core's SRAM, logic and router).
    by_timestep : tuple[dict[str, Fraction], ...]
        Dynamic energy per timestep and component.
    latency_cycles : int
        Simulated time the leakage runs for (a sum over samples for a summed breakdown).
    clock_mhz : float
    leakage_power_uw : Fraction
        Static power of the whole chip.
    n_inferences : int
        Samples this breakdown covers.
    counts : dict[str, int]
        Every counter's total (``qsnnsim.counters.ACTION_NAMES``).
    """

    terms: tuple
    by_population: dict
    by_core: tuple
    by_timestep: tuple
    latency_cycles: int
    clock_mhz: float
    leakage_power_uw: Fraction
    n_inferences: int
    counts: dict = field(default_factory=dict)

    @property
    def latency_us(self) -> Fraction:
        return Fraction(self.latency_cycles) / Fraction(self.clock_mhz)

    @property
    def by_component(self) -> dict[str, Fraction]:
        """pJ per component, in :data:`COMPONENTS` order (zeros included)."""
        out = {c: Fraction(0) for c in COMPONENTS}
        for term in self.terms:
            out[term.component] += term.energy_pj
        return out

    @property
    def total_pj(self) -> Fraction:
        return sum((t.energy_pj for t in self.terms), Fraction(0))

    @property
    def dynamic_pj(self) -> Fraction:
        return sum((t.energy_pj for t in self.terms if t.component != "leakage"), Fraction(0))

    @property
    def leakage_pj(self) -> Fraction:
        return self.by_component["leakage"]

    @property
    def energy_per_inference_pj(self) -> Fraction:
        return self.total_pj / self.n_inferences

    @property
    def synaptic_ops(self) -> int:
        """SOPs: spike-triggered accumulates plus multi-bit MACs of an analog input."""
        return self.counts["synaptic_add"] + self.counts["mac8"] + self.counts["mac16"]

    @property
    def pj_per_sop(self) -> Fraction | None:
        return self.total_pj / self.synaptic_ops if self.synaptic_ops else None

    @property
    def average_power_uw(self) -> Fraction | None:
        """Total energy over the simulated time (pJ / us = uW)."""
        return self.total_pj / self.latency_us if self.latency_cycles else None

    @property
    def throughput_per_s(self) -> Fraction | None:
        """Inferences per second, one after another, at the simulated latency."""
        return Fraction(10**6 * self.n_inferences) / self.latency_us if self.latency_cycles else None

    @property
    def paper_estimate(self) -> PaperEstimate:
        n_ac = self.counts["synaptic_add"]
        n_mac = self.counts["mac8"] + self.counts["mac16"]
        energy = n_ac * Fraction(PAPER_AC_PJ) + n_mac * Fraction(PAPER_MAC_PJ)
        return PaperEstimate(n_ac, n_mac, PAPER_AC_PJ, PAPER_MAC_PJ, PAPER_SOURCE, energy)

    def term(self, entry: str) -> EnergyTerm:
        for t in self.terms:
            if t.entry == entry:
                return t
        raise KeyError(entry)


def sram_capacity_kib(arch: ArchSpec) -> Fraction:
    """SRAM of one core (weight + membrane + accumulator), KiB (1 KiB = 8192 bits)."""
    core = arch.core
    bits = core.weight_sram.capacity_bits + core.membrane_sram.capacity_bits + core.acc_sram.capacity_bits
    return Fraction(bits, 8192)


def leakage_power_uw(arch: ArchSpec) -> Fraction:
    """Static power of the chip: every core's SRAM, logic and router leak whether used or not.

    Parameters
    ----------
    arch : ArchSpec

    Returns
    -------
    Fraction
        uW: ``n_cores x (SRAM KiB x sram_leakage_uw_per_kib + core_logic_leakage_uw +
        router_leakage_uw)`` (one router per core).
    """
    return arch.n_cores * _core_leakage_uw(arch)


def _core_leakage_uw(arch: ArchSpec) -> Fraction:
    e = arch.energy
    return (sram_capacity_kib(arch) * Fraction(e.sram_leakage_uw_per_kib.value)
            + Fraction(e.core_logic_leakage_uw.value) + Fraction(e.router_leakage_uw.value))


def energy_entries(arch: ArchSpec) -> dict:
    """The arch's energy table, and the chip-to-chip link's pJ/bit (``system.link.pj_per_bit``)
    as the entry ``chip_link_pj_per_bit``: every value an action is priced at, with its source."""
    from qsnnsim.arch import EnergyEntry

    link = arch.system.link.pj_per_bit
    return {**arch.energy.entries(), "chip_link_pj_per_bit": EnergyEntry(link.value, link.source)}


def _prices(arch: ArchSpec) -> list[Fraction]:
    entries = energy_entries(arch)
    return [Fraction(entries[ACTION_ENTRIES[a][0]].value) for a in _ORDER]


def _components_of(counts: np.ndarray, prices: list[Fraction]) -> dict[str, Fraction]:
    """Dynamic pJ per component of one row of counts (n_actions,)."""
    out = {c: Fraction(0) for c in DYNAMIC_COMPONENTS}
    picked = counts[_ACTION_COLUMNS]
    for action, n, price in zip(_ORDER, picked.tolist(), prices):
        if n:
            out[ACTION_ENTRIES[action][1]] += n * price
    return out


def _terms(totals: dict[str, int], latency: int, arch: ArchSpec) -> tuple:
    """One :class:`EnergyTerm` per energy-table entry, in table order: counts x value, leakage x time."""
    entries = energy_entries(arch)
    terms = []
    for action, (entry_name, component) in ACTION_ENTRIES.items():
        entry = entries[entry_name]
        n = totals[ACTION_NAMES[action]]
        unit = "pJ/bit" if entry_name.endswith("_per_bit") else "pJ"
        terms.append(EnergyTerm(entry_name, ACTION_NAMES[action], component, Fraction(n),
                                "bits" if unit == "pJ/bit" else "actions", entry.value, unit, entry.source,
                                n * Fraction(entry.value)))
    latency_us = Fraction(latency) / Fraction(arch.chip.clock_mhz)
    quantities = {
        "sram_leakage_uw_per_kib": arch.n_cores * sram_capacity_kib(arch) * latency_us,
        "core_logic_leakage_uw": arch.n_cores * latency_us,
        "router_leakage_uw": arch.n_cores * latency_us,
    }
    for entry_name, unit in LEAKAGE_ENTRIES.items():
        entry = entries[entry_name]
        q = quantities[entry_name]
        terms.append(EnergyTerm(entry_name, None, "leakage", q, unit, entry.value,
                                "uW/KiB" if entry_name == "sram_leakage_uw_per_kib" else "uW", entry.source,
                                q * Fraction(entry.value)))
    order = {name: i for i, name in enumerate(entries)}
    terms.sort(key=lambda t: order[t.entry])
    return tuple(terms)


def estimate_totals_energy(totals: dict[str, int], latency_cycles: int, arch: ArchSpec) -> EnergyBreakdown:
    """One sample's energy from its action totals alone (no per-layer, core or timestep split).

    Energy is linear in the counts, so this equals :func:`estimate_energy`'s terms for the
    counters these totals sum; a result JSON keeps per-sample totals and the run's full
    counters (docs/results-format.md). ``by_population``, ``by_core`` and ``by_timestep`` are
    empty.
    """
    totals = {name: int(totals[name]) for name in ACTION_NAMES}
    return EnergyBreakdown(
        terms=_terms(totals, int(latency_cycles), arch), by_population={}, by_core=(), by_timestep=(),
        latency_cycles=int(latency_cycles), clock_mhz=arch.chip.clock_mhz, leakage_power_uw=leakage_power_uw(arch),
        n_inferences=1, counts=totals,
    )


def estimate_energy(counters: Counters, arch: ArchSpec, latency_cycles: int | None = None,
                    n_inferences: int = 1) -> EnergyBreakdown:
    """Energy of a run from its counters and the architecture's energy table.

    Parameters
    ----------
    counters : Counters
        One sample's counters (or :func:`qsnnsim.counters.sum_counters` of several).
    arch : ArchSpec
        The architecture the counters were taken on (its energy table, SRAM sizes, mesh, clock).
    latency_cycles : int, optional
        Time the chip leaks for, in cycles; default ``counters.latency_cycles``.
    n_inferences : int
        How many samples the counters cover (for per-inference figures).

    Returns
    -------
    EnergyBreakdown
    """
    if counters.n_cores != arch.n_cores:
        raise ValueError(f"counters are of {counters.n_cores} cores, the arch has {arch.n_cores}")
    latency = int(counters.latency_cycles if latency_cycles is None else latency_cycles)
    totals = counters.totals()
    terms = _terms(totals, latency, arch)
    prices = _prices(arch)
    latency_us = Fraction(latency) / Fraction(arch.chip.clock_mhz)
    by_pop_counts = counters.by_population()
    by_population = {name: _components_of(by_pop_counts[i], prices)
                     for i, name in enumerate(counters.population_names)}
    core_leak = _core_leakage_uw(arch) * latency_us
    by_core = []
    for i, row in enumerate(counters.by_core()):
        comps = _components_of(row, prices)
        comps["leakage"] = core_leak if i < arch.n_cores else Fraction(0)
        by_core.append(comps)
    by_timestep = tuple(_components_of(row, prices) for row in counters.by_timestep())
    return EnergyBreakdown(
        terms=terms, by_population=by_population, by_core=tuple(by_core), by_timestep=by_timestep,
        latency_cycles=latency, clock_mhz=arch.chip.clock_mhz, leakage_power_uw=leakage_power_uw(arch),
        n_inferences=n_inferences, counts=totals,
    )


# --------------------------------------------------------------------------- over samples


@dataclass(frozen=True)
class Stats:
    """mean, min, max and 95th percentile (numpy's linear interpolation) of per-sample values."""

    mean: float
    min: float
    max: float
    p95: float


def describe(values) -> Stats:
    """:class:`Stats` of a non-empty sequence of numbers (exact values are rounded once)."""
    arr = np.array([float(v) for v in values], dtype=np.float64)
    return Stats(float(np.mean(arr)), float(arr.min()), float(arr.max()), float(np.percentile(arr, 95)))


@dataclass(frozen=True, eq=False)
class RunEnergy:
    """Every sample's breakdown and the run's (their exact sum)."""

    samples: tuple
    run: EnergyBreakdown

    def stats(self, metric) -> Stats:
        """``metric(breakdown) -> number`` over the samples."""
        return describe([metric(b) for b in self.samples])


def estimate_run_energy(counters_list: list[Counters], arch: ArchSpec) -> RunEnergy:
    """Per-sample breakdowns and the run's, from each sample's counters.

    The run breakdown is computed from the summed counters and summed latency, so it equals
    the sum of the samples' breakdowns exactly (energy is linear in counts and time).

    Parameters
    ----------
    counters_list : list[Counters]
        One per sample, in run order (non-empty).
    arch : ArchSpec
        The architecture they were counted on.

    Returns
    -------
    RunEnergy
    """
    if not counters_list:
        raise ValueError("no samples")
    samples = tuple(estimate_energy(c, arch) for c in counters_list)
    run = estimate_energy(sum_counters(list(counters_list)), arch, n_inferences=len(counters_list))
    return RunEnergy(samples=samples, run=run)


# --------------------------------------------------------------------------- JSON


def arch_from_result(data: dict, path: str = "<result>") -> ArchSpec:
    """The architecture a result JSON records (``arch``, without its ``path``), validated.

    Parameters
    ----------
    data : dict
        A result object.
    path : str
        Its file, for messages.

    Returns
    -------
    ArchSpec

    Raises
    ------
    ResultError
        Naming ``arch.<field>`` when the recorded arch is missing or invalid.
    """
    arch_data = data.get("arch") if isinstance(data, dict) else None
    if not isinstance(arch_data, dict):
        raise ResultError(path, "arch", "is missing or not an object", "re-run qsnnsim run to write it again")
    arch_data = {k: v for k, v in arch_data.items() if k != "path"}
    try:
        return arch_from_dict(arch_data, file=path)
    except ArchError as exc:
        raise ResultError(path, "arch." + exc.field if exc.field else "arch", exc.problem, exc.fix) from None


def counters_from_json(data, path: str = "<result>", where: str = "counters") -> Counters:
    """:class:`Counters` from their result-JSON object (the run's, or a traced sample's), shapes checked.

    Raises
    ------
    ResultError
        Naming ``where`` when the counters are missing, have other names than this version's,
        or do not have the shapes of one run.
    """
    if not isinstance(data, dict):
        raise ResultError(path, where, "is missing or not an object", "re-run qsnnsim run to write it again")
    try:
        counters = Counters.from_dict(data)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ResultError(path, where, f"cannot be read ({exc})",
                          "re-run qsnnsim run with this version of qsnnsim") from None
    if counters.actions.ndim != 4 or counters.actions.shape[3] != len(ACTION_NAMES):
        raise ResultError(path, where + ".action_counts", f"has shape {counters.actions.shape}, "
                          "not (cores + 1, populations, timesteps, actions)", "re-run qsnnsim run")
    if counters.actions.shape[1] != len(counters.population_names):
        raise ResultError(path, where + ".action_counts", "has a population axis that does not match "
                          "population_names", "re-run qsnnsim run")
    if counters.unit_cycles.ndim != 4 or counters.unit_cycles.shape[:3] != counters.actions.shape[:3]:
        raise ResultError(path, where + ".unit_cycles", f"has shape {counters.unit_cycles.shape}, "
                          f"not {counters.actions.shape[:3] + ('units',)} (cores + 1, populations, timesteps, units)",
                          "re-run qsnnsim run")
    if (counters.actions < 0).any() or (counters.unit_cycles < 0).any() or counters.latency_cycles < 0:
        raise ResultError(path, where, "holds negative counts", "re-run qsnnsim run")
    return counters


def totals_from_sample(entry, path: str = "<result>", index: int = 0) -> tuple[dict, int]:
    """A sample entry's ``action_totals`` and ``latency_cycles``, checked (non-negative int64)."""
    where = f"samples[{index}]"
    if not isinstance(entry, dict):
        raise ResultError(path, where, "is not an object", "re-run qsnnsim run to write it again")
    totals = entry.get("action_totals")
    if not isinstance(totals, dict) or not totals or tuple(totals) != ACTION_NAMES[:len(totals)]:
        raise ResultError(path, f"{where}.action_totals", "is missing or names other counters than this "
                          "version's", "re-run qsnnsim run with this version of qsnnsim")
    # A result written before the later counters existed: they counted nothing then.
    totals = {**totals, **{name: 0 for name in ACTION_NAMES[len(totals):]}}
    latency = entry.get("latency_cycles")
    for name, value in (*totals.items(), ("latency_cycles", latency)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            field = f"{where}.latency_cycles" if name == "latency_cycles" else f"{where}.action_totals.{name}"
            raise ResultError(path, field, "must be a non-negative integer in the int64 range",
                              "re-run qsnnsim run to write it again")
    return dict(totals), latency


def run_energy_from_parts(sample_totals: list, run_counters: Counters, arch: ArchSpec) -> RunEnergy:
    """A run's energy from each sample's (action totals, latency) and the run's summed counters.

    The run's breakdown (per layer, core and timestep) comes from the summed counters; each
    sample's from its totals (:func:`estimate_totals_energy`). The two agree exactly when
    the counters are the samples' sum, which :func:`energy_from_result` checks.
    """
    samples = tuple(estimate_totals_energy(t, latency, arch) for t, latency in sample_totals)
    run = estimate_energy(run_counters, arch, n_inferences=len(samples))
    return RunEnergy(samples=samples, run=run)


def energy_from_result(data: dict, path: str = "<result>") -> RunEnergy:
    """The energy of every sample of a result JSON, recomputed from its counters and arch.

    Parameters
    ----------
    data : dict
        A ``qsnnsim-result`` object (see :func:`qsnnsim.report.files.read_result`).
    path : str
        The file it came from, for error messages.

    Raises
    ------
    ResultError
        When the arch or a sample's counters cannot be read or do not fit together.
    """
    arch = arch_from_result(data, path)
    samples = data.get("samples")
    if not isinstance(samples, list) or not samples:
        raise ResultError(path, "samples", "is empty or not a list", "re-run qsnnsim run")
    run_counters = counters_from_json(data.get("counters"), path, "counters")
    if run_counters.n_cores != arch.n_cores:
        raise ResultError(path, "counters.action_counts",
                          f"has {run_counters.n_cores} core rows + host, the arch has {arch.n_cores} cores",
                          "the result was edited or comes from another arch; re-run qsnnsim run")
    parts = [totals_from_sample(s, path, i) for i, s in enumerate(samples)]
    summed = run_counters.totals()
    for name in ACTION_NAMES:
        if sum(t[name] for t, _ in parts) != summed[name]:
            raise ResultError(path, f"counters.action_counts ({name})", "is not the sum of the samples' "
                              "action_totals", "the result was edited; re-run qsnnsim run")
    if sum(latency for _, latency in parts) != run_counters.latency_cycles:
        raise ResultError(path, "counters.latency_cycles", "is not the sum of the samples' latency_cycles",
                          "the result was edited; re-run qsnnsim run")
    return run_energy_from_parts(parts, run_counters, arch)


@dataclass(frozen=True)
class WrittenEnergy:
    """A breakdown as written to JSON: whole pJ, so its parts add up with any reader.

    ``terms_pj[entry]`` is a term's energy rounded to the nearest pJ (Python's ``round`` on
    the exact Fraction: half to even) for one sample, or the sum of the samples' integers
    for a run; ``components_pj`` is the sum of each component's term integers and
    ``total_pj`` the sum of the components. Each integer is within 0.5 pJ per term and
    sample of the exact value (docs/energy-model.md, "Written energies").
    """

    terms_pj: dict
    components_pj: dict
    total_pj: int

    @classmethod
    def from_terms(cls, terms_pj: dict, component_of: dict) -> "WrittenEnergy":
        comps = {c: 0 for c in COMPONENTS}
        for entry, pj in terms_pj.items():
            comps[component_of[entry]] += pj
        return cls(dict(terms_pj), comps, sum(comps.values()))


def written_energy(run_energy: RunEnergy) -> tuple[tuple[WrittenEnergy, ...], WrittenEnergy]:
    """The whole-pJ figures of every sample and of the run, as ``run_energy_to_dict`` writes them.

    Parameters
    ----------
    run_energy : RunEnergy

    Returns
    -------
    (samples, run) : tuple[tuple[WrittenEnergy, ...], WrittenEnergy]
        Each sample's terms are its exact terms rounded to the nearest pJ; the run's terms are
        the sums of the samples' integers (not the run's exact terms rounded), so the run's
        terms, components and total are exactly the sums of the samples'.
    """
    component_of = {t.entry: t.component for t in run_energy.run.terms}
    samples = tuple(WrittenEnergy.from_terms({t.entry: round(t.energy_pj) for t in b.terms}, component_of)
                    for b in run_energy.samples)
    run_terms = {t.entry: sum(s.terms_pj[t.entry] for s in samples) for t in run_energy.run.terms}
    return samples, WrittenEnergy.from_terms(run_terms, component_of)


def breakdown_to_dict(b: EnergyBreakdown, written: WrittenEnergy | None = None) -> dict:
    """A breakdown's headline figures as JSON.

    The additive figures (``terms[*].energy_pj``, ``components_pj``, ``total_pj``) are the
    integers of ``written`` (default: ``b``'s terms rounded to whole pJ), so they add up
    exactly in the file. ``energy_per_inference_pj`` and ``pj_per_sop`` are computed from that
    integer total; the other figures are their exact values rounded once to a float.
    """
    if written is None:
        written = WrittenEnergy.from_terms({t.entry: round(t.energy_pj) for t in b.terms},
                                           {t.entry: t.component for t in b.terms})

    def opt(x):
        return None if x is None else float(x)

    total = written.total_pj
    return {
        "total_pj": total,
        "energy_per_inference_pj": total / b.n_inferences,
        "components_pj": dict(written.components_pj),
        "leakage_power_uw": float(b.leakage_power_uw),
        "synaptic_ops": b.synaptic_ops,
        "pj_per_sop": total / b.synaptic_ops if b.synaptic_ops else None,
        "average_power_uw": opt(b.average_power_uw),
        "throughput_per_s": opt(b.throughput_per_s),
        "paper_estimate_pj": float(b.paper_estimate.energy_pj),
        "terms": [{"entry": t.entry, "action": t.action, "quantity": float(t.quantity),
                   "value": t.value, "energy_pj": written.terms_pj[t.entry]} for t in b.terms],
    }


def run_energy_to_dict(run_energy: RunEnergy) -> dict:
    """The ``energy`` section a result JSON carries (docs/results-format.md).

    Energies that add up (terms, components, totals) are whole pJ (:func:`written_energy`):
    in the file every component is the sum of its terms, every total the sum of its
    components, and the run's terms, components and total the sums of the samples'.
    """
    samples, run = written_energy(run_energy)
    return {
        "model": "counters x energy table + leakage x latency (docs/energy-model.md)",
        "samples": [breakdown_to_dict(b, w) for b, w in zip(run_energy.samples, samples)],
        "run": breakdown_to_dict(run_energy.run, run),
    }
