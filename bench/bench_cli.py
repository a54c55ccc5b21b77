"""Benchmark: `qsnnsim run` as the user feels it, next to a PyTorch forward of the same network.

One run records, on this host, in interleaved rounds (so on a shared host every quantity sees
the same background load; the best round of each is kept):

- reference: the PyTorch float32 forward of ``bench_resnet19.py`` with 1 and with 2 intra-op
  threads (the faster of the two is the reference);
- engine per sample: ``simulate_sample`` on a built plan (what the engine alone costs a sample);
- golden per sample: ``run_golden`` (the check the CLI runs on a sample), with numpy's BLAS
  threads as they are and, when threadpoolctl is installed, with one BLAS thread;
- CLI wall time for one sample, warm (numba cache hot, one warm-up run first): the default
  ``qsnnsim run ARCH WORKLOAD --out TMP`` with its report, and with ``--no-report``;
  and, when this environment keeps Python from caching bytecode (``PYTHONDONTWRITEBYTECODE``,
  set on some shared hosts), the same two once more in the environment as given;
- CLI marginal cost per sample: ``--samples K`` minus ``--samples 1``, over K - 1, both with
  ``--no-report`` (K is the workload's sample count, capped by ``--max-samples``); when the CLI
  has ``--check``, also with ``--check none`` (the simulation's share, without the golden check).

The CLI is run as a subprocess, so this measures whatever the CLI does today: the ``qsnnsim``
script installed beside this interpreter (else one on PATH, else ``python -m qsnnsim``; a
PATH entry can be a shim, such as pyenv's, that adds its own start-up). As a user's install
does, it runs with Python's bytecode cache on: in a private folder (``PYTHONPYCACHEPREFIX``,
so nothing is written into the checkout), filled by the warm-up run. The command, the
bytecode mode, the CPU, the load average (``os.getloadavg``) before and after, and the
ratios are recorded with the times.

Usage: ``python bench/bench_cli.py [--repeat 3] [--record bench/results/cli.json]``.
Targets (issue 12): one warm sample <= 2.0 s with the report and <= 1.0 s without; the
marginal cost of a sample <= 1.0x the PyTorch forward.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_resnet19 import cpu_name, record_result, time_once, torch_forward_fn  # noqa: E402

TARGET_REPORT_S = 2.0
TARGET_NO_REPORT_S = 1.0
TARGET_MARGINAL_RATIO = 1.0


def cli_command() -> list[str]:
    beside = os.path.join(sysconfig.get_path("scripts"), "qsnnsim")
    exe = beside if os.access(beside, os.X_OK) else shutil.which("qsnnsim")
    return [exe] if exe else [sys.executable, "-m", "qsnnsim"]


#: The CLI's environment: bytecode cached in a folder of the bench's own (set up in main).
CLI_ENV = dict(os.environ)
#: This environment as given, when it keeps Python from writing bytecode (else None).
GIVEN_ENV = dict(os.environ) if os.environ.get("PYTHONDONTWRITEBYTECODE") else None


#: CPU seconds (user + system) of every CLI run, by round name: on a loaded host the wall time
#: grows with the load, the CPU time much less, so both are recorded.
CPU_SECONDS: dict[str, list[float]] = {}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_cli(args: list[str], cwd: str, name: str = "", env: dict | None = None) -> float:
    """Wall seconds of one ``qsnnsim`` run (raises with its stderr if it fails); its CPU
    seconds (the run and any process it waited for) go to ``CPU_SECONDS[name]``. ``env``
    defaults to :data:`CLI_ENV`."""
    out_dir = tempfile.mkdtemp(prefix="bench-cli-")
    try:
        cpu0 = _children_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.run(cli_command() + args + ["--out", os.path.join(out_dir, "run")], cwd=cwd,
                              capture_output=True, text=True, env=CLI_ENV if env is None else env)
        elapsed = time.perf_counter() - t0
        CPU_SECONDS.setdefault(name, []).append(_children_cpu_s() - cpu0)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"qsnnsim {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return elapsed


def cli_has_check() -> bool:
    out = subprocess.run(cli_command() + ["run", "--help"], capture_output=True, text=True, env=CLI_ENV)
    return "--check" in out.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="archs/core16.yaml", help="relative to the repository root")
    parser.add_argument("--workload", default="workloads/resnet19.npz", help="relative to the repository root")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-samples", type=int, default=8, help="K of the marginal cost (capped by the workload)")
    parser.add_argument("--record", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    import torch

    from qsnnsim.arch import load_arch
    from qsnnsim.engine.build import build_plan
    from qsnnsim.engine.simulate import pass_topology, simulate_sample
    from qsnnsim.golden import run_golden
    from qsnnsim.mapping import map_workload
    from qsnnsim.workload import load_workload

    wl = load_workload(os.path.join(ROOT, args.workload))
    arch = load_arch(os.path.join(ROOT, args.arch))
    k = min(args.max_samples, wl.n_samples)
    forward = torch_forward_fn(wl)
    mapping = map_workload(wl, arch)
    plan = build_plan(wl, arch, mapping)
    topologies = [pass_topology(plan, p) for p in range(mapping.n_passes)]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        forward()  # warm up (allocator, oneDNN primitives) for this thread count
    simulate_sample(plan, 0, topologies)
    run_golden(wl, 0)
    base = [args.arch, args.workload]
    pycache = tempfile.mkdtemp(prefix="bench-cli-pycache-")
    CLI_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    CLI_ENV["PYTHONPYCACHEPREFIX"] = pycache
    time_cli(["run", *base], ROOT, "warm_up")  # numba cache, bytecode cache and file cache hot
    if GIVEN_ENV is not None:
        time_cli(["run", *base], ROOT, "warm_up", GIVEN_ENV)
    try:  # the golden check's products with one BLAS thread, if threadpoolctl is installed
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None

    has_check = cli_has_check()
    load_before = os.getloadavg()
    rounds: dict[str, list[float]] = {key: [] for key in (
        "torch_1_thread", "torch_2_threads", "engine_sample", "golden_sample",
        "cli_report", "cli_no_report", "cli_no_report_k")}
    if has_check:
        rounds.update(cli_check_none=[], cli_check_none_k=[])
    if GIVEN_ENV is not None:
        rounds.update(cli_report_no_bytecode_cache=[], cli_no_report_no_bytecode_cache=[])
    for _ in range(args.repeat):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            rounds[f"torch_{threads}_thread{'s' if threads > 1 else ''}"].append(time_once(forward))
        rounds["engine_sample"].append(time_once(lambda: simulate_sample(plan, 0, topologies)))
        rounds["golden_sample"].append(time_once(lambda: run_golden(wl, 0)))
        if threadpool_limits is not None:
            with threadpool_limits(limits=1, user_api="blas"):
                rounds.setdefault("golden_sample_1_blas_thread", []).append(time_once(lambda: run_golden(wl, 0)))
        rounds["cli_report"].append(time_cli(["run", *base], ROOT, "cli_report"))
        rounds["cli_no_report"].append(time_cli(["run", *base, "--no-report"], ROOT, "cli_no_report"))
        rounds["cli_no_report_k"].append(
            time_cli(["run", *base, "--no-report", "--samples", str(k)], ROOT, "cli_no_report_k"))
        if has_check:
            unchecked = ["run", *base, "--no-report", "--check", "none"]
            rounds["cli_check_none"].append(time_cli(unchecked, ROOT, "cli_check_none"))
            rounds["cli_check_none_k"].append(time_cli(unchecked + ["--samples", str(k)], ROOT, "cli_check_none_k"))
        if GIVEN_ENV is not None:
            for key, extra in (("cli_report_no_bytecode_cache", []),
                               ("cli_no_report_no_bytecode_cache", ["--no-report"])):
                rounds[key].append(time_cli(["run", *base, *extra], ROOT, key, GIVEN_ENV))
    load_after = os.getloadavg()
    shutil.rmtree(pycache, ignore_errors=True)
    best = {key: min(values) for key, values in rounds.items()}
    torch_s = min(best["torch_1_thread"], best["torch_2_threads"])
    marginal_s = (best["cli_no_report_k"] - best["cli_no_report"]) / (k - 1) if k > 1 else None
    unchecked_s = None
    if has_check and k > 1:
        unchecked_s = (best["cli_check_none_k"] - best["cli_check_none"]) / (k - 1)

    result = {
        "benchmark": "qsnnsim run as the user feels it (warm CLI, subprocess) vs a PyTorch forward",
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_name(),
        "n_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "workload": args.workload,
        "arch": args.arch,
        "cli_command": " ".join(cli_command()),
        "bytecode": ("cached (PYTHONPYCACHEPREFIX in a temporary folder, filled by the warm-up run); the "
                     "*_no_bytecode_cache quantities ran in the environment as given, PYTHONDONTWRITEBYTECODE="
                     f"{os.environ.get('PYTHONDONTWRITEBYTECODE')}" if GIVEN_ENV is not None else
                     "cached (PYTHONPYCACHEPREFIX in a temporary folder, filled by the warm-up run)"),
        "timesteps": wl.timesteps,
        "samples_in_workload": wl.n_samples,
        "marginal_k": k,
        "repeat": args.repeat,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "torch_forward_1_thread_s": round(best["torch_1_thread"], 4),
        "torch_forward_2_threads_s": round(best["torch_2_threads"], 4),
        "torch_forward_s": round(torch_s, 4),
        "engine_per_sample_s": round(best["engine_sample"], 4),
        "golden_per_sample_s": round(best["golden_sample"], 4),
        "golden_per_sample_1_blas_thread_s": (round(best["golden_sample_1_blas_thread"], 4)
                                              if "golden_sample_1_blas_thread" in best else None),
        "cli_one_sample_report_s": round(best["cli_report"], 3),
        "cli_one_sample_no_report_s": round(best["cli_no_report"], 3),
        "cli_one_sample_report_no_bytecode_cache_s": (round(best["cli_report_no_bytecode_cache"], 3)
                                                      if GIVEN_ENV is not None else None),
        "cli_one_sample_no_report_no_bytecode_cache_s": (round(best["cli_no_report_no_bytecode_cache"], 3)
                                                         if GIVEN_ENV is not None else None),
        f"cli_{k}_samples_no_report_s": round(best["cli_no_report_k"], 3),
        "cli_marginal_per_sample_s": None if marginal_s is None else round(marginal_s, 4),
        "cli_marginal_per_sample_check_none_s": None if unchecked_s is None else round(unchecked_s, 4),
        "ratio_marginal_check_none_to_torch": None if unchecked_s is None else round(unchecked_s / torch_s, 2),
        "ratio_engine_to_torch": round(best["engine_sample"] / torch_s, 2),
        "ratio_golden_to_torch": round(best["golden_sample"] / torch_s, 2),
        "ratio_marginal_to_torch": None if marginal_s is None else round(marginal_s / torch_s, 2),
        "targets": {"cli_one_sample_report_s": TARGET_REPORT_S, "cli_one_sample_no_report_s": TARGET_NO_REPORT_S,
                    "ratio_marginal_to_torch": TARGET_MARGINAL_RATIO},
        "cli_cpu_s_best": {key: round(min(values), 3) for key, values in CPU_SECONDS.items()},
        "rounds_s": {key: [round(v, 4) for v in values] for key, values in rounds.items()},
        "cli_rounds_cpu_s": {key: [round(v, 3) for v in values] for key, values in CPU_SECONDS.items()},
    }
    print(json.dumps(result, indent=1))
    if args.record:
        record_result(args.record, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
