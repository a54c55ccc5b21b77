"""Workload stage: the Q-SNN graph of DESIGN.md §2 and its `.npz` file format v1 (§3).

A :class:`Workload` is a frozen description of populations (neuron groups with one
shape) joined by projections (synapses), plus the input samples to run. Everything is an
integer. This module owns the data model, its validation, the builder used by tests,
generators, importers and the trainer's exporter, and the `.npz` reader/writer
(``allow_pickle=False``; 1-bit weight codes bit-packed). The file format is specified in
``docs/workload-format.md``; a change to it changes ``FORMAT_VERSION``.
"""

from __future__ import annotations

import collections
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsnnsim._atomic import atomic_write
from qsnnsim._guard import MAX_NAME_CHARS, check_name, loads_json, text_problem, text_tree_problem
from qsnnsim._npz import NpzEntries, open_npz
from qsnnsim.errors import WorkloadError

FORMAT_NAME = "qsnnsim-workload"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)

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

    ``kind`` is ``input`` (the sample; no state), ``lif`` (the integer LIF of DESIGN §2,
    ``membrane_bits`` wide) or ``readout`` (same update without fire, reset or clamp,
    in a 64-bit register; its final value is the output). ``threshold`` and ``bias``
    are int32 per channel (``None`` for inputs; readouts carry a zero threshold).
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


@dataclass(frozen=True, eq=False)
class Projection:
    """Synapses from one source population to one target population (DESIGN §2).

    ``weights`` holds integer codes (int16 in memory whatever ``weight_bits``):
    conv2d (C_out, C_in, kH, kW); linear (C_out, C_in_flat); identity (C,);
    ``None`` for sumpool2d, whose every weight is +1. ``mult`` and ``shift`` are the
    per-target-channel fixed-point scale (int32 arrays of length C_target). For a
    ``linear`` projection, ``global_sum_pool`` sums the (C, H, W) source over H and W
    first, so weights are (C_out, C); this is how a global sum-pool feeds a readout
    without an extra population (``docs/workload-format.md``).
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
    )


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
        padding=padding, global_sum_pool=bool(proj.global_sum_pool),
    )


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
        if order[checked.source] >= order[checked.target]:
            raise _err(
                file, f"projections.{proj.name}",
                f"goes from {checked.source!r} to {checked.target!r}, which is not later in topological order",
                "list populations so that every projection points forward (graphs are acyclic)",
            )
        projs.append(checked)
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


def __getattr__(name: str):
    # The builder lives in its own module (qsnnsim.builder); importing it lazily here keeps
    # `from qsnnsim.workload import WorkloadBuilder` working without an import cycle.
    if name == "WorkloadBuilder":
        from qsnnsim.builder import WorkloadBuilder

        return WorkloadBuilder
    raise AttributeError(f"module 'qsnnsim.workload' has no attribute {name!r}")


# --------------------------------------------------------------------------- .npz v1


def _pack_codes(weights: np.ndarray) -> np.ndarray:
    """1-bit codes {-1,+1} -> bits {0,1} packed MSB-first, C order (np.packbits)."""
    return np.packbits((weights.ravel() > 0).astype(np.uint8))


def _unpack_codes(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    bits = np.unpackbits(packed, count=n)
    return (bits.astype(np.int16) * 2 - 1).reshape(shape)


def _storage_dtype(weight_bits: int):
    return np.int8 if weight_bits <= 8 else np.int16


def workload_to_arrays(wl: Workload) -> dict[str, np.ndarray]:
    """The npz entries of a workload: ``meta`` (UTF-8 JSON as uint8) plus named arrays."""
    arrays: dict[str, np.ndarray] = {}
    pops_meta = []
    for i, pop in enumerate(wl.populations):
        entry: dict[str, Any] = {"name": pop.name, "kind": pop.kind, "shape": list(pop.shape)}
        if pop.kind != "input":
            entry.update(
                membrane_bits=pop.membrane_bits, decay_mult=pop.decay_mult, decay_shift=pop.decay_shift,
                rounding=pop.rounding, fire_cmp=pop.fire_cmp, reset=pop.reset,
                threshold=f"pop{i}.threshold", bias=f"pop{i}.bias",
            )
            arrays[f"pop{i}.threshold"] = pop.threshold.astype(np.int32)
            arrays[f"pop{i}.bias"] = pop.bias.astype(np.int32)
        pops_meta.append(entry)
    projs_meta = []
    for i, proj in enumerate(wl.projections):
        entry = {
            "name": proj.name, "kind": proj.kind, "source": proj.source, "target": proj.target,
            "weight_bits": proj.weight_bits, "acc_bits": proj.acc_bits, "kernel": list(proj.kernel),
            "stride": list(proj.stride), "padding": list(proj.padding),
            "global_sum_pool": proj.global_sum_pool, "mult": f"proj{i}.mult", "shift": f"proj{i}.shift",
            "weights": None,
        }
        arrays[f"proj{i}.mult"] = proj.mult.astype(np.int32)
        arrays[f"proj{i}.shift"] = proj.shift.astype(np.int32)
        if proj.weights is not None:
            key = f"proj{i}.weights"
            entry["weights"] = key
            entry["weights_shape"] = list(proj.weights.shape)
            if proj.weight_bits == 1:
                entry["weights_packed"] = True
                arrays[key] = _pack_codes(proj.weights)
            else:
                entry["weights_packed"] = False
                arrays[key] = proj.weights.astype(_storage_dtype(proj.weight_bits))
        projs_meta.append(entry)
    in_pop = wl.input_population
    if wl.input_kind == "spikes":
        arrays["samples"] = np.packbits(wl.samples.astype(np.uint8).ravel())
        samples_meta = {"entry": "samples", "packed": True, "shape": list(wl.samples.shape)}
    else:
        arrays["samples"] = wl.samples.astype(np.int8)
        samples_meta = {"entry": "samples", "packed": False, "shape": list(wl.samples.shape)}
    if wl.labels is not None:
        arrays["labels"] = wl.labels.astype(np.int64)
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": wl.name,
        "timesteps": wl.timesteps,
        "input_kind": wl.input_kind,
        "input_population": in_pop.name,
        "populations": pops_meta,
        "projections": projs_meta,
        "samples": samples_meta,
        "labels": "labels" if wl.labels is not None else None,
        "class_names": list(wl.class_names) if wl.class_names is not None else None,
        "provenance": wl.provenance,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return arrays


def save_workload(wl: Workload, path: str | os.PathLike) -> None:
    """Write ``wl`` as a v1 ``.npz`` atomically (temp file in the same folder, then rename)."""
    path = os.fspath(path)
    arrays = workload_to_arrays(validate_workload(wl, path))
    with atomic_write(path, "wb", suffix=".npz") as fh:
        np.savez_compressed(fh, **arrays)


def _meta_get(meta: dict, key: str, fld: str, file: str, kind=None):
    if key not in meta:
        raise _err(file, fld, "is missing", "re-export the workload")
    value = meta[key]
    if kind is not None and not isinstance(value, kind):
        raise _err(file, fld, f"has the wrong type (got {type(value).__name__})")
    return value


def load_workload(path: str | os.PathLike) -> Workload:
    """Read and validate a workload ``.npz`` (never unpickles). Raises WorkloadError."""
    file = os.fspath(path)
    with open_npz(file) as entries:
        try:
            return _workload_from_npz(entries, file)
        except MemoryError:
            # Last resort: every entry's size is checked against its zip member before it is
            # read, but a workload can still be larger than this machine's free memory.
            raise _err(file, "", "needs more memory than is free to load",
                       "free memory or load a smaller workload") from None


def _workload_from_npz(entries: NpzEntries, file: str) -> Workload:
    raw = entries.get("meta", "meta", entries.size_check("meta", MAX_META_BYTES))
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _err(file, "meta", f"must be UTF-8 JSON bytes (got {raw.shape} {raw.dtype})", "re-export the workload")
    meta = loads_json(raw.tobytes(), file=file, fld="meta", error=WorkloadError, max_depth=MAX_META_DEPTH,
                      fix="re-export the workload", label="UTF-8 JSON")
    if not isinstance(meta, dict):
        raise _err(file, "meta", "must be a JSON object")
    if meta.get("format") != FORMAT_NAME:
        raise _err(file, "meta.format", f"is {meta.get('format')!r}, not {FORMAT_NAME!r}", "this is not a qsnnsim workload")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
        raise _err(file, "meta.version", f"is {version!r}; this qsnnsim reads versions {', '.join(map(str, SUPPORTED_VERSIONS))}",
                   "re-export with this version of qsnnsim")
    return _workload_from_meta(meta, entries, file)


def _n_channels(shape: Any) -> int | None:
    """C of a meta shape [C, ...] of positive integers; None if the shape is malformed (validation says so later)."""
    if not isinstance(shape, (list, tuple)) or not shape:
        return None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        return None
    return shape[0]


def _vector_check(file: str, fld: str, length: int | None):
    """A header check for a per-channel vector entry, or None if meta does not say how long it is."""
    if length is None:
        return None
    return lambda shape, dtype: _check_vector_shape(file, fld, shape, length)


def _weights_check(file: str, key: str, wshape: tuple[int, ...], packed: bool):
    """The header check of a weight entry: packed bytes for 1-bit codes, else exactly weights_shape."""

    def check(shape, dtype):
        if packed:
            need = math.ceil(math.prod(wshape) / 8)
            if dtype != np.uint8 or shape != (need,):
                raise _err(file, key, f"packed 1-bit weights need {need} bytes for shape {list(wshape)} (got {shape} {dtype})",
                           "re-export the workload")
        elif shape != wshape:
            raise _err(file, key, f"shape {shape} does not match weights_shape {list(wshape)} in meta",
                       "re-export the workload")

    return check


def _meta_list(meta: dict, key: str, file: str, limit: int) -> list:
    items = _meta_get(meta, key, f"meta.{key}", file, list)
    if len(items) > limit:
        raise _err(file, f"meta.{key}", f"lists {len(items):,} {key} (at most {limit:,})",
                   "split the network, or see docs/input-limits.md")
    return items


def _workload_from_meta(meta: dict, entries: NpzEntries, file: str) -> Workload:
    pops = []
    for i, p in enumerate(_meta_list(meta, "populations", file, MAX_POPULATIONS)):
        fld = f"meta.populations[{i}]"
        if not isinstance(p, dict):
            raise _err(file, fld, "must be an object")
        name = check_name(file, fld + ".name", _meta_get(p, "name", fld + ".name", file, str), WorkloadError,
                          "a population name")
        fld = f"populations.{name}"
        kind = _meta_get(p, "kind", fld + ".kind", file, str)
        shape = tuple(_meta_get(p, "shape", fld + ".shape", file, list))
        if kind == "input":
            pops.append(Population(name=name, kind=kind, shape=shape))
            continue
        c = _n_channels(p["shape"])
        pops.append(Population(
            name=name, kind=kind, shape=shape,
            membrane_bits=_meta_get(p, "membrane_bits", fld + ".membrane_bits", file),
            decay_mult=_meta_get(p, "decay_mult", fld + ".decay_mult", file),
            decay_shift=_meta_get(p, "decay_shift", fld + ".decay_shift", file),
            rounding=_meta_get(p, "rounding", fld + ".rounding", file),
            fire_cmp=_meta_get(p, "fire_cmp", fld + ".fire_cmp", file),
            reset=_meta_get(p, "reset", fld + ".reset", file),
            threshold=entries.get(_meta_get(p, "threshold", fld + ".threshold", file), fld + ".threshold",
                                  _vector_check(file, fld + ".threshold", c)),
            bias=entries.get(_meta_get(p, "bias", fld + ".bias", file), fld + ".bias",
                             _vector_check(file, fld + ".bias", c)),
        ))
    # Channels of each population, to check mult and shift headers (None for a name used twice).
    uses = collections.Counter(pop.name for pop in pops)
    channels = {pop.name: _n_channels(list(pop.shape)) if uses[pop.name] == 1 else None for pop in pops}
    projs = []
    for i, p in enumerate(_meta_list(meta, "projections", file, MAX_PROJECTIONS)):
        fld = f"meta.projections[{i}]"
        if not isinstance(p, dict):
            raise _err(file, fld, "must be an object")
        name = check_name(file, fld + ".name", _meta_get(p, "name", fld + ".name", file, str), WorkloadError,
                          "a projection name")
        fld = f"projections.{name}"
        target = p.get("target")
        c_t = channels.get(target) if isinstance(target, str) else None
        weights = None
        wkey = p.get("weights")
        if wkey is not None:
            wshape = tuple(_meta_get(p, "weights_shape", fld + ".weights_shape", file, list))
            if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in wshape):
                raise _err(file, fld + ".weights_shape", f"must be non-negative integers (got {list(wshape)})")
            packed = _meta_get(p, "weights_packed", fld + ".weights_packed", file, bool)
            if packed != (p.get("weight_bits") == 1):
                raise _err(file, fld + ".weights_packed", f"is {packed} for {p.get('weight_bits')!r}-bit weights; "
                           "1-bit codes are always bit-packed and wider codes never are", "re-export the workload")
            arr = entries.get(wkey, fld + ".weights", _weights_check(file, wkey, wshape, packed))
            if packed:
                entries.reserve(wkey, 3 * math.prod(wshape))  # unpacked bits (uint8), then int16 codes
                weights = _unpack_codes(arr, wshape)
            else:
                weights = arr
        projs.append(Projection(
            name=name, kind=_meta_get(p, "kind", fld + ".kind", file, str),
            source=_meta_get(p, "source", fld + ".source", file, str),
            target=_meta_get(p, "target", fld + ".target", file, str),
            weight_bits=_meta_get(p, "weight_bits", fld + ".weight_bits", file),
            weights=weights,
            mult=entries.get(_meta_get(p, "mult", fld + ".mult", file), fld + ".mult",
                             _vector_check(file, fld + ".mult", c_t)),
            shift=entries.get(_meta_get(p, "shift", fld + ".shift", file), fld + ".shift",
                              _vector_check(file, fld + ".shift", c_t)),
            acc_bits=_meta_get(p, "acc_bits", fld + ".acc_bits", file),
            kernel=tuple(_meta_get(p, "kernel", fld + ".kernel", file, list)),
            stride=tuple(_meta_get(p, "stride", fld + ".stride", file, list)),
            padding=tuple(_meta_get(p, "padding", fld + ".padding", file, list)),
            global_sum_pool=_meta_get(p, "global_sum_pool", fld + ".global_sum_pool", file, bool),
        ))
    sm = _meta_get(meta, "samples", "meta.samples", file, dict)
    sshape = tuple(_meta_get(sm, "shape", "meta.samples.shape", file, list))
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sshape):
        raise _err(file, "meta.samples.shape", f"must be non-negative integers (got {list(sshape)})")
    skey = _meta_get(sm, "entry", "meta.samples.entry", file, str)
    spacked = _meta_get(sm, "packed", "meta.samples.packed", file, bool)

    def check_samples(shape, dtype):
        if spacked:
            need = math.ceil(math.prod(sshape) / 8)
            if dtype != np.uint8 or shape != (need,):
                raise _err(file, "samples", f"packed spike samples need {need} bytes for shape {list(sshape)} (got {shape})",
                           "re-export the workload")
        elif shape != sshape:
            raise _err(file, "samples", f"shape {shape} does not match {list(sshape)} in meta", "re-export the workload")

    sarr = entries.get(skey, "meta.samples.entry", check_samples)
    if spacked:
        entries.reserve(skey, math.prod(sshape))
    samples = np.unpackbits(sarr, count=math.prod(sshape)).reshape(sshape) if spacked else sarr
    labels_key = meta.get("labels")

    def check_labels(shape, dtype):
        if sshape and shape != sshape[:1]:
            raise _err(file, "labels", f"must be {sshape[0]} integers, one per sample (got {shape} {dtype})")

    labels = entries.get(labels_key, "meta.labels", check_labels) if labels_key is not None else None
    class_names = meta.get("class_names")
    if class_names is not None and (not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names)):
        raise _err(file, "class_names", f"must be a list of strings, one per readout neuron (got {class_names!r})")
    provenance = meta.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise _err(file, "meta.provenance", "must be a JSON object")
    n_prov = len(json.dumps(provenance))
    if n_prov > MAX_PROVENANCE_BYTES:
        raise _err(file, "meta.provenance", f"is {n_prov:,} bytes of JSON (at most {MAX_PROVENANCE_BYTES:,})",
                   "keep provenance to a short record of where the workload comes from")
    wl = Workload(
        name=str(meta.get("name", os.path.splitext(os.path.basename(file))[0])),
        timesteps=_meta_get(meta, "timesteps", "meta.timesteps", file),
        input_kind=_meta_get(meta, "input_kind", "meta.input_kind", file, str),
        populations=tuple(pops), projections=tuple(projs), samples=samples, labels=labels,
        class_names=class_names, provenance=provenance,
    )
    return validate_workload(wl, file)
