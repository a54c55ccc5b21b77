"""NIR import: a float NIR graph and the user's samples -> an integer workload, and the report of
how well the two agree (DESIGN §10, docs/nir-import.md).

The stages, one direction only:

1. read and flatten the graph (:mod:`nir_graph`), read the samples;
2. run the float reference (:mod:`nir_float`, the stated ``dt`` and rule) on the calibration
   samples: it gives every membrane's range;
3. compose each chain of linear nodes into one projection (:mod:`nir_chains`);
4. quantise: weights per output channel (binary +-alpha kept 1-bit, alpha folded into the
   scale; other weights to ``weight_bits``), each population's membrane on a static integer
   grid sized from its float range, decays as fixed-point multipliers, thresholds, biases and
   input scales folded into ``mult``/``shift``, accumulators sized so they never saturate;
5. build and validate the workload (:class:`~qsnnsim.builder.WorkloadBuilder`);
6. run the golden model and the float reference on the samples and compare them, layer by
   layer (:mod:`nir_agreement`).

Which dialect a neuron becomes: LIF and IF become ``qsnn_lif`` (or ``loihi_cuba`` with
``--dialect loihi_cuba``, as a CUBA neuron whose current lasts one step); CubaLIF becomes
``loihi_cuba`` (its current is ``u``). The graph's Output decides the readout: the spike
counts of a spiking output node, the final membrane of an LI output node, or the summed output
of a linear chain. Everything rounded is listed in the result's notes and the provenance.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from qsnnsim.builder import WorkloadBuilder
from qsnnsim.errors import NirImportError, WorkloadError
from qsnnsim.importers import nir_chains, nir_float
from qsnnsim.importers.nir_graph import INTEGRATORS, SPIKING, FlatGraph, flatten, per_neuron

DIALECTS = ("qsnn_lif", "loihi_cuba")
#: ``--dialect`` left out: LIF/IF become qsnn_lif, or loihi_cuba where their decays differ by channel.
AUTO = None
RULES = ("euler", "exp")
RESETS = ("zero", "subtract")
#: Each dialect's reset when the user names none (NIR does not say, DESIGN §10).
DEFAULT_RESET = {"qsnn_lif": "zero", "loihi_cuba": "zero"}
MULT_BITS = 23           # mult < 2^24 (workload format); 23 bits of the scale's precision
DECAY_SHIFT = 16         # qsnn_lif decays as decay_mult / 2^16
LOIHI_STATE_MAX = (1 << 23) - 1
#: The float membrane range is stretched by this much before it is fitted into b bits
#: (a potential before its reset can pass the largest value the reference keeps).
HEADROOM = 2.0


@dataclass(frozen=True)
class ImportOptions:
    """How to discretise and quantise (the `qsnnsim import` flags)."""

    dialect: str | None = AUTO  # None: qsnn_lif, or loihi_cuba for a LIF layer whose decays differ by channel
    dt: float = 1e-4             # snnTorch's hard-coded export dt
    rule: str = "euler"
    reset: str | None = None     # None: the dialect's default
    weight_bits: int = 8
    membrane_bits: int = 16
    timesteps: int | None = None  # needed for a static input
    calibration_samples: int = 256
    name: str | None = None


@dataclass(frozen=True)
class ImportResult:
    workload: object
    agreement: dict
    notes: tuple = ()


@dataclass
class _Pop:
    """A population being built: its NIR node, role, dialect and integer scale."""

    node: str
    name: str
    shape: tuple
    role: str                 # lif | readout
    kind: str                 # the NIR node kind
    scale: float = 1.0        # integer units of the membrane per float unit
    params: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


def read_graph(path: str, notes: list | None = None):
    """A NIR file as a ``nir.NIRGraph``; a file that is not NIR is one line.

    Files written by older NIR versions (graph version 0.2.0) are read too: when the strict
    reader refuses one, it is read again without NIR's type check, and a nested graph whose
    edges name an inner node by a name it does not have (an old writer's slip: the edge says
    ``lif``, the node is ``lif1``) is repaired when exactly one node is unnamed by the edges;
    every repair goes into ``notes``.
    """
    try:
        import nir
        from nir.serialization import hdf2dict
    except ImportError:
        raise NirImportError(path, "", "needs the nir package", 'pip install "qsnnsim[import]"') from None
    if not os.path.isfile(path):
        raise NirImportError(path, "", "does not exist or is not a file", "give the path of a .nir file")
    try:
        import h5py

        with h5py.File(path, "r") as fh:
            data = hdf2dict(fh["node"])
            version = fh.attrs.get("version", None) or (fh["version"][()] if "version" in fh else None)
    except Exception as exc:  # h5py raises OSError, KeyError... for files that are not NIR
        raise NirImportError(path, "", f"is not a NIR (HDF5) file ({type(exc).__name__}: {exc})",
                             "export the network with nir.write") from None
    if data.get("type") not in ("NIRGraph", b"NIRGraph"):
        raise NirImportError(path, "", f"holds a {data.get('type')!r} node, not a graph", "export a whole NIRGraph")
    import copy

    first_error = None
    for type_check in (True, False):
        try:
            # nir consumes the dict it builds from (pops keys): each attempt gets its own copy
            graph = nir.dict2NIRNode({**copy.deepcopy(data), "type_check": type_check})
        except Exception as exc:
            first_error = first_error or exc
            continue
        if not type_check and notes is not None:
            notes.append(f"read without NIR's type check, which refuses it ({first_error}); qsnnsim infers "
                         "and checks the shapes itself")
        return graph
    repairs: list[str] = []
    _repair_edges(data, "", repairs)
    try:
        graph = nir.dict2NIRNode({**copy.deepcopy(data), "type_check": False})
    except Exception:
        raise NirImportError(path, "", f"is not a valid NIR graph ({type(first_error).__name__}: {first_error})",
                             "re-export the network with nir 1.0.8") from None
    if notes is not None:
        shown = version.decode() if isinstance(version, bytes) else version
        notes.append(f"read with repairs (NIR graph version {shown}): " + "; ".join(repairs))
    return graph


def _repair_edges(d: dict, prefix: str, repairs: list) -> None:
    """Rename an edge end that names no node of its graph to the one node no edge names."""
    nodes = d.get("nodes", {})
    for name, sub in nodes.items():
        if isinstance(sub, dict) and sub.get("type") in ("NIRGraph", b"NIRGraph"):
            _repair_edges(sub, f"{prefix}{name}.", repairs)
    edges = [(e[0].decode() if isinstance(e[0], bytes) else str(e[0]), e[1].decode() if isinstance(e[1], bytes)
              else str(e[1])) for e in d.get("edges", [])]
    missing = sorted({end for edge in edges for end in edge} - set(nodes))
    unnamed = sorted(set(nodes) - {end for edge in edges for end in edge})
    if len(missing) == 1 and len(unnamed) == 1:
        old, new = missing[0], unnamed[0]
        d["edges"] = [tuple(new if end == old else end for end in edge) for edge in edges]
        repairs.append(f"edges of {prefix or 'the graph'} name {old!r} for node {prefix}{new}")


def read_samples(path: str, input_shape: tuple, timesteps: int | None):
    """``x`` (N, *input_shape) static or (N, T, *input_shape) events, and ``y`` if any.

    Returns (x float64 (N, T, *input_shape), y int64 or None, "static" | "events").
    """
    from qsnnsim._npz import open_npz

    try:
        with open_npz(path) as entries:  # bounded, never unpickles (docs/input-limits.md)
            if "x" not in entries.files:
                raise NirImportError(path, "x", "is missing", "save the samples as np.savez(path, x=..., y=...)")
            x = np.asarray(entries.get("x", "x"), np.float64)
            y = np.asarray(entries.get("y", "y")) if "y" in entries.files else None
    except WorkloadError as exc:
        raise NirImportError(path, exc.field, f"is not a readable samples file ({exc.problem})",
                             "save the samples with np.savez(path, x=..., y=...)") from None
    except (TypeError, ValueError) as exc:
        raise NirImportError(path, "x", f"is not numbers ({exc})", "save x as a float or integer array") from None
    if x.ndim < 1 or x.shape[0] == 0:
        raise NirImportError(path, "x", f"holds no sample (shape {x.shape})", "save at least one sample")
    n_in = math.prod(input_shape)
    if x.ndim >= 2 and math.prod(x.shape[1:]) == n_in and x.ndim - 1 in (1, len(input_shape)):
        if timesteps is None:
            raise NirImportError(path, "x", f"is a static input {x.shape}: the number of timesteps is not in it",
                                 "give --timesteps T")
        x = np.repeat(x.reshape((x.shape[0], 1) + tuple(input_shape)), timesteps, axis=1)
        encoding = "static"
    elif x.ndim >= 2 and math.prod(x.shape[2:]) == n_in:
        if timesteps is not None and timesteps != x.shape[1]:
            raise NirImportError(path, "x", f"holds events for {x.shape[1]} timesteps, not --timesteps {timesteps}",
                                 "leave --timesteps out for event samples (their T is theirs)")
        x = x.reshape(x.shape[:2] + tuple(input_shape))
        encoding = "events"
    else:
        raise NirImportError(path, "x", f"has shape {x.shape}; the graph's input is {tuple(input_shape)}",
                             f"save x as (N, {', '.join(map(str, input_shape))}) or (N, T, "
                             f"{', '.join(map(str, input_shape))})")
    if not np.isfinite(x).all():
        raise NirImportError(path, "x", "holds NaN or infinite values", "save finite samples")
    if y is not None:
        if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
            raise NirImportError(path, "y", f"has shape {y.shape} {y.dtype}; x has {x.shape[0]} samples",
                                 "save one integer label per sample")
        y = y.astype(np.int64)
    return x, y, encoding


# --------------------------------------------------------------------------- import


def import_nir(model, samples, options: ImportOptions = ImportOptions(), file: str = "<nir>",
               samples_file: str = "<samples>") -> ImportResult:
    """Import a NIR graph (a path or a ``nir.NIRGraph``) with its samples (a path, or ``(x, y)``).

    Raises :class:`NirImportError` (one line) for anything that cannot be imported.
    """
    _check_options(options, file)
    read_notes: list[str] = []
    if isinstance(model, (str, os.PathLike)):
        file = os.fspath(model)
        model = read_graph(file, read_notes)
    flat = flatten(model, file)
    input_shape = flat.nodes[flat.input].out_shape
    if isinstance(samples, (str, os.PathLike)):
        samples_file = os.fspath(samples)
        x, y, encoding = read_samples(samples_file, input_shape, options.timesteps)
    else:
        x, y, encoding = _samples_from_arrays(samples, input_shape, options.timesteps, samples_file)
    disc = nir_float.Discretisation(dt=options.dt, rule=options.rule,
                                    reset=options.reset or DEFAULT_RESET[options.dialect or DIALECTS[0]])
    calib = nir_float.simulate_batch(flat, x[:options.calibration_samples], disc)
    builder = _Builder(flat, options, disc, x, encoding, calib, file)
    builder.samples_file = samples_file
    builder.notes.extend(read_notes)
    workload = builder.build(y)
    from qsnnsim.importers import nir_agreement

    agreement = nir_agreement.compare(flat, workload, builder.populations, x, y, disc, builder.readout_rule)
    for layer in agreement["layers"]:
        # A layer that never fires usually means a wrong --dt (a framework that counts time in
        # steps, such as Sinabs, needs --dt 1) or too few membrane bits: say it, do not hide it.
        for side in ("float", "integer"):
            if layer[f"{side}_rate"] == 0:
                builder.notes.append(f"{layer['node']}: the {side} network never fires on these samples "
                                     "(check --dt, the samples' scale, --membrane-bits)")
    return ImportResult(workload=workload, agreement=agreement, notes=tuple(builder.notes))


def _check_options(options: ImportOptions, file: str) -> None:
    checks = (("dialect", options.dialect or DIALECTS[0], DIALECTS), ("rule", options.rule, RULES))
    for name, value, choices in checks:
        if value not in choices:
            raise NirImportError(file, f"--{name}", f"is {value!r}", f"use one of {', '.join(choices)}")
    if options.reset is not None and options.reset not in RESETS:
        raise NirImportError(file, "--reset", f"is {options.reset!r}", "use zero or subtract")
    if not (options.dt > 0 and math.isfinite(options.dt)):
        raise NirImportError(file, "--dt", f"is {options.dt}", "give the timestep in seconds, e.g. 1e-4")
    if not 1 <= options.weight_bits <= 16 or not 2 <= options.membrane_bits <= 16:
        raise NirImportError(file, "--weight-bits/--membrane-bits", "out of range", "weights 1..16, membranes 2..16")
    if options.timesteps is not None and not 1 <= options.timesteps <= 4096:
        raise NirImportError(file, "--timesteps", f"is {options.timesteps}", "give 1..4096 timesteps")


def _samples_from_arrays(samples, input_shape, timesteps, file):
    import tempfile

    x, y = samples if isinstance(samples, tuple) else (samples, None)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "samples.npz")
        np.savez(path, x=np.asarray(x), **({} if y is None else {"y": np.asarray(y)}))
        return read_samples(path, input_shape, timesteps)


class _Builder:
    """Steps 3-5 of the module docstring for one graph."""

    def __init__(self, flat: FlatGraph, options: ImportOptions, disc, x, encoding, calib, file):
        self.flat, self.options, self.disc, self.x, self.encoding = flat, options, disc, x, encoding
        self.calib, self.file = calib, file
        self.notes: list[str] = []
        self.populations: dict[str, _Pop] = {}
        self.readout_rule = ""
        self._chains: dict = {}
        self._projection_names: set = set()
        self.samples_file = "<samples>"

    # ----------------------------------------------------------------- structure
    def build(self, y):
        flat, options = self.flat, self.options
        T = self.x.shape[1]
        stem = os.path.splitext(os.path.basename(self.file))[0]
        b = WorkloadBuilder(options.name or (stem if self.file != "<nir>" else "imported"),
                            timesteps=T, input_kind="spikes" if self.encoding == "events" else "analog")
        in_node = flat.nodes[flat.input]
        in_shape = _workload_shape(in_node.out_shape)
        b.input("input", in_shape)
        self.input_scale = self._input_scale()
        neurons = [n for n, node in flat.nodes.items() if node.kind in SPIKING + INTEGRATORS]
        out_src = self._output_source()
        for name in neurons:
            node = flat.nodes[name]
            if node.kind in INTEGRATORS and name != out_src:
                raise NirImportError(self.file, name, f"is a {node.kind} (an integrator) inside the network",
                                     "qsnnsim imports integrators only as the readout feeding the Output")
            if node.kind in SPIKING or name != out_src:
                self.populations[name] = _Pop(name, _pop_name(name, self.populations), _workload_shape(node.in_shape),
                                              "lif", node.kind)
        readout = _Pop(flat.output, "readout", None, "readout", flat.nodes[out_src].kind)
        for pop in list(self.populations.values()):
            self._add_population(b, pop)
        # The readout population: its shape is the output node's.
        out_node = flat.nodes[flat.output]
        readout.shape = (math.prod(out_node.in_shape),)
        self.populations[flat.output] = readout
        self._add_readout(b, readout, out_src)
        for pop in list(self.populations.values()):
            if pop.role == "lif":
                self._add_projections(b, pop)
        b.set_samples(self._sample_codes(), labels=y)
        b.set_provenance(**self._provenance())
        try:
            return b.build()
        except WorkloadError as exc:
            where = self.samples_file if exc.field.split(".")[0] in ("samples", "labels") else self.file
            raise NirImportError(where, exc.field, exc.problem, exc.fix) from None

    def _output_source(self) -> str:
        out = self.flat.nodes[self.flat.output]
        if len(out.sources) != 1:
            raise NirImportError(self.file, self.flat.output, f"has {len(out.sources)} inputs", "export one output")
        src = out.sources[0]
        node = self.flat.nodes[src]
        if node.kind in SPIKING + INTEGRATORS or node.kind == "Input":
            return src
        return src  # a linear chain: the readout sums its output (handled in _add_readout)

    def _input_scale(self) -> float:
        if self.encoding == "events":
            values = np.unique(self.x)
            if not set(values.tolist()) <= {0.0, 1.0}:
                raise NirImportError(self.samples_file, "x", f"holds event values {values[:5].tolist()}",
                                     "events must be 0/1 spikes, or save a static input")
            return 1.0
        peak = float(np.abs(self.x).max())
        return peak / 127.0 if peak > 0 else 1.0

    def _sample_codes(self) -> np.ndarray:
        if self.encoding == "events":
            return self.x.astype(np.uint8).reshape((self.x.shape[0], self.x.shape[1]) +
                                                   _workload_shape(self.x.shape[2:]))
        codes = np.clip(np.rint(self.x[:, 0] / self.input_scale), -127, 127).astype(np.int8)
        return codes.reshape((codes.shape[0],) + _workload_shape(codes.shape[1:]))

    # ----------------------------------------------------------------- neurons
    def _incoming(self, node: str):
        """The node's composed projections and the float bias its chains add (cached)."""
        if node not in self._chains:
            self._chains[node] = nir_chains.incoming(self.flat, node, self.options.dt)
        return self._chains[node]

    def _chain_bias(self, pop: _Pop) -> np.ndarray:
        """The chains' bias (Affine/Conv2d biases) per channel of the population."""
        _, bias = self._incoming(pop.node)
        if not bias.any():
            return np.zeros(pop.shape[0])
        return _per_channel(bias.reshape((pop.shape[0], -1)), self.file, f"{pop.node} (input bias)")

    def _membrane_range(self, node: str) -> float:
        if node not in self.calib.states:
            return 0.0  # a Threshold keeps nothing from one step to the next (decay 0)
        v = self.calib.states[node]["v"]
        return float(np.abs(v).max()) if v.size else 0.0

    def _neuron_constants(self, pop: _Pop) -> dict:
        """Per-channel float constants of a neuron node (each must be constant within a channel)."""
        node = self.flat.nodes[pop.node]
        obj, shape = node.nir, node.in_shape
        names = {"LIF": ("tau", "r", "v_leak", "v_threshold"), "IF": ("r", "v_threshold"),
                 "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in"),
                 "LI": ("tau", "r", "v_leak"), "I": ("r",), "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
                 "Threshold": ("threshold",)}[pop.kind]
        out = {}
        for name in names:
            try:
                values = per_neuron(getattr(obj, name), shape)
            except ValueError as exc:
                raise NirImportError(self.file, f"{pop.node}.{name}", str(exc), "re-export the network") from None
            out[name] = _per_channel(values, self.file, f"{pop.node}.{name}")
        reset = getattr(obj, "v_reset", None)
        if reset is not None and np.any(np.asarray(reset, np.float64) != 0) and self.disc.reset == "zero":
            raise NirImportError(self.file, f"{pop.node}.v_reset", "is not 0; a hard reset sets the membrane to 0",
                                 "use --reset subtract or export v_reset = 0")
        return out

    def _add_population(self, b: WorkloadBuilder, pop: _Pop) -> None:
        c = self._neuron_constants(pop)
        kind, disc = pop.kind, self.disc
        theta = c.get("v_threshold", c.get("threshold"))
        if kind == "Threshold":
            # A stateless threshold is an IF neuron that forgets: decay 0, reset irrelevant.
            pop.params = {"decay": np.zeros_like(theta), "gain": np.ones_like(theta), "leak": np.zeros_like(theta)}
        elif kind == "IF":
            pop.params = {"decay": np.ones_like(theta), "gain": disc.dt * c["r"], "leak": np.zeros_like(theta)}
        elif kind == "LIF":
            pop.params = {"decay": nir_float.decay(c["tau"], disc), "gain": nir_float.input_gain(c["tau"], disc) * c["r"],
                          "leak": nir_float.input_gain(c["tau"], disc) * c["v_leak"]}
        elif kind == "CubaLIF":
            g_mem = nir_float.input_gain(c["tau_mem"], disc)
            pop.params = {"decay": nir_float.decay(c["tau_mem"], disc), "leak": g_mem * c["v_leak"],
                          "syn_decay": nir_float.decay(c["tau_syn"], disc),
                          "gain": g_mem * c["r"] * nir_float.input_gain(c["tau_syn"], disc) * c["w_in"]}
        peak = max(float(np.abs(theta).max()), self._membrane_range(pop.node))
        if kind == "CubaLIF":
            # u holds the current in v's units (u = S g_mem R i): it must fit 24 bits too.
            current = self.calib.states[pop.node]["i"].reshape(-1, pop.shape[0], max(1, int(np.prod(pop.shape[1:]))))
            g = nir_float.input_gain(c["tau_mem"], disc) * c["r"]
            peak = max(peak, float((np.abs(current) * g[None, :, None]).max(initial=0.0)))
        peak = peak * HEADROOM or 1.0
        cuba = kind == "CubaLIF" or self.options.dialect == "loihi_cuba"
        if not cuba and kind in ("LIF", "IF") and np.ptp(pop.params["decay"]) > 0 and self.options.dialect is AUTO:
            # qsnn_lif has one decay per population; loihi_cuba keeps one per channel (12-bit),
            # with its current cleared every step (du 4095), which is exactly a LIF.
            self.notes.append(f"{pop.node}: decays differ between channels ({pop.params['decay'].min():.4g}.."
                              f"{pop.params['decay'].max():.4g}): imported as loihi_cuba, which keeps one per channel "
                              "(--dialect qsnn_lif keeps qsnn_lif with their mean)")
            cuba = True
        if cuba:
            self._add_loihi(b, pop, theta, peak)
        else:
            self._add_qsnn(b, pop, theta, peak)

    def _add_qsnn(self, b: WorkloadBuilder, pop: _Pop, theta, peak: float) -> None:
        bits = self.options.membrane_bits
        q = (1 << (bits - 1)) - 1
        pop.scale = q / peak
        decay = pop.params["decay"]
        if np.ptp(decay) > 0:
            self.notes.append(f"{pop.node}: decays differ between channels; the mean is used")
        d = float(decay.mean())
        if d == 1.0:
            decay_mult, decay_shift = 1, 0
        else:
            decay_mult, decay_shift = int(round(d * (1 << DECAY_SHIFT))), DECAY_SHIFT
            err = abs(decay_mult / (1 << DECAY_SHIFT) - d)
            if err > 1e-9:
                self.notes.append(f"{pop.node}: decay {d:.6g} as {decay_mult}/2^{DECAY_SHIFT} (off by {err:.2g})")
        threshold = np.rint(theta * pop.scale).astype(np.int64)
        # v += g (v_leak + R (W x + b)): the leak and the chains' bias are a constant input.
        bias = np.rint((pop.params["leak"] + pop.params["gain"] * self._chain_bias(pop)) * pop.scale).astype(np.int64)
        # Per step: the bias's rounding, the decay's rounding on the largest membrane, one LSB of
        # the decay's shift (the projections add theirs in _bound).
        dq = decay_mult / (1 << decay_shift) if decay_shift else float(decay_mult)
        # A reset by subtraction takes off the rounded threshold: up to half an LSB more a step.
        reset_lsb = 0.5 if self.disc.reset == "subtract" else 0.0
        pop.params["error_step"] = (np.abs(decay - dq) * peak / HEADROOM + (1.5 + reset_lsb) / pop.scale)
        pop.params["accumulates"] = 1
        b.lif(pop.name, pop.shape, threshold=threshold, bias=bias, membrane_bits=bits, decay_mult=decay_mult,
              decay_shift=decay_shift, rounding="toward_zero", fire_cmp="gt",
              reset="hard" if self.disc.reset == "zero" else "soft")
        pop.params["dialect"] = "qsnn_lif"
        pop.params["bias_int"] = bias

    def _add_loihi(self, b: WorkloadBuilder, pop: _Pop, theta, peak: float) -> None:
        pop.scale = min(LOIHI_STATE_MAX / 2 / peak, float(131071 * 64) / max(float(np.abs(theta).max()), 1e-30))
        syn = pop.params.get("syn_decay", np.zeros_like(theta))
        du = np.clip(np.rint(4096 * (1 - syn)) - 1, 0, 4095).astype(np.int64)
        dv = np.clip(np.rint(4096 * (1 - pop.params["decay"])), 0, 4095).astype(np.int64)
        vth = np.clip(np.rint(theta * pop.scale / 64), 0, 131071).astype(np.int64)
        chain_bias = self._chain_bias(pop)
        v_bias = pop.params["leak"] * pop.scale
        if chain_bias.any() and np.all(syn == 0):
            # A current that lasts one step (du 4095, a LIF) passes a constant input straight to v:
            # it is v's bias (to the 13-bit mantissa's precision, in the bound below).
            v_bias = v_bias + pop.params["gain"] * chain_bias * pop.scale
        elif chain_bias.any():
            # loihi_cuba has a bias on v only; a constant input to a current that decays slowly
            # comes, exactly, from a unit that fires every step into an identity projection
            # weighted by the bias: what a chip without a current bias does.
            pop.params["bias_unit"] = self._bias_unit(b, pop, chain_bias)
        mant, exp = _bias_mant_exp(v_bias)
        # Per step: both 12-bit decays' rounding on the largest values, the bias's rounding, and
        # rounding toward zero of both decays (a current's error reaches v through every later step).
        dsq = 1 - (du + 1) / 4096.0
        dmq = 1 - dv / 4096.0
        peak_v = peak / HEADROOM
        bias_error = np.abs(v_bias - mant * np.exp2(exp)) / pop.scale
        # A reset by subtraction takes off vth << 6, the threshold rounded to 64 LSBs: up to 32 more.
        reset_lsb = 32.0 if self.disc.reset == "subtract" else 0.0
        pop.params["error_step"] = (np.abs(syn - dsq) * peak_v + np.abs(pop.params["decay"] - dmq) * peak_v
                                    + bias_error + (2.0 + reset_lsb) / pop.scale)
        pop.params["accumulates"] = 2
        b.neurons(pop.name, pop.shape, "loihi_cuba", du=du, dv=dv, vth=vth, bias_mant=mant, bias_exp=exp,
                  silicon_reset=0, reset_subtract=int(self.disc.reset == "subtract"))
        pop.params["dialect"] = "loihi_cuba"
        self.notes.append(f"{pop.node}: loihi_cuba du {du.min()}..{du.max()}, dv {dv.min()}..{dv.max()} "
                          f"(12-bit decays), vth {vth.min()}..{vth.max()}")

    def _bias_unit(self, b: WorkloadBuilder, pop: _Pop, bias: np.ndarray) -> str:
        """A population of the target's shape that spikes at every step (threshold -1, no input
        but a silent self-projection, which validation needs); returns its name."""
        name = _pop_name(pop.node + ".bias_unit", self.populations)
        b.lif(name, pop.shape, threshold=-1, bias=0, membrane_bits=2, decay_mult=0, decay_shift=0)
        b.identity(name, name, codes=0, weight_bits=2, acc_bits=2, delay=1, name=f"{name}:silent")
        self.populations[name] = _Pop(name, name, pop.shape, "bias_unit", "bias", params={"bias": bias})
        self.notes.append(f"{pop.node}: its synaptic input bias comes from {name}, a unit that fires every step")
        return name

    # ----------------------------------------------------------------- readout
    def _add_readout(self, b: WorkloadBuilder, readout: _Pop, out_src: str) -> None:
        node = self.flat.nodes[out_src]
        if node.kind in SPIKING:
            # The class is the output neurons' spike count: an identity projection into a register.
            b.readout("readout", readout.shape, decay_shift=0)
            src = self.populations[out_src]
            b.identity(src.name, "readout", codes=1, weight_bits=2, acc_bits=2, name=f"{src.name}->readout")
            self.readout_rule = f"spike count of {out_src}"
            readout.params = {"source_counts": out_src}
            return
        target = out_src if node.kind in INTEGRATORS else self.flat.output
        readout.node = target
        decay_mult, decay_shift, leak, extra = 1, 0, 0.0, {}
        if node.kind == "CubaLI":
            # Two registers (cuba_readout): i in v's units (S g_mem R i), then v.
            c = self._neuron_constants(_Pop(out_src, "readout", readout.shape, "readout", "CubaLI"))
            g_m, g_s = nir_float.input_gain(c["tau_mem"], self.disc), nir_float.input_gain(c["tau_syn"], self.disc)
            readout.params = {"gain": g_m * c["r"] * g_s * c["w_in"]}
            leak = g_m * c["v_leak"]
            d_m, d_s = float(nir_float.decay(c["tau_mem"], self.disc).mean()), float(nir_float.decay(c["tau_syn"], self.disc).mean())
            decay_mult, decay_shift = int(round(d_m * (1 << DECAY_SHIFT))), DECAY_SHIFT
            extra = {"dialect": "cuba_readout", "syn_decay_mult": int(round(d_s * (1 << DECAY_SHIFT))),
                     "syn_decay_shift": DECAY_SHIFT}
            self.readout_rule = f"final membrane of {out_src} (CubaLI)"
        elif node.kind == "LI":
            c = self._neuron_constants(_Pop(out_src, "readout", readout.shape, "readout", "LI"))
            g = nir_float.input_gain(c["tau"], self.disc)
            d = float(nir_float.decay(c["tau"], self.disc).mean())
            readout.params = {"gain": g * c["r"]}
            leak = g * c["v_leak"]
            if d != 1.0:
                decay_mult, decay_shift = int(round(d * (1 << DECAY_SHIFT))), DECAY_SHIFT
            self.readout_rule = f"final membrane of {out_src} (LI)"
        elif node.kind == "I":
            c = self._neuron_constants(_Pop(out_src, "readout", readout.shape, "readout", "I"))
            readout.params = {"gain": self.disc.dt * c["r"]}
            self.readout_rule = f"final value of {out_src} (I)"
        else:
            readout.params = {"gain": np.ones(readout.shape[0])}
            readout.kind = "sum"
            self.readout_rule = f"output of {out_src} summed over timesteps"
        # The register is 64 bits and only its argmax matters: a fine grid (2^20 per float
        # unit of the largest calibration value) keeps the rounding far below the margins.
        values = self.calib.states.get(out_src, {}).get("v") if node.kind in INTEGRATORS else \
            self.calib.outputs.get(out_src)
        peak = float(np.abs(values).max()) if values is not None and np.size(values) else 1.0
        readout.scale = float(1 << 20) / max(peak, 1e-12)
        bias = np.rint((leak + np.asarray(readout.params["gain"]) * self._chain_bias(readout)) * readout.scale)
        b.readout("readout", readout.shape, bias=bias.astype(np.int64), decay_mult=decay_mult,
                  decay_shift=decay_shift, rounding="toward_zero", **extra)
        self._add_projections(b, readout, target_node=target)

    # ----------------------------------------------------------------- synapses
    def _add_projections(self, b: WorkloadBuilder, pop: _Pop, target_node: str | None = None) -> None:
        target_node = target_node or pop.node
        projections, _ = self._incoming(target_node)
        gain = np.asarray(pop.params.get("gain", 1.0), np.float64)
        n_channels = pop.shape[0]
        gain = np.broadcast_to(gain.reshape(-1) if gain.size > 1 else gain, (n_channels,)).astype(np.float64)
        for fp in projections:
            self.notes.extend(fp.notes)
            self._add_projection(b, pop, fp, gain)
        unit = pop.params.get("bias_unit")
        if unit is not None:
            bias = self.populations[unit].params["bias"]
            mult, shift = _mult_shift(pop.scale * gain * bias / 64.0)
            self._bound(pop, pop.scale * gain * bias / 64.0, mult, shift, 1, 0.0)
            b.identity(unit, pop.name, codes=1, weight_bits=2, mult=mult, shift=shift, acc_bits=2,
                       name=f"{unit}->{pop.name}")

    def _source(self, name: str) -> tuple[str, float, int]:
        """(population name, float value of one source unit, largest |source code|)."""
        if name == self.flat.input:
            return "input", self.input_scale, 1 if self.encoding == "events" else 127
        return self.populations[name].name, 1.0, 1

    def _add_projection(self, b: WorkloadBuilder, pop: _Pop, fp, gain: np.ndarray) -> None:
        src_name, unit, code_max = self._source(fp.source)
        k_common = pop.scale * gain * unit          # per target channel: integer units per (weight x code)
        if pop.params.get("dialect") == "loihi_cuba":
            k_common = k_common / 64.0              # a_in enters u shifted left by 6 (loihi_cuba)
        name = f"{src_name}->{pop.name}" + (f"@{fp.delay}" if fp.delay else "")
        base, k = name, 1
        while name in self._projection_names:  # two chains between the same populations
            k += 1
            name = f"{base}#{k}"
        self._projection_names.add(name)
        if fp.kind == "pool":
            mult, shift = _mult_shift(k_common * fp.pool_scale)
            acc_bits = _acc_bits(fp.kernel[0] * fp.kernel[1] * code_max)
            self._bound(pop, k_common * fp.pool_scale, mult, shift, fp.kernel[0] * fp.kernel[1] * code_max, 0.0)
            b.sumpool2d(src_name, pop.name, fp.kernel, stride=fp.stride, padding=fp.padding, mult=mult, shift=shift,
                        acc_bits=acc_bits, name=name, delay=fp.delay)
            return
        if fp.kind == "identity":
            per_channel = _per_channel(fp.weight, self.file, f"{fp.target} (scale)")
            mult, shift = _mult_shift(k_common * per_channel)
            self._bound(pop, k_common * per_channel, mult, shift, code_max, 0.0)
            b.identity(src_name, pop.name, codes=1, weight_bits=2, mult=mult, shift=shift,
                       acc_bits=_acc_bits(code_max), name=name, delay=fp.delay)
            return
        w = fp.weight
        codes, scale, bits = quantise(w, self.options.weight_bits)
        if bits != self.options.weight_bits:
            self.notes.append(f"{name}: binary weights (+-alpha per channel) kept 1-bit")
        rows = codes.reshape(codes.shape[0], -1)
        k = k_common * _row_to_channel(scale, n_channels=pop.shape[0])
        mult, shift = _mult_shift(k)
        acc_max = int(np.abs(rows).sum(axis=1).max(initial=0)) * code_max
        acc_bits = _acc_bits(acc_max)
        # What the weights' rounding (and an analog input's) can move a membrane by in one step.
        w_rows = np.asarray(w, np.float64).reshape(w.shape[0], -1)
        x_max = unit * code_max
        weight_error = (np.abs(w_rows - rows * scale[:, None]).sum(axis=1) * x_max
                        + (np.abs(w_rows).sum(axis=1) * unit / 2 if code_max > 1 else 0.0))
        self._bound(pop, k, mult, shift, acc_max, _row_to_channel(weight_error, pop.shape[0]) * gain)
        if fp.kind == "conv2d":
            b.conv2d(src_name, pop.name, codes, weight_bits=bits, stride=fp.stride, padding=fp.padding, mult=mult,
                     shift=shift, acc_bits=acc_bits, name=name, delay=fp.delay)
        else:
            b.linear(src_name, pop.name, codes, weight_bits=bits, mult=mult, shift=shift, acc_bits=acc_bits,
                     name=name, delay=fp.delay)

    def _bound(self, pop: _Pop, k, mult, shift, acc_max: int, weight_error) -> None:
        """Add one projection's worst-case error per step (float membrane units) to the population's:
        its weights' (and input's) rounding, its scale's rounding on the largest sum, one LSB of
        its shift (64 for loihi_cuba's shifted input)."""
        lsb = 64.0 if pop.params.get("dialect") == "loihi_cuba" else 1.0
        k = np.asarray(k, np.float64).reshape(-1)
        scale_error = np.abs(k - np.asarray(mult, np.float64) / np.exp2(shift)) * acc_max * lsb
        step = np.asarray(weight_error, np.float64) + (scale_error + lsb) / pop.scale
        pop.params["error_step"] = pop.params.get("error_step", 0.0) + step

    def _provenance(self) -> dict:
        o = self.options
        return {
            "importer": "qsnnsim import (qsnnsim/importers/nir.py)", "source": os.path.basename(self.file),
            "calibration": "calibrated on the samples: integer scales from the float reference's ranges",
            "dt": o.dt, "discretisation": o.rule, "reset": self.disc.reset,
            "dialect": o.dialect or ("qsnn_lif (auto)" if not any(p.params.get("dialect") == "loihi_cuba"
                                                                for p in self.populations.values())
                                     else "auto: qsnn_lif and loihi_cuba"),
            "input_scale": self.input_scale,
            "weight_bits": o.weight_bits, "membrane_bits": o.membrane_bits, "input": self.encoding,
            "readout": self.readout_rule, "rounded": "; ".join(self.notes)[:4000] or "nothing",
        }


def write_import(result: ImportResult, out: str) -> list[str]:
    """Write the workload to ``out`` and the agreement report next to it (``<stem>.agreement.json``
    and ``.md``), atomically; returns the lines to print."""
    import json

    from qsnnsim._atomic import atomic_write
    from qsnnsim.importers.nir_agreement import format_agreement
    from qsnnsim.workload import save_workload

    stem = os.path.splitext(out)[0]
    text = format_agreement(result.agreement)
    try:
        save_workload(result.workload, out)
        _write_reports(result, stem, text, atomic_write, json)
    except OSError as exc:
        raise NirImportError(out, "", f"cannot be written ({exc.strerror or exc})",
                             "choose a file in a folder you can write") from None
    wl = result.workload
    layers = sum(1 for p in wl.populations if p.kind == "lif" and not p.name.endswith(".bias_unit"))
    prov = wl.provenance
    lines = [f"imported {prov.get('source', '')} -> {out}: {layers} spiking layer{'s' if layers != 1 else ''}, "
             f"{sum(p.n_weights for p in wl.projections):,} weights, T = {wl.timesteps}, {wl.n_samples} samples",
             f"  {prov['dialect']}, dt {prov['dt']:g} s, {prov['discretisation']}, reset {prov['reset']}"]
    lines.append(text)
    lines += [f"  note: {note}" for note in result.notes[:8]]
    if len(result.notes) > 8:
        lines.append(f"  ... {len(result.notes) - 8} more in {stem}.agreement.md")
    lines.append(f"report: {stem}.agreement.md, {stem}.agreement.json")
    return lines


def check_outputs(out: str, inputs: list, suffix: str, file: str) -> None:
    """The output is a new file of the right kind, never one of the inputs (one line if not)."""
    if not out.endswith(suffix):
        raise NirImportError(out, "-o", f"is not a {suffix} file name", f"name the output *{suffix}")
    if os.path.isdir(out):
        raise NirImportError(out, "-o", "is a folder", f"give a file name ending in {suffix}")
    for path in inputs:
        if os.path.exists(out) and os.path.exists(path) and os.path.samefile(out, path):
            raise NirImportError(out, "-o", "is one of the input files", "write the output to another file")


def _write_reports(result: ImportResult, stem: str, text: str, atomic_write, json) -> None:
    with atomic_write(stem + ".agreement.json", "w", suffix=".json") as fh:
        json.dump({"agreement": result.agreement, "notes": list(result.notes),
                   "provenance": result.workload.provenance}, fh, indent=1, sort_keys=True)
    prov = result.workload.provenance
    with atomic_write(stem + ".agreement.md", "w", suffix=".md") as fh:
        fh.write(f"# Import of {prov.get('source', '')}\n\n"
                 f"dt {prov['dt']:g} s, {prov['discretisation']} discretisation, reset {prov['reset']} "
                 f"(NIR does not say: as given or the dialect's default), dialect {prov['dialect']}, "
                 f"{prov['weight_bits']}-bit weights, {prov['membrane_bits']}-bit membranes, {prov['input']} input.\n\n"
                 f"```\n{text}\n```\n\n" + "".join(f"- {note}\n" for note in result.notes))


# --------------------------------------------------------------------------- helpers


def quantise(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per output channel (axis 0): (codes int, float scale per channel, bits used).

    A tensor whose every channel is +-alpha (no zeros) is kept 1-bit with alpha as the scale;
    otherwise codes are round(w / s) with s = max|w_c| / (2^(bits-1) - 1).
    """
    w = np.asarray(w, np.float64)
    flat = w.reshape(w.shape[0], -1)
    peak = np.abs(flat).max(axis=1)
    binary = bool(flat.size) and np.all(flat != 0) and np.allclose(np.abs(flat), peak[:, None], rtol=1e-6, atol=0)
    if binary:
        return np.sign(w).astype(np.int16), peak, 1
    bits = max(bits, 2)
    top = (1 << (bits - 1)) - 1
    scale = np.where(peak > 0, peak / top, 1.0)
    codes = np.clip(np.rint(flat / scale[:, None]), -top - 1, top).astype(np.int16).reshape(w.shape)
    return codes, scale, bits


def _row_to_channel(scale: np.ndarray, n_channels: int) -> np.ndarray:
    """A projection's per-output-row scale as one value per target channel (rows are channels,
    or the neurons of a 1-D target, which are its channels)."""
    return np.asarray(scale, np.float64).reshape(-1)[:n_channels] if scale.size >= n_channels else \
        np.broadcast_to(scale, (n_channels,))


def _mult_shift(k) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point (mult, shift) per channel with mult / 2^shift ~ k, |mult| < 2^24, shift 0..31."""
    k = np.asarray(k, np.float64).reshape(-1)
    with np.errstate(divide="ignore"):
        shift = np.where(k != 0, np.floor(np.log2(((1 << MULT_BITS) - 1) / np.abs(np.where(k != 0, k, 1)))), 31)
    shift = np.clip(shift, 0, 31).astype(np.int64)
    mult = np.clip(np.rint(k * np.exp2(shift)), -(1 << 24) + 1, (1 << 24) - 1).astype(np.int64)
    return mult, shift


def _acc_bits(bound: int) -> int:
    """A signed accumulator that holds any sum up to ``bound`` exactly (at most 32 bits)."""
    return int(min(32, max(2, int(bound).bit_length() + 1)))


def _per_channel(values: np.ndarray, file: str, field: str) -> np.ndarray:
    """One value per channel (axis 0); values that vary inside a channel cannot be one register."""
    v = np.asarray(values, np.float64)
    if v.ndim <= 1:
        return v.reshape(-1)
    per = v.reshape(v.shape[0], -1)
    if np.any(np.ptp(per, axis=1) > 1e-9 * np.maximum(1.0, np.abs(per).max())):
        raise NirImportError(file, field, "varies between neurons of one channel",
                             "qsnnsim keeps neuron parameters per channel: export them per channel")
    return per[:, 0]


def _bias_mant_exp(bias) -> tuple[np.ndarray, np.ndarray]:
    """loihi_cuba's bias = mant << exp, mant in -4096..4095, exp 0..7, nearest representable."""
    bias = np.asarray(bias, np.float64).reshape(-1)
    exp = np.zeros(bias.shape, np.int64)
    for e in range(8):
        exp = np.where(np.abs(np.rint(bias / (1 << exp))) > 4095, e, exp)
    mant = np.clip(np.rint(bias / np.exp2(exp)), -4096, 4095).astype(np.int64)
    return mant, exp


def _workload_shape(shape: tuple) -> tuple:
    """A NIR shape as a workload's: (C, H, W) and (N,) stay; (C, L) becomes (C, 1, L); others flatten."""
    shape = tuple(int(s) for s in shape)
    if len(shape) in (1, 3):
        return shape
    if len(shape) == 2:
        return (shape[0], 1, shape[1])
    return (math.prod(shape),)


def _pop_name(node: str, taken: dict) -> str:
    base = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in node)[:60] or "layer"
    name, i = base, 1
    while name in {p.name for p in taken.values()} or name in ("input", "readout"):
        i += 1
        name = f"{base}_{i}"
    return name
