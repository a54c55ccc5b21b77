"""The float reference of a NIR graph: the importer's numpy model of what the network computes.

The importer (DESIGN §10) calibrates its integer quantisation on this model and reports the
float-vs-integer agreement from it, so it must say exactly which discrete-time network a
continuous-time NIR graph stands for. It walks a :class:`~qsnnsim.importers.nir_graph.FlatGraph`
one timestep at a time, nodes in the flat order, vectorised over a batch of samples. Times are
in seconds (``dt``, ``tau``, ``delay``); values are float64 and unitless.

Each step ``t`` a node's input ``u(t)`` is the sum of its forward sources' outputs at ``t``
plus its back (recurrent) sources' outputs at ``t - 1``, reshaped to the node's input shape.
Before the first step the network is at rest (zero input, every state 0): at ``t = 0`` a back
source delivers its output at rest (an Affine on the recurrent edge, its bias, as snnTorch's
``RSynaptic`` adds it at the first step), and a Delay line starts full of its input at rest. With ``d = decay(tau)`` and ``g = input_gain(tau)`` (:class:`Discretisation`)::

    Input  y = x[t]                     Affine  y = W u + b      Linear  y = W u
    Scale  y = u * s                    Flatten y = u reshaped   Threshold  y = u > theta
    Conv1d/Conv2d  PyTorch cross-correlation (stride, zero padding, bias per channel)
    SumPool2d  window sums (zero padding)       AvgPool2d  window sums / (kH kW)
    Delay  y(t) = u(t - n), n = round(delay / dt) per neuron, its input at rest before
    I, IF        v = v + dt R u
    LI, LIF      v = d v + g (v_leak + R u)
    CubaLI/LIF   i = d_syn i + g_syn w_in u;  v = d_mem v + g_mem (v_leak + R i)
    spiking      z = v > v_threshold; where z: v = v_reset ("zero") or v -= v_threshold ("subtract")

I, LI and CubaLI output ``v``; IF, LIF and CubaLIF output ``z`` (0/1). The Euler rule is
forward Euler on NIR's ``tau dv/dt = (v_leak - v) + R I``; it is what snnTorch's export assumes
(``beta = 1 - dt/tau``, ``r = tau/dt``, so a Leaky becomes ``mem = beta mem + input``). The
exp rule integrates that equation exactly over a step for an input held constant. Euler with
``tau < dt`` gives a negative decay: it is computed as written, the importer reports it.

Reset timing: NIR's equations reset ``v`` in the same step as the spike, and so does this
model. Some frameworks reset one step later (snnTorch's default delayed reset subtracts the
threshold from the next step's membrane); their exports run here with NIR's timing, which
is the contract the integer workload is checked against. NIR also does not say whether a
reset goes to ``v_reset`` or subtracts the threshold: :class:`Discretisation` names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from qsnnsim.errors import NirImportError
from qsnnsim.importers.nir_graph import FlatGraph, Node, _padding_1d, _pair, conv_padding, per_neuron

RULES = ("euler", "exp")
RESETS = ("zero", "subtract")
#: State variables recorded for each stateful node kind (the synaptic current first: it
#: is updated before the membrane within a step).
STATE_VARS = {"I": ("v",), "IF": ("v",), "LI": ("v",), "LIF": ("v",),
              "CubaLI": ("i", "v"), "CubaLIF": ("i", "v")}


@dataclass(frozen=True)
class Discretisation:
    """How continuous NIR time becomes timesteps.

    Parameters
    ----------
    dt : float
        Seconds per timestep (> 0).
    rule : str
        ``"euler"``: decay ``1 - dt/tau`` (snnTorch's export: ``beta = 1 - dt/tau``);
        ``"exp"``: decay ``exp(-dt/tau)``.
    reset : str
        ``"zero"``: after a spike ``v = v_reset`` (0 when the node has none);
        ``"subtract"``: ``v -= v_threshold``.

    Raises
    ------
    NirImportError
        A non-positive or non-finite ``dt``, or an unknown rule or reset.
    """

    dt: float
    rule: str = "euler"
    reset: str = "zero"

    def __post_init__(self):
        # These come from command-line options, not from the NIR file: the fix names the option.
        dt = self.dt
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) \
                or not math.isfinite(dt) or dt <= 0:
            raise NirImportError("<discretisation>", "dt", f"must be a finite number of seconds > 0 (got {dt!r})",
                                 "pass --dt SECONDS, e.g. 1e-4 as snnTorch's export assumes")
        if self.rule not in RULES:
            raise NirImportError("<discretisation>", "rule", f"is {self.rule!r}", f"use one of {', '.join(RULES)}")
        if self.reset not in RESETS:
            raise NirImportError("<discretisation>", "reset", f"is {self.reset!r}",
                                 f"pass --reset {' or --reset '.join(RESETS)}")


@dataclass(frozen=True)
class FloatTrace:
    """What every node did at every step.

    ``outputs``: node name -> float64 ``(T, *out_shape)`` (with a leading ``N`` axis from
    :func:`simulate_batch`), what the node sends (0/1 for spiking nodes). ``states``: node
    name -> ``{"v": ..., "i": ...}`` (``i`` for Cuba nodes only), the state after each step,
    i.e. after any reset; only the neuron nodes of :data:`STATE_VARS` appear.
    """

    outputs: dict
    states: dict


def decay(tau, disc: Discretisation) -> np.ndarray:
    """The per-step decay of a leaky state: ``1 - dt/tau`` (euler) or ``exp(-dt/tau)`` (exp).

    ``tau`` is in seconds, > 0 (scalar or array); the result has its shape, float64.
    """
    ratio = disc.dt / np.asarray(tau, dtype=np.float64)
    return 1.0 - ratio if disc.rule == "euler" else np.exp(-ratio)


def input_gain(tau, disc: Discretisation) -> np.ndarray:
    """The factor multiplying ``(v_leak + R I)`` each step: ``dt/tau`` (euler), ``1 - exp(-dt/tau)`` (exp).

    With it a constant drive ``c`` settles at ``v = c`` under both rules (``decay + gain = 1``).
    """
    ratio = disc.dt / np.asarray(tau, dtype=np.float64)
    # expm1 keeps the gain accurate when dt << tau, where 1 - exp() would lose digits.
    return ratio if disc.rule == "euler" else -np.expm1(-ratio)


def simulate(flat: FlatGraph, x: np.ndarray, disc: Discretisation) -> FloatTrace:
    """Run the graph on one input sequence.

    Parameters
    ----------
    flat : FlatGraph
        From :func:`qsnnsim.importers.nir_graph.flatten`.
    x : ndarray, float, shape (T, *input_shape)
        The Input node's value at each step.
    disc : Discretisation

    Returns
    -------
    FloatTrace
        Arrays of shape ``(T, *shape)``.

    Raises
    ------
    NirImportError
        ``x`` of the wrong shape, or a node parameter that cannot be used (named).
    """
    x = np.asarray(x, dtype=np.float64)
    trace = simulate_batch(flat, x[None], disc)
    return FloatTrace(outputs={name: a[0] for name, a in trace.outputs.items()},
                      states={name: {var: a[0] for var, a in s.items()} for name, s in trace.states.items()})


def simulate_batch(flat: FlatGraph, xs: np.ndarray, disc: Discretisation) -> FloatTrace:
    """Run the graph on ``N`` input sequences at once (see :func:`simulate`).

    ``xs`` is float ``(N, T, *input_shape)``; every array of the returned trace has a leading
    ``N`` axis: ``(N, T, *shape)``. Samples never interact, so this is a loop of
    :func:`simulate`, bit for bit when the weighted sums are exact in float64 and otherwise
    to rounding: BLAS may add a matrix product in another order for another ``N``. Memory
    is ``N * T`` times the sum of all node sizes (float64); a caller with many samples of a
    large network runs them in chunks.

    Raises
    ------
    NirImportError
        As :func:`simulate`, and a recurrent edge whose size differs from its target's input.
    """
    xs = np.asarray(xs, dtype=np.float64)
    in_shape = flat.nodes[flat.input].out_shape
    if xs.ndim < 2 or xs.shape[2:] != tuple(in_shape):
        raise NirImportError(flat.file, flat.input, f"takes input of shape {tuple(in_shape)} per step, but the "
                             f"samples have shape {xs.shape[1:]} per sample", "give x of shape (N, T, *input_shape)")
    n, steps = xs.shape[:2]
    for node in flat.nodes.values():
        _check_back_sizes(node, flat)
    compiled = {name: _compile(node, disc, flat.file) for name, node in flat.nodes.items()}
    outputs = {name: np.zeros((n, steps) + tuple(node.out_shape)) for name, node in flat.nodes.items()}
    states = {name: {var: np.zeros((n, steps) + tuple(node.in_shape)) for var in STATE_VARS[node.kind]}
              for name, node in flat.nodes.items() if node.kind in STATE_VARS}
    live = {name: {var: np.zeros((n,) + tuple(node.in_shape)) for var in STATE_VARS.get(node.kind, ())}
            for name, node in flat.nodes.items()}
    rest, rest_inputs = _at_rest(flat, compiled)
    for name, node in flat.nodes.items():
        if node.kind == "Delay":
            # Before the first step the delay line holds what its input was at rest.
            lag = int(_delay_steps(node, disc, flat.file).max(initial=0))
            live[name]["history"] = [np.broadcast_to(rest_inputs[name], (n,) + tuple(node.in_shape))] * lag
    for t in range(steps):
        for name, node in flat.nodes.items():
            u = xs[:, t] if node.kind == "Input" else _gather(node, outputs, t, n, rest)
            outputs[name][:, t] = compiled[name](u, live[name])
            for var, record in states.get(name, {}).items():
                record[:, t] = live[name][var]
    return FloatTrace(outputs=outputs, states=states)


def _at_rest(flat: FlatGraph, compiled: dict) -> tuple[dict, dict]:
    """Every node's output, and input, before the first step: the network at rest (zero input,
    every neuron's state 0). A stateless node then sends what it makes of a zero input (an
    Affine its bias), a neuron 0. It is what a back edge delivers at t = 0 (snnTorch's
    ``RSynaptic`` adds its recurrent bias at the first step too) and what a Delay line holds.
    Two passes, since a back source comes later in the order (every cycle holds a neuron)."""
    rest = {name: np.zeros((1,) + tuple(node.out_shape)) for name, node in flat.nodes.items()}
    inputs = {}
    for _ in range(2):
        for name, node in flat.nodes.items():
            u = np.zeros((1,) + tuple(node.in_shape))
            for source in node.sources:
                u = u + rest[source].reshape(u.shape)
            inputs[name] = u[0]
            if node.kind == "Input" or node.kind in STATE_VARS:
                continue
            rest[name] = u if node.kind == "Delay" else compiled[name](u, {})
    return {name: value[0] for name, value in rest.items()}, inputs


def _gather(node: Node, outputs: dict, t: int, n: int, rest: dict | None = None) -> np.ndarray:
    """A node's input at step t: forward sources at t plus back sources at t - 1 (fan-in adds);
    at t = 0 a back source delivers its output at rest (:func:`_at_rest`)."""
    shape = (n,) + tuple(node.in_shape)
    u = np.zeros(shape)
    for source in node.sources:
        if source in node.back_sources:
            # A back edge closes a cycle: the value it carries was produced in the previous step.
            if t > 0:
                u += outputs[source][:, t - 1].reshape(shape)
            elif rest is not None:
                u += np.broadcast_to(rest[source].reshape((1,) + tuple(node.in_shape)), shape)
        else:
            u += outputs[source][:, t].reshape(shape)
    return u


def _check_back_sizes(node: Node, flat: FlatGraph) -> None:
    # flatten() checks forward fan-in only: a back source's shape is known after the node's.
    for source in node.back_sources:
        size = math.prod(flat.nodes[source].out_shape)
        if size != math.prod(node.in_shape):
            raise NirImportError(flat.file, f"edges ({source} -> {node.name})",
                                 f"carry {size} values into a node that takes {math.prod(node.in_shape)} "
                                 f"{tuple(node.in_shape)}", "recurrent edges must carry the node's input shape")


def _param(node: Node, field: str, shape: tuple, file: str, default=None) -> np.ndarray:
    """A node parameter as a finite float64 array of ``shape``; one line naming it otherwise."""
    value = getattr(node.nir, field, None)
    if value is None:
        if default is None:
            raise NirImportError(file, f"{node.name}.{field}", "is missing", "re-export the network")
        value = default
    try:
        a = per_neuron(value, tuple(shape))
    except (ValueError, TypeError) as exc:
        raise NirImportError(file, f"{node.name}.{field}", f"does not fit the node: {exc}",
                             "give one value or one per neuron") from None
    if not np.all(np.isfinite(a)):
        raise NirImportError(file, f"{node.name}.{field}", "holds a NaN or an infinity", "re-export the network")
    return a


def _tau(node: Node, field: str, file: str) -> np.ndarray:
    tau = _param(node, field, node.in_shape, file)
    if np.any(tau <= 0):
        raise NirImportError(file, f"{node.name}.{field}", f"has a time constant <= 0 ({tau.min()!r} s)",
                             "time constants are seconds > 0")
    return tau


def _delay_steps(node: Node, disc: Discretisation, file: str) -> np.ndarray:
    """A Delay node's delay in whole steps per neuron: ``round(delay / dt)``, halves to even.

    Python's ``round`` and ``np.rint`` agree on this rule, so the importer gets the same steps.
    """
    steps = _param(node, "delay", node.in_shape, file) / disc.dt
    if np.any(steps < 0):
        raise NirImportError(file, f"{node.name}.delay", f"is negative ({steps.min() * disc.dt!r} s)",
                             "delays are seconds >= 0")
    return np.rint(steps).astype(np.int64)


def _compile(node: Node, disc: Discretisation, file: str):
    """``step(u, state) -> y`` for one node: parameters resolved once, state updated in place."""
    kind, shape = node.kind, tuple(node.in_shape)
    if kind in ("Input", "Output"):
        return lambda u, state: u
    if kind == "Flatten":
        out = tuple(node.out_shape)
        return lambda u, state: u.reshape((u.shape[0],) + out)
    if kind in ("Affine", "Linear"):
        w = np.asarray(node.nir.weight, dtype=np.float64)
        b = _param(node, "bias", (w.shape[0],), file) if kind == "Affine" else np.zeros(w.shape[0])
        return lambda u, state: u.reshape(u.shape[0], -1) @ w.T + b
    if kind == "Scale":
        scale = _param(node, "scale", shape, file)
        return lambda u, state: u * scale
    if kind == "Threshold":
        theta = _param(node, "threshold", shape, file)
        return lambda u, state: (u > theta).astype(np.float64)
    if kind in ("Conv1d", "Conv2d"):
        return _compile_conv(node, file)
    if kind in ("SumPool2d", "AvgPool2d"):
        kernel, stride, pad = _pair(node.nir.kernel_size), _pair(node.nir.stride), _pair(node.nir.padding)
        # PyTorch's AvgPool2d default (count_include_pad=True) divides by the full window.
        scale = 1.0 / (kernel[0] * kernel[1]) if kind == "AvgPool2d" else 1.0
        return lambda u, state: _pool2d(u, kernel, stride, pad) * scale
    if kind == "Delay":
        return _compile_delay(node, disc, file)
    return _compile_neuron(node, disc, file)


def _compile_conv(node: Node, file: str):
    obj = node.nir
    w = np.asarray(obj.weight, dtype=np.float64)
    b = _param(node, "bias", (w.shape[0],), file)
    if node.kind == "Conv1d":
        stride = int(np.asarray(obj.stride).reshape(-1)[0])
        pad = _padding_1d(obj.padding, int(w.shape[2]), node, file)
        return lambda u, state: _conv1d(u, w, stride, pad) + b[:, None]
    stride = _pair(obj.stride)
    pad = conv_padding(obj.padding, (int(w.shape[2]), int(w.shape[3])), node, file)
    return lambda u, state: _conv2d(u, w, stride, pad) + b[:, None, None]


def _conv2d(u: np.ndarray, w: np.ndarray, stride: tuple, pad: tuple) -> np.ndarray:
    """Cross-correlation of (N, C, H, W) with (O, C, kH, kW), zero padding, as PyTorch's Conv2d."""
    up = np.pad(u, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    # Every window position, then every stride-th: (N, C, Ho, Wo, kH, kW), a view, no copy.
    windows = sliding_window_view(up, w.shape[2:], axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    return np.moveaxis(np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])), 3, 1)


def _conv1d(u: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Cross-correlation of (N, C, L) with (O, C, k), zero padding, as PyTorch's Conv1d."""
    up = np.pad(u, ((0, 0), (0, 0), (pad, pad)))
    windows = sliding_window_view(up, w.shape[2], axis=2)[:, :, ::stride]
    return np.moveaxis(np.tensordot(windows, w, axes=([1, 3], [1, 2])), 2, 1)


def _pool2d(u: np.ndarray, kernel: tuple, stride: tuple, pad: tuple) -> np.ndarray:
    """Window sums of (N, C, H, W), zero padding."""
    up = np.pad(u, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    windows = sliding_window_view(up, kernel, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    return windows.sum(axis=(4, 5))


def _compile_delay(node: Node, disc: Discretisation, file: str):
    steps = _delay_steps(node, disc, file)
    lags = [int(lag) for lag in np.unique(steps)]
    masks = [steps == lag for lag in lags]

    def step(u, state):
        # The last max-lag + 1 inputs, newest last; older ones can never be read again.
        history = state.setdefault("history", [])
        history.append(u)
        if len(history) > lags[-1] + 1:
            history.pop(0)
        y = np.zeros_like(u)
        for lag, mask in zip(lags, masks, strict=True):
            # Before a lag's first input arrives (t < lag) that neuron sends 0.
            if lag < len(history):
                y = np.where(mask, history[-1 - lag], y)
        return y

    return step


def _compile_neuron(node: Node, disc: Discretisation, file: str):
    kind, shape = node.kind, tuple(node.in_shape)
    r = _param(node, "r", shape, file)
    if kind in ("I", "IF"):
        # No leak: v = v + dt R u is d = 1, g = dt and v_leak = 0 in the shared update below.
        d_mem, g_mem, v_leak = np.ones(shape), np.full(shape, disc.dt), np.zeros(shape)
    else:
        tau_mem = _tau(node, "tau" if kind in ("LI", "LIF") else "tau_mem", file)
        d_mem, g_mem = decay(tau_mem, disc), input_gain(tau_mem, disc)
        v_leak = _param(node, "v_leak", shape, file)
    is_cuba = kind in ("CubaLI", "CubaLIF")
    if is_cuba:
        tau_syn = _tau(node, "tau_syn", file)
        d_syn, g_syn = decay(tau_syn, disc), input_gain(tau_syn, disc)
        # nir.CubaLIF fills w_in = 1 when it is left out; a file written without it reads back as None.
        w_in = _param(node, "w_in", shape, file, default=1.0)
    is_spiking = kind in ("IF", "LIF", "CubaLIF")
    if is_spiking:
        v_threshold = _param(node, "v_threshold", shape, file)
        v_reset = _param(node, "v_reset", shape, file, default=0.0)
    subtract = disc.reset == "subtract"

    def step(u, state):
        drive = u
        if is_cuba:
            # The membrane integrates this step's current: i is updated first.
            state["i"] = d_syn * state["i"] + g_syn * (w_in * u)
            drive = state["i"]
        v = d_mem * state["v"] + g_mem * (v_leak + r * drive)
        if not is_spiking:
            state["v"] = v
            return v
        z = v > v_threshold
        # NIR resets in the step that spikes (module docstring); the current i is not reset.
        state["v"] = np.where(z, v - v_threshold, v) if subtract else np.where(z, v_reset, v)
        return z.astype(np.float64)

    return step
