"""The integers of a folded network (:class:`IntNet`), shared by integer inference and export.

:mod:`.fold` produces an IntNet from a trained model; :mod:`.inference` runs it in torch
int64; :mod:`.export` writes it as a workload. Both consumers read these same arrays, so
the workload holds exactly the numbers the trainer's integer inference used. The fields
mean what DESIGN §2 says (``mult``, ``shift``, ``acc_bits``, ``threshold``, ``bias``);
arrays are numpy int64. :func:`intnet_from_workload` reads a shipped workload back, for
re-running the trainer's integer inference on it.

Also here, because fold and tests both need them: :func:`to_fixed_point` (a real
per-channel factor as ``mult / 2^shift``) and :func:`accumulator_bits` (the narrowest
accumulator that cannot saturate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnnsim.train.config import TrainError
from qsnnsim.workload import MULT_LIMIT, SHIFT_RANGE, Workload

MAX_ACC_BITS = 32
INT8_INPUT_MAX_ABS = 128


@dataclass(frozen=True, eq=False)
class IntPopulation:
    """A population: ``kind`` is ``input``, ``lif`` or ``readout``; per-channel int64 vectors."""

    name: str
    kind: str
    shape: tuple[int, ...]
    membrane_bits: int = 16
    threshold: np.ndarray | None = None
    bias: np.ndarray | None = None
    decay_mult: int = 1
    decay_shift: int = 1

    @property
    def n_channels(self) -> int:
        return int(self.shape[0])


@dataclass(frozen=True, eq=False)
class IntProjection:
    """A projection: integer weight codes (int64; ``None`` for sumpool2d) and its scale."""

    name: str
    kind: str
    source: str
    target: str
    weight_bits: int
    weights: np.ndarray | None
    mult: np.ndarray
    shift: np.ndarray
    acc_bits: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    global_sum_pool: bool = False


@dataclass(frozen=True, eq=False)
class IntNet:
    """A whole integer network (populations in topological order).

    ``input_kind`` is ``analog`` (int8 samples (N, *shape), the same at every timestep) or
    ``spikes`` (0/1 samples (N, T, *shape), as the workload stores them).
    """

    name: str
    timesteps: int
    populations: tuple[IntPopulation, ...]
    projections: tuple[IntProjection, ...]
    class_names: tuple[str, ...] | None = None
    input_kind: str = "analog"

    def pop(self, name: str) -> IntPopulation:
        return next(p for p in self.populations if p.name == name)

    def projections_into(self, name: str) -> tuple[IntProjection, ...]:
        return tuple(p for p in self.projections if p.target == name)

    @property
    def input_population(self) -> IntPopulation:
        return next(p for p in self.populations if p.kind == "input")

    @property
    def readout_population(self) -> IntPopulation:
        return next(p for p in self.populations if p.kind == "readout")


def to_fixed_point(factor: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``mult / 2^shift`` nearest to real factors, ``|mult| < 2^24``, shift 0..31.

    Each channel takes the largest shift that keeps ``|mult|`` below the limit (the most
    precise representation), then drops trailing zero bits of ``mult`` so exact powers of
    two stay readable (``g`` becomes ``mult = g, shift = 0``). ``mult`` rounds to nearest,
    ties to even.

    Raises
    ------
    TrainError
        If a factor is not finite or too large for ``mult`` at shift 0.
    """
    factor = np.asarray(factor, dtype=np.float64)
    mult = np.zeros(factor.shape, np.int64)
    shift = np.zeros(factor.shape, np.int64)
    limit = MULT_LIMIT - 1
    for c, k in enumerate(factor):
        if not np.isfinite(k):
            raise TrainError("<model>", where, f"channel {c} has a non-finite scale {k}",
                             "the trained model diverged; retrain with a smaller --lr")
        if k == 0:
            continue
        s = SHIFT_RANGE[1]
        while s > 0 and abs(np.rint(k * 2.0**s)) > limit:
            s -= 1
        m = int(np.rint(k * 2.0**s))
        if abs(m) > limit:
            raise TrainError("<model>", where, f"channel {c} scale {k:.6g} needs |mult| >= 2^24 at shift 0",
                             "a BatchNorm variance collapsed to ~0; retrain, or check the layer")
        while s > 0 and m % 2 == 0 and m != 0:
            m //= 2
            s -= 1
        mult[c], shift[c] = m, s
    return mult, shift


def accumulator_bits(proj: IntProjection, source: IntPopulation, max_abs_input: int) -> int:
    """Narrowest signed accumulator holding the exact sum for any input (never saturates).

    The bound per target channel is ``sum |w| * max|x|``: every input at its largest
    magnitude with the sign of its weight. Spikes have max|x| = 1, an analog int8 input 128.
    """
    if proj.kind in ("conv2d", "linear"):
        w = np.abs(proj.weights.astype(np.int64)).reshape(proj.weights.shape[0], -1)
        bound = int(w.sum(axis=1).max(initial=0)) * max_abs_input
        if proj.global_sum_pool:
            bound *= int(np.prod(source.shape[1:]))
    elif proj.kind == "identity":
        bound = int(np.abs(proj.weights).max(initial=0)) * max_abs_input
    else:
        bound = proj.kernel[0] * proj.kernel[1] * max_abs_input
    bits = max(2, bound.bit_length() + 1)
    if bits > MAX_ACC_BITS:
        raise TrainError("<model>", f"projections.{proj.name}", f"needs a {bits}-bit accumulator (at most {MAX_ACC_BITS})",
                         "use fewer inputs per neuron")
    return bits


def intnet_from_workload(wl: Workload) -> IntNet:
    """The IntNet a workload stores (for the trainer's integer inference on shipped files).

    Only the neuron model the trainer exports is accepted: analog or spike input, floor
    rounding, strict threshold, hard reset.

    Raises
    ------
    TrainError
        If the workload uses a feature the trainer's integer inference does not model.
    """
    pops = []
    for p in wl.populations:
        if p.kind != "input" and (p.rounding, p.fire_cmp, p.reset) != ("floor", "gt", "hard"):
            raise TrainError(wl.name, f"populations.{p.name}",
                             f"uses {p.rounding}/{p.fire_cmp}/{p.reset}; the trainer's inference models floor/gt/hard only")
        pops.append(IntPopulation(
            name=p.name, kind=p.kind, shape=tuple(p.shape), membrane_bits=p.membrane_bits,
            threshold=None if p.threshold is None else p.threshold.astype(np.int64),
            bias=None if p.bias is None else p.bias.astype(np.int64),
            decay_mult=p.decay_mult, decay_shift=p.decay_shift,
        ))
    projs = tuple(
        IntProjection(
            name=p.name, kind=p.kind, source=p.source, target=p.target, weight_bits=p.weight_bits,
            weights=None if p.weights is None else p.weights.astype(np.int64),
            mult=p.mult.astype(np.int64), shift=p.shift.astype(np.int64), acc_bits=p.acc_bits,
            kernel=tuple(p.kernel), stride=tuple(p.stride), padding=tuple(p.padding),
            global_sum_pool=p.global_sum_pool,
        )
        for p in wl.projections
    )
    return IntNet(name=wl.name, timesteps=wl.timesteps, populations=tuple(pops), projections=projs,
                  class_names=wl.class_names, input_kind=wl.input_kind)
