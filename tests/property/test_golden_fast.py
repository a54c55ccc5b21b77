"""The golden model's matrix-product synapses (qsnnsim/golden.py ``_Synapses``) == the naive
per-neuron sums of tests/naive.py, on random geometry, widths and inputs.

The golden model computes every projection's exact sums for all T timesteps at once: an
im2col window matrix times the weight matrix, in float32, float64 or int64 depending on the
bound on the sums. These tests hold that path against the naive model's window walk (an
explicit bounds check for zero padding, plain Python ints) one projection at a time, over
the corners the whole-network tests reach rarely: kernels as large as the padded input,
strides larger than the kernel, padding as large as the kernel, 1-, 8- and 16-bit weights
(float32, float64 and int64 products), analog int8 and binary inputs, several timesteps.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import _accumulate_one

from qsnnsim.golden import _Synapses, im2col, im2col_steps
from qsnnsim.workload import Population, Projection

_WEIGHT_RANGES = {1: (-1, 1), 8: (-128, 127), 16: (-(1 << 15), (1 << 15) - 1)}


def _codes(draw, shape, weight_bits: int) -> np.ndarray:
    lo, hi = _WEIGHT_RANGES[weight_bits]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if weight_bits == 1:
        return rng.choice(np.array([-1, 1], np.int16), size=shape)
    codes = rng.integers(lo, hi + 1, size=shape).astype(np.int16)
    # The extremes, so the exactness bound is reached, not only approached.
    codes.flat[draw(st.integers(0, codes.size - 1))] = draw(st.sampled_from([lo, hi]))
    return codes


@st.composite
def conv_cases(draw):
    """(projection, source, target, x (T, C, H, W) int64, max |x|)."""
    c_in, c_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    kh = draw(st.integers(1, min(4, h + 2 * ph)))
    kw = draw(st.integers(1, min(4, w + 2 * pw)))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    weight_bits = draw(st.sampled_from([1, 8, 16]))
    steps = draw(st.integers(1, 3))
    analog = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if analog:
        x = rng.integers(-128, 128, size=(steps, c_in, h, w))
        x.flat[0] = -128  # the largest magnitude an int8 input has
    else:
        x = (rng.random((steps, c_in, h, w)) < draw(st.sampled_from([0.0, 0.3, 1.0]))).astype(np.int64)
    src = Population("src", "input" if analog else "lif", (c_in, h, w))
    tgt = Population("tgt", "lif", (c_out, ho, wo))
    proj = Projection("p", "conv2d", "src", "tgt", weight_bits, _codes(draw, (c_out, c_in, kh, kw), weight_bits),
                      np.ones(c_out, np.int32), np.zeros(c_out, np.int32), 32, (kh, kw), (sh, sw), (ph, pw))
    return proj, src, tgt, x, 128 if analog else 1


def _naive_sums(proj, src, tgt, x: np.ndarray) -> np.ndarray:
    out = np.zeros((x.shape[0], tgt.n_neurons), np.int64)
    for t in range(x.shape[0]):
        flat = [int(v) for v in x[t].reshape(-1)]
        for n in range(tgt.n_neurons):
            out[t, n] = _accumulate_one(proj, src.shape, tgt.shape, flat, n)
    return out.reshape((x.shape[0],) + tgt.shape)


@settings(max_examples=200)
@given(conv_cases())
def test_matrix_conv_equals_naive_window_sums(case):
    proj, src, tgt, x, max_abs_x = case
    synapses = _Synapses(proj, src, tgt, max_abs_x)
    got = synapses.accumulate(x)
    assert got.dtype == np.int64 and got.shape == (x.shape[0],) + tgt.shape
    np.testing.assert_array_equal(got, _naive_sums(proj, src, tgt, x))


@settings(max_examples=100)
@given(conv_cases())
def test_bool_spikes_give_the_same_sums_as_int_spikes(case):
    # The golden model passes a lif population's spikes on as bool; the product must not care.
    proj, src, tgt, x, max_abs_x = case
    if max_abs_x != 1:
        return
    synapses = _Synapses(proj, src, tgt, 1)
    np.testing.assert_array_equal(synapses.accumulate(x.astype(bool)), synapses.accumulate(x))


@settings(max_examples=100)
@given(conv_cases())
def test_windows_of_all_steps_are_the_windows_of_each_step(case):
    proj, _, _, x, _ = case
    cols = im2col_steps(x, proj.kernel, proj.stride, proj.padding)
    per_step = [im2col(x[t], proj.kernel, proj.stride, proj.padding) for t in range(x.shape[0])]
    np.testing.assert_array_equal(cols, np.concatenate(per_step, axis=1))


def test_the_product_dtype_follows_the_exactness_bound():
    # fan_in * max|w| * max|x| below 2^24: float32; below 2^53: float64; otherwise int64.
    def dtype_for(c_in, kernel, weight_bits, max_abs_x):
        lo, hi = _WEIGHT_RANGES[weight_bits]
        w = np.full((1, c_in, kernel, kernel), lo, np.int16)
        src = Population("s", "lif", (c_in, 4, 4))
        tgt = Population("t", "lif", (1, 4, 4))
        proj = Projection("p", "conv2d", "s", "t", weight_bits, w, np.ones(1, np.int32), np.zeros(1, np.int32),
                          32, (kernel, kernel), (1, 1), (kernel // 2, kernel // 2))
        return _Synapses(proj, src, tgt, max_abs_x).dtype

    assert dtype_for(512, 3, 1, 1) is np.float32          # 4,608 x 1 x 1
    assert dtype_for(3, 3, 8, 128) is np.float32           # 27 x 128 x 128 = 442,368
    assert dtype_for(512, 3, 8, 128) is np.float64         # 4,608 x 128 x 128 = 75.5 M > 2^24
    assert dtype_for(512, 3, 16, 128) is np.float64        # 4,608 x 32,768 x 128 < 2^53


@settings(max_examples=50)
@given(conv_cases())
def test_timesteps_in_chunks_give_the_same_sums(case):
    # A long input is multiplied a few timesteps at a time (bounded memory); one step at a
    # time must give the same sums as all steps at once.
    import qsnnsim.golden as golden

    proj, src, tgt, x, max_abs_x = case
    synapses = _Synapses(proj, src, tgt, max_abs_x)
    whole = synapses.accumulate(x)
    saved = golden._WINDOW_BYTES
    golden._WINDOW_BYTES = 1  # one timestep per product
    try:
        np.testing.assert_array_equal(synapses.accumulate(x), whole)
    finally:
        golden._WINDOW_BYTES = saved
