"""``qsnnsim train`` / ``python -m qsnnsim.train``: train a Q-SNN and write it as a workload.

Options are parsed and validated before torch is imported, so a bad option costs nothing.
Any :class:`~qsnnsim.errors.InputError` (a bad option, a model that cannot be exported)
becomes one line on stderr, ``qsnnsim: error: ...``, and exit status 2; nothing is written.
Progress goes to stderr (a bar on a terminal, one line per epoch otherwise); the summary
goes to stdout. ``--network`` names the network family; its old spelling ``--arch`` (which
clashed with the chip file of ``qsnnsim run``) is still accepted with a one-line warning.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from qsnnsim.errors import InputError
from qsnnsim.train.config import DATASETS, INPUT_ENCODINGS, NETWORKS, TrainConfig, TrainError, option_error

BAR_WIDTH = 24


class _Parser(argparse.ArgumentParser):
    """argparse that raises a one-line TrainError instead of printing usage and exiting."""

    def error(self, message: str):
        if "unrecognized arguments:" in message:
            from qsnnsim._spec import nearest

            known = [s for a in self._actions for s in a.option_strings]
            for word in message.split("unrecognized arguments:", 1)[1].split():
                near = nearest(word.split("=", 1)[0], known) if word.startswith("-") else None
                if near:
                    raise TrainError("qsnnsim train", word, "is not an option", f"did you mean {near}?")
        option, _, problem = message.partition(": ")
        if option.startswith("argument "):
            option = option[len("argument ") :].split("/")[-1]
            raise TrainError("qsnnsim train", option, problem, "see qsnnsim train --help")
        raise TrainError("qsnnsim train", "", message, "see qsnnsim train --help")


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    p = _Parser(
        prog="qsnnsim train",
        allow_abbrev=False,
        description=(
            "Train a quantized spiking neural network (1-bit hidden weights, 8-bit or 1-bit first/last layers, "
            "b-bit membranes; Q-SNN with WS-DR) and export it as a qsnnsim workload (.npz) whose samples "
            "are the test split."
        ),
    )
    p.add_argument("-o", "--output", required=True, help="workload file to write (.npz)")
    p.add_argument("--dataset", default=defaults.dataset, help=f"dataset: {', '.join(DATASETS)} (default %(default)s)")
    p.add_argument("--network", default=None,
                   help=f"network family: {', '.join(NETWORKS)} (default {defaults.network})")
    # Deprecated spelling: "arch" is the chip (the .yaml of qsnnsim run), not the network.
    p.add_argument("--arch", dest="arch_deprecated", metavar="NETWORK", default=None,
                   help="deprecated spelling of --network")
    p.add_argument("-T", "--timesteps", type=int, default=defaults.timesteps, help="timesteps T (default %(default)s)")
    p.add_argument("--membrane-bits", type=int, default=defaults.membrane_bits,
                   help="hidden membrane width b, 2..16 (default %(default)s)")
    p.add_argument("--ws-dr", action=argparse.BooleanOptionalAction, default=defaults.ws_dr,
                   help="weight-spike dual regulation: weight standardisation + spike-rate loss (default on)")
    p.add_argument("--lambda", dest="spike_lambda", type=float, default=defaults.spike_lambda,
                   help="weight of the spike-rate term (default %(default)s)")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs (default %(default)s)")
    p.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate, cosine-annealed (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="batch size (default %(default)s)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default %(default)s)")
    p.add_argument("--float", dest="float_mode", action="store_true",
                   help="full-precision SNN baseline (float weights and membranes); exported as its 8-bit/16-bit "
                        "post-training integer version")
    p.add_argument("--width", type=int, default=None, help="channels/units of the first layer (default: per family)")
    p.add_argument("--train-samples", type=int, default=None, help="train on this many training samples only")
    p.add_argument("--binary-first-last", action="store_true",
                   help="1-bit weights in the first and last layers too (every weight 1 bit, e.g. for "
                        "archs/truenorth_like.yaml); default 8-bit")
    p.add_argument("--input-encoding", default=defaults.input_encoding,
                   help=f"input: {', '.join(INPUT_ENCODINGS)}; analog = int8 image at every timestep, "
                        "thermometer = binary spike channels (default %(default)s)")
    p.add_argument("--input-levels", type=int, default=defaults.input_levels,
                   help="spike channels per input channel of the thermometer code (default %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return p


def check_output(path: str) -> str:
    """Refuse an output path that cannot become a workload file, before any training."""
    if os.path.isdir(path):
        raise option_error("--output", f"{path!r} is a directory", "name a file inside it")
    if not path.endswith(".npz"):
        raise option_error("--output", f"must name a .npz file (got {path!r})", "e.g. -o workloads/digits_conv_m4.npz")
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        raise option_error("--output", f"cannot write under {existing!r}", "choose a writable folder")
    return path


class ProgressBar:
    """Training progress on stderr: a redrawn bar on a terminal, one line per epoch otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def __call__(self, epoch: int, n_epochs: int, step: int, n_steps: int, loss: float, accuracy: float) -> None:
        done = (epoch * n_steps + step + 1) / max(1, n_epochs * n_steps)
        filled = round(done * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        elapsed_s = time.perf_counter() - self.start
        text = (f"epoch {epoch + 1}/{n_epochs} [{bar}] {100 * done:5.1f}% "
                f"loss {loss:.4f} train acc {100 * accuracy:5.1f}% {elapsed_s:5.0f}s")
        if self.is_tty:
            end = "\n" if step + 1 == n_steps and epoch + 1 == n_epochs else ""
            self.stream.write("\r" + text + end)
            self.stream.flush()
        elif step + 1 == n_steps:
            self.stream.write(text + "\n")
            self.stream.flush()


def _network_from_args(args) -> str:
    """``--network``, or the deprecated ``--arch`` with a one-line warning on stderr."""
    if args.arch_deprecated is None:
        return args.network or TrainConfig.network
    if args.network is not None and args.network != args.arch_deprecated:
        raise option_error("network", f"given as {args.network!r} and as --arch {args.arch_deprecated!r}",
                           "give --network only")
    print("qsnnsim train: warning: --arch is deprecated (the arch is the chip); use --network",
          file=sys.stderr)
    return args.arch_deprecated


def _config_from_args(args) -> TrainConfig:
    return TrainConfig(
        dataset=args.dataset, network=_network_from_args(args), timesteps=args.timesteps,
        membrane_bits=args.membrane_bits,
        ws_dr=args.ws_dr, spike_lambda=args.spike_lambda, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, seed=args.seed, float_mode=args.float_mode, width=args.width,
        train_samples=args.train_samples, binary_first_last=args.binary_first_last,
        input_encoding=args.input_encoding, input_levels=args.input_levels,
    ).validate()


def _summary(result, output: str) -> str:
    c = result.config
    weights = "1-bit weights throughout" if c.binary_first_last else "1-bit weights"
    kind = "float SNN baseline" if c.float_mode else f"Q-SNN, {weights}, {c.membrane_bits}-bit membranes"
    if c.input_encoding == "thermometer":
        kind += f", {c.input_levels}-level thermometer spike input"
    integer = "integer (8-bit weights, 16-bit membranes)" if c.float_mode else "integer"
    return (
        f"wrote {output}: {c.dataset} {c.network} {kind}, T={c.timesteps}, WS-DR {'on' if c.ws_dr else 'off'}, "
        f"{c.epochs} epochs in {result.seconds:.0f} s\n"
        f"test accuracy: float {100 * result.accuracy_float:.2f}%, {integer} {100 * result.accuracy_quantized:.2f}% "
        f"({result.n_correct_quantized}/{len(result.dataset.y_test)})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``qsnnsim train`` with ``argv`` (without the program name); returns the exit status."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        config = _config_from_args(args)
        output = check_output(args.output)
        try:
            from qsnnsim.train.trainer import run_training
        except ImportError as exc:
            raise TrainError("qsnnsim train", "", f"needs PyTorch and scikit-learn ({exc})",
                             "pip install 'qsnnsim[train]'") from None
        result, _ = run_training(config, output, None if args.quiet else ProgressBar())
        print(_summary(result, output))
        return 0
    except InputError as exc:
        print(f"qsnnsim: error: {exc.line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qsnnsim: interrupted", file=sys.stderr)
        return 130
