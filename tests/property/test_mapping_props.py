"""Properties of map_workload on random small workloads and architectures.

Every check is computed here independently of qsnnsim.mapping: the partition of neurons, the
SRAM words of each slice (from the storage rules of docs/mapping.md), the capacity of every
core in every pass, and the destinations of every slice (brute force over neuron indicator
arrays, with the golden model's im2col for windows).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import arch_dict, small_archs, small_workloads

from qsnnsim.arch import arch_from_dict
from qsnnsim.golden import im2col
from qsnnsim.mapping import map_workload

_small = {"max_populations": 5, "max_neurons_per_population": 48}


@st.composite
def mapped(draw, strategy=None):
    wl = draw(small_workloads(**_small))
    arch = draw(small_archs(workload=wl))
    strategy = strategy or draw(st.sampled_from(["balanced", "proportional", "packed"]))
    return wl, arch, map_workload(wl, arch, strategy=strategy)


def _slice_words(wl, arch, s):
    """SRAM words of a slice from the storage rules, written out."""
    pops = {p.name: p for p in wl.populations}
    pop = pops[s.population]
    ww = arch.core.weight_sram.word_bits
    weight = 0
    for proj in wl.projections_into(pop.name):
        src = pops[proj.source]
        if proj.kind == "conv2d":
            weight += (
                src.shape[0]
                * proj.kernel[0]
                * proj.kernel[1]
                * -(-(s.n_channels * proj.weight_bits) // ww)
            )
        elif proj.kind == "linear":
            rows = src.shape[0] if proj.global_sum_pool else src.n_neurons
            weight += rows * -(-(s.n_channels * proj.weight_bits) // ww)
        elif proj.kind == "identity":
            weight += s.n_channels * -(-proj.weight_bits // ww)
    state = 64 if pop.kind == "readout" else pop.membrane_bits
    acc = sum(p.acc_bits for p in wl.projections_into(pop.name))
    membrane = -(-(s.n_neurons * state) // arch.core.membrane_sram.word_bits)
    accw = -(-(s.n_neurons * acc) // arch.core.acc_sram.word_bits)
    return weight, membrane, accw


@settings(max_examples=60)
@given(mapped())
def test_every_neuron_is_mapped_exactly_once(case):
    wl, _arch, m = case
    for pop in wl.populations:
        covered = np.zeros(pop.n_neurons, np.int64)
        for s in m.slices_of(pop.name):
            covered[s.neuron_start : s.neuron_stop] += 1
            shape3 = pop.shape if len(pop.shape) == 3 else (pop.shape[0], 1, 1)
            plane = shape3[1] * shape3[2]
            # The channel range and row range describe the same neurons as the flat range.
            assert s.channel_start == s.neuron_start // plane
            assert s.channel_stop == -(-s.neuron_stop // plane)
            if s.is_row_range:
                assert s.n_channels == 1
                assert (
                    s.neuron_start
                    == (s.channel_start * shape3[1] + s.row_start) * shape3[2]
                )
                assert (
                    s.neuron_stop
                    == (s.channel_start * shape3[1] + s.row_stop) * shape3[2]
                )
            else:
                assert (s.row_start, s.row_stop) == (0, shape3[1])
                assert s.n_neurons == s.n_channels * plane
        expected = 0 if pop.kind == "input" else 1
        assert np.all(covered == expected), pop.name


@settings(max_examples=60)
@given(mapped())
def test_slices_are_sorted_indexed_and_use_exactly_the_storage_rules(case):
    wl, arch, m = case
    order = {p.name: i for i, p in enumerate(wl.populations)}
    keys = [(s.pass_index, order[s.population], s.neuron_start) for s in m.slices]
    assert keys == sorted(keys)
    assert [s.index for s in m.slices] == list(range(len(m.slices)))
    assert m.n_passes == max(s.pass_index for s in m.slices) + 1
    assert {s.pass_index for s in m.slices} == set(range(m.n_passes))
    assert (
        m.core_of_input
        == arch.offchip.io_router[0] * arch.chip.mesh_cols + arch.offchip.io_router[1]
    )
    for s in m.slices:
        assert 0 <= s.core < arch.n_cores
        assert (s.weight_words, s.membrane_words, s.acc_words) == _slice_words(
            wl, arch, s
        )
    # Passes follow topological order: a population never appears in an earlier pass than a source.
    first_pass = {}
    for s in m.slices:
        first_pass.setdefault(s.population, s.pass_index)
    for proj in wl.projections:
        if proj.source in first_pass:
            assert first_pass[proj.source] <= first_pass[proj.target]


@settings(max_examples=60)
@given(mapped())
def test_no_core_is_over_capacity_in_any_pass(case):
    _wl, arch, m = case
    core = arch.core
    for p in range(m.n_passes):
        for c in range(arch.n_cores):
            here = m.slices_on(c, p)
            assert sum(s.n_neurons for s in here) <= core.neuron_capacity
            assert sum(s.weight_words for s in here) <= core.weight_sram.capacity_words
            assert (
                sum(s.membrane_words for s in here) <= core.membrane_sram.capacity_words
            )
            assert sum(s.acc_words for s in here) <= core.acc_sram.capacity_words
            if core.max_synapse_rows:
                assert sum(s.synapse_rows for s in here) <= core.max_synapse_rows


@settings(max_examples=40)
@given(st.data())
def test_mapping_is_deterministic(data):
    wl = data.draw(small_workloads(**_small))
    arch = data.draw(small_archs(workload=wl))
    for strategy in ("balanced", "proportional", "packed"):
        first = map_workload(wl, arch, strategy=strategy)
        assert map_workload(wl, arch, strategy=strategy) == first


def _fits_one_core(wl, arch):
    """Does every population fit one empty core whole (words from the storage rules)?"""
    pops = [p for p in wl.populations if p.kind != "input"]
    need = {}
    for pop in pops:
        shape3 = pop.shape if len(pop.shape) == 3 else (pop.shape[0], 1, 1)

        class Whole:
            population = pop.name
            n_channels = shape3[0]
            n_neurons = pop.n_neurons

        need[pop.name] = (pop.n_neurons,) + _slice_words(wl, arch, Whole)
    return need


@settings(max_examples=40)
@given(st.data())
def test_a_network_that_fits_on_n_cores_maps_without_passes(data):
    wl = data.draw(small_workloads(**_small))
    n_pops = sum(1 for p in wl.populations if p.kind != "input")
    base = arch_dict()
    base["chip"].update(mesh_rows=1, mesh_cols=n_pops + data.draw(st.integers(0, 2)))
    base["noc"]["packet_header_bits"] = 8
    arch = arch_from_dict(base)
    need = _fits_one_core(wl, arch)
    # Size each memory to the largest population (plus a random margin): each one fits a core.
    widest = [max(n[i] for n in need.values()) for i in range(4)]
    base["core"]["neuron_capacity"] = widest[0] + data.draw(st.integers(0, 8))
    for key, words in zip(("weight_sram", "membrane_sram", "acc_sram"), widest[1:]):
        base["core"][key]["bank_words"] = max(
            1, -(-words // base["core"][key]["banks"])
        ) + data.draw(st.integers(0, 4))
    arch = arch_from_dict(base)
    for strategy in ("balanced", "proportional", "packed"):
        m = map_workload(wl, arch, strategy=strategy)
        assert m.n_passes == 1
        if strategy == "packed":
            assert len(m.slices) == n_pops


def _brute_destinations(wl, m):
    """Destinations by brute force: mark a slice's neurons, push the marks through each projection."""
    pops = {p.name: p for p in wl.populations}

    def reached(proj, mark):
        src, tgt = pops[proj.source], pops[proj.target]
        x = mark.reshape(src.shape).astype(np.int64)
        if proj.kind == "linear":
            return np.full(tgt.n_neurons, x.any())
        if proj.kind == "identity":
            return x.reshape(-1) > 0
        if proj.kind == "conv2d":
            cols = im2col(x, proj.kernel, proj.stride, proj.padding)
            per_pos = cols.any(axis=0)
            return np.broadcast_to(per_pos, (tgt.shape[0], per_pos.size)).reshape(-1)
        cols = im2col(
            x[:, None], proj.kernel, proj.stride, proj.padding, per_channel=True
        )
        return cols.any(axis=1).reshape(-1)

    def dests_of(pop_name, start, stop):
        out = set()
        for proj in wl.projections_from(pop_name):
            mark = np.zeros(pops[pop_name].n_neurons, bool)
            mark[start:stop] = True
            hit = reached(proj, mark)
            for t in m.slices_of(proj.target):
                if hit[t.neuron_start : t.neuron_stop].any():
                    out.add(t.index)
        return tuple(sorted(out))

    per_slice = tuple(
        dests_of(s.population, s.neuron_start, s.neuron_stop) for s in m.slices
    )
    in_pop = wl.input_population
    return per_slice, dests_of(in_pop.name, 0, in_pop.n_neurons)


@settings(max_examples=80)
@given(mapped())
def test_destinations_are_exactly_the_dependent_slices(case):
    wl, _arch, m = case
    per_slice, of_input = _brute_destinations(wl, m)
    assert m.destinations == per_slice
    assert m.input_destinations == of_input
    for s, dests in zip(m.slices, m.destinations):
        assert all(m.slices[d].pass_index >= s.pass_index for d in dests)
