"""Hypothesis strategies shared by the test suite (``from strategies import small_workloads``)."""

from strategies.workloads import small_workloads, workload_and_sample  # noqa: F401
from strategies.archs import *  # noqa
