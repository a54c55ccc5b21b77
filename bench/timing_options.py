"""Latency under the timing options of docs/timing-model.md §10, with each run's bottleneck line.

Cycles are deterministic (no host noise), so this records numbers rather than a speed:
``python bench/timing_options.py --record bench/results/timing_options.json`` regenerates the
tables of docs/timing-options.md (sample 0 of each workload, unbounded router buffers, every
arbitration x soma order; and the router-buffer depth sweep with level order).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from qsnnsim.arch import load_arch  # noqa: E402
from qsnnsim.engine.simulate import simulate  # noqa: E402
from qsnnsim.mapping import map_workload  # noqa: E402
from qsnnsim.report.critical import bottleneck_line, critical_path  # noqa: E402
from qsnnsim.workload import load_workload  # noqa: E402

ORDERS = [("level_order", "level"), ("round_robin", "level"), ("level_order", "ready"), ("round_robin", "ready")]
RUNS = [("resnet19", "core16"), ("digits_conv_m2", "core16"), ("digits_conv_m4", "core16"),
        ("digits_conv_m8", "core16"), ("digits_conv_m4_nowsdr", "core16"), ("digits_truenorth", "truenorth_like")]
DEPTHS = [("digits_conv_m4", "core16"), ("tiny_conv", "tiny"), ("loihi_conv", "core16")]


def with_options(arch, arbitration="level_order", soma_order="level", buffers="unbounded", depth=None):
    noc = dataclasses.replace(arch.noc, arbitration=arbitration, router_buffers=buffers,
                              buffer_depth_flits=depth or arch.noc.buffer_depth_flits)
    return dataclasses.replace(arch, noc=noc, core=dataclasses.replace(arch.core, soma_order=soma_order))


def one(workload, arch):
    mapping = map_workload(workload, arch)
    sample = simulate(workload, arch, mapping, samples=[0]).samples[0]
    inject = sum(v for k, v in sample.link_stall_cycles.items() if k.startswith("inject") or k == "host")
    return {"latency_cycles": sample.latency_cycles,
            "bottleneck": bottleneck_line(critical_path(sample, mapping.slices, arch)),
            "peak_flits": max(sample.noc_buffer_peak_flits), "injection_stall_cycles": inject}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", metavar="JSON", help="write the numbers here")
    args = ap.parse_args(argv)
    out = {"orders": [], "depths": []}
    for wl_name, arch_name in RUNS:
        wl = load_workload(os.path.join(ROOT, "workloads", f"{wl_name}.npz"))
        base = load_arch(os.path.join(ROOT, "archs", f"{arch_name}.yaml"))
        for arbitration, soma in ORDERS:
            row = {"workload": wl_name, "arch": arch_name, "arbitration": arbitration, "soma_order": soma,
                   **one(wl, with_options(base, arbitration, soma))}
            out["orders"].append(row)
            print(f"{wl_name:22} {arch_name:15} {arbitration:11} {soma:5} {row['latency_cycles']:>11,}  "
                  f"{row['bottleneck']}", flush=True)
    for wl_name, arch_name in DEPTHS:
        wl = load_workload(os.path.join(ROOT, "workloads", f"{wl_name}.npz"))
        base = load_arch(os.path.join(ROOT, "archs", f"{arch_name}.yaml"))
        for depth in (None, 64, 16, 8, 4, 2, 1):
            buffers = "unbounded" if depth is None else "finite"
            row = {"workload": wl_name, "arch": arch_name, "router_buffers": buffers, "depth": depth,
                   **one(wl, with_options(base, buffers=buffers, depth=depth))}
            out["depths"].append(row)
            print(f"{wl_name:22} {arch_name:15} {buffers:9} {str(depth):>5} {row['latency_cycles']:>9,} "
                  f"peak {row['peak_flits']:>6} injection stall {row['injection_stall_cycles']:>9,}", flush=True)
    wl = load_workload(os.path.join(ROOT, "workloads", "tiny_dvs.npz"))
    base = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    out["anomaly"] = []
    for lanes in (4, 6):
        for arbitration, soma in (ORDERS[0], ORDERS[1], ORDERS[3]):
            faster = dataclasses.replace(base, core=dataclasses.replace(base.core, synapse_lanes=lanes))
            row = {"workload": "tiny_dvs", "arch": "core16", "synapse_lanes": lanes, "arbitration": arbitration,
                   "soma_order": soma, **one(wl, with_options(faster, arbitration, soma))}
            out["anomaly"].append(row)
            print(f"tiny_dvs core16 synapse_lanes {lanes} {arbitration:11} {soma:5} {row['latency_cycles']:>7,}  "
                  f"{row['bottleneck']}", flush=True)
    if args.record:
        with open(args.record, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
