"""Systems of chips (DESIGN §12, docs/timing-model.md §12): the engine, the cycle reference and
the golden model agree over 2x1 and 2x2 systems of tiny chips; one chip is today's chip.

On hypothesis graphs (delays, recurrence, every dialect) mapped over systems whose chip-to-chip
links have their own packet time and latency, for every timing option: every fire, grant,
packet, busy and stall counter, per-link wait and stall, router buffer peak and the
``chip_link_bit`` count agree with the reference (written from the timing doc alone), and the
outputs with golden. Laws: a faster chip link never adds a cycle under the fixed order; a
link's pJ/bit moves only the link energy term.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
from engine_helpers import (
    COMBINATIONS,
    ONE_CHIP_RUNS,
    as_system,
    assert_bits_equal_golden,
    assert_same_noc_figures,
    assert_same_timing,
    link,
    run_engine,
    run_engine_or_none,
    with_options,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dialect_workloads, small_archs, small_workloads

from qsnnsim.arch import SystemSpec, arch_from_dict, load_arch
from qsnnsim.counters import Action
from qsnnsim.energy import estimate_energy
from qsnnsim.errors import ArchError, MappingError
from qsnnsim.reference import simulate_reference
from qsnnsim.workload import load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("shape", [(2, 1), (2, 2), (1, 2)])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_engine_matches_the_cycle_reference_over_systems_of_tiny_chips(shape, data):
    graphs = data.draw(st.sampled_from([small_workloads, dialect_workloads]))
    wl = data.draw(graphs(max_timesteps=3, max_samples=1))
    chip = data.draw(small_archs(workload=wl, max_mesh_side=2))
    options = data.draw(st.sampled_from(COMBINATIONS))
    flit_link = link(data.draw(st.sampled_from([8, 16, 64, 128])), data.draw(st.integers(1, 9)))
    arch = as_system(chip, *shape, flit_link,
                     io_chip=(data.draw(st.integers(0, shape[0] - 1)), data.draw(st.integers(0, shape[1] - 1))))
    arch = with_options(arch, *options, data.draw(st.integers(1, 5)) if options[2] == "finite" else None)
    run = run_engine_or_none(wl, arch, record_packets=True)
    if run is None:
        return
    ref = simulate_reference(wl, arch, run.mapping, 0, record_packets=True)
    assert_same_timing(run.samples[0], ref)
    assert_same_noc_figures(run.samples[0], ref)
    assert run.samples[0].counters.totals()["chip_link_bit"] == ref.actions["chip_link_bit"]
    assert_bits_equal_golden(wl, run)


def test_every_shipped_workload_is_in_the_one_chip_comparison():
    shipped = {p[:-4] for p in os.listdir(os.path.join(ROOT, "workloads"))
               if p.endswith(".npz") and p != "resnet18_imagenet.npz"}
    assert shipped == {name for name, _ in ONE_CHIP_RUNS}


@pytest.mark.parametrize("name,arch_name", ONE_CHIP_RUNS)
def test_a_system_of_one_chip_is_todays_chip(name, arch_name):
    wl = load_workload(os.path.join(ROOT, "workloads", f"{name}.npz"))
    chip = load_arch(os.path.join(ROOT, "archs", f"{arch_name}.yaml"))
    # a 1x1 system whose (unused) link is slow and costly changes nothing
    system = dataclasses.replace(chip, system=SystemSpec(1, 1, (0, 0), link(1, 50, 9.0)))
    a, b = (run_engine(wl, x, samples=[0, 1]) for x in (chip, system))
    assert a.mapping == b.mapping
    for x, y in zip(a.samples, b.samples):
        assert x.latency_cycles == y.latency_cycles and x.fires == y.fires
        assert (x.counters.actions == y.counters.actions).all()
        assert (x.counters.unit_cycles == y.counters.unit_cycles).all()
        assert x.noc_buffer_peak_flits == y.noc_buffer_peak_flits
        assert estimate_energy(x.counters, chip).total_pj == estimate_energy(y.counters, system).total_pj


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_faster_chip_link_never_adds_cycles_under_the_fixed_order(data):
    wl = data.draw(small_workloads(max_timesteps=3, max_samples=1))
    chip = data.draw(small_archs(workload=wl))
    bandwidth, latency = data.draw(st.sampled_from([8, 16, 32])), data.draw(st.integers(2, 12))
    shape = data.draw(st.sampled_from([(2, 1), (1, 2), (2, 2)]))
    buffers = data.draw(st.sampled_from(["unbounded", "finite"]))
    slow = with_options(as_system(chip, *shape, link(bandwidth, latency)), "level_order", "level", buffers, 3)
    fast = dataclasses.replace(slow, system=dataclasses.replace(
        slow.system, link=link(bandwidth * data.draw(st.sampled_from([1, 2, 4])), latency - data.draw(st.integers(0, 1)))))
    a, b = run_engine_or_none(wl, slow), run_engine_or_none(wl, fast)
    if a is None or b is None:
        return
    assert a.mapping == b.mapping
    assert b.samples[0].latency_cycles <= a.samples[0].latency_cycles
    for job, (_, end) in b.samples[0].fires.items():
        assert end <= a.samples[0].fires[job][1]


def test_doubling_the_link_pj_per_bit_changes_only_the_link_energy_term():
    wl = load_workload(os.path.join(ROOT, "workloads", "tiny_conv.npz"))
    base = as_system(load_arch(os.path.join(ROOT, "archs", "tiny.yaml")), 2, 2, link(16, 6, 1.5))
    double = dataclasses.replace(base, system=dataclasses.replace(base.system, link=link(16, 6, 3.0)))
    a, b = (run_engine(wl, x, samples=[0]).samples[0] for x in (base, double))
    assert (a.counters.actions == b.counters.actions).all() and a.latency_cycles == b.latency_cycles
    assert a.counters.actions[..., Action.CHIP_LINK_BIT].sum() > 0
    ea, eb = estimate_energy(a.counters, base), estimate_energy(b.counters, double)
    terms_a = {t.entry: t.energy_pj for t in ea.terms}
    terms_b = {t.entry: t.energy_pj for t in eb.terms}
    assert terms_b["chip_link_pj_per_bit"] == 2 * terms_a["chip_link_pj_per_bit"] > 0
    assert {k: v for k, v in terms_a.items() if k != "chip_link_pj_per_bit"} == \
        {k: v for k, v in terms_b.items() if k != "chip_link_pj_per_bit"}
    assert eb.total_pj - ea.total_pj == terms_a["chip_link_pj_per_bit"]


def _system_dict(**system):
    import yaml

    with open(os.path.join(ROOT, "archs", "board4.yaml"), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    data["system"].update(system)
    return data


@pytest.mark.parametrize("change,field,words", [
    ({"io_chip": [2, 0]}, "system.io_chip", "does not exist"),
    ({"link": {"width_bits": {"value": 16, "source": "s"}, "bandwidth_bits_per_cycle": {"value": 0, "source": "s"},
               "latency_cycles": {"value": 20, "source": "s"}, "pj_per_bit": {"value": 2.0, "source": "s"}}},
     "system.link.bandwidth_bits_per_cycle", "unreachable"),
    ({"link": {"width_bits": {"value": 16, "source": "s"}, "bandwidth_bits_per_cycle": {"value": 32, "source": "s"},
               "pj_per_bit": {"value": 2.0, "source": "s"}}}, "system.link.latency_cycles", "required"),
])
def test_a_bad_system_is_one_line(change, field, words):
    with pytest.raises(ArchError) as caught:
        arch_from_dict(_system_dict(**change), "sys.yaml")
    line = caught.value.line()
    assert "\n" not in line and line.startswith(f"sys.yaml: {field}") and words in line


def test_a_network_no_system_can_hold_even_in_passes_is_one_line():
    """ResNet-19's 128-channel layers need more weight SRAM per channel row than a tiny core has:
    no number of chips or passes helps, and the mapper says which layer and by how much."""
    wl = load_workload(os.path.join(ROOT, "workloads", "resnet19.npz"))
    arch = as_system(load_arch(os.path.join(ROOT, "archs", "tiny.yaml")), 2, 2, link(16, 6))
    from qsnnsim.mapping import map_workload

    with pytest.raises(MappingError) as caught:
        map_workload(wl, arch)
    line = caught.value.line()
    assert "\n" not in line and "cannot be mapped" in line
