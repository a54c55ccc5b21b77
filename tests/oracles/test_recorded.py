"""qsnnsim against recorded vendor traces (no Lava, no xylosim needed) and the Loihi 2 silicon trace.

tests/data/oracles/{loihi,xylo}_nets.npz hold 10 random networks x 50 steps per vendor and
{loihi,xylo}_traces.npz what lava-nc 0.10 and xylosim 0.1.3 recorded for them
(``python -m tests.oracles.run --record`` rewrites them). Every recorded value of every step
must match.
"""

import numpy as np
import pytest

from tests.oracles import networks, silicon

DATA = silicon.DATA


def load(name):
    with np.load(DATA / name, allow_pickle=False) as flat:
        return networks.unpack(flat)


@pytest.mark.parametrize("vendor", ["loihi", "xylo"])
def test_qsnnsim_matches_recorded_vendor_traces(vendor):
    nets = load(f"{vendor}_nets.npz")
    theirs = load(f"{vendor}_traces.npz")
    ours = [networks.QSNNSIM_TRACE[vendor](net) for net in nets]
    result = networks.compare(theirs, ours, networks.KEYS[vendor])
    assert result["networks"] == 10 and result["steps"] == 500
    assert result["mismatched_steps"] == 0, result["first_mismatch"]


def test_a_workload_of_a_recorded_lava_network_matches_lava():
    """The whole path: a workload (Dense as a delay-1 projection with Lava's effective weights
    and weight_exp as its scale) run by the golden model gives Lava's s, u, v at every step."""
    nets = load("loihi_nets.npz")
    theirs = load("loihi_traces.npz")
    rest = [i for i, net in enumerate(nets) if not (net["u0"].any() or net["v0"].any())]
    assert len(rest) >= 5
    ours = [networks.qsnnsim_trace_loihi_workload(nets[i]) for i in rest]
    result = networks.compare([theirs[i] for i in rest], ours, networks.LOIHI_KEYS)
    assert result["mismatched_steps"] == 0, result["first_mismatch"]


def test_a_lava_workload_runs_on_the_chip_bit_exactly():
    """The same workloads on the cycle engine (loihi_like's cores implement loihi_cuba)."""
    from qsnnsim.arch import load_arch
    from qsnnsim.engine.simulate import simulate
    from qsnnsim.golden import run_golden
    from qsnnsim.mapping import map_workload

    arch = load_arch(DATA.parents[2] / "archs" / "loihi_like.yaml")
    for net in load("loihi_nets.npz")[:10]:
        if net["u0"].any() or net["v0"].any():
            continue
        wl = networks.loihi_workload(net)
        run = simulate(wl, arch, map_workload(wl, arch))
        gold = run_golden(wl, 0)
        assert np.array_equal(run.samples[0].spikes["lif"], gold.spikes["lif"])
        assert np.array_equal(run.samples[0].membranes["lif"], gold.membranes["lif"])


def test_recorded_networks_exercise_the_quirks():
    # The subset is worth keeping only if the simpler rules fail on it.
    loihi_nets, loihi_traces = load("loihi_nets.npz"), load("loihi_traces.npz")
    raw = [networks.qsnnsim_trace_loihi(net, drop_lsb=False) for net in loihi_nets]
    assert networks.compare(loihi_traces, raw, networks.LOIHI_KEYS)["mismatched_steps"] > 0
    xylo_nets, xylo_traces = load("xylo_nets.npz"), load("xylo_traces.npz")
    summed = [networks.qsnnsim_trace_xylo(net, ordered=False) for net in xylo_nets]
    assert networks.compare(xylo_traces, summed, networks.XYLO_KEYS)["mismatched_steps"] > 0


def test_loihi2_silicon_trace():
    result = silicon.compare_silicon()
    assert result["silicon_option_vs_silicon"] == {"steps": 1000, "matching": 1000, "differ_at": []}
    assert result["lava_rule_vs_silicon"] == {"steps": 1000, "matching": 996, "differ_at": [461, 511, 711, 761]}
    assert result["lava_rule_vs_lava_cpu_csv"]["matching"] == 1000
