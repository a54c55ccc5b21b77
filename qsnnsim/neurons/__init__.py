"""Neuron dialects (DESIGN §2b): one module, one spec, per neuron model.

``qsnn_lif`` (the Q-SNN LIF of DESIGN §2) and ``readout`` (its output register) are the
models every v1 workload uses; ``loihi_cuba`` and ``xylo_lif`` are the vendors' neurons,
proven against lava-nc and xylosim (docs/oracles.md). :func:`dialect` returns a
:class:`~qsnnsim.neurons.base.Dialect` by name; :func:`of` the dialect of a population.
Stages read the spec; none branches on a dialect's name.
"""

from __future__ import annotations

import importlib

from qsnnsim.neurons.base import Dialect, Param

#: Dialect name -> module that defines ``DIALECT``, imported on first use.
MODULES = {
    "qsnn_lif": "qsnnsim.neurons.qsnn_lif",
    "readout": "qsnnsim.neurons.readout",
    "loihi_cuba": "qsnnsim.neurons.loihi_cuba",
    "xylo_lif": "qsnnsim.neurons.xylo_lif",
    "cuba_readout": "qsnnsim.neurons.cuba_readout",
}
#: The dialects a population of each role may use (v1 workloads name none: the first is the default).
SPIKING_DIALECTS = ("qsnn_lif", "loihi_cuba", "xylo_lif")
READOUT_DIALECTS = ("readout", "cuba_readout")

_loaded: dict[str, Dialect] = {}


def dialect(name: str) -> Dialect:
    """The spec of dialect ``name`` (KeyError if there is none)."""
    spec = _loaded.get(name)
    if spec is None:
        spec = _loaded[name] = importlib.import_module(MODULES[name]).DIALECT
    return spec


def of(pop) -> Dialect | None:
    """The dialect of a population (its role's default when it names none); None for an input."""
    if pop.kind == "input":
        return None
    return dialect(pop.dialect or (READOUT_DIALECTS if pop.kind == "readout" else SPIKING_DIALECTS)[0])


__all__ = ["Dialect", "Param", "MODULES", "SPIKING_DIALECTS", "READOUT_DIALECTS", "dialect", "of"]
