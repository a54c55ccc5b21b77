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

``x_j`` is a source spike (0/1), a graded spike's count (DESIGN §2b) or, for an analog
input, its int8 value. ``rshift`` is an arithmetic shift (floor) unless the target
population asks for ``toward_zero``; the population's rounding applies to every shift of its
update. The update after ``I[n]`` is the population's neuron dialect
(:mod:`qsnnsim.neurons`; the equations above are ``qsnn_lif``'s): this module sums the
synapses and calls the dialect's golden step, nothing else of a neuron is written here.

Order of evaluation: a projection with delay d delivers the source's values of t at t + d
(nothing before d). When every projection points forward in population order (the graph is
acyclic, delays or not), a population's input at every timestep is known once its sources
have run all T timesteps: the model goes population by population and computes each
projection's ``acc_p`` for all T timesteps in one matrix product; only the neuron recursion
walks the timesteps. The result is the same as stepping timestep by timestep: each
timestep's numbers are computed from the same inputs. A recurrent graph (a projection back
to an earlier population or to itself, which validation allows only with a delay >= 1) is
stepped timestep by timestep, every population in order.

Exactness: a convolution is an im2col window matrix times the weight matrix, and a linear
layer a matrix-vector product. They are done in float32 or float64 only when the bound
``fan_in * max|w| * max|x|`` is below 2^24 or 2^53: then every product and every partial
sum is an integer the format represents exactly, whatever the summation order (BLAS may
block, reorder or fuse multiply-adds), so the float result *is* the exact integer sum.
Otherwise the product is done in int64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qsnnsim.neurons.base import rshift
from qsnnsim.workload import Population, Projection, Workload

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
        (T, *shape) for every spiking population and for a ``spikes`` input: bool, or int64
        counts for a dialect whose spike is graded.
    membranes : dict[str, np.ndarray]
        int64 final membrane (shape) of every lif and readout population.
    readout : np.ndarray
        int64 (n_out,) readout values after the last timestep (the logits).
    predicted : int
        argmax of ``readout``, ties to the lowest index.
    saturations : dict[str, np.ndarray]
        int64 (T,) accumulator saturations per projection and timestep.
    states : dict[str, dict[str, np.ndarray]]
        every state variable of every non-input population after the last timestep (int64,
        the population's shape); ``membranes`` holds the first of them.
    state_traces : dict[str, dict[str, np.ndarray]]
        with ``record_states``: every state variable after every timestep, (T, *shape) int64
        (what the oracle harness compares with a vendor's simulator); else empty.
    """

    spikes: dict
    membranes: dict
    readout: np.ndarray
    predicted: int
    saturations: dict
    states: dict = field(default_factory=dict)
    state_traces: dict = field(default_factory=dict)


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
    """One timestep of a qsnn_lif or readout population: (spikes bool, new membrane int64).

    ``m`` and ``current`` are int64, channel first (the population's shape, or any (C, ...)
    batch of it). A readout never spikes. The dialect's own step (:mod:`qsnnsim.neurons`).
    """
    c = pop.n_channels
    spec = pop.neuron
    params = {k: (v.reshape(c, 1) if isinstance(v, np.ndarray) else v) for k, v in spec.parameters(pop).items()}
    spikes, state = spec.step(params, {"m": channel_view(m, c)}, channel_view(current, c))
    return spikes.astype(bool).reshape(m.shape), state["m"].reshape(m.shape)


class _NeuronStepper:
    """A population's dialect step over its neurons, state held as (C, plane) views so the
    per-channel parameters broadcast as (C, 1)."""

    def __init__(self, pop: Population, record: bool = False):
        self.pop = pop
        self.spec = pop.neuron
        c = pop.n_channels
        self.params = {k: (v.reshape(c, 1) if isinstance(v, np.ndarray) else v)
                       for k, v in self.spec.parameters(pop).items()}
        self.state = self.spec.initial_state(pop, (c, pop.plane_size))
        self.trace = [] if record else None

    def step(self, current: np.ndarray) -> np.ndarray:
        """Advance one timestep with ``current`` (int64, the population's shape); returns its spikes."""
        spikes, self.state = self.spec.step(self.params, self.state, channel_view(current, self.pop.n_channels))
        if self.trace is not None:
            self.trace.append({k: np.asarray(v, np.int64).reshape(self.pop.shape).copy() for k, v in self.state.items()})
        return spikes.reshape(self.pop.shape)

    def traces(self) -> dict:
        return {k: np.stack([step[k] for step in self.trace]) for k in self.trace[0]} if self.trace else {}

    def final_state(self) -> dict:
        return {k: v.reshape(self.pop.shape) for k, v in self.state.items()}


def run_golden(workload: Workload, sample: int) -> GoldenResult:
    """Run sample ``sample`` of ``workload`` through the golden model."""
    return run_golden_input(workload, workload.sample_input(sample))


def _source_bound(src: Population, input_kind: str) -> int:
    """Largest |value| a source sends per neuron and timestep: int8 analog input, a spike
    bit, or a graded spike's count (DESIGN §2b)."""
    if src.kind == "input":
        return 128 if input_kind == "analog" else 1
    return src.spike_max


def _spike_dtype(pop: Population):
    return bool if pop.kind == "input" or pop.spike_max <= 1 else np.int64


def run_golden_input(workload: Workload, inputs: np.ndarray, stepwise: bool | None = None,
                     record_states: bool = False) -> GoldenResult:
    """Run an explicit input (int64, (T, *input_shape)) through the golden model.

    A feedforward graph (every projection points forward in population order, delays or
    not) goes population by population, all timesteps at once; a recurrent one timestep by
    timestep (see the module docstring). ``stepwise=True`` steps any graph timestep by
    timestep (the tests hold the two orders equal). ``record_states`` keeps every state
    variable after every timestep (``GoldenResult.state_traces``).
    """
    T = workload.timesteps
    in_pop = workload.input_population
    pops = {p.name: p for p in workload.populations}
    order = {p.name: i for i, p in enumerate(workload.populations)}
    # values[name]: what a population sends at every timestep, (T, *shape): the input's
    # values (int64), or a spiking population's spikes (bool 0/1, or int64 counts).
    values = {in_pop.name: np.asarray(inputs, dtype=np.int64).reshape((T,) + in_pop.shape)}
    spikes = {}
    if workload.input_kind == "spikes":
        spikes[in_pop.name] = values[in_pop.name].astype(bool)
    saturations = {proj.name: np.zeros(T, np.int64) for proj in workload.projections}
    synapses = {proj.name: _Synapses(proj, pops[proj.source], pops[proj.target],
                                     _source_bound(pops[proj.source], workload.input_kind))
                for proj in workload.projections}
    stepping = [p for p in workload.populations if p.kind != "input"]
    for pop in stepping:
        if pop.is_spiking:
            values[pop.name] = np.zeros((T,) + pop.shape, _spike_dtype(pop))
    steppers = {pop.name: _NeuronStepper(pop, record_states) for pop in stepping}

    def add_input(current: np.ndarray, proj: Projection, acc_rows: np.ndarray, t0: int) -> None:
        # acc_rows[k] is the exact sum the target integrates at timestep t0 + k.
        for k in range(acc_rows.shape[0]):
            acc, saturations[proj.name][t0 + k] = saturate(acc_rows[k], proj.acc_bits)
            current[t0 + k] += scaled_input(acc, proj, pops[proj.target].rounding)

    recurrent = any(order[p.source] >= order[p.target] for p in workload.projections)
    if not (recurrent or stepwise):
        for pop in stepping:
            current = np.zeros((T,) + pop.shape, np.int64)
            for proj in workload.projections_into(pop.name):
                d = proj.delay
                if d < T:
                    add_input(current, proj, synapses[proj.name].accumulate(values[proj.source][:T - d]), d)
            for t in range(T):
                fired = steppers[pop.name].step(current[t])
                if pop.is_spiking:
                    values[pop.name][t] = fired
    else:
        for t in range(T):
            for pop in stepping:
                current = np.zeros((1,) + pop.shape, np.int64)
                for proj in workload.projections_into(pop.name):
                    if t >= proj.delay:
                        src_t = t - proj.delay
                        acc = synapses[proj.name].accumulate(values[proj.source][src_t:src_t + 1])
                        acc, saturations[proj.name][t] = saturate(acc[0], proj.acc_bits)
                        current[0] += scaled_input(acc, proj, pop.rounding)
                fired = steppers[pop.name].step(current[0])
                if pop.is_spiking:
                    values[pop.name][t] = fired
    states = {name: st.final_state() for name, st in steppers.items()}
    membranes = {name: state[pops[name].neuron.state_names(pops[name])[0]] for name, state in states.items()}
    for pop in stepping:
        if pop.is_spiking:
            spikes[pop.name] = values[pop.name]
    out = workload.readout_population
    readout = membranes[out.name].reshape(-1).copy()
    return GoldenResult(
        spikes=spikes,
        membranes=membranes,
        readout=readout,
        predicted=int(np.argmax(readout)),
        saturations=saturations,
        states=states,
        state_traces={name: st.traces() for name, st in steppers.items()} if record_states else {},
    )

