"""The compiled fixed-order NoC (engine/fixed_order.py) is the Python link units, exactly.

A sample that keeps no per-train record runs its trains through one compiled call per fire
under the default options; a traced sample runs them through the Python link units. On
hypothesis graphs (delays, recurrence, every dialect), on one chip and on 2x1 and 2x2
systems whose chip links pace the packets, and on every shipped workload: every fire, every
action and unit-cycle counter, the flits of every link, what every fire waited for and every
output agree between the two, and the timing with the cycle reference (written from the
timing doc alone).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from engine_helpers import ONE_CHIP_RUNS, as_system, assert_bits_equal_golden, link, map_or_none, with_options
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dialect_workloads, small_archs, small_workloads

from qsnnsim.arch import load_arch
from qsnnsim.engine import fixed_order
from qsnnsim.engine.build import build_plan
from qsnnsim.engine.simulate import RunResult, pass_topology, simulate_sample
from qsnnsim.mapping import map_workload
from qsnnsim.reference import simulate_reference
from qsnnsim.workload import load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def both_ways(wl, arch, mapping, sample: int):
    """(Python link units, compiled NoC) results of one sample."""
    plan = build_plan(wl, arch, mapping)
    topologies = [pass_topology(plan, p) for p in range(mapping.n_passes)]
    units = simulate_sample(plan, sample, topologies, noc_figures=True)
    compiled = simulate_sample(plan, sample, topologies, noc_figures=False)
    assert all(top in fixed_order._NETS for top in topologies), "the compiled NoC did not run"
    return units, compiled


def assert_same_sample(units, compiled) -> None:
    assert compiled.latency_cycles == units.latency_cycles
    assert compiled.fires == units.fires
    assert np.array_equal(compiled.counters.actions, units.counters.actions)
    assert np.array_equal(compiled.counters.unit_cycles, units.counters.unit_cycles)
    assert compiled.link_flits == units.link_flits
    assert compiled.fire_waits == units.fire_waits
    assert compiled.pass_starts == units.pass_starts
    for name in units.spikes:
        assert np.array_equal(compiled.spikes[name], units.spikes[name])
    for name in units.membranes:
        assert np.array_equal(compiled.membranes[name], units.membranes[name])
    assert np.array_equal(compiled.readout, units.readout)
    assert compiled.trains == {}  # an untraced sample keeps no per-train timings


@pytest.mark.parametrize("shape", [None, (2, 1), (2, 2)])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_compiled_noc_is_the_link_units_and_the_reference(shape, data):
    graphs = data.draw(st.sampled_from([small_workloads, dialect_workloads]))
    wl = data.draw(graphs(max_timesteps=3, max_samples=1))
    arch = data.draw(small_archs(workload=wl, max_mesh_side=2 if shape else 3))
    if shape:
        arch = as_system(arch, *shape, link(data.draw(st.sampled_from([8, 16, 64])), data.draw(st.integers(1, 9))))
    arch = with_options(arch, "level_order", data.draw(st.sampled_from(["level", "ready"])), "unbounded")
    mapping = map_or_none(wl, arch)
    if mapping is None:
        return
    units, compiled = both_ways(wl, arch, mapping, 0)
    assert_same_sample(units, compiled)
    ref = simulate_reference(wl, arch, mapping, 0)
    assert compiled.fires == ref.fires
    assert compiled.latency_cycles == ref.latency_cycles
    assert compiled.integrate_busy_cycles == tuple(ref.integrate_busy_cycles)
    assert compiled.ejection_stall_cycles == tuple(ref.ejection_stall_cycles)
    assert_bits_equal_golden(wl, RunResult(wl, arch, mapping, (compiled,)))


@pytest.mark.parametrize("name,arch_name", ONE_CHIP_RUNS + [("tiny_conv", "board2"), ("digits_conv_m4", "board2")])
def test_the_compiled_noc_is_the_link_units_on_shipped_workloads(name, arch_name):
    wl = load_workload(os.path.join(ROOT, "workloads", f"{name}.npz"))
    arch = load_arch(os.path.join(ROOT, "archs", f"{arch_name}.yaml"))
    mapping = map_workload(wl, arch)
    for sample in range(min(2, wl.n_samples)):
        assert_same_sample(*both_ways(wl, arch, mapping, sample))


def test_other_options_keep_the_link_units():
    wl = load_workload(os.path.join(ROOT, "workloads", "tiny_conv.npz"))
    arch = with_options(load_arch(os.path.join(ROOT, "archs", "core16.yaml")), "round_robin", "level", "unbounded")
    plan = build_plan(wl, arch, map_workload(wl, arch))
    topologies = [pass_topology(plan, 0)]
    simulate_sample(plan, 0, topologies, noc_figures=False)
    assert topologies[0] not in fixed_order._NETS
