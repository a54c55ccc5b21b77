"""Moving the Q-SNN LIF and the readout into qsnnsim/neurons/ (issue 13) changed no result.

tests/data/results_before_dialects.json holds what commit 83f7457 (before neuron dialects,
workload format v2 and delays) wrote for every shipped Q-SNN workload, 4 samples each
(``qsnnsim run ARCH WORKLOAD --samples 4 --check none --no-report``): every sample's latency,
readout and action totals, and digests of the run's per-core action counts and unit cycles.
The code of today must give the same bits and cycles. (Later counters, appended since, must
count nothing on these workloads.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from qsnnsim.run import run_point

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "data" / "results_before_dialects.json").read_text())
N_ACTIONS_BEFORE = 18


def _digest(x) -> str:
    return hashlib.sha256(json.dumps(x).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(RECORDED["workloads"]))
def test_a_shipped_workload_gives_the_same_bits_and_cycles_as_before_the_dialects(name):
    before = RECORDED["workloads"][name]
    record = run_point(ROOT / before["arch"], ROOT / "workloads" / f"{name}.npz", samples=4, check="none")
    result = record.result
    for then, now in zip(before["samples"], result["samples"], strict=True):
        assert now["latency_cycles"] == then["latency_cycles"]
        assert now["readout"] == then["readout"]
        totals = dict(now["action_totals"])
        assert {k: totals.pop(k) for k in list(totals)[N_ACTIONS_BEFORE:]} == {
            "current_update": 0, "multi_spike_compare": 0, "chip_link_bit": 0}
        assert totals == then["action_totals"]
    counts = np.array(result["counters"]["action_counts"])
    assert not counts[..., N_ACTIONS_BEFORE:].any()
    assert _digest(counts[..., :N_ACTIONS_BEFORE].tolist()) == before["action_counts_sha256"]
    assert _digest(result["counters"]["unit_cycles"]) == before["unit_cycles_sha256"]
    assert result["energy"]["run"]["total_pj"] == before["energy_pj"]
