"""From a flat NIR graph to synapses: each chain of stateless nodes between two neuron nodes
becomes one float projection, a composed linear map the importer then quantises.

A workload (DESIGN §2) joins populations by projections of four kinds; a NIR graph joins
neuron nodes (IF, LIF, CubaLIF, LI, ...) by chains of linear nodes (Affine, Conv2d, pooling,
Flatten, Scale) and Delay nodes. :func:`incoming` walks back from a neuron node through its
chains to the neuron nodes (or the Input) they start from and composes each chain into one
:class:`FloatProjection`: ``conv2d`` (a Conv2d, possibly with a non-overlapping pool before or
after it, composed exactly into one strided kernel), ``pool`` (a SumPool2d or AvgPool2d alone),
``identity`` (no node, or a Scale), or ``dense`` (anything else into a 1-D target: the chain
applied to the source's basis, exact). Biases of Affine and Conv2d nodes travel to the target
neuron as a per-neuron input. A chain reached over a back edge (a recurrent connection)
delivers one step later; Delay nodes add their steps. What cannot be one projection is one
line naming the node and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qsnnsim.errors import NirImportError
from qsnnsim.importers import nir_float
from qsnnsim.importers.nir_graph import INTEGRATORS, SPIKING, FlatGraph, Node, conv_padding, per_neuron

NEURONS = SPIKING + INTEGRATORS


@dataclass
class FloatProjection:
    """One composed chain: ``kind`` conv2d | pool | identity | dense, with float weights."""

    source: str            # a neuron node or the Input
    target: str
    kind: str
    weight: np.ndarray     # conv2d (C_out, C_in, kH, kW); dense (n_out, n_in); identity (C,) per channel; pool: None
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    pool_scale: float = 1.0  # pool: 1 for sums, 1/(kH kW) for averages
    delay: int = 0
    nodes: list = field(default_factory=list)   # the chain's node names, source side first
    notes: list = field(default_factory=list)   # what was rounded, and by how much


def _pair(v) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def incoming(flat: FlatGraph, target: str, dt: float) -> tuple[list[FloatProjection], np.ndarray]:
    """The projections into neuron (or Output) node ``target``, and the bias (float, per neuron of
    the target's input shape) that its chains' Affine/Conv2d biases add every step."""
    node = flat.nodes[target]
    bias = np.zeros(node.in_shape)
    projections: list[FloatProjection] = []
    seen_bias: set[str] = set()

    def walk(name: str, chain: list[str], recurrent: bool) -> None:
        n = flat.nodes[name]
        if n.kind in NEURONS or n.kind == "Input":
            projections.append(_compose(flat, n.name, target, chain[::-1], recurrent, dt))
            return
        if n.kind == "Output":
            raise NirImportError(flat.file, name, "feeds another node", "an Output node ends the graph")
        for src in n.sources:
            walk(src, chain + [name], recurrent or src in n.back_sources)

    for src in node.sources:
        walk(src, [], src in node.back_sources)
    # Biases: each Affine/Conv2d node's bias counts once, however many chains pass through it.
    for p in projections:
        for name in p.nodes:
            if name in seen_bias:
                continue
            seen_bias.add(name)
            b = _node_bias(flat, flat.nodes[name], p, node)
            if b is not None:
                bias = bias + b.reshape(node.in_shape)
    return projections, bias


def _node_bias(flat: FlatGraph, n: Node, p: FloatProjection, target: Node):
    """A chain node's bias as the target neurons see it (passed through the rest of the chain)."""
    if n.kind not in ("Affine", "Conv2d", "Conv1d") or getattr(n.nir, "bias", None) is None:
        return None
    b = np.asarray(n.nir.bias, np.float64)
    if not b.any():
        return None
    rest = p.nodes[p.nodes.index(n.name) + 1:]
    value = np.broadcast_to(b.reshape((-1,) + (1,) * (len(n.out_shape) - 1)), n.out_shape).astype(np.float64)
    for name in rest:
        value = apply_linear(flat.nodes[name], value)
    return value


def apply_linear(n: Node, x: np.ndarray) -> np.ndarray:
    """One stateless node applied to one value of its input shape: the float reference's own
    rule for it (:mod:`nir_float`), on a batch of one; a Delay passes the value through."""
    x = np.asarray(x, np.float64).reshape(n.in_shape)
    if n.kind == "Delay":
        return x
    step = nir_float._compile(n, _NO_TIME, "<nir>")
    return np.asarray(step(x[None], {}))[0].reshape(n.out_shape)


#: Stateless nodes do not read the discretisation; any valid one compiles them.
_NO_TIME = nir_float.Discretisation(dt=1.0)


def conv2d(x: np.ndarray, w: np.ndarray, stride, padding) -> np.ndarray:
    """PyTorch's cross-correlation with zero padding: x (C, H, W), w (C_out, C, kH, kW) (the float
    reference's, for one sample)."""
    return nir_float._conv2d(x[None], w, stride, padding)[0]


def pool2d(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Window sums of x (C, H, W) with zero padding (the float reference's, for one sample)."""
    return nir_float._pool2d(x[None], kernel, stride, padding)[0]


def _compose(flat: FlatGraph, source: str, target: str, chain: list[str], recurrent: bool, dt: float) -> FloatProjection:
    """One chain (node names, source side first) as one FloatProjection."""
    file = flat.file
    delay = 1 if recurrent else 0
    notes: list[str] = []
    ops = []
    for name in chain:
        n = flat.nodes[name]
        if n.kind == "Delay":
            steps = np.asarray(n.nir.delay, np.float64).reshape(-1) / dt
            if steps.size and np.ptp(steps) > 1e-9:
                raise NirImportError(file, f"{name}.delay", "differs between neurons",
                                     "qsnnsim delays a whole projection: use one delay per Delay node")
            whole = int(round(float(steps[0]))) if steps.size else 0
            if abs(whole - float(steps[0])) > 1e-6:
                notes.append(f"{name}: delay {float(steps[0]) * dt:g} s = {float(steps[0]):g} steps, "
                             f"rounded to {whole} (off by {abs(whole - float(steps[0])) * dt:g} s)")
            delay += whole
            continue
        ops.append(n)
    src, tgt = flat.nodes[source], flat.nodes[target]
    shape_in, shape_out = src.out_shape, tgt.in_shape
    p = FloatProjection(source=source, target=target, kind="dense", weight=None, delay=delay, nodes=chain, notes=notes)
    # A Scale by one value for every neuron commutes with every linear node: fold it into a factor
    # (an exported workload's input scale, for one), unless it is all the chain has.
    factor = 1.0
    uniform = [n for n in ops if n.kind == "Scale" and np.ptp(np.asarray(n.nir.scale, np.float64)) == 0]
    if len(uniform) < len([n for n in ops if n.kind != "Flatten"]):
        for n in uniform:
            factor *= float(np.asarray(n.nir.scale, np.float64).reshape(-1)[0])
        ops = [n for n in ops if n not in uniform]
    composed = _compose_ops(flat, p, ops, source, target, chain, shape_in, shape_out, file)
    if factor != 1.0:
        if composed.kind == "pool":
            composed.pool_scale *= factor
        else:
            composed.weight = composed.weight * factor
    return composed


def _compose_ops(flat, p, ops, source, target, chain, shape_in, shape_out, file) -> FloatProjection:
    """The composed projection of the chain's remaining nodes (see :func:`_compose`)."""
    kinds = [n.kind for n in ops if n.kind != "Flatten"]
    if not kinds or kinds == ["Scale"]:
        if math.prod(shape_in) != math.prod(shape_out):
            raise NirImportError(file, target, f"takes {shape_in} from {source} without a synapse node", "re-export")
        scale = per_neuron(ops[-1].nir.scale, ops[-1].in_shape) if kinds else np.ones(shape_out)
        p.kind, p.weight = "identity", scale.reshape(shape_out)
        return p
    if kinds == ["Conv1d"]:
        # A Conv1d on (C, L) is a Conv2d with a 1-row kernel on (C, 1, L) (the workload's shape).
        n = next(n for n in ops if n.kind == "Conv1d")
        w = np.asarray(n.nir.weight, np.float64)[:, :, None, :]
        p.kind, p.weight, p.kernel = "conv2d", w, (1, w.shape[3])
        p.stride = (1, int(np.asarray(n.nir.stride).reshape(-1)[0]))
        p.padding = (0, conv_padding(n.nir.padding, (1, w.shape[3]), n, file)[1])
        return p
    if len(shape_out) == 3 and kinds in (["Conv2d"], ["SumPool2d"], ["AvgPool2d"],
                                         ["Conv2d", "SumPool2d"], ["Conv2d", "AvgPool2d"],
                                         ["SumPool2d", "Conv2d"], ["AvgPool2d", "Conv2d"]):
        return _conv_like(p, [n for n in ops if n.kind != "Flatten"], file)
    if len(shape_out) == 1 or all(len(n.out_shape) == 1 for n in ops[-1:]):
        # Anything into a 1-D target: the chain applied to every source neuron's unit input
        # (biases left out: they travel separately), an exact dense matrix.
        n_in = math.prod(shape_in)
        cols = []
        for j in range(n_in):
            e = np.zeros(n_in)
            e[j] = 1.0
            v = e.reshape(shape_in)
            for n in ops:
                v = apply_linear(n, v) - (_bias_image(n) if n.kind in ("Affine", "Conv2d", "Conv1d") else 0)
            cols.append(np.asarray(v, np.float64).reshape(-1))
        p.kind, p.weight = "dense", np.stack(cols, axis=1)
        return p
    raise NirImportError(file, chain[-1] if chain else target,
                         f"the chain {' -> '.join([source] + chain + [target])} cannot be one synapse into a "
                         f"{shape_out} population", "put a neuron node between its convolutions, or pool right "
                         "before or after one convolution")


def _bias_image(n: Node) -> np.ndarray:
    """What a node's bias alone adds to its output (subtracted when composing weights)."""
    b = np.asarray(getattr(n.nir, "bias", 0.0), np.float64)
    if n.kind == "Affine":
        return b
    return np.broadcast_to(b.reshape((-1,) + (1,) * (len(n.out_shape) - 1)), n.out_shape)


def _conv_like(p: FloatProjection, ops: list[Node], file: str) -> FloatProjection:
    """Conv2d, a pool, or a Conv2d with a non-overlapping pool before or after it, as one kernel."""
    if len(ops) == 1 and ops[0].kind in ("SumPool2d", "AvgPool2d"):
        n = ops[0]
        k = _pair(n.nir.kernel_size)
        p.kind, p.kernel, p.stride, p.padding = "pool", k, _pair(n.nir.stride), _pair(n.nir.padding)
        p.pool_scale = 1.0 / (k[0] * k[1]) if n.kind == "AvgPool2d" else 1.0
        return p
    conv = next(n for n in ops if n.kind == "Conv2d")
    w = np.asarray(conv.nir.weight, np.float64)
    kernel, stride = (w.shape[2], w.shape[3]), _pair(conv.nir.stride)
    padding = conv_padding(conv.nir.padding, kernel, conv, file)
    if len(ops) == 1:
        p.kind, p.weight, p.kernel, p.stride, p.padding = "conv2d", w, kernel, stride, padding
        return p
    pool = next(n for n in ops if n.kind != "Conv2d")
    pk, ps, pp = _pair(pool.nir.kernel_size), _pair(pool.nir.stride), _pair(pool.nir.padding)
    if pk != ps or pp != (0, 0):
        raise NirImportError(file, pool.name, f"pools with kernel {pk}, stride {ps}, padding {pp} next to a convolution",
                             "only a non-overlapping pool (stride = kernel, no padding) composes with a convolution")
    scale = 1.0 / (pk[0] * pk[1]) if pool.kind == "AvgPool2d" else 1.0
    if ops[0].kind == "Conv2d":
        # pool(conv(x)): sum of the kernel shifted by the conv stride over the pool window.
        kh, kw = (pk[0] - 1) * stride[0] + kernel[0], (pk[1] - 1) * stride[1] + kernel[1]
        big = np.zeros(w.shape[:2] + (kh, kw))
        for a in range(pk[0]):
            for b in range(pk[1]):
                big[:, :, a * stride[0]:a * stride[0] + kernel[0], b * stride[1]:b * stride[1] + kernel[1]] += w
        p.weight, p.kernel = big * scale, (kh, kw)
        p.stride, p.padding = (stride[0] * pk[0], stride[1] * pk[1]), padding
    else:
        # conv(pool(x)): every kernel tap covers a pool window of the input.
        big = np.repeat(np.repeat(w, pk[0], axis=2), pk[1], axis=3) * scale
        p.weight, p.kernel = big, big.shape[2:]
        p.stride, p.padding = (stride[0] * pk[0], stride[1] * pk[1]), (padding[0] * pk[0], padding[1] * pk[1])
    p.kind = "conv2d"
    return p
