"""Generate the shipped Q-SNN ResNet-19 workload (CIFAR-10 shape), calibrated, not trained.

The network follows the Q-SNN ResNet-19 of Wei et al. (ACM MM 2024) in its
hardware-deployable form (DESIGN.md §2): an analog int8 3x32x32 image, an 8-bit stem conv
3->128, then basic blocks (3 at 128 ch 32x32, 3 at 256 ch 16x16, 2 at 512 ch 8x8; conv3x3
-> LIF -> conv3x3 -> + shortcut -> LIF) with 1-bit weights, and an 8-bit readout behind a
global sum-pool. A block changing shape uses a stride-2 first conv and a 1x1 stride-2
1-bit conv shortcut; the others an identity shortcut. 17 LIF populations in all.

Weights are random (the sign of per-channel standardised normal latents, the WS-DR rule
of the seed paper; 8-bit layers per-tensor quantised), and every scale, bias and
threshold comes from ``calibration.py`` on eight 32x32 crops of scikit-learn's bundled
sample images. Run from the repository root::

    python workloads/make_resnet19.py                      # workloads/resnet19.npz
    python workloads/make_resnet19.py --membrane-bits 4    # workloads/resnet19_m4.npz
    python workloads/make_resnet19.py --all-membrane-bits  # resnet19.npz, _m4, _m2
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from calibration import (
    GAIN_STEPS,
    MULT_BITS,
    RATE_TOLERANCE,
    Calibrator,
    Synapse,
    add_basic_blocks,
    int8_codes,
    operating_point,
    save_checked,
)

HERE = os.path.dirname(os.path.abspath(__file__))

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

STAGES = ((128, 3), (256, 3), (512, 2))
"""(channels, basic blocks) per stage; stage k > 1 halves H and W in its first block."""

STEM_CHANNELS = 128
CROP_PX = 128
CROP_ORIGINS = (
    ((40, 120), (190, 100), (280, 350), (150, 480)),  # china.jpg: pagoda roof, pagoda, lake, trees
    ((80, 240), (200, 330), (290, 300), (150, 400)),  # flower.jpg: dahlia, petals, lower bloom, leaves
)
"""Top-left (row, col) of the 128x128 crops taken from each 427x640 sample image, chosen
by eye to hold texture (no flat sky or blurred background)."""

# A rate of 0.2 spikes per neuron per step sits in the range reported for directly trained
# CIFAR-10 SNNs at T = 2 (roughly 0.1-0.25 averaged over layers), so the event counts the
# simulator sees are representative of a trained net.
DEFAULT_TARGET_RATE = 0.2


def sample_images() -> np.ndarray:
    """Eight int8 (3, 32, 32) images: 128x128 crops of china.jpg and flower.jpg, 4x4 block means.

    Pixels are averaged over 4x4 blocks with integer round-half-up, then shifted by -128
    per channel (uint8 0..255 -> int8 -128..127), so the input needs no float scale.
    """
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    crops = []
    for image, origins in zip(data.images, CROP_ORIGINS):
        for row, col in origins:
            crop = image[row : row + CROP_PX, col : col + CROP_PX].astype(np.int64)
            f = CROP_PX // 32
            block_sum = crop.reshape(32, f, 32, f, 3).sum(axis=(1, 3))
            mean = (block_sum + f * f // 2) // (f * f)
            crops.append((mean - 128).transpose(2, 0, 1))
    return np.stack(crops).astype(np.int8)


def build(cal: Calibrator, rng: np.random.Generator, membrane_bits: int) -> None:
    """Describe ResNet-19 to the calibrator, drawing weights from ``rng`` in layer order."""
    # The Q-SNN neuron: leak 0.5 (m >> 1), hard reset, strict threshold compare.
    lif = {"membrane_bits": membrane_bits, "decay_mult": 1, "decay_shift": 1, "reset": "hard",
           "fire_cmp": "gt"}
    cal.input("input", (3, 32, 32))
    stem = Synapse("conv2d", "input", int8_codes(rng, (STEM_CHANNELS, 3, 3, 3)), weight_bits=8, padding=1,
                   name="stem.conv")
    cal.lif("stem", (STEM_CHANNELS, 32, 32), [stem], **lif)
    prev, c_prev, hw = add_basic_blocks(cal, rng, STAGES, "stem", STEM_CHANNELS, 32, lif)
    fc = Synapse("linear", prev, int8_codes(rng, (len(CIFAR10_CLASSES), c_prev)), weight_bits=8,
                 global_sum_pool=True, name="readout.fc")
    cal.readout("readout", (len(CIFAR10_CLASSES),), [fc])


def make_resnet19(out: str, membrane_bits: int = 8, timesteps: int = 2, seed: int = 0,
                  target_rate: float = DEFAULT_TARGET_RATE, verbose: bool = True) -> dict[str, float]:
    """Build, calibrate, save and golden-check one ResNet-19 workload; returns the rates.

    Parameters
    ----------
    out : str
        Path of the ``.npz`` to write.
    membrane_bits : int
        b, the membrane width of every LIF population (2, 4 or 8).
    timesteps : int
        T, timesteps per sample.
    seed : int
        Seed of the numpy Generator the weights are drawn from.
    target_rate : float
        Spikes per neuron per timestep each population is calibrated to.
    verbose : bool
        Print the per-layer rates and current ranges.

    Returns
    -------
    dict[str, float]
        Firing rate of every LIF population measured by the golden model on the saved file.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    cal = Calibrator("resnet19", timesteps, "analog", sample_images(), target_rate,
                     class_names=list(CIFAR10_CLASSES))
    build(cal, rng, membrane_bits)
    theta, unit = operating_point(membrane_bits)
    wl = cal.build({
        "trainer": "none",
        "status": "calibrated, not trained",
        "dataset": "none (CIFAR-10 shape; random weights, predictions are meaningless)",
        "method": (
            "WS-DR random weights (sign of per-output-channel standardised N(0,1) latents; 8-bit stem and "
            "readout per-tensor quantised to [-127, 127]); layer by layer in topological order on the "
            f"calibration images, per-channel gain mult/2^shift (|mult| <= {2 ** (MULT_BITS - 1) - 1}) "
            f"normalising each projection's accumulator to a current of std {unit:g} (identity shortcut: "
            f"{unit:g} per spike), threshold {theta} (Q//4), per-channel integer bias by bisection to the "
            f"target rate (gain steps {list(GAIN_STEPS)} when the bias alone misses it by > {RATE_TOLERANCE}x); "
            "acc_bits per projection = smallest width that can never saturate for any legal input (int8 image, 0/1 spikes)"
        ),
        "generator": "workloads/make_resnet19.py",
        "seed": seed,
        "timesteps": timesteps,
        "target_firing_rate": target_rate,
        "measured_firing_rate": {name: round(rate, 4) for name, rate in cal.rates.items()},
        "images": "sklearn sample images china.jpg/flower.jpg, 32x32 crops "
                  "(4 x 128x128 each, 4x4 block means, uint8 - 128)",
        "membrane_bits": membrane_bits,
    })
    return save_checked(wl, out, cal, t0, theta=theta, membrane_bits=membrane_bits, timesteps=timesteps,
                        seed=seed, target_rate=target_rate, verbose=verbose)


def default_out(membrane_bits: int) -> str:
    """workloads/resnet19.npz for 8-bit membranes, workloads/resnet19_m{b}.npz otherwise."""
    suffix = "" if membrane_bits == 8 else f"_m{membrane_bits}"
    return os.path.join(HERE, f"resnet19{suffix}.npz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--membrane-bits", type=int, choices=(2, 4, 8), default=8,
                        help="membrane width b of every LIF population (default 8)")
    parser.add_argument("--all-membrane-bits", action="store_true",
                        help="write resnet19.npz, resnet19_m4.npz and resnet19_m2.npz (ignores --out)")
    parser.add_argument("--timesteps", type=int, default=2, help="timesteps T (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    parser.add_argument("--target-rate", type=float, default=DEFAULT_TARGET_RATE,
                        help="calibrated spikes per neuron per timestep (default 0.2)")
    parser.add_argument("--out", default=None,
                        help="output .npz (default workloads/resnet19.npz, or resnet19_m{b}.npz for b < 8)")
    args = parser.parse_args(argv)
    if not 1 <= args.timesteps <= 64:
        parser.error(f"--timesteps must be in 1..64 (got {args.timesteps})")
    if not 0.0 < args.target_rate < 0.5:
        parser.error(f"--target-rate must be in (0, 0.5) (got {args.target_rate})")
    if args.all_membrane_bits:
        jobs = [(b, default_out(b)) for b in (8, 4, 2)]
    else:
        jobs = [(args.membrane_bits, args.out or default_out(args.membrane_bits))]
    for bits, out in jobs:
        make_resnet19(out, bits, args.timesteps, args.seed, args.target_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
