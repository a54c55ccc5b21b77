"""qsnnsim.energy: counters x energy table + leakage x time, exactly.

Exactness rule checked here: every energy is a Fraction (integer counts x the exact value of
each table float), so a total equals the sum of its parts with ``==``, whichever way it is cut
(component, population, core, timestep, sample). Floats shown are those exact values rounded
once, so ``math.fsum`` of the rounded parts agrees with the rounded total to a few ulps; the
energies written to JSON are whole pJ, rounded per term and sample and summed from there, so
they add up exactly in the file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from fractions import Fraction

import numpy as np
import pytest
from engine_helpers import run_engine
from strategies.archs import arch_dict
from strategies.workloads import reference_workload

from qsnnsim.arch import ENERGY_ENTRY_NAMES, arch_from_dict, load_arch
from qsnnsim.counters import ACTION_NAMES, Action, Counters, Unit
from qsnnsim.energy import (
    ACTION_ENTRIES,
    COMPONENTS,
    FREE_ACTIONS,
    LEAKAGE_ENTRIES,
    PAPER_AC_PJ,
    PAPER_MAC_PJ,
    energy_from_result,
    estimate_energy,
    estimate_run_energy,
    leakage_power_uw,
    run_energy_to_dict,
)
from qsnnsim.engine.simulate import simulate
from qsnnsim.errors import ResultError
from qsnnsim.footprint import compute_footprint
from qsnnsim.golden import run_golden
from qsnnsim.mapping import map_workload
from qsnnsim.report.files import run_to_dict
from qsnnsim.workload import load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _arch(**values):
    """arch_dict's 2x2 chip (100 MHz) with the given energy values; every other entry 0."""
    data = arch_dict()
    for name in data["energy"]:
        data["energy"][name] = {"value": values.get(name, 0.0), "source": f"test value for {name}"}
    return arch_from_dict(data, "<test>")


def _counters(n_cores: int, n_pops: int, T: int, latency: int, counts: dict) -> Counters:
    """Counters with ``counts[(core, pop, t, action)] = n``."""
    actions = np.zeros((n_cores + 1, n_pops, T, len(Action)), np.int64)
    for (core, pop, t, action), n in counts.items():
        actions[core, pop, t, int(action)] = n
    return Counters(actions=actions, unit_cycles=np.zeros(actions.shape[:3] + (len(Unit),), np.int64),
                    latency_cycles=latency, population_names=tuple(f"p{i}" for i in range(n_pops)))


def assert_parts_add_up(b) -> None:
    total = b.total_pj
    assert sum(b.by_component.values()) == total
    assert sum(t.energy_pj for t in b.terms) == total
    assert sum(sum(c.values()) for c in b.by_core) == total
    leak = b.by_component["leakage"]
    assert sum(sum(p.values()) for p in b.by_population.values()) + leak == total
    assert sum(sum(t.values()) for t in b.by_timestep) + leak == total
    assert math.isclose(math.fsum(float(v) for v in b.by_component.values()), float(total), rel_tol=1e-14)


def test_hand_derived_breakdown():
    arch = _arch(synaptic_add_pj=0.125, acc_sram_read_pj=2.0, flit_hop_pj=1.5, offchip_pj_per_bit=0.25,
                 sram_leakage_uw_per_kib=2.0, core_logic_leakage_uw=1.0, router_leakage_uw=0.5)
    c = _counters(4, 2, 2, latency=200, counts={
        (0, 1, 0, Action.SYNAPTIC_ADD): 6, (1, 1, 1, Action.SYNAPTIC_ADD): 4,
        (0, 1, 0, Action.ACC_SRAM_READ): 10,
        (2, 0, 1, Action.FLIT_HOP): 3,
        (4, 0, 0, Action.OFFCHIP_BIT): 64,   # row 4 = the host interface
        (0, 1, 1, Action.SPIKE): 7,          # spikes cost nothing on their own
    })
    b = estimate_energy(c, arch)
    # SRAM per core: weight 2x256x16 + membrane 2x32x16 + acc 2x64x32 = 13,312 bits = 1.625 KiB.
    # Leakage power: 4 x (1.625 x 2.0 + 1.0 + 0.5) = 19 uW; 200 cycles at 100 MHz = 2 us -> 38 pJ.
    assert b.leakage_power_uw == 19
    assert b.latency_us == 2
    assert b.by_component == {
        "weight_sram": 0, "membrane_sram": 0,
        "accumulators": 20,        # 10 x 2.0
        "synaptic_adds": Fraction(5, 4),  # 10 x 0.125
        "macs": 0, "neuron_updates": 0,
        "noc": Fraction(9, 2),     # 3 x 1.5
        "offchip": 16,             # 64 bits x 0.25
        "leakage": 38,
    }
    assert b.total_pj == Fraction(319, 4)   # 20 + 1.25 + 4.5 + 16 + 38 = 79.75
    assert b.synaptic_ops == 10
    assert b.pj_per_sop == Fraction(319, 40)
    assert b.average_power_uw == Fraction(319, 8)   # 79.75 pJ / 2 us
    assert b.throughput_per_s == 500_000
    assert b.by_core[4] == {**{k: 0 for k in COMPONENTS}, "offchip": 16}
    assert b.by_core[0]["leakage"] == Fraction(19, 2)    # a quarter of 38 pJ
    assert b.by_population["p1"]["accumulators"] == 20
    assert b.by_timestep[1]["synaptic_adds"] == Fraction(1, 2)
    term = b.term("sram_leakage_uw_per_kib")
    assert (term.quantity, term.quantity_unit, term.energy_pj) == (13, "KiB x us", 26)   # 6.5 KiB x 2 us x 2
    assert b.term("synaptic_add_pj").source == "test value for synaptic_add_pj"
    assert_parts_add_up(b)


def test_paper_estimate_counts_accumulates_and_macs():
    arch = _arch()
    c = _counters(4, 2, 1, latency=10, counts={(0, 1, 0, Action.SYNAPTIC_ADD): 100, (1, 1, 0, Action.MAC8): 20,
                                               (1, 1, 0, Action.MAC16): 5})
    paper = estimate_energy(c, arch).paper_estimate
    assert (paper.n_accumulates, paper.n_macs) == (100, 25)
    assert paper.energy_pj == 100 * Fraction(PAPER_AC_PJ) + 25 * Fraction(PAPER_MAC_PJ)
    assert math.isclose(float(paper.energy_pj), 100 * 0.9 + 25 * 4.6)


def test_every_table_entry_and_every_action_has_one_place():
    entries = [e for e, _ in ACTION_ENTRIES.values()] + list(LEAKAGE_ENTRIES)
    # the chip-to-chip link's pJ/bit lives with the link, in system.link (DESIGN §12)
    assert sorted(entries) == sorted(ENERGY_ENTRY_NAMES + ("chip_link_pj_per_bit",))
    assert set(ACTION_ENTRIES) | set(FREE_ACTIONS) == set(Action)
    assert not set(ACTION_ENTRIES) & set(FREE_ACTIONS)
    assert {comp for _, comp in ACTION_ENTRIES.values()} | {"leakage"} == set(COMPONENTS)


def test_leakage_counts_every_core_used_or_not():
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    core = arch.core
    kib = (core.weight_sram.capacity_bits + core.membrane_sram.capacity_bits + core.acc_sram.capacity_bits) / 8192
    e = arch.energy
    expected = arch.n_cores * (kib * e.sram_leakage_uw_per_kib.value + e.core_logic_leakage_uw.value
                               + e.router_leakage_uw.value)
    assert math.isclose(float(leakage_power_uw(arch)), expected, rel_tol=1e-15)


def test_run_is_the_exact_sum_of_its_samples():
    arch = _arch(synaptic_add_pj=0.1, flit_hop_pj=0.3, sram_leakage_uw_per_kib=0.7)
    a = _counters(4, 1, 1, latency=333, counts={(0, 0, 0, Action.SYNAPTIC_ADD): 7, (1, 0, 0, Action.FLIT_HOP): 3})
    b = _counters(4, 1, 1, latency=101, counts={(2, 0, 0, Action.SYNAPTIC_ADD): 11})
    run = estimate_run_energy([a, b], arch)
    assert run.run.total_pj == run.samples[0].total_pj + run.samples[1].total_pj
    assert run.run.n_inferences == 2
    assert run.run.energy_per_inference_pj == (run.samples[0].total_pj + run.samples[1].total_pj) / 2
    stats = run.stats(lambda x: x.total_pj)
    assert stats.min == float(min(s.total_pj for s in run.samples))
    assert stats.max == float(max(s.total_pj for s in run.samples))


def test_counters_of_another_chip_are_refused():
    with pytest.raises(ValueError, match="counters are of 9 cores, the arch has 4"):
        estimate_energy(_counters(9, 1, 1, 10, {}), _arch())


def _tiny_result():
    wl = reference_workload()
    arch = _arch(synaptic_add_pj=0.3, acc_sram_read_pj=1.7, flit_hop_pj=0.9, sram_leakage_uw_per_kib=0.2)
    mapping = map_workload(wl, arch)
    run = simulate(wl, arch, mapping, samples=[0, 1])
    checks = [{"predicted": s.predicted, "readout_equal": True, "spikes_equal": True} for s in run.samples]
    data = json.loads(json.dumps(run_to_dict(run, compute_footprint(wl, mapping, arch), checks)))
    return run, arch, data


def test_energy_from_json_equals_energy_from_counters():
    run, arch, data = _tiny_result()
    direct = estimate_run_energy([s.counters for s in run.samples], arch)
    again = energy_from_result(data, "r.json")
    assert [b.total_pj for b in again.samples] == [b.total_pj for b in direct.samples]
    assert again.run.by_component == direct.run.by_component
    summary = run_energy_to_dict(direct)
    # Whole pJ: each sample's terms rounded, the run's terms the sums of the samples' integers.
    per_sample = [sum(round(t.energy_pj) for t in b.terms) for b in direct.samples]
    assert [s["total_pj"] for s in summary["samples"]] == per_sample
    assert summary["run"]["total_pj"] == sum(per_sample)
    assert abs(summary["run"]["total_pj"] - direct.run.total_pj) <= Fraction(len(direct.run.terms), 2) * len(per_sample)
    assert json.loads(json.dumps(summary)) == summary


def test_written_energies_are_whole_pj_rounded_per_term_and_sample():
    arch = _arch(synaptic_add_pj=0.375, flit_hop_pj=0.375, spike_buffer_access_pj=0.25)
    one = _counters(4, 1, 1, latency=100, counts={(0, 0, 0, Action.SYNAPTIC_ADD): 1, (1, 0, 0, Action.FLIT_HOP): 4,
                                                   (1, 0, 0, Action.SPIKE_BUFFER_ACCESS): 10})
    energy = estimate_run_energy([one, one, one], arch)
    out = json.loads(json.dumps(run_energy_to_dict(energy)))
    # Per sample: synaptic add 1 x 0.375 = 0.375 -> 0; flit-hops 4 x 0.375 = 1.5 -> 2 and spike
    # buffer 10 x 0.25 = 2.5 -> 2 (round half to even); NoC = 2 + 2 = 4; total 4 (exact 4.375).
    sample = out["samples"][0]
    assert {t["entry"]: t["energy_pj"] for t in sample["terms"] if t["energy_pj"]} == {
        "spike_buffer_access_pj": 2, "flit_hop_pj": 2}
    assert sample["components_pj"] == {**{c: 0 for c in COMPONENTS}, "noc": 4}
    assert sample["total_pj"] == 4 and sample["energy_per_inference_pj"] == 4.0 and sample["pj_per_sop"] == 4.0
    # The run sums the samples' integers: flit-hops 3 x 2 = 6, not round(4.5) = 4; spike buffer
    # 6, not round(7.5) = 8; synaptic adds 0, not round(1.125) = 1. Total 12 (exact 13.125).
    run = out["run"]
    assert round(energy.run.term("flit_hop_pj").energy_pj) == 4
    assert {t["entry"]: t["energy_pj"] for t in run["terms"] if t["energy_pj"]} == {
        "spike_buffer_access_pj": 6, "flit_hop_pj": 6}
    assert run["components_pj"] == {**{c: 0 for c in COMPONENTS}, "noc": 12}
    assert run["total_pj"] == 12 and run["energy_per_inference_pj"] == 4.0 and run["pj_per_sop"] == 4.0
    for b in out["samples"] + [run]:
        assert all(type(v) is int for v in [b["total_pj"], *b["components_pj"].values()]
                   + [t["energy_pj"] for t in b["terms"]])


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["arch"]["energy"].pop("mac8_pj"), r"r\.json: arch\.energy\.mac8_pj: "),
    (lambda d: d["arch"]["chip"].update(mesh_rows=3), r"counters\.action_counts: has 4 core rows"),
    (lambda d: d["counters"].update(action_counts=[[1, 2], [3]]), r"r\.json: counters: cannot be read"),
    (lambda d: d["counters"].update(actions=["x"]), r"r\.json: counters: cannot be read"),
    (lambda d: d.update(samples=[]), r"samples: is empty"),
    (lambda d: d["counters"]["action_counts"][0][0][0].__setitem__(7, 1e308),
     r"counters: cannot be read \(action_counts\[0\]\[0\]\[0\]\[7\] is 1e\+308, not an integer "
     r"in the int64 range\)"),
    (lambda d: d["counters"]["action_counts"][1][0][0].__setitem__(0, 2**63),
     r"action_counts\[1\]\[0\]\[0\]\[0\] is 9223372036854775808, not an integer in the int64 range"),
    (lambda d: d["counters"]["action_counts"][0][0][0].__setitem__(2, 2.5),
     r"counters: cannot be read \(action_counts\[0\]\[0\]\[0\]\[2\] is 2\.5, "),
    (lambda d: d["counters"]["action_counts"][0][0][0].__setitem__(2, True), r"\[2\] is True, "),
    (lambda d: d["counters"]["unit_cycles"][0][0][0].__setitem__(0, 10**30),
     r"unit_cycles\[0\]\[0\]\[0\]\[0\] is 1000000000000000000000000000000, not an integer"),
    (lambda d: d["counters"].update(latency_cycles=1e308),
     r"counters: cannot be read \(latency_cycles is 1e\+308, not an integer in the int64 range\)"),
    (lambda d: d["samples"][0]["action_totals"].update(spike=-1),
     r"samples\[0\]\.action_totals\.spike: must be a non-negative integer"),
    (lambda d: d["samples"][0]["action_totals"].pop("spike"), r"samples\[0\]\.action_totals: is missing"),
    (lambda d: d["samples"][1].update(latency_cycles=d["samples"][1]["latency_cycles"] + 1),
     r"counters\.latency_cycles: is not the sum of the samples' latency_cycles"),
    (lambda d: d["samples"][1]["action_totals"].update(spike=d["samples"][1]["action_totals"]["spike"] + 1),
     r"counters\.action_counts \(spike\): is not the sum"),
])
def test_energy_from_a_broken_result_names_the_field(edit, match):
    _run, _arch_spec, data = _tiny_result()
    edit(data)
    with pytest.raises(ResultError, match=match):
        energy_from_result(data, "r.json")


def _fan_out(proj, src, tgt) -> np.ndarray:
    """Synapses each source neuron has (flat C, H, W order), counted position by position."""
    if proj.kind in ("conv2d", "sumpool2d"):
        c, h, w = src.shape
        per_axis = []
        for size, out, k, s, p in zip((h, w), tgt.shape[1:], proj.kernel, proj.stride, proj.padding):
            hits = np.zeros(size, np.int64)
            for o in range(out):
                for kk in range(k):
                    i = o * s - p + kk
                    if 0 <= i < size:
                        hits[i] += 1
            per_axis.append(hits)
        c_out = proj.weights.shape[0] if proj.kind == "conv2d" else 1
        return np.broadcast_to(c_out * np.outer(*per_axis), (c, h, w)).reshape(-1)
    if proj.kind == "linear":
        return np.full(src.n_neurons, proj.weights.shape[0], np.int64)
    return np.ones(src.n_neurons, np.int64)   # identity


def test_resnet19_on_core16_adds_up_and_counts_sops_from_golden_spikes():
    wl = load_workload(os.path.join(ROOT, "workloads", "resnet19.npz"))
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    sample = run_engine(wl, arch, samples=[0]).samples[0]
    b = estimate_energy(sample.counters, arch)
    assert_parts_add_up(b)
    assert b.total_pj > 0 and b.by_component["synaptic_adds"] > 0 and b.by_component["macs"] > 0
    for term in b.terms:
        if term.action is not None:
            assert term.quantity == b.counts[term.action]
            assert term.energy_pj == term.quantity * Fraction(term.value)
    # SOPs from the golden model alone: every active source neuron (a spike, or a non-zero
    # analog value) at every timestep reaches its fan-out of synapses.
    gold = run_golden(wl, 0)
    pops = {p.name: p for p in wl.populations}
    expected = 0
    for proj in wl.projections:
        src = pops[proj.source]
        if src.kind == "input":
            active = wl.sample_input(0).reshape(wl.timesteps, -1) != 0
        else:
            active = gold.spikes[src.name].reshape(wl.timesteps, -1)
        expected += int((active * _fan_out(proj, src, pops[proj.target])).sum())
    assert b.synaptic_ops == expected
    assert sample.counters.synaptic_ops() == expected
    assert b.counts[ACTION_NAMES[Action.MAC8]] > 0


def test_doubling_a_leakage_entry_doubles_only_its_leakage_term():
    arch = _arch(sram_leakage_uw_per_kib=0.3, router_leakage_uw=0.05)
    c = _counters(4, 1, 1, latency=77, counts={})
    e = arch.energy
    doubled = dataclasses.replace(arch, energy=dataclasses.replace(
        e, router_leakage_uw=dataclasses.replace(e.router_leakage_uw, value=0.1)))
    one, two = estimate_energy(c, arch), estimate_energy(c, doubled)
    assert two.term("router_leakage_uw").energy_pj == 2 * one.term("router_leakage_uw").energy_pj
    assert two.term("sram_leakage_uw_per_kib").energy_pj == one.term("sram_leakage_uw_per_kib").energy_pj
