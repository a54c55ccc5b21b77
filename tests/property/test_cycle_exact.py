"""Cycle-exactness: the fast event engine agrees with the cycle-stepped reference, cycle for cycle.

docs/timing-model.md §9 lists what must agree: latency, per-core busy and stall cycles,
every fire's start and end, every train's grants along its path, delivery and marker start,
and every packet's ejection and integrate start.
The reference (qsnnsim/reference/) was written from the timing doc alone, without the engine.
"""

from __future__ import annotations

import os

import pytest
from engine_helpers import assert_same_timing, run_engine, with_packet_flits
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import small_archs, small_workloads

from qsnnsim.arch import load_arch
from qsnnsim.reference import simulate_reference
from qsnnsim.workload import load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@settings(max_examples=60)
@given(st.data())
def test_engine_matches_cycle_stepped_reference(data):
    wl = data.draw(small_workloads(max_samples=1))
    arch = with_packet_flits(data.draw(small_archs(workload=wl)))
    run = run_engine(wl, arch, record_packets=True)
    ref = simulate_reference(wl, arch, run.mapping, 0, record_packets=True)
    assert_same_timing(run.samples[0], ref)


@pytest.mark.parametrize("name", ["tiny_mlp", "tiny_conv", "tiny_dvs"])
def test_engine_matches_reference_on_small_shipped_workloads(name):
    wl = load_workload(os.path.join(ROOT, "workloads", f"{name}.npz"))
    arch = load_arch(os.path.join(ROOT, "archs", "tiny.yaml"))
    run = run_engine(wl, arch, samples=[0], record_packets=True)
    assert_same_timing(run.samples[0], simulate_reference(wl, arch, run.mapping, 0, record_packets=True))
