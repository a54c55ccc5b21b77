"""Hand-derived cases for the golden model (qsnnsim/golden.py, DESIGN.md §2).

Every expected value below is worked out by hand in the comment above it; the naive model
(tests/naive.py) is run on the same workloads as a second opinion.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from naive import run_naive

from qsnnsim.golden import rshift, run_golden, saturate
from qsnnsim.workload import WorkloadBuilder

X_3X3 = np.array([[1, 0, 1],
                  [0, 1, 0],
                  [1, 0, 0]], np.uint8)
W_3X3 = np.array([[+1, -1, +1],
                  [-1, +1, -1],
                  [+1, +1, +1]], np.int16)


def both(wl, sample=0):
    """Golden and naive results; the naive one must agree before we look at the values."""
    g, n = run_golden(wl, sample), run_naive(wl, sample)
    np.testing.assert_array_equal(g.readout, n.readout)
    for name in g.membranes:
        np.testing.assert_array_equal(g.membranes[name], n.membranes[name])
    for name in g.spikes:
        np.testing.assert_array_equal(g.spikes[name], n.spikes[name])
    for name in g.saturations:
        np.testing.assert_array_equal(g.saturations[name], n.saturations[name])
    assert g.predicted == n.predicted
    return g


def conv_workload(stride: int, padding: int, out_hw: int):
    b = WorkloadBuilder("conv3x3", timesteps=1, input_kind="spikes")
    b.input("in", (1, 3, 3))
    b.lif("h", (1, out_hw, out_hw), threshold=1, membrane_bits=8, decay_mult=1, decay_shift=0)
    b.conv2d("in", "h", W_3X3[None, None], weight_bits=1, stride=stride, padding=padding)
    b.readout("out", (1, out_hw, out_hw))
    b.conv2d("in", "out", W_3X3[None, None], weight_bits=1, stride=stride, padding=padding)
    b.set_samples(X_3X3[None, None, None])
    return b.build()


def test_one_bit_conv_on_3x3_input_padding_1():
    # Spikes at (0,0) (0,2) (1,1) (2,0). With padding 1, spike (iy,ix) adds w[iy-oy+1][ix-ox+1]
    # to output (oy,ox) when that kernel index is in 0..2:
    #   out(0,0) = w11 + w22         = +1 +1      =  2
    #   out(0,1) = w10 + w12 + w21   = -1 -1 +1   = -1
    #   out(0,2) = w11 + w20         = +1 +1      =  2
    #   out(1,0) = w01 + w12 + w21   = -1 -1 +1   = -1
    #   out(1,1) = w00 + w02 + w11 + w20 = 4 (all four spikes, the unpadded result)
    #   out(1,2) = w01 + w10         = -1 -1      = -2
    #   out(2,0) = w02 + w11         = +1 +1      =  2
    #   out(2,1) = w01 + w10         = -1 -1      = -2
    #   out(2,2) = w00               = +1         =  1
    res = both(conv_workload(stride=1, padding=1, out_hw=3))
    acc = [[2, -1, 2], [-1, 4, -2], [2, -2, 1]]
    assert res.membranes["out"].tolist() == [acc]
    # theta = 1, strict compare: the 2s and the 4 spike (hard reset to 0); the rest keep acc.
    assert res.spikes["h"][0].astype(int).tolist() == [[[1, 0, 1], [0, 1, 0], [1, 0, 0]]]
    assert res.membranes["h"].tolist() == [[[0, -1, 0], [-1, 0, -2], [0, -2, 1]]]
    assert res.readout.tolist() == [2, -1, 2, -1, 4, -2, 2, -2, 1]
    assert res.predicted == 4


def test_one_bit_conv_on_3x3_input_stride_2_padding_1():
    # Stride 2 keeps outputs (0,0) (0,2) (2,0) (2,2) of the stride-1 map above: 2, 2, 2, 1.
    res = both(conv_workload(stride=2, padding=1, out_hw=2))
    assert res.membranes["out"].tolist() == [[[2, 2], [2, 1]]]


def test_one_bit_conv_on_3x3_input_no_padding():
    # One window over the whole input: w00 + w02 + w11 + w20 = 4.
    res = both(conv_workload(stride=1, padding=0, out_hw=1))
    assert res.readout.tolist() == [4]


def single_neuron(x: int, *, threshold: int, fire_cmp="gt", reset="hard", membrane_bits=8, decay=(1, 0),
                  timesteps=5):
    """Analog input x (the same every step) -> one lif neuron with I = x -> readout copy."""
    b = WorkloadBuilder("neuron", timesteps=timesteps, input_kind="analog")
    b.input("in", (1,))
    b.lif("h", (1,), threshold=threshold, fire_cmp=fire_cmp, reset=reset, membrane_bits=membrane_bits,
          decay_mult=decay[0], decay_shift=decay[1])
    b.linear("in", "h", [[1]], weight_bits=8)
    b.readout("out", (1,))
    b.linear("h", "out", [[1]], weight_bits=8)
    b.set_samples(np.array([[x]], np.int8))
    return b.build()


@pytest.mark.parametrize(
    "x, fire_cmp, reset, spikes, final_m",
    [
        # I = 3, theta = 5, no leak. h: 3, 6 (spike), then again 3, 6 (spike), 3.
        (3, "gt", "hard", [0, 1, 0, 1, 0], 3),   # hard: 3, 0, 3, 0, 3
        (3, "gt", "soft", [0, 1, 0, 1, 0], 5),   # soft: 3, 6-5=1, 1+3=4, 4+3=7-5=2, 2+3=5 (5 > 5 is false)
        (3, "ge", "hard", [0, 1, 0, 1, 0], 3),   # hard never lands exactly on theta
        (3, "ge", "soft", [0, 1, 0, 1, 1], 0),   # as soft above, but 5 >= 5 fires: 5-5 = 0
        # I = 5 = theta: every step lands on theta, so gt and ge part ways.
        (5, "gt", "hard", [0, 1, 0, 1, 0], 5),   # 5 (no), 10 -> 0, 5, 10 -> 0, 5
        (5, "ge", "hard", [1, 1, 1, 1, 1], 0),   # 5 >= 5 every step -> 0
        (5, "gt", "soft", [0, 1, 1, 1, 1], 5),   # 5, 10-5=5, 10-5=5, ...
        (5, "ge", "soft", [1, 1, 1, 1, 1], 0),   # 5-5 = 0 every step
    ],
)
def test_reset_and_compare(x, fire_cmp, reset, spikes, final_m):
    res = both(single_neuron(x, threshold=5, fire_cmp=fire_cmp, reset=reset))
    assert res.spikes["h"][:, 0].astype(int).tolist() == spikes
    assert res.membranes["h"].tolist() == [final_m]
    # The readout integrates the spikes with weight 1 and no leak: their count.
    assert res.readout.tolist() == [sum(spikes)]


@pytest.mark.parametrize(
    "x, reset, membrane_bits, spikes, final_m",
    [
        # 4-bit membrane, Q = 7. Soft reset of 100: 100-5 = 95 -> clamped to 7; then
        # 7+100-5 = 102 -> 7 again.
        (100, "soft", 4, [1, 1, 1], 7),
        (100, "hard", 4, [1, 1, 1], 0),
        # Negative input never fires and sits at -Q = -7 (not -8: the range is symmetric).
        (-100, "hard", 4, [0, 0, 0], -7),
        # 2-bit membrane, Q = 1: h = 1 + 1 = 2 is over Q but under theta 5 -> clamped to 1.
        (1, "hard", 2, [0, 0, 0], 1),
    ],
)
def test_membrane_clamp_to_symmetric_q(x, reset, membrane_bits, spikes, final_m):
    res = both(single_neuron(x, threshold=5, reset=reset, membrane_bits=membrane_bits, timesteps=3))
    assert res.spikes["h"][:, 0].astype(int).tolist() == spikes
    assert res.membranes["h"].tolist() == [final_m]


def test_leak_half_is_an_arithmetic_shift():
    # decay (1, 1) = the Q-SNN leak 0.5. I = 3, theta 100: m = 3; 3>>1 + 3 = 4; 4>>1 + 3 = 5;
    # 5>>1 + 3 = 5.  With I = -3: -3; (-3>>1 = -2) - 3 = -5; (-5>>1 = -3) - 3 = -6; -3 - 3 = -6.
    assert both(single_neuron(3, threshold=100, decay=(1, 1), timesteps=4)).membranes["h"].tolist() == [5]
    assert both(single_neuron(-3, threshold=100, decay=(1, 1), timesteps=4)).membranes["h"].tolist() == [-6]


def test_rshift_floor_versus_toward_zero():
    x = np.array([-7, -8, -1, 0, 1, 7], np.int64)
    # floor(-7/2) = -4, floor(-1/2) = -1; toward zero: -3 and 0; positives agree.
    assert rshift(x, 1, "floor").tolist() == [-4, -4, -1, 0, 0, 3]
    assert rshift(x, 1, "toward_zero").tolist() == [-3, -4, 0, 0, 0, 3]
    assert rshift(x, 0, "toward_zero").tolist() == x.tolist()
    # Shift 31 (the largest allowed): any small negative floors to -1 and truncates to 0.
    assert rshift(x, 31, "floor").tolist() == [-1, -1, -1, 0, 0, 0]
    assert rshift(x, 31, "toward_zero").tolist() == [0, 0, 0, 0, 0, 0]


def rounding_readout(rounding: str):
    b = WorkloadBuilder("rounding", timesteps=2, input_kind="analog")
    b.input("in", (1,))
    b.readout("out", (1,), decay_mult=1, decay_shift=1, rounding=rounding)
    b.linear("in", "out", [[1]], weight_bits=8, mult=1, shift=1)
    b.set_samples(np.array([[-7]], np.int8))
    return b.build()


def test_population_rounding_applies_to_input_scale_and_leak():
    # I = rshift(-7 * 1, 1); m' = rshift(m, 1) + I.
    # floor:       I = -4; t0: 0 - 4 = -4; t1: (-4 >> 1 = -2) - 4 = -6.
    # toward_zero: I = -3; t0: 0 - 3 = -3; t1: trunc(-3 / 2) = -1, -1 - 3 = -4.
    assert both(rounding_readout("floor")).readout.tolist() == [-6]
    assert both(rounding_readout("toward_zero")).readout.tolist() == [-4]


def test_toward_zero_at_the_most_negative_int64():
    # The register value -2^63 exists (no wrap needed to reach it), and rounding it toward
    # zero by 16 bits is -2^47. Negating -2^63 in int64 overflows back to -2^63, so an
    # implementation that computes -((-x) >> s) gets +2^47 instead.
    assert rshift(np.array([-(1 << 63)], np.int64), 16, "toward_zero").tolist() == [-(1 << 47)]


def test_readout_toward_zero_at_the_most_negative_int64():
    # I = 8 inputs * (64 * -2^15) = -2^24 accumulated, times mult 2^23 = -2^47 (shift 0).
    # t0: m = -2^47. t1: m * 2^16 = -2^63 exactly (in range), toward zero >> 16 = -2^47,
    # plus I: -2^48. No wrap happens anywhere.
    b = WorkloadBuilder("edge", timesteps=2, input_kind="analog")
    b.input("in", (8,))
    b.readout("out", (1,), decay_mult=1 << 16, decay_shift=16, rounding="toward_zero")
    b.linear("in", "out", np.full((1, 8), -(1 << 15)), weight_bits=16, mult=1 << 23, shift=0, acc_bits=32)
    b.set_samples(np.full((1, 8), 64, np.int8))
    wl = b.build()
    assert run_naive(wl, 0).readout.tolist() == [-(1 << 48)]
    assert run_golden(wl, 0).readout.tolist() == [-(1 << 48)]


def test_readout_register_wraps_modulo_2_64():
    # I = 8 * (64 * 2^15)... with w = -2^15 and x = -64: +2^21 per input, 2^24 in all,
    # times 2^23 = 2^47. t0: m = 2^47. t1: m * 2^16 = 2^63, which wraps to -2^63; shift 0;
    # plus I: -2^63 + 2^47.
    b = WorkloadBuilder("wrap", timesteps=2, input_kind="analog")
    b.input("in", (8,))
    b.readout("out", (1,), decay_mult=1 << 16, decay_shift=0)
    b.linear("in", "out", np.full((1, 8), -(1 << 15)), weight_bits=16, mult=1 << 23, shift=0, acc_bits=32)
    b.set_samples(np.full((1, 8), -64, np.int8))
    res = both(b.build())
    assert res.readout.tolist() == [-(1 << 63) + (1 << 47)]


def saturation_workload():
    # acc_bits = 2: the accumulator holds -2..1. Four inputs, five targets, 1-bit weights.
    b = WorkloadBuilder("sat", timesteps=2, input_kind="spikes")
    b.input("in", (4,))
    b.readout("out", (5,))
    w = [[+1, +1, +1, +1],   # t0 sum  4 -> 1 (saturated)   t1 sum +1
         [+1, +1, -1, -1],   # t0 sum  0                    t1 sum +1
         [-1, -1, -1, +1],   # t0 sum -2 (the edge, fine)   t1 sum -1
         [-1, -1, -1, -1],   # t0 sum -4 -> -2 (saturated)  t1 sum -1
         [+1, +1, +1, -1]]   # t0 sum  2 -> 1 (saturated)   t1 sum +1
    b.linear("in", "out", w, weight_bits=1, acc_bits=2)
    b.set_samples(np.array([[[1, 1, 1, 1], [1, 0, 0, 0]]], np.uint8))
    return b.build()


def test_saturation_counted_once_per_neuron_per_step():
    res = both(saturation_workload())
    # t0: three neurons clamp, however far over (4 -> 1 counts once, like 2 -> 1); t1: none.
    assert res.saturations["in->out"].tolist() == [3, 0]
    # readout = clamped t0 + t1 = [1+1, 0+1, -2-1, -2-1, 1+1]
    assert res.readout.tolist() == [2, 1, -3, -3, 2]
    # Neurons 0 and 4 tie at 2: the lower index wins.
    assert res.predicted == 0


def test_saturate_counts_both_sides():
    clamped, n_sat = saturate(np.array([-3, -2, 1, 2, 100], np.int64), 2)
    assert clamped.tolist() == [-2, -2, 1, 1, 1] and n_sat == 3


@pytest.mark.parametrize(
    "bias, predicted",
    [([3, 7, 7, -1], 1), ([0, 0, 0, 0], 0), ([-5, -9, -5, -5], 0), ([1, 2, 3, 3], 2)],
)
def test_readout_argmax_ties_to_lowest_index(bias, predicted):
    # Zero weights: after one step the readout is its bias.
    b = WorkloadBuilder("ties", timesteps=1, input_kind="analog")
    b.input("in", (1,))
    b.readout("out", (4,), bias=bias)
    b.linear("in", "out", np.zeros((4, 1), np.int8), weight_bits=2)
    b.set_samples(np.array([[1]], np.int8))
    res = both(b.build())
    assert res.readout.tolist() == bias and res.predicted == predicted


X_2X2X2 = np.array([[[1, 2], [3, 4]], [[-1, 0], [5, -6]]], np.int8)
W_GSP = np.array([[1, 2], [-3, 1], [0, 5]])


def test_global_sum_pool_linear_hand_case():
    # Plane sums: c0 = 1+2+3+4 = 10, c1 = -1+0+5-6 = -2.
    # W @ [10, -2] = [10 - 4, -30 - 2, 0 - 10] = [6, -32, -10].
    b = WorkloadBuilder("gsp", timesteps=1, input_kind="analog")
    b.input("in", (2, 2, 2))
    b.readout("out", (3,))
    b.linear("in", "out", W_GSP, weight_bits=8, global_sum_pool=True)
    b.set_samples(X_2X2X2[None])
    assert both(b.build()).readout.tolist() == [6, -32, -10]
    # The same plane sums through a sumpool2d over the whole plane.
    b = WorkloadBuilder("pool", timesteps=1, input_kind="analog")
    b.input("in", (2, 2, 2))
    b.readout("out", (2, 1, 1))
    b.sumpool2d("in", "out", kernel=2)
    b.set_samples(X_2X2X2[None])
    pooled = both(b.build()).readout
    assert pooled.tolist() == [10, -2]
    assert (W_GSP @ pooled).tolist() == [6, -32, -10]


@given(
    hnp.arrays(np.int8, (2, 3, 2), elements=st.integers(-128, 127)),
    hnp.arrays(np.int16, (3, 2), elements=st.integers(-8, 7)),
    st.integers(2, 16),
)
def test_global_sum_pool_equals_linear_with_weights_repeated_per_position(x, w, acc_bits):
    # sum_c w[j,c] * sum_i x[c,i] = sum_{c,i} w[j,c] * x[c,i]: the same exact sum, so the
    # same clamp and the same saturation count as the flattened linear.
    results = []
    for pooled in (True, False):
        b = WorkloadBuilder("eq", timesteps=2, input_kind="analog")
        b.input("in", (2, 3, 2))
        b.readout("out", (3,))
        weights = w if pooled else np.repeat(w, 6, axis=1)
        b.linear("in", "out", weights, weight_bits=4, acc_bits=acc_bits, global_sum_pool=pooled)
        b.set_samples(x[None])
        results.append(run_golden(b.build(), 0))
    assert results[0].readout.tolist() == results[1].readout.tolist()
    assert results[0].saturations["in->out"].tolist() == results[1].saturations["in->out"].tolist()


def test_identity_codes_scale_per_channel():
    # x = [[3, -4]], [[5, 6]]; codes [-2, 1] -> acc [[-6, 8]], [[5, 6]];
    # mult [3, -1], shift [1, 0]: c0 -18>>1 = -9, 24>>1 = 12; c1 -5, -6.
    b = WorkloadBuilder("identity", timesteps=1, input_kind="analog")
    b.input("in", (2, 1, 2))
    b.readout("out", (2, 1, 2))
    b.identity("in", "out", codes=[-2, 1], weight_bits=2, mult=[3, -1], shift=[1, 0])
    b.set_samples(np.array([[[[3, -4]], [[5, 6]]]], np.int8))
    assert both(b.build()).readout.tolist() == [-9, 12, -5, -6]


def test_sumpool_with_zero_padding():
    # x = 1..9 in a 3x3 plane, kernel 2, stride 2, padding 1 -> 2x2 windows:
    # (0,0) sees x[0][0] = 1; (0,1) sees x[0][1] + x[0][2] = 5;
    # (1,0) sees x[1][0] + x[2][0] = 11; (1,1) sees 5 + 6 + 8 + 9 = 28.
    b = WorkloadBuilder("pool", timesteps=1, input_kind="analog")
    b.input("in", (1, 3, 3))
    b.readout("out", (1, 2, 2))
    b.sumpool2d("in", "out", kernel=2, stride=2, padding=1)
    b.set_samples(np.arange(1, 10, dtype=np.int8).reshape(1, 1, 3, 3))
    assert both(b.build()).readout.tolist() == [1, 5, 11, 28]


def test_spikes_cross_every_layer_in_the_same_timestep():
    # No synaptic delay: an input spike at t0 makes h spike at t0 (1 > 0) and the readout
    # sees it at t0. T = 1, so a one-step delay anywhere would leave the readout at 0.
    b = WorkloadBuilder("nodelay", timesteps=1, input_kind="spikes")
    b.input("in", (1,))
    b.lif("h1", (1,), threshold=0)
    b.linear("in", "h1", [[1]], weight_bits=1)
    b.lif("h2", (1,), threshold=0)
    b.linear("h1", "h2", [[1]], weight_bits=1)
    b.readout("out", (1,))
    b.linear("h2", "out", [[1]], weight_bits=1)
    b.set_samples(np.ones((1, 1, 1), np.uint8))
    res = both(b.build())
    assert res.spikes["h2"].tolist() == [[True]] and res.readout.tolist() == [1]


def test_residual_join_adds_scaled_inputs():
    # Two projections into one readout from the same input x = 6:
    # linear code 3, mult 1, shift 1: 18 >> 1 = 9; identity code -1, mult 5, shift 2: -30 >> 2 = -8
    # (floor of -7.5). Sum 1, plus bias 2 = 3.
    b = WorkloadBuilder("join", timesteps=1, input_kind="analog")
    b.input("in", (1,))
    b.readout("out", (1,), bias=2)
    b.linear("in", "out", [[3]], weight_bits=4, mult=1, shift=1, name="fc")
    b.identity("in", "out", codes=[-1], weight_bits=2, mult=5, shift=2, name="skip")
    b.set_samples(np.array([[6]], np.int8))
    assert both(b.build()).readout.tolist() == [3]
