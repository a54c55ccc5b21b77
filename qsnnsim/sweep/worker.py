"""Running one sweep point where a worker is: load (once per worker), map, simulate, keep the small record.

:func:`evaluate_point` is the one function every executor calls, in this process or a
worker's. It builds the point's :class:`~qsnnsim.arch.ArchSpec` from its resolved dict,
takes the workload from this worker's memo (each file is loaded once per worker and its
content hash checked against the sweep's), runs :func:`qsnnsim.run.prepare_point` and
:func:`qsnnsim.run.simulate_point`, and returns the point's record: plain JSON data, no
per-sample arrays and no report. A point that fails with an :class:`InputError` (a network
that does not fit that variant) is a ``failed`` record holding its one-line error.
"""

from __future__ import annotations

import time

from qsnnsim.errors import InputError
from qsnnsim.sweep.points import Point

POINT_FORMAT = "qsnnsim-sweep-point"
POINT_VERSION = 1
#: Footprint entries a point keeps (bits held in each SRAM by the mapping, and the buffers).
FOOTPRINT_KEYS = ("mapped_weight_bits", "mapped_membrane_bits", "mapped_acc_bits", "spike_buffer_bits",
                  "stored_weight_bits")

_WORKLOADS: dict = {}
_WARM = {"done": False}


def warm_worker() -> None:
    """Import the stages once per worker, so the first point does not pay for them.

    Numba loads the compiled kernels from its on-disk cache at a worker's first point and
    keeps them for every later one (a shell loop pays both per run).
    """
    if _WARM["done"]:
        return
    import qsnnsim.energy  # noqa: F401
    import qsnnsim.engine.build  # noqa: F401
    import qsnnsim.engine.simulate  # noqa: F401
    import qsnnsim.golden  # noqa: F401
    import qsnnsim.report.files  # noqa: F401
    import qsnnsim.run  # noqa: F401

    _WARM["done"] = True


def _workload(path: str, sha256: str):
    """The workload at ``path``, loaded once per worker; its bytes must hash to ``sha256``."""
    cached = _WORKLOADS.get(path)
    if cached is not None and cached[0] == sha256:
        return cached[1]
    from qsnnsim.errors import WorkloadError
    from qsnnsim.sweep.spec import hash_file
    from qsnnsim.workload import load_workload

    if hash_file(path) != sha256:
        raise WorkloadError(path, "", "changed on disk since the sweep started (its content hash differs)",
                            "re-run the sweep: its points are keyed by the file's content")
    wl = load_workload(path)
    _WORKLOADS[path] = (sha256, wl)
    return wl


def point_record(point: Point, status: str, figures: dict | None, error: str, elapsed_s: float) -> dict:
    """A point's record (what ``DIR/points/<key>.json`` holds)."""
    return {"format": POINT_FORMAT, "version": POINT_VERSION, "key": point.key, "status": status,
            "error": error, "workload": point.workload, "values": [list(kv) for kv in point.values],
            "figures": figures, "elapsed_s": round(elapsed_s, 6)}


def evaluate_point(point: Point) -> dict:
    """Run one point and return its record (``status`` ok, or failed with the one-line error)."""
    from qsnnsim.arch import arch_from_dict
    from qsnnsim.run import prepare_point, record_fields, simulate_point

    warm_worker()
    started = time.perf_counter()
    try:
        arch = arch_from_dict(point.arch, file=f"<sweep point {point.key}>")
        wl = _workload(point.workload_path, point.workload_sha256)
        prepared = prepare_point(arch, wl, list(point.samples), point.strategy)
        record = simulate_point(prepared, check=point.check)
    except InputError as exc:
        return point_record(point, "failed", None, exc.line(), time.perf_counter() - started)
    figures = {name: getattr(record, name) for name in record_fields()}
    figures.update({k: int(record.result["footprint"][k]) for k in FOOTPRINT_KEYS})
    return point_record(point, "ok", figures, "", time.perf_counter() - started)
