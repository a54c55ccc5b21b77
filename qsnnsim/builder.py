"""Workload builder: construct a validated :class:`~qsnnsim.workload.Workload` in code.

Tests, generators, importers and the trainer's exporter all build workloads through
:class:`WorkloadBuilder`; ``build()`` runs the same validation as the `.npz` loader.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.errors import WorkloadError
from qsnnsim.workload import Population, Projection, Workload, validate_workload



class WorkloadBuilder:
    """Build a workload population by population, projection by projection.

    Example
    -------
    >>> b = WorkloadBuilder("tiny", timesteps=2, input_kind="spikes")
    >>> b.input("in", (4,))
    >>> b.lif("hidden", (3,), threshold=[1, 1, 1])
    >>> b.linear("in", "hidden", np.ones((3, 4), np.int16), weight_bits=1)
    >>> b.readout("out", (2,))
    >>> b.linear("hidden", "out", np.ones((2, 3), np.int16), weight_bits=8)
    >>> b.set_samples(np.zeros((1, 2, 4), np.uint8))
    >>> wl = b.build()

    Populations must be declared in topological order (sources before targets).
    ``mult`` defaults to 1 and ``shift`` to 0 for every target channel.
    """

    def __init__(self, name: str, timesteps: int, input_kind: str = "analog"):
        self.name = name
        self.timesteps = timesteps
        self.input_kind = input_kind
        self._pops: list[Population] = []
        self._projs: list[Projection] = []
        self._samples: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._class_names: tuple[str, ...] | None = None
        self._provenance: dict = {}

    def _pop(self, name: str) -> Population:
        for pop in self._pops:
            if pop.name == name:
                return pop
        raise WorkloadError("<builder>", f"populations.{name}", "is not declared yet", "declare populations before projecting to them")

    def input(self, name: str, shape: tuple[int, ...]) -> str:
        self._pops.append(Population(name=name, kind="input", shape=tuple(shape)))
        return name

    def lif(
        self, name: str, shape: tuple[int, ...], threshold=0, bias=0, membrane_bits: int = 8,
        decay_mult: int = 1, decay_shift: int = 1, rounding: str = "floor", fire_cmp: str = "gt",
        reset: str = "hard",
    ) -> str:
        c = int(shape[0])
        self._pops.append(Population(
            name=name, kind="lif", shape=tuple(shape), membrane_bits=membrane_bits,
            decay_mult=decay_mult, decay_shift=decay_shift, rounding=rounding, fire_cmp=fire_cmp,
            reset=reset, threshold=_per_channel(threshold, c), bias=_per_channel(bias, c),
        ))
        return name

    def neurons(self, name: str, shape: tuple[int, ...], dialect: str, **params) -> str:
        """A spiking population of any dialect (DESIGN §2b): ``params`` are the dialect's
        (``docs/neurons.md``), each one value for all channels or one per channel."""
        self._pops.append(Population(name=name, kind="lif", shape=tuple(shape), dialect=dialect,
                                     params=dict(params) or None))
        return name

    def readout(self, name: str, shape: tuple[int, ...], bias=0, decay_mult: int = 1, decay_shift: int = 0,
                rounding: str = "floor", dialect: str = "readout", **params) -> str:
        """The output population: the 64-bit ``readout`` register, or another readout dialect
        (``cuba_readout`` with ``syn_decay_mult``, ``syn_decay_shift``; docs/neurons.md)."""
        c = int(shape[0])
        self._pops.append(Population(
            name=name, kind="readout", shape=tuple(shape), membrane_bits=16, decay_mult=decay_mult,
            decay_shift=decay_shift, rounding=rounding, threshold=np.zeros(c, np.int32), bias=_per_channel(bias, c),
            dialect=dialect, params=dict(params) or None,
        ))
        return name

    def _project(self, kind: str, source: str, target: str, weights, weight_bits: int, mult, shift,
                 acc_bits: int, **geometry) -> str:
        name = geometry.pop("name", None) or f"{source}->{target}"
        c = self._pop(target).n_channels
        self._pop(source)
        self._projs.append(Projection(
            name=name, kind=kind, source=source, target=target, weight_bits=weight_bits,
            weights=None if weights is None else np.asarray(weights),
            mult=_per_channel(mult, c), shift=_per_channel(shift, c), acc_bits=acc_bits, **geometry,
        ))
        return name

    def conv2d(self, source: str, target: str, weights, weight_bits: int = 1, stride=1, padding=0,
               mult=1, shift=0, acc_bits: int = 24, name: str | None = None, delay: int = 0) -> str:
        w = np.asarray(weights)
        return self._project("conv2d", source, target, w, weight_bits, mult, shift, acc_bits,
                             kernel=(int(w.shape[-2]), int(w.shape[-1])) if w.ndim == 4 else (1, 1),
                             stride=_pair(stride), padding=_pair(padding), name=name, delay=delay)

    def linear(self, source: str, target: str, weights, weight_bits: int = 1, mult=1, shift=0,
               acc_bits: int = 24, global_sum_pool: bool = False, name: str | None = None, delay: int = 0) -> str:
        return self._project("linear", source, target, weights, weight_bits, mult, shift, acc_bits,
                             global_sum_pool=global_sum_pool, name=name, delay=delay)

    def identity(self, source: str, target: str, codes=1, weight_bits: int = 2, mult=1, shift=0,
                 acc_bits: int = 24, name: str | None = None, delay: int = 0) -> str:
        c = self._pop(target).n_channels
        return self._project("identity", source, target, _per_channel(codes, c, np.int16), weight_bits,
                             mult, shift, acc_bits, name=name, delay=delay)

    def sumpool2d(self, source: str, target: str, kernel, stride=None, padding=0, mult=1, shift=0,
                  acc_bits: int = 24, name: str | None = None, delay: int = 0) -> str:
        kernel = _pair(kernel)
        return self._project("sumpool2d", source, target, None, 1, mult, shift, acc_bits, kernel=kernel,
                             stride=_pair(stride) if stride is not None else kernel, padding=_pair(padding), name=name,
                             delay=delay)

    def set_samples(self, samples, labels=None, class_names=None) -> None:
        self._samples = np.asarray(samples)
        self._labels = None if labels is None else np.asarray(labels)
        self._class_names = None if class_names is None else tuple(class_names)

    def set_provenance(self, **provenance) -> None:
        self._provenance.update(provenance)

    def build(self) -> Workload:
        if self._samples is None:
            raise WorkloadError("<builder>", "samples", "not set", "call set_samples() before build()")
        return validate_workload(Workload(
            name=self.name, timesteps=self.timesteps, input_kind=self.input_kind,
            populations=tuple(self._pops), projections=tuple(self._projs), samples=self._samples,
            labels=self._labels, class_names=self._class_names, provenance=dict(self._provenance),
        ), "<builder>")


def _per_channel(value, n: int, dtype=np.int32) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return np.full(n, int(arr), dtype)
    return arr


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)
