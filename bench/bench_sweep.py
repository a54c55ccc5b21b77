"""Benchmark: sweep throughput, serial against 2 local worker processes (issue 15).

The sweep: digits_conv_m4 with ``--samples`` samples per point (no golden check) on
``--points`` variants of archs/core16.yaml (synapse lanes x neuron lanes x router latency),
so one point takes about 0.5-1 s. Each round runs ``qsnnsim sweep`` as a subprocess into a fresh
folder, once with ``--executor serial`` and once with ``--executor processes --workers 2``, in
alternating order (after one warm-up run, so numba's cache is hot); the wall time is what a
user waits for (start-up, imports, every point, the table and the page). The best round of each is
kept. Also recorded: the mean time of one point as its worker measured it, the CPU, the
load average before and after (``os.getloadavg``), and the ratio.

Usage: ``python bench/bench_sweep.py [--points 32] [--samples 64] [--repeat 2] [--record bench/results/sweep.json]``.
Target (issue 15): for points of at least 0.5 s, 2 workers give at least 1.7x the serial throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_resnet19 import cpu_name  # noqa: E402

TARGET_RATIO = 1.7
LANES = (1, 2, 4, 8)
NEURON_LANES = (1, 2, 4, 8)
ROUTER = (1, 2, 3, 4)


def sweep_text(n_points: int, samples: int) -> str:
    import itertools

    combos = list(itertools.product(LANES, NEURON_LANES, ROUTER))[:n_points]
    # A random sweep would do; an explicit grid cut to n_points keeps the points fixed.
    syn = sorted({c[0] for c in combos})
    neu = sorted({c[1] for c in combos})
    rtr = sorted({c[2] for c in combos})
    return (f"format: qsnnsim-sweep\nversion: 1\nname: bench\narch: {ROOT}/archs/core16.yaml\n"
            f"workloads: [{ROOT}/workloads/digits_conv_m4.npz]\nsamples: {samples}\ncheck: none\n"
            f"vary:\n  core.synapse_lanes: {syn}\n  core.neuron_lanes: {neu}\n  noc.router_latency_cycles: {rtr}\n")


#: CPU seconds (user + system, this process and its reaped workers) of every round, by executor:
#: on a shared host, CPU / wall says how many cores the round actually got.
CPU_SECONDS: dict[str, list[float]] = {}


def _cpu_s() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cli_command() -> list[str]:
    exe = shutil.which("qsnnsim")
    return [exe] if exe else [sys.executable, "-m", "qsnnsim"]


def run_once(sweep_file: str, executor: str, workers: int) -> tuple[float, list[float]]:
    """One ``qsnnsim sweep`` subprocess into a fresh folder: its wall time and its points' own times."""
    out = tempfile.mkdtemp(prefix="qsnnsim-bench-sweep-")
    try:
        cpu_before = _cpu_s()
        started = time.perf_counter()
        proc = subprocess.run([*cli_command(), "sweep", sweep_file, "--out", out, "--executor", executor,
                               "--workers", str(workers)], capture_output=True, text=True)
        wall = time.perf_counter() - started
        CPU_SECONDS.setdefault(executor, []).append(_cpu_s() - cpu_before)
        assert proc.returncode == 0 and " 0 failed, 0 error" in proc.stdout, proc.stdout + proc.stderr
        elapsed = []
        for name in os.listdir(os.path.join(out, "points")):
            with open(os.path.join(out, "points", name), encoding="utf-8") as fh:
                elapsed.append(json.load(fh)["elapsed_s"])
        return wall, elapsed
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=32)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--record", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from qsnnsim.sweep import load_sweep

    folder = tempfile.mkdtemp(prefix="qsnnsim-bench-spec-")
    path = os.path.join(folder, "bench.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(sweep_text(args.points, args.samples))
    spec = load_sweep(path)
    n = len(spec.variants)
    load_before = os.getloadavg()
    run_once(path, "serial", 1)  # warm the numba cache and the OS file cache
    serial, parallel, point_s = [], [], []
    for k in range(args.repeat):
        order = (("serial", 1), ("processes", 2)) if k % 2 == 0 else (("processes", 2), ("serial", 1))
        for executor, workers in order:
            wall, elapsed = run_once(path, executor, workers)
            (serial if executor == "serial" else parallel).append(wall)
            if executor == "serial":
                point_s.extend(elapsed)
            print(f"round {k + 1}: {executor:9s} {workers} worker(s): {wall:6.2f} s, {n / wall:.3f} points/s",
                  flush=True)
    load_after = os.getloadavg()
    best_serial, best_parallel = min(serial), min(parallel)
    result = {
        "benchmark": "sweep throughput: qsnnsim sweep --executor serial vs processes --workers 2 (CLI subprocess, fresh folder each round)",
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_name(),
        "n_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "workload": "workloads/digits_conv_m4.npz",
        "arch": "archs/core16.yaml",
        "points": n,
        "samples_per_point": args.samples,
        "check": "none",
        "repeat": args.repeat,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "point_mean_s": round(sum(point_s) / len(point_s), 4),
        "point_min_s": round(min(point_s), 4),
        "serial_s": [round(x, 3) for x in serial],
        "processes_2_workers_s": [round(x, 3) for x in parallel],
        "serial_cpu_s": [round(x, 3) for x in CPU_SECONDS["serial"][1:]],
        "processes_2_workers_cpu_s": [round(x, 3) for x in CPU_SECONDS["processes"]],
        "processes_cores_obtained": [round(c / w, 2) for c, w in zip(CPU_SECONDS["processes"], parallel, strict=True)],
        "serial_points_per_s": round(n / best_serial, 4),
        "processes_2_workers_points_per_s": round(n / best_parallel, 4),
        "throughput_ratio": round(best_serial / best_parallel, 3),
        "target_ratio": TARGET_RATIO,
        "command": "python bench/bench_sweep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    print(json.dumps(result, indent=1))
    if args.record:
        with open(args.record, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
            fh.write("\n")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
