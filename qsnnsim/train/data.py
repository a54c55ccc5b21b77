"""Datasets of the trainer: images quantised once to int8, a fixed train/test split.

A :class:`Dataset` holds int8 images (N, C, H, W) exactly as the workload will store them,
so the model trains on the very values the chip sees: the float input of the model is
``code * input_scale``. New datasets register a loader in :data:`LOADERS`.

:func:`thermometer_encode` turns a dataset's int8 images into binary spike frames (a
``spikes`` input, for a chip whose axons take 1-bit events only); the workload stores the
frame repeated at every timestep (:meth:`Dataset.workload_samples`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.25


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset, quantised and split.

    Attributes
    ----------
    name : str
        Registry name.
    x_train, x_test : np.ndarray
        int8 (N, C, H, W) input codes.
    y_train, y_test : np.ndarray
        int64 (N,) class indices.
    class_names : tuple[str, ...]
        One name per class.
    input_scale : float
        Float value of one input code (the model sees ``code * input_scale``).
    split : str
        How the split was made (goes into the workload's provenance).
    input_quantization : str
        How a raw value became an int8 code (provenance).
    input_kind : str
        ``analog`` (int8 codes, the same at every timestep) or ``spikes`` (0/1 frames, the
        same frame at every timestep).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_scale: float
    split: str
    input_quantization: str
    input_kind: str = "analog"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def workload_samples(self, x: np.ndarray, timesteps: int) -> np.ndarray:
        """``x`` (N, C, H, W) as a workload stores it: int8 codes, or uint8 (N, T, C, H, W) frames."""
        if self.input_kind == "analog":
            return np.asarray(x, np.int8)
        return np.repeat(np.asarray(x, np.uint8)[:, None], timesteps, axis=1)


def quantize_digits(pixels: np.ndarray) -> np.ndarray:
    """Digits pixels (integers 0..16) -> int8 codes 0..127, ``round_half_up(p * 127 / 16)``.

    Integer arithmetic, so the codes do not depend on float rounding.
    """
    p = np.asarray(pixels).astype(np.int64)
    return ((p * 127 + 8) // 16).astype(np.int8)


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, shipped with scikit-learn; no download).

    Stratified 75/25 split with a fixed ``random_state``; images become (1, 8, 8) int8.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = quantize_digits(bunch.images)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(labels.size), test_size=DIGITS_TEST_FRACTION, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    return Dataset(
        name="digits",
        x_train=images[idx_train],
        y_train=labels[idx_train],
        x_test=images[idx_test],
        y_test=labels[idx_test],
        class_names=tuple(str(i) for i in range(10)),
        input_scale=1.0 / 127.0,
        split=(
            f"sklearn.model_selection.train_test_split(test_size={DIGITS_TEST_FRACTION}, stratify=y, "
            f"random_state={DIGITS_SPLIT_SEED}): {idx_train.size} train / {idx_test.size} test; samples = test split"
        ),
        input_quantization="code = (pixel * 127 + 8) // 16, pixel in 0..16; model input = code / 127",
    )


def thermometer_thresholds(levels: int) -> np.ndarray:
    """int64 (L,): channel k fires where ``code >= ceil((2k + 1) * 127 / (2 L))``.

    The L thresholds are the midpoints of L equal bins of 0..127, so a code fires the
    channels of every bin whose middle it reaches (a thermometer code).
    """
    k = np.arange(levels, dtype=np.int64)
    return -((-(2 * k + 1) * 127) // (2 * levels))


def thermometer_encode(dataset: Dataset, levels: int) -> Dataset:
    """The dataset with each int8 input channel as ``levels`` binary spike channels.

    Channel ``c * levels + k`` of a frame is 1 where ``code[c] >= thermometer_thresholds(levels)[k]``
    (negative codes never fire). Integer comparisons only, so the frames do not depend on
    float rounding. The model then sees the 0/1 frame itself (``input_scale = 1``).
    """
    thresholds = thermometer_thresholds(levels)

    def encode(x: np.ndarray) -> np.ndarray:
        codes = np.asarray(x, np.int64)
        bits = codes[:, :, None] >= thresholds[None, None, :, None, None]  # (N, C, L, H, W)
        return bits.reshape((codes.shape[0], codes.shape[1] * levels) + codes.shape[2:]).astype(np.int8)

    listed = ", ".join(str(int(t)) for t in thresholds)
    return Dataset(
        name=dataset.name,
        x_train=encode(dataset.x_train),
        y_train=dataset.y_train,
        x_test=encode(dataset.x_test),
        y_test=dataset.y_test,
        class_names=dataset.class_names,
        input_scale=1.0,
        split=dataset.split,
        input_quantization=(
            f"{dataset.input_quantization}; then a {levels}-level thermometer code: spike channel c*{levels}+k "
            f"fires where code[c] >= ({listed})[k], the same frame at every timestep"
        ),
        input_kind="spikes",
    )


LOADERS = {"digits": load_digits}


def load_dataset(name: str) -> Dataset:
    """Load a registered dataset by name (names are checked by :class:`~.config.TrainConfig`)."""
    return LOADERS[name]()
