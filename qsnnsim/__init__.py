"""qsnnsim: a cycle-accurate simulator of quantized spiking neural networks on a core array.

The flow, one module per stage: a workload (``load_workload``, qsnnsim/workload.py) and an
architecture (``load_arch``, arch.py) are loaded and validated; ``map_workload`` (mapping.py)
cuts populations into slices and places them on cores, in passes if needed;
``compute_footprint`` (footprint.py) counts the SRAM bits; ``simulate`` (engine/, with the
numba kernels/) runs samples cycle-accurately and returns outputs and counters (counters.py);
``estimate_energy`` (energy.py) multiplies the counters by the energy table; ``build_report``
(report/) renders tables and plots. ``run_golden`` (golden.py) is the normative integer model
every implementation is checked against. ``run_point`` (run.py) composes all of them for one
design point and returns a :class:`RunRecord` (plain numbers, JSON round trip, ``.report()``).
"""

from qsnnsim.arch import load_arch
from qsnnsim.builder import WorkloadBuilder
from qsnnsim.footprint import compute_footprint
from qsnnsim.golden import run_golden
from qsnnsim.mapping import map_workload
from qsnnsim.workload import load_workload, save_workload

__version__ = "0.2.0"

__all__ = [
    "RunRecord",
    "WorkloadBuilder",
    "__version__",
    "build_report",
    "compute_footprint",
    "estimate_energy",
    "load_arch",
    "load_workload",
    "map_workload",
    "run_golden",
    "run_point",
    "save_workload",
    "simulate",
]


def __getattr__(name: str):
    # The engine (numba, simpy), the energy model and the report load on first use, so
    # `import qsnnsim` stays light.
    if name == "simulate":
        from qsnnsim.engine.simulate import simulate

        return simulate
    if name == "estimate_energy":
        from qsnnsim.energy import estimate_energy

        return estimate_energy
    if name in ("run_point", "RunRecord"):
        from qsnnsim import run

        return getattr(run, name)
    if name == "build_report":
        from qsnnsim.report.render import build_report

        return build_report
    raise AttributeError(f"module 'qsnnsim' has no attribute {name!r}")
