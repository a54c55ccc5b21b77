"""Network families of the trainer as population/projection graphs (mlp, conv, vgg, resnet).

A :class:`NetSpec` is the one description shared by the torch model (:mod:`.model`), the
folding into integers (:mod:`.fold`) and the exporter, so the three cannot disagree on the
topology. Its vocabulary is the workload's (DESIGN §2): populations joined by projections.

Population kinds: ``input`` (the image: int8 codes or a binary spike frame), ``lif`` (a
Q-SNN layer: leak 0.5, hard reset, strict threshold), ``pool`` (2x2 max pooling of spikes, exported as a sumpool2d into
an IF population with threshold 0) and ``readout`` (the logits). Projection kinds:
``conv2d``, ``linear``, ``identity`` (residual shortcut) and ``maxpool``. ``weight_kind``
says how a projection's weights are quantised in the Q-SNN: ``int8`` (first and last
layers by default), ``binary`` (hidden layers; first and last too with
``edge_weights="binary"``, for a chip whose synapses are all 1 bit) or ``none`` (identity
and pooling). The family docstrings say "8-bit" for the default edge kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnnsim.workload import conv_output_hw

POP_KINDS = ("input", "lif", "pool", "readout")
PROJ_KINDS = ("conv2d", "linear", "identity", "maxpool")
WEIGHT_KINDS = ("int8", "binary", "none")

DEFAULT_WIDTHS = {"mlp": 128, "conv": 16, "vgg": 32, "resnet": 16}


@dataclass(frozen=True)
class PopSpec:
    """A population: ``name``, ``kind`` (see :data:`POP_KINDS`), ``shape`` (C, H, W) or (N,)."""

    name: str
    kind: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ProjSpec:
    """A projection from ``source`` to ``target`` (see :data:`PROJ_KINDS`, :data:`WEIGHT_KINDS`).

    ``has_bn``: a BatchNorm follows the synapses during training (folded at export).
    """

    name: str
    kind: str
    source: str
    target: str
    weight_kind: str = "none"
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    global_sum_pool: bool = False
    has_bn: bool = False


@dataclass(frozen=True)
class NetSpec:
    """A whole network: populations in topological order and the projections between them."""

    network: str
    input_shape: tuple[int, ...]
    n_classes: int
    populations: tuple[PopSpec, ...]
    projections: tuple[ProjSpec, ...]

    def pop(self, name: str) -> PopSpec:
        return next(p for p in self.populations if p.name == name)

    def projections_into(self, name: str) -> tuple[ProjSpec, ...]:
        return tuple(p for p in self.projections if p.target == name)

    @property
    def lif_names(self) -> tuple[str, ...]:
        """Hidden layers with learned synapses (the spike-rate regulariser's layers)."""
        return tuple(p.name for p in self.populations if p.kind == "lif")


class _Graph:
    """Grows a NetSpec layer by layer, computing every output shape as the workload will."""

    def __init__(self, network: str, input_shape: tuple[int, ...], n_classes: int, edge_weights: str = "int8"):
        self.network = network
        # Weight kind of the first and last weight layers (the hidden ones are binary).
        self.edge = edge_weights
        self.n_classes = n_classes
        self.input_shape = tuple(input_shape)
        self.pops = [PopSpec("input", "input", self.input_shape)]
        self.projs: list[ProjSpec] = []

    def shape(self, name: str) -> tuple[int, ...]:
        return next(p.shape for p in self.pops if p.name == name)

    def conv(self, source: str, name: str, c_out: int, weight_kind: str, kernel: int = 3, stride: int = 1,
             padding: int = 1, target: str | None = None, proj_name: str | None = None) -> str:
        """A conv2d + BatchNorm into a new lif population ``name`` (or into ``target``)."""
        _, h, w = self.shape(source)
        k, s, p = (kernel, kernel), (stride, stride), (padding, padding)
        out = (c_out,) + conv_output_hw((h, w), k, s, p)
        if target is None:
            self.pops.append(PopSpec(name, "lif", out))
            target = name
        elif self.shape(target) != out:
            raise ValueError(f"{proj_name}: conv gives {out}, target {target} is {self.shape(target)}")
        self.projs.append(ProjSpec(proj_name or name, "conv2d", source, target, weight_kind, k, s, p, has_bn=True))
        return target

    def linear(self, source: str, name: str, n_out: int, weight_kind: str) -> str:
        """A linear + BatchNorm into a new lif population of ``n_out`` neurons."""
        self.pops.append(PopSpec(name, "lif", (n_out,)))
        self.projs.append(ProjSpec(name, "linear", source, name, weight_kind, has_bn=True))
        return name

    def maxpool(self, source: str, name: str) -> str:
        """2x2/2 max pooling of spikes (floor of odd sizes, as PyTorch)."""
        c, h, w = self.shape(source)
        out = (c,) + conv_output_hw((h, w), (2, 2), (2, 2), (0, 0))
        self.pops.append(PopSpec(name, "pool", out))
        self.projs.append(ProjSpec(name, "maxpool", source, name, "none", (2, 2), (2, 2), (0, 0)))
        return name

    def basic_block(self, source: str, name: str, c_out: int, stride: int) -> str:
        """ResNet basic block: conv-BN-LIF, conv-BN + shortcut, added before the spike."""
        c_in = self.shape(source)[0]
        mid = self.conv(source, f"{name}_mid", c_out, "binary", stride=stride, proj_name=f"{name}_conv1")
        out_shape = self.shape(mid)
        self.pops.append(PopSpec(f"{name}_out", "lif", out_shape))
        self.conv(mid, "", c_out, "binary", target=f"{name}_out", proj_name=f"{name}_conv2")
        if stride == 1 and c_in == c_out:
            self.projs.append(ProjSpec(f"{name}_short", "identity", source, f"{name}_out", "none"))
        else:
            self.conv(source, "", c_out, "binary", kernel=1, stride=stride, padding=0, target=f"{name}_out",
                      proj_name=f"{name}_short")
        return f"{name}_out"

    def readout(self, source: str, global_sum_pool: bool = False) -> NetSpec:
        """A linear readout (8-bit or binary; no BatchNorm; a float bias) and the finished spec."""
        self.pops.append(PopSpec("out", "readout", (self.n_classes,)))
        self.projs.append(ProjSpec("fc_out", "linear", source, "out", self.edge, global_sum_pool=global_sum_pool))
        return NetSpec(self.network, self.input_shape, self.n_classes, tuple(self.pops), tuple(self.projs))


def mlp(input_shape: tuple[int, ...], n_classes: int, width: int, edge: str = "int8") -> NetSpec:
    """Two hidden layers: 8-bit fc1 (width units), binary fc2 (width units), 8-bit readout."""
    g = _Graph("mlp", input_shape, n_classes, edge)
    x = g.linear("input", "fc1", width, edge)
    x = g.linear(x, "fc2", width, "binary")
    return g.readout(x)


def conv(input_shape: tuple[int, ...], n_classes: int, width: int, edge: str = "int8") -> NetSpec:
    """Small conv net: 8-bit conv1 (w), binary conv2 (2w), pool, binary conv3 (4w), pool, readout."""
    g = _Graph("conv", input_shape, n_classes, edge)
    x = g.conv("input", "conv1", width, edge)
    x = g.conv(x, "conv2", 2 * width, "binary")
    x = g.maxpool(x, "pool1")
    x = g.conv(x, "conv3", 4 * width, "binary")
    x = g.maxpool(x, "pool2")
    return g.readout(x)


def vgg(input_shape: tuple[int, ...], n_classes: int, width: int, edge: str = "int8") -> NetSpec:
    """VGG-style: [w, w, M, 2w, 2w, M, 4w, M] 3x3 convs (first 8-bit, rest binary), readout."""
    g = _Graph("vgg", input_shape, n_classes, edge)
    x = g.conv("input", "conv1", width, edge)
    x = g.conv(x, "conv2", width, "binary")
    x = g.maxpool(x, "pool1")
    x = g.conv(x, "conv3", 2 * width, "binary")
    x = g.conv(x, "conv4", 2 * width, "binary")
    x = g.maxpool(x, "pool2")
    x = g.conv(x, "conv5", 4 * width, "binary")
    x = g.maxpool(x, "pool3")
    return g.readout(x)


def resnet(input_shape: tuple[int, ...], n_classes: int, width: int, edge: str = "int8") -> NetSpec:
    """ResNet-style: 8-bit stem, three basic blocks (identity, then two 1x1-shortcut
    downsampling blocks), global sum pool into the readout."""
    g = _Graph("resnet", input_shape, n_classes, edge)
    x = g.conv("input", "stem", width, edge)
    x = g.basic_block(x, "b1", width, stride=1)
    x = g.basic_block(x, "b2", 2 * width, stride=2)
    x = g.basic_block(x, "b3", 4 * width, stride=2)
    return g.readout(x, global_sum_pool=True)


FAMILIES = {"mlp": mlp, "conv": conv, "vgg": vgg, "resnet": resnet}


def build_netspec(network: str, input_shape: tuple[int, ...], n_classes: int, width: int | None = None,
                  edge_weights: str = "int8") -> NetSpec:
    """The NetSpec of family ``network`` for an input shape (C, H, W) and a class count.

    ``edge_weights`` is the weight kind of the first and last weight layers: ``int8``
    (the Q-SNN default) or ``binary`` (every weight 1 bit).
    """
    if edge_weights not in ("int8", "binary"):
        raise ValueError(f"edge_weights must be int8 or binary (got {edge_weights!r})")
    return FAMILIES[network](tuple(input_shape), n_classes, width or DEFAULT_WIDTHS[network], edge_weights)
