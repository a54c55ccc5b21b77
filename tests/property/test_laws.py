"""Metamorphic laws of the engine: what must not change when something else does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from engine_helpers import run_engine, with_chip, with_core, with_packet_flits
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import small_archs, small_workloads

from qsnnsim.arch import load_arch
from qsnnsim.workload import load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@settings(max_examples=40)
@given(st.data())
def test_clock_changes_microseconds_not_cycles(data):
    wl = data.draw(small_workloads(max_samples=1))
    arch = with_packet_flits(data.draw(small_archs(workload=wl)))
    factor = data.draw(st.sampled_from([0.5, 2.0, 3.0]))
    slow = run_engine(wl, arch).samples[0]
    fast = run_engine(wl, with_chip(arch, clock_mhz=arch.chip.clock_mhz * factor)).samples[0]
    assert fast.latency_cycles == slow.latency_cycles
    assert fast.fires == slow.fires and fast.trains == slow.trains
    assert np.array_equal(fast.counters.actions, slow.counters.actions)
    assert fast.latency_us == slow.latency_cycles / (arch.chip.clock_mhz * factor)


@settings(max_examples=40)
@given(st.data())
def test_more_synapse_lanes_never_add_integrate_cycles(data):
    wl = data.draw(small_workloads(max_samples=1))
    arch = with_packet_flits(data.draw(small_archs(workload=wl)))
    extra = data.draw(st.integers(1, 8))
    base = run_engine(wl, arch).samples[0]
    wider = run_engine(wl, with_core(arch, synapse_lanes=arch.core.synapse_lanes + extra)).samples[0]
    assert all(w <= b for w, b in zip(wider.integrate_busy_cycles, base.integrate_busy_cycles))
    assert wider.counters.synaptic_ops() == base.counters.synaptic_ops()


@pytest.mark.xfail(strict=True, reason=(
    "open (engine issue): first-come-first-served arbitration has timing anomalies; with 6 lanes a "
    "core fires earlier, its train takes a link first and delays the host train on the critical "
    "path (1,472 vs 1,378 cycles). docs/design-notes.md: static-order arbitration would make the "
    "law hold; the cycle-stepped reference shows the same cycles, so this is the model, not a bug"))
def test_more_synapse_lanes_never_add_cycles_known_counterexample():
    wl = load_workload(os.path.join(ROOT, "workloads", "tiny_dvs.npz"))
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    four = run_engine(wl, with_core(arch, synapse_lanes=4), samples=[0]).samples[0]
    six = run_engine(wl, with_core(arch, synapse_lanes=6), samples=[0]).samples[0]
    assert six.latency_cycles <= four.latency_cycles


@settings(max_examples=30)
@given(st.data())
def test_outputs_identical_on_every_architecture(data):
    wl = data.draw(small_workloads())
    first = run_engine(wl, with_packet_flits(data.draw(small_archs(workload=wl))))
    second = run_engine(wl, with_packet_flits(data.draw(small_archs(workload=wl))))
    for a, b in zip(first.samples, second.samples):
        assert np.array_equal(a.readout, b.readout)
        for name in a.spikes:
            assert np.array_equal(a.spikes[name], b.spikes[name])


def _run_cli(threads: int, out_dir: str) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, "-m", "qsnnsim", "run", os.path.join(ROOT, "archs", "core16.yaml"),
                    os.path.join(ROOT, "workloads", "tiny_conv.npz"), "--samples", "2", "--out", out_dir,
                    "--no-report"],
                   env=env, check=True, capture_output=True, text=True)
    with open(os.path.join(out_dir, "result.json"), encoding="utf-8") as fh:
        return json.load(fh)


def test_thread_count_changes_nothing(tmp_path):
    one = _run_cli(1, str(tmp_path / "t1"))
    two = _run_cli(2, str(tmp_path / "t2"))
    assert one["samples"] == two["samples"]
