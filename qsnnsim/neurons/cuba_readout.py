"""The ``cuba_readout`` dialect: a current-based output layer (NIR's CubaLI; DESIGN §2b).

Two 64-bit registers per neuron that wrap like the ``readout``'s (numpy and numba int64
arithmetic), a synaptic current ``i`` and a value ``v``; per timestep, with ``I`` the summed
scaled synaptic input::

    i = rshift(i * syn_decay_mult, syn_decay_shift) + I
    v = rshift(v * decay_mult, decay_shift) + i + bias[c]      (the new i)

``rshift`` floors or rounds toward zero as the population asks. Nothing fires or resets; the
value of ``v`` after the last timestep is the output, its argmax the class (ties to the lowest
index), as for ``readout``. It is what a NIR graph ending in a CubaLI node imports to
(docs/nir-import.md).
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit
from qsnnsim.kernels.lif import ROUND_FLOOR, ROUND_TOWARD_ZERO, rshift as _rshift_scalar
from qsnnsim.neurons.base import Dialect, Param, rshift

REGISTER_BITS = 64


def state_vars(pop) -> tuple:
    return (("v", REGISTER_BITS), ("i", REGISTER_BITS))


def parameters(pop) -> dict:
    return {"bias": pop.bias.astype(np.int64), "decay_mult": int(pop.decay_mult),
            "decay_shift": int(pop.decay_shift), "rounding": pop.rounding,
            "syn_decay_mult": int(pop.params["syn_decay_mult"]), "syn_decay_shift": int(pop.params["syn_decay_shift"])}


def step(params: dict, state: dict, current: np.ndarray) -> tuple[np.ndarray, dict]:
    """One timestep (golden form): the registers accumulate; no spike."""
    with np.errstate(over="ignore"):
        i = rshift(state["i"] * params["syn_decay_mult"], params["syn_decay_shift"], params["rounding"]) + current
        v = rshift(state["v"] * params["decay_mult"], params["decay_shift"], params["rounding"]) + i + params["bias"]
    return np.zeros(np.shape(v), np.int64), {"v": v, "i": i}


@jit
def _fire_neurons(current, channel, v, i, bias, decay_mult, decay_shift, syn_mult, syn_shift, rounding):
    """``step`` over a slice, in place; neuron k is in slice channel ``channel[k]``."""
    for k in range(current.shape[0]):
        i_new = _rshift_scalar(np.int64(i[k]) * syn_mult, syn_shift, rounding) + current[k]
        v[k] = _rshift_scalar(np.int64(v[k]) * decay_mult, decay_shift, rounding) + i_new + bias[channel[k]]
        i[k] = i_new


def fire(acc, acc_lo, acc_hi, mult, shift, state, params, plane, first, pop, index_base):
    from qsnnsim.kernels import phase

    current, channel, saturations = phase.slice_currents(acc, acc_lo, acc_hi, mult, shift, plane, first, pop)
    rounding = ROUND_TOWARD_ZERO if params["rounding"] == "toward_zero" else ROUND_FLOOR
    _fire_neurons(current, channel, state["v"], state["i"], params["bias"], params["decay_mult"],
                  params["decay_shift"], params["syn_decay_mult"], params["syn_decay_shift"], rounding)
    return np.zeros(current.shape[0], np.uint8), saturations, np.empty(0, np.int64)


DIALECT = Dialect(
    name="cuba_readout",
    summary="current-based output registers (NIR CubaLI): 64-bit i and v, wrapping, no fire",
    spike_max=0,
    params=(Param("syn_decay_mult", -(1 << 16), 1 << 16, "the current's decay multiplier", per_population=True),
            Param("syn_decay_shift", 0, 31, "the current's decay shift", per_population=True)),
    state_vars=state_vars,
    parameters=parameters,
    step=step,
    fire=fire,
    counts=(("current_update", 1),),
)
