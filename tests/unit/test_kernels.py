"""Kernels against the golden model: the same integer rule, checked on random arrays and edges."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qsnnsim import golden
from qsnnsim.kernels import lif, noc, phase, synapse
from qsnnsim.workload import Population

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@st.composite
def populations(draw):
    kind = draw(st.sampled_from(["lif", "lif", "readout"]))
    c = draw(st.integers(1, 4))
    # small planes (the fire kernel's neuron-by-neuron path, below 8), planes on either side
    # of that threshold, and planes that cross its 256-neuron chunks
    plane = draw(st.one_of(st.integers(1, 5), st.sampled_from([7, 8, 9, 255, 256, 257, 600])))
    bits = draw(st.integers(2, 16))
    q = (1 << (bits - 1)) - 1
    int32 = st.integers(-(1 << 31), (1 << 31) - 1)
    small = st.integers(-3 * q - 3, 3 * q + 3)
    return Population(
        name="p", kind=kind, shape=(c, plane, 1), membrane_bits=bits,
        decay_mult=draw(st.one_of(st.integers(-4, 4), st.integers(-(1 << 16), 1 << 16))),
        decay_shift=draw(st.integers(0, 31)),
        rounding=draw(st.sampled_from(["floor", "toward_zero"])), fire_cmp=draw(st.sampled_from(["gt", "ge"])),
        reset=draw(st.sampled_from(["hard", "soft"])),
        threshold=np.array(draw(st.lists(st.one_of(small, int32), min_size=c, max_size=c)), np.int32),
        bias=np.array(draw(st.lists(st.one_of(small, int32), min_size=c, max_size=c)), np.int32),
    )


@settings(max_examples=200)
@given(st.data())
def test_fire_kernel_equals_golden_neuron_update(data):
    pop = data.draw(populations())
    n = pop.n_neurons
    n_proj = data.draw(st.integers(0, 3))
    acc_bits = data.draw(st.lists(st.integers(2, 32), min_size=n_proj, max_size=n_proj))
    accs = [data.draw(hnp.arrays(np.int64, n, elements=st.integers(-(1 << 33), 1 << 33))) for _ in range(n_proj)]
    mults = [data.draw(hnp.arrays(np.int64, pop.n_channels, elements=st.integers(-(1 << 24) + 1, (1 << 24) - 1)))
             for _ in range(n_proj)]
    shifts = [data.draw(hnp.arrays(np.int64, pop.n_channels, elements=st.integers(0, 31))) for _ in range(n_proj)]
    q = (1 << (pop.membrane_bits - 1)) - 1
    m0 = data.draw(hnp.arrays(np.int64, n, elements=st.integers(-q, q) if pop.kind == "lif"
                              else st.integers(-(1 << 62), 1 << 62)))
    # golden
    current = np.zeros(pop.shape, np.int64)
    gold_sats = []
    for k in range(n_proj):
        clamped, n_sat = golden.saturate(accs[k], acc_bits[k])
        gold_sats.append(n_sat)

        class _P:
            mult, shift = mults[k], shifts[k]
        current += golden.scaled_input(clamped.reshape(pop.shape), _P, pop.rounding)
    g_spikes, g_m = golden.neuron_update(pop, m0.reshape(pop.shape).copy(), current)
    # kernel, on a slice [n0, n1) that may start and end inside a channel's plane, with the
    # membranes as the engine stores them (a lif's in int16)
    plane = pop.plane_size
    n0 = data.draw(st.integers(0, n - 1))
    n1 = data.draw(st.integers(n0 + 1, n))
    c0, c1 = n0 // plane, -(-n1 // plane)
    acc = np.stack(accs)[:, n0:n1] if n_proj else np.zeros((0, n1 - n0), np.int64)
    lo = np.array([-(1 << (b - 1)) for b in acc_bits], np.int64)
    hi = np.array([(1 << (b - 1)) - 1 for b in acc_bits], np.int64)
    mult = np.ascontiguousarray(np.stack(mults)[:, c0:c1]) if n_proj else np.zeros((0, c1 - c0), np.int64)
    shift = np.ascontiguousarray(np.stack(shifts)[:, c0:c1]) if n_proj else np.zeros((0, c1 - c0), np.int64)
    dtype = np.int64 if pop.kind == "readout" else np.int16
    m = m0[n0:n1].astype(dtype)
    gold_m = g_m.reshape(-1)[n0:n1]
    gold_spikes = g_spikes.reshape(-1)[n0:n1]
    clamped = [golden.saturate(a[n0:n1], b)[1] for a, b in zip(accs, acc_bits)]
    # the engine's entry: the dialect's fire kernel with the slice's channels' parameters
    params = {k: (v[c0:c1] if isinstance(v, np.ndarray) else v) for k, v in pop.neuron.parameters(pop).items()}
    spikes, sats, fired = pop.neuron.fire(acc, lo, hi, mult, shift, {"m": m}, params, plane, n0 - c0 * plane, pop, 5)
    assert np.array_equal(m, gold_m)
    assert np.array_equal(spikes.astype(bool), gold_spikes)
    assert np.array_equal(fired, 5 + np.flatnonzero(gold_spikes))
    assert sats.tolist() == clamped
    if (n0, n1) == (0, n):
        assert sats.tolist() == gold_sats


def test_rshift_toward_zero_edges():
    for x in [-(1 << 63), -(1 << 63) + 1, -7, -1, 0, 1, 7, (1 << 63) - 1]:
        for s in [0, 1, 3, 31]:
            expect = int(golden.rshift(np.int64(x), s, "toward_zero"))
            assert lif.rshift(np.int64(x), s, lif.ROUND_TOWARD_ZERO) == expect, (x, s)
    assert lif.rshift(np.int64(-7), 1, lif.ROUND_TOWARD_ZERO) == -3  # -3.5 toward zero
    assert lif.rshift(np.int64(-7), 1, lif.ROUND_FLOOR) == -4        # -3.5 floored


@settings(max_examples=100)
@given(st.data())
def test_popcount_conv_equals_golden_im2col(data):
    c_in = data.draw(st.integers(1, 130))
    h = data.draw(st.integers(1, 6))
    w = data.draw(st.integers(1, 6))
    k = data.draw(st.integers(1, 3))
    stride = data.draw(st.integers(1, 2))
    pad = data.draw(st.integers(0, k - 1))
    out_h, out_w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if out_h < 1 or out_w < 1:
        return
    c_out = data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 1 << 30)))
    spikes = (rng.random((c_in, h, w)) < data.draw(st.floats(0, 1))).astype(np.uint8)
    codes = rng.choice(np.array([-1, 1], np.int16), size=(c_out, c_in, k, k))
    expect = codes.reshape(c_out, -1).astype(np.int64) @ golden.im2col(spikes.astype(np.int64), (k, k), (stride,) * 2,
                                                                          (pad,) * 2)
    from qsnnsim.engine.build import _pack_plus

    packed_w = _pack_plus(codes)
    packed_s = synapse.pack_spike_planes(spikes, pad, pad)
    acc = np.empty((c_out, out_h, out_w), np.int64)
    synapse.accumulate_conv_popcount(packed_s, packed_w, 0, c_out, stride, stride, out_h, out_w, acc)
    assert np.array_equal(acc.reshape(c_out, -1), expect)


def test_eject_train_by_hand():
    # Spike buffer of 1 packet; a train of 3 packets (costs 4, 4, marker 1) granted at 10.
    # u0 = 10, start0 = 11 (issue free), next issue 15. u1: slot frees at start0 + 1 = 12 ->
    # u1 = 12 (stall 1: wanted 11), start1 = max(13, 15) = 15, next 19. u2: slot frees at 16
    # -> u2 = 16 (stall 3: wanted 13), start2 = max(17, 19) = 19. Busy 4 + 4 + 1 = 9.
    ring = np.zeros(1, np.int64)
    state = np.zeros(2, np.int64)
    record = np.zeros((3, 2), np.int64)
    cost = np.array([7, 4, 0], np.int32)  # per source neuron: neuron 1 costs 4
    delivery, marker_start, stall, busy = noc.eject_train(10, np.array([1, 1]), cost, True, ring, state, record)
    assert (delivery, marker_start, stall, busy) == (16, 19, 4, 9)
    assert state.tolist() == [3, 20]
    assert record.tolist() == [[10, 11], [12, 15], [16, 19]]


def test_kernels_run_without_jit():
    """The kernel tests once more with NUMBA_DISABLE_JIT=1 (plain Python, as STUMPY's test.sh)."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", CI="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "not without_jit", "--hypothesis-profile=ci"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


@settings(max_examples=150)
@given(st.data())
def test_conv_packet_costs_equal_a_plain_bank_scan(data):
    """kernels.sram.conv_pair_costs (with its channel-period shortcut) against timing-model §4 read plainly."""
    from qsnnsim.kernels import sram

    d = data.draw
    c_in, h, w = d(st.integers(1, 40)), d(st.integers(1, 6)), d(st.integers(1, 6))
    kh, kw = d(st.integers(1, 3)), d(st.integers(1, 3))
    sh, sw = d(st.integers(1, 2)), d(st.integers(1, 2))
    ph, pw = d(st.integers(0, kh - 1)), d(st.integers(0, kw - 1))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        return
    c_out = d(st.integers(1, 5))
    plane = oh * ow
    n0 = d(st.integers(0, c_out * plane - 1))
    n1 = d(st.integers(n0 + 1, c_out * plane))
    c0, c1 = n0 // plane, -(-n1 // plane)
    rw, banks, lanes, base = d(st.integers(1, 4)), d(st.integers(1, 8)), d(st.integers(1, 4)), d(st.integers(0, 50))
    acc_bits, acc_word = d(st.integers(2, 32)), d(st.sampled_from([16, 32, 64]))
    out = [np.zeros(c_in * h * w, np.int64) for _ in range(4)]
    sram.conv_pair_costs(c_in, h, w, oh, ow, kh, kw, sh, sw, ph, pw, c0, c1, n0, n1, base, rw, banks, lanes,
                         acc_bits, acc_word, *out)
    for ci in range(c_in):
        for y in range(h):
            for x in range(w):
                rows, upd, acc_words = [], 0, 0
                for i in range(kh):
                    for k in range(kw):
                        ny, nx = y + ph - i, x + pw - k
                        if ny < 0 or nx < 0 or ny % sh or nx % sw or ny // sh >= oh or nx // sw >= ow:
                            continue
                        count = sum(1 for c in range(c0, c1) if n0 <= c * plane + (ny // sh) * ow + nx // sw < n1)
                        if count:
                            upd += count
                            acc_words += -(-count * acc_bits // acc_word)
                            rows.append(base + ((ci * kh + i) * kw + k) * rw)
                cycles, used = (1 if rows else 0), set()
                for r in rows:
                    for word in range(rw):
                        bank = (r + word) % banks
                        if bank in used:
                            cycles, used = cycles + 1, set()
                        used.add(bank)
                j = (ci * h + y) * w + x
                assert out[0][j] == max(cycles, -(-upd // lanes))
                assert (out[1][j], out[2][j], out[3][j]) == (len(rows) * rw, upd, acc_words)


def test_pack_plus_matches_numpy_packbits():
    """The packing kernel puts code i of the middle axis at bit i % 64 of word i // 64
    (little-endian packbits), for linear (B = 1) and conv-like (B = kH * kW) codes."""
    rng = np.random.default_rng(3)
    for n in (1, 63, 64, 65, 200):
        for n_b in (1, 9):
            codes = rng.choice(np.array([-1, 1], np.int16), size=(5, n, n_b))
            bits = np.zeros((5, n_b, -(-n // 64) * 64), bool)
            bits[:, :, :n] = codes.transpose(0, 2, 1) > 0
            expected = np.packbits(bits, axis=-1, bitorder="little").view("<u8")
            assert np.array_equal(synapse.pack_plus(codes), expected)
