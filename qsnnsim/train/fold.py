"""Folding: a trained :class:`~.model.QSNN` becomes the integers of an :class:`~.intnet.IntNet`.

BatchNorm (running statistics), the binary layers' power-of-two scale, the int8 layers'
per-channel scale, the input scale and the static membrane grid all fold into per-channel
``mult / 2^shift`` and an int32 bias; the grid's integer threshold becomes ``threshold``.
The equations and rounding choices are in ``docs/export.md``; in short, for a hidden
population with grid scale ``g = theta + 1`` and a projection p with codes ``W_p``,
weight scale ``alpha_p[c]``, input scale ``s_p`` (1 for spikes) and BatchNorm
``a_p = gamma / sqrt(var + eps)``, ``b_p = beta - a_p * mean``:

    k_p[c]     = g * a_p[c] * alpha_p[c] * s_p   -> (mult, shift) = to_fixed_point(k_p)
    bias[c]    = rint(g * sum_p b_p[c])
    threshold  = theta

The readout works in units ``delta = max_c(alpha[c] * s) / 2^F`` (F = 16 fraction bits by
default): ``k[c] = alpha[c] * s / delta``, ``bias[c] = rint(b[c] / delta)``.

A float-baseline model (``float_mode``) folds into its post-training integer version:
every weight layer quantised to symmetric per-channel int8, 16-bit membranes on a grid of
V_th / 4096.
"""

from __future__ import annotations

import numpy as np
import torch

from qsnnsim.train.config import TrainError
from qsnnsim.train.intnet import (
    INT8_INPUT_MAX_ABS,
    IntNet,
    IntPopulation,
    IntProjection,
    accumulator_bits,
    to_fixed_point,
)
from qsnnsim.train.model import QSNN
from qsnnsim.train.networks import ProjSpec
from qsnnsim.train.quant import int8_codes
from qsnnsim.workload import INT32_RANGE

FLOAT_EXPORT_MEMBRANE_BITS = 16
FLOAT_EXPORT_THETA = 4095
READOUT_FRACTION_BITS = 16
POOL_MEMBRANE_BITS = 2


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()


def _codes_and_scale(model: QSNN, proj: ProjSpec) -> tuple[np.ndarray, np.ndarray, int]:
    """(int64 codes, float64 per-channel scale, weight_bits) of a conv2d/linear projection."""
    quantizer = model.weights[proj.name]
    with torch.no_grad():
        if quantizer.kind == "float":
            codes, scale = int8_codes(quantizer.weight)
            bits = 8
        else:
            _, codes, scale = quantizer.quantized()
            bits = 1 if quantizer.kind == "binary" else 8
    return _f64(codes).astype(np.int64), _f64(scale), bits


def _bn_affine(model: QSNN, proj: ProjSpec, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of a projection's BatchNorm from running statistics, float64; identity if none."""
    if not proj.has_bn:
        return np.ones(n_channels), np.zeros(n_channels)
    bn = model.norms[proj.name]
    a = _f64(bn.weight) / np.sqrt(_f64(bn.running_var) + bn.eps)
    return a, _f64(bn.bias) - a * _f64(bn.running_mean)


def _int32(values: np.ndarray, where: str) -> np.ndarray:
    out = np.rint(values)
    if not np.all(np.isfinite(out)) or out.min(initial=0) < INT32_RANGE[0] or out.max(initial=0) > INT32_RANGE[1]:
        raise TrainError("<model>", where, f"folded values {out.min()}..{out.max()} do not fit int32",
                         "the trained model diverged; retrain with a smaller --lr")
    return out.astype(np.int64)


def fold_network(model: QSNN, name: str) -> IntNet:
    """Fold a trained model (its eval-mode behaviour) into an IntNet.

    Parameters
    ----------
    model : QSNN
        Trained (or randomly initialised) model; BatchNorm running statistics are used.
    name : str
        Name of the integer network (becomes the workload's name).

    Returns
    -------
    IntNet

    Raises
    ------
    TrainError
        If a folded scale or bias does not fit the workload's integer fields.
    """
    spec = model.spec
    pops: list[IntPopulation] = []
    projs: list[IntProjection] = []
    int_pops: dict[str, IntPopulation] = {}
    for pop in spec.populations:
        incoming = spec.projections_into(pop.name)
        c = pop.shape[0]
        if pop.kind == "input":
            ipop = IntPopulation(pop.name, "input", pop.shape)
        elif pop.kind == "pool":
            # Max pooling of spikes: a window sum into an IF neuron with threshold 0 spikes
            # iff any input spiked, and its membrane never leaves 0 (DESIGN §2).
            (proj,) = incoming
            ipop = IntPopulation(pop.name, "lif", pop.shape, POOL_MEMBRANE_BITS, np.zeros(c, np.int64),
                                 np.zeros(c, np.int64), decay_mult=1, decay_shift=1)
            projs.append(IntProjection(proj.name, "sumpool2d", proj.source, pop.name, 1, None,
                                       np.ones(c, np.int64), np.zeros(c, np.int64), 0, proj.kernel,
                                       proj.stride, proj.padding))
        elif pop.kind == "readout":
            ipop, new = _fold_readout(model, pop.name, incoming, int_pops)
            projs.extend(new)
        else:
            ipop, new = _fold_hidden(model, pop.name, incoming, int_pops)
            projs.extend(new)
        int_pops[pop.name] = ipop
        pops.append(ipop)
    projs = [_with_acc_bits(p, int_pops[p.source], model.input_kind) for p in projs]
    return IntNet(name=name, timesteps=model.timesteps, populations=tuple(pops), projections=tuple(projs),
                  input_kind=model.input_kind)


def _with_acc_bits(proj: IntProjection, source: IntPopulation, input_kind: str) -> IntProjection:
    # A spike input carries 0/1 like any hidden population; only int8 codes reach 128.
    max_abs = INT8_INPUT_MAX_ABS if source.kind == "input" and input_kind == "analog" else 1
    bits = accumulator_bits(proj, source, max_abs)
    return IntProjection(proj.name, proj.kind, proj.source, proj.target, proj.weight_bits, proj.weights,
                         proj.mult, proj.shift, bits, proj.kernel, proj.stride, proj.padding, proj.global_sum_pool)


def _input_scale(model: QSNN, source: IntPopulation) -> float:
    return model.input_scale if source.kind == "input" else 1.0


def _fold_hidden(model: QSNN, name: str, incoming, int_pops) -> tuple[IntPopulation, list[IntProjection]]:
    pop = model.spec.pop(name)
    c = pop.shape[0]
    if model.float_mode:
        theta, bits = FLOAT_EXPORT_THETA, FLOAT_EXPORT_MEMBRANE_BITS
    else:
        theta, bits = model.theta_int[name], model.membrane_bits
    g = theta + 1
    bias = np.zeros(c)
    projs = []
    for proj in incoming:
        a, b = _bn_affine(model, proj, c)
        bias += b
        where = f"projections.{proj.name}.mult"
        if proj.kind == "identity":
            mult, shift = to_fixed_point(np.full(c, float(g)), where)
            projs.append(IntProjection(proj.name, "identity", proj.source, name, 2, np.ones(c, np.int64),
                                       mult, shift, 0))
            continue
        codes, alpha, wbits = _codes_and_scale(model, proj)
        k = g * a * alpha * _input_scale(model, int_pops[proj.source])
        mult, shift = to_fixed_point(k, where)
        projs.append(IntProjection(proj.name, proj.kind, proj.source, name, wbits, codes, mult, shift, 0,
                                   proj.kernel, proj.stride, proj.padding, proj.global_sum_pool))
    ipop = IntPopulation(name, "lif", pop.shape, bits, np.full(c, theta, np.int64),
                         _int32(g * bias, f"populations.{name}.bias"), decay_mult=1, decay_shift=1)
    return ipop, projs


def _fold_readout(model: QSNN, name: str, incoming, int_pops) -> tuple[IntPopulation, list[IntProjection]]:
    pop = model.spec.pop(name)
    parts = []
    for proj in incoming:
        codes, alpha, wbits = _codes_and_scale(model, proj)
        parts.append((proj, codes, alpha * _input_scale(model, int_pops[proj.source]), wbits))
    bias_real = _f64(model.readout_bias)
    top = max(float(scale.max(initial=0)) for _, _, scale, _ in parts) or 1.0
    frac = READOUT_FRACTION_BITS
    # Coarser units only if the bias would not fit int32 at 2^-16 of the largest weight step.
    while frac > 0 and np.abs(bias_real).max(initial=0) / (top / 2.0**frac) >= INT32_RANGE[1]:
        frac -= 1
    delta = top / 2.0**frac
    projs = []
    for proj, codes, scale, wbits in parts:
        mult, shift = to_fixed_point(scale / delta, f"projections.{proj.name}.mult")
        projs.append(IntProjection(proj.name, proj.kind, proj.source, name, wbits, codes, mult, shift, 0,
                                   proj.kernel, proj.stride, proj.padding, proj.global_sum_pool))
    ipop = IntPopulation(name, "readout", pop.shape, 16, np.zeros(pop.shape[0], np.int64),
                         _int32(bias_real / delta, f"populations.{name}.bias"), decay_mult=1, decay_shift=0)
    return ipop, projs
