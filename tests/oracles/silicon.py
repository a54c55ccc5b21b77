"""The Loihi 2 silicon trace of the NIR paper, as a loihi_cuba network, and its comparisons.

``tests/data/oracles/lif_lava_loihi_fixed.csv`` is one LIF neuron run on Loihi 2 (columns:
input spike, v, output spike; 1000 steps); ``lif_lava_cpu_fixed.csv`` the same network in
Lava's CPU ``fixed_pt`` models (README.md there names the source). The network, from the
paper's ``nir_to_lava.py`` and ``lif_norse.ipynb`` (tau_mem = 1/400 s, dt = 1e-4 s,
v_th = 0.1, no current leak): ``Dense([[10]])`` (int(256 * dt / tau_mem)) into
``LIF(du=4095, dv=163, vth=25)`` (int(4095 * dt / tau_mem) and int(0.1 * 131071) >> 9), no
bias. Lava run on this machine reproduces the CPU file on 1000 of 1000 steps with that one
Dense (the input column leads a_in by Dense's one step).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.oracles.networks import qsnnsim_trace_loihi

DATA = Path(__file__).resolve().parents[1] / "data" / "oracles"
SILICON_CSV = DATA / "lif_lava_loihi_fixed.csv"
LAVA_CPU_CSV = DATA / "lif_lava_cpu_fixed.csv"


def load_csv(path: Path) -> dict:
    """(input, v, spike) columns as int64 arrays (the file writes them as floats)."""
    table = np.loadtxt(path, delimiter=",")
    return {"input": table[:, 0].astype(np.int64), "v": table[:, 1].astype(np.int64),
            "s": table[:, 2].astype(np.int64)}


def nir_network(inputs: np.ndarray) -> dict:
    """The NIR paper's LIF as an oracle network (the format of ``networks.random_loihi_net``)."""
    return {
        "weights": np.array([[10]], np.int64), "num_weight_bits": 8, "weight_exp": 0,
        "du": 4095, "dv": 163, "vth": 25,
        "bias_mant": np.zeros(1, np.int64), "bias_exp": np.zeros(1, np.int64),
        "u0": np.zeros(1, np.int64), "v0": np.zeros(1, np.int64),
        "spikes": np.asarray(inputs, np.int64).reshape(-1, 1),
    }


def matching_steps(trace: dict, reference: dict) -> dict:
    """Steps where spikes and v both equal the reference, and the steps that differ."""
    same = (trace["s"].ravel() == reference["s"]) & (trace["v"].ravel() == reference["v"])
    return {"steps": int(same.size), "matching": int(same.sum()), "differ_at": np.nonzero(~same)[0].tolist()}


def compare_silicon() -> dict:
    """qsnnsim (silicon option and Lava rule) against the silicon and Lava CPU traces."""
    silicon = load_csv(SILICON_CSV)
    lava_cpu = load_csv(LAVA_CPU_CSV)
    net = nir_network(silicon["input"])
    with_silicon = qsnnsim_trace_loihi(net, silicon_reset=True)
    lava_rule = qsnnsim_trace_loihi(net)
    return {
        "silicon_option_vs_silicon": matching_steps(with_silicon, silicon),
        "lava_rule_vs_silicon": matching_steps(lava_rule, silicon),
        "lava_rule_vs_lava_cpu_csv": matching_steps(lava_rule, lava_cpu),
    }
