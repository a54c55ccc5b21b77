"""Vendor side of the Loihi oracle: runs each network in lava-nc 0.10 and records s, u, v per step.

Runs inside the Python 3.10 Lava venv (``python lava_side.py NETS.npz TRACES.npz``), so it
imports nothing from qsnnsim or tests: numpy and Lava only. Each network is
``RingBuffer(spikes) -> Dense(weights, weight_exp, num_weight_bits) -> LIF``, run with
``Loihi2SimCfg(select_tag="fixed_pt")`` (which picks ``PyLifModelBitAcc`` and
``PyDenseModelBitAcc``), one Monitor per recorded variable. The file formats are those of
``networks.pack``: ``n{i}_{key}`` entries plus ``count``.
"""


import numpy as np
import side_io  # beside this script: numpy only
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.models import PyLifModelBitAcc
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor


def run_network(net):
    steps = net["spikes"].shape[0]
    source = RingBuffer(data=net["spikes"].T.astype(np.int64))
    dense = Dense(weights=net["weights"], weight_exp=net["weight_exp"], num_weight_bits=net["num_weight_bits"])
    n = net["weights"].shape[0]
    lif = LIF(shape=(n,), u=net["u0"], v=net["v0"], du=net["du"], dv=net["dv"], vth=net["vth"],
              bias_mant=net["bias_mant"], bias_exp=net["bias_exp"])
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    monitors = {}
    for key, var in (("s", lif.s_out), ("u", lif.u), ("v", lif.v)):
        monitors[key] = Monitor()
        monitors[key].probe(var, steps)
    config = Loihi2SimCfg(select_tag="fixed_pt")
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=config)
        trace = {}
        for key, monitor in monitors.items():
            (values,) = monitor.get_data()[lif.name].values()
            # Monitors hold float64; every value here is an integer below 2^31 in magnitude.
            trace[key] = np.rint(values).astype(np.int64).reshape(steps, n)
    finally:
        lif.stop()
    return trace


def main():
    # The model the fixed_pt tag selects must be the bit-accurate one this oracle is about.
    assert "fixed_pt" in PyLifModelBitAcc.tags, PyLifModelBitAcc.tags
    side_io.main(run_network)


if __name__ == "__main__":
    main()
