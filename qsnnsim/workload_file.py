"""The workload `.npz` file (DESIGN §3): writer and safe reader, format versions 1 and 2.

One numpy `.npz` read with ``allow_pickle=False`` (never unpickled) through the bounded
reader of :mod:`qsnnsim._npz`; a ``meta`` entry of UTF-8 JSON names every other entry.
1-bit weight codes are bit-packed. Version 2 adds each population's neuron ``dialect`` and
its parameter vectors, and each projection's ``delay``; a version 1 file loads unchanged
(every population is then ``qsnn_lif`` or ``readout``, every delay 0). The writer writes
version 1 when a workload needs nothing of version 2, so v1 workloads stay byte-identical.
The format is specified in ``docs/workload-format.md``.
"""

from __future__ import annotations

import collections
import json
import math
import os
from typing import Any

import numpy as np

from qsnnsim._atomic import atomic_write
from qsnnsim._guard import check_name, loads_json
from qsnnsim._npz import NpzEntries, open_npz
from qsnnsim.errors import WorkloadError
from qsnnsim.workload import (
    MAX_META_BYTES, MAX_META_DEPTH, MAX_POPULATIONS, MAX_PROJECTIONS, MAX_PROVENANCE_BYTES, Population,
    Projection, Workload, _check_vector_shape, _err, validate_workload,
)

FORMAT_NAME = "qsnnsim-workload"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)




def _pack_codes(weights: np.ndarray) -> np.ndarray:
    """1-bit codes {-1,+1} -> bits {0,1} packed MSB-first, C order (np.packbits)."""
    return np.packbits((weights.ravel() > 0).astype(np.uint8))


def _unpack_codes(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    bits = np.unpackbits(packed, count=n)
    return (bits.astype(np.int16) * 2 - 1).reshape(shape)


def _storage_dtype(weight_bits: int):
    return np.int8 if weight_bits <= 8 else np.int16


def needs_version_2(wl: Workload) -> bool:
    """Whether the workload uses anything of format v2 (a dialect other than v1's, a delay)."""
    return (any(p.kind != "input" and p.dialect not in ("qsnn_lif", "readout") for p in wl.populations)
            or any(p.delay for p in wl.projections))


def workload_to_arrays(wl: Workload) -> dict[str, np.ndarray]:
    """The npz entries of a (validated) workload: ``meta`` (UTF-8 JSON as uint8) plus named arrays.

    Version 1 when the workload needs nothing of version 2, so a v1 workload's file is the
    same bytes as before version 2 existed.
    """
    version = 2 if needs_version_2(wl) else 1
    arrays: dict[str, np.ndarray] = {}
    pops_meta = []
    for i, pop in enumerate(wl.populations):
        entry: dict[str, Any] = {"name": pop.name, "kind": pop.kind, "shape": list(pop.shape)}
        if pop.kind != "input":
            entry.update(
                membrane_bits=pop.membrane_bits, decay_mult=pop.decay_mult, decay_shift=pop.decay_shift,
                rounding=pop.rounding, fire_cmp=pop.fire_cmp, reset=pop.reset,
                threshold=f"pop{i}.threshold", bias=f"pop{i}.bias",
            )
            arrays[f"pop{i}.threshold"] = pop.threshold.astype(np.int32)
            arrays[f"pop{i}.bias"] = pop.bias.astype(np.int32)
            if version == 2:
                entry["dialect"] = pop.dialect
                entry["params"] = {}
                for name, value in sorted((pop.params or {}).items()):
                    if np.ndim(value) == 0:
                        entry["params"][name] = int(value)
                    else:
                        key = f"pop{i}.param.{name}"
                        entry["params"][name] = key
                        arrays[key] = np.asarray(value).astype(np.int32)
        pops_meta.append(entry)
    projs_meta = []
    for i, proj in enumerate(wl.projections):
        entry = {
            "name": proj.name, "kind": proj.kind, "source": proj.source, "target": proj.target,
            "weight_bits": proj.weight_bits, "acc_bits": proj.acc_bits, "kernel": list(proj.kernel),
            "stride": list(proj.stride), "padding": list(proj.padding),
            "global_sum_pool": proj.global_sum_pool, "mult": f"proj{i}.mult", "shift": f"proj{i}.shift",
            "weights": None,
        }
        if version == 2:
            entry["delay"] = proj.delay
        arrays[f"proj{i}.mult"] = proj.mult.astype(np.int32)
        arrays[f"proj{i}.shift"] = proj.shift.astype(np.int32)
        if proj.weights is not None:
            key = f"proj{i}.weights"
            entry["weights"] = key
            entry["weights_shape"] = list(proj.weights.shape)
            if proj.weight_bits == 1:
                entry["weights_packed"] = True
                arrays[key] = _pack_codes(proj.weights)
            else:
                entry["weights_packed"] = False
                arrays[key] = proj.weights.astype(_storage_dtype(proj.weight_bits))
        projs_meta.append(entry)
    in_pop = wl.input_population
    if wl.input_kind == "spikes":
        arrays["samples"] = np.packbits(wl.samples.astype(np.uint8).ravel())
        samples_meta = {"entry": "samples", "packed": True, "shape": list(wl.samples.shape)}
    else:
        arrays["samples"] = wl.samples.astype(np.int8)
        samples_meta = {"entry": "samples", "packed": False, "shape": list(wl.samples.shape)}
    if wl.labels is not None:
        arrays["labels"] = wl.labels.astype(np.int64)
    meta = {
        "format": FORMAT_NAME,
        "version": version,
        "name": wl.name,
        "timesteps": wl.timesteps,
        "input_kind": wl.input_kind,
        "input_population": in_pop.name,
        "populations": pops_meta,
        "projections": projs_meta,
        "samples": samples_meta,
        "labels": "labels" if wl.labels is not None else None,
        "class_names": list(wl.class_names) if wl.class_names is not None else None,
        "provenance": wl.provenance,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return arrays


def save_workload(wl: Workload, path: str | os.PathLike) -> None:
    """Write ``wl`` as a ``.npz`` (v1, or v2 when it needs it) atomically (temp file in the same folder, then rename)."""
    path = os.fspath(path)
    arrays = workload_to_arrays(validate_workload(wl, path))
    with atomic_write(path, "wb", suffix=".npz") as fh:
        np.savez_compressed(fh, **arrays)


def _meta_get(meta: dict, key: str, fld: str, file: str, kind=None):
    if key not in meta:
        raise _err(file, fld, "is missing", "re-export the workload")
    value = meta[key]
    if kind is not None and not isinstance(value, kind):
        raise _err(file, fld, f"has the wrong type (got {type(value).__name__})")
    return value


def load_workload(path: str | os.PathLike) -> Workload:
    """Read and validate a workload ``.npz`` (never unpickles). Raises WorkloadError."""
    file = os.fspath(path)
    with open_npz(file) as entries:
        try:
            return _workload_from_npz(entries, file)
        except MemoryError:
            # Last resort: every entry's size is checked against its zip member before it is
            # read, but a workload can still be larger than this machine's free memory.
            raise _err(file, "", "needs more memory than is free to load",
                       "free memory or load a smaller workload") from None


def _workload_from_npz(entries: NpzEntries, file: str) -> Workload:
    raw = entries.get("meta", "meta", entries.size_check("meta", MAX_META_BYTES))
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _err(file, "meta", f"must be UTF-8 JSON bytes (got {raw.shape} {raw.dtype})", "re-export the workload")
    meta = loads_json(raw.tobytes(), file=file, fld="meta", error=WorkloadError, max_depth=MAX_META_DEPTH,
                      fix="re-export the workload", label="UTF-8 JSON")
    if not isinstance(meta, dict):
        raise _err(file, "meta", "must be a JSON object")
    if meta.get("format") != FORMAT_NAME:
        raise _err(file, "meta.format", f"is {meta.get('format')!r}, not {FORMAT_NAME!r}", "this is not a qsnnsim workload")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
        raise _err(file, "meta.version", f"is {version!r}; this qsnnsim reads versions {', '.join(map(str, SUPPORTED_VERSIONS))}",
                   "re-export with this version of qsnnsim")
    return _workload_from_meta(meta, entries, file)


def _n_channels(shape: Any) -> int | None:
    """C of a meta shape [C, ...] of positive integers; None if the shape is malformed (validation says so later)."""
    if not isinstance(shape, (list, tuple)) or not shape:
        return None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        return None
    return shape[0]


def _vector_check(file: str, fld: str, length: int | None):
    """A header check for a per-channel vector entry, or None if meta does not say how long it is."""
    if length is None:
        return None
    return lambda shape, dtype: _check_vector_shape(file, fld, shape, length)


def _weights_check(file: str, key: str, wshape: tuple[int, ...], packed: bool):
    """The header check of a weight entry: packed bytes for 1-bit codes, else exactly weights_shape."""

    def check(shape, dtype):
        if packed:
            need = math.ceil(math.prod(wshape) / 8)
            if dtype != np.uint8 or shape != (need,):
                raise _err(file, key, f"packed 1-bit weights need {need} bytes for shape {list(wshape)} (got {shape} {dtype})",
                           "re-export the workload")
        elif shape != wshape:
            raise _err(file, key, f"shape {shape} does not match weights_shape {list(wshape)} in meta",
                       "re-export the workload")

    return check


def _meta_list(meta: dict, key: str, file: str, limit: int) -> list:
    items = _meta_get(meta, key, f"meta.{key}", file, list)
    if len(items) > limit:
        raise _err(file, f"meta.{key}", f"lists {len(items):,} {key} (at most {limit:,})",
                   "split the network, or see docs/input-limits.md")
    return items


def _dialect_fields(p: dict, fld: str, file: str, version: int, entries: NpzEntries, c: int | None) -> dict:
    """A v2 population's ``dialect`` and ``params`` (v1 names none: the role's default)."""
    if version < 2:
        return {}
    dialect = _meta_get(p, "dialect", fld + ".dialect", file, str)
    raw = _meta_get(p, "params", fld + ".params", file, dict)
    params = {}
    for name, value in raw.items():
        if isinstance(value, str):
            params[name] = entries.get(value, f"{fld}.params.{name}", _vector_check(file, f"{fld}.params.{name}", c))
        elif isinstance(value, int) and not isinstance(value, bool):
            params[name] = value
        else:
            raise _err(file, f"{fld}.params.{name}", f"must be an integer or an array entry name (got {value!r})",
                       "re-export the workload")
    return {"dialect": dialect, "params": params or None}


def _workload_from_meta(meta: dict, entries: NpzEntries, file: str) -> Workload:
    version = meta["version"]
    pops = []
    for i, p in enumerate(_meta_list(meta, "populations", file, MAX_POPULATIONS)):
        fld = f"meta.populations[{i}]"
        if not isinstance(p, dict):
            raise _err(file, fld, "must be an object")
        name = check_name(file, fld + ".name", _meta_get(p, "name", fld + ".name", file, str), WorkloadError,
                          "a population name")
        fld = f"populations.{name}"
        kind = _meta_get(p, "kind", fld + ".kind", file, str)
        shape = tuple(_meta_get(p, "shape", fld + ".shape", file, list))
        if kind == "input":
            pops.append(Population(name=name, kind=kind, shape=shape))
            continue
        c = _n_channels(p["shape"])
        pops.append(Population(
            name=name, kind=kind, shape=shape,
            membrane_bits=_meta_get(p, "membrane_bits", fld + ".membrane_bits", file),
            decay_mult=_meta_get(p, "decay_mult", fld + ".decay_mult", file),
            decay_shift=_meta_get(p, "decay_shift", fld + ".decay_shift", file),
            rounding=_meta_get(p, "rounding", fld + ".rounding", file),
            fire_cmp=_meta_get(p, "fire_cmp", fld + ".fire_cmp", file),
            reset=_meta_get(p, "reset", fld + ".reset", file),
            threshold=entries.get(_meta_get(p, "threshold", fld + ".threshold", file), fld + ".threshold",
                                  _vector_check(file, fld + ".threshold", c)),
            bias=entries.get(_meta_get(p, "bias", fld + ".bias", file), fld + ".bias",
                             _vector_check(file, fld + ".bias", c)),
            **_dialect_fields(p, fld, file, version, entries, c),
        ))
    # Channels of each population, to check mult and shift headers (None for a name used twice).
    uses = collections.Counter(pop.name for pop in pops)
    channels = {pop.name: _n_channels(list(pop.shape)) if uses[pop.name] == 1 else None for pop in pops}
    projs = []
    for i, p in enumerate(_meta_list(meta, "projections", file, MAX_PROJECTIONS)):
        fld = f"meta.projections[{i}]"
        if not isinstance(p, dict):
            raise _err(file, fld, "must be an object")
        name = check_name(file, fld + ".name", _meta_get(p, "name", fld + ".name", file, str), WorkloadError,
                          "a projection name")
        fld = f"projections.{name}"
        target = p.get("target")
        c_t = channels.get(target) if isinstance(target, str) else None
        weights = None
        wkey = p.get("weights")
        if wkey is not None:
            wshape = tuple(_meta_get(p, "weights_shape", fld + ".weights_shape", file, list))
            if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in wshape):
                raise _err(file, fld + ".weights_shape", f"must be non-negative integers (got {list(wshape)})")
            packed = _meta_get(p, "weights_packed", fld + ".weights_packed", file, bool)
            if packed != (p.get("weight_bits") == 1):
                raise _err(file, fld + ".weights_packed", f"is {packed} for {p.get('weight_bits')!r}-bit weights; "
                           "1-bit codes are always bit-packed and wider codes never are", "re-export the workload")
            arr = entries.get(wkey, fld + ".weights", _weights_check(file, wkey, wshape, packed))
            if packed:
                entries.reserve(wkey, 3 * math.prod(wshape))  # unpacked bits (uint8), then int16 codes
                weights = _unpack_codes(arr, wshape)
            else:
                weights = arr
        projs.append(Projection(
            name=name, kind=_meta_get(p, "kind", fld + ".kind", file, str),
            source=_meta_get(p, "source", fld + ".source", file, str),
            target=_meta_get(p, "target", fld + ".target", file, str),
            weight_bits=_meta_get(p, "weight_bits", fld + ".weight_bits", file),
            weights=weights,
            mult=entries.get(_meta_get(p, "mult", fld + ".mult", file), fld + ".mult",
                             _vector_check(file, fld + ".mult", c_t)),
            shift=entries.get(_meta_get(p, "shift", fld + ".shift", file), fld + ".shift",
                              _vector_check(file, fld + ".shift", c_t)),
            acc_bits=_meta_get(p, "acc_bits", fld + ".acc_bits", file),
            kernel=tuple(_meta_get(p, "kernel", fld + ".kernel", file, list)),
            stride=tuple(_meta_get(p, "stride", fld + ".stride", file, list)),
            padding=tuple(_meta_get(p, "padding", fld + ".padding", file, list)),
            global_sum_pool=_meta_get(p, "global_sum_pool", fld + ".global_sum_pool", file, bool),
            delay=_meta_get(p, "delay", fld + ".delay", file) if version >= 2 else 0,
        ))
    sm = _meta_get(meta, "samples", "meta.samples", file, dict)
    sshape = tuple(_meta_get(sm, "shape", "meta.samples.shape", file, list))
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sshape):
        raise _err(file, "meta.samples.shape", f"must be non-negative integers (got {list(sshape)})")
    skey = _meta_get(sm, "entry", "meta.samples.entry", file, str)
    spacked = _meta_get(sm, "packed", "meta.samples.packed", file, bool)

    def check_samples(shape, dtype):
        if spacked:
            need = math.ceil(math.prod(sshape) / 8)
            if dtype != np.uint8 or shape != (need,):
                raise _err(file, "samples", f"packed spike samples need {need} bytes for shape {list(sshape)} (got {shape})",
                           "re-export the workload")
        elif shape != sshape:
            raise _err(file, "samples", f"shape {shape} does not match {list(sshape)} in meta", "re-export the workload")

    sarr = entries.get(skey, "meta.samples.entry", check_samples)
    if spacked:
        entries.reserve(skey, math.prod(sshape))
    samples = np.unpackbits(sarr, count=math.prod(sshape)).reshape(sshape) if spacked else sarr
    labels_key = meta.get("labels")

    def check_labels(shape, dtype):
        if sshape and shape != sshape[:1]:
            raise _err(file, "labels", f"must be {sshape[0]} integers, one per sample (got {shape} {dtype})")

    labels = entries.get(labels_key, "meta.labels", check_labels) if labels_key is not None else None
    class_names = meta.get("class_names")
    if class_names is not None and (not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names)):
        raise _err(file, "class_names", f"must be a list of strings, one per readout neuron (got {class_names!r})")
    provenance = meta.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise _err(file, "meta.provenance", "must be a JSON object")
    n_prov = len(json.dumps(provenance))
    if n_prov > MAX_PROVENANCE_BYTES:
        raise _err(file, "meta.provenance", f"is {n_prov:,} bytes of JSON (at most {MAX_PROVENANCE_BYTES:,})",
                   "keep provenance to a short record of where the workload comes from")
    wl = Workload(
        name=str(meta.get("name", os.path.splitext(os.path.basename(file))[0])),
        timesteps=_meta_get(meta, "timesteps", "meta.timesteps", file),
        input_kind=_meta_get(meta, "input_kind", "meta.input_kind", file, str),
        populations=tuple(pops), projections=tuple(projs), samples=samples, labels=labels,
        class_names=class_names, provenance=provenance,
    )
    return validate_workload(wl, file)
