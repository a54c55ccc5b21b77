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

from qsnnsim._guard import MAX_RESULT_BYTES, load_json, loads_json
from qsnnsim.errors import ResultError
from qsnnsim.workload import Workload, dense_synaptic_ops

RESULT_FORMAT = "qsnnsim-result"
RESULT_VERSION = 3  # 3: run-level counters, per-sample totals, traces on request; 2: unit_cycles per unit


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


def is_calibrated(provenance) -> bool:
    """True when a workload's provenance says it was calibrated, not trained (its predictions
    mean nothing): a ``status`` saying "not trained" or "untrained"."""
    status = provenance.get("status") if isinstance(provenance, dict) else None
    return isinstance(status, str) and ("not trained" in status.lower() or "untrained" in status.lower())


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
        "is_calibrated": is_calibrated(wl.provenance),
        "populations": [
            {"name": p.name, "kind": p.kind, "shape": list(p.shape), "n_neurons": p.n_neurons,
             "membrane_bits": p.membrane_bits if p.kind == "lif" and p.neuron.chosen_width else None,
             "dialect": p.neuron.name if p.kind != "input" else None,
             "state_bits": p.neuron.state_bits(p) if p.kind != "input" else None}
            for p in wl.populations
        ],
        "projections": [
            {"name": q.name, "kind": q.kind, "source": q.source, "target": q.target,
             "weight_bits": q.weight_bits, "n_weights": q.n_weights, "delay": q.delay,
             "dense_synaptic_ops": dense_synaptic_ops(q, pops[q.source], pops[q.target])}
            for q in wl.projections
        ],
    }


def sample_trace(sample) -> dict:
    """A sample's per-core counters, fires and trains (the ``trace`` of a sample entry)."""
    return {
        "counters": sample.counters.to_dict(),
        # int(): without the JIT (NUMBA_DISABLE_JIT=1) the kernels hand back numpy integers.
        "fires": [[int(s), int(t), int(a), int(b)] for (s, t), (a, b) in sorted(sample.fires.items())],
        "trains": [[int(p), int(src), int(t), int(dest), [int(g) for g in tt.grants], int(tt.delivery),
                    int(tt.marker_start)]
                   + ([[[int(u), int(start)] for u, start in tt.packets]] if tt.packets is not None else [])
                   for (p, src, t, dest), tt in sorted(sample.trains.items())],
        "link_flits": [[int(a), int(b), int(n)] for (a, b), n in sample.link_flits.items()],
        # docs/timing-model.md §11: per link (by name) the cycles trains waited for a grant and
        # packets waited for a credit; per router its buffer peak (in the sample entry).
        "link_wait_cycles": {k: int(v) for k, v in sorted(sample.link_wait_cycles.items())},
        "link_stall_cycles": {k: int(v) for k, v in sorted(sample.link_stall_cycles.items())},
    }


def sample_summary(sample, golden=None, trace: bool = False) -> dict:
    """One SampleResult (and its golden-model check, None if not checked) as a JSON object.

    A sample keeps its outputs, latency and action totals (enough for its energy); its
    per-core counters, fires and trains go under ``trace`` only when asked, as they are
    most of a result's size (docs/results-format.md).
    """
    entry = {
        "sample": int(sample.sample),
        "label": sample.label,
        "predicted": sample.predicted,
        "readout": sample.readout.tolist(),
        "latency_cycles": int(sample.latency_cycles),
        "latency_us": float(sample.latency_us),
        "pass_starts": [int(c) for c in sample.pass_starts],
        "action_totals": sample.counters.totals(),
        "noc_buffer_peak_flits": [int(n) for n in sample.noc_buffer_peak_flits] or None,
        "saturations": {k: v.tolist() for k, v in sample.saturations.items()},
        "golden": golden,
    }
    if trace:
        entry["trace"] = sample_trace(sample)
    return entry


class ResultBuilder:
    """Builds a run's result object one sample at a time, so no sample's arrays outlive it.

    The run's counters and link loads are summed as samples arrive; a sample's trace is
    kept when ``trace`` is true, and for the first sample always (the report's timeline).
    """

    def __init__(self, workload: Workload, arch, mapping, footprint, workload_path: str = "",
                 arch_path: str = "", options: dict | None = None, trace: bool = False, run_id: str = ""):
        self.trace = trace
        self._slices = mapping.slices
        self._arch = arch
        self.samples: list[dict] = []
        self._counters = None
        self._link_flits: dict = {}
        self.head = {
            "format": RESULT_FORMAT,
            "version": RESULT_VERSION,
            "run_id": run_id,
            "qsnnsim_version": _version(),
            "options": dict(options or {}),
            "workload": workload_summary(workload, workload_path),
            "arch": {"path": arch_path, **arch.to_dict()},
            "mapping": _plain(mapping),
            "footprint": _plain(footprint),
        }

    def add(self, sample, golden: dict | None = None, traced: bool | None = None) -> dict:
        """Add one simulated sample; ``traced`` keeps its trace (default: ``trace``, or the
        run's first sample)."""
        traced = (self.trace or not self.samples) if traced is None else traced
        entry = sample_summary(sample, golden, trace=traced)
        if traced and sample.fire_waits:
            from qsnnsim.report.critical import critical_path

            # which unit bounds this sample's latency (docs/timing-model.md §11)
            entry["critical_path"] = critical_path(sample, self._slices, self._arch)
        self.absorb([entry], sample.counters, sample.link_flits)
        return entry

    def absorb(self, entries: list, counters, link_flits: dict) -> None:
        """Add sample entries built elsewhere (a chunk of the run on another process) with
        their summed counters and link loads."""
        from qsnnsim.counters import sum_counters

        self.samples.extend(entries)
        self._counters = counters if self._counters is None else sum_counters([self._counters, counters])
        for key, n in link_flits.items():
            self._link_flits[key] = self._link_flits.get(key, 0) + int(n)

    def parts(self) -> tuple:
        """What :meth:`absorb` takes, for sending a chunk's samples to another process."""
        return self.samples, self._counters, self._link_flits

    def result(self) -> dict:
        """The result object (without ``energy``, which the energy stage adds)."""
        if self._counters is None:
            raise ValueError("no samples")
        return {**self.head, "counters": self._counters.to_dict(),
                "link_flits": [[a, b, n] for (a, b), n in sorted(self._link_flits.items())],
                "samples": self.samples}


def _version() -> str:
    from qsnnsim import __version__

    return __version__


def run_to_dict(run, footprint, golden_checks: list, workload_path: str = "", arch_path: str = "",
                trace: bool = False) -> dict:
    """A whole :class:`~qsnnsim.engine.simulate.RunResult` as the result JSON object."""
    builder = ResultBuilder(run.workload, run.arch, run.mapping, footprint, workload_path, arch_path, trace=trace)
    for s, g in zip(run.samples, golden_checks):
        builder.add(s, g)
    return builder.result()


def dumps_result(data: dict) -> str:
    """The result object as JSON text: one line per top-level key and per sample.

    Compact (a 450-sample run stays a few MB) yet diffable and greppable line by line.
    """
    lines = []
    for key, value in data.items():
        if key in ("samples",) or (key == "energy" and isinstance(value, dict)):
            inner = value if key == "samples" else value.get("samples")
            if isinstance(inner, list):
                body = ",\n  ".join(json.dumps(v, separators=(",", ":")) for v in inner)
                if key == "samples":
                    lines.append(f'"samples": [\n  {body}\n ]')
                else:
                    rest = {k: v for k, v in value.items() if k != "samples"}
                    head = json.dumps(rest, separators=(",", ":"))[1:-1]
                    lines.append(f'"energy": {{{head},\n "samples": [\n  {body}\n ]}}')
                continue
        lines.append(f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def read_result(path: str) -> dict:
    """Load and check a result JSON (or the ``result.json`` of a run folder); raises ResultError.

    Read through :mod:`qsnnsim._guard`: a regular file of at most ``MAX_RESULT_BYTES``,
    nesting and integer sizes bounded; every problem is one line.
    """
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "result.json")):
        path = os.path.join(path, "result.json")
    data = load_json(path, max_bytes=MAX_RESULT_BYTES, error=ResultError, what="a result.json",
                     fix="re-run qsnnsim run to write it again")
    return check_result(data, path)


def parse_result(text: str, path: str = "<result>") -> dict:
    """Parse and check result JSON text within the same limits as :func:`read_result`."""
    raw = text.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_RESULT_BYTES:
        raise ResultError(path, "", f"is {len(raw):,} bytes, over the {MAX_RESULT_BYTES:,}-byte limit for a result",
                          "re-run qsnnsim run to write it again")
    return check_result(loads_json(raw, file=path, error=ResultError, fix="re-run qsnnsim run to write it again"),
                        path)


def check_result(data, path: str = "<result>") -> dict:
    """A parsed result object's format, version and top-level keys; raises ResultError."""
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
        raise ResultError(path, "format", f"is not a {RESULT_FORMAT} file", "give the result.json a run wrote")
    if data.get("version") != RESULT_VERSION:
        raise ResultError(path, "version", f"is {data.get('version')!r}; this qsnnsim reads version {RESULT_VERSION}",
                          "re-run qsnnsim run with this version")
    for key in ("workload", "arch", "mapping", "footprint", "counters", "samples"):
        if key not in data:
            raise ResultError(path, key, "is missing", "re-run qsnnsim run to write it again")
    return data
