"""Generate the shipped neuron-dialect workloads (DESIGN §2b), deterministic for their seeds.

    python workloads/make_dialects.py                      # both, about 1 min on one core
    python workloads/make_dialects.py xylo_recurrent.npz   # one of them

Both are reservoir networks on scikit-learn's digits (the same stratified split as the
trained digits workloads, ``qsnnsim.train.data.load_digits``): the hidden weights are random
integers, fixed by the seed, and their thresholds are *calibrated* on training images to a
target firing rate; only the readout is *trained*, by least squares on the hidden spike
counts of the training images, then quantised to int8. Provenance says so. Everything
after the float least-squares fit is integer, and the accuracy written into the workload is
the golden model's on the test split.

- ``xylo_recurrent.npz`` (``xylo_lif``, for ``archs/xylo_like.yaml``): 64 rate-coded input
  channels -> 128 recurrent Xylo neurons (input weights int8; recurrent int8 weights with a
  one-step delay, as Xylo's recurrent spikes arrive; graded spikes, up to 31 a step) -> a
  10-class readout.
- ``loihi_conv.npz`` (``loihi_cuba``, for ``archs/loihi_like.yaml``): a (1, 8, 8) rate-coded
  image -> conv 3x3 (8 channels) -> CUBA LIF -> conv 3x3 stride 2 (16 channels) -> CUBA LIF
  -> readout. Every synaptic projection has delay 1, as Lava's Dense and Conv deliver.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from qsnnsim.builder import WorkloadBuilder  # noqa: E402
from qsnnsim.golden import run_golden_input  # noqa: E402
from qsnnsim.train.data import load_digits  # noqa: E402
from qsnnsim.workload import save_workload  # noqa: E402

TIMESTEPS = 8
CALIBRATION_IMAGES = 200
RIDGE = 1.0


def rate_code(codes: np.ndarray, timesteps: int = TIMESTEPS) -> np.ndarray:
    """int8 codes 0..127 -> uint8 (N, T, *shape) spikes: a code c spikes at step t when
    floor((t + 1) * c / 128) > floor(t * c / 128), so about c / 128 of the steps, evenly spaced."""
    c = np.clip(np.asarray(codes, np.int64), 0, 127)
    steps = np.arange(timesteps + 1).reshape((1, -1) + (1,) * (c.ndim - 1))
    counts = (steps * c[:, None]) // 128
    return (np.diff(counts, axis=1) > 0).astype(np.uint8)


def _fit_readout(features: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Least-squares readout on spike counts (ridge), quantised to int8: (n_classes, features)."""
    target = np.eye(n_classes)[labels]
    a = features.T @ features + RIDGE * np.eye(features.shape[1])
    w = np.linalg.solve(a, features.T @ target).T
    scale = 127.0 / max(np.abs(w).max(), 1e-12)
    return np.clip(np.rint(w * scale), -127, 127).astype(np.int8)


def _calibrate(make, frames: np.ndarray, hidden: str, target: float, lo: int, hi: int) -> int:
    """The threshold scale (bisection over integers) at which ``hidden`` fires closest to
    ``target`` spikes per neuron and step on the calibration images (fewer spikes as it grows)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        wl = make(mid)
        rate = np.mean([run_golden_input(wl, x.astype(np.int64)).spikes[hidden].mean() for x in frames])
        lo, hi = (mid, hi) if rate > target else (lo, mid)
    return hi


def make_xylo(path: str, seed: int = 0) -> float:
    data = load_digits()
    rng = np.random.default_rng(seed)
    n_in, n_hidden = 64, 128
    x_train = rate_code(data.x_train.reshape(-1, n_in))
    x_test = rate_code(data.x_test.reshape(-1, n_in))
    w_in = (rng.standard_normal((n_hidden, n_in)) * 24 * (rng.random((n_hidden, n_in)) < 0.5)).round()
    w_in = np.clip(w_in, -127, 127).astype(np.int8)
    w_rec = (rng.standard_normal((n_hidden, n_hidden)) * 12 * (rng.random((n_hidden, n_hidden)) < 0.1)).round()
    w_rec = np.clip(w_rec, -127, 127).astype(np.int8)
    spread = rng.integers(80, 121, n_hidden)  # per-neuron thresholds within +-20% of the scale

    def build(scale, readout=None, samples=x_train[:1], labels=None):
        b = WorkloadBuilder("xylo_recurrent", timesteps=TIMESTEPS, input_kind="spikes")
        b.input("in", (n_in,))
        b.neurons("hidden", (n_hidden,), "xylo_lif", threshold=np.maximum(1, scale * spread // 100),
                  dash_syn=2, dash_mem=3, bias=0, version=1)
        b.linear("in", "hidden", w_in, weight_bits=8, acc_bits=16)
        b.linear("hidden", "hidden", w_rec, weight_bits=8, acc_bits=16, delay=1, name="recurrent")
        b.readout("out", (10,), decay_shift=0)
        b.linear("hidden", "out", readout if readout is not None else np.zeros((10, n_hidden), np.int8),
                 weight_bits=8, acc_bits=24)
        b.set_samples(samples, labels=labels, class_names=data.class_names)
        return b.build()

    calib = x_train[:CALIBRATION_IMAGES]
    scale = _calibrate(lambda s: build(s), calib, "hidden", target=0.5, lo=1, hi=4096)
    hidden = build(scale)
    feats = np.asarray([run_golden_input(hidden, x.astype(np.int64)).spikes["hidden"].sum(axis=0)
                        for x in x_train], np.float64)
    w_out = _fit_readout(feats, data.y_train)
    wl = build(scale, w_out, x_test, data.y_test)
    acc = _accuracy(wl)
    prov = _provenance(
        data, seed, acc, "hidden weights random",
        (f"calibrated, untrained hidden layer: random int8 weights (seed {seed}); thresholds "
         f"{scale} x U(0.8, 1.2), chosen by bisection for 0.5 spikes per neuron and step on "
         f"{CALIBRATION_IMAGES} training images"),
        f"hidden spike counts of {len(x_train)} training images")
    wl = _with_provenance(wl, prov)
    save_workload(wl, path)
    return acc


def make_loihi(path: str, seed: int = 0) -> float:
    data = load_digits()
    rng = np.random.default_rng(seed)
    x_train = rate_code(data.x_train)           # (N, T, 1, 8, 8)
    x_test = rate_code(data.x_test)
    w1 = np.clip((rng.standard_normal((8, 1, 3, 3)) * 40).round(), -127, 127).astype(np.int8)
    w2 = np.clip((rng.standard_normal((16, 8, 3, 3)) * 20).round(), -127, 127).astype(np.int8)
    spread = rng.integers(80, 121, 16)

    def build(scale1, scale2, readout=None, samples=x_train[:1], labels=None):
        b = WorkloadBuilder("loihi_conv", timesteps=TIMESTEPS, input_kind="spikes")
        b.input("in", (1, 8, 8))
        b.neurons("conv1", (8, 8, 8), "loihi_cuba", du=2048, dv=1024, vth=np.maximum(1, scale1 * spread[:8] // 100),
                  bias_mant=0, bias_exp=0, silicon_reset=0)
        b.conv2d("in", "conv1", w1, weight_bits=8, padding=1, acc_bits=16, delay=1)
        b.neurons("conv2", (16, 4, 4), "loihi_cuba", du=2048, dv=1024, vth=np.maximum(1, scale2 * spread // 100),
                  bias_mant=0, bias_exp=0, silicon_reset=0)
        b.conv2d("conv1", "conv2", w2, weight_bits=8, stride=2, padding=1, acc_bits=16, delay=1)
        b.readout("out", (10,), decay_shift=0)
        b.linear("conv2", "out", readout if readout is not None else np.zeros((10, 256), np.int8),
                 weight_bits=8, acc_bits=24)
        b.set_samples(samples, labels=labels, class_names=data.class_names)
        return b.build()

    calib = x_train[:CALIBRATION_IMAGES]
    scale1 = _calibrate(lambda s: build(s, 1 << 16), calib, "conv1", target=0.2, lo=1, hi=1 << 16)
    scale2 = _calibrate(lambda s: build(scale1, s), calib, "conv2", target=0.2, lo=1, hi=1 << 16)
    hidden = build(scale1, scale2)
    feats = np.asarray([run_golden_input(hidden, x.astype(np.int64)).spikes["conv2"].sum(axis=0).reshape(-1)
                        for x in x_train], np.float64)
    w_out = _fit_readout(feats, data.y_train)
    wl = build(scale1, scale2, w_out, x_test, data.y_test)
    acc = _accuracy(wl)
    prov = _provenance(
        data, seed, acc, "convolutions random",
        (f"calibrated, untrained convolutions: random int8 kernels (seed {seed}); vth {scale1} (conv1) "
         f"and {scale2} (conv2) x U(0.8, 1.2), chosen by bisection for 0.2 spikes per neuron and "
         f"step on {CALIBRATION_IMAGES} training images; du 2048, dv 1024; delay 1 on every "
         "convolution, as Lava's Conv/Dense deliver"),
        f"conv2 spike counts of {len(x_train)} training images")
    wl = _with_provenance(wl, prov)
    save_workload(wl, path)
    return acc


def _provenance(data, seed: int, accuracy: float, hidden: str, calibration: str, features: str) -> dict:
    """What the workload records of where it comes from (the report shows it)."""
    return dict(
        trainer=f"workloads/make_dialects.py (reservoir: {hidden}, readout least squares)",
        dataset="digits", split=data.split, seed=seed, timesteps=TIMESTEPS, calibration=calibration,
        training=f"readout trained: ridge least squares (lambda {RIDGE}) on {features}, quantised to int8",
        input_encoding="rate code: pixel code c (0..127) spikes at step t when floor((t+1) c / 128) > floor(t c / 128)",
        test_accuracy=round(accuracy, 4), accuracy_source="qsnnsim golden model on the test split",
    )


def _accuracy(wl) -> float:
    hits = sum(int(run_golden_input(wl, wl.sample_input(i)).predicted == wl.labels[i]) for i in range(wl.n_samples))
    return hits / wl.n_samples


def _with_provenance(wl, provenance: dict):
    import dataclasses

    return dataclasses.replace(wl, provenance=provenance)


MAKERS = {"xylo_recurrent.npz": make_xylo, "loihi_conv.npz": make_loihi}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"which files: {', '.join(MAKERS)} (default: all)")
    parser.add_argument("--out-dir", default=HERE)
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in MAKERS]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}: choose from {', '.join(MAKERS)}")
    for name in args.names or list(MAKERS):
        path = os.path.join(args.out_dir, name)
        acc = MAKERS[name](path)
        print(f"{path}: test accuracy {acc:.2%} (golden model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
