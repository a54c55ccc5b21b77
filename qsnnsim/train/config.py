"""Training options: the frozen, validated :class:`TrainConfig` and the trainer's input error.

Everything a training run depends on is a field here, so a config plus the code version
reproduces a workload bit for bit. Validation happens once, in :meth:`TrainConfig.validate`,
before torch is imported, and names the command-line option at fault.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from qsnnsim.errors import InputError

DATASETS = ("digits",)
NETWORKS = ("mlp", "conv", "vgg", "resnet")
INPUT_ENCODINGS = ("analog", "thermometer")
MEMBRANE_BITS_RANGE = (2, 16)
TIMESTEPS_RANGE = (1, 64)
WIDTH_RANGE = (1, 1024)
INPUT_LEVELS_RANGE = (1, 16)

# Option spelling of each field, so an error names what the user typed.
OPTION_NAMES = {
    "dataset": "--dataset",
    "network": "--network",
    "timesteps": "--timesteps",
    "membrane_bits": "--membrane-bits",
    "ws_dr": "--ws-dr",
    "spike_lambda": "--lambda",
    "epochs": "--epochs",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "float_mode": "--float",
    "width": "--width",
    "train_samples": "--train-samples",
    "binary_first_last": "--binary-first-last",
    "input_encoding": "--input-encoding",
    "input_levels": "--input-levels",
}


class TrainError(InputError):
    """A training option or trained model that cannot be trained or exported as asked."""


def option_error(field: str, problem: str, fix: str = "") -> TrainError:
    """A :class:`TrainError` for a command-line option (``field`` is the config field name)."""
    return TrainError("qsnnsim train", OPTION_NAMES.get(field, field), problem, fix)


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes
    ----------
    dataset : str
        Dataset name (``digits``: scikit-learn's 8x8 digits).
    network : str
        Network family: ``mlp``, ``conv``, ``vgg`` or ``resnet`` (``--network``; the chip
        is the *arch* of ``qsnnsim run``, so the family is not called that here).
    timesteps : int
        T, timesteps per sample (the analog input is repeated every step).
    membrane_bits : int
        b, width of every hidden membrane (2..16; the paper's 2, 4, 8).
    ws_dr : bool
        Weight-spike dual regulation: weight standardisation of binary layers and the
        spike-entropy loss term. Off gives the ablation baseline.
    spike_lambda : float
        Weight of the spike term, ``lambda * mean_l (rate_l - 0.5)^2``.
    epochs, lr, batch_size, seed : int, float, int, int
        Optimisation (Adam, cosine-annealed learning rate).
    float_mode : bool
        Full-precision SNN baseline: float weights and float membranes in training; the
        export is its post-training integer version (8-bit weights, 16-bit membranes).
    width : int or None
        Channels (or units) of the first layer; ``None`` is the family's default.
    train_samples : int or None
        Train on the first N samples of the (shuffled) training split only; ``None`` = all.
    binary_first_last : bool
        1-bit weights in the first and last weight layers too (every weight 1 bit, for a
        binary-crossbar chip such as ``archs/truenorth_like.yaml``); default 8-bit.
    input_encoding : str
        ``analog``: the int8 image, the same at every timestep (the first projection does
        multi-bit MACs). ``thermometer``: each input channel becomes ``input_levels``
        binary spike channels, channel k firing where ``code >= (2k+1) * 127 / (2 L)``,
        the same frame at every timestep (a ``spikes`` input, 1-bit events only).
    input_levels : int
        L, spike channels per input channel of the thermometer code (1..16).
    """

    dataset: str = "digits"
    network: str = "conv"
    timesteps: int = 4
    membrane_bits: int = 4
    ws_dr: bool = True
    spike_lambda: float = 5e-3
    epochs: int = 40
    lr: float = 2e-3
    batch_size: int = 64
    seed: int = 0
    float_mode: bool = False
    width: int | None = None
    train_samples: int | None = None
    binary_first_last: bool = False
    input_encoding: str = "analog"
    input_levels: int = 4

    def validate(self) -> TrainConfig:
        """Check every field; returns ``self`` or raises :class:`TrainError`."""
        _choice("dataset", self.dataset, DATASETS)
        _choice("network", self.network, NETWORKS)
        _choice("input_encoding", self.input_encoding, INPUT_ENCODINGS)
        _int("input_levels", self.input_levels, *INPUT_LEVELS_RANGE)
        _int("timesteps", self.timesteps, *TIMESTEPS_RANGE)
        _int("membrane_bits", self.membrane_bits, *MEMBRANE_BITS_RANGE)
        _int("epochs", self.epochs, 0, 100_000)
        _int("batch_size", self.batch_size, 1, 1 << 16)
        _int("seed", self.seed, 0, (1 << 63) - 1)
        if self.width is not None:
            _int("width", self.width, *WIDTH_RANGE)
        if self.train_samples is not None:
            _int("train_samples", self.train_samples, 1, 1 << 31)
        _float("lr", self.lr, positive=True)
        _float("spike_lambda", self.spike_lambda, positive=False)
        for name in ("ws_dr", "float_mode", "binary_first_last"):
            if not isinstance(getattr(self, name), bool):
                raise option_error(name, f"must be true or false (got {getattr(self, name)!r})")
        if self.float_mode and self.binary_first_last:
            raise option_error("binary_first_last", "cannot be combined with --float (float weights everywhere)",
                               "drop one of the two")
        return self

    def to_dict(self) -> dict:
        """Plain-JSON view (for provenance)."""
        return asdict(self)


def _choice(field: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise option_error(field, f"must be one of {', '.join(choices)} (got {value!r})")


def _int(field: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise option_error(field, f"must be an integer (got {value!r})")
    if not lo <= value <= hi:
        raise option_error(field, f"must be in {lo}..{hi} (got {value})")


def _float(field: str, value, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise option_error(field, f"must be a finite number (got {value!r})")
    if positive and value <= 0:
        raise option_error(field, f"must be > 0 (got {value})")
    if not positive and value < 0:
        raise option_error(field, f"must be >= 0 (got {value})")
