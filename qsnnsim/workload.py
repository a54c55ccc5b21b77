"""Workload stage: the integer SNN graph of DESIGN.md §2 and §2b, and its validation.

A :class:`Workload` is a frozen description of populations (neuron groups with one
shape and one neuron dialect) joined by projections (synapses, each with a delay in
timesteps), plus the input samples to run. Everything is an integer. This module owns the
data model and its validation; the `.npz` file (DESIGN §3) is :mod:`qsnnsim.workload_file`
(its functions are importable from here too), the builder :mod:`qsnnsim.builder`.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsnnsim import neurons
from qsnnsim._guard import MAX_NAME_CHARS, check_name, text_problem, text_tree_problem
from qsnnsim.errors import WorkloadError

POPULATION_KINDS = ("input", "lif", "readout")
PROJECTION_KINDS = ("conv2d", "linear", "identity", "sumpool2d")
INPUT_KINDS = ("analog", "spikes")
FIRE_CMPS = ("gt", "ge")
RESETS = ("hard", "soft")
ROUNDINGS = ("floor", "toward_zero")

MEMBRANE_BITS_RANGE = (2, 16)
WEIGHT_BITS_RANGE = (1, 16)
ACC_BITS_RANGE = (2, 32)
# |mult| < 2^24 and acc_bits <= 32 keep acc * mult below 2^55, so the sum of up to
# MAX_PROJECTIONS_PER_TARGET scaled inputs plus membrane and bias fits an int64 register.
MULT_LIMIT = 1 << 24
SHIFT_RANGE = (0, 31)
#: Synaptic delay of a projection, in timesteps (DESIGN §2b).
DELAY_RANGE = (0, 255)
MAX_PROJECTIONS_PER_TARGET = 16
INT32_RANGE = (-(1 << 31), (1 << 31) - 1)
# Input limits (values and reasons in docs/input-limits.md).
MAX_POPULATIONS, MAX_PROJECTIONS, MAX_NEURONS_PER_POPULATION = 4096, 16384, 1 << 31
MAX_META_BYTES, MAX_META_DEPTH, MAX_PROVENANCE_BYTES = 16 << 20, 8, 64 << 10


def weight_code_range(weight_bits: int) -> tuple[int, int]:
    """Inclusive range of valid weight codes for a bit width (1 bit means {-1, +1})."""
    if weight_bits == 1:
        return -1, 1
    return -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1


def membrane_limit(membrane_bits: int) -> int:
    """Q = 2^(b-1) - 1: a b-bit membrane is clamped to [-Q, +Q]."""
    return (1 << (membrane_bits - 1)) - 1


@dataclass(frozen=True, eq=False)
class Population:
    """A group of neurons sharing one shape and one neuron model.

    ``kind`` is the population's role: ``input`` (the sample; no state), ``lif`` (spiking
    neurons) or ``readout`` (the output). ``dialect`` names the neuron model
    (:mod:`qsnnsim.neurons`): ``qsnn_lif`` (DESIGN §2, ``membrane_bits`` wide; the default of
    ``lif``), ``loihi_cuba`` or ``xylo_lif`` for a ``lif``, ``readout`` (the same update
    without fire, reset or clamp, in a 64-bit register) for a ``readout``. ``threshold`` and
    ``bias`` are int32 per channel (``None`` for inputs; readouts carry a zero threshold);
    the other dialects' parameters are in ``params`` (name -> int32 per-channel vector, or
    an int for a per-population parameter).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    membrane_bits: int = 8
    decay_mult: int = 1
    decay_shift: int = 1
    rounding: str = "floor"
    fire_cmp: str = "gt"
    reset: str = "hard"
    threshold: np.ndarray | None = None
    bias: np.ndarray | None = None
    dialect: str = ""
    params: dict | None = None

    @property
    def neuron(self):
        """The :class:`~qsnnsim.neurons.base.Dialect` of this population (None for the input)."""
        return neurons.of(self)

    @property
    def n_channels(self) -> int:
        return int(self.shape[0])

    @property
    def n_neurons(self) -> int:
        return math.prod(int(d) for d in self.shape)

    @property
    def plane_size(self) -> int:
        """Neurons per channel (H*W for a (C, H, W) population, 1 for (N,))."""
        return self.n_neurons // self.n_channels

    @property
    def is_spiking(self) -> bool:
        return self.kind == "lif"

    @property
    def spike_max(self) -> int:
        """What one neuron sends in one timestep at most: the input's largest value (analog
        inputs are handled by the caller), 1 for binary spikes, a count for graded ones."""
        return 1 if self.kind == "input" else self.neuron.spike_max


@dataclass(frozen=True, eq=False)
class Projection:
    """Synapses from one source population to one target population (DESIGN §2).

    ``weights`` holds integer codes (int16 in memory whatever ``weight_bits``):
    conv2d (C_out, C_in, kH, kW); linear (C_out, C_in_flat); identity (C,);
    ``None`` for sumpool2d, whose every weight is +1. ``mult`` and ``shift`` are the
    per-target-channel fixed-point scale (int32 arrays of length C_target). For a
    ``linear`` projection, ``global_sum_pool`` sums the (C, H, W) source over H and W
    first, so weights are (C_out, C); this is how a global sum-pool feeds a readout
    without an extra population (``docs/workload-format.md``). ``delay`` (timesteps,
    DESIGN §2b): the source's spikes of t reach the target at t + delay.
    """

    name: str
    kind: str
    source: str
    target: str
    weight_bits: int
    weights: np.ndarray | None
    mult: np.ndarray
    shift: np.ndarray
    acc_bits: int = 24
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    global_sum_pool: bool = False
    delay: int = 0

    @property
    def n_weights(self) -> int:
        """Stored synaptic weight codes (conv kernels once, not per position)."""
        if self.kind in ("conv2d", "linear") and self.weights is not None:
            return int(self.weights.size)
        return 0

    @property
    def acc_range(self) -> tuple[int, int]:
        return -(1 << (self.acc_bits - 1)), (1 << (self.acc_bits - 1)) - 1


@dataclass(frozen=True, eq=False)
class Workload:
    """A whole Q-SNN: populations in topological order, projections, samples, provenance.

    ``samples`` is int8 (N, *input_shape) for an ``analog`` input and uint8 0/1
    (N, T, *input_shape) for ``spikes``. ``labels`` is int64 (N,) or ``None``.
    """

    name: str
    timesteps: int
    input_kind: str
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    samples: np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    provenance: dict = field(default_factory=dict)

    def population(self, name: str) -> Population:
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(name)

    def projections_into(self, name: str) -> tuple[Projection, ...]:
        return tuple(p for p in self.projections if p.target == name)

    def projections_from(self, name: str) -> tuple[Projection, ...]:
        return tuple(p for p in self.projections if p.source == name)

    @property
    def input_population(self) -> Population:
        return next(p for p in self.populations if p.kind == "input")

    @property
    def readout_population(self) -> Population:
        return next(p for p in self.populations if p.kind == "readout")

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    def sample_input(self, index: int) -> np.ndarray:
        """The input of sample ``index`` as int64 (T, *input_shape): analog repeats per step."""
        x = np.asarray(self.samples[index], dtype=np.int64)
        if self.input_kind == "analog":
            return np.broadcast_to(x, (self.timesteps,) + x.shape)
        return x


# --------------------------------------------------------------------------- geometry


def conv_output_hw(
    in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[int, int]:
    """Output (H, W) of a conv/pool window: floor((H + 2p - k) / s) + 1, as PyTorch."""
    out = []
    for size, k, s, p in zip(in_hw, kernel, stride, padding):
        out.append((size + 2 * p - k) // s + 1)
    return out[0], out[1]


def projection_fan_out(proj: Projection, source: Population, target: Population) -> int:
    """Synapses one spike of the source reaches, averaged over source neurons.

    Exact for linear, identity and pooling; for conv2d it is the dense count divided by the
    number of source neurons (positions near a zero-padded border reach fewer targets).
    """
    return dense_synaptic_ops(proj, source, target) // max(1, source.n_neurons)


def dense_synaptic_ops(proj: Projection, source: Population, target: Population) -> int:
    """Synaptic operations of the projection if every source neuron spiked once.

    conv2d counts C_out * C_in * kH * kW * H_out * W_out (the convention of SNN papers,
    padding included); linear counts its weight matrix (times H*W with a global sum-pool);
    identity counts one per target neuron; sumpool2d counts kernel area per target neuron.
    """
    if proj.kind == "conv2d":
        c_out, c_in, kh, kw = proj.weights.shape
        return int(c_out * c_in * kh * kw * target.plane_size)
    if proj.kind == "linear":
        n = int(proj.weights.size)
        return n * source.plane_size if proj.global_sum_pool else n
    if proj.kind == "identity":
        return target.n_neurons
    return target.n_neurons * proj.kernel[0] * proj.kernel[1]


# --------------------------------------------------------------------------- validation


def _err(file: str, fld: str, problem: str, fix: str = "") -> WorkloadError:
    return WorkloadError(file, fld, problem, fix)


def _check_int(file: str, fld: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _err(file, fld, f"must be an integer (got {value!r})")
    if not lo <= int(value) <= hi:
        raise _err(file, fld, f"must be in {lo}..{hi} (got {value})")
    return int(value)


def _check_choice(file: str, fld: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _err(file, fld, f"must be one of {', '.join(choices)} (got {value!r})")
    return value


def _check_vector_shape(file: str, fld: str, shape: tuple[int, ...], length: int) -> None:
    if tuple(shape) != (length,):
        raise _err(file, fld, f"shape {tuple(shape)} does not match the {length} channels it scales", "one value per channel")


def _check_vector(file: str, fld: str, arr: Any, length: int, lo: int, hi: int) -> np.ndarray:
    arr = np.asarray(arr)
    _check_vector_shape(file, fld, arr.shape, length)
    if arr.dtype.kind not in "iu":
        raise _err(file, fld, f"must be integers (got dtype {arr.dtype})")
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise _err(file, fld, f"values must be in {lo}..{hi} (got {int(arr.min())}..{int(arr.max())})")
    return arr.astype(np.int32)


def _check_pair(file: str, fld: str, value: Any, lo: int) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _err(file, fld, f"must be an integer or a pair of integers (got {value!r})")
    return (_check_int(file, fld, value[0], lo, 1 << 16), _check_int(file, fld, value[1], lo, 1 << 16))


def validate_population(pop: Population, file: str = "<workload>") -> Population:
    """Check one population's fields and normalise array dtypes; returns a new Population."""
    check_name(file, "populations", pop.name, WorkloadError, "a population name")
    fld = f"populations.{pop.name}"
    _check_choice(file, fld + ".kind", pop.kind, POPULATION_KINDS)
    shape = tuple(pop.shape)
    if len(shape) not in (1, 3) or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
        raise _err(file, fld + ".shape", f"must be (C, H, W) or (N,) of positive integers (got {pop.shape!r})")
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) > MAX_NEURONS_PER_POPULATION:
        raise _err(file, fld + ".shape", f"{shape} holds {math.prod(shape):,} neurons (at most "
                   f"{MAX_NEURONS_PER_POPULATION:,})", "split the population")
    if pop.kind == "input":
        return Population(name=pop.name, kind="input", shape=shape)
    allowed = neurons.READOUT_DIALECTS if pop.kind == "readout" else neurons.SPIKING_DIALECTS
    dialect = _check_choice(file, fld + ".dialect", pop.dialect or allowed[0], allowed)
    params = _check_params(file, fld, neurons.dialect(dialect), pop.params, shape[0])
    bits = _check_int(file, fld + ".membrane_bits", pop.membrane_bits, *MEMBRANE_BITS_RANGE)
    _check_int(file, fld + ".decay_mult", pop.decay_mult, -(1 << 16), 1 << 16)
    _check_int(file, fld + ".decay_shift", pop.decay_shift, *SHIFT_RANGE)
    _check_choice(file, fld + ".rounding", pop.rounding, ROUNDINGS)
    _check_choice(file, fld + ".fire_cmp", pop.fire_cmp, FIRE_CMPS)
    _check_choice(file, fld + ".reset", pop.reset, RESETS)
    c = shape[0]
    threshold = pop.threshold if pop.threshold is not None else np.zeros(c, np.int32)
    bias = pop.bias if pop.bias is not None else np.zeros(c, np.int32)
    threshold = _check_vector(file, fld + ".threshold", threshold, c, *INT32_RANGE)
    bias = _check_vector(file, fld + ".bias", bias, c, *INT32_RANGE)
    return Population(
        name=pop.name,
        kind=pop.kind,
        shape=shape,
        membrane_bits=bits,
        decay_mult=int(pop.decay_mult),
        decay_shift=int(pop.decay_shift),
        rounding=pop.rounding,
        fire_cmp=pop.fire_cmp,
        reset=pop.reset,
        threshold=threshold,
        bias=bias,
        dialect=dialect,
        params=params,
    )


def _check_params(file: str, fld: str, spec, params: dict | None, n_channels: int) -> dict | None:
    """A dialect's parameters: exactly the spec's names, each in its range (None if it has none)."""
    if not spec.params:
        if params:
            raise _err(file, fld + ".params", f"the {spec.name} dialect takes no params (got {', '.join(map(str, params))})",
                       "set its fields (threshold, bias, membrane_bits, ...) instead")
        return None
    params = dict(params or {})
    names = [p.name for p in spec.params]
    unknown = sorted(set(map(str, params)) - set(names))
    if unknown:
        raise _err(file, f"{fld}.params.{unknown[0]}", f"is not a parameter of the {spec.name} dialect",
                   f"use {', '.join(names)}")
    checked = {}
    for p in spec.params:
        if p.name not in params and p.default is not None:
            params[p.name] = p.default
        if p.name not in params:
            raise _err(file, f"{fld}.params.{p.name}", "is missing", f"give it ({p.meaning}; {p.lo}..{p.hi})")
        value = params[p.name]
        if p.per_population:
            checked[p.name] = _check_int(file, f"{fld}.params.{p.name}", value, p.lo, p.hi)
        else:
            if np.ndim(value) == 0 and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                value = np.full(n_channels, int(value), np.int64)
            checked[p.name] = _check_vector(file, f"{fld}.params.{p.name}", value, n_channels, p.lo, p.hi)
    return checked


def validate_projection(proj: Projection, pops: dict[str, Population], file: str = "<workload>") -> Projection:
    """Check one projection against its source and target; returns a normalised copy."""
    check_name(file, "projections", proj.name, WorkloadError, "a projection name")
    fld = f"projections.{proj.name}"
    _check_choice(file, fld + ".kind", proj.kind, PROJECTION_KINDS)
    for end in ("source", "target"):
        name = getattr(proj, end)
        if name not in pops:
            raise _err(file, f"{fld}.{end}", f"names unknown population {name!r}", "declare the population first")
    src, tgt = pops[proj.source], pops[proj.target]
    if tgt.kind == "input":
        raise _err(file, fld + ".target", f"{tgt.name!r} is an input population", "project into a lif or readout population")
    if src.kind == "readout":
        raise _err(file, fld + ".source", f"{src.name!r} is a readout and does not spike", "project from an input or lif population")
    bits = _check_int(file, fld + ".weight_bits", proj.weight_bits, *WEIGHT_BITS_RANGE)
    acc_bits = _check_int(file, fld + ".acc_bits", proj.acc_bits, *ACC_BITS_RANGE)
    delay = _check_int(file, fld + ".delay", proj.delay, *DELAY_RANGE)
    kernel = _check_pair(file, fld + ".kernel", proj.kernel, 1)
    stride = _check_pair(file, fld + ".stride", proj.stride, 1)
    padding = _check_pair(file, fld + ".padding", proj.padding, 0)
    c_t = tgt.n_channels
    mult = _check_vector(file, fld + ".mult", proj.mult, c_t, -MULT_LIMIT + 1, MULT_LIMIT - 1)
    shift_in = proj.shift
    if isinstance(shift_in, (int, np.integer)) and not isinstance(shift_in, bool):
        shift_in = np.full(c_t, int(shift_in), np.int64)
    shift = _check_vector(file, fld + ".shift", shift_in, c_t, *SHIFT_RANGE)
    weights = None if proj.weights is None else np.asarray(proj.weights)
    kind = proj.kind
    if kind in ("conv2d", "sumpool2d"):
        if len(src.shape) != 3 or len(tgt.shape) != 3:
            raise _err(file, fld, f"{kind} needs (C, H, W) source and target (got {src.shape} -> {tgt.shape})")
    if kind == "conv2d":
        if weights is None or weights.ndim != 4:
            raise _err(file, fld + ".weights", "conv2d needs weights of shape (C_out, C_in, kH, kW)")
        kernel = (int(weights.shape[2]), int(weights.shape[3]))
        if weights.shape[:2] != (tgt.shape[0], src.shape[0]):
            raise _err(
                file, fld + ".weights",
                f"shape {weights.shape} does not match {src.name} {src.shape} -> {tgt.name} {tgt.shape}",
                "weights must be (C_out, C_in, kH, kW)",
            )
    elif kind == "sumpool2d":
        if weights is not None:
            raise _err(file, fld + ".weights", "sumpool2d has no weight array (every weight is +1)")
        if src.shape[0] != tgt.shape[0]:
            raise _err(file, fld, f"sumpool2d keeps channels ({src.shape} -> {tgt.shape})")
    elif kind == "linear":
        c_in = src.shape[0] if proj.global_sum_pool else src.n_neurons
        if weights is None or weights.shape != (tgt.n_neurons, c_in):
            got = None if weights is None else weights.shape
            raise _err(
                file, fld + ".weights",
                f"shape {got} does not match {src.name} {src.shape} -> {tgt.name} {tgt.shape}",
                f"linear weights must be ({tgt.n_neurons}, {c_in})",
            )
        if len(tgt.shape) != 1:
            raise _err(file, fld + ".target", f"linear needs an (N,) target (got {tgt.shape})")
    elif kind == "identity":
        if src.shape != tgt.shape:
            raise _err(file, fld, f"identity needs equal shapes ({src.shape} -> {tgt.shape})")
        if weights is None or weights.shape != (tgt.n_channels,):
            got = None if weights is None else weights.shape
            raise _err(file, fld + ".weights", f"shape {got} must be ({tgt.n_channels},): one code per channel")
    if proj.global_sum_pool and (kind != "linear" or len(src.shape) != 3):
        raise _err(file, fld + ".global_sum_pool", "only a linear projection from a (C, H, W) source can pool globally")
    if kind in ("conv2d", "sumpool2d"):
        out_hw = conv_output_hw(src.shape[1:], kernel, stride, padding)
        if out_hw != tgt.shape[1:] or min(out_hw) < 1:
            raise _err(
                file, fld,
                f"{kind} with kernel {kernel}, stride {stride}, padding {padding} maps {src.shape[1:]} to {out_hw}, "
                f"but {tgt.name} is {tgt.shape[1:]}",
            )
    if weights is not None:
        if weights.dtype.kind not in "iu":
            raise _err(file, fld + ".weights", f"must be integer codes (got dtype {weights.dtype})")
        lo, hi = weight_code_range(bits)
        if weights.size and (int(weights.min()) < lo or int(weights.max()) > hi):
            raise _err(
                file, fld + ".weights",
                f"code out of range for {bits}-bit weights: {int(weights.min())}..{int(weights.max())} not in {lo}..{hi}",
                "re-export with codes in range",
            )
        if bits == 1 and weights.size and np.any(weights == 0):
            raise _err(file, fld + ".weights", "1-bit codes must be -1 or +1 (found 0)")
        weights = weights.astype(np.int16)
        weights.setflags(write=False)
    return Projection(
        name=proj.name, kind=kind, source=proj.source, target=proj.target, weight_bits=bits,
        weights=weights, mult=mult, shift=shift, acc_bits=acc_bits, kernel=kernel, stride=stride,
        padding=padding, global_sum_pool=bool(proj.global_sum_pool), delay=delay,
    )


def _zero_delay_path(projs: list, start: str, goal: str) -> list | None:
    """Population names of a path of delay-0 projections from ``start`` to ``goal``, or None."""
    succ = collections.defaultdict(list)
    for p in projs:
        if p.delay == 0:
            succ[p.source].append(p.target)
    parent = {start: None}
    queue = collections.deque([start])
    while queue:
        name = queue.popleft()
        if name == goal:
            path = []
            while name is not None:
                path.append(name)
                name = parent[name]
            return path[::-1]
        for nxt in succ[name]:
            if nxt not in parent:
                parent[nxt] = name
                queue.append(nxt)
    return None


def validate_workload(wl: Workload, file: str = "<workload>") -> Workload:
    """Check the whole graph (names, topology, shapes, codes, samples); returns a normalised copy."""
    if not isinstance(wl.timesteps, (int, np.integer)) or isinstance(wl.timesteps, bool) or not 1 <= wl.timesteps <= 4096:
        raise _err(file, "timesteps", f"must be an integer in 1..4096 (got {wl.timesteps!r})")
    _check_choice(file, "input_kind", wl.input_kind, INPUT_KINDS)
    if not isinstance(wl.name, str) or text_problem(wl.name, max_chars=MAX_NAME_CHARS):
        check_name(file, "name", wl.name, WorkloadError, "the workload name")
    for what, items, limit in (("populations", wl.populations, MAX_POPULATIONS),
                               ("projections", wl.projections, MAX_PROJECTIONS)):
        if len(items) > limit:
            raise _err(file, what, f"lists {len(items):,} {what} (at most {limit:,})",
                       "split the network, or see docs/input-limits.md")
    pops: dict[str, Population] = {}
    for pop in wl.populations:
        if pop.name in pops:
            raise _err(file, f"populations.{pop.name}", "name used twice", "give every population its own name")
        pops[pop.name] = validate_population(pop, file)
    kinds = [p.kind for p in pops.values()]
    if kinds.count("input") != 1:
        raise _err(file, "populations", f"needs exactly one input population (found {kinds.count('input')})")
    if kinds.count("readout") != 1:
        raise _err(file, "populations", f"needs exactly one readout population (found {kinds.count('readout')})")
    order = {name: i for i, name in enumerate(pops)}
    projs: list[Projection] = []
    seen: set[str] = set()
    for proj in wl.projections:
        if proj.name in seen:
            raise _err(file, f"projections.{proj.name}", "name used twice", "give every projection its own name")
        seen.add(proj.name)
        checked = validate_projection(proj, pops, file)
        projs.append(checked)
    for proj in projs:
        # Without a delay a projection delivers within the timestep, so the delay-0 graph must be
        # acyclic and listed in order; a delayed projection may close a cycle (DESIGN §2b).
        if proj.delay == 0 and order[proj.source] >= order[proj.target]:
            cycle = _zero_delay_path(projs, proj.target, proj.source)
            if cycle is not None:
                raise _err(file, f"projections.{proj.name}",
                           f"closes the cycle {' -> '.join(cycle + [proj.target])} with no delay",
                           "give one projection of the cycle a delay >= 1, DESIGN §2b")
            raise _err(
                file, f"projections.{proj.name}",
                f"goes from {proj.source!r} to {proj.target!r}, which is not later in topological order",
                "list populations so that every projection without a delay points forward",
            )
    n_into = collections.Counter(p.target for p in projs)
    for pop in pops.values():
        n_in = n_into[pop.name]
        if pop.kind != "input" and n_in == 0:
            raise _err(file, f"populations.{pop.name}", "has no incoming projection", "connect it or remove it")
        if n_in > MAX_PROJECTIONS_PER_TARGET:
            raise _err(file, f"populations.{pop.name}", f"has {n_in} incoming projections (at most {MAX_PROJECTIONS_PER_TARGET})")
    in_pop = next(p for p in pops.values() if p.kind == "input")
    samples = np.asarray(wl.samples)
    if wl.input_kind == "analog":
        want = (samples.shape[0],) + in_pop.shape if samples.ndim >= 1 else None
        if samples.ndim != 1 + len(in_pop.shape) or samples.shape != want:
            raise _err(file, "samples", f"shape {samples.shape} does not match (N,) + input shape {in_pop.shape}")
        if samples.dtype != np.int8:
            if samples.dtype.kind not in "iu" or (samples.size and (samples.min() < -128 or samples.max() > 127)):
                raise _err(file, "samples", f"analog samples must be int8 (got {samples.dtype})")
            samples = samples.astype(np.int8)
    else:
        want = (samples.shape[0], int(wl.timesteps)) + in_pop.shape if samples.ndim >= 1 else None
        if samples.ndim != 2 + len(in_pop.shape) or samples.shape != want:
            raise _err(file, "samples", f"shape {samples.shape} does not match (N, T={wl.timesteps}) + input shape {in_pop.shape}")
        if samples.dtype.kind not in "iub" or (samples.size and (samples.min() < 0 or samples.max() > 1)):
            raise _err(file, "samples", "spike samples must be 0/1")
        samples = samples.astype(np.uint8)
    if samples.shape[0] < 1:
        raise _err(file, "samples", "holds no sample", "include at least one input sample")
    samples.setflags(write=False)
    labels = None
    if wl.labels is not None:
        labels = np.asarray(wl.labels)
        if labels.shape != (samples.shape[0],) or labels.dtype.kind not in "iu":
            raise _err(file, "labels", f"must be {samples.shape[0]} integers, one per sample (got {labels.shape} {labels.dtype})")
        labels = labels.astype(np.int64)
        n_out = next(p for p in pops.values() if p.kind == "readout").n_neurons
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= n_out):
            raise _err(file, "labels", f"must be class indices 0..{n_out - 1} of the readout "
                       f"(got {int(labels.min())}..{int(labels.max())})", "re-export with valid labels")
    class_names = None
    if wl.class_names is not None:
        class_names = tuple(str(c) for c in wl.class_names)
        for i, c in enumerate(class_names):
            check_name(file, f"class_names[{i}]", c, WorkloadError, "a class name")
        n_out = next(p for p in pops.values() if p.kind == "readout").n_neurons
        if len(class_names) != n_out:
            raise _err(file, "class_names", f"has {len(class_names)} names for {n_out} readout neurons")
    found = text_tree_problem(dict(wl.provenance), "meta.provenance")
    if found:
        raise _err(file, found[0], found[1], "write provenance in printable text (docs/input-limits.md)")
    return Workload(
        name=str(wl.name), timesteps=int(wl.timesteps), input_kind=wl.input_kind,
        populations=tuple(pops.values()), projections=tuple(projs), samples=samples,
        labels=labels, class_names=class_names, provenance=dict(wl.provenance),
    )


#: What the file module (qsnnsim.workload_file) provides under this module's name as well.
_FILE_NAMES = ("load_workload", "save_workload", "workload_to_arrays", "FORMAT_NAME", "FORMAT_VERSION",
               "SUPPORTED_VERSIONS")


def __getattr__(name: str):
    # The builder lives in its own module (qsnnsim.builder); importing it lazily here keeps
    # `from qsnnsim.workload import WorkloadBuilder` working without an import cycle.
    if name == "WorkloadBuilder":
        from qsnnsim.builder import WorkloadBuilder

        return WorkloadBuilder
    if name in _FILE_NAMES:
        from qsnnsim import workload_file

        return getattr(workload_file, name)
    raise AttributeError(f"module 'qsnnsim.workload' has no attribute {name!r}")
