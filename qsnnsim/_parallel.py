"""Fanning independent tasks out: serially, over spawned local processes, or over Dask.

One job: call a module-level function on each task somewhere and hand every outcome back to
this process, as ``on_result(index, result, error)`` in completion order. Sweeps
(`qsnnsim/sweep/`) send design points through it and `qsnnsim run --executor` sends chunks
of samples; neither depends on which executor ran a task, so their outputs are identical.

- ``serial``: here, one task after another.
- ``processes``: a pool of ``workers`` *spawned* processes (a clean interpreter: no threads
  or locks inherited from this one, which may hold a progress thread or a Dask client).
- ``dask``: Dask ``distributed`` (the ``sweep`` extra): a ``LocalCluster`` of ``workers``
  single-threaded worker processes, or the running scheduler at ``scheduler``
  (``tcp://host:8786``; dask-jobqueue starts such clusters on SLURM/PBS, docs/sweeps.md).

``init`` (module-level, no arguments) runs once per worker before its first task (e.g. to
load numba's cached kernels).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from qsnnsim.errors import InputError

EXECUTORS = ("serial", "processes", "dask")


class ExecutorError(InputError):
    """An executor that cannot start (Dask not installed, a scheduler that does not answer)."""


def default_workers() -> int:
    """Worker count when none is given: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _noop() -> None:
    return None


def _serial(fn, tasks, on_result, init) -> None:
    init()
    for i, task in enumerate(tasks):
        try:
            result, error = fn(task), None
        except Exception as exc:  # handed to the caller, which decides (a sweep records it and goes on)
            result, error = None, exc
        on_result(i, result, error)


def _processes(fn, tasks, on_result, init, workers: int) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=min(workers, max(1, len(tasks))),
                               mp_context=multiprocessing.get_context("spawn"), initializer=init)
    try:
        futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            try:
                result, error = future.result(), None
            except Exception as exc:
                result, error = None, exc
            on_result(futures[future], result, error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_distributed():
    """The ``distributed`` module, or an ExecutorError saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ExecutorError("--executor", "dask", f"needs Dask distributed ({exc})",
                            "pip install 'qsnnsim[sweep]' (or 'dask[distributed]>=2024.1')") from None
    return distributed


def _dask(fn, tasks, on_result, init, workers: int, scheduler: str | None, key_prefix: str) -> None:
    import logging

    distributed = dask_distributed()
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
            client.run(init)
            futures = client.map(fn, list(tasks), key=[f"{key_prefix}-{i}" for i in range(len(tasks))], pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for future in distributed.as_completed(futures):
                try:
                    result, error = future.result(), None
                except Exception as exc:
                    result, error = None, exc
                on_result(index[future.key], result, error)
                future.release()
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def map_tasks(fn: Callable, tasks: Sequence, on_result: Callable, executor: str = "processes",
              workers: int | None = None, scheduler: str | None = None, init: Callable = _noop,
              key_prefix: str = "qsnnsim-task") -> None:
    """Run ``fn(task)`` for every task with ``executor``; ``on_result(index, result, error)`` here.

    ``error`` is the exception a task raised (``result`` is then None). ``key_prefix`` names
    the tasks on a Dask scheduler (make it unique per caller and task set).
    """
    if executor not in EXECUTORS:
        raise ExecutorError("--executor", "", f"must be one of {', '.join(EXECUTORS)} (got {executor!r})")
    if not tasks:
        return
    workers = workers or default_workers()
    if executor == "serial":
        _serial(fn, tasks, on_result, init)
    elif executor == "processes":
        _processes(fn, tasks, on_result, init, workers)
    else:
        _dask(fn, tasks, on_result, init, workers, scheduler, key_prefix)
