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


#: Output positions (whole output rows) a block of the binary conv kernel covers: its sums for
#: a pair of output channels and its active counts (48 KiB) stay in L2 while the taps stream
#: over them, and each output channel is written in long runs of rows. Measured at 56x56:
#: 256-position blocks (4 rows) made the layer 1.35x slower, its int64 sums written in short runs.
_CONV_BLOCK = 2048
#: Zero words after each stride-phase plane, so the position loop may round up to a multiple
#: of 8 (one AVX-512 vector) instead of finishing in scalar code.
_PHASE_TAIL = 8


@jit
def _stride_phase_planes(packed, stride_h, stride_w):
    """Packed spike planes split by stride phase, one flat plane per (phase, word): (planes, Wq).

    ``planes`` is uint64 (stride_h * stride_w * n_words, Hq * Wq + tail): plane
    ``(a * stride_w + b) * n_words + word`` holds ``packed[y * stride_h + a, x * stride_w + b, word]``
    at ``y * Wq + x`` (Hq, Wq = Hp, Wp divided by the strides, rounded up; zeros past the edge).
    A conv tap (kh, kw, word) then reads, for consecutive output positions ``oy * Wq + ox``, the
    consecutive words of one plane from offset ``(kh // stride_h) * Wq + kw // stride_w``: the
    inner loop is a contiguous stream at any stride. Stride 1 with one word is ``packed`` itself.
    """
    hp, wp, n_words = packed.shape
    if stride_h == 1 and stride_w == 1 and n_words == 1:
        return np.ascontiguousarray(packed).reshape(1, hp * wp), wp
    hq = (hp + stride_h - 1) // stride_h
    wq = (wp + stride_w - 1) // stride_w
    planes = np.zeros((stride_h * stride_w * n_words, hq * wq + _PHASE_TAIL), dtype=np.uint64)
    for y in range(hp):
        row = (y // stride_h) * wq
        phase_row = (y % stride_h) * stride_w
        for x in range(wp):
            first = (phase_row + x % stride_w) * n_words
            at = row + x // stride_w
            for word in range(n_words):
                planes[first + word, at] = packed[y, x, word]
    return planes, wq


@jit
def _pair_plus_counts(planes, tap_plane, tap_base, w_flat, co, second, n_taps, n, sums):
    """``sums[k, p]`` = popcount of spikes AND +1 weights over every tap, output channel ``co + k * second``.

    Position p of tap j is word ``tap_base[j] + p`` of plane ``tap_plane[j]``. Vectorised over
    positions (the weight word is a broadcast), four taps per pass: the running sums are
    loaded and stored once per four taps, and each spike word loaded serves both channels.
    Indices are uint64 so numba adds no negative-index wraparound, which would turn the
    contiguous loads into gathers.
    """
    co_b = co + second
    j = 0
    while j + 4 <= n_taps:
        q0 = tap_plane[j]
        q1 = tap_plane[j + 1]
        q2 = tap_plane[j + 2]
        q3 = tap_plane[j + 3]
        b0 = tap_base[j]
        b1 = tap_base[j + 1]
        b2 = tap_base[j + 2]
        b3 = tap_base[j + 3]
        w0, w1, w2, w3 = w_flat[co, j], w_flat[co, j + 1], w_flat[co, j + 2], w_flat[co, j + 3]
        v0, v1, v2, v3 = w_flat[co_b, j], w_flat[co_b, j + 1], w_flat[co_b, j + 2], w_flat[co_b, j + 3]
        if j == 0:
            for p in range(n):
                s0, s1, s2, s3 = planes[q0, b0 + p], planes[q1, b1 + p], planes[q2, b2 + p], planes[q3, b3 + p]
                sums[0, p] = (popcount64(s0 & w0) + popcount64(s1 & w1)) + (popcount64(s2 & w2) + popcount64(s3 & w3))
                sums[1, p] = (popcount64(s0 & v0) + popcount64(s1 & v1)) + (popcount64(s2 & v2) + popcount64(s3 & v3))
        else:
            for p in range(n):
                s0, s1, s2, s3 = planes[q0, b0 + p], planes[q1, b1 + p], planes[q2, b2 + p], planes[q3, b3 + p]
                sums[0, p] += (popcount64(s0 & w0) + popcount64(s1 & w1)) + (popcount64(s2 & w2) + popcount64(s3 & w3))
                sums[1, p] += (popcount64(s0 & v0) + popcount64(s1 & v1)) + (popcount64(s2 & v2) + popcount64(s3 & v3))
        j += 4
    if j == 0:
        sums[:, :n] = 0
    while j < n_taps:
        q0 = tap_plane[j]
        b0 = tap_base[j]
        w0 = w_flat[co, j]
        v0 = w_flat[co_b, j]
        for p in range(n):
            s0 = planes[q0, b0 + p]
            sums[0, p] += popcount64(s0 & w0)
            sums[1, p] += popcount64(s0 & v0)
        j += 1


@jit
def accumulate_conv_popcount(packed, w_plus, c_start, c_stop, stride_h, stride_w, out_h, out_w, acc):
    """Binary conv2d by popcount for output channels [c_start, c_stop).

    Parameters
    ----------
    packed : uint64 (Hp, Wp, n_words) from :func:`pack_spike_planes`.
    w_plus : uint64 (C_out, kH, kW, n_words), bit set where the 1-bit code is +1.
    acc : int64 (c_stop - c_start, out_h, out_w), overwritten with the exact sums.

    Vectorised over output positions, not over the receptive field: a 3x3 field of one word is
    only 9 words, too short a loop for a vector unit, while an output row is 7 to 56 positions.
    The spike words are first laid out by stride phase (:func:`_stride_phase_planes`), so each
    tap reads consecutive words for consecutive positions. Positions go in blocks of whole
    output rows, each row computed ``Wq - out_w`` positions too wide (the words past its end,
    discarded), output channels in pairs. Exact: integer popcounts summed in uint64, then
    ``2 * plus - active`` in int64, in any order. Single-threaded on purpose: measured as fast
    as a 2-thread prange on an idle machine and far slower on a busy one. ValueError if
    ``packed`` does not cover the conv (the loads would run past the planes).
    """
    n_out, k_h, k_w, n_words = w_plus.shape
    hp, wp = packed.shape[0], packed.shape[1]
    if packed.shape[2] != n_words or (out_h - 1) * stride_h + k_h > hp or (out_w - 1) * stride_w + k_w > wp:
        raise ValueError("accumulate_conv_popcount: the packed spike planes do not cover the conv")
    n_taps = k_h * k_w * n_words
    w_flat = w_plus.reshape(n_out, n_taps)
    planes, wq = _stride_phase_planes(packed, stride_h, stride_w)
    plane_len = planes.shape[1]
    tap_plane = np.empty(n_taps, dtype=np.int64)
    tap_shift = np.empty(n_taps, dtype=np.int64)
    max_shift = 0
    j = 0
    for kh in range(k_h):
        for kw in range(k_w):
            for word in range(n_words):
                tap_plane[j] = ((kh % stride_h) * stride_w + kw % stride_w) * n_words + word
                tap_shift[j] = (kh // stride_h) * wq + kw // stride_w
                max_shift = max(max_shift, tap_shift[j])
                j += 1
    rows = max(1, min(out_h, _CONV_BLOCK // wq))
    size = (rows * wq + 7) // 8 * 8
    tap_base = np.empty(n_taps, dtype=np.uint64)
    active = np.empty(size, dtype=np.uint64)
    sums = np.empty((2, size), dtype=np.uint64)
    for oy0 in range(0, out_h, rows):
        n_rows = min(rows, out_h - oy0)
        first = oy0 * wq
        # up to the block's last output position, rounded up to whole vectors where the planes allow
        n_pos = (n_rows - 1) * wq + out_w
        if first + (n_pos + 7) // 8 * 8 + max_shift <= plane_len:
            n_pos = (n_pos + 7) // 8 * 8
        n = np.uint64(n_pos)
        for j in range(n_taps):
            tap_base[j] = np.uint64(first + tap_shift[j])
        active[:] = 0
        for j in range(n_taps):
            q = tap_plane[j]
            b = tap_base[j]
            for p in range(n):
                active[p] += popcount64(planes[q, b + p])
        for co in range(c_start, c_stop, 2):
            second = 1 if co + 1 < c_stop else 0
            _pair_plus_counts(planes, tap_plane, tap_base, w_flat, co, second, n_taps, n, sums)
            for k in range(second + 1):
                for r in range(n_rows):
                    at = np.uint64(r * wq)
                    for x in range(np.uint64(out_w)):
                        acc[co + k - c_start, oy0 + r, x] = 2 * np.int64(sums[k, at + x]) - np.int64(active[at + x])


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
    """linear, event-driven: values int64 (n_in,), weights int64 (n_out, n_in), acc (n_stop - n_start,).

    The non-zero inputs are listed first; each output then sums them along its own weight
    row (contiguous), rather than each input scattering down a column (a stride of n_in).
    """
    n_in = values.shape[0]
    active = np.empty(n_in, np.int64)
    active_values = np.empty(n_in, np.int64)
    m = 0
    for j in range(n_in):
        if values[j] != 0:
            active[m] = j
            active_values[m] = values[j]
            m += 1
    for o in range(n_start, n_stop):
        row = weights[o]
        total = 0
        for q in range(m):
            total += active_values[q] * row[active[q]]
        acc[o - n_start] = total


@jit
def accumulate_sumpool(values, k_h, k_w, stride_h, stride_w, pad_h, pad_w, c_start, c_stop, acc):
    """sumpool2d: every weight +1; values (C, H, W), acc int64 (c_stop - c_start, out_h, out_w).

    ``values`` may be the uint8 spikes themselves (no widened copy of the whole source per
    slice). Per output row, the k_h source rows are first summed into a zero-padded int64 row
    (contiguous, vectorised), then each output takes its k_w columns of that row: the padding
    is the row's zero border, so no per-tap bounds test.
    """
    c_all, h, w = values.shape
    n_c, out_h, out_w = acc.shape
    width = max(pad_w + w, (out_w - 1) * stride_w + k_w)
    column_sums = np.zeros(width, dtype=np.int64)
    left = np.uint64(pad_w)
    step = np.uint64(stride_w)
    for c in range(c_start, c_stop):
        for oy in range(out_h):
            for x in range(np.uint64(w)):
                column_sums[left + x] = 0
            for kh in range(k_h):
                y = oy * stride_h - pad_h + kh
                if 0 <= y < h:
                    for x in range(np.uint64(w)):
                        column_sums[left + x] += np.int64(values[c, y, x])
            for ox in range(np.uint64(out_w)):
                acc[c - c_start, oy, ox] = column_sums[ox * step]
            for kw in range(1, k_w):
                offset = np.uint64(kw)
                for ox in range(np.uint64(out_w)):
                    acc[c - c_start, oy, ox] += column_sums[ox * step + offset]


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
