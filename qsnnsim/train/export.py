"""Export: an :class:`~.intnet.IntNet` written as a qsnnsim workload, integer for integer.

The workload is built through :class:`qsnnsim.workload.WorkloadBuilder` from the very
arrays the trainer's integer inference ran on, so the golden model sees the same codes,
``mult``, ``shift``, ``bias``, ``threshold`` and ``acc_bits``. Samples are the dataset's
test split (int8 analog, or 0/1 spike frames (N, T, *shape) for a spike input) with its
labels, so ``qsnnsim run`` can measure accuracy.
"""

from __future__ import annotations

import os

import numpy as np

from qsnnsim.train.intnet import IntNet
from qsnnsim.workload import Workload, WorkloadBuilder, save_workload


def build_workload(net: IntNet, samples: np.ndarray, labels: np.ndarray | None = None,
                   class_names: tuple[str, ...] | None = None, provenance: dict | None = None) -> Workload:
    """The workload holding ``net``'s integers and the given samples.

    Parameters
    ----------
    net : IntNet
        Folded network (analog or spike input, ``net.input_kind``).
    samples : np.ndarray
        int8 (N, *input_shape) for an analog input; 0/1 (N, T, *input_shape) for spikes.
    labels : np.ndarray or None
        int64 (N,) class indices.
    class_names : tuple[str, ...] or None
        One per readout neuron.
    provenance : dict or None
        JSON-serialisable description of how the network was made.

    Returns
    -------
    Workload
        Validated by the builder (raises WorkloadError if a field is out of range).
    """
    b = WorkloadBuilder(net.name, timesteps=net.timesteps, input_kind=net.input_kind)
    for pop in net.populations:
        if pop.kind == "input":
            b.input(pop.name, pop.shape)
        elif pop.kind == "lif":
            b.lif(pop.name, pop.shape, threshold=pop.threshold.astype(np.int32), bias=pop.bias.astype(np.int32),
                  membrane_bits=pop.membrane_bits, decay_mult=pop.decay_mult, decay_shift=pop.decay_shift,
                  rounding="floor", fire_cmp="gt", reset="hard")
        else:
            b.readout(pop.name, pop.shape, bias=pop.bias.astype(np.int32), decay_mult=pop.decay_mult,
                      decay_shift=pop.decay_shift)
    for proj in net.projections:
        scale = {"mult": proj.mult.astype(np.int32), "shift": proj.shift.astype(np.int32),
                 "acc_bits": proj.acc_bits, "name": proj.name}
        if proj.kind == "conv2d":
            b.conv2d(proj.source, proj.target, proj.weights.astype(np.int16), weight_bits=proj.weight_bits,
                     stride=proj.stride, padding=proj.padding, **scale)
        elif proj.kind == "linear":
            b.linear(proj.source, proj.target, proj.weights.astype(np.int16), weight_bits=proj.weight_bits,
                     global_sum_pool=proj.global_sum_pool, **scale)
        elif proj.kind == "identity":
            b.identity(proj.source, proj.target, codes=proj.weights.astype(np.int16), weight_bits=proj.weight_bits,
                       **scale)
        else:
            b.sumpool2d(proj.source, proj.target, kernel=proj.kernel, stride=proj.stride, padding=proj.padding,
                        **scale)
    dtype = np.int8 if net.input_kind == "analog" else np.uint8
    b.set_samples(np.asarray(samples, dtype), None if labels is None else np.asarray(labels, np.int64),
                  class_names)
    b.set_provenance(**(provenance or {}))
    return b.build()


def export_workload(path: str | os.PathLike, net: IntNet, samples: np.ndarray, labels: np.ndarray | None = None,
                    class_names: tuple[str, ...] | None = None, provenance: dict | None = None) -> Workload:
    """Build the workload (see :func:`build_workload`) and save it atomically to ``path``."""
    wl = build_workload(net, samples, labels, class_names, provenance)
    save_workload(wl, path)
    return wl
