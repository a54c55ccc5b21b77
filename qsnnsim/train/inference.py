"""The trainer's integer inference: an :class:`~.intnet.IntNet` run in torch int64 (DESIGN §2).

This is the trainer's own implementation of the integer semantics for the layer types it
exports (conv2d, linear with or without global sum pooling, identity, sumpool2d; lif with
floor leak, strict threshold and hard reset; readout). It shares no code with
``qsnnsim.golden``: the two are compared in the tests, and the workload an export writes
must give exactly these spikes and logits in the golden model.

Every tensor is int64 and every operation exact: im2col by strided views, integer matmul,
the accumulator clamped once to ``acc_bits`` (saturations counted), ``floor`` right
shifts by integer floor division. Populations run layer by layer over all T timesteps and
a batch of samples at once; an analog input is the same at every step, so projections from
it are computed once and broadcast over T. A spike input (N, T, *shape) runs every step.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from qsnnsim.train.intnet import IntNet, IntPopulation, IntProjection


@dataclass(frozen=True, eq=False)
class IntegerResult:
    """Integer inference of N samples.

    Attributes
    ----------
    spikes : dict[str, torch.Tensor]
        bool (N, T, *shape) per lif population (empty if not kept).
    readout : torch.Tensor
        int64 (N, n_out), readout values after the last timestep.
    predicted : torch.Tensor
        int64 (N,), argmax of ``readout``, ties to the lowest index.
    saturations : dict[str, torch.Tensor]
        int64 (N, T) accumulator saturations per projection.
    """

    spikes: dict
    readout: torch.Tensor
    predicted: torch.Tensor
    saturations: dict


def floor_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """floor(x / 2^shift) for int64 x: the arithmetic right shift of DESIGN §2."""
    return torch.div(x, torch.pow(2, shift), rounding_mode="floor")


def _per_channel(v: np.ndarray, ndim_after_batch: int) -> torch.Tensor:
    """(C,) int64 vector shaped to broadcast over (T, B, C, ...)."""
    return torch.as_tensor(np.asarray(v, np.int64)).view((-1,) + (1,) * (ndim_after_batch - 1))


def _window_columns(x: torch.Tensor, kernel, stride, padding) -> torch.Tensor:
    """(N, C, H, W) int64 -> (N, C, kH*kW, Ho*Wo) zero-padded windows, PyTorch order."""
    kh, kw = kernel
    xp = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    win = xp.unfold(2, kh, stride[0]).unfold(3, kw, stride[1])  # (N, C, Ho, Wo, kH, kW)
    n, c, ho, wo = win.shape[:4]
    return win.permute(0, 1, 4, 5, 2, 3).reshape(n, c, kh * kw, ho * wo)


def accumulate(proj: IntProjection, x: torch.Tensor, target_shape: tuple[int, ...]) -> torch.Tensor:
    """Exact synaptic sums (before the accumulator clamp) of a (N, *source_shape) int64 input.

    Returns int64 (N, *target_shape).
    """
    n = x.shape[0]
    if proj.kind == "conv2d":
        w = torch.as_tensor(proj.weights).reshape(proj.weights.shape[0], -1)
        cols = _window_columns(x, proj.kernel, proj.stride, proj.padding)
        acc = torch.matmul(w, cols.reshape(n, -1, cols.shape[-1]))
    elif proj.kind == "linear":
        w = torch.as_tensor(proj.weights)
        v = x.sum(dim=(-2, -1)) if proj.global_sum_pool else x.reshape(n, -1)
        acc = torch.matmul(v, w.T)
    elif proj.kind == "identity":
        acc = x * _per_channel(proj.weights, x.dim() - 1)
    elif proj.kind == "sumpool2d":
        acc = _window_columns(x, proj.kernel, proj.stride, proj.padding).sum(dim=2)
    else:
        raise ValueError(f"{proj.name}: unknown projection kind {proj.kind!r}")
    return acc.reshape((n,) + tuple(target_shape))


def _scaled_current(proj: IntProjection, x: torch.Tensor, target: IntPopulation) -> tuple[torch.Tensor, torch.Tensor]:
    """(rshift(clamp(acc) * mult, shift) (T', B, ...), saturations per (T', B))."""
    lead = x.shape[:2]
    acc = accumulate(proj, x.flatten(0, 1), target.shape)
    lo, hi = -(1 << (proj.acc_bits - 1)), (1 << (proj.acc_bits - 1)) - 1
    n_sat = ((acc < lo) | (acc > hi)).flatten(1).sum(dim=1).reshape(lead)
    acc = acc.clamp(lo, hi).reshape(lead + acc.shape[1:])
    k = len(target.shape)
    current = floor_shift(acc * _per_channel(proj.mult, k), _per_channel(proj.shift, k))
    return current, n_sat


def _neurons(pop: IntPopulation, current: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a lif or readout population over T: (spikes bool (T, B, ...), final membrane)."""
    current = current.expand((T,) + current.shape[1:])
    k = len(pop.shape)
    bias = _per_channel(pop.bias, k)
    theta = _per_channel(pop.threshold, k)
    decay_mult = torch.tensor(pop.decay_mult, dtype=torch.int64)
    decay_shift = torch.tensor(pop.decay_shift, dtype=torch.int64)
    m = torch.zeros(current.shape[1:], dtype=torch.int64)
    spikes = torch.zeros(current.shape, dtype=torch.bool)
    q = (1 << (pop.membrane_bits - 1)) - 1
    for t in range(T):
        h = floor_shift(m * decay_mult, decay_shift) + current[t] + bias
        if pop.kind == "readout":
            # The readout register is 64 bits wide: no fire, reset or clamp.
            m = h
            continue
        s = h > theta
        spikes[t] = s
        m = torch.where(s, torch.zeros_like(h), h).clamp(-q, q)
    return spikes, m


def _run_batch(net: IntNet, x: torch.Tensor, keep_spikes: bool):
    T = net.timesteps
    # Sources are (T', B, ...): T' = 1 for a static analog input, T for spikes.
    values = {net.input_population.name: x.unsqueeze(0) if net.input_kind == "analog" else x.transpose(0, 1)}
    spikes, saturations = {}, {}
    readout = None
    for pop in net.populations:
        if pop.kind == "input":
            continue
        current = torch.zeros((1, x.shape[0]) + tuple(pop.shape), dtype=torch.int64)
        for proj in net.projections_into(pop.name):
            part, n_sat = _scaled_current(proj, values[proj.source], pop)
            current = current + part
            # A static source is integrated once here but at every timestep on the chip.
            saturations[proj.name] = n_sat.expand(T, -1).T
        s, m = _neurons(pop, current, T)
        if pop.kind == "readout":
            readout = m
        else:
            values[pop.name] = s.to(torch.int64)
            if keep_spikes:
                spikes[pop.name] = s.transpose(0, 1)
    return spikes, readout, saturations


@contextlib.contextmanager
def torch_threads(n_threads: int):
    """Run torch with ``n_threads`` intra-op threads, restoring the previous count after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_integer(net: IntNet, samples, batch_size: int = 64, keep_spikes: bool = True,
                n_threads: int = 1) -> IntegerResult:
    """Integer inference of analog or spike samples.

    Parameters
    ----------
    net : IntNet
        Folded network.
    samples : array-like
        int8 (N, *input_shape) input codes (analog input), or 0/1 (N, T, *input_shape)
        frames (``net.input_kind == "spikes"``), as the workload stores them.
    batch_size : int
        Samples per batch (memory only; results do not depend on it).
    keep_spikes : bool
        Keep every lif population's spikes (needed for bit-exact comparisons).
    n_threads : int
        torch intra-op threads. One by default: the work is small, memory-bound int64
        element-wise operations, where extra OpenMP threads only contend for cores.

    Returns
    -------
    IntegerResult
    """
    x_all = torch.as_tensor(np.asarray(samples).astype(np.int64))
    parts = []
    with torch_threads(n_threads):
        for start in range(0, x_all.shape[0], batch_size):
            parts.append(_run_batch(net, x_all[start : start + batch_size], keep_spikes))
    spikes = {k: torch.cat([p[0][k] for p in parts]) for k in parts[0][0]}
    readout = torch.cat([p[1] for p in parts])
    saturations = {k: torch.cat([p[2][k] for p in parts]) for k in parts[0][2]}
    predicted = torch.argmax(readout, dim=1)
    return IntegerResult(spikes=spikes, readout=readout, predicted=predicted, saturations=saturations)
