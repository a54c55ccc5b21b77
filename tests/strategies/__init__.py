"""Hypothesis strategies shared by the test suite (``from strategies import small_workloads``)."""

from strategies.workloads import (  # noqa: F401
    delayed_workloads, dialect_workloads, small_workloads, workload_and_sample,
)
from strategies.archs import *  # noqa
