"""The ``loihi_cuba`` dialect: Loihi's current-based LIF neuron and Lava's Dense synapses, in integers.

This module owns the dialect's integer semantics, proven bit for bit against lava-nc 0.10
(``lava.proc.lif.models.PyLifModelBitAcc`` behind ``Loihi2SimCfg(select_tag="fixed_pt")``,
fed by ``lava.proc.dense.models.PyDenseModelBitAcc``) and against a Loihi 2 silicon trace
(docs/oracles.md has the commands and the results).

Names: ``u`` synaptic current, ``v`` membrane voltage (both 24-bit two's complement), ``a_in``
the integer synaptic input of this step (what Dense delivers), ``du``/``dv`` the 12-bit decays,
``vth`` the threshold mantissa, ``bias_mant``/``bias_exp`` the bias.

Per step, for each neuron (Lava's ``AbstractPyLifModelFixed.subthr_dynamics`` and
``PyLifModelBitAcc.spiking_activation``)::

    u   = fold24(rtz(u * (4096 - (du + 1)) / 4096) + (a_in << 6))
    v   = clamp(rtz(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp),
                -(2^23 - 1), 2^23 - 1)                      (with the new u)
    s   = v > (vth << 6)
    v   = 0 where s                                         (u is not reset)

- ``rtz`` rounds toward zero: Lava computes ``sign(x) * (abs(x) >> 12)``.
- ``fold24`` is Lava's single fold into (-2^23, 2^23]: ``x - 2^24`` if ``x > 2^23``, else
  ``x + 2^24`` if ``x <= -2^23``, else ``x``. 2^23 stays, -2^23 becomes +2^23. It equals the
  modular 24-bit wrap while |x| < 3 * 2^23 (``|a_in| < 2^18``); beyond, Lava folds once only and
  so do we. Lava computes ``a_in << 6`` and the sum in int32, which wraps for |a_in| >= 2^25:
  reproduced as well.
- The decay offsets are Loihi 1's 1-bit ``ds_offset = 1`` (current) and ``dm_offset = 0``
  (voltage), hence ``du + 1`` but ``dv``: ``du = 4095`` clears u every step.
- ``bias_exp < 0`` (outside the documented 0..7) is an arithmetic right shift, as in Lava.
- The threshold and the input are MSB-aligned by 6 bits (Loihi's ``vth_shift``/``act_shift``).

Loihi 2 silicon (option ``silicon_reset=True``). Silicon keeps its refractory counter in the
``v`` register: a neuron that fires reads ``v = 128`` (refractory delay 1 x 128) at that step,
not 0, and on the next step that count is released to 0 before the step's input is
integrated, so the dynamics after the spike are Lava's; only the value of ``v`` on the spike
step differs. Evidence: the NIR paper's Loihi 2 trace (``lif_lava_loihi_fixed.csv``) equals
Lava's CPU trace on 996 of 1000 steps and reads 128 exactly on the 4 spike steps (461, 511,
711, 761), whatever v was before the spike (1695 or 1656), while the next step reads 0;
lava-nc issue #282 ("on the hardware it is reset to 128, which implements the refractory
period") and nengo-loihi issue #170 ("Loihi uses the voltage to count the refractory period
after a spike", value refractory period x 128) say the same. The trace cannot tell whether
``u`` of the step after the spike reaches ``v`` (it is 0 there at all four spikes); we take
DESIGN §2b's reading, integrated after the release. The extra state ``refractory`` (0/1,
the neuron fired at the previous step) stands for the silicon's counter, which lives inside
``v``'s 24 bits on the chip: it costs no state bits there.

Dense (``PyDenseModelBitAcc``), the synapse side:

- weights are first clipped to 8 bits for their sign mode, then their low bits dropped:
  ``sign_mode`` is excitatory if every weight is >= 0, inhibitory if every weight is <= 0,
  mixed otherwise; clip to [0, 255], [-255, 0] or [-256, 255]; then
  ``w = (w >> k) << k`` with ``k = 8 - num_weight_bits + is_mixed`` (on ``-w`` for inhibitory
  matrices, so those round toward zero). With the default 8 bits a **mixed-sign matrix loses
  the LSB of every odd weight, rounded toward minus infinity** (3 -> 2, -3 -> -4): Loihi
  stores the sign in the 8 weight bits and scales mixed weights by 2.
- ``a = (W @ s) << weight_exp`` (an arithmetic right shift for a negative ``weight_exp``),
  sent through Lava's int32 channel (wraps modulo 2^32).
- Dense delivers ``a`` one step later (its ``a_buff``): the spikes of step t reach ``u`` at
  t + 1, and ``a_in = 0`` at the first step. A projection with delay 1.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit

STATE = (("u", 24), ("v", 24))
"""State variables and their bit widths (``v`` also holds silicon's refractory count)."""

SILICON_STATE = STATE + (("refractory", 1),)
"""State with ``silicon_reset=True``: ``refractory`` is 1 on the step after a spike."""

PARAMS = (
    ("du", 0, 4095, "current decay, 12-bit unsigned: u keeps (4096 - (du + 1)) / 4096 per step"),
    ("dv", 0, 4095, "voltage decay, 12-bit unsigned: v keeps (4096 - dv) / 4096 per step"),
    ("vth", 0, 131071, "threshold mantissa, 17-bit unsigned: spike when v > vth << 6"),
    ("bias_mant", -4096, 4095, "bias mantissa, 13-bit signed, added to v every step"),
    ("bias_exp", 0, 7, "bias exponent, 3-bit unsigned: bias = bias_mant << bias_exp"),
)
"""(name, lo, hi, meaning) of every per-neuron integer parameter, ranges as Lava documents them.

Lava holds ``du``, ``dv`` and ``vth`` once per LIF process and ``bias_*`` per neuron; the
functions here accept any of them per neuron (arrays broadcast)."""

DENSE_PARAMS = (
    ("weights", -256, 255, "synaptic weight, clipped to 8 bits for the matrix's sign mode"),
    ("num_weight_bits", 1, 8, "weight precision: the low 8 - num_weight_bits (+1 if mixed) bits drop"),
    ("weight_exp", -8, 8, "a = (W @ s) << weight_exp (negative: arithmetic right shift)"),
)
"""(name, lo, hi, meaning) of the Dense projection's integer parameters."""

SPIKE = "bit"
DENSE_DELAY = 1
"""Lava's Dense delivers the spikes of step t at step t + 1."""

SILICON_REFRACTORY_V = 128
"""What Loihi 2 silicon reads in ``v`` on the step a neuron fires (refractory delay 1 x 128)."""

_DECAY_UNITY = 4096  # decays are 12-bit fractions of 2^12
_DECAY_SHIFT = 12
_ACT_SHIFT = 6  # a_in and vth are MSB-aligned to the 24-bit state
_VTH_SHIFT = 6
_MAX_UV = 1 << 23
_V_LIMIT = _MAX_UV - 1
_DS_OFFSET = 1  # Loihi 1's current decay offset bit, kept by Lava: du = 4095 clears u
_DM_OFFSET = 0

SIGN_MIXED = 1
SIGN_EXCITATORY = 2
SIGN_INHIBITORY = 3


def _wrap32(x):
    """Two's complement wrap to int32 (Lava's int32 state and channel arithmetic)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _rtz_decay(x, keep):
    """rtz(x * keep / 4096): Lava's ``sign(x) * (abs(x) >> 12)``, in int64."""
    p = x * keep
    return np.sign(p) * (np.abs(p) >> _DECAY_SHIFT)


def _fold24(x):
    """Lava's one fold of the current into (-2^23, 2^23]."""
    y = np.where(x > _MAX_UV, x - 2 * _MAX_UV, x)
    return np.where(y <= -_MAX_UV, x + 2 * _MAX_UV, y)


def effective_bias(bias_mant, bias_exp) -> np.ndarray:
    """bias_mant << bias_exp (floor right shift for a negative exponent), int64."""
    mant = np.asarray(bias_mant, np.int64)
    exp = np.asarray(bias_exp, np.int64)
    return np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))


def golden_step(state: dict, a_in: np.ndarray, params: dict, *, silicon_reset: bool = False,
                reset_subtract: bool = False):
    """One timestep of a vector of loihi_cuba neurons (numpy int64, the reference form).

    Parameters
    ----------
    state : {"u", "v"} int arrays (n,), plus "refractory" (0/1) with ``silicon_reset``
        (missing means 0).
    a_in : int array (n,), the step's synaptic input as Dense delivers it (already delayed).
    params : {"du", "dv", "vth", "bias_mant", "bias_exp"}, scalars or arrays broadcasting to (n,).
    silicon_reset : reproduce Loihi 2 silicon's ``v = 128`` on the spike step (module docstring).
    reset_subtract : after a spike ``v -= vth << 6`` instead of ``v = 0``: not Lava's neuron, an
        option of qsnnsim's (a Loihi 2 microcoded neuron can do it) for networks trained with
        reset by subtraction (snnTorch ``RSynaptic``); the oracle proves only the default.

    Returns
    -------
    (spikes, new_state): spikes int64 0/1 (n,); new_state a new dict of int64 arrays.
    """
    u = np.asarray(state["u"], np.int64)
    v = np.asarray(state["v"], np.int64)
    a = _wrap32(np.asarray(a_in, np.int64))
    du = np.asarray(params["du"], np.int64)
    dv = np.asarray(params["dv"], np.int64)
    vth = np.asarray(params["vth"], np.int64)
    bias = effective_bias(params["bias_mant"], params["bias_exp"])
    if silicon_reset:
        refractory = np.asarray(state.get("refractory", np.zeros_like(u)), np.int64)
        # The refractory count silicon kept in v is released before this step's integration.
        v = np.where(refractory != 0, 0, v)
    # Lava: int32 sum of the decayed current and the shifted input, then one 24-bit fold.
    u_pre = _wrap32(_rtz_decay(u, _DECAY_UNITY - (du + _DS_OFFSET)) + _wrap32(a << _ACT_SHIFT))
    u = _fold24(u_pre)
    v = np.clip(_rtz_decay(v, _DECAY_UNITY - (dv + _DM_OFFSET)) + u + bias, -_V_LIMIT, _V_LIMIT)
    spikes = (v > (vth << _VTH_SHIFT)).astype(np.int64)
    new_state = {"u": u, "v": np.where(spikes != 0, v - (vth << _VTH_SHIFT) if reset_subtract else 0, v)}
    if silicon_reset:
        new_state["v"] = np.where(spikes != 0, SILICON_REFRACTORY_V, v)
        new_state["refractory"] = spikes.copy()
    return spikes, new_state


@jit
def _wrap32_scalar(x):
    """Two's complement wrap of an int64 scalar to int32."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@jit
def update_neuron(u, v, refractory, a_in, du, dv, vth, bias_mant, bias_exp, silicon_reset, reset_subtract=False):
    """One loihi_cuba neuron, one step: ``(spike, u, v, refractory)``, all int64 scalars.

    Same rule as :func:`golden_step` (module docstring); ``refractory`` is ignored and returned
    0 unless ``silicon_reset``. Overflow: Lava's int32 wrap of ``a_in``, of ``a_in << 6`` and of
    their sum with the decayed current, then its one 24-bit fold; ``v`` saturates at
    +-(2^23 - 1).
    """
    if silicon_reset and refractory != 0:
        v = np.int64(0)
    a = _wrap32_scalar(np.int64(a_in))
    p = np.int64(u) * (_DECAY_UNITY - (du + _DS_OFFSET))
    decayed_u = -((-p) >> _DECAY_SHIFT) if p < 0 else p >> _DECAY_SHIFT
    x = _wrap32_scalar(decayed_u + _wrap32_scalar(a << _ACT_SHIFT))
    if x > _MAX_UV:
        u_new = x - 2 * _MAX_UV
    elif x <= -_MAX_UV:
        u_new = x + 2 * _MAX_UV
    else:
        u_new = x
    q = np.int64(v) * (_DECAY_UNITY - (dv + _DM_OFFSET))
    decayed_v = -((-q) >> _DECAY_SHIFT) if q < 0 else q >> _DECAY_SHIFT
    bias = np.int64(bias_mant) << bias_exp if bias_exp >= 0 else np.int64(bias_mant) >> (-bias_exp)
    h = min(max(decayed_v + u_new + bias, -_V_LIMIT), _V_LIMIT)
    spike = np.int64(h > (np.int64(vth) << _VTH_SHIFT))
    if spike:
        if silicon_reset:
            h = np.int64(SILICON_REFRACTORY_V)
        elif reset_subtract:
            h = h - (np.int64(vth) << _VTH_SHIFT)
        else:
            h = np.int64(0)
    return spike, u_new, h, (spike if silicon_reset else np.int64(0))


def sign_mode(weights: np.ndarray) -> int:
    """Lava's sign mode of a weight matrix: SIGN_EXCITATORY, SIGN_INHIBITORY or SIGN_MIXED."""
    w = np.asarray(weights)
    if w.min() >= 0:
        return SIGN_EXCITATORY
    if w.max() <= 0:
        return SIGN_INHIBITORY
    return SIGN_MIXED


def dense_weights(weights: np.ndarray, *, num_weight_bits: int = 8, mode: int | None = None) -> np.ndarray:
    """The weights Lava's bit-accurate Dense actually uses (int64): clipped, then LSBs dropped.

    A mixed-sign matrix keeps ``num_weight_bits - 1`` magnitude bits plus the sign, so with 8
    bits every odd weight loses its LSB, rounded toward minus infinity (module docstring).
    """
    mode = sign_mode(weights) if mode is None else mode
    w = np.asarray(weights, np.int64)
    is_mixed = int(mode == SIGN_MIXED)
    if mode == SIGN_INHIBITORY:
        w = -w  # Lava clips and truncates the magnitude of an inhibitory matrix
    w = np.clip(w, -256 * is_mixed, 255)
    k = 8 - num_weight_bits + is_mixed
    w = (w >> k) << k
    return -w if mode == SIGN_INHIBITORY else w


def dense_input(weights: np.ndarray, spikes: np.ndarray, *, weight_exp: int = 0, num_weight_bits: int = 8,
                mode: int | None = None) -> np.ndarray:
    """What Lava's Dense computes from one step's spikes: int64 (n_out,), delivered one step later.

    Parameters
    ----------
    weights : int (n_out, n_in) as given to ``Dense(weights=...)``.
    spikes : int (n_in,) 0/1 (a graded payload multiplies, as with ``num_message_bits > 0``).
    weight_exp, num_weight_bits : Dense's ``proc_params``.
    mode : a SIGN_* constant, or None to infer it from ``weights`` as Lava does.
    """
    w = dense_weights(weights, num_weight_bits=num_weight_bits, mode=mode)
    acc = w @ np.asarray(spikes, np.int64)
    acc = acc << weight_exp if weight_exp > 0 else acc >> (-weight_exp)
    return _wrap32(acc)  # Lava's a_out channel is int32


def dense_trace(weights: np.ndarray, spikes: np.ndarray, **dense_options) -> np.ndarray:
    """a_in for every step (T, n_out) from input spikes (T, n_in), with Dense's one-step delay."""
    spikes = np.asarray(spikes, np.int64)
    a = np.zeros((spikes.shape[0], np.shape(weights)[0]), np.int64)
    for t in range(1, spikes.shape[0]):
        a[t] = dense_input(weights, spikes[t - DENSE_DELAY], **dense_options)
    return a


# --------------------------------------------------------------------------- the dialect spec
# What the stages read (qsnnsim/neurons/base.py): the step above over a population's neurons,
# its parameters per channel, and the engine's slice kernel around ``update_neuron``.

#: The chip's state, voltage first (the first variable is what a run reports as the membrane);
#: the refractory flag of the silicon option lives inside v's 24 bits on the chip: 0 SRAM bits.
_CHIP_STATE = (("v", 24), ("u", 24))
_SILICON_STATE_SRAM = _CHIP_STATE + (("refractory", 0),)


def _state_vars(pop) -> tuple:
    return _SILICON_STATE_SRAM if (pop.params or {}).get("silicon_reset", 0) else _CHIP_STATE


def _parameters(pop) -> dict:
    params = {name: np.asarray(pop.params[name], np.int64) for name, *_ in PARAMS}
    params["silicon_reset"] = int(pop.params.get("silicon_reset", 0))
    params["reset_subtract"] = int(pop.params.get("reset_subtract", 0))
    return params


def _step(params: dict, state: dict, current: np.ndarray):
    return golden_step(state, current, params, silicon_reset=bool(params["silicon_reset"]),
                       reset_subtract=bool(params["reset_subtract"]))


@jit
def _fire_neurons(current, channel, u, v, refractory, du, dv, vth, bias_mant, bias_exp, silicon_reset,
                  reset_subtract, spikes):
    """``update_neuron`` over a slice, in place; neuron i is in slice channel ``channel[i]``."""
    for i in range(current.shape[0]):
        c = channel[i]
        s, u_new, v_new, r_new = update_neuron(u[i], v[i], refractory[i], current[i], du[c], dv[c], vth[c],
                                               bias_mant[c], bias_exp[c], silicon_reset, reset_subtract)
        u[i] = u_new
        v[i] = v_new
        refractory[i] = r_new
        spikes[i] = s


def _fire(acc, acc_lo, acc_hi, mult, shift, state, params, plane, first, pop, index_base):
    from qsnnsim.kernels import phase

    current, channel, saturations = phase.slice_currents(acc, acc_lo, acc_hi, mult, shift, plane, first, pop)
    n = current.shape[0]
    spikes = np.empty(n, np.uint8)
    refractory = state["refractory"] if "refractory" in state else np.zeros(n, np.int16)
    _fire_neurons(current, channel, state["u"], state["v"], refractory, params["du"], params["dv"], params["vth"],
                  params["bias_mant"], params["bias_exp"], params["silicon_reset"], params["reset_subtract"], spikes)
    return spikes, saturations, phase.spikes_to_packets(spikes, index_base)


def _dialect():
    from qsnnsim.neurons.base import Dialect, Param

    return Dialect(
        name="loihi_cuba",
        summary="Loihi CUBA LIF as lava-nc 0.10 PyLifModelBitAcc: 24-bit current u and voltage v, 1-bit spikes",
        spike_max=1,
        params=tuple(Param(name, lo, hi, meaning) for name, lo, hi, meaning in PARAMS)
        + (Param("silicon_reset", 0, 1, "1: Loihi 2 silicon's v = 128 on the spike step (module docstring)",
                 per_population=True),
           Param("reset_subtract", 0, 1, "1: v -= vth << 6 after a spike (qsnnsim's option; Lava sets v = 0)",
                 per_population=True, default=0)),
        state_vars=_state_vars,
        parameters=_parameters,
        step=_step,
        fire=_fire,
        counts=(("current_update", 1),),
    )


DIALECT = _dialect()
