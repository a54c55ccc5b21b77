"""Generate the small shipped workloads used by tests and examples (each well under 100 kB).

- ``tiny_mlp.npz``: spike input (64,) rate-coded from 8x8 digits, two 1-bit LIF layers
  with 4-bit membranes, 8-bit readout; T = 4.
- ``tiny_conv.npz``: analog 1x8x8 digits, 1-bit convs, a residual identity shortcut, a
  2x2 sum-pool (average pooling with 1/4 folded into the gain) into a LIF layer, and a
  readout behind a global sum-pool; T = 3.
- ``tiny_dvs.npz``: synthetic DVS-style spike trains (2 polarities x 8x8, a bar moving in
  one of four directions), Loihi-style neurons (soft reset, ``>=`` compare, rounding
  toward zero, leak 0.25), a max-pool expressed as a 2x2 sum-pool into an IF population
  with theta = 0, a 1-bit linear layer and an 8-bit readout; T = 6.

All three are calibrated, not trained (``calibration.py``): weights are random, every
spiking layer fires on its samples, and the predictions are meaningless. Labels are the
true class of each input (the digit, or the bar's direction). Run from the repository
root::

    python workloads/make_small.py                 # all three, into workloads/
    python workloads/make_small.py --out-dir /tmp  # elsewhere (the test does this)
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from calibration import (
    Calibrator,
    Synapse,
    binary_codes,
    int8_codes,
    verify_with_golden,
)

from qsnnsim.workload import save_workload

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_RATE = 0.2
DIGITS = tuple(str(d) for d in range(10))
DIRECTIONS = ("left", "right", "up", "down")


def _digits(n: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` consecutive 8x8 digit images (pixel 0..16, int64) and labels from scikit-learn's bundled set."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images[first : first + n].astype(np.int64), data.target[first : first + n].astype(np.int64)


def _provenance(cal: Calibrator, seed: int, inputs: str, purpose: str) -> dict:
    return {
        "trainer": "none",
        "status": "calibrated, not trained",
        "purpose": purpose,
        "method": "random 1-bit/8-bit weights; per-channel gain and bias calibrated layer by layer to the "
                  "target rate on the shipped samples (workloads/calibration.py)",
        "generator": "workloads/make_small.py",
        "seed": seed,
        "inputs": inputs,
        "target_firing_rate": TARGET_RATE,
        "measured_firing_rate": {name: round(rate, 4) for name, rate in cal.rates.items()},
    }


def make_tiny_mlp(seed: int) -> tuple[Calibrator, dict]:
    """Rate-coded digits (spikes, 64 inputs) -> LIF 32 -> LIF 16 -> readout 10."""
    rng = np.random.default_rng(seed)
    t_steps = 4
    images, labels = _digits(8, 0)
    # Bernoulli rate code: a pixel of intensity v/16 spikes with probability v/32 per step.
    p = images.reshape(8, 1, 64) / 32.0
    samples = (rng.random((8, t_steps, 64)) < p).astype(np.uint8)
    cal = Calibrator("tiny_mlp", t_steps, "spikes", samples, TARGET_RATE, labels=labels, class_names=list(DIGITS))
    lif = {"membrane_bits": 4, "decay_mult": 1, "decay_shift": 1}
    cal.input("input", (64,))
    cal.lif("hidden1", (32,), [Synapse("linear", "input", binary_codes(rng, (32, 64)), name="fc1")], **lif)
    cal.lif("hidden2", (16,), [Synapse("linear", "hidden1", binary_codes(rng, (16, 32)), name="fc2")], **lif)
    cal.readout("readout", (10,), [Synapse("linear", "hidden2", int8_codes(rng, (10, 16)), weight_bits=8,
                                           name="fc3")])
    return cal, _provenance(
        cal, seed, "scikit-learn digits 0..7 (bundled), Bernoulli rate code p = pixel/32 per step",
        "smallest spike-input MLP: linear projections, 4-bit membranes",
    )



def make_tiny_conv(seed: int) -> tuple[Calibrator, dict]:
    """Analog digits 1x8x8 -> conv LIF -> conv + identity LIF -> sum-pool LIF -> readout."""
    rng = np.random.default_rng(seed)
    images, labels = _digits(8, 8)
    # Pixel 0..16 -> 8 * v - 64 in -64..64: a signed int8 image without float scaling.
    samples = (images * 8 - 64).reshape(8, 1, 8, 8).astype(np.int8)
    cal = Calibrator("tiny_conv", 3, "analog", samples, TARGET_RATE, labels=labels, class_names=list(DIGITS))
    cal.input("input", (1, 8, 8))
    cal.lif("conv1", (4, 8, 8), [Synapse("conv2d", "input", binary_codes(rng, (4, 1, 3, 3)), padding=1,
                                         name="conv1")])
    cal.lif("conv2", (4, 8, 8), [
        Synapse("conv2d", "conv1", binary_codes(rng, (4, 4, 3, 3)), padding=1, name="conv2"),
        Synapse("identity", "conv1", np.ones(4, np.int16), weight_bits=1, name="shortcut"),
    ])
    cal.lif("pool", (4, 4, 4), [Synapse("sumpool2d", "conv2", kernel=2, stride=2, name="pool")])
    cal.readout("readout", (10,), [Synapse("linear", "pool", int8_codes(rng, (10, 4)), weight_bits=8,
                                           global_sum_pool=True, name="fc")])
    return cal, _provenance(
        cal, seed, "scikit-learn digits 8..15 (bundled), int8 = 8 * pixel - 64",
        "small conv net: analog input, 1-bit convs, residual identity, sum-pool, global-sum-pool readout",
    )



def dvs_bars(rng: np.random.Generator, direction: int, t_steps: int) -> np.ndarray:
    """uint8 (T, 2, 8, 8) events of a 2-pixel bar crossing an 8x8 sensor, plus 3 % noise.

    Channel 0 (ON) marks pixels the bar enters at step t, channel 1 (OFF) pixels it leaves,
    as a DVS sees a bright edge move; the bar's start and extent are drawn from ``rng``.
    """
    start = int(rng.integers(-2, 1))
    lo = int(rng.integers(0, 3))
    hi = int(rng.integers(6, 9))
    frames = np.zeros((t_steps + 1, 8, 8), bool)
    for t in range(t_steps + 1):
        pos = start + t
        cols = [c for c in (pos, pos + 1) if 0 <= c < 8]
        frame = np.zeros((8, 8), bool)
        frame[lo:hi, cols] = True
        # Directions are the same bar seen mirrored or transposed.
        if direction == 0:
            frame = frame[:, ::-1]
        elif direction == 2:
            frame = frame.T[::-1]
        elif direction == 3:
            frame = frame.T
        frames[t] = frame
    on = frames[1:] & ~frames[:-1]
    off = frames[:-1] & ~frames[1:]
    events = np.stack([on, off], axis=1)
    noise = rng.random(events.shape) < 0.03
    return (events | noise).astype(np.uint8)


def make_tiny_dvs(seed: int) -> tuple[Calibrator, dict]:
    """DVS bars (spikes 2x8x8) -> conv LIF -> max-pool IF -> linear LIF -> readout 4."""
    rng = np.random.default_rng(seed)
    t_steps = 6
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3], np.int64)
    samples = np.stack([dvs_bars(rng, int(d), t_steps) for d in labels])
    cal = Calibrator("tiny_dvs", t_steps, "spikes", samples, TARGET_RATE, labels=labels,
                     class_names=list(DIRECTIONS))
    loihi = {"membrane_bits": 6, "decay_mult": 3, "decay_shift": 2, "rounding": "toward_zero",
             "fire_cmp": "ge", "reset": "soft"}
    cal.input("input", (2, 8, 8))
    cal.lif("conv1", (4, 8, 8), [Synapse("conv2d", "input", binary_codes(rng, (4, 2, 3, 3)), padding=1,
                                         name="conv1")], **loihi)
    # Max pooling of spikes: a 2x2 sum-pool into an IF neuron with theta 0 fires iff any
    # input in the window fired; its membrane never leaves 0, so 2 bits are plenty.
    cal.lif("maxpool", (4, 4, 4), [Synapse("sumpool2d", "conv1", kernel=2, stride=2, mult=1, shift=0,
                                           name="maxpool")],
            membrane_bits=2, decay_mult=1, decay_shift=0, fire_cmp="gt", reset="hard", threshold=0, bias=0)
    cal.lif("fc1", (16,), [Synapse("linear", "maxpool", binary_codes(rng, (16, 64)), name="fc1")], **loihi)
    cal.readout("readout", (4,), [Synapse("linear", "fc1", int8_codes(rng, (4, 16)), weight_bits=8, name="fc2")])
    return cal, _provenance(
        cal, seed, "synthetic DVS-style events: a 2-pixel bar moving left/right/up/down over 8x8, ON/OFF "
                   "polarities, 3% noise events",
        "spike-train input with Loihi-style neurons (soft reset, >= compare, rounding toward zero) and "
        "max-pool-as-IF",
    )



MAKERS = {"tiny_mlp": make_tiny_mlp, "tiny_conv": make_tiny_conv, "tiny_dvs": make_tiny_dvs}


def make_small(out_dir: str, names: list[str] | None = None, seed: int = 0, verbose: bool = True) -> list[str]:
    """Build, save and golden-check the small workloads; returns the paths written."""
    written = []
    for name in names or list(MAKERS):
        cal, provenance = MAKERS[name](seed)
        path = os.path.join(out_dir, f"{name}.npz")
        save_workload(cal.build(provenance), path)
        rates = verify_with_golden(path, cal)
        written.append(path)
        if verbose:
            shown = ", ".join(f"{pop} {rate:.3f}" for pop, rate in rates.items())
            print(f"{path} ({os.path.getsize(path):,} bytes): rates {shown}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default=HERE, help="folder to write into (default: workloads/)")
    parser.add_argument("--only", action="append", choices=sorted(MAKERS), help="make only this one (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="weight and input seed (default 0)")
    args = parser.parse_args(argv)
    make_small(args.out_dir, args.only, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
