"""Golden model (qsnnsim/golden.py) == naive per-neuron model (tests/naive.py), and the
invariants of DESIGN.md §2 that hold on every graph: membrane bounds, determinism,
independence from iteration order and from other samples."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import run_naive
from strategies import small_workloads, workload_and_sample

from qsnnsim.golden import run_golden
from qsnnsim.workload import Workload, load_workload, membrane_limit, save_workload, validate_workload


def assert_same_result(a, b, what: str = "") -> None:
    """Field-by-field equality of two golden-like results, naming the first field that differs."""
    assert sorted(a.spikes) == sorted(b.spikes), f"{what}spike populations differ"
    for name in a.spikes:
        assert a.spikes[name].shape == b.spikes[name].shape, f"{what}spikes[{name}] shape"
        np.testing.assert_array_equal(a.spikes[name], b.spikes[name], err_msg=f"{what}spikes[{name}]")
    assert sorted(a.membranes) == sorted(b.membranes), f"{what}membrane populations differ"
    for name in a.membranes:
        np.testing.assert_array_equal(a.membranes[name], b.membranes[name], err_msg=f"{what}membranes[{name}]")
        assert a.membranes[name].dtype == b.membranes[name].dtype == np.int64, f"{what}membranes[{name}] dtype"
    assert a.readout.dtype == b.readout.dtype == np.int64
    np.testing.assert_array_equal(a.readout, b.readout, err_msg=f"{what}readout")
    assert a.predicted == b.predicted, f"{what}predicted"
    assert sorted(a.saturations) == sorted(b.saturations), f"{what}saturation projections differ"
    for name in a.saturations:
        np.testing.assert_array_equal(a.saturations[name], b.saturations[name], err_msg=f"{what}saturations[{name}]")


@settings(max_examples=150)
@given(workload_and_sample())
def test_golden_equals_naive(case):
    wl, sample = case
    assert_same_result(run_golden(wl, sample), run_naive(wl, sample))


@settings(max_examples=15)
@given(workload_and_sample(input_kinds=("spikes",), max_timesteps=6, max_populations=6))
def test_golden_equals_naive_deeper_spiking(case):
    wl, sample = case
    assert_same_result(run_golden(wl, sample), run_naive(wl, sample))


@given(workload_and_sample())
def test_lif_membranes_stay_within_q(case):
    # Clamping happens every step, so it suffices to watch the state after each step:
    # truncating the run at every T' <= T gives the membrane after step T'.
    wl, sample = case
    for t_end in range(1, wl.timesteps + 1):
        cut = _truncated(wl, t_end)
        res = run_golden(cut, sample)
        for pop in cut.populations:
            if pop.kind != "lif":
                continue
            q = membrane_limit(pop.membrane_bits)
            m = res.membranes[pop.name]
            assert m.min(initial=0) >= -q and m.max(initial=0) <= q, (pop.name, pop.membrane_bits, t_end)


def _truncated(wl: Workload, timesteps: int) -> Workload:
    samples = wl.samples if wl.input_kind == "analog" else wl.samples[:, :timesteps]
    return dataclasses.replace(wl, timesteps=timesteps, samples=samples)


@given(workload_and_sample(), st.randoms(use_true_random=False))
def test_output_depends_only_on_workload_and_sample(case, rnd: random.Random):
    wl, sample = case
    first = run_golden(wl, sample)
    assert_same_result(first, run_golden(wl, sample), "second run: ")
    # Another sample in between must leave no state behind.
    other = rnd.randrange(wl.n_samples)
    run_golden(wl, other)
    assert_same_result(first, run_golden(wl, sample), f"after sample {other}: ")
    # Projection order within the file is not semantics: shuffling it changes nothing.
    projections = list(wl.projections)
    rnd.shuffle(projections)
    provenance = dict(reversed(list(wl.provenance.items())))
    shuffled = dataclasses.replace(wl, projections=tuple(projections), provenance=provenance)
    assert_same_result(first, run_golden(shuffled, sample), "projections shuffled: ")
    assert_same_result(first, run_naive(shuffled, sample), "naive, projections shuffled: ")
    # Any topological order of the populations is the same graph.
    reordered = validate_workload(dataclasses.replace(wl, populations=_random_topological_order(wl, rnd)))
    assert_same_result(first, run_golden(reordered, sample), "populations reordered: ")


def _random_topological_order(wl: Workload, rnd: random.Random) -> tuple:
    """The populations in a random order that still lists every source before its targets."""
    placed: list = []
    left = list(wl.populations)
    while left:
        names = {p.name for p in placed}
        ready = [p for p in left if all(q.source in names for q in wl.projections if q.target == p.name)]
        pick = rnd.choice(ready)
        placed.append(pick)
        left.remove(pick)
    return tuple(placed)


@settings(max_examples=10)
@given(workload_and_sample())
def test_fresh_load_gives_the_same_bits(tmp_path_factory, case):
    wl, sample = case
    path = tmp_path_factory.mktemp("wl") / "w.npz"
    save_workload(wl, path)
    assert_same_result(run_golden(wl, sample), run_golden(load_workload(path), sample), "reloaded: ")


@settings(max_examples=10)
@given(small_workloads(max_populations=3))
def test_every_sample_matches_naive(wl):
    for sample in range(wl.n_samples):
        assert_same_result(run_golden(wl, sample), run_naive(wl, sample), f"sample {sample}: ")


SHIPPED = sorted((Path(__file__).resolve().parents[2] / "workloads").glob("tiny_*.npz"))


@pytest.mark.skipif(not SHIPPED, reason="no shipped tiny workloads")
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_tiny_workloads_match_naive(path):
    wl = load_workload(path)
    for sample in sorted({0, wl.n_samples - 1}):
        assert_same_result(run_golden(wl, sample), run_naive(wl, sample), f"{path.name} sample {sample}: ")
