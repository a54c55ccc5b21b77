"""Synapse kernels: the exact accumulator sums of DESIGN §2 for one slice and one projection.

Each kernel returns (or fills) the exact, unclamped int64 sum ``sum_j x_j * w[j, n]`` for
the target neurons of a slice; clamping to ``acc_bits`` happens in :mod:`lif` at fire time,
once per neuron, so the result never depends on the order packets arrived in (DESIGN §2).

Two forms, chosen per projection by :mod:`qsnnsim.engine.build`:
- popcount: 1-bit weights stay bit-packed (bit 1 = +1, bit 0 = -1) and binary spikes are
  packed 64 source channels to a uint64 word; for a target neuron
  ``acc = 2 * popcount(spikes & w_plus) - popcount(spikes)``. WS-DR drives firing rates
  toward 0.5, so this dense form is the fast one for hidden layers.
- event-driven: a loop over non-zero source values (analog inputs, multi-bit weights,
  identity, sum-pooling), exact in int64.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit, popcount64


@jit
def pack_spike_planes(spikes, pad_h, pad_w):
    """Pack a (C, H, W) 0/1 array into (H + 2 pad_h, W + 2 pad_w, ceil(C / 64)) uint64 words.

    Bit ``c % 64`` of word ``c // 64`` at padded position (y + pad_h, x + pad_w) is
    spike (c, y, x); the zero border is conv2d's zero padding.
    """
    c_in, h, w = spikes.shape
    n_words = (c_in + 63) // 64
    out = np.zeros((h + 2 * pad_h, w + 2 * pad_w, n_words), dtype=np.uint64)
    flat = spikes.reshape(c_in, h * w)
    plane_words = np.empty(h * w, dtype=np.uint64)
    for word in range(n_words):
        # A word's 64 channels are OR-ed over whole planes (contiguous, branch-free: a spike
        # is a coin flip under WS-DR), then the plane is scattered once into the padded grid.
        plane_words[:] = 0
        for c in range(word * 64, min(c_in, word * 64 + 64)):
            shift = np.uint64(c - word * 64)
            row = flat[c]
            for i in range(h * w):
                plane_words[i] |= np.uint64(row[i] != 0) << shift
        for y in range(h):
            for x in range(w):
                out[y + pad_h, x + pad_w, word] = plane_words[y * w + x]
    return out


@jit
def accumulate_conv_popcount(packed, w_plus, c_start, c_stop, stride_h, stride_w, out_h, out_w, acc):
    """Binary conv2d by popcount for output channels [c_start, c_stop).

    Parameters
    ----------
    packed : uint64 (Hp, Wp, n_words) from :func:`pack_spike_planes`.
    w_plus : uint64 (C_out, kH, kW, n_words), bit set where the 1-bit code is +1.
    acc : int64 (c_stop - c_start, out_h, out_w), overwritten with the exact sums.

    Each position's receptive field is first copied into a contiguous patch so the inner
    AND-popcount loop runs over contiguous words (it vectorises: VPOPCNTQ where the CPU has it).
    Single-threaded on purpose: measured as fast as a 2-thread prange on an idle machine and
    far slower on a busy one.
    """
    n_out, k_h, k_w, n_words = w_plus.shape
    length = k_h * k_w * n_words
    w_flat = w_plus.reshape(n_out, length)
    for oy in range(out_h):
        patch = np.empty(length, dtype=np.uint64)
        y0 = oy * stride_h
        for ox in range(out_w):
            x0 = ox * stride_w
            i = 0
            n_active = 0
            for kh in range(k_h):
                for kw in range(k_w):
                    for word in range(n_words):
                        v = packed[y0 + kh, x0 + kw, word]
                        patch[i] = v
                        n_active += popcount64(v)
                        i += 1
            for co in range(c_start, c_stop):
                plus = 0
                for i in range(length):
                    plus += popcount64(patch[i] & w_flat[co, i])
                acc[co - c_start, oy, ox] = 2 * np.int64(plus) - np.int64(n_active)


@jit
def pack_spike_vector(spikes):
    """Pack a flat 0/1 vector into ceil(n / 64) uint64 words (bit i % 64 of word i // 64)."""
    n = spikes.shape[0]
    out = np.zeros((n + 63) // 64, dtype=np.uint64)
    for i in range(n):
        if spikes[i] != 0:
            out[i // 64] |= np.uint64(1) << np.uint64(i % 64)
    return out


@jit
def pack_plus(codes):
    """Pack {-1, +1} weight codes (A, n, B) along their middle axis: (A, B, ceil(n / 64)) uint64.

    Bit ``i % 64`` of word ``i // 64`` of ``out[a, b]`` is set where ``codes[a, i, b]`` is +1:
    the layout of :func:`pack_spike_planes` and :func:`pack_spike_vector`, so a popcount of
    their AND counts the +1 weights a spike meets. A conv2d's (C_out, C_in, kH, kW) codes are
    (C_out, C_in, kH * kW) here and pack to (C_out, kH * kW, words) without a transposed copy.
    """
    n_a, n, n_b = codes.shape
    n_words = (n + 63) // 64
    out = np.empty((n_a, n_b, n_words), dtype=np.uint64)
    for a in range(n_a):
        for b in range(n_b):
            for w in range(n_words):
                # a word is built in a register (the strided reads stay in one (n, B) block, in L1)
                word = np.uint64(0)
                for i in range(min(64, n - w * 64)):
                    word |= np.uint64(codes[a, w * 64 + i, b] > 0) << np.uint64(i)
                out[a, b, w] = word
    return out


@jit
def accumulate_linear_popcount(packed, w_plus, n_start, n_stop, acc):
    """Binary linear by popcount for target neurons [n_start, n_stop); acc int64 (n_stop - n_start,)."""
    n_words = packed.shape[0]
    n_active = 0
    for word in range(n_words):
        n_active += popcount64(packed[word])
    for o in range(n_start, n_stop):
        plus = 0
        for word in range(n_words):
            plus += popcount64(packed[word] & w_plus[o, word])
        acc[o - n_start] = 2 * np.int64(plus) - np.int64(n_active)


@jit
def accumulate_conv_events(values, weights, c_start, c_stop, stride_h, stride_w, pad_h, pad_w, acc):
    """conv2d over analog or multi-bit sources: the exact sums for output channels [c_start, c_stop).

    values int64 (C_in, H, W); weights int64 (C_in, kH, kW, C_out), output channel last so
    the innermost loop runs over contiguous weights and a contiguous row of sums (it
    vectorises); acc int64 (c_stop - c_start, out_h, out_w) is overwritten. Zero values are
    skipped, as the hardware only receives the non-zero ones.
    """
    c_in, h, w = values.shape
    k_h, k_w = weights.shape[1], weights.shape[2]
    n_c, out_h, out_w = acc.shape
    sums = np.empty(n_c, dtype=np.int64)
    for oy in range(out_h):
        for ox in range(out_w):
            sums[:] = 0
            for ci in range(c_in):
                for kh in range(k_h):
                    y = oy * stride_h - pad_h + kh
                    if y < 0 or y >= h:
                        continue
                    for kw in range(k_w):
                        x = ox * stride_w - pad_w + kw
                        if x < 0 or x >= w:
                            continue
                        v = values[ci, y, x]
                        if v == 0:
                            continue
                        row = weights[ci, kh, kw]
                        for co in range(n_c):
                            sums[co] += v * row[c_start + co]
            for co in range(n_c):
                acc[co, oy, ox] = sums[co]


@jit
def accumulate_linear_events(values, weights, n_start, n_stop, acc):
    """linear, event-driven: values int64 (n_in,), weights int64 (n_out, n_in), acc (n_stop - n_start,)."""
    acc[:] = 0
    for j in range(values.shape[0]):
        v = values[j]
        if v == 0:
            continue
        for o in range(n_start, n_stop):
            acc[o - n_start] += v * weights[o, j]


@jit
def accumulate_sumpool(values, k_h, k_w, stride_h, stride_w, pad_h, pad_w, c_start, c_stop, acc):
    """sumpool2d: every weight +1; values int64 (C, H, W), acc int64 (c_stop - c_start, out_h, out_w)."""
    c_all, h, w = values.shape
    n_c, out_h, out_w = acc.shape
    for c in range(c_start, c_stop):
        for oy in range(out_h):
            for ox in range(out_w):
                total = 0
                for kh in range(k_h):
                    y = oy * stride_h - pad_h + kh
                    if y < 0 or y >= h:
                        continue
                    for kw in range(k_w):
                        x = ox * stride_w - pad_w + kw
                        if 0 <= x < w:
                            total += values[c, y, x]
                acc[c - c_start, oy, ox] = total


@jit
def accumulate_identity(values, codes, plane, n_start, n_stop, acc):
    """identity: target neuron n gets codes[n // plane] * value[n]; acc int64 (n_stop - n_start,).

    ``values`` may be the uint8 spikes themselves (no widened copy); the channel is walked,
    not divided for.
    """
    c = n_start // plane
    pos = n_start - c * plane
    for n in range(n_start, n_stop):
        acc[n - n_start] = codes[c] * np.int64(values[n])
        pos += 1
        if pos == plane:
            pos = 0
            c += 1
