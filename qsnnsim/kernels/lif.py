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


@jit
def rshift(x, shift, rounding):
    """Arithmetic right shift: floor, or toward zero (Loihi-style C division)."""
    if rounding == ROUND_TOWARD_ZERO:
        # Add 2^shift - 1 to a negative value before the floor shift: rounds toward zero
        # without negating, which would overflow at -2^63.
        return (x + ((x >> 63) & ((1 << shift) - 1))) >> shift
    return x >> shift


@jit
def fire_neurons(acc, acc_lo, acc_hi, mult, shift, m, threshold, bias, plane, first, decay_mult, decay_shift,
                 rounding, fire_ge, soft_reset, q, is_readout, spikes, saturations, spike_index, index_base):
    """Update a slice's neurons for one timestep, in place.

    Parameters
    ----------
    acc : int64 (n_proj, n) exact synaptic sums per incoming projection.
    acc_lo, acc_hi : int64 (n_proj,) the signed ``acc_bits`` range of each projection.
    mult, shift : int64 (n_proj, n_channels) each projection's scale for the slice's channels.
    m : int64 (n,) membranes (updated).
    threshold, bias : int64 (n_channels,) for the slice's channels.
    plane, first : neuron i of the slice is in slice channel ``(first + i) // plane`` (``first``
        is the slice's offset inside its first channel's plane).
    decay_mult, decay_shift, rounding, q : ints of the population.
    fire_ge, soft_reset, is_readout : bool flags of the population.
    spikes : uint8 (n,) output, 1 where the neuron fired.
    saturations : int64 (n_proj,) incremented by the number of clamped sums.
    spike_index : int64 (n,) output: its first ``n_fired`` entries are ``index_base + i`` for
        each neuron i that fired, in order (the spike train's packets, no second pass).

    Returns ``n_fired``.
    """
    n_proj, n = acc.shape
    # Walk channels and positions together: a division per neuron would cost more than the update.
    c = 0
    pos = first
    n_fired = 0
    for i in range(n):
        if pos == plane:
            c += 1
            pos = 0
        pos += 1
        current = 0
        for p in range(n_proj):
            a = acc[p, i]
            # One clamp of the exact sum: the hardware accumulator saturates, and the
            # result must not depend on the order spikes arrived in.
            if a < acc_lo[p]:
                a = acc_lo[p]
                saturations[p] += 1
            elif a > acc_hi[p]:
                a = acc_hi[p]
                saturations[p] += 1
            current += rshift(a * mult[p, c], shift[p, c], rounding)
        h = rshift(m[i] * decay_mult, decay_shift, rounding) + current + bias[c]
        if is_readout:
            m[i] = h
            spikes[i] = 0
            continue
        theta = threshold[c]
        # Branch-free compare and reset: under WS-DR a neuron fires about half the time, a coin
        # flip no branch predictor can learn. On integers h >= theta is h > theta - 1 (theta is
        # a 32-bit code, so theta - 1 cannot wrap); a hard reset subtracts h itself.
        fired = np.int64(h > (theta - 1 if fire_ge else theta))
        h = h - fired * (theta if soft_reset else h)
        # The membrane SRAM word holds b bits: saturate to [-q, q].
        h = min(max(h, -q), q)
        m[i] = h
        spikes[i] = fired
        # Written unconditionally, advanced by the flag: stays branch-free.
        spike_index[n_fired] = index_base + i
        n_fired += fired
    return n_fired
