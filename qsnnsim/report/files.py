"""Result files: the run's JSON (format ``qsnnsim-result`` v1), written atomically, and read back.

The JSON holds everything a report is rendered from, so ``qsnnsim report RESULT.json`` needs
nothing else: the resolved architecture (with its energy table and sources), the workload's
populations and projections, the mapping and footprint, and per sample the outputs, the
golden-model check, latency and every counter (docs/results-format.md).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from qsnnsim._atomic import atomic_write
from qsnnsim.errors import ResultError
from qsnnsim.workload import Workload, dense_synaptic_ops

RESULT_FORMAT = "qsnnsim-result"
RESULT_VERSION = 2  # 2: unit_cycles per (core, population, timestep, unit)


def _plain(value):
    """Dataclasses, tuples, numpy scalars and arrays -> JSON-able Python."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def workload_summary(wl: Workload, path: str = "") -> dict:
    pops = {p.name: p for p in wl.populations}
    return {
        "name": wl.name,
        "path": path,
        "timesteps": wl.timesteps,
        "input_kind": wl.input_kind,
        "n_samples": wl.n_samples,
        "class_names": list(wl.class_names) if wl.class_names else None,
        "provenance": wl.provenance,
        "populations": [
            {"name": p.name, "kind": p.kind, "shape": list(p.shape), "n_neurons": p.n_neurons,
             "membrane_bits": p.membrane_bits if p.kind == "lif" else None}
            for p in wl.populations
        ],
        "projections": [
            {"name": q.name, "kind": q.kind, "source": q.source, "target": q.target,
             "weight_bits": q.weight_bits, "n_weights": q.n_weights,
             "dense_synaptic_ops": dense_synaptic_ops(q, pops[q.source], pops[q.target])}
            for q in wl.projections
        ],
    }


def sample_summary(sample, golden=None) -> dict:
    """One SampleResult (and its golden-model check) as a JSON object."""
    entry = {
        "sample": sample.sample,
        "label": sample.label,
        "predicted": sample.predicted,
        "readout": sample.readout.tolist(),
        "latency_cycles": sample.latency_cycles,
        "latency_us": sample.latency_us,
        "pass_starts": list(sample.pass_starts),
        "counters": sample.counters.to_dict(),
        "fires": [[s, t, a, b] for (s, t), (a, b) in sorted(sample.fires.items())],
        "noc_wait_peak_packets": list(sample.noc_wait_peak_packets),
        "link_flits": [[a, b, n] for (a, b), n in sample.link_flits.items()],
        "trains": [[p, src, t, dest, list(tt.grants), tt.delivery, tt.marker_start]
                   for (p, src, t, dest), tt in sorted(sample.trains.items())],
        "saturations": {k: v.tolist() for k, v in sample.saturations.items()},
    }
    if golden is not None:
        entry["golden"] = golden
    return entry


def run_to_dict(run, footprint, golden_checks: list, workload_path: str = "", arch_path: str = "") -> dict:
    """The whole run as the v1 result JSON object."""
    arch = run.arch
    mapping = run.mapping
    return {
        "format": RESULT_FORMAT,
        "version": RESULT_VERSION,
        "workload": workload_summary(run.workload, workload_path),
        "arch": {"path": arch_path, **arch.to_dict()},
        "mapping": _plain(mapping),
        "footprint": _plain(footprint),
        "samples": [sample_summary(s, g) for s, g in zip(run.samples, golden_checks)],
    }


def write_json_atomic(path: str, data: dict) -> None:
    """Write JSON to ``path`` through a temp file in the same folder and a rename."""
    with atomic_write(path, "w", suffix=".json") as fh:
        json.dump(data, fh, indent=1, sort_keys=False)
        fh.write("\n")


def read_result(path: str) -> dict:
    """Load and check a result JSON; raises ResultError naming the problem."""
    if not os.path.exists(path):
        raise ResultError(path, "", "no such file", "give the result.json a run wrote")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultError(path, "", f"is not valid JSON ({exc})", "re-run qsnnsim run to write it again") from None
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
        raise ResultError(path, "format", f"is not a {RESULT_FORMAT} file", "give the result.json a run wrote")
    if data.get("version") != RESULT_VERSION:
        raise ResultError(path, "version", f"is {data.get('version')!r}; this qsnnsim reads version {RESULT_VERSION}",
                          "re-run qsnnsim run with this version")
    for key in ("workload", "arch", "mapping", "footprint", "samples"):
        if key not in data:
            raise ResultError(path, key, "is missing", "re-run qsnnsim run to write it again")
    return data
