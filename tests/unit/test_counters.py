"""Counters: cycles per core, population and timestep add up to what the engine timed."""

from __future__ import annotations

import os

import numpy as np
from engine_helpers import run_engine
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnnsim.arch import load_arch
from qsnnsim.counters import Counters, Unit
from qsnnsim.engine.occupancy import NocLog
from qsnnsim.workload import load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(name="tiny_conv", arch="core16"):
    wl = load_workload(os.path.join(ROOT, "workloads", f"{name}.npz"))
    return wl, run_engine(wl, load_arch(os.path.join(ROOT, "archs", f"{arch}.yaml")), samples=[0])


def test_soma_cycles_per_population_and_timestep_are_the_fires_of_that_layer():
    wl, run = _run()
    sample = run.samples[0]
    c = sample.counters
    assert c.unit_cycles.shape == c.actions.shape[:3] + (len(Unit),)
    pop_of_slice = {s.index: [p.name for p in wl.populations].index(s.population) for s in run.mapping.slices}
    expected = np.zeros((len(wl.populations), wl.timesteps), np.int64)
    for (slice_index, t), (start, end) in sample.fires.items():
        expected[pop_of_slice[slice_index], t] += end - start
    assert np.array_equal(c.unit_cycles[..., Unit.SOMA_BUSY].sum(axis=0), expected)
    # the input population never fires; every lif and readout layer does, at every timestep
    assert expected[0].sum() == 0 and (expected[1:] > 0).all()


def test_integrate_cycles_are_charged_to_the_layer_whose_spikes_they_integrate():
    wl, run = _run()
    c = run.samples[0].counters
    integrate = c.unit_cycles[..., Unit.INTEGRATE_BUSY]
    assert tuple(integrate.sum(axis=(1, 2))[:-1]) == run.samples[0].integrate_busy_cycles
    readout = [p.name for p in wl.populations].index(wl.readout_population.name)
    assert integrate[:, readout].sum() == 0          # a readout sends nothing
    assert integrate[:, 0].sum() > 0                 # the input's packets are integrated


def test_idle_is_latency_less_busy_and_survives_a_round_trip():
    _, run = _run("tiny_dvs")
    c = run.samples[0].counters
    idle = c.idle_cycles()
    busy = c.unit_cycles_by_core()[:-1]
    assert np.array_equal(idle["soma_idle_cycles"] + busy[:, Unit.SOMA_BUSY], np.full(c.n_cores, c.latency_cycles))
    assert (idle["integrate_idle_cycles"] >= 0).all() and (idle["soma_idle_cycles"] >= 0).all()
    back = Counters.from_dict(c.to_dict())
    assert np.array_equal(back.unit_cycles, c.unit_cycles) and np.array_equal(back.actions, c.actions)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 30), st.integers(0, 6),
                          st.integers(0, 8), st.booleans()), max_size=30))
def test_buffer_peak_is_the_highest_count_of_a_cycle_by_cycle_walk(runs):
    """The sweep over run ends equals counting, cycle by cycle, the packets that entered an input
    port at <= c and leave it at > c (docs/timing-model.md §11), per port, the fullest per router."""
    log = NocLog(3)
    per_port: dict = {}
    for router, port, enter, wait, n, split in runs:
        leave = enter + wait
        if split and n > 1:  # the exits as single cycles with a gap, as a stalled ejection leaves
            exits = [leave + k + (2 if k >= n // 2 else 0) for k in range(n)]
            log.held((router, port), enter, n, 0, 0)
            log.held_points((router, port), exits, -1)
        else:
            exits = [leave + k for k in range(n)]
            log.held((router, port), enter, n, leave, n)
        entries = per_port.setdefault((router, port), ([], []))
        entries[0].extend(enter + k for k in range(n))
        entries[1].extend(exits)
    expected = [0] * 3
    for (router, _), (ins, outs) in per_port.items():
        for c in range(0, 80):
            level = sum(1 for x in ins if x <= c) - sum(1 for y in outs if y <= c)
            expected[router] = max(expected[router], level)
    assert log.buffer_peaks() == tuple(expected)
