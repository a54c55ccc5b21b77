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

Order of evaluation: projections have no synaptic delay (DESIGN §2) and the graph is
acyclic, so a population's input at every timestep is known once its sources have run all
T timesteps. The model therefore goes population by population (topological order) and
computes each projection's ``acc_p`` for all T timesteps in one matrix product; only the
membrane recursion ``m[n]`` walks the timesteps. The result is the same as stepping
timestep by timestep: each timestep's numbers are computed from the same inputs.

Exactness: a convolution is an im2col window matrix times the weight matrix, and a linear
layer a matrix-vector product. They are done in float32 or float64 only when the bound
``fan_in * max|w| * max|x|`` is below 2^24 or 2^53: then every product and every partial
sum is an integer the format represents exactly, whatever the summation order (BLAS may
block, reorder or fuse multiply-adds), so the float result *is* the exact integer sum.
Otherwise the product is done in int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnnsim.workload import Population, Projection, Workload, membrane_limit

_FLOAT32_EXACT = 1 << 24
_FLOAT64_EXACT = 1 << 53
#: Largest im2col window matrix built at once (bytes); longer inputs go in chunks of timesteps.
_WINDOW_BYTES = 64 << 20


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
    """One projection prepared for repeated use: weights as a matrix in an exact dtype.

    ``accumulate`` takes the source's values at every timestep, (T, *source shape), and
    returns the exact sums ``sum_j x_j[t] w_p[j, n]`` as int64 (T, *target shape).
    """

    def __init__(self, proj: Projection, source: Population, target: Population, max_abs_x: int):
        self.proj = proj
        self.source = source
        self.target = target
        self.matrix = None
        self.dtype = np.int64
        if proj.kind in ("conv2d", "linear"):
            w = proj.weights
            fan_in = w[0].size
            scale_x = max_abs_x * (source.plane_size if proj.global_sum_pool else 1)
            max_abs_w = max(-int(w.min(initial=0)), int(w.max(initial=0)))
            bound = fan_in * max_abs_w * scale_x
            if bound < _FLOAT32_EXACT:
                self.dtype = np.float32
            elif bound < _FLOAT64_EXACT:
                self.dtype = np.float64
            self.matrix = np.ascontiguousarray(w.reshape(w.shape[0], fan_in), dtype=self.dtype)

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """Exact sums for every timestep and target neuron: int64 (T, *target shape)."""
        proj = self.proj
        steps = x.shape[0]
        shape = (steps,) + self.target.shape
        if proj.kind == "conv2d":
            # Timesteps in chunks whose window matrix stays under _WINDOW_BYTES (long spike trains).
            chunk = max(1, _WINDOW_BYTES // (self.matrix.shape[1] * self.target.plane_size * self.matrix.itemsize))
            acc = np.empty(shape, np.int64)
            for t0 in range(0, steps, chunk):
                xs = x[t0 : t0 + chunk].astype(self.dtype, copy=False)
                part = self.matrix @ im2col_steps(xs, proj.kernel, proj.stride, proj.padding)  # (C_out, t*Ho*Wo)
                # Float sums are exact integers (see the module docstring): the cast to int64 is exact.
                acc[t0 : t0 + chunk] = part.reshape((shape[1], len(xs)) + shape[2:]).swapaxes(0, 1)
            return acc
        if proj.kind == "linear":
            v = x.reshape(steps, x.shape[1], -1).sum(axis=2) if proj.global_sum_pool else x.reshape(steps, -1)
            acc = self.matrix @ v.T.astype(self.dtype)                      # (n_out, T)
            return acc.T.astype(np.int64).reshape(shape)                    # exact, as above
        if proj.kind == "identity":
            codes = proj.weights.astype(np.int64).reshape((1, -1) + (1,) * (x.ndim - 2))
            return (x * codes).reshape(shape)
        kh, kw = proj.kernel  # sumpool2d: every weight +1, each channel on its own
        win = _windows(x.astype(np.int64), proj.kernel, proj.stride, proj.padding)  # (T, C, Ho, Wo, kH, kW)
        return win.reshape(win.shape[:4] + (kh * kw,)).sum(axis=4).reshape(shape)


def _windows(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Zero-padded windows of a (T, C, H, W) array: a (T, C, Ho, Wo, kH, kW) strided view."""
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    steps, c, h, w = x.shape
    xp = np.zeros((steps, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def im2col_steps(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Windows of a (T, C, H, W) array as one matrix: (C*kH*kW, T*Ho*Wo), rows in PyTorch's
    weight order (c, kh, kw), columns timestep-major then row-major positions."""
    win = _windows(x, kernel, stride, padding)                         # (T, C, Ho, Wo, kH, kW)
    steps, c, ho, wo, kh, kw = win.shape
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, steps * ho * wo)


def im2col(x: np.ndarray, kernel, stride, padding, per_channel: bool = False) -> np.ndarray:
    """Windows of a (C, H, W) array with zero padding, PyTorch cross-correlation order.

    Returns (C*kH*kW, Ho*Wo); with ``per_channel`` the input is (C, 1, H, W) and the result
    (C, kH*kW, Ho*Wo), each channel pooled on its own.
    """
    if not per_channel:
        return im2col_steps(x[None], kernel, stride, padding)
    win = _windows(x[None, :, 0], kernel, stride, padding)[0]          # (C, Ho, Wo, kH, kW)
    c, ho, wo, kh, kw = win.shape
    return win.transpose(0, 3, 4, 1, 2).reshape(c, kh * kw, ho * wo)


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
    # values[name]: what a population sends at every timestep, (T, *shape): the input's
    # values (int64), or a lif population's spikes (bool, exactly 0/1 in any product).
    values = {in_pop.name: np.asarray(inputs, dtype=np.int64).reshape((T,) + in_pop.shape)}
    membranes = {}
    spikes = {}
    if workload.input_kind == "spikes":
        spikes[in_pop.name] = values[in_pop.name].astype(bool)
    saturations = {}
    for pop in workload.populations:
        if pop.kind == "input":
            continue
        current = np.zeros((T,) + pop.shape, np.int64)
        for proj in workload.projections_into(pop.name):
            src = pops[proj.source]
            synapses = _Synapses(proj, src, pop, max_abs_x if src.kind == "input" else 1)
            acc_all = synapses.accumulate(values[proj.source])           # (T, *shape), exact
            saturations[proj.name] = np.zeros(T, np.int64)
            for t in range(T):
                acc, saturations[proj.name][t] = saturate(acc_all[t], proj.acc_bits)
                current[t] += scaled_input(acc, proj, pop.rounding)
        m = np.zeros(pop.shape, np.int64)
        fired = np.zeros((T,) + pop.shape, bool)
        for t in range(T):
            fired[t], m = neuron_update(pop, m, current[t])
        membranes[pop.name] = m
        if pop.kind == "lif":
            spikes[pop.name] = values[pop.name] = fired
    # Projections reported in the workload's order, as the other models do.
    saturations = {proj.name: saturations[proj.name] for proj in workload.projections}
    out = workload.readout_population
    readout = membranes[out.name].reshape(-1).copy()
    return GoldenResult(
        spikes=spikes,
        membranes=membranes,
        readout=readout,
        predicted=int(np.argmax(readout)),
        saturations=saturations,
    )
