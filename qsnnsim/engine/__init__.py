"""The event-level engine (simpy): time and order of every phase; the kernels do the arithmetic.

``simulate`` (simulate.py) is the entry point; build.py prepares the typed per-core arrays,
core.py, router.py and offchip.py model the units, order.py the fixed service order.
"""
