"""Delays, recurrence and workload format v2 (DESIGN §2b): golden model and file.

The golden model has two orders of evaluation, population by population (feedforward
graphs, delays included) and timestep by timestep (any graph); they must agree. A few
hand-worked networks pin the meaning of a delay and of a recurrent edge.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnnsim.errors import WorkloadError
from qsnnsim.golden import run_golden, run_golden_input
from qsnnsim.workload import WorkloadBuilder, load_workload, save_workload
from strategies import delayed_workloads


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_both_orders_of_evaluation_agree_with_delays(data):
    wl = data.draw(delayed_workloads(recurrent=False, max_timesteps=5))
    x = wl.sample_input(0)
    fast, stepped = run_golden_input(wl, x), run_golden_input(wl, x, stepwise=True)
    assert fast.readout.tolist() == stepped.readout.tolist()
    for name in fast.spikes:
        assert np.array_equal(fast.spikes[name], stepped.spikes[name]), name
    for name in fast.saturations:
        assert fast.saturations[name].tolist() == stepped.saturations[name].tolist(), name


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_recurrent_workload_round_trips_through_format_v2(data):
    import tempfile

    wl = data.draw(delayed_workloads(recurrent=True, max_timesteps=4))
    with tempfile.TemporaryDirectory() as folder:
        path = folder + "/w.npz"
        save_workload(wl, path)
        back = load_workload(path)
        with np.load(path) as z:
            version = json.loads(z["meta"].tobytes())["version"]
    assert [p.delay for p in back.projections] == [p.delay for p in wl.projections]
    a, b = run_golden(wl, 0), run_golden(back, 0)
    assert a.readout.tolist() == b.readout.tolist()
    assert version == (2 if any(p.delay for p in wl.projections) else 1)


def _chain(delay: int, timesteps: int = 5):
    """in (1 spike at t=0) -> a (fires on any input) with the given delay -> readout."""
    b = WorkloadBuilder("chain", timesteps=timesteps, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (1,), threshold=0, decay_shift=1)
    b.linear("in", "a", np.ones((1, 1), np.int8), weight_bits=2, delay=delay)
    b.readout("out", (1,))
    b.linear("a", "out", np.ones((1, 1), np.int8), weight_bits=2)
    x = np.zeros((1, timesteps, 1), np.uint8)
    x[0, 0, 0] = 1
    b.set_samples(x)
    return b.build()


@pytest.mark.parametrize("delay", [0, 1, 3])
def test_a_delay_moves_a_spike_later_by_that_many_timesteps(delay):
    g = run_golden(_chain(delay), 0)
    fired = np.flatnonzero(g.spikes["a"][:, 0]).tolist()
    assert fired == [delay]


def test_a_delay_past_the_last_timestep_delivers_nothing():
    g = run_golden(_chain(5, timesteps=5), 0)
    assert not g.spikes["a"].any()


def test_a_self_loop_with_delay_one_keeps_a_neuron_firing():
    """One input spike at t=0 starts a neuron whose own spike re-excites it one step later."""
    b = WorkloadBuilder("loop", timesteps=6, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (1,), threshold=0, decay_shift=1)
    b.linear("in", "a", np.ones((1, 1), np.int8), weight_bits=2)
    b.linear("a", "a", np.ones((1, 1), np.int8), weight_bits=2, delay=1, name="loop")
    b.readout("out", (1,))
    b.linear("a", "out", np.ones((1, 1), np.int8), weight_bits=2)
    x = np.zeros((1, 6, 1), np.uint8)
    x[0, 0, 0] = 1
    b.set_samples(x)
    g = run_golden(b.build(), 0)
    assert g.spikes["a"][:, 0].tolist() == [True] * 6
    assert g.readout.tolist() == [6]


def test_a_two_population_cycle_needs_a_delay_and_names_the_cycle():
    def build(delay):
        b = WorkloadBuilder("cyc", timesteps=3, input_kind="spikes")
        b.input("in", (1,))
        b.lif("a", (1,))
        b.lif("b", (1,))
        b.linear("in", "a", np.ones((1, 1), np.int8), weight_bits=2)
        b.linear("a", "b", np.ones((1, 1), np.int8), weight_bits=2)
        b.linear("b", "a", np.ones((1, 1), np.int8), weight_bits=2, delay=delay, name="back")
        b.readout("out", (1,))
        b.linear("b", "out", np.ones((1, 1), np.int8), weight_bits=2)
        b.set_samples(np.zeros((1, 3, 1), np.uint8))
        return b.build()

    with pytest.raises(WorkloadError, match=r"projections\.back: closes the cycle a -> b -> a with no delay"):
        build(0)
    assert [p.delay for p in build(2).projections] == [0, 0, 2, 0]


def test_a_delay_out_of_range_is_one_line():
    with pytest.raises(WorkloadError, match=r"projections\.in->a\.delay: must be in 0\.\.255"):
        _chain(256)


