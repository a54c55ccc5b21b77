"""The ``xylo_lif`` dialect: SynSense Xylo's integer LIF neuron and its synapses.

This module owns the dialect's integer semantics, proven bit for bit against xylosim 0.1.3
``XyloLayer`` (``xylosim.v1`` and ``xylosim.v2``, the vendor's C++ simulator; docs/oracles.md
has the commands and the results).

Names: ``isyn`` and ``isyn2`` the two synaptic currents a Xylo neuron has (synapse ids 0 and
1, each with its own decay), ``vmem`` the membrane, all 16-bit two's complement;
``dash_*`` decay shifts; ``threshold``; a spike is a **count** (0..31, 0..1 for readouts).

Synapses (``XyloLayer::deliver_spikes`` and ``XyloIAFNeuron::receiveSpike``):

- the event count of a source per step is clipped to 15 for input channels, 31 for the
  recurrent (and readout) projections; a count c delivers the synapse's weight c times;
- each event adds ``wrap16(w << weight_shift)`` (w int8; the C++ converts the shifted int to
  int16, which wraps for shifts > 8) to the target current with **16-bit saturation after
  every event**, in delivery order: sources in index order, input channels first, then the
  recurrent spikes of the previous step (a delay-1 projection), which also reach the readout
  neurons. While the running sum stays inside [-2^15, 2^15 - 1], or every event has one sign,
  this equals one saturating add of the summed input (DESIGN §2b's form, ``golden_step``'s
  default); otherwise only the ordered form (``golden_step(..., ordered=True)`` with the
  events along a leading axis, built by ``synaptic_events``) is the vendor's.

Neuron step, after the events (``XyloIAFNeuron::evolve``), with
``decay(x, d) = x >> d`` (floor), or ``sign(x)`` where that is 0 (a positive value always
decays by at least 1; a negative one already does, by floor)::

    isyn  -= decay(isyn, dash_syn);  isyn2 -= decay(isyn2, dash_syn2)
    I      = isyn + isyn2
    v1:  vmem = sat16((vmem - decay(vmem, dash_mem)) + I)
    v2:  dv   = wrap16(-decay(vmem, dash_mem))
         dv   = sat16(sat16(dv + I) + bias)
         vmem = sat16(vmem + dv)
    n     = min(max_spikes, vmem // threshold) if vmem >= threshold else 0
    vmem -= n * threshold                        (reset by subtraction, several spikes a step)

``xylosim.v1`` (Xylo, no bias) saturates once; ``xylosim.v2`` (Xylo Audio 2 / IMU, with an
optional bias) computes the change of ``vmem`` first and saturates it before adding it, so the
two differ when that change leaves 16 bits (e.g. vmem = -32768, dash_mem = 1, I = 32767: v1
gives 16383, v2 gives -1), and v2 turns ``-decay(-32768, 0)`` into -32768 (int16 negation). DESIGN
§2b's formula is v1's. ``bias`` is v2's (0 = no bias, as ``has_bias=False``).

Not modelled: xylosim's ``aliases`` (one neuron's spikes copied to others) and its
hibernation flag, which changes no state.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit

STATE = (("isyn", 16), ("isyn2", 16), ("vmem", 16))
"""State variables and bit widths. ``isyn2`` is the second synaptic current every Xylo neuron
has (xylosim records it as ``rec_i_syn2``; the chip has a second input weight RAM for it),
with its own decay ``dash_syn2``; a network that uses one synapse leaves it at 0."""

PARAMS = (
    ("threshold", 1, 32767, "spike threshold: n = vmem // threshold spikes when vmem >= threshold"),
    ("dash_syn", 0, 15, "isyn decay shift, 4-bit: isyn loses isyn >> dash_syn (at least 1) a step"),
    ("dash_syn2", 0, 15, "isyn2 decay shift, 4-bit"),
    ("dash_mem", 0, 15, "vmem decay shift, 4-bit"),
    ("bias", -32768, 32767, "xylosim.v2 bias added to the membrane change every step (0: none)"),
    ("weight_shift", 0, 15, "per projection: each event adds wrap16(w << weight_shift), w int8"),
)
"""(name, lo, hi, meaning) of every integer parameter. ``threshold``, ``dash_*`` and ``bias`` are
per neuron; ``weight_shift`` is per projection (input, recurrent, readout). xylosim takes the
shifts as uint8/int8 and the header calls the decays 4-bit fields."""

SPIKE = "count"
MAX_INPUT_EVENTS = 15
"""Input events per channel per step beyond this are dropped (``MAX_NUM_INP_SPIKES``)."""
MAX_SPIKES = 31
"""Spikes a hidden neuron may emit per step (``MAX_NUM_SPIKES``); recurrent counts clip here."""
MAX_OUTPUT_SPIKES = 1
"""Spikes a readout neuron may emit per step (``MAX_NUM_OUT_SPIKES``)."""
RECURRENT_DELAY = 1

_LO = -(1 << 15)
_HI = (1 << 15) - 1


def _sat16(x):
    return np.clip(x, _LO, _HI)


def _wrap16(x):
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def decay(x: np.ndarray, dash) -> np.ndarray:
    """The bitshift decay step: ``x >> dash`` (floor), or ``sign(x)`` where that is 0 (int64)."""
    x = np.asarray(x, np.int64)
    d = x >> np.asarray(dash, np.int64)
    return np.where(d == 0, np.sign(x), d)


def clip_events(counts: np.ndarray, max_events: int = MAX_INPUT_EVENTS) -> np.ndarray:
    """Event counts per source for one step, clipped as the chip does (int64)."""
    return np.minimum(np.asarray(counts, np.int64), max_events)


def weight_contribution(weights: np.ndarray, weight_shift: int) -> np.ndarray:
    """What one event adds to a current: ``wrap16(w << weight_shift)`` (int64)."""
    return _wrap16(np.asarray(weights, np.int64) << weight_shift)


def synaptic_events(counts: np.ndarray, weights: np.ndarray, weight_shift: int,
                    max_events: int = MAX_INPUT_EVENTS) -> np.ndarray:
    """One projection's events of one step, in the vendor's delivery order: int64 (k, n_post).

    Row r is the r-th event's contribution to every target (0 where the source has no
    synapse onto it): sources in index order, a source with (clipped) count c repeated c times.

    Parameters
    ----------
    counts : int (n_pre,) events (spike counts) of each source this step.
    weights : int8 (n_pre, n_post) synaptic weights (0 = no synapse).
    weight_shift, max_events : the projection's shift and count limit.
    """
    c = clip_events(counts, max_events)
    contributions = weight_contribution(weights, weight_shift)
    return np.repeat(contributions, c, axis=0).reshape(-1, np.shape(weights)[1])


def receive_events(current: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Add events to a 16-bit current with saturation after each, in order along axis 0.

    ``events`` has shape (k, *current.shape). Each event is the map ``x -> clamp(x + e, lo, hi)``;
    maps of the form ``x -> clamp(x + s, a, b)`` compose into one of the same form
    (``(s1, a1, b1)`` then ``(s2, a2, b2)`` is ``(s1 + s2, clamp(a1 + s2, a2, b2),
    clamp(b1 + s2, a2, b2))``), so the k events fold pairwise in log2(k) vector steps,
    exactly equal to adding them one by one.
    """
    x = np.asarray(current, np.int64)
    s = np.asarray(events, np.int64)
    if s.shape[0] == 0:
        return x.copy()
    a = np.full(s.shape, _LO, np.int64)
    b = np.full(s.shape, _HI, np.int64)
    while s.shape[0] > 1:
        k = s.shape[0] // 2 * 2  # an odd last map waits for the next round, keeping the order
        s1, s2, a1, a2, b1, b2 = s[0:k:2], s[1:k:2], a[0:k:2], a[1:k:2], b[0:k:2], b[1:k:2]
        parts = (s1 + s2, np.clip(a1 + s2, a2, b2), np.clip(b1 + s2, a2, b2))
        s, a, b = (np.concatenate([p, q[k:]]) for p, q in zip(parts, (s, a, b), strict=True))
    return np.clip(x + s[0], a[0], b[0])


def golden_step(state: dict, a_in: np.ndarray, params: dict, *, a_in2: np.ndarray | None = None,
                version: int = 1, max_spikes: int = MAX_SPIKES, ordered: bool = False):
    """One timestep of a vector of xylo_lif neurons (numpy int64, the reference form).

    Parameters
    ----------
    state : {"isyn", "isyn2", "vmem"} int arrays of one shape, e.g. (n,) ("isyn2" missing means 0).
    a_in : int, the state's shape: the step's summed input to synapse 0 (``w << weight_shift``
        per event, counts already clipped), added with one saturation; with ``ordered``, shape
        (k, *state shape): its k events in delivery order, saturating after each (the vendor's).
    params : {"threshold", "dash_syn", "dash_syn2", "dash_mem", "bias"}, scalars or arrays
        broadcasting to (n,); "dash_syn2" and "bias" default to 0.
    a_in2 : same as ``a_in`` for synapse 1, or None for no input there.
    version : 1 (``xylosim.v1``, DESIGN §2b) or 2 (``xylosim.v2``), module docstring.
    max_spikes : 31 for hidden neurons, 1 for readout neurons.
    ordered : ``a_in``/``a_in2`` carry a leading event axis (see ``a_in``).

    Returns
    -------
    (spikes, new_state): spike counts int64 (n,) in 0..max_spikes; a new state dict.
    """
    def receive(current, events):
        if ordered:
            return receive_events(current, events)
        return _sat16(np.asarray(current, np.int64) + np.asarray(events, np.int64))

    isyn = receive(state["isyn"], a_in)
    isyn2 = np.asarray(state.get("isyn2", np.zeros_like(isyn)), np.int64)
    if a_in2 is not None:
        isyn2 = receive(isyn2, a_in2)
    vmem = np.asarray(state["vmem"], np.int64)
    threshold = np.asarray(params["threshold"], np.int64)
    isyn = isyn - decay(isyn, params["dash_syn"])
    isyn2 = isyn2 - decay(isyn2, params.get("dash_syn2", 0))
    current = isyn + isyn2
    if version == 1:
        vmem = _sat16(vmem - decay(vmem, params["dash_mem"]) + current)
    elif version == 2:
        dv = _wrap16(-decay(vmem, params["dash_mem"]))
        dv = _sat16(_sat16(dv + current) + np.asarray(params.get("bias", 0), np.int64))
        vmem = _sat16(vmem + dv)
    else:
        raise ValueError(f"xylo_lif version must be 1 or 2 (got {version})")
    n = np.where(vmem >= threshold, np.minimum(max_spikes, vmem // np.maximum(threshold, 1)), 0)
    vmem = vmem - n * threshold
    return n.astype(np.int64), {"isyn": isyn, "isyn2": isyn2, "vmem": vmem}


@jit
def _decay_scalar(x, dash):
    """decay() for one int64 value."""
    d = x >> dash
    if d == 0:
        if x > 0:
            return np.int64(1)
        if x < 0:
            return np.int64(-1)
    return d


@jit
def update_neuron(isyn, isyn2, vmem, a_in, a_in2, threshold, dash_syn, dash_syn2, dash_mem, bias, version,
                  max_spikes):
    """One xylo_lif neuron, one step: ``(n_spikes, isyn, isyn2, vmem)``, all int64 scalars.

    Same rule as :func:`golden_step` with summed inputs ``a_in``/``a_in2`` (one saturating add
    each). Overflow: every current and the membrane saturate at [-2^15, 2^15 - 1]; version 2
    also wraps ``-decay(vmem)`` to int16, as the C++ does.
    """
    i0 = min(max(np.int64(isyn) + a_in, _LO), _HI)
    i1 = min(max(np.int64(isyn2) + a_in2, _LO), _HI)
    i0 = i0 - _decay_scalar(i0, dash_syn)
    i1 = i1 - _decay_scalar(i1, dash_syn2)
    current = i0 + i1
    m = np.int64(vmem)
    if version == 1:
        m = min(max(m - _decay_scalar(m, dash_mem) + current, _LO), _HI)
    else:
        dv = -_decay_scalar(m, dash_mem)
        if dv > _HI:
            dv -= 1 << 16  # int16 negation of -32768
        dv = min(max(dv + current, _LO), _HI)
        dv = min(max(dv + bias, _LO), _HI)
        m = min(max(m + dv, _LO), _HI)
    n = np.int64(0)
    if m >= threshold:
        n = min(np.int64(max_spikes), m // threshold)
        m -= n * threshold
    return n, i0, i1, m


# --------------------------------------------------------------------------- the dialect spec
# What the stages read (qsnnsim/neurons/base.py). On the chip a xylo_lif neuron has one synaptic
# current (isyn): every projection into the population adds to it, as DESIGN §2b states; the
# second current of the vendor's neuron (isyn2) is for a second synapse port no projection of a
# workload names, so it takes no SRAM here. The summed input is added with one saturation
# (DESIGN §2b, order-independent like every accumulator of DESIGN §2); the vendor saturates
# after each event in its delivery order, which differs only when the running sum leaves 16
# bits part-way (``golden_step(..., ordered=True)`` reproduces that for the oracle:
# docs/oracles.md, docs/design-notes.md).

_CHIP_STATE = (("isyn", 16), ("vmem", 16))
_CHIP_PARAMS = ("threshold", "dash_syn", "dash_mem", "bias")


def _state_vars(pop) -> tuple:
    return _CHIP_STATE


def _parameters(pop) -> dict:
    params = {name: np.asarray(pop.params[name], np.int64) for name in _CHIP_PARAMS}
    params["version"] = int(pop.params["version"])
    return params


def _step(params: dict, state: dict, current: np.ndarray):
    counts, new = golden_step(state, current, params, version=params["version"], max_spikes=MAX_SPIKES)
    return counts, {"isyn": new["isyn"], "vmem": new["vmem"]}


@jit
def _fire_neurons(current, channel, isyn, vmem, threshold, dash_syn, dash_mem, bias, version, spikes):
    """``update_neuron`` over a slice, in place; neuron i is in slice channel ``channel[i]``."""
    for i in range(current.shape[0]):
        c = channel[i]
        n, i0, _, m = update_neuron(isyn[i], 0, vmem[i], current[i], 0, threshold[c], dash_syn[c], 0,
                                    dash_mem[c], bias[c], version, MAX_SPIKES)
        isyn[i] = i0
        vmem[i] = m
        spikes[i] = n


def _fire(acc, acc_lo, acc_hi, mult, shift, state, params, plane, first, pop, index_base):
    from qsnnsim.kernels import phase

    current, channel, saturations = phase.slice_currents(acc, acc_lo, acc_hi, mult, shift, plane, first, pop)
    spikes = np.empty(current.shape[0], np.uint8)
    _fire_neurons(current, channel, state["isyn"], state["vmem"], params["threshold"], params["dash_syn"],
                  params["dash_mem"], params["bias"], params["version"], spikes)
    return spikes, saturations, phase.spikes_to_packets(spikes, index_base)


def _dialect():
    from qsnnsim.neurons.base import Dialect, Param

    ranges = {name: (lo, hi, meaning) for name, lo, hi, meaning in PARAMS}
    return Dialect(
        name="xylo_lif",
        summary="SynSense Xylo LIF as xylosim 0.1.3 XyloLayer: 16-bit isyn and vmem, graded spikes (counts 0..31)",
        spike_max=MAX_SPIKES,
        params=tuple(Param(name, *ranges[name]) for name in _CHIP_PARAMS)
        + (Param("version", 1, 2, "1: xylosim.v1 (Xylo; bias must be 0), 2: xylosim.v2 (Xylo Audio 2 / IMU)",
                 per_population=True),),
        state_vars=_state_vars,
        parameters=_parameters,
        step=_step,
        fire=_fire,
        counts=(("current_update", 1), ("multi_spike_compare", 1)),
    )


DIALECT = _dialect()
