"""The ``readout`` dialect: the output layer of DESIGN §2.

The qsnn_lif update without fire, reset or clamp, in a 64-bit two's complement register
that wraps modulo 2^64, products included (numpy and numba int64 arithmetic wrap the same
way); usually with no leak (``decay_mult=1, decay_shift=0``). Its value after the last
timestep is the output (logits); the class is its argmax, ties to the lowest index. It never
spikes. The numba form is :func:`qsnnsim.kernels.lif.membrane_update` with ``is_readout``.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.neurons.base import Dialect, rshift

#: Bits of the readout register (the state SRAM stores all of it).
READOUT_STATE_BITS = 64


def state_vars(pop) -> tuple:
    return (("m", READOUT_STATE_BITS),)


def parameters(pop) -> dict:
    return {"bias": pop.bias.astype(np.int64), "decay_mult": int(pop.decay_mult),
            "decay_shift": int(pop.decay_shift), "rounding": pop.rounding}


def step(params: dict, state: dict, current: np.ndarray) -> tuple[np.ndarray, dict]:
    """One timestep: the register accumulates; no spike."""
    with np.errstate(over="ignore"):
        h = rshift(state["m"] * params["decay_mult"], params["decay_shift"], params["rounding"]) + current + params["bias"]
    return np.zeros(np.shape(h), np.int64), {"m": h}


def fire(acc, acc_lo, acc_hi, mult, shift, state, params, plane, first, pop, index_base):
    from qsnnsim.kernels import phase

    zero = np.zeros_like(params["bias"])
    return phase.fire_lif_slice(acc, acc_lo, acc_hi, mult, shift, state["m"], zero, params["bias"],
                                plane, first, pop, True, index_base)


DIALECT = Dialect(
    name="readout",
    summary="output register: the qsnn_lif update without fire, reset or clamp, 64-bit, wrapping",
    spike_max=0,
    params=(),
    state_vars=state_vars,
    parameters=parameters,
    step=step,
    fire=fire,
)
