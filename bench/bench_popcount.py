"""Benchmark: the binary conv kernel and the sum-pool kernel, old against new, on ResNet-18 shapes.

``qsnnsim.kernels.synapse.accumulate_conv_popcount`` (positions vectorised over stride-phase
planes) against a copy, kept below, of the kernel it replaced (each output position's
receptive field copied to a patch, the AND-popcount vectorised over the patch), and
``accumulate_sumpool`` on the uint8 spikes against the old kernel on the int64 copy the old
call site made (``phase.projection_sums``). Same inputs for both:

- the ImageNet ResNet-18 layer shapes (``workloads/make_resnet18.py``) with the slices of its
  ``archs/board4.yaml`` mapping: one call per slice (a range of output channels), all slices of
  a layer on one packed source, each into its own int64 output; random 0/1 spikes at rate 0.2,
  random +-1 weights; every call is checked bit-exact against the old kernel first;
- each round times every shape old then new (interleaved, so on a shared host both see the
  same background load); the best round of each is kept. Per call = a layer's slices / count;
- "per sample" multiplies by the calls one ResNet-18 sample (T = 4) makes of each shape;
- targets: the default numba target (this host's CPU), and ``haswell`` (AVX2, no AVX-512: a
  child process with ``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=""``, LLVM's haswell feature
  set), as other hosts have only AVX2. The CPU name, its AVX-512 flags and the load average
  (``os.getloadavg``) before and after are recorded.

Usage: ``python bench/bench_popcount.py [--repeat 9] [--targets default,haswell]
[--record bench/results/popcount.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_resnet19 import cpu_name, record_result  # noqa: E402

from qsnnsim.kernels._jit import jit, popcount64  # noqa: E402

# (name, C_in, C_out, input H = W, kernel, stride, padding, channels per slice, calls per sample):
# the conv_popcount projections of ResNet-18 on board4 (sample 0, T = 4), as the engine calls them.
CONV_SHAPES = [
    ("layer1 3x3 64->64 56x56", 64, 64, 56, 3, 1, 1, 16, 64),
    ("layer2.0 3x3/2 64->128 28x28", 64, 128, 56, 3, 2, 1, 64, 8),
    ("layer2 3x3 128->128 28x28", 128, 128, 28, 3, 1, 1, 64, 24),
    ("layer2.0 down 1x1/2 64->128", 64, 128, 56, 1, 2, 0, 64, 8),
    ("layer3.0 3x3/2 128->256 14x14", 128, 256, 28, 3, 2, 1, 128, 8),
    ("layer3 3x3 256->256 14x14", 256, 256, 14, 3, 1, 1, 64, 48),
    ("layer3.0 down 1x1/2 128->256", 128, 256, 28, 1, 2, 0, 64, 16),
    ("layer4.0 3x3/2 256->512 7x7 (128-ch slices)", 256, 512, 14, 3, 2, 1, 128, 4),
    ("layer4.0 3x3/2 256->512 7x7 (192-ch slices)", 256, 512, 14, 3, 2, 1, 192, 8),
    ("layer4 3x3 512->512 7x7", 512, 512, 7, 3, 1, 1, 64, 96),
    ("layer4.0 down 1x1/2 256->512", 256, 512, 14, 1, 2, 0, 64, 32),
]
# the stem's max-pool: a 3x3/2 sum-pool (padding 1) of 64x112x112 spikes, 16-channel slices
POOL_SHAPE = ("maxpool 3x3/2 64x112x112", 64, 112, 3, 2, 1, 16, 16)
RATE = 0.2
HASWELL_ENV = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}


# The kernels this change replaced, as they were (compiled as the package compiles its own):
# the reference every new result is checked against, and the baseline of the timings.


@jit
def old_accumulate_conv_popcount(packed, w_plus, c_start, c_stop, stride_h, stride_w, out_h, out_w, acc):
    n_out, k_h, k_w, n_words = w_plus.shape
    length = k_h * k_w * n_words
    w_flat = w_plus.reshape(n_out, length)
    for oy in range(out_h):
        patch = np.empty(length, dtype=np.uint64)
        y0 = oy * stride_h
        for ox in range(out_w):
            x0 = ox * stride_w
            i = 0
            n_active = 0
            for kh in range(k_h):
                for kw in range(k_w):
                    for word in range(n_words):
                        v = packed[y0 + kh, x0 + kw, word]
                        patch[i] = v
                        n_active += popcount64(v)
                        i += 1
            for co in range(c_start, c_stop):
                plus = 0
                for i in range(length):
                    plus += popcount64(patch[i] & w_flat[co, i])
                acc[co - c_start, oy, ox] = 2 * np.int64(plus) - np.int64(n_active)


@jit
def old_accumulate_sumpool(values, k_h, k_w, stride_h, stride_w, pad_h, pad_w, c_start, c_stop, acc):
    c_all, h, w = values.shape
    n_c, out_h, out_w = acc.shape
    for c in range(c_start, c_stop):
        for oy in range(out_h):
            for ox in range(out_w):
                total = 0
                for kh in range(k_h):
                    y = oy * stride_h - pad_h + kh
                    if y < 0 or y >= h:
                        continue
                    for kw in range(k_w):
                        x = ox * stride_w - pad_w + kw
                        if 0 <= x < w:
                            total += values[c, y, x]
                acc[c - c_start, oy, ox] = total


def conv_case(rng, c_in, c_out, hw, k, stride, pad, per_slice):
    """Packed source, packed weights and one (c_start, c_stop, acc) per slice of the layer."""
    from qsnnsim.engine.build import _pack_plus
    from qsnnsim.kernels import synapse

    spikes = (rng.random((c_in, hw, hw)) < RATE).astype(np.uint8)
    codes = rng.choice(np.array([-1, 1], np.int8), size=(c_out, c_in, k, k))
    packed = synapse.pack_spike_planes(spikes, pad, pad)
    out = (hw + 2 * pad - k) // stride + 1
    slices = [(c, min(c + per_slice, c_out)) for c in range(0, c_out, per_slice)]
    accs = [np.empty((c1 - c0, out, out), np.int64) for c0, c1 in slices]
    return packed, _pack_plus(codes), out, slices, accs


def best_interleaved(fns: dict, repeat: int) -> dict:
    """Best of ``repeat`` rounds for each function; every round runs them all, in turn."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def run_target(repeat: int) -> dict:
    """Time every shape old vs new in this process (its numba target); check they agree."""
    import numba

    from qsnnsim.kernels import synapse

    old_conv, old_pool = old_accumulate_conv_popcount, old_accumulate_sumpool
    rng = np.random.default_rng(0)
    rows = []
    for name, c_in, c_out, hw, k, stride, pad, per_slice, per_sample in CONV_SHAPES:
        packed, w_plus, out, slices, accs = conv_case(rng, c_in, c_out, hw, k, stride, pad, per_slice)

        def layer(kernel, packed=packed, w_plus=w_plus, out=out, slices=slices, accs=accs, stride=stride):
            for (c0, c1), acc in zip(slices, accs, strict=True):
                kernel(packed, w_plus, c0, c1, stride, stride, out, out, acc)

        layer(old_conv)
        expect = [a.copy() for a in accs]
        layer(synapse.accumulate_conv_popcount)
        assert all(np.array_equal(a, e) for a, e in zip(accs, expect, strict=True)), f"{name}: new kernel differs"
        best = best_interleaved({"old": lambda: layer(old_conv),
                                 "new": lambda: layer(synapse.accumulate_conv_popcount)}, repeat)
        rows.append(_row(name, "accumulate_conv_popcount", best, len(slices), per_sample))

    name, c, hw, k, stride, pad, per_slice, per_sample = POOL_SHAPE
    spikes = (rng.random((c, hw, hw)) < RATE).astype(np.uint8)
    out = (hw + 2 * pad - k) // stride + 1
    slices = [(c0, min(c0 + per_slice, c)) for c0 in range(0, c, per_slice)]
    accs = [np.empty((c1 - c0, out, out), np.int64) for c0, c1 in slices]

    def pool_old():  # the old call site widened the whole source to int64 for every slice
        for (c0, c1), acc in zip(slices, accs, strict=True):
            old_pool(spikes.astype(np.int64), k, k, stride, stride, pad, pad, c0, c1, acc)

    def pool_new():
        for (c0, c1), acc in zip(slices, accs, strict=True):
            synapse.accumulate_sumpool(spikes, k, k, stride, stride, pad, pad, c0, c1, acc)

    pool_old()
    expect = [a.copy() for a in accs]
    pool_new()
    assert all(np.array_equal(a, e) for a, e in zip(accs, expect, strict=True)), f"{name}: new kernel differs"
    rows.append(_row(name, "accumulate_sumpool (old: + int64 copy)", best_interleaved(
        {"old": pool_old, "new": pool_new}, repeat), len(slices), per_sample))
    conv = [r for r in rows if r["kernel"] == "accumulate_conv_popcount"]
    return {
        "numba_cpu_name": numba.config.CPU_NAME or "host",
        "numba_cpu_features": numba.config.CPU_FEATURES if numba.config.CPU_FEATURES is not None else "host",
        "shapes": rows,
        "conv_per_sample_old_ms": round(sum(r["per_sample_old_ms"] for r in conv), 2),
        "conv_per_sample_new_ms": round(sum(r["per_sample_new_ms"] for r in conv), 2),
        "sumpool_per_sample_old_ms": rows[-1]["per_sample_old_ms"],
        "sumpool_per_sample_new_ms": rows[-1]["per_sample_new_ms"],
        "saving_per_sample_ms": round(sum(r["per_sample_old_ms"] - r["per_sample_new_ms"] for r in rows), 2),
    }


def _row(name, kernel, best, calls, per_sample) -> dict:
    old_us, new_us = best["old"] / calls * 1e6, best["new"] / calls * 1e6
    return {"shape": name, "kernel": kernel, "old_us_per_call": round(old_us, 1), "new_us_per_call": round(new_us, 1),
            "speedup": round(old_us / new_us, 2), "calls_per_sample": per_sample,
            "per_sample_old_ms": round(old_us * per_sample / 1e3, 2),
            "per_sample_new_ms": round(new_us * per_sample / 1e3, 2)}


def print_target(target: str, res: dict) -> None:
    print(f"\n[{target}] numba target cpu={res['numba_cpu_name']!r} features={res['numba_cpu_features']!r}")
    print(f"{'shape':46s} {'old us':>9s} {'new us':>9s} {'x':>6s} {'calls':>6s} {'old ms':>7s} {'new ms':>7s}")
    for r in res["shapes"]:
        print(f"{r['shape']:46s} {r['old_us_per_call']:9.1f} {r['new_us_per_call']:9.1f} {r['speedup']:6.2f} "
              f"{r['calls_per_sample']:6d} {r['per_sample_old_ms']:7.2f} {r['per_sample_new_ms']:7.2f}")
    print(f"per sample: conv {res['conv_per_sample_old_ms']} -> {res['conv_per_sample_new_ms']} ms, sumpool "
          f"{res['sumpool_per_sample_old_ms']} -> {res['sumpool_per_sample_new_ms']} ms; saving "
          f"{res['saving_per_sample_ms']} ms")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=9, help="interleaved rounds; the best of each is kept")
    ap.add_argument("--targets", default="default,haswell", help="comma-separated: default, haswell")
    ap.add_argument("--record", default=None, help="write the result as JSON (bench/results/popcount.json)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one target, JSON on stdout
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_target(args.repeat)))
        return 0
    flags = open("/proc/cpuinfo", encoding="utf-8").read().split() if os.path.exists("/proc/cpuinfo") else []
    result = {
        "benchmark": "accumulate_conv_popcount / accumulate_sumpool, old vs new, ResNet-18 ImageNet shapes",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu_name(),
        "cpu_avx512": sorted({f for f in flags if f.startswith("avx512")}),
        "n_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numba": __import__("numba").__version__,
        "spike_rate": RATE,
        "repeat": args.repeat,
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "targets": {},
    }
    for target in args.targets.split(","):
        # each target in its own process: numba reads its target from the environment at import
        env = dict(os.environ, **(HASWELL_ENV if target == "haswell" else {}))
        if target == "default":
            for key in HASWELL_ENV:
                env.pop(key, None)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--repeat", str(args.repeat)],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        result["targets"][target] = json.loads(proc.stdout.strip().splitlines()[-1])
        print_target(target, result["targets"][target])
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\ncpu: {result['cpu']}  loadavg before {result['loadavg_before']} after {result['loadavg_after']}")
    if args.record:
        record_result(args.record, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
