"""Trainer and exporter (PyTorch side): Q-SNNs trained here become qsnnsim workloads.

The flow inside this subpackage mirrors the simulator's: a dataset (:mod:`.data`) and a
network family (:mod:`.networks`) give a float/quantisation-aware torch model
(:mod:`.model`, built from :mod:`.quant`); :mod:`.trainer` trains it; :mod:`.fold` turns
the trained model into integers (:class:`.intnet.IntNet`); :mod:`.inference` runs those
integers in torch int64 (the trainer's integer inference, DESIGN §2); :mod:`.export`
writes the same integers as a workload through :class:`qsnnsim.workload.WorkloadBuilder`.
:mod:`.cli` is ``qsnnsim train`` / ``python -m qsnnsim.train``.

This is the only place in qsnnsim that imports torch; the core package never imports it.
"""

from qsnnsim.train.config import TrainConfig, TrainError

__all__ = ["TrainConfig", "TrainError"]
