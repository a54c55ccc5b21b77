"""loihi_cuba and xylo_lif: golden step == numba step on random and extreme values; DESIGN §2b by hand.

The vendors' own simulators are the oracle for the rules themselves (tests/oracles); here
each rule is worked once by hand, with the arithmetic in a comment, and the two forms of
each step (numpy golden, numba kernel) are held equal by hypothesis.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsnnsim.neurons import loihi_cuba as loihi
from qsnnsim.neurons import xylo_lif as xylo

U_MAX = 1 << 23
I16 = (-(1 << 15), (1 << 15) - 1)


def edgy(lo, hi, *extra):
    """Integers in [lo, hi], drawn often at the ends and at the given values."""
    return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, *extra]))


# ------------------------------------------------------------------ loihi_cuba


def loihi_params(**kw):
    p = {"du": 0, "dv": 0, "vth": 100, "bias_mant": 0, "bias_exp": 0}
    p.update(kw)
    return p


def loihi_step(u, v, a_in, silicon_reset=False, refractory=0, **kw):
    state = {"u": np.array([u]), "v": np.array([v]), "refractory": np.array([refractory])}
    s, new = loihi.golden_step(state, np.array([a_in]), loihi_params(**kw), silicon_reset=silicon_reset)
    return int(s[0]), int(new["u"][0]), int(new["v"][0])


loihi_neuron = st.fixed_dictionaries({
    "u": edgy(-U_MAX + 1, U_MAX, 0, U_MAX - 1, -U_MAX + 1),
    "v": edgy(-U_MAX + 1, U_MAX - 1, 0),
    "refractory": st.integers(0, 1),
    "a_in": st.one_of(edgy(-(1 << 17), 1 << 17, 0), edgy(-(1 << 26), 1 << 26)),
    "du": edgy(0, 4095),
    "dv": edgy(0, 4095),
    "vth": edgy(0, 131071),
    "bias_mant": edgy(-4096, 4095, 0),
    "bias_exp": edgy(-3, 7, 0),  # Lava right-shifts for a negative exponent
})


@given(st.lists(loihi_neuron, min_size=1, max_size=12), st.booleans())
def test_loihi_golden_equals_numba(neurons, silicon_reset):
    cols = {k: np.array([n[k] for n in neurons], np.int64) for k in neurons[0]}
    params = {k: cols[k] for k in ("du", "dv", "vth", "bias_mant", "bias_exp")}
    state = {k: cols[k] for k in ("u", "v", "refractory")}
    spikes, new = loihi.golden_step(state, cols["a_in"], params, silicon_reset=silicon_reset)
    for i, n in enumerate(neurons):
        got = loihi.update_neuron(n["u"], n["v"], n["refractory"], n["a_in"], n["du"], n["dv"], n["vth"],
                                  n["bias_mant"], n["bias_exp"], silicon_reset)
        want = (spikes[i], new["u"][i], new["v"][i], new["refractory"][i] if silicon_reset else 0)
        assert tuple(int(x) for x in got) == tuple(int(x) for x in want), (n, got, want)


def test_loihi_decay_rounds_toward_zero():
    # u = -5000 keeps (4096 - (0 + 1)) / 4096: -5000 * 4095 / 4096 = -4998.78 -> -4998 (floor: -4999)
    assert loihi_step(-5000, 0, 0, du=0, vth=131071)[1] == -4998
    # v = -5000, dv = 1: same product, same rounding; u = 0 here
    assert loihi_step(0, -5000, 0, dv=1, vth=131071)[2] == -4998
    # du = 4095: the offset bit makes the factor 4096 - 4096 = 0, u forgets everything
    assert loihi_step(123456, 0, 0, du=4095, vth=131071)[1] == 0


def test_loihi_input_is_msb_aligned_and_u_folds_at_24_bits():
    assert loihi_step(0, 0, 3, du=4095, vth=131071)[1] == 3 << 6  # 192
    # a_in = 2^17 gives exactly 2^23: kept (the range is (-2^23, 2^23])
    assert loihi_step(0, 0, 1 << 17, du=4095, vth=131071)[1] == U_MAX
    # 2^17 + 1 -> 2^23 + 64 -> 2^23 + 64 - 2^24 = -2^23 + 64
    assert loihi_step(0, 0, (1 << 17) + 1, du=4095, vth=131071)[1] == -U_MAX + 64
    # -2^17 -> -2^23 -> +2^23
    assert loihi_step(0, 0, -(1 << 17), du=4095, vth=131071)[1] == U_MAX
    # Lava folds once: 3 * 2^23 + 64 -> 2^23 + 64, still outside 24 bits
    assert loihi_step(0, 0, 3 * (1 << 17) + 1, du=4095, vth=131071)[1] == U_MAX + 64


def test_loihi_v_clamps_and_fires_strictly_above_threshold():
    # v = -(2^23 - 1), u = -2^22 more: clamp at -(2^23 - 1)
    assert loihi_step(-(1 << 22), -(U_MAX - 1), 0, vth=131071)[2] == -(U_MAX - 1)
    # vth = 100 -> 6400; u = 100 << 6 = 6400 reaches v = 6400: not above, no spike
    assert loihi_step(0, 0, 100, du=4095, vth=100) == (0, 6400, 6400)
    # one more input unit: v = 6464 > 6400 fires; v resets to 0, u keeps 6464
    assert loihi_step(0, 0, 101, du=4095, vth=100) == (1, 6464, 0)


def test_loihi_bias_mantissa_and_exponent():
    # bias = -3 << 2 = -12, added to v every step; u untouched
    assert loihi_step(0, 0, 0, bias_mant=-3, bias_exp=2) == (0, 0, -12)
    assert int(loihi.effective_bias(-3, -1)) == -2  # Lava floors a negative exponent's shift


def test_loihi_silicon_reads_128_on_the_spike_step_then_restarts_from_zero():
    kw = {"du": 4095, "dv": 163, "vth": 25}
    # the NIR trace's step 461: v = rtz(1099 * 3933 / 4096) + 640 = 1055 + 640 = 1695 > 1600
    assert loihi_step(0, 1099, 10, **kw) == (1, 640, 0)  # Lava
    assert loihi_step(0, 1099, 10, silicon_reset=True, **kw) == (1, 640, 128)  # silicon
    # next step: the count 128 is released to 0 before integrating: v = 0 + u = 0 + (5 << 6)
    assert loihi_step(640, 128, 5, silicon_reset=True, refractory=1, **kw) == (0, 320, 320)
    # a real v of 128 (no refractory flag) decays as usual: rtz(128 * 3933 / 4096) = 122
    assert loihi_step(0, 128, 0, silicon_reset=True, refractory=0, **kw) == (0, 0, 122)


def test_lava_dense_drops_the_lsb_of_odd_weights_in_mixed_matrices():
    # mixed sign: clip to [-256, 255], then (w >> 1) << 1: 3 -> 2, -3 -> -4, 127 -> 126
    w = np.array([[3, -3, 4, -128, 127, 300, -300]])
    assert loihi.dense_weights(w).tolist() == [[2, -4, 4, -128, 126, 254, -256]]
    # one sign only: all 8 bits kept (excitatory clip to 255, inhibitory to -255)
    assert loihi.dense_weights(np.array([[3, 300]])).tolist() == [[3, 255]]
    assert loihi.dense_weights(np.array([[-3, -300]])).tolist() == [[-3, -255]]
    # 6 weight bits drop 2 LSBs: 7 -> 4; inhibitory drops them from the magnitude: -7 -> -4
    assert loihi.dense_weights(np.array([[7]]), num_weight_bits=6).tolist() == [[4]]
    assert loihi.dense_weights(np.array([[-7]]), num_weight_bits=6).tolist() == [[-4]]


def test_lava_dense_shifts_by_weight_exp_and_delivers_one_step_later():
    w = np.array([[-5, 1], [5, 0]])  # mixed: -5 -> -6, 1 -> 0, 5 -> 4
    assert loihi.dense_input(w, np.array([1, 1])).tolist() == [-6, 4]
    assert loihi.dense_input(w, np.array([1, 1]), weight_exp=-1).tolist() == [-3, 2]  # floor shift
    assert loihi.dense_input(w, np.array([1, 1]), weight_exp=2).tolist() == [-24, 16]
    spikes = np.array([[1, 0], [0, 1], [1, 1]])
    assert loihi.dense_trace(w, spikes).tolist() == [[0, 0], [-6, 4], [0, 0]]


def test_loihi_spec_tables():
    assert loihi.STATE == (("u", 24), ("v", 24))
    assert [p[:3] for p in loihi.PARAMS] == [("du", 0, 4095), ("dv", 0, 4095), ("vth", 0, 131071),
                                            ("bias_mant", -4096, 4095), ("bias_exp", 0, 7)]


# ------------------------------------------------------------------ xylo_lif


xylo_neuron = st.fixed_dictionaries({
    "isyn": edgy(*I16, 0),
    "isyn2": edgy(*I16, 0),
    "vmem": edgy(*I16, 0),
    "a_in": st.one_of(edgy(*I16, 0), edgy(-(1 << 20), 1 << 20)),
    "a_in2": edgy(-(1 << 20), 1 << 20, 0),
    "threshold": edgy(1, 32767),
    "dash_syn": edgy(0, 15),
    "dash_syn2": edgy(0, 15),
    "dash_mem": edgy(0, 15),
    "bias": edgy(*I16, 0),
})


@given(st.lists(xylo_neuron, min_size=1, max_size=12), st.sampled_from([1, 2]), st.sampled_from([1, 31]))
def test_xylo_golden_equals_numba(neurons, version, max_spikes):
    cols = {k: np.array([n[k] for n in neurons], np.int64) for k in neurons[0]}
    params = {k: cols[k] for k in ("threshold", "dash_syn", "dash_syn2", "dash_mem", "bias")}
    state = {k: cols[k] for k in ("isyn", "isyn2", "vmem")}
    spikes, new = xylo.golden_step(state, cols["a_in"], params, a_in2=cols["a_in2"], version=version,
                                   max_spikes=max_spikes)
    for i, n in enumerate(neurons):
        got = xylo.update_neuron(n["isyn"], n["isyn2"], n["vmem"], n["a_in"], n["a_in2"], n["threshold"],
                                 n["dash_syn"], n["dash_syn2"], n["dash_mem"], n["bias"], version, max_spikes)
        want = (spikes[i], new["isyn"][i], new["isyn2"][i], new["vmem"][i])
        assert tuple(int(x) for x in got) == tuple(int(x) for x in want), (n, got, want)
        assert 0 <= got[0] <= max_spikes
        assert all(I16[0] <= int(x) <= I16[1] for x in got[1:])


@given(st.integers(*I16), st.lists(st.integers(-(1 << 16), 1 << 16), max_size=70))
def test_xylo_receive_events_equals_one_by_one_saturation(start, events):
    expected = start
    for e in events:
        expected = min(max(expected + e, I16[0]), I16[1])
    got = xylo.receive_events(np.array([start]), np.array(events, np.int64).reshape(-1, 1))
    assert int(got[0]) == expected


def xylo_step(isyn=0, vmem=0, a_in=0, isyn2=0, version=1, max_spikes=31, ordered=False, **kw):
    params = {"threshold": 32767, "dash_syn": 15, "dash_syn2": 15, "dash_mem": 15, "bias": 0}
    params.update(kw)
    state = {"isyn": np.array([isyn]), "isyn2": np.array([isyn2]), "vmem": np.array([vmem])}
    a = np.asarray(a_in).reshape(-1, 1) if ordered else np.array([a_in])
    n, new = xylo.golden_step(state, a, params, version=version, max_spikes=max_spikes, ordered=ordered)
    return int(n[0]), int(new["isyn"][0]), int(new["isyn2"][0]), int(new["vmem"][0])


def test_xylo_decay_is_a_floor_shift_of_at_least_one():
    # 5 >> 4 = 0: a positive value still decays by 1 -> 4; -5 >> 4 = -1 (floor) -> -4
    assert xylo.decay(np.array([5, -5, 0]), 4).tolist() == [1, -1, 0]
    assert xylo_step(isyn=5, dash_syn=4)[1] == 4
    assert xylo_step(isyn=-5, dash_syn=4)[1] == -4
    # 1000 >> 2 = 250 -> 750; -1000 >> 2 = -250 -> -750
    assert xylo_step(isyn=1000, dash_syn=2)[1] == 750
    assert xylo_step(isyn=-1000, dash_syn=2)[1] == -750


def test_xylo_currents_saturate_at_16_bits_after_every_event():
    # 32000 + 1000 saturates at 32767, then decays by max(1, 32767 >> 15 = 0) -> 32766
    assert xylo_step(isyn=32000, a_in=1000)[1] == 32766
    # the vendor saturates event by event: +1000 -> 32767, -1000 -> 31767, then -1 -> 31766
    assert xylo_step(isyn=32000, a_in=[1000, -1000], ordered=True)[1] == 31766
    # DESIGN's summed form adds 0: 32000 - 1 = 31999
    assert xylo_step(isyn=32000, a_in=0)[1] == 31999


def test_xylo_multi_spike_count_and_reset_by_subtraction():
    # isyn = 100 - 1 = 99 reaches vmem = 0 - 0 + 99; threshold 30: 3 spikes, vmem = 99 - 90 = 9
    assert xylo_step(a_in=100, threshold=30) == (3, 99, 0, 9)
    # threshold 1: 1000 - 1 = 999 would be 999 spikes, the count stops at 31: vmem = 999 - 31 = 968
    assert xylo_step(a_in=1000, threshold=1) == (31, 999, 0, 968)
    # a readout neuron emits at most one: vmem = 999 - 1 = 998
    assert xylo_step(a_in=1000, threshold=1, max_spikes=1) == (1, 999, 0, 998)
    # vmem = 29 < 30: no spike, nothing subtracted
    assert xylo_step(a_in=30, threshold=30)[0::3] == (0, 29)


def test_xylo_v1_and_v2_membrane_rules():
    # I = (32767 - 1) + (2 - 1) = 32767, vmem = -32768, dash_mem = 1 (decay -16384)
    # v1: sat(-32768 + 16384 + 32767) = 16383
    # v2: dv = sat(16384 + 32767) = 32767, vmem = sat(-32768 + 32767) = -1
    kw = {"isyn": 32767, "isyn2": 2, "vmem": -32768, "dash_mem": 1}
    assert xylo_step(version=1, **kw)[3] == 16383
    assert xylo_step(version=2, **kw)[3] == -1
    # dash_mem = 0 decays all of vmem: v1 gives 0; v2 negates -32768 in int16 -> -32768 and saturates
    assert xylo_step(vmem=-32768, dash_mem=0, version=1)[3] == 0
    assert xylo_step(vmem=-32768, dash_mem=0, version=2)[3] == -32768
    # v2 adds the bias to the membrane change: vmem = 0 + sat(0 + 0) + 7 = 7
    assert xylo_step(version=2, bias=7)[3] == 7


def test_xylo_synapse_side():
    assert xylo.clip_events(np.array([0, 15, 16, 200])).tolist() == [0, 15, 15, 15]
    assert xylo.clip_events(np.array([40]), xylo.MAX_SPIKES).tolist() == [31]
    # w << shift is converted to int16: 127 << 9 = 65024 -> -512; -128 << 8 = -32768; 1 << 15 -> -32768
    assert xylo.weight_contribution(np.array([127, -128, 1, 3]), 9).tolist() == [-512, 0, 512, 1536]
    assert xylo.weight_contribution(np.array([-128, 1]), 8).tolist() == [-32768, 256]
    assert int(xylo.weight_contribution(np.array(1), 15)) == -32768
    # delivery order: source 0 twice, source 2 once (source 1 is silent), shift 1
    w = np.array([[1, 2], [3, 4], [5, 6]])
    assert xylo.synaptic_events(np.array([2, 0, 1]), w, 1).tolist() == [[2, 4], [2, 4], [10, 12]]


def test_xylo_spec_tables():
    assert xylo.STATE == (("isyn", 16), ("isyn2", 16), ("vmem", 16))
    names = [p[0] for p in xylo.PARAMS]
    assert names == ["threshold", "dash_syn", "dash_syn2", "dash_mem", "bias", "weight_shift"]
    assert (xylo.MAX_INPUT_EVENTS, xylo.MAX_SPIKES, xylo.MAX_OUTPUT_SPIKES) == (15, 31, 1)


@pytest.mark.parametrize("version", [3, 0])
def test_xylo_rejects_unknown_version(version):
    with pytest.raises(ValueError, match="version must be 1 or 2"):
        xylo_step(version=version)
