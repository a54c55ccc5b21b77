"""A deliberately naive model of DESIGN.md §2: plain Python ints, one target neuron at a time.

This is the test suite's second, independent reading of the integer semantics (STUMPY's
``tests/naive.py`` plays the same role). It shares no code with ``qsnnsim/golden.py``: no
im2col, no matrix products, no numpy arithmetic. Every synapse is visited by an explicit
loop over target neurons and the source neurons or window positions that reach them, and
zero padding is an explicit bounds check. It is slow (fine for graphs of tens of neurons).

Semantics, per timestep t, in topological order, for target neuron n of channel c:

- ``acc_p[n]`` is the exact sum of ``x_j * w_p[j, n]`` over the sources j that reach n,
  clamped once to the signed ``acc_bits`` range; a clamp is one saturation (so at most
  one per neuron per projection per timestep).
- ``I[n] = sum_p rshift(acc_p[n] * mult_p[c], shift_p[c])`` with the target's rounding.
- ``h = rshift(m * decay_mult, decay_shift) + I + bias[c]``; a lif neuron spikes on
  ``h > theta`` (``gt``) or ``h >= theta`` (``ge``), resets to 0 (hard) or subtracts
  theta (soft), and is clamped to [-Q, Q], Q = 2^(b-1) - 1.
- A readout has no fire, reset or clamp; its register is 64 bits wide and wraps modulo
  2^64 to a signed value wherever a product or sum leaves that range, as numpy's int64
  arithmetic does (the product ``m * decay_mult`` wraps before it is shifted).
- ``toward_zero`` rounding is the mathematical one, ``-((-x) >> s)`` on unbounded ints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TWO_64 = 1 << 64
_TWO_63 = 1 << 63


@dataclass
class NaiveResult:
    """Same fields as ``qsnnsim.golden.GoldenResult``, computed by :func:`run_naive`."""

    spikes: dict
    membranes: dict
    readout: np.ndarray
    predicted: int
    saturations: dict


def wrap_int64(x: int) -> int:
    """Two's-complement wrap of an unbounded int to the signed 64-bit range."""
    return (x + _TWO_63) % _TWO_64 - _TWO_63


def shift_right(x: int, shift: int, rounding: str) -> int:
    """x / 2^shift rounded down (``floor``) or toward zero (``toward_zero``)."""
    if rounding == "floor":
        return x >> shift  # Python's >> on ints is floor division by 2^shift
    if x < 0:
        return -((-x) >> shift)
    return x >> shift


def _dims(shape) -> tuple[int, int, int]:
    """(C, H, W) of a population; an (N,) population is treated as N channels of 1x1."""
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    return int(shape[0]), 1, 1


def _accumulate_one(proj, src_shape, tgt_shape, x: list[int], n: int) -> int:
    """Exact weighted sum reaching target neuron ``n`` (flat index) from source values ``x``."""
    if proj.kind == "identity":
        _, th, tw = _dims(tgt_shape)
        c = n // (th * tw)
        return int(proj.weights[c]) * x[n]
    if proj.kind == "linear":
        total = 0
        if proj.global_sum_pool:
            sc, sh, sw = _dims(src_shape)
            for ci in range(sc):
                for i in range(sh * sw):
                    total += int(proj.weights[n, ci]) * x[ci * sh * sw + i]
        else:
            for j in range(len(x)):
                total += int(proj.weights[n, j]) * x[j]
        return total
    # conv2d and sumpool2d: a window over the zero-padded (C, H, W) source.
    sc, sh, sw = _dims(src_shape)
    _tc, th, tw = _dims(tgt_shape)
    co, rem = divmod(n, th * tw)
    oy, ox = divmod(rem, tw)
    kh, kw = proj.kernel
    total = 0
    in_channels = range(sc) if proj.kind == "conv2d" else [co]
    for ci in in_channels:
        for ky in range(kh):
            for kx in range(kw):
                iy = oy * proj.stride[0] - proj.padding[0] + ky
                ix = ox * proj.stride[1] - proj.padding[1] + kx
                if not (0 <= iy < sh and 0 <= ix < sw):
                    continue  # zero padding contributes nothing
                weight = int(proj.weights[co, ci, ky, kx]) if proj.kind == "conv2d" else 1
                total += weight * x[ci * sh * sw + iy * sw + ix]
    return total


def run_naive(workload, sample: int) -> NaiveResult:
    """Run sample ``sample`` of ``workload`` one neuron at a time.

    Returns spikes (bool (T, *shape) per lif population, and the input's for a ``spikes``
    input), final membranes (int64, shape) of lif and readout populations, the readout
    (int64 (n_out,)), the predicted class (first maximum) and saturations (int64 (T,) per
    projection).
    """
    T = int(workload.timesteps)
    pops = list(workload.populations)
    by_name = {p.name: p for p in pops}
    in_pop = next(p for p in pops if p.kind == "input")
    raw = workload.samples[sample].tolist()

    def input_at(t: int) -> list[int]:
        frame = raw if workload.input_kind == "analog" else raw[t]
        return [int(v) for v in np.asarray(frame).reshape(-1).tolist()]

    membranes = {p.name: [0] * p.n_neurons for p in pops if p.kind != "input"}
    spikes = {p.name: [] for p in pops if p.kind == "lif"}
    saturations = {proj.name: [0] * T for proj in workload.projections}
    for t in range(T):
        values = {in_pop.name: input_at(t)}
        for pop in pops:
            if pop.kind == "input":
                continue
            n_neurons = pop.n_neurons
            plane = n_neurons // int(pop.shape[0])
            current = [0] * n_neurons
            for proj in workload.projections:
                if proj.target != pop.name:
                    continue
                src = by_name[proj.source]
                lo = -(1 << (proj.acc_bits - 1))
                hi = (1 << (proj.acc_bits - 1)) - 1
                for n in range(n_neurons):
                    acc = _accumulate_one(proj, src.shape, pop.shape, values[proj.source], n)
                    if acc < lo:
                        acc = lo
                        saturations[proj.name][t] += 1
                    elif acc > hi:
                        acc = hi
                        saturations[proj.name][t] += 1
                    c = n // plane
                    current[n] += shift_right(acc * int(proj.mult[c]), int(proj.shift[c]), pop.rounding)
            m = membranes[pop.name]
            out = [0] * n_neurons
            for n in range(n_neurons):
                c = n // plane
                if pop.kind == "readout":
                    leaked = shift_right(wrap_int64(m[n] * pop.decay_mult), pop.decay_shift, pop.rounding)
                    m[n] = wrap_int64(leaked + current[n] + int(pop.bias[c]))
                    continue
                h = shift_right(m[n] * pop.decay_mult, pop.decay_shift, pop.rounding) + current[n] + int(pop.bias[c])
                theta = int(pop.threshold[c])
                fired = h > theta if pop.fire_cmp == "gt" else h >= theta
                if fired:
                    h = 0 if pop.reset == "hard" else h - theta
                q = (1 << (pop.membrane_bits - 1)) - 1
                m[n] = max(-q, min(q, h))
                out[n] = 1 if fired else 0
            if pop.kind == "lif":
                spikes[pop.name].append(out)
                values[pop.name] = out
    spikes_np = {
        name: np.array(frames, dtype=bool).reshape((T,) + tuple(by_name[name].shape)) for name, frames in spikes.items()
    }
    if workload.input_kind == "spikes":
        spikes_np[in_pop.name] = np.array([input_at(t) for t in range(T)], dtype=bool).reshape((T,) + in_pop.shape)
    membranes_np = {name: np.array(v, dtype=np.int64).reshape(by_name[name].shape) for name, v in membranes.items()}
    out_pop = next(p for p in pops if p.kind == "readout")
    readout_list = membranes[out_pop.name]
    predicted = 0
    for i, v in enumerate(readout_list):
        if v > readout_list[predicted]:  # strict: a tie keeps the lower index
            predicted = i
    return NaiveResult(
        spikes=spikes_np,
        membranes=membranes_np,
        readout=np.array(readout_list, dtype=np.int64),
        predicted=predicted,
        saturations={name: np.array(v, dtype=np.int64) for name, v in saturations.items()},
    )
