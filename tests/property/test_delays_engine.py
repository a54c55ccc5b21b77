"""Neuron dialects, delays and recurrence on the chip (DESIGN §2b, docs/timing-model.md §5b).

The engine computes exactly what the golden model computes on hypothesis graphs with
random delays, recurrent projections and random dialects (qsnn_lif, loihi_cuba, xylo_lif
with graded spikes), over small architectures that split
populations, share cores and spill into passes; and the cycle-stepped reference, written
from the timing doc alone, agrees with it cycle for cycle.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from engine_helpers import (
    assert_bits_equal_golden,
    assert_same_timing,
    run_engine,
    run_engine_or_none,
    with_packet_flits,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import delayed_workloads, dialect_workloads, small_archs

from qsnnsim.arch import load_arch
from qsnnsim.builder import WorkloadBuilder
from qsnnsim.reference import simulate_reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("graphs", [delayed_workloads, dialect_workloads], ids=["qsnn_lif", "every_dialect"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_engine_equals_golden_with_delays_and_recurrence(graphs, data):
    wl = data.draw(graphs(max_timesteps=5))
    arch = with_packet_flits(data.draw(small_archs(workload=wl)))
    run = run_engine_or_none(wl, arch)
    if run is not None:
        assert_bits_equal_golden(wl, run)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_engine_matches_the_cycle_reference_with_delays_recurrence_and_dialects(data):
    wl = data.draw(dialect_workloads(max_timesteps=4, max_samples=1))
    arch = with_packet_flits(data.draw(small_archs(workload=wl)))
    run = run_engine_or_none(wl, arch, record_packets=True)
    if run is not None:
        assert_same_timing(run.samples[0], simulate_reference(wl, arch, run.mapping, 0, record_packets=True))


def test_a_recurrent_ring_runs_on_the_tiny_chip_bit_exactly():
    rng = np.random.default_rng(7)
    b = WorkloadBuilder("ring", timesteps=8, input_kind="spikes")
    b.input("in", (16,))
    b.lif("a", (24,), threshold=1, membrane_bits=6)
    b.lif("b", (24,), threshold=1, membrane_bits=6)
    b.linear("in", "a", rng.choice([-1, 1], (24, 16)), acc_bits=10)
    b.linear("a", "b", rng.choice([-1, 1], (24, 24)), acc_bits=10)
    b.linear("b", "a", rng.choice([-1, 1], (24, 24)), acc_bits=10, delay=1, name="feedback")
    b.linear("b", "b", rng.choice([-1, 1], (24, 24)), acc_bits=10, delay=2, name="self")
    b.readout("out", (4,))
    b.linear("b", "out", rng.choice([-1, 1], (4, 24)), acc_bits=12)
    b.set_samples(rng.integers(0, 2, (2, 8, 16)).astype(np.uint8))
    wl = b.build()
    arch = load_arch(os.path.join(ROOT, "archs", "tiny.yaml"))
    run = run_engine(wl, arch, record_packets=True)
    assert_bits_equal_golden(wl, run)
    assert any(s.spikes["b"][1:].any() for s in run.samples)
    for sample in run.samples:
        assert_same_timing(sample, simulate_reference(wl, arch, run.mapping, sample.sample, record_packets=True))
