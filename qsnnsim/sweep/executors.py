"""Executors: fan sweep points out serially, over local processes, or over a Dask cluster.

Every executor calls :func:`qsnnsim.sweep.worker.evaluate_point` on each point and hands
each record back to this process, in completion order, through ``on_record(point, record)``;
only this process writes into the sweep folder (remote workers need the workload files, not
the output folder). The order points finish in never shows in the table (rows are sorted
by the sweep's own order), so every executor gives the same table.

- ``serial``: in this process, one point after another.
- ``processes`` (the default): a local pool of ``workers`` spawned processes, each importing
  the stages once and loading each workload once.
- ``dask``: Dask ``distributed`` (the ``sweep`` extra): a ``LocalCluster`` of ``workers``
  single-threaded worker processes, or the running scheduler at ``scheduler``
  (``tcp://host:8786``; dask-jobqueue starts such clusters on SLURM/PBS, docs/sweeps.md).

A worker that dies or raises something other than an input error gives an ``error`` record
(shown in the table, run again by the next sweep into the folder); the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from qsnnsim._parallel import EXECUTORS, ExecutorError, default_workers, map_tasks
from qsnnsim.sweep.points import Point
from qsnnsim.sweep.worker import evaluate_point, point_record, warm_worker

__all__ = ["EXECUTORS", "ExecutorError", "default_workers", "run_points"]


def _error_record(point: Point, exc: BaseException) -> dict:
    from qsnnsim._guard import escape_text

    line = escape_text(" ".join(f"{type(exc).__name__}: {exc}".split()))[:500]
    return point_record(point, "error", None, f"worker failed: {line}", 0.0)


def run_points(points: list[Point], on_record: Callable[[Point, dict], None], executor: str = "processes",
               workers: int | None = None, scheduler: str | None = None) -> None:
    """Run ``points`` with ``executor``, calling ``on_record(point, record)`` in this process as each ends.

    A point whose worker raised something other than an input error (which
    :func:`evaluate_point` records itself) gets an ``error`` record; the sweep goes on.
    """
    def on_result(i: int, record, error) -> None:
        on_record(points[i], _error_record(points[i], error) if error is not None else record)

    map_tasks(evaluate_point, points, on_result, executor, workers, scheduler, init=warm_worker,
              key_prefix=f"qsnnsim-point-{points[0].key}" if points else "qsnnsim-point")
