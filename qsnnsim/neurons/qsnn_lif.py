"""The ``qsnn_lif`` dialect: the Q-SNN integer LIF of DESIGN §2 (the v1 workload's ``lif``).

State: one membrane ``m`` of ``membrane_bits`` (2..16) bits. Per timestep, with ``I`` the
summed scaled synaptic input of the neuron (see :mod:`qsnnsim.golden`)::

    h     = rshift(m * decay_mult, decay_shift) + I + bias[c]
    spike = h > theta[c]          (or >= with fire_cmp "ge")
    h'    = 0 (hard reset) | h - theta[c] (soft reset) if spike, else h
    m     = clamp(h', -Q, Q),     Q = 2^(b-1) - 1

``rshift`` floors, or rounds toward zero when the population asks for it. A spike is one
bit. The numba form of the same step is :func:`qsnnsim.kernels.lif.membrane_update`, driven
over a slice by :func:`qsnnsim.kernels.lif.fire_neurons` (tuned there: branch-free compare,
channel-chunked loops); tests/unit/test_neurons.py holds the two equal.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.neurons.base import Dialect, rshift


def membrane_limit(membrane_bits: int) -> int:
    """Q = 2^(b-1) - 1: a b-bit membrane is clamped to [-Q, +Q]."""
    return (1 << (membrane_bits - 1)) - 1


def state_vars(pop) -> tuple:
    return (("m", int(pop.membrane_bits)),)


def parameters(pop) -> dict:
    """Per-channel threshold and bias (int64) and the population's scalars."""
    return {
        "threshold": pop.threshold.astype(np.int64), "bias": pop.bias.astype(np.int64),
        "decay_mult": int(pop.decay_mult), "decay_shift": int(pop.decay_shift), "rounding": pop.rounding,
        "fire_ge": pop.fire_cmp == "ge", "soft_reset": pop.reset == "soft", "q": membrane_limit(pop.membrane_bits),
    }


def step(params: dict, state: dict, current: np.ndarray) -> tuple[np.ndarray, dict]:
    """One timestep of DESIGN §2 (golden form): (spikes 0/1 int64, new state)."""
    h = rshift(state["m"] * params["decay_mult"], params["decay_shift"], params["rounding"]) + current + params["bias"]
    theta = params["threshold"]
    spike = h >= theta if params["fire_ge"] else h > theta
    after = np.where(spike, h - theta if params["soft_reset"] else 0, h)
    q = params["q"]
    return spike.astype(np.int64), {"m": np.clip(after, -q, q)}


def fire(acc, acc_lo, acc_hi, mult, shift, state, params, plane, first, pop, index_base):
    """The engine's slice update (kernels/lif.py); ``params`` are the slice's channels'."""
    from qsnnsim.kernels import phase

    return phase.fire_lif_slice(acc, acc_lo, acc_hi, mult, shift, state["m"], params["threshold"], params["bias"],
                                plane, first, pop, False, index_base)


DIALECT = Dialect(
    name="qsnn_lif",
    summary="Q-SNN integer LIF (DESIGN §2): b-bit membrane, shift leak, hard or soft reset, 1-bit spikes",
    spike_max=1,
    params=(),  # threshold, bias and the population scalars are the v1 fields of Population
    state_vars=state_vars,
    parameters=parameters,
    step=step,
    fire=fire,
    chosen_width=True,
)
