"""The dialect specs (qsnnsim/neurons/): every dialect's engine kernel equals its golden step.

For each dialect, a random population and random states and inputs: the spec's ``fire`` over a
slice (as the engine calls it, channel parameters cut to the slice) gives the same spikes,
state and saturations as the spec's ``step`` (the golden form) on the same neurons. Plus the
registry and the state bits mapping and footprint read.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnnsim import neurons
from qsnnsim.golden import saturate, scaled_input
from qsnnsim.workload import Population, validate_population

DIALECTS = ("qsnn_lif", "loihi_cuba", "xylo_lif", "readout", "cuba_readout")


def _population(data, dialect: str, c: int, plane: int) -> Population:
    shape = (c, 1, plane) if plane > 1 else (c,)
    ints = lambda lo, hi: np.array(data.draw(st.lists(st.integers(lo, hi), min_size=c, max_size=c)))  # noqa: E731
    kind = "readout" if dialect in neurons.READOUT_DIALECTS else "lif"
    common = dict(name="p", kind=kind, shape=shape, dialect=dialect, rounding=data.draw(st.sampled_from(["floor", "toward_zero"])))
    if dialect == "qsnn_lif":
        pop = Population(**common, membrane_bits=data.draw(st.integers(2, 16)), decay_mult=data.draw(st.integers(0, 4)),
                         decay_shift=data.draw(st.integers(0, 3)), fire_cmp=data.draw(st.sampled_from(["gt", "ge"])),
                         reset=data.draw(st.sampled_from(["hard", "soft"])), threshold=ints(-50, 50), bias=ints(-20, 20))
    elif dialect == "readout":
        pop = Population(**common, decay_mult=data.draw(st.integers(0, 3)), decay_shift=data.draw(st.integers(0, 2)),
                         threshold=np.zeros(c, np.int32), bias=ints(-20, 20))
    elif dialect == "cuba_readout":
        pop = Population(**common, decay_mult=data.draw(st.integers(0, 70000 // 2)), decay_shift=16,
                         threshold=np.zeros(c, np.int32), bias=ints(-20, 20),
                         params={"syn_decay_mult": data.draw(st.integers(0, 65536)), "syn_decay_shift": 16})
    elif dialect == "loihi_cuba":
        pop = Population(**common, params=dict(du=ints(0, 4095), dv=ints(0, 4095), vth=ints(0, 2000),
                                               bias_mant=ints(-4096, 4095), bias_exp=ints(0, 3),
                                               silicon_reset=data.draw(st.integers(0, 1)),
                                               reset_subtract=data.draw(st.integers(0, 1))))
    else:
        version = data.draw(st.integers(1, 2))
        pop = Population(**common, params=dict(threshold=ints(1, 500), dash_syn=ints(0, 15), dash_mem=ints(0, 15),
                                               bias=ints(-300, 300) if version == 2 else np.zeros(c, np.int64),
                                               version=version))
    return validate_population(pop)


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_the_engine_kernel_of_every_dialect_equals_its_golden_step(dialect, data):
    c, plane = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 6))
    pop = validate_population(_population(data, dialect, c, plane))
    spec = pop.neuron
    n = pop.n_neurons
    n_proj = data.draw(st.integers(0, 2))
    acc_bits = data.draw(st.lists(st.integers(4, 24), min_size=n_proj, max_size=n_proj))
    accs = [np.array(data.draw(st.lists(st.integers(-(1 << 20), 1 << 20), min_size=n, max_size=n)), np.int64)
            for _ in range(n_proj)]
    mults = [np.array(data.draw(st.lists(st.integers(-64, 64), min_size=c, max_size=c)), np.int64) for _ in range(n_proj)]
    shifts = [np.array(data.draw(st.lists(st.integers(0, 6), min_size=c, max_size=c)), np.int64) for _ in range(n_proj)]
    # a state from a few golden steps of random input (states a neuron can reach)
    params = spec.parameters(pop)
    chan = np.arange(n) // pop.plane_size
    per_neuron = {k: (v[chan] if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    state = spec.initial_state(pop, (n,))
    for _ in range(data.draw(st.integers(0, 3))):
        _, state = spec.step(per_neuron, state, np.array(data.draw(st.lists(st.integers(-3000, 3000), min_size=n,
                                                                              max_size=n)), np.int64))
    # golden: the scaled sums, then the step
    current = np.zeros(n, np.int64)
    for k in range(n_proj):
        clamped, _ = saturate(accs[k], acc_bits[k])

        class _P:
            mult, shift = mults[k].astype(np.int32), shifts[k].astype(np.int32)
        current += scaled_input(clamped.reshape(pop.shape), _P, pop.rounding).reshape(-1)
    g_spikes, g_state = spec.step(per_neuron, dict(state), current)
    # kernel on a slice [n0, n1)
    n0 = data.draw(st.integers(0, n - 1))
    n1 = data.draw(st.integers(n0 + 1, n))
    c0, c1 = n0 // pop.plane_size, -(-n1 // pop.plane_size)
    stored = {name: np.asarray(state[name])[n0:n1].astype(np.int16 if bits <= 16 else np.int32 if bits <= 32 else np.int64)
              for name, bits in spec.state_vars(pop)}
    sliced = {k: (np.ascontiguousarray(v[c0:c1]) if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    acc = np.stack(accs)[:, n0:n1] if n_proj else np.zeros((0, n1 - n0), np.int64)
    lo = np.array([-(1 << (b - 1)) for b in acc_bits], np.int64)
    hi = np.array([(1 << (b - 1)) - 1 for b in acc_bits], np.int64)
    mult = np.ascontiguousarray(np.stack(mults)[:, c0:c1]) if n_proj else np.zeros((0, c1 - c0), np.int64)
    shift = np.ascontiguousarray(np.stack(shifts)[:, c0:c1]) if n_proj else np.zeros((0, c1 - c0), np.int64)
    spikes, _, fired = spec.fire(acc, lo, hi, mult, shift, stored, sliced, pop.plane_size, n0 - c0 * pop.plane_size,
                                 pop, 0)
    assert np.array_equal(spikes.astype(np.int64), np.asarray(g_spikes)[n0:n1])
    assert fired.tolist() == np.flatnonzero(np.asarray(g_spikes)[n0:n1]).tolist()
    for name, value in stored.items():
        assert np.array_equal(value.astype(np.int64), np.asarray(g_state[name], np.int64)[n0:n1]), name


def test_the_registry_names_every_dialect_and_their_state_bits():
    assert set(neurons.MODULES) == set(DIALECTS)
    bits = {name: neurons.dialect(name) for name in DIALECTS}
    assert bits["loihi_cuba"].spike_max == 1 and bits["xylo_lif"].spike_max == 31
    assert bits["readout"].spike_max == 0 and bits["cuba_readout"].spike_max == 0
    pop = Population(name="p", kind="lif", shape=(2,), membrane_bits=5, threshold=np.zeros(2, np.int32),
                     bias=np.zeros(2, np.int32))
    assert neurons.of(pop).state_bits(pop) == 5


def test_a_dialect_action_without_its_energy_entry_is_refused_in_one_line():
    from qsnnsim.arch import load_arch
    from qsnnsim.builder import WorkloadBuilder
    from qsnnsim.errors import MappingError
    from qsnnsim.mapping import map_workload

    b = WorkloadBuilder("cuba_out", timesteps=2, input_kind="spikes")
    b.input("in", (4,))
    b.readout("out", (2,), dialect="cuba_readout", syn_decay_mult=1 << 15, syn_decay_shift=16)
    b.linear("in", "out", np.ones((2, 4), np.int8), weight_bits=2)
    b.set_samples(np.zeros((1, 2, 4), np.uint8))
    wl = b.build()
    with pytest.raises(MappingError, match=r"energy\.current_update_pj: is not given, and population 'out' "
                                            r"\(cuba_readout\) counts current_update"):
        map_workload(wl, load_arch("archs/tiny.yaml"))
    assert map_workload(wl, load_arch("archs/core16.yaml")).slices
