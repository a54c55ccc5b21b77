"""Benchmark: a cycle-accurate qsnnsim run of ResNet-19 next to a PyTorch forward of the same net.

Both run in this one process on the same inputs, so the ratio is meaningful on any host:

- reference: a PyTorch functional forward of the same network in float32 (same T, the same
  LIF dynamics with float membranes, 2 intra-op threads), best of N;
- qsnnsim: ``simulate()`` of one sample, cycle-accurate (map + build + simulate), best of N;
  the per-sample part alone is reported too (what every further sample costs);
- the two are timed in interleaved rounds (reference, full run, per-sample part, again), so on
  a shared host both see the same background load, and the best round of each is kept;
- numba compile time: a fresh process with an empty NUMBA_CACHE_DIR (cold: compiles every
  kernel) against a second process on that cache (warm), both timing the same run.

Usage: ``python bench/bench_resnet19.py [--arch archs/core16.yaml] [--workload
workloads/resnet19.npz] [--repeat 5] [--record bench/results/resnet19.json]``.
The target (issue: cycle-accurate engine) is qsnnsim <= 2x the PyTorch time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def record_result(path: str, result: dict) -> None:
    """Write a bench's result as indented JSON (the files under bench/results/)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
        fh.write("\n")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_forward_fn(wl):
    """A float32 PyTorch forward of the workload's graph: conv/linear/identity/sumpool + LIF."""
    import torch
    import torch.nn.functional as F

    params = {}
    for proj in wl.projections:
        scale = torch.tensor(proj.mult.astype(np.float32) / (2.0 ** proj.shift.astype(np.float32)))
        w = None if proj.weights is None else torch.tensor(proj.weights.astype(np.float32))
        params[proj.name] = (w, scale)
    x = torch.tensor(wl.sample_input(0)[0].astype(np.float32))

    def forward():
        with torch.no_grad():
            mem = {p.name: torch.zeros(p.shape) for p in wl.populations if p.kind != "input"}
            out = None
            for _t in range(wl.timesteps):
                values = {wl.input_population.name: x}
                for pop in wl.populations:
                    if pop.kind == "input":
                        continue
                    current = torch.zeros(pop.shape)
                    for proj in wl.projections_into(pop.name):
                        w, scale = params[proj.name]
                        src = values[proj.source]
                        if proj.kind == "conv2d":
                            acc = F.conv2d(src[None], w, stride=proj.stride, padding=proj.padding)[0]
                        elif proj.kind == "linear":
                            v = src.sum(dim=(1, 2)) if proj.global_sum_pool else src.reshape(-1)
                            acc = w @ v
                        elif proj.kind == "identity":
                            acc = src * w.reshape((-1,) + (1,) * (src.dim() - 1))
                        else:
                            acc = F.avg_pool2d(src[None], proj.kernel, proj.stride, proj.padding)[0] * (
                                proj.kernel[0] * proj.kernel[1])
                        current = current + acc * scale.reshape((-1,) + (1,) * (acc.dim() - 1))
                    bias = torch.tensor(pop.bias.astype(np.float32)).reshape((-1,) + (1,) * (len(pop.shape) - 1))
                    h = mem[pop.name] * (pop.decay_mult / 2.0 ** pop.decay_shift) + current + bias
                    if pop.kind == "readout":
                        mem[pop.name] = h
                        out = h
                        continue
                    theta = torch.tensor(pop.threshold.astype(np.float32)).reshape(bias.shape)
                    spike = (h > theta).float()
                    mem[pop.name] = h * (1 - spike)
                    values[pop.name] = spike
            return out

    return forward


def time_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


COMPILE_SNIPPET = """
import time
t0 = time.perf_counter()
from qsnnsim.arch import load_arch
from qsnnsim.engine.simulate import simulate
from qsnnsim.mapping import map_workload
from qsnnsim.workload import load_workload
wl = load_workload({workload!r}); arch = load_arch({arch!r})
simulate(wl, arch, map_workload(wl, arch), samples=[0])
print(time.perf_counter() - t0)
"""


def compile_times(arch: str, workload: str) -> tuple[float, float]:
    """(cold, warm) seconds of import + one simulated sample in fresh processes."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = COMPILE_SNIPPET.format(arch=arch, workload=workload)
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            runs.append(float(out.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=os.path.join(ROOT, "archs", "core16.yaml"))
    parser.add_argument("--workload", default=os.path.join(ROOT, "workloads", "resnet19.npz"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--record", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    import torch

    from qsnnsim.arch import load_arch
    from qsnnsim.engine.build import build_plan
    from qsnnsim.engine.simulate import pass_topology, simulate, simulate_sample
    from qsnnsim.mapping import map_workload
    from qsnnsim.workload import load_workload

    torch.set_num_threads(2)
    os.environ.setdefault("NUMBA_NUM_THREADS", "2")
    wl = load_workload(args.workload)
    arch = load_arch(args.arch)
    forward = torch_forward_fn(wl)
    forward()  # warm up (allocator, oneDNN primitives)
    mapping = map_workload(wl, arch)
    simulate(wl, arch, mapping, samples=[0])  # load cached kernels
    plan = build_plan(wl, arch, mapping)
    topologies = [pass_topology(plan, p) for p in range(mapping.n_passes)]
    # Interleaved rounds: on a shared host, the reference and qsnnsim see the same noise.
    rounds = {"torch": [], "full": [], "sample": []}
    for _ in range(args.repeat):
        rounds["torch"].append(time_once(forward))
        rounds["full"].append(time_once(lambda: simulate(wl, arch, map_workload(wl, arch), samples=[0])))
        rounds["sample"].append(time_once(lambda: simulate_sample(plan, 0, topologies)))
    torch_s, full_s, sample_s = (min(rounds[k]) for k in ("torch", "full", "sample"))
    cold_s, warm_s = compile_times(args.arch, args.workload)

    result = {
        "benchmark": "resnet19 one sample: qsnnsim cycle-accurate run vs PyTorch float forward",
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "workload": os.path.relpath(args.workload, ROOT),
        "arch": os.path.relpath(args.arch, ROOT),
        "timesteps": wl.timesteps,
        "repeat": args.repeat,
        "torch_forward_s": round(torch_s, 4),
        "qsnnsim_full_run_s": round(full_s, 4),
        "qsnnsim_per_sample_s": round(sample_s, 4),
        "ratio_full_run": round(full_s / torch_s, 2),
        "ratio_per_sample": round(sample_s / torch_s, 2),
        "target_ratio": 2.0,
        "process_cold_numba_compile_s": round(cold_s, 2),
        "process_warm_cached_s": round(warm_s, 2),
        "numba_compile_s": round(cold_s - warm_s, 2),
    }
    print(json.dumps(result, indent=1))
    if args.record:
        record_result(args.record, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
