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

import os
from collections.abc import Callable

from qsnnsim.errors import InputError
from qsnnsim.sweep.points import Point
from qsnnsim.sweep.worker import evaluate_point, point_record, warm_worker

EXECUTORS = ("serial", "processes", "dask")


class ExecutorError(InputError):
    """An executor that cannot start (Dask not installed, a scheduler that does not answer)."""


def default_workers() -> int:
    """Worker count when none is given: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _error_record(point: Point, exc: BaseException) -> dict:
    from qsnnsim._guard import escape_text

    line = escape_text(" ".join(f"{type(exc).__name__}: {exc}".split()))[:500]
    return point_record(point, "error", None, f"worker failed: {line}", 0.0)


def run_serial(points: list[Point], on_record: Callable[[Point, dict], None]) -> None:
    warm_worker()
    for point in points:
        try:
            record = evaluate_point(point)
        except Exception as exc:  # a simulator bug must not stop the sweep; the point is re-run next time
            record = _error_record(point, exc)
        on_record(point, record)


def run_processes(points: list[Point], on_record: Callable[[Point, dict], None], workers: int) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a worker starts from a clean interpreter (no threads or locks inherited from
    # this one, which may hold a progress thread or a Dask client).
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, max(1, len(points))), mp_context=context,
                               initializer=warm_worker)
    try:
        futures = {pool.submit(evaluate_point, point): point for point in points}
        for future in as_completed(futures):
            point = futures[future]
            try:
                record = future.result()
            except Exception as exc:
                record = _error_record(point, exc)
            on_record(point, record)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask():
    try:
        import distributed
    except ImportError as exc:
        raise ExecutorError("--executor", "dask", f"needs Dask distributed ({exc})",
                            "pip install 'qsnnsim[sweep]' (or 'dask[distributed]>=2024.1')") from None
    return distributed


def run_dask(points: list[Point], on_record: Callable[[Point, dict], None], workers: int,
             scheduler: str | None = None) -> None:
    import logging

    distributed = _dask()
    cluster = None
    try:
        if scheduler:
            try:
                client = distributed.Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError("--scheduler", scheduler, f"does not answer ({type(exc).__name__}: {exc})",
                                    "give a running Dask scheduler's address, e.g. tcp://host:8786") from None
        else:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        try:
            client.run(warm_worker)
            futures = client.map(evaluate_point, points, key=[f"qsnnsim-point-{p.key}" for p in points], pure=False)
            by_key = {f.key: p for f, p in zip(futures, points, strict=True)}
            for future in distributed.as_completed(futures):
                point = by_key[future.key]
                try:
                    record = future.result()
                except Exception as exc:
                    record = _error_record(point, exc)
                on_record(point, record)
                future.release()
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def run_points(points: list[Point], on_record: Callable[[Point, dict], None], executor: str = "processes",
               workers: int | None = None, scheduler: str | None = None) -> None:
    """Run ``points`` with ``executor``, calling ``on_record(point, record)`` in this process as each ends."""
    if executor not in EXECUTORS:
        raise ExecutorError("--executor", "", f"must be one of {', '.join(EXECUTORS)} (got {executor!r})")
    if not points:
        return
    workers = workers or default_workers()
    if executor == "serial":
        run_serial(points, on_record)
    elif executor == "processes":
        run_processes(points, on_record, workers)
    else:
        run_dask(points, on_record, workers, scheduler)
