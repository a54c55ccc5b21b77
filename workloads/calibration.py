"""Calibration of untrained Q-SNN workloads for the shipped examples (not part of the package).

The generators in this folder (``make_resnet19.py``, ``make_small.py``) describe a network
layer by layer; a :class:`Calibrator` builds it with :class:`qsnnsim.workload.WorkloadBuilder`
while it runs the calibration samples through every layer, in topological order, with the
integer semantics of DESIGN.md §2 (the golden model's own ``im2col``, ``saturate``,
``scaled_input`` and ``neuron_update``). For every spiking population it chooses:

- per incoming projection, the smallest accumulator width that can never saturate for
  any legal input (a data-independent bound computed from the weight codes);
- per projection and target channel, a fixed-point gain ``mult / 2^shift`` (``|mult| <=
  127``) that normalises the channel's accumulator to a current whose standard deviation
  over the calibration data is one *unit* ``u`` of the membrane grid (``u = max(1, Q/4)``
  with ``Q = 2^(b-1) - 1``); an ``identity`` shortcut adds ``u`` per spike instead;
- per channel, an integer bias found by bisection so that the channel fires at the
  target rate over the calibration samples and all T timesteps, with the threshold fixed
  at ``Q // 4`` (plus one for a ``>=`` compare). When integer biases are too coarse (2-bit
  membranes), gains scaled by factors from :data:`GAIN_STEPS` are tried as well.

This stands in for BatchNorm statistics of a trained network: the result is calibrated,
not trained, and its predictions are meaningless. :func:`verify_with_golden` re-runs the
saved file through :func:`qsnnsim.golden.run_golden` and checks that it reproduces the
calibration bit for bit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np

from qsnnsim.golden import im2col, neuron_update, run_golden, saturate, scaled_input
from qsnnsim.workload import (
    ACC_BITS_RANGE,
    Population,
    Workload,
    WorkloadBuilder,
    conv_output_hw,
    load_workload,
    membrane_limit,
    save_workload,
)

MULT_BITS = 8
"""Signed width of a calibrated ``mult``: gains are realised as ``mult / 2^shift`` with
``|mult| <= 127`` (0.4-0.8 % resolution), which keeps the per-channel multiplier small."""

RATE_TOLERANCE = 1.2
"""A channel is accepted when its rate is within this factor of the target."""

GAIN_STEPS = (1.0, 1.25, 0.8, 1.5625, 0.64, 1.953125, 0.512, 2.44140625, 0.4096)
"""Gain multipliers tried, nearest the nominal gain first, for channels whose rate the
bias alone cannot bring within :data:`RATE_TOLERANCE` (coarse 2-bit grids)."""

_FLOAT32_EXACT = 1 << 24
_FLOAT64_EXACT = 1 << 53


@dataclass(frozen=True, eq=False)
class Synapse:
    """One incoming projection of a population being calibrated.

    ``weights`` are integer codes (conv2d: (C_out, C_in, kH, kW); linear: (C_out, C_in);
    identity: (C,)); ``None`` for sumpool2d. ``mult`` is ``None`` for a calibrated gain,
    or a fixed integer scale used as given with ``shift``. ``strength`` scales the
    calibrated gain relative to the other projections into the same population.
    """

    kind: str
    source: str
    weights: np.ndarray | None = None
    weight_bits: int = 1
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    global_sum_pool: bool = False
    strength: float = 1.0
    mult: int | None = None
    shift: int = 0
    name: str | None = None


def operating_point(membrane_bits: int, fire_cmp: str = "gt") -> tuple[int, float]:
    """Threshold and current unit for a b-bit membrane: (Q // 4 [+1 for >=], max(1, Q / 4)).

    A quarter of the membrane range keeps the current's typical excursion (a few units)
    inside [-Q, Q] at 8 bits; at 2 bits (Q = 1) the grid cannot do better than unit steps.
    """
    q = membrane_limit(membrane_bits)
    theta = q // 4 + (1 if fire_cmp == "ge" else 0)
    return theta, max(1.0, q / 4.0)


def quantise_gain(gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive real gains -> int32 (mult, shift) with mult / 2^shift ~ gain, |mult| <= 127.

    The largest shift in 0..31 that keeps the rounded mult within MULT_BITS is used, so
    small gains keep their precision; gains above 127 use shift 0 and a wider mult.
    """
    mult_max = (1 << (MULT_BITS - 1)) - 1
    mults, shifts = [], []
    for g in np.asarray(gain, dtype=np.float64):
        if not g > 0:
            raise ValueError(f"gain must be positive (got {g})")
        shift = 31
        while shift > 0 and math.floor(g * (1 << shift) + 0.5) > mult_max:
            shift -= 1
        mults.append(max(1, math.floor(g * (1 << shift) + 0.5)))
        shifts.append(shift)
    return np.asarray(mults, np.int32), np.asarray(shifts, np.int32)


def acc_bound(syn: Synapse, x_lo: int, x_hi: int, src_plane: int) -> tuple[int, int]:
    """Smallest and largest exact accumulator value any legal input can produce.

    ``[x_lo, x_hi]`` is the range of one source value (spikes 0..1, analog -128..127); both
    contain 0, so zero padding never extends the bound. A global sum-pool sums
    ``src_plane`` values per input channel first.
    """
    if syn.kind in ("conv2d", "linear"):
        w = syn.weights.reshape(syn.weights.shape[0], -1).astype(np.int64)
        if syn.global_sum_pool:
            x_lo, x_hi = x_lo * src_plane, x_hi * src_plane
        hi = np.maximum(w * x_hi, w * x_lo).sum(axis=1)
        lo = np.minimum(w * x_hi, w * x_lo).sum(axis=1)
        return int(lo.min()), int(hi.max())
    if syn.kind == "identity":
        codes = syn.weights.astype(np.int64)
        return int(np.minimum(codes * x_lo, codes * x_hi).min()), int(np.maximum(codes * x_lo, codes * x_hi).max())
    area = syn.kernel * syn.kernel
    return area * x_lo, area * x_hi


def smallest_acc_bits(lo: int, hi: int) -> int:
    """The narrowest signed width whose range holds [lo, hi] (at least ACC_BITS_RANGE[0])."""
    bits = ACC_BITS_RANGE[0]
    while -(1 << (bits - 1)) > lo or hi > (1 << (bits - 1)) - 1:
        bits += 1
    if bits > ACC_BITS_RANGE[1]:
        raise ValueError(f"accumulator range {lo}..{hi} needs {bits} bits (> {ACC_BITS_RANGE[1]})")
    return bits


def _exact_dtype(bound: int):
    """float32/float64 when every partial sum is an exactly representable integer (golden's rule)."""
    if bound < _FLOAT32_EXACT:
        return np.float32
    if bound < _FLOAT64_EXACT:
        return np.float64
    return np.int64


def accumulate(syn: Synapse, x: np.ndarray, tgt_shape: tuple[int, ...], max_abs_x: int) -> np.ndarray:
    """Exact sums of one projection for a batch: x (B, *src_shape) -> int64 (C_t, B, plane_t).

    The result is channel-major so per-channel scales broadcast as (C, 1) in the golden
    helpers; B is whatever batch the caller stacked (timesteps x samples).
    """
    b = x.shape[0]
    c_t = tgt_shape[0]
    if syn.kind in ("conv2d", "linear"):
        mat = syn.weights.reshape(c_t, -1).astype(np.int64)
        scale_x = max_abs_x * (int(np.prod(x.shape[2:])) if syn.global_sum_pool else 1)
        dtype = _exact_dtype(mat.shape[1] * int(np.abs(mat).max(initial=0)) * scale_x)
        mat = mat.astype(dtype)
        if syn.kind == "conv2d":
            k = (syn.weights.shape[2], syn.weights.shape[3])
            pair_s, pair_p = (syn.stride, syn.stride), (syn.padding, syn.padding)
            plane = int(np.prod(tgt_shape[1:]))
            cols = np.empty((mat.shape[1], b * plane), dtype)
            for i in range(b):
                cols[:, i * plane : (i + 1) * plane] = im2col(x[i].astype(dtype), k, pair_s, pair_p)
            acc = mat @ cols
        else:
            v = x.reshape(b, x.shape[1], -1).sum(axis=2) if syn.global_sum_pool else x.reshape(b, -1)
            acc = mat @ v.astype(dtype).T
        if dtype is not np.int64:
            acc = np.rint(acc)
        return acc.astype(np.int64).reshape(c_t, b, -1)
    if syn.kind == "identity":
        codes = syn.weights.astype(np.int64).reshape(1, -1, 1)
        acc = x.reshape(b, c_t, -1).astype(np.int64) * codes
        return np.ascontiguousarray(acc.transpose(1, 0, 2))
    k, s, p = (syn.kernel, syn.kernel), (syn.stride, syn.stride), (syn.padding, syn.padding)
    acc = np.stack([im2col(x[i].astype(np.int64)[:, None], k, s, p, per_channel=True).sum(axis=1) for i in range(b)])
    return np.ascontiguousarray(acc.transpose(1, 0, 2))


def simulate(pop: Population, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run a population over T timesteps: current (C, T, M) -> (spikes bool, membranes int64).

    Both results are (C, T, M): the membrane after each step. A readout never spikes.
    """
    c, t_steps, m_size = current.shape
    m = np.zeros((c, m_size), np.int64)
    spikes = np.zeros(current.shape, bool)
    membranes = np.zeros(current.shape, np.int64)
    for t in range(t_steps):
        spikes[:, t], m = neuron_update(pop, m, np.ascontiguousarray(current[:, t]))
        membranes[:, t] = m
    return spikes, membranes


def channel_rates(pop: Population, current: np.ndarray) -> np.ndarray:
    """Firing rate of every channel (spikes per neuron per timestep), float64 (C,)."""
    spikes, _ = simulate(pop, current)
    return spikes.reshape(spikes.shape[0], -1).mean(axis=1)


def fit_bias(pop: Population, current: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel integer bias whose firing rate is nearest the target (log ratio).

    Bisection between a bias at which no neuron can fire and one at which every neuron
    fires at every step (|decay(m)| <= Q |decay_mult| bounds the membrane's share), then
    the better of the two neighbours of the crossing. Returns (bias int64, rate float64).
    """
    q = membrane_limit(pop.membrane_bits)
    reach = q * max(1, abs(pop.decay_mult))
    theta = pop.threshold.astype(np.int64)
    flat = current.reshape(current.shape[0], -1)
    lo = theta - flat.max(axis=1) - reach - 1
    hi = theta - flat.min(axis=1) + reach + 1
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        rate = channel_rates(replace(pop, bias=mid), current)
        above = rate >= target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    rate_hi = channel_rates(replace(pop, bias=hi), current)
    rate_lo = channel_rates(replace(pop, bias=lo), current)
    use_lo = _rate_error(rate_lo, target) < _rate_error(rate_hi, target)
    return np.where(use_lo, lo, hi), np.where(use_lo, rate_lo, rate_hi)


def _rate_error(rate: np.ndarray, target: float) -> np.ndarray:
    return np.abs(np.log(np.maximum(rate, 1e-9) / target))


class Calibrator:
    """Builds and calibrates a workload layer by layer on its own samples.

    Parameters
    ----------
    name : str
        Workload name.
    timesteps : int
        T, the number of timesteps per sample.
    input_kind : str
        ``analog`` (samples int8 (N, *shape)) or ``spikes`` (uint8 0/1 (N, T, *shape)).
    samples : np.ndarray
        The calibration samples, which are also the samples shipped in the workload.
    target_rate : float
        Spikes per neuron per timestep every calibrated population aims for.
    labels, class_names
        Passed on to the workload (``None`` when there is nothing meaningful to say).
    """

    def __init__(self, name: str, timesteps: int, input_kind: str, samples: np.ndarray, target_rate: float,
                 labels: np.ndarray | None = None, class_names: list[str] | None = None):
        if not 0.0 < target_rate < 0.5:
            raise ValueError(f"target_rate must be in (0, 0.5) (got {target_rate})")
        self.timesteps = timesteps
        self.input_kind = input_kind
        self.samples = np.asarray(samples)
        self.n_samples = int(self.samples.shape[0])
        self.target_rate = float(target_rate)
        self.builder = WorkloadBuilder(name, timesteps, input_kind)
        self.builder.set_samples(self.samples, labels, class_names)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.values: dict[str, np.ndarray] = {}
        self.value_range: dict[str, tuple[int, int]] = {}
        self.populations: dict[str, Population] = {}
        self.rates: dict[str, float] = {}
        self.spike_counts: dict[str, np.ndarray] = {}
        self.drive_range: dict[str, tuple[int, int]] = {}
        self.logits: np.ndarray | None = None

    # ------------------------------------------------------------------ populations

    def input(self, name: str, shape: tuple[int, ...]) -> None:
        """Declare the input population; its values are the samples (T, N, *shape)."""
        shape = tuple(shape)
        self.builder.input(name, shape)
        self.shapes[name] = shape
        if self.input_kind == "analog":
            # An analog image is presented unchanged at every step: keep one copy (B = N).
            self.values[name] = self.samples.astype(np.int64)[None]
            self.value_range[name] = (-128, 127)
        else:
            self.values[name] = np.ascontiguousarray(self.samples.swapaxes(0, 1)).astype(np.uint8)
            self.value_range[name] = (0, 1)

    def lif(self, name: str, shape: tuple[int, ...], synapses: list[Synapse], *, membrane_bits: int = 8,
            decay_mult: int = 1, decay_shift: int = 1, rounding: str = "floor", fire_cmp: str = "gt",
            reset: str = "hard", threshold: int | None = None, bias: int | None = None) -> None:
        """Add a LIF population fed by ``synapses``; calibrated unless ``threshold`` is given.

        A fixed population (e.g. a max-pool-as-IF layer) needs ``threshold``, ``bias`` and a
        fixed ``mult`` on every synapse.
        """
        shape = tuple(shape)
        c = shape[0]
        calibrate = threshold is None
        theta, unit = operating_point(membrane_bits, fire_cmp)
        pop = Population(
            name=name, kind="lif", shape=shape, membrane_bits=membrane_bits, decay_mult=decay_mult,
            decay_shift=decay_shift, rounding=rounding, fire_cmp=fire_cmp, reset=reset,
            threshold=np.full(c, theta if calibrate else threshold, np.int64),
            bias=np.full(c, 0 if bias is None else bias, np.int64),
        )
        accs = self._accumulate_all(shape, synapses)
        if calibrate:
            scales, pop = self._calibrate(pop, synapses, accs, unit)
        else:
            if any(s.mult is None for s in synapses):
                raise ValueError(f"{name}: a fixed population needs a fixed mult on every synapse")
            scales = [(np.full(c, s.mult, np.int32), np.full(c, s.shift, np.int32)) for s in synapses]
        current = self._current(pop, accs, scales)
        spikes, _ = simulate(pop, current)
        self.rates[name] = float(spikes.mean())
        self.spike_counts[name] = spikes.reshape(c, self.timesteps, self.n_samples, -1).sum(axis=(0, 1, 3))
        drive = current + pop.bias.astype(np.int64)[:, None, None]
        self.drive_range[name] = (int(np.percentile(drive, 1)), int(np.percentile(drive, 99)))
        self.values[name] = self._to_batch(spikes, shape)
        self.value_range[name] = (0, 1)
        self._declare(pop, synapses, scales, accs)

    def readout(self, name: str, shape: tuple[int, ...], synapses: list[Synapse], bias: int = 0) -> None:
        """Add the readout population (64-bit, no fire); synapse scales are fixed (default 1/0)."""
        shape = tuple(shape)
        c = shape[0]
        pop = Population(name=name, kind="readout", shape=shape, membrane_bits=16, decay_mult=1, decay_shift=0,
                         threshold=np.zeros(c, np.int64), bias=np.full(c, bias, np.int64))
        synapses = [replace(s, mult=1 if s.mult is None else s.mult) for s in synapses]
        accs = self._accumulate_all(shape, synapses)
        scales = [(np.full(c, s.mult, np.int32), np.full(c, s.shift, np.int32)) for s in synapses]
        _, membranes = simulate(pop, self._current(pop, accs, scales))
        # (C, T, N * plane) -> logits after the last step, (N, C) for a (C,) readout.
        self.logits = membranes[:, -1].reshape(c, self.n_samples, -1).sum(axis=2).T
        self._declare(pop, synapses, scales, accs)

    def build(self, provenance: dict) -> Workload:
        """The validated workload with ``provenance`` (rates measured here are added)."""
        self.builder.set_provenance(**provenance)
        return self.builder.build()

    # ------------------------------------------------------------------ internals

    def _accumulate_all(self, shape: tuple[int, ...], synapses: list[Synapse]) -> list[np.ndarray]:
        accs = []
        for syn in synapses:
            x = self.values[syn.source]
            lo, hi = self.value_range[syn.source]
            acc = accumulate(syn, x.reshape((-1,) + x.shape[2:]), shape, max(abs(lo), abs(hi)))
            # (C, T*N, plane) -> (C, T, N*plane): one row per channel, timesteps apart; a
            # static analog input was accumulated once and is the same at every step.
            acc = acc.reshape(shape[0], x.shape[0], -1)
            accs.append(np.broadcast_to(acc, (shape[0], self.timesteps, acc.shape[2])))
        return accs

    def _acc_bits(self, syn: Synapse) -> int:
        lo, hi = self.value_range[syn.source]
        src_shape = self.shapes[syn.source]
        plane = int(np.prod(src_shape[1:])) if len(src_shape) == 3 else 1
        return smallest_acc_bits(*acc_bound(syn, lo, hi, plane))

    def _current(self, pop: Population, accs: list[np.ndarray], scales) -> np.ndarray:
        current = np.zeros(accs[0].shape, np.int64)
        for acc, (mult, shift) in zip(accs, scales):
            current += scaled_input(acc, SimpleNamespace(mult=mult, shift=shift), pop.rounding)
        return current

    def _calibrate(self, pop: Population, synapses: list[Synapse], accs: list[np.ndarray], unit: float):
        c = pop.n_channels
        base = []
        for syn, acc in zip(synapses, accs):
            if syn.mult is not None:
                base.append(None)
            elif syn.kind == "identity":
                # A shortcut spike is worth one unit, as a residual "+ x" adds 1.0 to a
                # BatchNorm-normalised current in the float network.
                base.append(np.full(c, syn.strength * unit))
            else:
                base.append(syn.strength * unit / _channel_std(acc))
        best_err = np.full(c, np.inf)
        best_bias = np.zeros(c, np.int64)
        best_scales = [(np.zeros(c, np.int32), np.zeros(c, np.int32)) for _ in synapses]
        for step in GAIN_STEPS:
            todo = best_err > math.log(RATE_TOLERANCE)
            if not todo.any():
                break
            scales = []
            for syn, g in zip(synapses, base):
                if g is None:
                    scales.append((np.full(c, syn.mult, np.int32), np.full(c, syn.shift, np.int32)))
                else:
                    scales.append(quantise_gain(g * step))
            bias, rate = fit_bias(pop, self._current(pop, accs, scales), self.target_rate)
            err = _rate_error(rate, self.target_rate)
            better = todo & (err < best_err)
            best_err = np.where(better, err, best_err)
            best_bias = np.where(better, bias, best_bias)
            for (bm, bs), (m, s) in zip(best_scales, scales):
                bm[better], bs[better] = m[better], s[better]
        return best_scales, replace(pop, bias=best_bias)

    def _to_batch(self, spikes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """(C, T, N*plane) bool -> (T, N, *shape) uint8, the layout sources are read in."""
        c = shape[0]
        s = spikes.reshape(c, self.timesteps, self.n_samples, -1).transpose(1, 2, 0, 3)
        return np.ascontiguousarray(s.reshape((self.timesteps, self.n_samples) + shape)).astype(np.uint8)

    def _declare(self, pop: Population, synapses: list[Synapse], scales, accs) -> None:
        b = self.builder
        if pop.kind == "lif":
            b.lif(pop.name, pop.shape, threshold=pop.threshold, bias=pop.bias, membrane_bits=pop.membrane_bits,
                  decay_mult=pop.decay_mult, decay_shift=pop.decay_shift, rounding=pop.rounding,
                  fire_cmp=pop.fire_cmp, reset=pop.reset)
        else:
            b.readout(pop.name, pop.shape, bias=pop.bias)
        self.shapes[pop.name] = pop.shape
        self.populations[pop.name] = pop
        for syn, (mult, shift), acc in zip(synapses, scales, accs):
            acc_bits = self._acc_bits(syn)
            _, n_sat = saturate(acc, acc_bits)
            if n_sat:
                raise RuntimeError(f"{pop.name}: {n_sat} saturations at the never-saturating width {acc_bits}")
            kw = {"mult": mult, "shift": shift, "acc_bits": acc_bits, "name": syn.name}
            if syn.kind == "conv2d":
                b.conv2d(syn.source, pop.name, syn.weights, weight_bits=syn.weight_bits, stride=syn.stride,
                         padding=syn.padding, **kw)
            elif syn.kind == "linear":
                b.linear(syn.source, pop.name, syn.weights, weight_bits=syn.weight_bits,
                         global_sum_pool=syn.global_sum_pool, **kw)
            elif syn.kind == "identity":
                b.identity(syn.source, pop.name, codes=syn.weights, weight_bits=syn.weight_bits, **kw)
            else:
                b.sumpool2d(syn.source, pop.name, syn.kernel, stride=syn.stride, padding=syn.padding, **kw)


def _channel_std(acc: np.ndarray) -> np.ndarray:
    """Per-channel standard deviation of integer sums, from exact int64 moments.

    Integer moments make the gains identical on every machine (no float summation order);
    a constant channel gets 1 so its gain stays finite.
    """
    flat = acc.reshape(acc.shape[0], -1)
    n = flat.shape[1]
    s1 = flat.sum(axis=1, dtype=np.int64).astype(np.float64)
    s2 = (flat * flat).sum(axis=1, dtype=np.int64).astype(np.float64)
    var = (s2 - s1 * s1 / n) / n
    return np.where(var > 0, np.sqrt(np.maximum(var, 0.0)), 1.0)


def conv_shape(shape: tuple[int, int, int], c_out: int, kernel: int, stride: int, padding: int) -> tuple[int, int, int]:
    """(C_out, H_out, W_out) of a square conv/pool window over a (C, H, W) shape."""
    h, w = conv_output_hw(shape[1:], (kernel, kernel), (stride, stride), (padding, padding))
    return c_out, h, w


def standardised_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Latent weights: standard normal, then zero mean and unit variance per output channel (WS)."""
    w = rng.standard_normal(shape)
    flat = w.reshape(shape[0], -1)
    flat = (flat - flat.mean(axis=1, keepdims=True)) / flat.std(axis=1, keepdims=True)
    return flat.reshape(shape)


def binary_codes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """1-bit codes: sign of standardised latent weights, exact 0 mapped to +1 (int16)."""
    return np.where(standardised_normal(rng, shape) >= 0, 1, -1).astype(np.int16)


def int8_codes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """8-bit codes: standardised latent weights, symmetric per-tensor quantisation to [-127, 127]."""
    w = standardised_normal(rng, shape)
    scale = 127.0 / np.abs(w).max()
    return np.clip(np.rint(w * scale), -127, 127).astype(np.int16)


DOWNSAMPLE_STRENGTH = 0.5**0.5
"""Strength of each of a downsampling block's two currents (conv2 and the 1x1 shortcut):
1/sqrt(2) each keeps their sum at one unit of std."""


def add_basic_blocks(cal: Calibrator, rng: np.random.Generator, stages, prev: str, c_prev: int, hw: int,
                     lif: dict) -> tuple[str, int, int]:
    """Add ResNet basic blocks after population ``prev`` (``c_prev`` channels, ``hw`` x ``hw``):
    per stage (channels, blocks), 1-bit 3x3 convs, an identity shortcut, or a strided 1x1 conv
    where the channels change (the stage's first block halves H and W). Each population
    ``s{k}b{j}.lif1`` / ``.lif2`` is calibrated with ``lif``. Returns the last population,
    its channels and its side."""
    for k, (c, n_blocks) in enumerate(stages, start=1):
        for j in range(1, n_blocks + 1):
            block = f"s{k}b{j}"
            stride = 2 if c != c_prev else 1
            hw_out = hw // stride
            conv1 = Synapse("conv2d", prev, binary_codes(rng, (c, c_prev, 3, 3)), stride=stride, padding=1,
                            name=f"{block}.conv1")
            cal.lif(f"{block}.lif1", (c, hw_out, hw_out), [conv1], **lif)
            conv2 = Synapse("conv2d", f"{block}.lif1", binary_codes(rng, (c, c, 3, 3)), padding=1,
                            name=f"{block}.conv2")
            if stride == 1:
                shortcut = Synapse("identity", prev, np.ones(c, np.int16), weight_bits=1, name=f"{block}.shortcut")
            else:
                conv2 = replace(conv2, strength=DOWNSAMPLE_STRENGTH)
                shortcut = Synapse("conv2d", prev, binary_codes(rng, (c, c_prev, 1, 1)), stride=2,
                                   strength=DOWNSAMPLE_STRENGTH, name=f"{block}.shortcut")
            cal.lif(f"{block}.lif2", (c, hw_out, hw_out), [conv2, shortcut], **lif)
            prev, c_prev, hw = f"{block}.lif2", c, hw_out
    return prev, c_prev, hw


def verify_with_golden(path: str, cal: Calibrator) -> dict[str, float]:
    """Re-run the saved file through the golden model and check it reproduces the calibration.

    Every sample's spike count per population and its logits must equal what the
    calibration computed, and no accumulator may saturate. Returns the golden firing rate
    per LIF population over all samples and timesteps.

    Raises
    ------
    RuntimeError
        If the golden model disagrees with the calibration (a bug in this module).
    """
    wl = load_workload(path)
    totals = {name: 0 for name in cal.spike_counts}
    for n in range(wl.n_samples):
        res = run_golden(wl, n)
        for name, counts in cal.spike_counts.items():
            got = int(res.spikes[name].sum())
            if got != int(counts[n]):
                raise RuntimeError(f"{path}: sample {n}: {name} spikes {got} in golden, {int(counts[n])} in calibration")
            totals[name] += got
        if cal.logits is not None and not np.array_equal(res.readout, cal.logits[n]):
            raise RuntimeError(f"{path}: sample {n}: readout {res.readout} in golden, {cal.logits[n]} in calibration")
        n_sat = sum(int(s.sum()) for s in res.saturations.values())
        if n_sat:
            raise RuntimeError(f"{path}: sample {n}: {n_sat} accumulator saturations")
    pops = {p.name: p for p in wl.populations}
    return {name: total / (wl.n_samples * wl.timesteps * pops[name].n_neurons) for name, total in totals.items()}


def save_checked(wl, out: str, cal: "Calibrator", t0: float, *, theta, membrane_bits: int, timesteps: int,
                 seed: int, target_rate: float, verbose: bool) -> dict:
    """Write a calibrated workload, check with the golden model that every population fires at the
    rate calibration measured, print the summary when ``verbose``; returns the rates. ``t0`` is
    when the build started (for the timing line)."""
    t_build = time.perf_counter() - t0
    save_workload(wl, out)
    rates = verify_with_golden(out, cal)
    for name, rate in rates.items():
        if abs(rate - cal.rates[name]) > 1e-12:
            raise RuntimeError(f"{name}: golden rate {rate} != calibration rate {cal.rates[name]}")
    if verbose:
        q = (1 << (membrane_bits - 1)) - 1
        print(f"{out}: b={membrane_bits} T={timesteps} seed={seed} target rate {target_rate} "
              f"(theta {theta}, Q {q}); calibrated in {t_build:.1f} s, golden check on "
              f"{wl.n_samples} samples in {time.perf_counter() - t0 - t_build:.1f} s")
        print(f"{'population':<12} {'rate':>7}  {'drive p1..p99':>16}")
        for name, rate in rates.items():
            lo, hi = cal.drive_range[name]
            print(f"{name:<12} {rate:7.4f}  {lo:>7} .. {hi:<6}")
        print(f"mean rate {np.mean(list(rates.values())):.4f}; predictions "
              f"{[int(np.argmax(v)) for v in cal.logits]} (meaningless: untrained)")
    return rates
