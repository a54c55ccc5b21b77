"""Metamorphic laws of the engine: what must not change when something else does."""

from __future__ import annotations

import dataclasses
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


def _assert_never_later(faster, base) -> None:
    """Every time of ``faster`` is at most the same time of ``base`` (docs/timing-model.md §2b)."""
    assert faster.latency_cycles <= base.latency_cycles
    assert faster.fires.keys() == base.fires.keys() and faster.trains.keys() == base.trains.keys()
    for job, (start, end) in faster.fires.items():
        assert start <= base.fires[job][0] and end <= base.fires[job][1], f"fire {job} is later"
    for key, timing in faster.trains.items():
        before = base.trains[key]
        assert all(g <= b for g, b in zip(timing.grants, before.grants)), f"train {key} is granted later"
        assert timing.delivery <= before.delivery and timing.marker_start <= before.marker_start


_BUSY_OF = {"synapse_lanes": "integrate_busy_cycles", "neuron_lanes": "soma_busy_cycles"}


@pytest.mark.parametrize("lanes", sorted(_BUSY_OF))
@settings(max_examples=50)
@given(data=st.data())
def test_more_lanes_never_add_cycles(lanes, data):
    wl = data.draw(small_workloads(max_samples=1))
    arch = with_packet_flits(data.draw(small_archs(workload=wl)))
    extra = data.draw(st.integers(1, 8))
    base = run_engine(wl, arch).samples[0]
    wider = run_engine(wl, with_core(arch, **{lanes: getattr(arch.core, lanes) + extra})).samples[0]
    _assert_never_later(wider, base)
    busy = _BUSY_OF[lanes]
    assert all(w <= b for w, b in zip(getattr(wider, busy), getattr(base, busy)))
    assert wider.counters.synaptic_ops() == base.counters.synaptic_ops()


@settings(max_examples=40)
@given(data=st.data())
def test_shorter_pipelines_and_faster_routers_never_add_cycles(data):
    wl = data.draw(small_workloads(max_samples=1))
    slow = data.draw(small_archs(workload=wl))
    slow = with_packet_flits(with_core(slow, integrate_pipeline_cycles=data.draw(st.integers(1, 6)),
                                       fire_pipeline_cycles=data.draw(st.integers(1, 6))))
    slow = dataclasses.replace(slow, noc=dataclasses.replace(
        slow.noc, router_latency_cycles=data.draw(st.integers(2, 5)), link_latency_cycles=data.draw(st.integers(2, 5))))
    fast = with_core(slow, integrate_pipeline_cycles=data.draw(st.integers(0, slow.core.integrate_pipeline_cycles)),
                     fire_pipeline_cycles=data.draw(st.integers(0, slow.core.fire_pipeline_cycles)))
    fast = dataclasses.replace(fast, noc=dataclasses.replace(
        fast.noc, router_latency_cycles=data.draw(st.integers(1, slow.noc.router_latency_cycles)),
        link_latency_cycles=data.draw(st.integers(1, slow.noc.link_latency_cycles))))
    _assert_never_later(run_engine(wl, fast).samples[0], run_engine(wl, slow).samples[0])


@pytest.mark.parametrize("name", ["tiny_conv", "tiny_dvs", "tiny_mlp"])
def test_latency_falls_or_stays_as_lanes_grow_on_shipped_workloads(name):
    # tiny_dvs on core16 was the counterexample under first-come-first-served arbitration
    # (4 lanes 1,378 cycles, 6 lanes 1,472): a core that fired earlier took a link first.
    wl = load_workload(os.path.join(ROOT, "workloads", f"{name}.npz"))
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    latencies = [run_engine(wl, with_core(arch, synapse_lanes=lanes), samples=[0]).samples[0].latency_cycles
                 for lanes in (1, 2, 3, 4, 5, 6, 8, 12, 16)]
    assert latencies == sorted(latencies, reverse=True)
    assert latencies[-1] < latencies[0]


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
