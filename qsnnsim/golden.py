r"""Golden model: the normative integer semantics of DESIGN.md §2, function level, in numpy.

No time, no architecture: given a workload and a sample, the spikes of every population
at every timestep, the final membranes and the readout. Every other implementation (the
engine's kernels, the cycle-stepped reference, the trainer's integer inference) is checked
against this module.

Names used below, per timestep t, target neuron n of channel c, projection p:

.. math::

    acc_p[n] &= \mathrm{clamp}_{acc\_bits}\Big(\sum_j x_j[t]\, w_p[j, n]\Big)
        \quad\text{(exact sum, clamped once; each clamp is a counted saturation)} \\
    I[n] &= \sum_p \mathrm{rshift}(acc_p[n] \cdot mult_p[c],\ shift_p[c]) \\
    h &= \mathrm{rshift}(m[n] \cdot decay\_mult,\ decay\_shift) + I[n] + bias[c] \\
    s &= h > \theta[c] \ (\text{or } \ge) \\
    m[n] &= \mathrm{clamp}(0 \text{ if } s \text{ (hard)} \mid h - \theta[c] \text{ if } s
        \text{ (soft)} \mid h,\ -Q,\ Q), \quad Q = 2^{b-1} - 1

``x_j`` is a source spike (0/1) or, for an analog input, its int8 value. ``rshift`` is an
arithmetic shift (floor) unless the target population asks for ``toward_zero``; the
population's rounding applies to every shift of its update. A readout population runs
the same update without fire, reset or clamp in a 64-bit register that wraps like the
hardware register (numpy int64 arithmetic).

Exactness: products of integer matrices are done in float32 or float64 only when the
bound ``fan_in * max|w| * max|x|`` is below 2^24 or 2^53, where every partial sum is an
integer that the format represents exactly, whatever the summation order; otherwise in
int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnnsim.workload import Population, Projection, Workload, membrane_limit

_FLOAT32_EXACT = 1 << 24
_FLOAT64_EXACT = 1 << 53


@dataclass(frozen=True, eq=False)
class GoldenResult:
    """What the golden model computes for one sample.

    Attributes
    ----------
    spikes : dict[str, np.ndarray]
        bool (T, *shape) for every lif population and for a ``spikes`` input.
    membranes : dict[str, np.ndarray]
        int64 final membrane (shape) of every lif and readout population.
    readout : np.ndarray
        int64 (n_out,) readout values after the last timestep (the logits).
    predicted : int
        argmax of ``readout``, ties to the lowest index.
    saturations : dict[str, np.ndarray]
        int64 (T,) accumulator saturations per projection and timestep.
    """

    spikes: dict
    membranes: dict
    readout: np.ndarray
    predicted: int
    saturations: dict


def rshift(x: np.ndarray, shift, rounding: str = "floor") -> np.ndarray:
    """Arithmetic right shift of int64 values: floor, or rounded toward zero."""
    if rounding == "floor":
        return x >> shift
    # Adding 2^shift - 1 to a negative value before the floor shift rounds it toward zero
    # without negating it, which would overflow at -2^63.
    return (x + ((x >> 63) & ((1 << shift) - 1))) >> shift


def saturate(acc: np.ndarray, acc_bits: int) -> tuple[np.ndarray, int]:
    """Clamp exact sums to the signed ``acc_bits`` range; returns (clamped, n_saturated)."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    n_sat = int(np.count_nonzero(acc < lo) + np.count_nonzero(acc > hi))
    return np.clip(acc, lo, hi), n_sat


class _Synapses:
    """One projection prepared for repeated use: weights as a matrix in an exact dtype."""

    def __init__(self, proj: Projection, source: Population, target: Population, max_abs_x: int):
        self.proj = proj
        self.source = source
        self.target = target
        self.matrix = None
        if proj.kind in ("conv2d", "linear"):
            w = proj.weights.astype(np.int64)
            mat = w.reshape(w.shape[0], -1)
            fan_in = mat.shape[1]
            scale_x = max_abs_x * (source.plane_size if proj.global_sum_pool else 1)
            bound = fan_in * int(np.abs(mat).max(initial=0)) * scale_x
            if bound < _FLOAT32_EXACT:
                self.dtype = np.float32
            elif bound < _FLOAT64_EXACT:
                self.dtype = np.float64
            else:
                self.dtype = np.int64
            self.matrix = np.ascontiguousarray(mat.astype(self.dtype))

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """Exact sum of weighted inputs for every target neuron, int64 in the target's shape."""
        proj, tgt = self.proj, self.target
        if proj.kind == "conv2d":
            cols = im2col(x, proj.kernel, proj.stride, proj.padding).astype(self.dtype)
            acc = self.matrix @ cols
        elif proj.kind == "linear":
            v = x.reshape(x.shape[0], -1).sum(axis=1) if proj.global_sum_pool else x.reshape(-1)
            acc = self.matrix @ v.astype(self.dtype)
        elif proj.kind == "identity":
            codes = proj.weights.astype(np.int64).reshape((-1,) + (1,) * (x.ndim - 1))
            return (x * codes).reshape(tgt.shape)
        else:
            cols = im2col(x[:, None], proj.kernel, proj.stride, proj.padding, per_channel=True)
            return cols.sum(axis=1).reshape(tgt.shape)
        if self.dtype is not np.int64:
            acc = np.rint(acc)
        return acc.astype(np.int64).reshape(tgt.shape)


def im2col(x: np.ndarray, kernel, stride, padding, per_channel: bool = False) -> np.ndarray:
    """Windows of a (C, H, W) array with zero padding, PyTorch cross-correlation order.

    Returns (C*kH*kW, Ho*Wo); with ``per_channel`` the input is (C, 1, H, W) and the result
    (C, kH*kW, Ho*Wo), each channel pooled on its own.
    """
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    if per_channel:
        x = x[:, 0]
    c, h, w = x.shape
    xp = np.zeros((c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, ph : ph + h, pw : pw + w] = x
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    ho, wo = win.shape[1], win.shape[2]
    win = win.transpose(0, 3, 4, 1, 2)  # (C, kH, kW, Ho, Wo)
    if per_channel:
        return win.reshape(c, kh * kw, ho * wo)
    return win.reshape(c * kh * kw, ho * wo)


def channel_view(values: np.ndarray, n_channels: int) -> np.ndarray:
    """A (C, plane) view, so per-channel vectors broadcast as (C, 1)."""
    return values.reshape(n_channels, -1)


def scaled_input(acc: np.ndarray, proj: Projection, rounding: str) -> np.ndarray:
    """rshift(acc * mult[c], shift[c]) per target channel, int64 in acc's shape."""
    c = proj.mult.shape[0]
    a = channel_view(acc, c)
    mult = proj.mult.astype(np.int64)[:, None]
    shift = proj.shift.astype(np.int64)[:, None]
    return rshift(a * mult, shift, rounding).reshape(acc.shape)


def neuron_update(pop: Population, m: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One timestep of a lif or readout population: returns (spikes bool, new membrane int64).

    ``m`` and ``current`` are int64 in the population's shape. A readout never spikes.
    """
    c = pop.n_channels
    mv = channel_view(m, c)
    iv = channel_view(current, c)
    bias = pop.bias.astype(np.int64)[:, None]
    h = rshift(mv * pop.decay_mult, pop.decay_shift, pop.rounding) + iv + bias
    if pop.kind == "readout":
        return np.zeros(m.shape, bool), h.reshape(m.shape)
    theta = pop.threshold.astype(np.int64)[:, None]
    spike = h > theta if pop.fire_cmp == "gt" else h >= theta
    if pop.reset == "hard":
        after = np.where(spike, 0, h)
    else:
        after = np.where(spike, h - theta, h)
    q = membrane_limit(pop.membrane_bits)
    return spike.reshape(m.shape), np.clip(after, -q, q).reshape(m.shape)


def run_golden(workload: Workload, sample: int) -> GoldenResult:
    """Run sample ``sample`` of ``workload`` through the golden model."""
    return run_golden_input(workload, workload.sample_input(sample))


def run_golden_input(workload: Workload, inputs: np.ndarray) -> GoldenResult:
    """Run an explicit input (int64, (T, *input_shape)) through the golden model."""
    T = workload.timesteps
    in_pop = workload.input_population
    max_abs_x = 128 if workload.input_kind == "analog" else 1
    pops = {p.name: p for p in workload.populations}
    synapses = {}
    for proj in workload.projections:
        src = pops[proj.source]
        synapses[proj.name] = _Synapses(proj, src, pops[proj.target], max_abs_x if src.kind == "input" else 1)
    incoming = {p.name: workload.projections_into(p.name) for p in workload.populations}
    membranes = {p.name: np.zeros(p.shape, np.int64) for p in workload.populations if p.kind != "input"}
    spikes = {p.name: np.zeros((T,) + p.shape, bool) for p in workload.populations if p.kind == "lif"}
    if workload.input_kind == "spikes":
        spikes[in_pop.name] = np.asarray(inputs, dtype=bool).reshape((T,) + in_pop.shape)
    saturations = {proj.name: np.zeros(T, np.int64) for proj in workload.projections}
    for t in range(T):
        values = {in_pop.name: np.asarray(inputs[t], dtype=np.int64)}
        for pop in workload.populations:
            if pop.kind == "input":
                continue
            current = np.zeros(pop.shape, np.int64)
            for proj in incoming[pop.name]:
                acc, n_sat = saturate(synapses[proj.name].accumulate(values[proj.source]), proj.acc_bits)
                saturations[proj.name][t] += n_sat
                current += scaled_input(acc, proj, pop.rounding)
            spk, membranes[pop.name] = neuron_update(pop, membranes[pop.name], current)
            if pop.kind == "lif":
                spikes[pop.name][t] = spk
                values[pop.name] = spk.astype(np.int64)
    out = workload.readout_population
    readout = membranes[out.name].reshape(-1).copy()
    return GoldenResult(
        spikes=spikes,
        membranes=membranes,
        readout=readout,
        predicted=int(np.argmax(readout)),
        saturations=saturations,
    )
