"""Sweep points: one (arch variant, workload) pair, its inputs as plain data and its hash key.

A point's key is the sha256 of a canonical JSON of everything its result depends on: the
resolved arch dict (every default filled in), the workload file's content hash, the run
options (sample indices, check, mapping strategy) and the qsnnsim version. Two points with
the same key give the same record, so a finished point is never run again and two points
never share a file (docs/sweeps.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from qsnnsim.sweep.spec import SweepSpec

#: Characters of the hex sha256 kept as a point's key (file name under DIR/points/).
KEY_CHARS = 32


@dataclass(frozen=True)
class Point:
    """One point of a sweep: what a worker needs to run it (plain data, picklable).

    ``order`` is the point's place in the table: variant order (grid order), then workload order.
    """

    order: tuple           # (variant position, workload position)
    key: str
    values: tuple          # ((varied key, value), ...)
    workload: str          # the path as the sweep file gives it
    workload_path: str     # absolute path a worker loads
    workload_sha256: str
    arch: dict
    samples: tuple
    check: str
    strategy: str


def canonical(data) -> str:
    """Canonical JSON: sorted keys, no spaces, exact floats."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def point_key(arch: dict, workload_sha256: str, samples, check: str, strategy: str) -> str:
    """The hash key of a point (see the module docstring)."""
    from qsnnsim import __version__

    text = canonical({"arch": arch, "workload_sha256": workload_sha256,
                      "options": {"samples": list(samples), "check": check, "strategy": strategy},
                      "qsnnsim": __version__})
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:KEY_CHARS]


def sweep_points(spec: SweepSpec) -> list[Point]:
    """Every point of a sweep, in table order."""
    points = []
    for v, variant in enumerate(spec.variants):
        for w, ref in enumerate(spec.workloads):
            samples = spec.sample_indices(ref)
            key = point_key(variant.arch, ref.sha256, samples, spec.check, variant.strategy)
            points.append(Point((v, w), key, variant.values, ref.given, ref.path, ref.sha256, variant.arch,
                                samples, spec.check, variant.strategy))
    return points
