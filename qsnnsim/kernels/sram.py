"""Integrate-phase SRAM timing: what one packet costs at one (slice, projection) pair.

Implements docs/timing-model.md §4 for every possible source neuron at once, so the engine
can look a packet's cost up by neuron index. For each source neuron the kernels fill:
``cycles`` = max(read_cycles, ceil(updates / synapse_lanes)), ``words`` = weight SRAM words
read, ``updates`` = accumulator read-modify-writes (synaptic operations), ``acc_words`` =
accumulator SRAM words those updates touch: the accumulators a synapse row updates (the
slice's channels at one output position, a linear row's targets) are adjacent in the
accumulator SRAM, so a row touches ceil(updates_in_row * acc_bits / word_bits) words.

Weight rows sit at ``base + row * row_words`` (word addresses); a word at address ``a`` is
in bank ``a % banks``. Words are issued in order, as many per cycle as have distinct banks:
the bank conflicts of a real banked SRAM, serialised.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit
from qsnnsim.kernels.window import window_output


@jit
def _ceil_div(a, b):
    return -((-a) // b)


@jit
def _scan_banks(first_addresses, n_rows, row_words, banks, stamp, cycle_id):
    """Cycles to issue the words of ``n_rows`` rows in order, one word per bank per cycle.

    ``stamp`` (int64, banks) remembers, per bank, the id of the cycle that last used it;
    ``cycle_id`` is a counter unique to this call's cycles (returned advanced).
    """
    if n_rows == 0:
        return 0, cycle_id
    cycle_id += 1
    cycles = 1
    for r in range(n_rows):
        for w in range(row_words):
            bank = (first_addresses[r] + w) % banks
            if stamp[bank] == cycle_id:
                cycle_id += 1
                cycles += 1
            stamp[bank] = cycle_id
    return cycles, cycle_id


@jit
def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


@jit
def conv_pair_costs(c_in, in_h, in_w, out_h, out_w, k_h, k_w, s_h, s_w, p_h, p_w,
                    c_start, c_stop, n_start, n_stop, base, row_words, banks, lanes, acc_bits, acc_word_bits,
                    cycles, words, updates, acc_words):
    """conv2d (slice, projection) pair: fills the (c_in * in_h * in_w,) arrays per source neuron.

    Which rows a spike reads depends on its position only, and only through the set of kernel
    offsets whose output lands in the slice (a handful of sets: interior, edges, corners);
    where those rows sit in the banks repeats every ``banks / gcd(kH * kW * row_words, banks)``
    source channels. So the bank scan runs once per (channel of one period, offset set) and
    is looked up for the rest.
    """
    plane = out_h * out_w
    n_offsets = k_h * k_w
    stamp = np.zeros(banks, dtype=np.int64)
    cycle_id = 0
    rows = np.zeros(n_offsets, dtype=np.int64)
    channel_stride = n_offsets * row_words
    period = banks // _gcd(channel_stride % banks if channel_stride % banks else banks, banks)
    if period > c_in:
        period = c_in
    in_plane = in_h * in_w
    # Per position: the bit set of kernel offsets (kh * kW + kw) it reads, its updates and
    # accumulator words; the offset sets are numbered in order of first appearance.
    pos_set = np.zeros(in_plane, dtype=np.int64)
    pos_rows = np.zeros(in_plane, dtype=np.int64)
    pos_upd = np.zeros(in_plane, dtype=np.int64)
    pos_acc = np.zeros(in_plane, dtype=np.int64)
    set_masks = np.zeros((in_plane, n_offsets), dtype=np.bool_)
    n_sets = 0
    mask = np.zeros(n_offsets, dtype=np.bool_)
    for y in range(in_h):
        for x in range(in_w):
            at = y * in_w + x
            for o in range(n_offsets):
                mask[o] = False
            n_rows = 0
            for kh in range(k_h):
                oy = window_output(y, p_h, kh, s_h, out_h)
                if oy < 0:
                    continue
                for kw in range(k_w):
                    ox = window_output(x, p_w, kw, s_w, out_w)
                    if ox < 0:
                        continue
                    pos = oy * out_w + ox
                    c_lo = max(c_start, _ceil_div(n_start - pos, plane))
                    c_hi = min(c_stop, _ceil_div(n_stop - pos, plane))
                    if c_hi <= c_lo:
                        continue
                    pos_upd[at] += c_hi - c_lo
                    pos_acc[at] += _ceil_div((c_hi - c_lo) * acc_bits, acc_word_bits)
                    mask[kh * k_w + kw] = True
                    n_rows += 1
            pos_rows[at] = n_rows
            found = -1
            for k in range(n_sets):
                same = True
                for o in range(n_offsets):
                    if set_masks[k, o] != mask[o]:
                        same = False
                        break
                if same:
                    found = k
                    break
            if found < 0:
                found = n_sets
                for o in range(n_offsets):
                    set_masks[found, o] = mask[o]
                n_sets += 1
            pos_set[at] = found
    set_cycles = np.zeros(n_sets, dtype=np.int64)
    for ci in range(c_in):
        first = ci * in_plane
        if ci >= period:
            # element by element: a slice assignment would compile numba's shape-mismatch
            # error path (seconds of compile time on the first run, for nothing)
            src = (ci % period) * in_plane
            for at in range(in_plane):
                cycles[first + at] = cycles[src + at]
        else:
            for k in range(n_sets):
                n_rows = 0
                for o in range(n_offsets):
                    if set_masks[k, o]:
                        rows[n_rows] = base + ci * channel_stride + o * row_words
                        n_rows += 1
                set_cycles[k], cycle_id = _scan_banks(rows, n_rows, row_words, banks, stamp, cycle_id)
            for at in range(in_plane):
                cycles[first + at] = max(set_cycles[pos_set[at]], _ceil_div(pos_upd[at], lanes))
        for at in range(in_plane):
            words[first + at] = pos_rows[at] * row_words
            updates[first + at] = pos_upd[at]
            acc_words[first + at] = pos_acc[at]


def linear_pair_costs(n_src, n_targets, row_words, banks, lanes, acc_bits, acc_word_bits,
                      cycles, words, updates, acc_words):
    """linear pair: one row per source neuron (per source channel with a global sum-pool).

    A row's words have consecutive addresses, so they fill every bank once per cycle:
    ``ceil(row_words / banks)`` read cycles, what the bank scan of a single row gives. Every
    row has the same length, so every packet costs the same.
    """
    cycles[:n_src] = max(_ceil_div(row_words, banks), _ceil_div(n_targets, lanes))
    words[:n_src] = row_words
    updates[:n_src] = n_targets
    acc_words[:n_src] = _ceil_div(n_targets * acc_bits, acc_word_bits)


def identity_pair_costs(n_src, n_start, n_stop, row_words, banks, lanes, cycles, words, updates, acc_words):
    """identity pair: source neuron n reaches target neuron n if it lies in the slice: one row
    of consecutive words (read as in :func:`linear_pair_costs`), one update."""
    for array, inside in ((cycles, max(_ceil_div(row_words, banks), _ceil_div(1, lanes))),
                          (words, row_words), (updates, 1), (acc_words, 1)):
        array[:n_start] = 0
        array[n_start:n_stop] = inside
        array[n_stop:n_src] = 0


@jit
def sumpool_pair_costs(c_all, in_h, in_w, out_h, out_w, k_h, k_w, s_h, s_w, p_h, p_w,
                       c_start, c_stop, n_start, n_stop, lanes, cycles, words, updates, acc_words):
    """sumpool2d pair: no weight rows; one update per window (in the slice) holding the source."""
    plane = out_h * out_w
    for ci in range(c_all):
        for y in range(in_h):
            for x in range(in_w):
                j = (ci * in_h + y) * in_w + x
                n_upd = 0
                if c_start <= ci < c_stop:
                    for kh in range(k_h):
                        oy = window_output(y, p_h, kh, s_h, out_h)
                        if oy < 0:
                            continue
                        for kw in range(k_w):
                            ox = window_output(x, p_w, kw, s_w, out_w)
                            if ox < 0:
                                continue
                            n = ci * plane + oy * out_w + ox
                            if n_start <= n < n_stop:
                                n_upd += 1
                cycles[j] = _ceil_div(n_upd, lanes)
                words[j] = 0
                updates[j] = n_upd
                acc_words[j] = n_upd  # one window per update: different positions, different words
