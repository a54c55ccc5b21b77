"""The file side of the vendor scripts (lava_side.py, xylo_side.py): networks in, traces out.

Runs inside a vendor's venv beside those scripts (its folder is on their ``sys.path``), so
it needs numpy only. The format is that of ``networks.pack``: ``n{i}_{key}`` entries plus
``count``.
"""

import sys

import numpy as np


def read(path):
    """The networks of a ``networks.pack`` file, as dicts of int64 arrays and ints."""
    flat = np.load(path, allow_pickle=False)
    nets = [{} for _ in range(int(flat["count"]))]
    for name in flat.files:
        if name != "count":
            index, key = name[1:].split("_", 1)
            value = flat[name]
            nets[int(index)][key] = int(value) if value.ndim == 0 else value.astype(np.int64)
    return nets


def main(run_network) -> None:
    """``python SIDE.py NETS.npz TRACES.npz``: run every network, write every trace."""
    nets_path, out_path = sys.argv[1], sys.argv[2]
    traces = [run_network(net) for net in read(nets_path)]
    flat = {"count": np.array(len(traces))}
    for i, trace in enumerate(traces):
        for key, value in trace.items():
            flat[f"n{i}_{key}"] = value
    np.savez_compressed(out_path, **flat)
