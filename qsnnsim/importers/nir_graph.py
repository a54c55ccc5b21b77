"""A NIR graph made flat, ordered and shaped: what the importer and its float reference walk.

NIR (``nir`` on PyPI, DESIGN §10) describes a network as nodes joined by edges; a node may be
a whole nested ``NIRGraph``. :func:`flatten` inlines nested graphs (their nodes named
``outer.inner``, their own Input/Output nodes bypassed), infers every node's output shape from
the graph's Input, and orders the nodes: a topological order of the graph without its back
edges. A back edge closes a cycle (a recurrent connection): it carries the previous
timestep's value, i.e. a delay of one step, which is how the frameworks that export
recurrence (snnTorch ``RLeaky``/``RSynaptic``) run it. Every problem is one line naming the
node and the fix (:class:`qsnnsim.errors.ImportError_`).

Node kinds handled: Input, Output, Affine, Linear, Scale, Conv1d, Conv2d, SumPool2d,
AvgPool2d, Flatten, Delay, Threshold, I, IF, LI, LIF, CubaLI, CubaLIF, and NIRGraph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qsnnsim.errors import NirImportError

#: Nodes that hold state across timesteps and whose output is spikes.
SPIKING = ("IF", "LIF", "CubaLIF", "Threshold")
#: Nodes that hold state and output their membrane (integrators).
INTEGRATORS = ("I", "LI", "CubaLI")
#: Stateless nodes that transform a signal linearly (composable into one projection).
LINEAR_OPS = ("Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten")
KINDS = ("Input", "Output", "Delay") + SPIKING + INTEGRATORS + LINEAR_OPS


@dataclass
class Node:
    """One node of the flat graph: its NIR object, kind, input and output shapes."""

    name: str
    kind: str
    nir: object
    in_shape: tuple = ()
    out_shape: tuple = ()
    sources: list = field(default_factory=list)   # names of the nodes feeding it (fan-in adds)
    back_sources: set = field(default_factory=set)  # those of them reached over a back edge


@dataclass
class FlatGraph:
    """Nodes in evaluation order (sources before targets except over back edges)."""

    nodes: dict            # name -> Node, in order
    input: str             # the graph's Input node
    output: str            # the graph's Output node
    file: str = "<nir>"

    def targets(self, name: str) -> list[str]:
        return [n for n, node in self.nodes.items() if name in node.sources]


def _kind(obj) -> str:
    return type(obj).__name__


def _array(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def flatten(graph, file: str = "<nir>") -> FlatGraph:
    """Inline nested graphs, order the nodes and infer their shapes (see the module docstring)."""
    nodes: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    _inline(graph, "", nodes, edges, file)
    # Edges into and out of a nested graph's bypassed Input/Output nodes are joined through.
    inputs = [n for n, node in nodes.items() if node.kind == "Input"]
    outputs = [n for n, node in nodes.items() if node.kind == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirImportError(file, "graph", f"has {len(inputs)} Input and {len(outputs)} Output nodes at the top "
                             "level", "export a network with one input and one output")
    for src, dst in edges:
        for end in (src, dst):
            if end not in nodes:
                raise NirImportError(file, f"edges ({src} -> {dst})", f"names a node {end!r} that the graph lacks",
                                     "re-export the network")
        nodes[dst].sources.append(src)
    order = _order(nodes, inputs[0], file)
    flat = FlatGraph(nodes={n: nodes[n] for n in order}, input=inputs[0], output=outputs[0], file=file)
    _infer_shapes(flat)
    return flat


def _inline(graph, prefix: str, nodes: dict, edges: list, file: str) -> None:
    """Add ``graph``'s nodes (nested graphs inlined) and edges, names prefixed."""
    local_io = {}
    for name, obj in graph.nodes.items():
        full = prefix + name
        kind = _kind(obj)
        if kind == "NIRGraph":
            sub_nodes: dict = {}
            sub_edges: list = []
            _inline(obj, full + ".", sub_nodes, sub_edges, file)
            ins = [n for n, node in sub_nodes.items() if node.kind == "Input"]
            outs = [n for n, node in sub_nodes.items() if node.kind == "Output"]
            if len(ins) != 1 or len(outs) != 1:
                raise NirImportError(file, full, f"is a nested graph with {len(ins)} Input and {len(outs)} Output "
                                     "nodes", "nested graphs must have one input and one output")
            # Bypass the nested Input/Output: edges into the graph go to what its Input feeds.
            local_io[full] = (ins[0], outs[0])
            for n, node in sub_nodes.items():
                if n not in (ins[0], outs[0]):
                    nodes[n] = node
            for s, d in sub_edges:
                edges.append((s, d))
            continue
        if kind not in KINDS:
            raise NirImportError(file, full, f"is a {kind} node, which qsnnsim does not import",
                                 f"use one of {', '.join(KINDS)} (docs/nir-import.md)")
        nodes[full] = Node(name=full, kind=kind, nir=obj)
    for src, dst in graph.edges:
        s, d = prefix + src, prefix + dst
        if s in local_io:
            s = local_io[s][1]
        if d in local_io:
            d = local_io[d][0]
        edges.append((s, d))
    # Now remove the bypassed nested Input/Output names from the edge list by joining through them,
    # one name at a time so that a nested Input wired straight to its Output joins through both.
    for bypassed in local_io.values():
        for name in bypassed:
            into = [s for s, d in edges if d == name]
            out_of = [d for s, d in edges if s == name]
            edges[:] = [(s, d) for s, d in edges if name not in (s, d)]
            edges.extend((s, d) for s in into for d in out_of)


def _order(nodes: dict, start: str, file: str) -> list[str]:
    """Depth-first order from the Input; an edge to a node on the current path is a back edge."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for n, node in nodes.items():
        for s in node.sources:
            succ[s].append(n)
    state: dict[str, int] = {}
    post: list[str] = []

    def visit(n: str) -> None:
        stack = [(n, iter(succ[n]))]
        state[n] = 1
        while stack:
            current, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[current] = 2
                post.append(current)
                stack.pop()
            elif state.get(child) == 1:
                nodes[child].back_sources.add(current)
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))

    visit(start)
    unreached = [n for n in nodes if n not in state]
    if unreached:
        raise NirImportError(file, unreached[0], "is not reachable from the graph's Input",
                             "connect it or remove it from the export")
    return post[::-1]


def _pair(value) -> tuple[int, int]:
    a = np.asarray(value).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _infer_shapes(flat: FlatGraph) -> None:
    file = flat.file
    for name, node in flat.nodes.items():
        obj = node.nir
        if node.kind == "Input":
            shape = tuple(int(s) for s in np.asarray(obj.input_type["input"]).reshape(-1))
            if not shape or any(s < 1 for s in shape):
                raise NirImportError(file, name, f"has input shape {shape}", "export with the input shape given")
            node.in_shape = node.out_shape = shape
            continue
        forward = [s for s in node.sources if s not in node.back_sources]
        if not forward:
            raise NirImportError(file, name, "has no input except a recurrent one", "re-export the network")
        shapes = {flat.nodes[s].out_shape for s in forward}
        if len(shapes) != 1:
            sizes = {math.prod(s) for s in shapes}
            if len(sizes) != 1:
                raise NirImportError(file, name, f"adds inputs of different shapes {sorted(shapes)}",
                                     "fan-in edges must carry equal shapes")
            shapes = {max(shapes, key=len)}
        node.in_shape = shapes.pop()
        node.out_shape = _out_shape(node, file)
    for name, node in flat.nodes.items():
        for src in node.back_sources:
            if math.prod(flat.nodes[src].out_shape) != math.prod(node.in_shape):
                raise NirImportError(file, f"edges ({src} -> {name})", f"a recurrent edge carries "
                                     f"{flat.nodes[src].out_shape} into an input of {node.in_shape}",
                                     "re-export the network")


def _out_shape(node: Node, file: str) -> tuple:
    obj, kind, shape = node.nir, node.kind, node.in_shape
    if kind in ("Affine", "Linear"):
        w = np.asarray(obj.weight)
        if w.ndim != 2 or w.shape[1] != math.prod(shape):
            raise NirImportError(file, f"{node.name}.weight", f"has shape {w.shape}, but the node's input has "
                                 f"{math.prod(shape)} values {shape}", "re-export the network")
        return (int(w.shape[0]),)
    if kind == "Flatten":
        return (math.prod(shape),)
    if kind in ("Conv2d", "Conv1d"):
        w = np.asarray(obj.weight)
        if int(obj.groups) != 1:
            raise NirImportError(file, f"{node.name}.groups", f"is {obj.groups}", "only groups = 1 convolutions import")
        if kind == "Conv1d":
            if len(shape) != 2:
                raise NirImportError(file, node.name, f"is a Conv1d on an input of shape {shape}", "export (C, L) inputs")
            c_in, length = shape
            k, s, d = int(w.shape[2]), int(np.asarray(obj.stride).reshape(-1)[0]), int(np.asarray(obj.dilation).reshape(-1)[0])
            p = _padding_1d(obj.padding, k, node, file)
            if d != 1:
                raise NirImportError(file, f"{node.name}.dilation", f"is {d}", "only dilation 1 imports")
            return (int(w.shape[0]), (length + 2 * p - k) // s + 1)
        if len(shape) != 3 or w.ndim != 4 or w.shape[1] != shape[0]:
            raise NirImportError(file, f"{node.name}.weight", f"has shape {w.shape} for an input {shape}",
                                 "re-export the network with its input shape")
        kernel = (int(w.shape[2]), int(w.shape[3]))
        stride = _pair(obj.stride)
        if _pair(obj.dilation) != (1, 1):
            raise NirImportError(file, f"{node.name}.dilation", f"is {_pair(obj.dilation)}", "only dilation 1 imports")
        padding = conv_padding(obj.padding, kernel, node, file)
        h = (shape[1] + 2 * padding[0] - kernel[0]) // stride[0] + 1
        wd = (shape[2] + 2 * padding[1] - kernel[1]) // stride[1] + 1
        return (int(w.shape[0]), h, wd)
    if kind in ("SumPool2d", "AvgPool2d"):
        if len(shape) != 3:
            raise NirImportError(file, node.name, f"pools an input of shape {shape}", "pool (C, H, W) inputs")
        k, s, p = _pair(obj.kernel_size), _pair(obj.stride), _pair(obj.padding)
        return (shape[0], (shape[1] + 2 * p[0] - k[0]) // s[0] + 1, (shape[2] + 2 * p[1] - k[1]) // s[1] + 1)
    return shape


def conv_padding(padding, kernel: tuple, node: Node, file: str) -> tuple[int, int]:
    """A Conv2d's padding as two integers ("same" with an odd kernel is (k - 1) / 2)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding == "same" and kernel[0] % 2 and kernel[1] % 2:
            return ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
        raise NirImportError(file, f"{node.name}.padding", f"is {padding!r} with kernel {kernel}",
                             "use numeric padding or 'same' with an odd kernel")
    return _pair(padding)


def _padding_1d(padding, k: int, node: Node, file: str) -> int:
    if isinstance(padding, str):
        return conv_padding(padding, (1, k), node, file)[1]
    return int(np.asarray(padding).reshape(-1)[0])


def per_neuron(value, shape: tuple) -> np.ndarray:
    """A NIR parameter (a scalar, or one value per neuron) as a float64 array of ``shape``."""
    a = _array(value)
    if a.size == 1:
        return np.full(shape, float(a.reshape(-1)[0]))
    if a.size == math.prod(shape):
        return a.reshape(shape)
    raise ValueError(f"{a.size} values for {math.prod(shape)} neurons {shape}")
