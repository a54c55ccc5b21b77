"""The binary conv kernel (stride-phase planes, positions vectorised) and the sum-pool kernel
against a plain numpy int64 conv2d: random shapes, channel counts that are not multiples of
64, strides 1 and 2 (and unequal), padding, 1x1 / 3x3 / rectangular kernels, channel sub-ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnnsim.engine.build import _pack_plus
from qsnnsim.kernels import synapse


def conv2d_reference(x: np.ndarray, w: np.ndarray, stride, padding) -> np.ndarray:
    """int64 cross-correlation of x (C_in, H, W) with w (C_out, C_in, kH, kW), zero padding."""
    c_in, h, wd = x.shape
    c_out, _, k_h, k_w = w.shape
    xp = np.zeros((c_in, h + 2 * padding[0], wd + 2 * padding[1]), np.int64)
    xp[:, padding[0]:padding[0] + h, padding[1]:padding[1] + wd] = x
    out_h = (h + 2 * padding[0] - k_h) // stride[0] + 1
    out_w = (wd + 2 * padding[1] - k_w) // stride[1] + 1
    out = np.zeros((c_out, out_h, out_w), np.int64)
    for kh in range(k_h):
        for kw in range(k_w):
            window = xp[:, kh:kh + stride[0] * (out_h - 1) + 1:stride[0], kw:kw + stride[1] * (out_w - 1) + 1:stride[1]]
            out += np.einsum("oc,chw->ohw", w[:, :, kh, kw].astype(np.int64), window)
    return out


def sumpool_reference(x: np.ndarray, kernel, stride, padding, out_hw) -> np.ndarray:
    """int64 sum over each window of x (C, H, W), zero padding, out_hw output positions."""
    c, h, wd = x.shape
    out_h, out_w = out_hw
    rows = max(h + 2 * padding[0], (out_h - 1) * stride[0] + kernel[0])
    cols = max(wd + 2 * padding[1], (out_w - 1) * stride[1] + kernel[1])
    xp = np.zeros((c, rows, cols), np.int64)
    xp[:, padding[0]:padding[0] + h, padding[1]:padding[1] + wd] = x
    out = np.zeros((c, out_h, out_w), np.int64)
    for kh in range(kernel[0]):
        for kw in range(kernel[1]):
            out += xp[:, kh:kh + stride[0] * (out_h - 1) + 1:stride[0], kw:kw + stride[1] * (out_w - 1) + 1:stride[1]]
    return out


def _popcount_conv(spikes, codes, stride, padding, c_start, c_stop):
    _, h, w = spikes.shape
    k_h, k_w = codes.shape[2:]
    out_h = (h + 2 * padding[0] - k_h) // stride[0] + 1
    out_w = (w + 2 * padding[1] - k_w) // stride[1] + 1
    packed = synapse.pack_spike_planes(spikes, padding[0], padding[1])
    acc = np.full((c_stop - c_start, out_h, out_w), -(1 << 40), np.int64)  # every entry must be written
    synapse.accumulate_conv_popcount(packed, _pack_plus(codes), c_start, c_stop, stride[0], stride[1],
                                     out_h, out_w, acc)
    return acc


@st.composite
def conv_cases(draw):
    c_in = draw(st.one_of(st.integers(1, 70), st.sampled_from([63, 64, 65, 127, 128, 129, 200, 256, 300])))
    k_h = draw(st.sampled_from([1, 3, 3, 2]))
    k_w = draw(st.sampled_from([k_h, k_h, 1, 3]))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if draw(st.booleans()):
        stride = (stride[0], stride[0])
    padding = (draw(st.integers(0, max(0, k_h - 1))), draw(st.integers(0, max(0, k_w - 1))))
    h = draw(st.integers(max(1, k_h - 2 * padding[0]), 13))
    w = draw(st.integers(max(1, k_w - 2 * padding[1]), 13))
    c_out = draw(st.integers(1, 9))
    c_start = draw(st.integers(0, c_out - 1))
    c_stop = draw(st.integers(c_start + 1, c_out))
    rate = draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    return c_in, (k_h, k_w), stride, padding, (h, w), c_out, (c_start, c_stop), rate, seed


@settings(max_examples=200)
@given(conv_cases())
def test_popcount_conv_equals_numpy_conv2d(case):
    c_in, (k_h, k_w), stride, padding, (h, w), c_out, (c_start, c_stop), rate, seed = case
    rng = np.random.default_rng(seed)
    spikes = (rng.random((c_in, h, w)) < rate).astype(np.uint8)
    codes = rng.choice(np.array([-1, 1], np.int8), size=(c_out, c_in, k_h, k_w))
    expect = conv2d_reference(spikes, codes, stride, padding)[c_start:c_stop]
    assert np.array_equal(_popcount_conv(spikes, codes, stride, padding, c_start, c_stop), expect)


@pytest.mark.parametrize("c_in, hw, k, stride, padding, c_range", [
    (64, 56, 3, 1, 1, (16, 32)),      # ResNet-18 layer1: one word, stride 1 (planes are the packed words)
    (64, 56, 3, 2, 1, (0, 7)),        # into layer2: stride phases
    (64, 56, 1, 2, 0, (3, 8)),        # a 1x1 stride-2 downsample
    (130, 28, 3, 1, 1, (1, 6)),       # three words, the last partly used
    (512, 7, 3, 1, 1, (0, 5)),        # layer4: 72 taps, 7x7
    (3, 70, 3, 1, 1, (0, 3)),         # 70x72 padded: positions in three blocks of whole rows
    (5, 61, 2, 1, 0, (1, 2)),         # 60 rows of 60, exact fit, one channel: no row rounding past the end
])
def test_popcount_conv_resnet_shapes(c_in, hw, k, stride, padding, c_range):
    rng = np.random.default_rng(c_in * 1000 + hw)
    spikes = (rng.random((c_in, hw, hw)) < 0.2).astype(np.uint8)
    codes = rng.choice(np.array([-1, 1], np.int8), size=(c_range[1] + 1, c_in, k, k))
    expect = conv2d_reference(spikes, codes, (stride, stride), (padding, padding))[c_range[0]:c_range[1]]
    got = _popcount_conv(spikes, codes, (stride, stride), (padding, padding), *c_range)
    assert np.array_equal(got, expect)


def test_popcount_conv_extremes():
    # all spikes and all +1 weights: every sum is the receptive field size; all -1: its negation
    spikes = np.ones((70, 9, 9), np.uint8)
    for sign in (1, -1):
        codes = np.full((4, 70, 3, 3), sign, np.int8)
        got = _popcount_conv(spikes, codes, (1, 1), (0, 0), 0, 4)
        assert np.array_equal(got, np.full((4, 7, 7), sign * 70 * 9))


def test_popcount_conv_refuses_planes_that_do_not_cover_the_conv():
    packed = synapse.pack_spike_planes(np.ones((8, 5, 5), np.uint8), 0, 0)
    w_plus = _pack_plus(np.ones((2, 8, 3, 3), np.int8))
    with pytest.raises(ValueError):
        synapse.accumulate_conv_popcount(packed, w_plus, 0, 2, 1, 1, 4, 3, np.empty((2, 4, 3), np.int64))


@settings(max_examples=150)
@given(st.data())
def test_sumpool_equals_numpy(data):
    d = data.draw
    k_h, k_w = d(st.integers(1, 4)), d(st.integers(1, 4))
    stride = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    padding = (d(st.integers(0, k_h - 1)), d(st.integers(0, k_w - 1)))
    c = d(st.integers(1, 6))
    h = d(st.integers(max(1, k_h - 2 * padding[0]), 12))
    w = d(st.integers(max(1, k_w - 2 * padding[1]), 12))
    out_hw = ((h + 2 * padding[0] - k_h) // stride[0] + 1, (w + 2 * padding[1] - k_w) // stride[1] + 1)
    c_start = d(st.integers(0, c - 1))
    c_stop = d(st.integers(c_start + 1, c))
    rng = np.random.default_rng(d(st.integers(0, 2**31 - 1)))
    kind = d(st.sampled_from(["spikes", "counts", "analog"]))
    if kind == "spikes":
        values = (rng.random((c, h, w)) < 0.3).astype(np.uint8)
    elif kind == "counts":
        values = rng.integers(0, 256, (c, h, w)).astype(np.uint8)
    else:
        values = rng.integers(-(1 << 40), 1 << 40, (c, h, w)).astype(np.int64)
    acc = np.full((c_stop - c_start,) + out_hw, -7, np.int64)
    synapse.accumulate_sumpool(values, k_h, k_w, stride[0], stride[1], padding[0], padding[1], c_start, c_stop, acc)
    expect = sumpool_reference(values, (k_h, k_w), stride, padding, out_hw)[c_start:c_stop]
    assert np.array_equal(acc, expect)


def test_sumpool_resnet_maxpool_shape():
    # the stem's 3x3/2 pool (padding 1) of 112x112 spikes, on a slice of channels
    rng = np.random.default_rng(7)
    values = (rng.random((64, 112, 112)) < 0.2).astype(np.uint8)
    acc = np.empty((16, 56, 56), np.int64)
    synapse.accumulate_sumpool(values, 3, 3, 2, 2, 1, 1, 16, 32, acc)
    assert np.array_equal(acc, sumpool_reference(values, (3, 3), (2, 2), (1, 1), (56, 56))[16:32])
