"""Generate the ImageNet-shape Q-SNN ResNet-18 workload (224x224), calibrated, not trained.

The network has torchvision's ``resnet18`` shapes in the hardware-deployable form of
DESIGN.md §2: an analog int8 3x224x224 image (direct encoding, the same at each of T = 4
steps), an 8-bit stem conv 7x7/2 3->64 (padding 3) into a LIF population, a max-pool
3x3/2 (padding 1), then four stages of two basic blocks at 64/128/256/512 channels
(conv3x3 -> LIF -> conv3x3 -> + shortcut -> LIF) with 1-bit weights, and an 8-bit
readout 512->1000 behind a global sum-pool (torchvision's global average pool without
its 1/49, a positive scale the argmax does not see). The first block of
stages 2-4 uses a stride-2 first conv and a 1x1 stride-2 1-bit conv shortcut
(torchvision's ``downsample``); every other block an identity shortcut. 17 LIF
populations with 8-bit membranes (the stem and two per block), one max-pool IF
population, the readout.

Max pooling of spikes is exact as a ``sumpool2d`` (kernel 3, stride 2, padding 1) into
an IF population (no leak: ``decay_mult=1, decay_shift=0``; threshold 0, ``>`` compare,
hard reset, bias 0, scale 1): its input is the number of spikes in the window, so it
fires iff any input in the window fired, and its membrane never leaves 0 (2 bits). The
zero padding is exact as well: spikes are 0 or 1 and every window holds at least one
real input, so a zero-padded window has the maximum of PyTorch's -inf-padded one. The
workload builder, the golden model, the engine's kernels and the cycle reference all
take sum-pool padding.

Weights are random (the sign of per-channel standardised normal latents, the WS-DR rule
of the seed paper; 8-bit layers per-tensor quantised), and every scale, bias and
threshold comes from ``calibration.py`` on four 224x224 crops of scikit-learn's bundled
sample images (no ImageNet offline), as for ``make_resnet19.py``. The readout has no
bias (its population bias is 0): the stored weights are exactly the conv and linear
weights of torchvision's resnet18 built with ``bias=False`` everywhere.

The file is **generated on demand, not shipped**. It would be small enough (2.4 MB with
its four samples, resnet19.npz is 1.6 MB), but generating it takes about 9 s on one core
(7 s calibration, 2 s golden check of the four samples; 0.6 GB peak memory) and its
arrays are the same for the same seed, so a copy in the repository would save little.
Its largest population (the stem, 802,816 neurons) needs 20 address bits, so
with the 8-bit analog input a packet is at least 34 bits: ``archs/board4.yaml`` (a 2x2 system
of chips, one pass) and ``archs/board2.yaml`` (two chips, three passes) have 40-bit flits;
core16.yaml and large.yaml, with 32-bit flits, refuse it in one line. The tests that run every
shipped workload skip a generated copy left at the default path. Run from the repository
root::

    python workloads/make_resnet18.py                 # workloads/resnet18_imagenet.npz
    python workloads/make_resnet18.py --out /tmp/resnet18_imagenet.npz --seed 1
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
DEFAULT_OUT = os.path.join(HERE, "resnet18_imagenet.npz")

STAGES = ((64, 2), (128, 2), (256, 2), (512, 2))
"""(channels, basic blocks) per stage (torchvision's layer1..layer4); stage k > 1 halves H
and W in its first block."""

IMAGE_PX = 224
STEM_CHANNELS = 64
N_CLASSES = 1000
CROP_ORIGINS = (
    ((120, 100), (180, 400)),  # china.jpg: pagoda, trees over the lake
    ((110, 195), (203, 250)),  # flower.jpg: dahlia, lower bloom and the second flower
)
"""Top-left (row, col) of the 224x224 crops taken from each 427x640 sample image, chosen
by eye to hold texture (no flat sky or blurred background)."""

# As for ResNet-19: 0.2 spikes per neuron per step is in the range reported for directly
# trained SNNs at small T, so the event counts the simulator sees are representative.
DEFAULT_TARGET_RATE = 0.2


def sample_images() -> np.ndarray:
    """Four int8 (3, 224, 224) images: full-resolution crops of china.jpg and flower.jpg.

    Pixels are taken as they are (no resizing) and shifted by -128 per channel
    (uint8 0..255 -> int8 -128..127), so the input needs no float scale.
    """
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    crops = []
    for image, origins in zip(data.images, CROP_ORIGINS):
        for row, col in origins:
            crop = image[row : row + IMAGE_PX, col : col + IMAGE_PX].astype(np.int64)
            crops.append((crop - 128).transpose(2, 0, 1))
    return np.stack(crops).astype(np.int8)


def build(cal: Calibrator, rng: np.random.Generator, membrane_bits: int) -> None:
    """Describe ResNet-18 to the calibrator, drawing weights from ``rng`` in layer order."""
    # The Q-SNN neuron: leak 0.5 (m >> 1), hard reset, strict threshold compare.
    lif = {"membrane_bits": membrane_bits, "decay_mult": 1, "decay_shift": 1, "reset": "hard",
           "fire_cmp": "gt"}
    cal.input("input", (3, IMAGE_PX, IMAGE_PX))
    hw = IMAGE_PX // 2
    stem = Synapse("conv2d", "input", int8_codes(rng, (STEM_CHANNELS, 3, 7, 7)), weight_bits=8, stride=2,
                   padding=3, name="stem.conv")
    cal.lif("stem", (STEM_CHANNELS, hw, hw), [stem], **lif)
    # Max pooling of spikes: a 3x3/2 sum-pool (zero padding 1) into an IF neuron (no leak)
    # with theta 0 fires iff any input in the window fired; its membrane stays 0.
    hw //= 2
    pool = Synapse("sumpool2d", "stem", kernel=3, stride=2, padding=1, mult=1, shift=0, name="maxpool")
    cal.lif("maxpool", (STEM_CHANNELS, hw, hw), [pool], membrane_bits=2, decay_mult=1, decay_shift=0,
            fire_cmp="gt", reset="hard", threshold=0, bias=0)
    prev, c_prev, hw = add_basic_blocks(cal, rng, STAGES, "maxpool", STEM_CHANNELS, hw, lif)
    fc = Synapse("linear", prev, int8_codes(rng, (N_CLASSES, c_prev)), weight_bits=8, global_sum_pool=True,
                 name="readout.fc")
    cal.readout("readout", (N_CLASSES,), [fc])


def make_resnet18(out: str = DEFAULT_OUT, membrane_bits: int = 8, timesteps: int = 4, seed: int = 0,
                  target_rate: float = DEFAULT_TARGET_RATE, verbose: bool = True) -> dict[str, float]:
    """Build, calibrate, save and golden-check the ResNet-18 workload; returns the rates.

    Parameters
    ----------
    out : str
        Path of the ``.npz`` to write.
    membrane_bits : int
        b, the membrane width of every LIF population (2, 4 or 8); the max-pool IF
        population is 2 bits whatever b.
    timesteps : int
        T, timesteps per sample.
    seed : int
        Seed of the numpy Generator the weights are drawn from.
    target_rate : float
        Spikes per neuron per timestep each calibrated population aims for.
    verbose : bool
        Print the per-layer rates and current ranges, and the time taken.

    Returns
    -------
    dict[str, float]
        Firing rate of every spiking population measured by the golden model on the saved file.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    cal = Calibrator("resnet18_imagenet", timesteps, "analog", sample_images(), target_rate)
    build(cal, rng, membrane_bits)
    theta, unit = operating_point(membrane_bits)
    wl = cal.build({
        "trainer": "none",
        "status": "calibrated, not trained",
        "dataset": "none (ImageNet shape, 1000 classes; random weights, predictions are meaningless)",
        "method": (
            "WS-DR random weights (sign of per-output-channel standardised N(0,1) latents; 8-bit stem and "
            "readout per-tensor quantised to [-127, 127]); layer by layer in topological order on the "
            f"calibration images, per-channel gain mult/2^shift (|mult| <= {2 ** (MULT_BITS - 1) - 1}) "
            f"normalising each projection's accumulator to a current of std {unit:g} (identity shortcut: "
            f"{unit:g} per spike), threshold {theta} (Q//4), per-channel integer bias by bisection to the "
            f"target rate (gain steps {list(GAIN_STEPS)} when the bias alone misses it by > {RATE_TOLERANCE}x); "
            "max-pool fixed, not calibrated: 3x3/2 sum-pool (padding 1) into an IF population (no leak, "
            "threshold 0, bias 0, scale 1), exact max-pooling of spikes; "
            "acc_bits per projection = smallest width that can never saturate for any legal input "
            "(int8 image, 0/1 spikes)"
        ),
        "generator": "workloads/make_resnet18.py",
        "topology": "torchvision resnet18 shapes at 224x224: conv7x7/2 3->64 p3, maxpool 3x3/2 p1, "
                    "basic blocks [2, 2, 2, 2] at 64/128/256/512 (1x1/2 conv shortcut where the shape "
                    "changes), global sum-pool, fc 512->1000 without bias",
        "seed": seed,
        "timesteps": timesteps,
        "target_firing_rate": target_rate,
        "measured_firing_rate": {name: round(rate, 4) for name, rate in cal.rates.items()},
        "images": "sklearn sample images china.jpg/flower.jpg, 2 x 224x224 crops each at full resolution "
                  "(uint8 - 128)",
        "membrane_bits": membrane_bits,
    })
    return save_checked(wl, out, cal, t0, theta=theta, membrane_bits=membrane_bits, timesteps=timesteps,
                        seed=seed, target_rate=target_rate, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--membrane-bits", type=int, choices=(2, 4, 8), default=8,
                        help="membrane width b of every LIF population (default 8)")
    parser.add_argument("--timesteps", type=int, default=4, help="timesteps T (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    parser.add_argument("--target-rate", type=float, default=DEFAULT_TARGET_RATE,
                        help="calibrated spikes per neuron per timestep (default 0.2)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output .npz (default workloads/resnet18_imagenet.npz)")
    args = parser.parse_args(argv)
    if not 1 <= args.timesteps <= 64:
        parser.error(f"--timesteps must be in 1..64 (got {args.timesteps})")
    if not 0.0 < args.target_rate < 0.5:
        parser.error(f"--target-rate must be in (0, 0.5) (got {args.target_rate})")
    make_resnet18(args.out, args.membrane_bits, args.timesteps, args.seed, args.target_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
