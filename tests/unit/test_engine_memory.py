"""The engine frees a sample's memory when the sample ends, without a garbage-collector pass.

A pass's simpy units call back into it; if that reference cycle outlived the pass, every
sample's arrays (and the plan's cost tables) would wait for a later collection and the next
sample would take fresh pages (docs/engine.md, "Memory").
"""

from __future__ import annotations

import gc
import os
import weakref

import numpy as np

from qsnnsim.arch import load_arch
from qsnnsim.engine.build import build_plan
from qsnnsim.engine.simulate import simulate_sample
from qsnnsim.golden import run_golden
from qsnnsim.mapping import map_workload
from qsnnsim.workload import load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_sample_leaves_no_reference_cycle_behind():
    wl = load_workload(os.path.join(ROOT, "workloads", "tiny_conv.npz"))
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    plan = build_plan(wl, arch, map_workload(wl, arch))
    simulate_sample(plan, 0)  # compile outside the measured part
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = simulate_sample(plan, 0)
        plan_ref = weakref.ref(plan)
        first = next(iter(result.membranes.values()))
        membranes_ref = weakref.ref(first if first.base is None else first.base)
        del plan
        assert plan_ref() is None, "the plan outlived its sample: a reference cycle holds it"
        gold = run_golden(wl, 0)
        for name, m in result.membranes.items():
            assert np.array_equal(m, gold.membranes[name]), name
        del result, m, first
        assert membranes_ref() is None, "the sample's membranes outlived its result"
    finally:
        if was_enabled:
            gc.enable()
