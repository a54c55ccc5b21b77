"""Regenerate the shipped trained digits workloads (and, on request, the WS-DR ablation).

    python workloads/make_digits.py              # the six shipped digits_*.npz, ~5 min on 2 cores
    python workloads/make_digits.py digits_truenorth.npz   # one of them
    python workloads/make_digits.py --ablation   # WS-DR on/off x membrane bits x seeds, a table

Each shipped file is exactly one ``qsnnsim train`` command (listed in :data:`SHIPPED` and in
``workloads/README.md``); the run is deterministic for its seed, so rerunning rewrites the
same integers. The ablation writes its workloads to a temporary folder and prints a
Markdown table of test accuracies (float forward and integer inference).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from qsnnsim.train.cli import main as train_main

HERE = os.path.dirname(os.path.abspath(__file__))
COMMON = ["--dataset", "digits", "--network", "conv", "-T", "4", "--epochs", "40", "--seed", "0"]
TRUENORTH_OPTIONS = ["--width", "12", "--membrane-bits", "8", "--binary-first-last", "--input-encoding", "thermometer",
                     "--input-levels", "8"]
SHIPPED = {
    "digits_conv_m2.npz": ["--membrane-bits", "2"],
    "digits_conv_m4.npz": ["--membrane-bits", "4"],
    "digits_conv_m8.npz": ["--membrane-bits", "8"],
    "digits_conv_m4_nowsdr.npz": ["--membrane-bits", "4", "--no-ws-dr"],
    "digits_conv_float.npz": ["--float"],
    # For archs/truenorth_like.yaml: every weight 1 bit and a spike input (the crossbar's
    # axons take 1-bit events), width 12 so that conv3's 24 x 3 x 3 = 216 synapses per
    # neuron fit the 256 axons of a core (width 16 needs 288). See workloads/README.md.
    "digits_truenorth.npz": TRUENORTH_OPTIONS,
}
ABLATION_BITS = (2, 4, 8)
ABLATION_SEEDS = (0, 1, 2)


def command(name: str) -> list[str]:
    """The ``qsnnsim train`` arguments that produce shipped workload ``name``."""
    return COMMON + SHIPPED[name] + ["-o", f"workloads/{name}"]


def make_shipped(names: list[str]) -> int:
    # Run from the repository root so the recorded command's output path is workloads/<name>.
    os.chdir(os.path.dirname(HERE))
    for name in names:
        print(f"$ qsnnsim train {' '.join(command(name))}", flush=True)
        rc = train_main(command(name))
        if rc:
            return rc
    return 0


def make_ablation() -> int:
    from qsnnsim.workload import load_workload

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for bits in ABLATION_BITS:
            for ws_dr in (True, False):
                accs = []
                for seed in ABLATION_SEEDS:
                    path = os.path.join(tmp, f"m{bits}_{ws_dr}_{seed}.npz")
                    args = [a for a in COMMON if a not in ("--seed", "0")] + [
                        "--seed", str(seed), "--membrane-bits", str(bits), "--ws-dr" if ws_dr else "--no-ws-dr",
                        "-q", "-o", path,
                    ]
                    if train_main(args):
                        return 1
                    prov = load_workload(path).provenance
                    accs.append((prov["accuracy_float"], prov["accuracy_quantized"]))
                cells = " | ".join(f"{100 * q:.2f}" for _, q in accs)
                mean = 100 * sum(q for _, q in accs) / len(accs)
                rows.append(f"| {bits} | {'on' if ws_dr else 'off'} | {cells} | {mean:.2f} |")
    seeds = " | ".join(f"seed {s}" for s in ABLATION_SEEDS)
    print(f"| membrane bits | WS-DR | {seeds} | mean |")
    print("|---|---|" + "---|" * len(ABLATION_SEEDS) + "---|")
    print("\n".join(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", action="store_true", help="run the WS-DR ablation instead")
    parser.add_argument("names", nargs="*", help=f"shipped files to remake: {', '.join(SHIPPED)} (default all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(SHIPPED))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(SHIPPED)}")
    if args.ablation:
        return make_ablation()
    return make_shipped(args.names or list(SHIPPED))


if __name__ == "__main__":
    sys.exit(main())
