"""Laws of the energy model on hypothesis-drawn small workloads and chips.

- Doubling one energy-table entry doubles exactly that entry's term; its component, the total
  and every population, core and timestep cell of that component grow by exactly the entry's
  old energy counted there (so a component doubles only when the entry is its one non-zero
  term); everything else is unchanged, and so are the other entries' written integers.
- A run's energy is exactly the sum of its samples' (every breakdown axis).
- An all-zero input to a network that cannot fire on its own costs only the fixed work
  (every neuron swept every timestep, end-of-timestep markers, passes' off-chip traffic) and
  leakage: counts taken from the mapping and docs/timing-model.md §5-§7, not from the engine.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
from engine_helpers import run_engine, with_packet_flits
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import small_archs, small_workloads

from qsnnsim.arch import ENERGY_ENTRY_NAMES, EnergyEntry
from qsnnsim.energy import (
    ACTION_ENTRIES,
    COMPONENTS,
    breakdown_to_dict,
    energy_entries,
    estimate_energy,
    estimate_run_energy,
)

_VALUES = st.sampled_from([0.0, 0.05, 0.1, 0.3, 1.0, 2.5, 7.0, 1e-3, 12.34])


def _with_energy(arch, values: dict):
    table = dataclasses.replace(arch.energy, **{
        name: EnergyEntry(value, f"test value {value}") for name, value in values.items()})
    return dataclasses.replace(arch, energy=table)


def _draw_case(data, **workload_kwargs):
    wl = data.draw(small_workloads(**workload_kwargs))
    arch = with_packet_flits(data.draw(small_archs(workload=wl)))
    values = {name: data.draw(_VALUES) for name in ENERGY_ENTRY_NAMES}
    return wl, _with_energy(arch, values), values


@settings(max_examples=25)
@given(st.data())
def test_doubling_one_entry_doubles_exactly_its_term(data):
    wl, arch, values = _draw_case(data, max_samples=1)
    counters = run_engine(wl, arch).samples[0].counters
    base = estimate_energy(counters, arch)
    for entry in ENERGY_ENTRY_NAMES:   # every entry of every drawn case: leakage and NoC included
        _check_doubling(counters, arch, values, base, entry)


def _check_doubling(counters, arch, values, base, entry) -> None:
    doubled = estimate_energy(counters, _with_energy(arch, {entry: 2 * values[entry]}))
    changed = base.term(entry)
    comp, grown = changed.component, changed.energy_pj
    assert doubled.term(entry).energy_pj == 2 * grown
    for old, new in zip(base.terms, doubled.terms):
        if old.entry != entry:
            assert new.energy_pj == old.energy_pj, f"doubling {entry} changed {old.entry}"
    for c in COMPONENTS:
        assert doubled.by_component[c] == base.by_component[c] + (grown if c == comp else 0), c
    # A component is the sum of its entries' terms: it doubles exactly when no other is non-zero.
    alone = not any(t.energy_pj for t in base.terms if t.component == comp and t.entry != entry)
    assert (doubled.by_component[comp] == 2 * base.by_component[comp]) == alone
    assert doubled.total_pj == base.total_pj + grown
    assert (doubled.counts, doubled.synaptic_ops, doubled.latency_cycles) == (
        base.counts, base.synaptic_ops, base.latency_cycles)
    # Each population, core and timestep cell of the component grows by the entry's energy
    # counted there (from the counters, not the energy code); leakage is per core only.
    action = next((a for a, (e, _) in ACTION_ENTRIES.items() if e == entry), None)
    price = Fraction(values[entry])
    names = list(counters.population_names)
    axes = (("population", [base.by_population[p] for p in names], [doubled.by_population[p] for p in names],
             counters.by_population()),
            ("core", base.by_core, doubled.by_core, counters.by_core()),
            ("timestep", base.by_timestep, doubled.by_timestep, counters.by_timestep()))
    for axis, old_rows, new_rows, counts in axes:
        increases = []
        for i, (old, new) in enumerate(zip(old_rows, new_rows)):
            if action is not None:
                grow = int(counts[i][int(action)]) * price
            else:
                grow = grown / arch.n_cores if axis == "core" and i < arch.n_cores else Fraction(0)
            for c in old:
                assert new[c] == old[c] + (grow if c == comp else 0), f"doubling {entry}: {axis} {i}, {c}"
            increases.append(grow if comp in old else Fraction(0))
        assert sum(increases) == (grown if action is not None or axis == "core" else 0), axis
    # Written whole-pJ figures: only the entry's integer changes, and its component and the
    # total by that same amount.
    w_base, w_doubled = breakdown_to_dict(base), breakdown_to_dict(doubled)
    step = round(2 * grown) - round(grown)
    for old, new in zip(w_base["terms"], w_doubled["terms"]):
        assert new["energy_pj"] == (round(2 * grown) if old["entry"] == entry else old["energy_pj"])
    assert w_doubled["components_pj"] == {c: v + (step if c == comp else 0) for c, v in w_base["components_pj"].items()}
    assert w_doubled["total_pj"] == w_base["total_pj"] + step


def _sum_axis(parts: list) -> list:
    return [{k: sum(p[i][k] for p in parts) for k in parts[0][i]} for i in range(len(parts[0]))]


@settings(max_examples=20)
@given(st.data())
def test_a_run_is_the_exact_sum_of_its_samples(data):
    wl, arch, _ = _draw_case(data, max_samples=2)
    indices = data.draw(st.lists(st.integers(0, wl.n_samples - 1), min_size=1, max_size=3))
    run = run_engine(wl, arch, samples=indices)
    energy = estimate_run_energy([s.counters for s in run.samples], arch)
    samples = energy.samples
    assert energy.run.total_pj == sum(b.total_pj for b in samples)
    assert energy.run.latency_cycles == sum(s.latency_cycles for s in run.samples)
    for comp in COMPONENTS:
        assert energy.run.by_component[comp] == sum(b.by_component[comp] for b in samples)
    assert list(energy.run.by_core) == _sum_axis([list(b.by_core) for b in samples])
    assert list(energy.run.by_timestep) == _sum_axis([list(b.by_timestep) for b in samples])
    for pop in energy.run.by_population:
        assert energy.run.by_population[pop] == {k: sum(b.by_population[pop][k] for b in samples)
                                                 for k in energy.run.by_population[pop]}
    assert energy.run.energy_per_inference_pj * len(indices) == energy.run.total_pj


def _silent(wl):
    """``wl`` with one all-zero sample and neurons that cannot fire without input:
    bias <= 0 keeps every membrane <= 0 (decay of a non-positive value stays non-positive),
    and threshold >= 1 is then never reached, with either compare."""
    pops = []
    for p in wl.populations:
        if p.kind == "lif":
            p = dataclasses.replace(p, bias=np.minimum(p.bias, 0).astype(p.bias.dtype),
                                    threshold=np.maximum(p.threshold, 1).astype(p.threshold.dtype))
        pops.append(p)
    return dataclasses.replace(wl, populations=tuple(pops), samples=np.zeros_like(wl.samples[:1]), labels=None)


@settings(max_examples=25)
@given(st.data())
def test_zero_input_costs_only_fixed_work_and_leakage(data):
    wl, arch, _ = _draw_case(data, max_samples=1)
    silent = _silent(wl)
    run = run_engine(silent, arch)
    mapping = run.mapping
    result = run.samples[0]
    b = estimate_energy(result.counters, arch)
    counts = b.counts
    T = wl.timesteps
    pops = {p.name: p for p in wl.populations}
    incoming = {p.name: len(wl.projections_into(p.name)) for p in wl.populations}
    for action in ("synaptic_add", "mac8", "mac16", "weight_sram_read", "spike", "accumulator_saturation"):
        assert counts[action] == 0, action
    assert b.by_component["synaptic_adds"] == b.by_component["macs"] == 0
    # The fire sweep of every slice at every timestep (timing model §5).
    sweep = {
        "neuron_update": sum(s.n_neurons for s in mapping.slices) * T,
        "compare": sum(s.n_neurons for s in mapping.slices if pops[s.population].kind == "lif") * T,
        "scale_mult": sum(s.n_neurons * incoming[s.population] for s in mapping.slices) * T,
        "membrane_sram_read": sum(s.membrane_words for s in mapping.slices) * T,
        "membrane_sram_write": sum(s.membrane_words for s in mapping.slices) * T,
        "acc_sram_read": sum(s.acc_words for s in mapping.slices) * T,
        "acc_sram_write": sum(s.acc_words for s in mapping.slices) * T,
    }
    # Only markers travel (§6): one packet per train, over its hops plus the ejection port; a
    # train re-injected by the host in a later pass starts at the io router (§7).
    hops = 0
    for (p, src, _t, dest) in result.trains:
        start = arch.io_core if src < 0 or mapping.slices[src].pass_index != p else mapping.slices[src].core
        hops += mapping.hops(start, dest) + 1
    noc = {"packet": len(result.trains), "flit_hop": hops, "spike_buffer_access": 2 * len(result.trains)}
    # Passes load weights and spill boundary bitmaps whatever the input: the same as with real input.
    loaded = run_engine(wl, arch).samples[0].counters.totals()
    fixed = {**sweep, **noc, "weight_sram_write": loaded["weight_sram_write"], "offchip_bit": loaded["offchip_bit"]}
    for action, n in fixed.items():
        assert counts[action] == n, action
    prices = {a.name.lower(): Fraction(energy_entries(arch)[entry].value) for a, (entry, _) in ACTION_ENTRIES.items()}
    expected = sum(n * prices[a] for a, n in fixed.items() if a in prices) + b.leakage_power_uw * b.latency_us
    assert b.total_pj == expected
    assert b.leakage_pj == b.leakage_power_uw * b.latency_us
