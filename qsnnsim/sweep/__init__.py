"""Design-space sweeps (DESIGN §11): many points from one sweep file, one table, resumable.

- :mod:`~qsnnsim.sweep.spec`: the sweep file -> a checked :class:`SweepSpec` (every point's
  arch built before anything runs); grid and random expansion.
- :mod:`~qsnnsim.sweep.points`: points and their hash keys.
- :mod:`~qsnnsim.sweep.worker`: one point run where a worker is (memoised workloads).
- :mod:`~qsnnsim.sweep.executors`: serial, local processes, Dask distributed.
- :mod:`~qsnnsim.sweep.store`: the locked output folder, one atomic file per point.
- :mod:`~qsnnsim.sweep.table`: ``sweep.csv`` / ``sweep.jsonl``; :mod:`~qsnnsim.sweep.report`: the page.
- :mod:`~qsnnsim.sweep.runner`: :func:`run_sweep` and :func:`report_sweep` tie them together.

Example::

    from qsnnsim.sweep import load_sweep, run_sweep
    summary = run_sweep(load_sweep("sweeps/core16_lanes.yaml"), "reports/sweep-lanes", executor="serial")
"""

from qsnnsim.sweep.runner import SweepSummary, report_sweep, run_sweep
from qsnnsim.sweep.spec import SweepError, SweepSpec, load_sweep

__all__ = ["SweepError", "SweepSpec", "SweepSummary", "load_sweep", "report_sweep", "run_sweep"]
