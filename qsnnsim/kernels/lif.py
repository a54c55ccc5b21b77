"""Fire kernel: the soma's integer update of DESIGN §2 for one slice and one timestep.

Names (as in :mod:`qsnnsim.golden`, whose docstring holds the equations): ``acc`` exact
synaptic sums per incoming projection, ``m`` membrane, ``h`` the pre-reset potential,
``theta`` threshold, ``q`` the membrane clamp 2^(b-1) - 1.

Widths: every value is widened to int64 before it is multiplied or added. The format
bounds acc_bits <= 32 and |mult| < 2^24, so ``acc * mult`` < 2^55 and the sum over at most
16 projections plus membrane and bias stays inside int64. A lif membrane is then clamped to
its b bits because that is all the membrane SRAM word holds; a readout keeps the full
64-bit register and wraps like it (numba int64 arithmetic wraps).
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit

ROUND_FLOOR = 0
ROUND_TOWARD_ZERO = 1
_CHUNK = 256  # neurons per pass of the fire kernel's inner loops: 2 KiB of int64 sums, in L1
_MIN_PLANE_CHUNKED = 8  # below, the per-channel loop overhead outweighs vectorising (measured)


@jit
def rshift(x, shift, rounding):
    """Arithmetic right shift: floor, or toward zero (Loihi-style C division)."""
    if rounding == ROUND_TOWARD_ZERO:
        # Add 2^shift - 1 to a negative value before the floor shift: rounds toward zero
        # without negating, which would overflow at -2^63.
        return (x + ((x >> 63) & ((1 << shift) - 1))) >> shift
    return x >> shift


@jit
def scaled_input(a, a_lo, a_hi, scale, scale_shift, rounding):
    """One projection's contribution to a neuron: (rshift(clamp(a) * scale, scale_shift), clamped 0/1).

    One clamp of the exact sum: the hardware accumulator saturates, and the result must not
    depend on the order spikes arrived in.
    """
    x = min(max(a, a_lo), a_hi)
    return rshift(x * scale, scale_shift, rounding), np.int64(a != x)


@jit
def membrane_update(m, current, bias, theta, decay_mult, decay_shift, rounding, fire_ge, soft_reset, q, is_readout):
    """One neuron's timestep: (new membrane, fired 0/1); ``m`` may be a narrow int, widened first."""
    h = rshift(np.int64(m) * decay_mult, decay_shift, rounding) + current + bias
    if is_readout:
        return h, np.int64(0)
    # Branch-free compare and reset: under WS-DR a neuron fires about half the time, a coin
    # flip no branch predictor can learn. On integers h >= theta is h > theta - 1 (theta is a
    # 32-bit code: no wrap); a hard reset subtracts h itself.
    fired = np.int64(h > (theta - 1 if fire_ge else theta))
    h = h - fired * (theta if soft_reset else h)
    # The membrane SRAM word holds b bits: saturate to [-q, q].
    return min(max(h, -q), q), fired


@jit
def fire_neurons(acc, acc_lo, acc_hi, mult, shift, m, threshold, bias, plane, first, decay_mult, decay_shift,
                 rounding, fire_ge, soft_reset, q, is_readout, spikes, saturations, spike_index, index_base):
    """Update a slice's neurons for one timestep, in place.

    Parameters
    ----------
    acc : int64 (n_proj, n) exact synaptic sums per incoming projection.
    acc_lo, acc_hi : int64 (n_proj,) the signed ``acc_bits`` range of each projection.
    mult, shift : int64 (n_proj, n_channels) each projection's scale for the slice's channels.
    m : (n,) membranes (updated): int64 for a readout; a lif's may be narrower, since it is
        clamped to [-q, q] before it is stored (the kernel computes in int64 either way).
    threshold, bias : int64 (n_channels,) for the slice's channels.
    plane, first : neuron i of the slice is in slice channel ``(first + i) // plane`` (``first``
        is the slice's offset inside its first channel's plane).
    decay_mult, decay_shift, rounding, q : ints of the population.
    fire_ge, soft_reset, is_readout : bool flags of the population.
    spikes : uint8 (n,) output, 1 where the neuron fired.
    saturations : int64 (n_proj,) incremented by the number of clamped sums.
    spike_index : int64 (n,) output: its first ``n_fired`` entries are ``index_base + i`` for
        each neuron i that fired, in order (the spike train's packets).

    Returns ``n_fired``.
    """
    n_proj, n = acc.shape
    if plane < _MIN_PLANE_CHUNKED:
        # Small planes (a linear layer's are 1 neuron): neuron by neuron, walking the channel
        # (a division per neuron would cost more than the update).
        channel = np.empty(n, np.int64)
        current = slice_currents(acc, acc_lo, acc_hi, mult, shift, plane, first, rounding, saturations, channel)
        for i in range(n):
            c = channel[i]
            m[i], spikes[i] = membrane_update(m[i], current[i], bias[c], threshold[c], decay_mult, decay_shift,
                                              rounding, fire_ge, soft_reset, q, is_readout)
    else:
        # Channel by channel (a channel's scale, bias and threshold are then constants), a
        # chunk of neurons at a time: the scaled sums of every projection are added into a
        # small buffer that stays in L1, then the membranes are updated. Every inner loop is
        # straight-line integer code over contiguous arrays, which LLVM vectorises (5x faster
        # than the neuron loop on wide planes; slower on planes of a few neurons).
        buffer = np.empty(_CHUNK, np.int64)
        lo = 0
        c = 0
        while lo < n:
            channel_stop = min(n, lo + plane - (first if c == 0 else 0))
            b = bias[c]
            theta = threshold[c]
            for start in range(lo, channel_stop, _CHUNK):
                stop = min(channel_stop, start + _CHUNK)
                cur = buffer[:stop - start]
                cur[:] = 0
                for p in range(n_proj):
                    a_lo = acc_lo[p]
                    a_hi = acc_hi[p]
                    scale = mult[p, c]
                    scale_shift = shift[p, c]
                    row = acc[p, start:stop]
                    n_clamped = 0
                    for i in range(stop - start):
                        value, clamped = scaled_input(row[i], a_lo, a_hi, scale, scale_shift, rounding)
                        cur[i] += value
                        n_clamped += clamped
                    saturations[p] += n_clamped
                mem = m[start:stop]
                out = spikes[start:stop]
                for i in range(stop - start):
                    mem[i], out[i] = membrane_update(mem[i], cur[i], b, theta, decay_mult, decay_shift, rounding,
                                                     fire_ge, soft_reset, q, is_readout)
            lo = channel_stop
            c += 1
    n_fired = np.int64(0)  # int64 + uint8 stays int64 (also without the JIT, under NumPy 2 rules)
    if not is_readout:
        for i in range(n):
            # Written unconditionally, advanced by the flag: stays branch-free (a second pass
            # over the spike bytes, cheaper than a branch per neuron).
            spike_index[n_fired] = index_base + i
            n_fired += spikes[i]
    return n_fired


@jit
def slice_currents(acc, acc_lo, acc_hi, mult, shift, plane, first, rounding, saturations, channel):
    """Every neuron's summed scaled synaptic input (DESIGN §2 ``I[n]``) for one slice: int64 (n,).

    Neuron i of the slice is in slice channel ``(first + i) // plane``, which is written to
    ``channel[i]`` (int64 (n,)) so a dialect's kernel reads its parameters without walking the
    planes again. ``saturations`` (n_proj,) is incremented by the number of clamped sums. The
    fire kernel below uses it for small planes; the other dialects (qsnnsim/neurons/) take the
    ``current`` and do their own update.
    """
    n_proj, n = acc.shape
    current = np.zeros(n, np.int64)
    c = 0
    pos = first
    for i in range(n):
        if pos == plane:
            c += 1
            pos = 0
        pos += 1
        channel[i] = c
        for p in range(n_proj):
            value, clamped = scaled_input(acc[p, i], acc_lo[p], acc_hi[p], mult[p, c], shift[p, c], rounding)
            current[i] += value
            saturations[p] += clamped
    return current
