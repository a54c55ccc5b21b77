"""Kernels: numba-jitted pure functions over arrays that do the integer work of a phase.

Nothing here knows about simpy, classes of the engine, or time ordering: a kernel takes
contiguous arrays of explicit dtype plus plain ints and fills preallocated outputs or
returns arrays/ints. Every numba function is compiled through :mod:`qsnnsim.kernels._jit`.
"""
