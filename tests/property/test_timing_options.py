"""Timing options (docs/timing-model.md §10): the engine and the cycle reference agree, cycle for cycle.

For every combination of ``noc.arbitration``, ``core.soma_order`` and ``noc.router_buffers``
(with depths from 1 flit up), on hypothesis graphs (delays, recurrence, every dialect) over
small architectures that split populations, share cores and spill into passes: every fire,
train grant, packet ejection and integrate start, busy and stall counter, per-link wait and
stall, and router buffer peak of §9 and §11 agree. The reference was written from the timing
doc alone. Outputs never depend on the options (the golden model decides them).
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from engine_helpers import (
    COMBINATIONS,
    assert_bits_equal_golden,
    assert_same_noc_figures,
    assert_same_timing,
    run_engine,
    run_engine_or_none,
    with_options,
    with_packet_flits,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dialect_workloads, small_archs, small_workloads

from qsnnsim.reference import simulate_reference


@pytest.mark.parametrize("arbitration,soma_order,router_buffers", COMBINATIONS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_engine_matches_the_cycle_reference_for_every_option(arbitration, soma_order, router_buffers, data):
    graphs = data.draw(st.sampled_from([small_workloads, dialect_workloads]))
    wl = data.draw(graphs(max_timesteps=4, max_samples=1))
    depth = data.draw(st.integers(1, 6)) if router_buffers == "finite" else None
    arch = with_options(with_packet_flits(data.draw(small_archs(workload=wl))), arbitration, soma_order,
                        router_buffers, depth)
    run = run_engine_or_none(wl, arch, record_packets=True)
    if run is None:
        return
    ref = simulate_reference(wl, arch, run.mapping, 0, record_packets=True)
    assert_same_timing(run.samples[0], ref)
    assert_same_noc_figures(run.samples[0], ref)
    assert_bits_equal_golden(wl, run)


@pytest.mark.parametrize("arbitration,soma_order", list(itertools.product(("level_order", "round_robin"),
                                                                          ("level", "ready"))))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_finite_buffers_too_deep_to_fill_change_no_number(arbitration, soma_order, data):
    wl = data.draw(dialect_workloads(max_timesteps=4, max_samples=1))
    base = with_packet_flits(data.draw(small_archs(workload=wl)))
    runs = [run_engine_or_none(wl, with_options(base, arbitration, soma_order, buffers, depth), record_packets=True)
            for buffers, depth in (("unbounded", None), ("finite", 1 << 16))]
    if runs[0] is None:
        return
    a, b = runs[0].samples[0], runs[1].samples[0]
    assert a.fires == b.fires and a.latency_cycles == b.latency_cycles
    assert {k: (v.grants, v.delivery, v.marker_start, v.packets) for k, v in a.trains.items()} == \
        {k: (v.grants, v.delivery, v.marker_start, v.packets) for k, v in b.trains.items()}
    assert (a.counters.actions == b.counters.actions).all()
    assert (a.counters.unit_cycles == b.counters.unit_cycles).all()
    assert a.noc_buffer_peak_flits == b.noc_buffer_peak_flits
    assert a.link_wait_cycles == b.link_wait_cycles
    assert set(b.link_stall_cycles.values()) <= {0}


def _shipped(name, arch_name):
    import os

    from qsnnsim.arch import load_arch
    from qsnnsim.workload import load_workload

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return (load_workload(os.path.join(root, "workloads", f"{name}.npz")),
            load_arch(os.path.join(root, "archs", f"{arch_name}.yaml")))


@pytest.mark.parametrize("name,arch_name,depths", [
    ("tiny_mlp", "tiny", (64, 4, 3, 2, 1)),
    ("tiny_conv", "tiny", (64, 16, 8, 4, 3, 2, 1)),
    ("tiny_dvs", "tiny", (64, 16, 4, 2, 1)),
    ("xylo_recurrent", "xylo_like", (16, 2, 1)),
    ("loihi_conv", "core16", (64, 4, 3, 2, 1)),
    ("digits_conv_m4", "core16", (64, 4, 2)),
])
def test_latency_never_decreases_as_router_buffers_shrink(name, arch_name, depths):
    wl, base = _shipped(name, arch_name)
    latencies = [run_engine(wl, with_options(base, "level_order", "level", "finite", d), samples=[0])
                 .samples[0].latency_cycles for d in depths]
    assert latencies == sorted(latencies), dict(zip(depths, latencies))


def test_congestion_spreads_back_to_the_injecting_core():
    """tiny_conv on the tiny chip: with 2-flit router buffers, trains blocked behind a busy
    ejection port hold links and slots back along their paths; the injection ports (and the
    host's) stall for credits, and no router holds more than its depth."""
    wl, base = _shipped("tiny_conv", "tiny")
    unbounded = run_engine(wl, with_options(base, "level_order", "level", "unbounded", 2), samples=[0]).samples[0]
    finite = run_engine(wl, with_options(base, "level_order", "level", "finite", 2), samples=[0]).samples[0]
    injecting = {k: v for k, v in finite.link_stall_cycles.items() if k.startswith("inject") or k == "host"}
    assert sum(injecting.values()) > 0, finite.link_stall_cycles
    assert max(unbounded.noc_buffer_peak_flits) > 2 >= max(finite.noc_buffer_peak_flits)
    assert finite.latency_cycles > unbounded.latency_cycles
    assert set(unbounded.link_stall_cycles.values()) == {0}


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_faster_unit_never_slows_the_chip_with_finite_buffers_in_level_order(data):
    """docs/timing-model.md §2b's law holds with finite buffers too (fixed orders, credits are
    order statistics of release cycles: every cycle stays a max-plus function of the costs)."""
    wl = data.draw(small_workloads(max_timesteps=3, max_samples=1))
    base = with_options(with_packet_flits(data.draw(small_archs(workload=wl))), "level_order", "level", "finite",
                        data.draw(st.integers(1, 4)))
    faster = dataclasses.replace(base, core=dataclasses.replace(
        base.core, synapse_lanes=base.core.synapse_lanes * 2, neuron_lanes=base.core.neuron_lanes + 1,
        integrate_pipeline_cycles=max(0, base.core.integrate_pipeline_cycles - 1)))
    slow, fast = (run_engine_or_none(wl, x, record_packets=True) for x in (base, faster))
    if slow is None or fast is None or slow.mapping != fast.mapping:
        return
    assert fast.samples[0].latency_cycles <= slow.samples[0].latency_cycles
    for job, (_, end) in fast.samples[0].fires.items():
        assert end <= slow.samples[0].fires[job][1]


def test_a_stopped_pass_is_reported_in_one_line_not_hung():
    """A deadlock cannot happen (docs/timing-model.md §10.4); the check behind that promise is
    real: a pass whose link order names a train that never comes stops with DeadlockError."""
    from qsnnsim.engine import simulate as engine
    from qsnnsim.engine.build import build_plan
    from qsnnsim.errors import DeadlockError
    from qsnnsim.mapping import map_workload

    wl, arch = _shipped("tiny_mlp", "tiny")
    plan = build_plan(wl, arch, map_workload(wl, arch))
    top = engine.pass_topology(plan, 0)
    link, keys = next((k, v) for k, v in top.order.link_sequence.items() if k[0] == "eject" and v)
    # the ejection port now waits first for a train no source sends
    top.order.link_sequence[link] = [(-1, 999, link[1])] + list(keys)
    with pytest.raises(DeadlockError) as caught:
        engine.simulate_sample(plan, 0, [top] + [engine.pass_topology(plan, p)
                                                 for p in range(1, plan.mapping.n_passes)])
    message = str(caught.value)
    assert "\n" not in message and "cycle" in message and f"eject {link[1]}" in message


def test_round_robin_lets_a_faster_integrate_unit_slow_the_chip_and_the_fixed_order_does_not():
    """The measured example of docs/timing-options.md: tiny_dvs on core16, synapse lanes 4 -> 6."""
    wl, base = _shipped("tiny_dvs", "core16")

    def latency(lanes, arbitration, soma_order):
        arch = dataclasses.replace(base, core=dataclasses.replace(base.core, synapse_lanes=lanes))
        return run_engine(wl, with_options(arch, arbitration, soma_order, "unbounded"), samples=[0]) \
            .samples[0].latency_cycles

    assert latency(6, "round_robin", "ready") > latency(4, "round_robin", "ready")
    assert latency(6, "level_order", "level") <= latency(4, "level_order", "level")


@pytest.mark.parametrize("name,arch_name", [("tiny_mlp", "tiny"), ("tiny_conv", "tiny"), ("tiny_dvs", "core16"),
                                            ("xylo_recurrent", "xylo_like"), ("loihi_conv", "core16")])
@pytest.mark.parametrize("arbitration,soma_order,router_buffers", COMBINATIONS[::3])
def test_the_critical_path_charges_every_cycle_of_the_latency_once(name, arch_name, arbitration, soma_order,
                                                                   router_buffers):
    from qsnnsim.report.critical import bottleneck_line, critical_path

    wl, base = _shipped(name, arch_name)
    arch = with_options(base, arbitration, soma_order, router_buffers, 2)
    run = run_engine(wl, arch, samples=[0])
    path = critical_path(run.samples[0], run.mapping.slices, arch)
    assert sum(c for _, c in path["units"]) == run.samples[0].latency_cycles
    assert all(c > 0 for _, c in path["units"])
    assert bottleneck_line(path).startswith(f"bottleneck: {path['units'][0][0]} (")
