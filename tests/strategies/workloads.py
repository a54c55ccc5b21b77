"""Hypothesis strategies for small, valid random workloads (DESIGN.md §2), built through
:class:`qsnnsim.workload.WorkloadBuilder`.

Graphs are tiny on purpose: other test modules run the golden model, the naive model, the
engine and the cycle-stepped reference on them. What they must still reach, in a good
fraction of examples: every projection kind and geometry (conv2d with kernel/stride/
padding, linear with and without ``global_sum_pool``, identity, sumpool2d), populations
with several incoming projections (residual joins, including two projections between the
same pair), every neuron option, negative ``mult``, shifts 0..31, weight bits 1..16, and
accumulators narrow enough (2..8 bits) that saturation really happens.

``max_populations`` counts every population, input and readout included (so at least 2).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
import pickle
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qsnnsim.workload import (
    MULT_LIMIT,
    Projection,
    Workload,
    WorkloadBuilder,
    conv_output_hw,
    save_workload,
    validate_workload,
    weight_code_range,
    workload_to_arrays,
)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

# Mostly small values (where spikes and resets actually happen) with the extremes of the
# format mixed in, so overflow and clamping paths are exercised too.
_small_or_extreme_int32 = st.one_of(
    st.integers(-6, 12),
    st.integers(-6, 12),
    st.integers(-6, 12),
    st.sampled_from([INT32_MIN, INT32_MAX, -(1 << 20), 1 << 20]),
)
_mult = st.one_of(
    st.integers(-4, 6),
    st.integers(-4, 6),
    st.sampled_from([MULT_LIMIT - 1, -(MULT_LIMIT - 1), 1 << 23, -(1 << 23)]),
    st.integers(-(MULT_LIMIT - 1), MULT_LIMIT - 1),
)
_shift = st.one_of(st.integers(0, 3), st.integers(0, 3), st.integers(0, 31))
_acc_bits = st.one_of(st.integers(2, 8), st.integers(2, 8), st.sampled_from([12, 16, 24, 32]))
_weight_bits = st.one_of(st.just(1), st.just(1), st.integers(2, 8), st.integers(2, 16))


def _per_channel(draw, elements, n: int) -> list[int]:
    """One value per channel, sometimes all equal (the common case in exported nets)."""
    if draw(st.booleans()):
        return [draw(elements)] * n
    return draw(st.lists(elements, min_size=n, max_size=n))


def _codes(draw, shape: tuple[int, ...], weight_bits: int) -> np.ndarray:
    lo, hi = weight_code_range(weight_bits)
    if weight_bits == 1:
        elements = st.sampled_from([-1, 1])
    else:
        elements = st.one_of(st.integers(max(lo, -2), min(hi, 2)), st.integers(lo, hi))
    return draw(hnp.arrays(np.int16, shape, elements=elements))


def _window_candidates(size: int, out_limit: int, max_kernel: int, max_stride: int, max_pad: int,
                       pad_le_half_kernel: bool) -> list[tuple[int, int, int, int]]:
    """Every (kernel, stride, padding, out) along one axis with 1 <= out <= out_limit."""
    found = []
    for k in range(1, max_kernel + 1):
        for s in range(1, max_stride + 1):
            for p in range(max_pad + 1):
                if pad_le_half_kernel and p > k // 2:
                    continue
                out = conv_output_hw((size, size), (k, k), (s, s), (p, p))[0]
                if 1 <= out <= out_limit:
                    found.append((k, s, p, out))
    return found


def _geometry(draw, in_hw, max_plane: int, pool: bool, want_hw=None):
    """Draw (kernel, stride, padding, out_hw) for a conv/pool window, or None if impossible.

    With ``want_hw`` only geometries producing exactly that output are allowed (joins).
    """
    axes = []
    for axis in (0, 1):
        cands = _window_candidates(in_hw[axis], max_plane, 3, 3 if pool else 2, 1 if pool else 2, pool)
        if want_hw is not None:
            cands = [c for c in cands if c[3] == want_hw[axis]]
        if not cands:
            return None
        axes.append(cands)
    pairs = [(a, b) for a in axes[0] for b in axes[1] if a[3] * b[3] <= max_plane]
    if not pairs:
        return None
    (kh, sh, ph, oh), (kw, sw, pw, ow) = draw(st.sampled_from(pairs))
    return (kh, kw), (sh, sw), (ph, pw), (oh, ow)


def _project(draw, b: WorkloadBuilder, kind: str, src: str, src_shape, tgt: str, tgt_shape,
             geometry, global_sum_pool: bool, name: str) -> None:
    """Add one projection of ``kind`` between declared populations (shapes already agree)."""
    c_t = tgt_shape[0]
    mult = _per_channel(draw, _mult, c_t)
    shift = _per_channel(draw, _shift, c_t)
    acc_bits = draw(_acc_bits)
    if kind == "conv2d":
        kernel, stride, padding, _ = geometry
        bits = draw(_weight_bits)
        w = _codes(draw, (c_t, src_shape[0]) + tuple(kernel), bits)
        b.conv2d(src, tgt, w, weight_bits=bits, stride=stride, padding=padding, mult=mult, shift=shift,
                 acc_bits=acc_bits, name=name)
    elif kind == "sumpool2d":
        kernel, stride, padding, _ = geometry
        b.sumpool2d(src, tgt, kernel, stride=stride, padding=padding, mult=mult, shift=shift,
                    acc_bits=acc_bits, name=name)
    elif kind == "linear":
        bits = draw(_weight_bits)
        c_in = src_shape[0] if global_sum_pool else int(np.prod(src_shape))
        w = _codes(draw, (c_t, c_in), bits)
        b.linear(src, tgt, w, weight_bits=bits, mult=mult, shift=shift, acc_bits=acc_bits,
                 global_sum_pool=global_sum_pool, name=name)
    else:
        bits = draw(_weight_bits)
        codes = _codes(draw, (c_t,), bits)
        b.identity(src, tgt, codes=codes, weight_bits=bits, mult=mult, shift=shift, acc_bits=acc_bits, name=name)


def _new_target(draw, src_shape, max_n: int, readout: bool):
    """Draw the primary projection into a new population: (kind, target shape, geometry, gsp)."""
    kinds = ["linear", "identity"]
    if len(src_shape) == 3:
        kinds += ["conv2d", "conv2d", "sumpool2d"]
    if readout:
        kinds += ["linear"] * len(kinds)  # readouts are mostly (N,) logits
    kind = draw(st.sampled_from(kinds))
    if kind == "identity":
        return kind, tuple(src_shape), None, False
    if kind == "linear":
        gsp = len(src_shape) == 3 and draw(st.booleans())
        return kind, (draw(st.integers(1, min(8, max_n))),), None, gsp
    pool = kind == "sumpool2d"
    # A pool keeps its channels, so its plane must leave room for all of them; the 1x1
    # stride-1 window always fits because the source itself does.
    geo = _geometry(draw, src_shape[1:], max_n // src_shape[0] if pool else max_n, pool)
    oh, ow = geo[3]
    c_out = src_shape[0] if pool else draw(st.integers(1, max(1, min(4, max_n // (oh * ow)))))
    return kind, (c_out, oh, ow), geo, False


def _join_options(draw, src_shape, tgt_shape, max_n: int):
    """Projection kinds that can add src into an already-shaped target (a residual join)."""
    options = []
    if tuple(src_shape) == tuple(tgt_shape):
        options.append(("identity", None, False))
    if len(tgt_shape) == 1:
        options.append(("linear", None, False))
        if len(src_shape) == 3:
            options.append(("linear", None, True))
    if len(src_shape) == 3 and len(tgt_shape) == 3:
        geo = _geometry(draw, src_shape[1:], max_n, False, want_hw=tgt_shape[1:])
        if geo is not None:
            options.append(("conv2d", geo, False))
        if src_shape[0] == tgt_shape[0]:
            geo = _geometry(draw, src_shape[1:], max_n, True, want_hw=tgt_shape[1:])
            if geo is not None:
                options.append(("sumpool2d", geo, False))
    return options


def _lif_params(draw, c: int) -> dict:
    decay = draw(st.sampled_from([(1, 1), (1, 0), (0, 0), "any"]))
    if decay == "any":
        decay = (draw(st.integers(-3, 7)), draw(st.integers(0, 31)))
    return {
        "threshold": _per_channel(draw, _small_or_extreme_int32, c),
        "bias": _per_channel(draw, _small_or_extreme_int32, c),
        "membrane_bits": draw(st.integers(2, 16)),
        "decay_mult": decay[0],
        "decay_shift": decay[1],
        "rounding": draw(st.sampled_from(["floor", "toward_zero"])),
        "fire_cmp": draw(st.sampled_from(["gt", "ge"])),
        "reset": draw(st.sampled_from(["hard", "soft"])),
    }


def _readout_params(draw, c: int) -> dict:
    decay = draw(st.sampled_from([(1, 0), (1, 0), (1, 1), "any"]))
    if decay == "any":
        decay = (draw(st.integers(-3, 7)), draw(st.integers(0, 31)))
    return {
        "bias": _per_channel(draw, _small_or_extreme_int32, c),
        "decay_mult": decay[0],
        "decay_shift": decay[1],
        "rounding": draw(st.sampled_from(["floor", "toward_zero"])),
    }


def _input_shape(draw, max_n: int) -> tuple[int, ...]:
    if draw(st.booleans()):
        return (draw(st.integers(1, min(16, max_n))),)
    h = draw(st.integers(1, min(6, max_n)))
    w = draw(st.integers(1, min(6, max_n // h)))
    return (draw(st.integers(1, min(3, max_n // (h * w)))), h, w)


# Provenance is free text: any printable character, tabs and newlines; control characters and
# lone surrogates are refused at load (docs/input-limits.md), and tested as such elsewhere.
_printable = st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp", "Co", "Cn")) | st.sampled_from("\n\t")
_provenance = st.dictionaries(
    st.text(_printable, min_size=1, max_size=8),
    st.one_of(
        st.text(_printable, max_size=12),
        st.integers(-(1 << 40), 1 << 40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.none(),
        st.lists(st.integers(-5, 5), max_size=3),
    ),
    max_size=3,
)


@st.composite
def small_workloads(
    draw,
    max_populations: int = 5,
    max_neurons_per_population: int = 48,
    input_kinds=("analog", "spikes"),
    max_timesteps: int = 4,
    max_samples: int = 2,
) -> Workload:
    """A small valid :class:`~qsnnsim.workload.Workload` (a SearchStrategy when called).

    Parameters
    ----------
    max_populations : int
        Populations in the graph, input and readout included (>= 2).
    max_neurons_per_population : int
        Upper bound on every population's neuron count, the input's included.
    input_kinds : sequence of str
        Input kinds to choose from (``analog`` int8 values, ``spikes`` 0/1 per timestep).
    max_timesteps, max_samples : int
        Upper bounds on T and on the number of input samples.
    """
    if max_populations < 2:
        raise ValueError("max_populations counts input and readout, so it must be >= 2")
    max_n = max_neurons_per_population
    input_kind = draw(st.sampled_from(tuple(input_kinds)))
    timesteps = draw(st.integers(1, max_timesteps))
    b = WorkloadBuilder(draw(st.sampled_from(["wl", "tiny", "net-ü"])), timesteps=timesteps, input_kind=input_kind)
    shapes: dict[str, tuple[int, ...]] = {}
    in_shape = _input_shape(draw, max_n)
    b.input("in", in_shape)
    shapes["in"] = in_shape
    n_hidden = draw(st.integers(0, max_populations - 2))
    n_proj = 0
    names = [f"h{i}" for i in range(n_hidden)] + ["out"]
    for name in names:
        is_readout = name == "out"
        sources = list(shapes)
        # The latest population is the usual source, so graphs get depth, not just width.
        src = draw(st.sampled_from(sources + [sources[-1]] * len(sources)))
        kind, shape, geo, gsp = _new_target(draw, shapes[src], max_n, is_readout)
        if is_readout:
            b.readout(name, shape, **_readout_params(draw, shape[0]))
        else:
            b.lif(name, shape, **_lif_params(draw, shape[0]))
        _project(draw, b, kind, src, shapes[src], name, shape, geo, gsp, f"p{n_proj}")
        n_proj += 1
        for _ in range(draw(st.integers(0, 2))):
            join_src = draw(st.sampled_from(sources))
            options = _join_options(draw, shapes[join_src], shape, max_n)
            if not options:
                continue
            jkind, jgeo, jgsp = draw(st.sampled_from(options))
            _project(draw, b, jkind, join_src, shapes[join_src], name, shape, jgeo, jgsp, f"p{n_proj}")
            n_proj += 1
        shapes[name] = shape
    n = draw(st.integers(1, max_samples))
    if input_kind == "analog":
        values = st.one_of(st.integers(-2, 3), st.integers(-128, 127), st.sampled_from([-128, 127]))
        samples = draw(hnp.arrays(np.int8, (n,) + in_shape, elements=values))
    else:
        samples = draw(hnp.arrays(np.uint8, (n, timesteps) + in_shape, elements=st.integers(0, 1)))
    n_out = int(np.prod(shapes["out"]))
    labels = None
    if draw(st.booleans()):
        labels = np.array(draw(st.lists(st.integers(0, n_out - 1), min_size=n, max_size=n)), np.int64)
    class_names = None
    if draw(st.booleans()):
        class_names = [f"c{i}" for i in range(n_out)]
    b.set_samples(samples, labels=labels, class_names=class_names)
    b.set_provenance(**draw(_provenance))
    return b.build()


@st.composite
def delayed_workloads(draw, recurrent: bool = True, **kwargs) -> Workload:
    """A :func:`small_workloads` workload with random projection delays (0..T) and, when
    ``recurrent`` and a 1-D spiking population exists, a delayed recurrent projection back to
    it from itself or a later spiking population (DESIGN §2b)."""
    wl = draw(small_workloads(**kwargs))
    projs = [dataclasses.replace(p, delay=draw(st.integers(0, wl.timesteps))) for p in wl.projections]
    flat = [p for p in wl.populations if p.kind == "lif" and len(p.shape) == 1]
    if recurrent and flat:
        target = draw(st.sampled_from(flat))
        later = [p for p in wl.populations[wl.populations.index(target):] if p.kind == "lif"]
        source = draw(st.sampled_from(later))
        n = source.n_neurons * target.n_neurons
        codes = np.array(draw(st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n)), np.int16)
        projs.append(Projection(
            name="recurrent", kind="linear", source=source.name, target=target.name, weight_bits=1,
            weights=codes.reshape(target.n_neurons, source.n_neurons),
            mult=np.full(target.n_channels, draw(st.integers(1, 4)), np.int32),
            shift=np.zeros(target.n_channels, np.int32), acc_bits=16, delay=draw(st.integers(1, 3))))
    return validate_workload(dataclasses.replace(wl, projections=tuple(projs)))


def _dialect_params(draw, dialect: str, c: int) -> dict:
    """Random parameters of a dialect, edges of every range included (docs/neurons.md)."""
    def per_channel(lo, hi, small_hi=None):
        values = st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi]),
                           st.integers(lo, small_hi if small_hi is not None else hi))
        return np.array(draw(st.lists(values, min_size=c, max_size=c)), np.int64)

    if dialect == "loihi_cuba":
        return dict(du=per_channel(0, 4095), dv=per_channel(0, 4095), vth=per_channel(0, 131071, 64),
                    bias_mant=per_channel(-4096, 4095, 8), bias_exp=per_channel(0, 7, 2),
                    silicon_reset=draw(st.integers(0, 1)), reset_subtract=draw(st.integers(0, 1)))
    version = draw(st.integers(1, 2))
    return dict(threshold=per_channel(1, 32767, 64), dash_syn=per_channel(0, 15), dash_mem=per_channel(0, 15),
                bias=per_channel(-32768, 32767, 8) if version == 2 else np.zeros(c, np.int64), version=version)


@st.composite
def dialect_workloads(draw, **kwargs) -> Workload:
    """A :func:`delayed_workloads` workload whose spiking populations each use a random
    neuron dialect (qsnn_lif, loihi_cuba or xylo_lif, DESIGN §2b) with random parameters, and
    whose readout is sometimes a ``cuba_readout``."""
    wl = draw(delayed_workloads(**kwargs))
    pops = []
    for pop in wl.populations:
        if pop.kind == "lif":
            dialect = draw(st.sampled_from(["qsnn_lif", "loihi_cuba", "xylo_lif"]))
            if dialect != "qsnn_lif":
                pop = dataclasses.replace(pop, dialect=dialect, params=_dialect_params(draw, dialect, pop.n_channels))
        elif pop.kind == "readout" and draw(st.booleans()):
            pop = dataclasses.replace(pop, dialect="cuba_readout", decay_shift=16,
                                      decay_mult=draw(st.integers(0, 1 << 16)),
                                      params={"syn_decay_mult": draw(st.integers(0, 1 << 16)), "syn_decay_shift": 16})
        pops.append(pop)
    return validate_workload(dataclasses.replace(wl, populations=tuple(pops)))


@st.composite
def workload_and_sample(draw, **kwargs) -> tuple[Workload, int]:
    """A :func:`small_workloads` workload and a valid sample index into it."""
    wl = draw(small_workloads(**kwargs))
    return wl, draw(st.integers(0, wl.n_samples - 1))


# --------------------------------------------------------------------------- fixed files


def reference_workload() -> Workload:
    """A fixed small workload: spikes (1,4,4) -conv 1-bit-> lif (2,4,4) -linear 2-bit-> readout (3,).

    Counts ``qsnnsim inspect`` must report: 32 spiking neurons in 1 LIF population,
    18 1-bit weights (2x1x3x3) and 96 2-bit weights (3x32).
    """
    rng = np.random.default_rng(7)
    b = WorkloadBuilder("reference", timesteps=2, input_kind="spikes")
    b.input("in", (1, 4, 4))
    b.lif("hidden", (2, 4, 4), threshold=[1, 2], bias=[0, -1])
    b.conv2d("in", "hidden", rng.choice([-1, 1], size=(2, 1, 3, 3)), weight_bits=1, padding=1, name="conv")
    b.readout("out", (3,))
    b.linear("hidden", "out", rng.integers(-2, 2, size=(3, 32)), weight_bits=2, mult=[1, 2, 3], shift=1, name="fc")
    b.set_samples(rng.integers(0, 2, size=(2, 2, 1, 4, 4)).astype(np.uint8), labels=[0, 2],
                  class_names=["a", "b", "c"])
    b.set_provenance(trainer="none", note="calibrated, untrained")
    return b.build()


# The classes of malformed file :func:`malformed_workload_files` writes, in order.
MALFORMED_CASE_NAMES = (
    "missing_file", "truncated", "empty", "text_file", "npy_file", "raw_pickle", "pickled_meta",
    "pickled_weights", "missing_entry", "missing_meta", "meta_not_json", "wrong_format", "wrong_version",
    "missing_version", "weights_shape_mismatch", "packed_weights_short", "threshold_shape_mismatch",
    "samples_shape_mismatch", "weight_code_out_of_range", "acc_bits_out_of_range", "unknown_population",
    "backward_edge",
)


@dataclass(frozen=True)
class MalformedCase:
    """A workload file that must be refused: the error's field and a piece of its problem."""

    name: str
    path: str
    field: str
    problem: str
    canary: str | None = None  # a path that exists only if something was unpickled


class _Canary:
    """Unpickling this calls os.mkdir(path): proof that a loader unpickled it."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _write_npz(path: str, arrays: dict, meta: dict | None = None, **savez_kwargs) -> str:
    arrays = dict(arrays)
    if meta is not None:
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(path, **arrays, **savez_kwargs)
    return path


def malformed_workload_files(folder) -> list[MalformedCase]:
    """Write one file per class of malformed workload into ``folder``; returns the cases.

    Every case is derived from :func:`reference_workload` by one change, so the error it
    raises is about that change alone.
    """
    folder = os.fspath(folder)
    wl = reference_workload()
    good = os.path.join(folder, "good.npz")
    save_workload(wl, good)
    arrays = workload_to_arrays(wl)
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    cases = []

    def case(name, field, problem, writer, canary=None):
        path = os.path.join(folder, name + ".npz")
        writer(path)
        cases.append(MalformedCase(name, path, field, problem, canary))

    def with_meta(change):
        m = copy.deepcopy(meta)
        change(m)
        return lambda p: _write_npz(p, arrays, m)

    def with_arrays(change):
        a = dict(arrays)
        change(a)
        return lambda p: _write_npz(p, a, meta)

    def write_bytes(data):
        def writer(p):
            with open(p, "wb") as fh:
                fh.write(data)
        return writer

    with open(good, "rb") as fh:
        good_bytes = fh.read()
    cases.append(MalformedCase("missing_file", os.path.join(folder, "absent.npz"), "", "no such file"))
    case("truncated", "", "not a readable .npz workload", write_bytes(good_bytes[: len(good_bytes) // 2]))
    case("empty", "", "not a readable .npz workload", write_bytes(b""))
    case("text_file", "", "not a readable .npz workload", write_bytes(b"populations: [in, out]\n"))
    npy = io.BytesIO()
    np.save(npy, np.zeros(3, np.int8))
    case("npy_file", "", "single .npy array", write_bytes(npy.getvalue()))
    canary = os.path.join(folder, "unpickled-raw")
    case("raw_pickle", "", "not a readable .npz workload", write_bytes(pickle.dumps(_Canary(canary))), canary)
    canary = os.path.join(folder, "unpickled-meta")
    case("pickled_meta", "meta", "pickled object",
         lambda p: _write_npz(p, {**arrays, "meta": np.array([_Canary(canary)], dtype=object)}, allow_pickle=True),
         canary)
    canary = os.path.join(folder, "unpickled-weights")
    case("pickled_weights", "proj0.weights", "pickled object",
         lambda p: _write_npz(p, {**arrays, "proj0.weights": np.array([_Canary(canary)], dtype=object)}, meta,
                              allow_pickle=True),
         canary)
    case("missing_entry", "projections.fc.mult", "missing array entry 'proj1.mult'",
         with_arrays(lambda a: a.pop("proj1.mult")))
    case("missing_meta", "meta", "missing array entry 'meta'", lambda p: np.savez(p, **arrays))
    case("meta_not_json", "meta", "not UTF-8 JSON",
         lambda p: np.savez(p, **arrays, meta=np.frombuffer(b"{not json", np.uint8)))
    case("wrong_format", "meta.format", "not 'qsnnsim-workload'", with_meta(lambda m: m.update(format="other")))
    case("wrong_version", "meta.version", "is 3; this qsnnsim reads versions 1, 2",
         with_meta(lambda m: m.update(version=3)))
    case("missing_version", "meta.version", "is None", with_meta(lambda m: m.pop("version")))
    case("weights_shape_mismatch", "proj1.weights", "does not match weights_shape",
         with_arrays(lambda a: a.update({"proj1.weights": a["proj1.weights"][:, :16]})))
    case("packed_weights_short", "proj0.weights", "packed 1-bit weights need 3 bytes",
         with_arrays(lambda a: a.update({"proj0.weights": a["proj0.weights"][:2]})))
    case("threshold_shape_mismatch", "populations.hidden.threshold", "does not match the 2 channels",
         with_arrays(lambda a: a.update({"pop1.threshold": np.array([1, 2, 3], np.int32)})))
    case("samples_shape_mismatch", "samples", "packed spike samples need",
         with_arrays(lambda a: a.update({"samples": a["samples"][:-1]})))
    case("weight_code_out_of_range", "projections.fc.weights", "code out of range for 2-bit weights",
         with_arrays(lambda a: a.update({"proj1.weights": np.full((3, 32), 2, np.int8)})))
    case("acc_bits_out_of_range", "projections.fc.acc_bits", "must be in 2..32",
         with_meta(lambda m: m["projections"][1].update(acc_bits=40)))
    case("unknown_population", "projections.fc.source", "unknown population 'hiden'",
         with_meta(lambda m: m["projections"][1].update(source="hiden")))
    case("backward_edge", "projections.fc", "not later in topological order",
         with_meta(lambda m: m["populations"].insert(1, m["populations"].pop(2))))
    return cases
