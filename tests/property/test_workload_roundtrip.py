"""Workload .npz v1 round trip (DESIGN.md §3): save then load gives every field back bit for
bit, and no mutation of a file's meta or arrays makes the loader fail with anything but a
WorkloadError."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import small_workloads
from strategies.workloads import _write_npz, reference_workload

from qsnnsim.errors import WorkloadError
from qsnnsim.workload import load_workload, save_workload, workload_to_arrays

POPULATION_FIELDS = ("name", "kind", "shape", "membrane_bits", "decay_mult", "decay_shift", "rounding",
                     "fire_cmp", "reset")
PROJECTION_FIELDS = ("name", "kind", "source", "target", "weight_bits", "acc_bits", "kernel", "stride",
                     "padding", "global_sum_pool")


def assert_same_array(a, b, what: str) -> None:
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a!r} vs {b!r}"
        return
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    assert a.tobytes() == b.tobytes(), f"{what}: values differ"


def assert_same_workload(a, b) -> None:
    """Every field, every array (dtype, shape, bytes) and all metadata equal."""
    assert (a.name, a.timesteps, a.input_kind) == (b.name, b.timesteps, b.input_kind)
    assert len(a.populations) == len(b.populations)
    for pa, pb in zip(a.populations, b.populations, strict=True):
        for f in POPULATION_FIELDS:
            assert getattr(pa, f) == getattr(pb, f), f"population {pa.name}.{f}"
            assert type(getattr(pa, f)) is type(getattr(pb, f)), f"population {pa.name}.{f} type"
        assert_same_array(pa.threshold, pb.threshold, f"population {pa.name}.threshold")
        assert_same_array(pa.bias, pb.bias, f"population {pa.name}.bias")
    assert len(a.projections) == len(b.projections)
    for qa, qb in zip(a.projections, b.projections, strict=True):
        for f in PROJECTION_FIELDS:
            assert getattr(qa, f) == getattr(qb, f), f"projection {qa.name}.{f}"
        for f in ("weights", "mult", "shift"):
            assert_same_array(getattr(qa, f), getattr(qb, f), f"projection {qa.name}.{f}")
    assert_same_array(a.samples, b.samples, "samples")
    assert_same_array(a.labels, b.labels, "labels")
    assert a.class_names == b.class_names
    assert a.provenance == b.provenance
    assert json.dumps(a.provenance, sort_keys=True) == json.dumps(b.provenance, sort_keys=True)


@given(small_workloads())
def test_save_load_round_trips_every_field(tmp_path_factory, wl):
    path = tmp_path_factory.mktemp("rt") / "w.npz"
    save_workload(wl, path)
    back = load_workload(path)
    assert_same_workload(wl, back)
    # The file written from the reloaded workload is entry for entry the same, meta included.
    first, second = workload_to_arrays(wl), workload_to_arrays(back)
    assert sorted(first) == sorted(second)
    for key in first:
        assert_same_array(first[key], second[key], f"entry {key}")


@given(small_workloads(input_kinds=("spikes",)))
def test_spike_samples_are_bit_packed(wl):
    arrays = workload_to_arrays(wl)
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    assert meta["samples"] == {"entry": "samples", "packed": True, "shape": list(wl.samples.shape)}
    packed = arrays["samples"]
    assert packed.dtype == np.uint8 and packed.shape == (-(-wl.samples.size // 8),)
    # Bit k of the stream is sample element k in C order, most significant bit first.
    bits = [(int(packed[k // 8]) >> (7 - k % 8)) & 1 for k in range(wl.samples.size)]
    assert bits == wl.samples.reshape(-1).tolist()


@given(small_workloads())
def test_one_bit_codes_are_packed_and_others_are_narrow_ints(wl):
    arrays = workload_to_arrays(wl)
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    for proj, entry in zip(wl.projections, meta["projections"], strict=True):
        if proj.weights is None:
            assert entry["weights"] is None
            continue
        stored = arrays[entry["weights"]]
        assert entry["weights_shape"] == list(proj.weights.shape)
        if proj.weight_bits == 1:
            assert entry["weights_packed"] is True and stored.dtype == np.uint8
            codes = proj.weights.reshape(-1).tolist()
            bits = [(int(stored[k // 8]) >> (7 - k % 8)) & 1 for k in range(len(codes))]
            assert bits == [1 if c == 1 else 0 for c in codes]
        else:
            assert entry["weights_packed"] is False
            assert stored.dtype == (np.int8 if proj.weight_bits <= 8 else np.int16)
            assert stored.tolist() == proj.weights.tolist()


# ----------------------------------------------------------------------------- robustness

_REFERENCE_ARRAYS = workload_to_arrays(reference_workload())
_REFERENCE_META = json.loads(_REFERENCE_ARRAYS.pop("meta").tobytes().decode("utf-8"))


def _meta_paths(obj, prefix=()):
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _meta_paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _meta_paths(value, prefix + (i,))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4) | st.sampled_from(["pop1.bias", "proj0.weights", "samples", "meta"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


def _load_or_workload_error(path) -> None:
    try:
        load_workload(path)
    except WorkloadError as exc:
        assert "\n" not in exc.line()
        assert exc.line().startswith(os.fspath(path))


@settings(max_examples=150)
@given(st.sampled_from(sorted(_meta_paths(_REFERENCE_META), key=repr)), _json_values, st.booleans())
def test_any_meta_mutation_loads_or_raises_workload_error(tmp_path_factory, where, value, delete):
    meta = copy.deepcopy(_REFERENCE_META)
    parent = meta
    for key in where[:-1]:
        parent = parent[key]
    if delete:
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    path = tmp_path_factory.mktemp("fuzz") / "w.npz"
    _load_or_workload_error(_write_npz(os.fspath(path), _REFERENCE_ARRAYS, meta))


_any_dtype = st.sampled_from([np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64,
                              np.float32, np.float64, "U3", "S2"])


@settings(max_examples=150)
@given(st.sampled_from(sorted(_REFERENCE_ARRAYS)),
       _any_dtype.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=8))))
def test_any_array_substitution_loads_or_raises_workload_error(tmp_path_factory, key, arr):
    path = tmp_path_factory.mktemp("fuzz") / "w.npz"
    _load_or_workload_error(_write_npz(os.fspath(path), {**_REFERENCE_ARRAYS, key: arr}, _REFERENCE_META))
