"""Training runs: config -> trained model -> folded integers -> integer accuracy -> workload.

Deterministic for a config: the seed drives ``torch.manual_seed`` and a private shuffling
generator, torch runs single-threaded with deterministic algorithms while training, and
the data split is fixed by the dataset. Optimiser: Adam with a cosine-annealed learning
rate, no weight decay (binary layers' latent weights are standardised anyway).

Loss (Wei et al. 2024, WS-DR): per-timestep cross-entropy averaged over T, plus
``lambda * mean_l (rate_l - 0.5)^2`` over hidden layers when WS-DR is on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from qsnnsim.train.config import OPTION_NAMES, TrainConfig
from qsnnsim.train.data import Dataset, load_dataset, thermometer_encode
from qsnnsim.train.export import export_workload
from qsnnsim.train.fold import FLOAT_EXPORT_MEMBRANE_BITS, fold_network
from qsnnsim.train.inference import IntegerResult, run_integer
from qsnnsim.train.intnet import IntNet
from qsnnsim.train.model import QSNN, spike_rate_loss, task_loss
from qsnnsim.train.networks import DEFAULT_WIDTHS, build_netspec
from qsnnsim.workload import Workload

TRAINER_NAME = "qsnnsim.train"
EVAL_BATCH = 512

# on_step(epoch, n_epochs, step, n_steps, loss, running_accuracy)
StepCallback = Callable[[int, int, int, int, float, float], None]


@dataclass(eq=False)
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    config : TrainConfig
    dataset : Dataset
    model : QSNN
        Trained model, in eval mode.
    net : IntNet
        Its folded integers.
    integer : IntegerResult
        The trainer's integer inference on the test split.
    accuracy_float : float
        Test accuracy of the model's own (float or fake-quantised) forward pass.
    accuracy_quantized : float
        Test accuracy of the integer inference.
    history : list[dict]
        Per epoch: mean loss, training accuracy, mean hidden firing rate.
    seconds : float
        Wall time of training.
    """

    config: TrainConfig
    dataset: Dataset
    model: QSNN
    net: IntNet
    integer: IntegerResult
    accuracy_float: float
    accuracy_quantized: float
    history: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def n_correct_quantized(self) -> int:
        return int((self.integer.predicted.numpy() == self.dataset.y_test).sum())


@contextlib.contextmanager
def deterministic_torch(seed: int):
    """Seed torch, one thread, deterministic algorithms; restores the previous settings."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)


def build_model(config: TrainConfig, dataset: Dataset) -> QSNN:
    """The untrained model a config describes (weights drawn from torch's current seed)."""
    edge = "binary" if config.binary_first_last else "int8"
    spec = build_netspec(config.network, dataset.input_shape, dataset.n_classes, config.width, edge)
    return QSNN(spec, config.timesteps, config.membrane_bits, float_mode=config.float_mode, ws_dr=config.ws_dr,
                input_scale=dataset.input_scale, input_kind=dataset.input_kind)


def prepare_dataset(config: TrainConfig, dataset: Dataset | None = None) -> Dataset:
    """The dataset a config trains on: loaded (unless given) and input-encoded as asked."""
    dataset = dataset if dataset is not None else load_dataset(config.dataset)
    if config.input_encoding == "thermometer" and dataset.input_kind == "analog":
        dataset = thermometer_encode(dataset, config.input_levels)
    return dataset


def model_inputs(codes: np.ndarray, scale: float) -> torch.Tensor:
    """int8 codes -> the float tensor the model sees (code * scale)."""
    return torch.tensor(np.asarray(codes), dtype=torch.float32) * scale


def predict_float(model: QSNN, codes: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Eval-mode predictions of the model's own forward pass (argmax of logits summed over T)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(codes), batch_size):
            logits, _ = model(model_inputs(codes[start : start + batch_size], model.input_scale))
            out.append(torch.argmax(logits.sum(dim=0), dim=1))
    return torch.cat(out).numpy()


def train_model(config: TrainConfig, dataset: Dataset, on_step: StepCallback | None = None) -> tuple[QSNN, list]:
    """Train a model for ``config.epochs`` epochs; returns (model in eval mode, history)."""
    model = build_model(config, dataset)
    x_codes, y = dataset.x_train, dataset.y_train
    gen = torch.Generator().manual_seed(config.seed)
    if config.train_samples is not None:
        keep = torch.randperm(len(y), generator=gen)[: config.train_samples].numpy()
        x_codes, y = x_codes[np.sort(keep)], y[np.sort(keep)]
    x_all = model_inputs(x_codes, dataset.input_scale)
    y_all = torch.as_tensor(y)
    n = len(y)
    n_steps = max(1, -(-n // config.batch_size))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs * n_steps))
    use_spike_loss = config.ws_dr and config.spike_lambda > 0
    history = []
    for epoch in range(config.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total_loss, correct, seen, rate_sum = 0.0, 0, 0, 0.0
        for step in range(n_steps):
            idx = perm[step * config.batch_size : (step + 1) * config.batch_size]
            logits, spikes = model(x_all[idx])
            loss = task_loss(logits, y_all[idx])
            if use_spike_loss:
                loss = loss + config.spike_lambda * spike_rate_loss(spikes)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.detach().sum(dim=0).argmax(dim=1) == y_all[idx]).sum())
            seen += len(idx)
            rate_sum += float(np.mean([float(s.detach().mean()) for s in spikes.values()])) * len(idx)
            if on_step is not None:
                on_step(epoch, config.epochs, step, n_steps, total_loss / seen, correct / seen)
        history.append({"epoch": epoch + 1, "loss": total_loss / seen, "train_accuracy": correct / seen,
                        "firing_rate": rate_sum / seen})
    if config.epochs > 0:
        calibrate_batchnorm(model, x_all, config.batch_size)
    model.eval()
    return model, history


def calibrate_batchnorm(model: QSNN, x_all: torch.Tensor, batch_size: int) -> None:
    """Recompute every BatchNorm's running statistics over the whole training set.

    The momentum averages trail the weights (after a short run they still remember the
    initial statistics); the folded network should see statistics of the final weights.
    Batch statistics are averaged over training batches, as torch's ``update_bn`` does.
    """
    momenta = {}
    for name, bn in model.norms.items():
        momenta[name] = bn.momentum
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, x_all.shape[0], batch_size):
            model(x_all[start : start + batch_size])
    for name, bn in model.norms.items():
        bn.momentum = momenta[name]
    model.eval()


def workload_name(config: TrainConfig) -> str:
    """``digits_conv_m4`` / ``digits_conv_float`` / ``digits_conv_m4_b1_thermo4``: a run's workload name."""
    tail = "float" if config.float_mode else f"m{config.membrane_bits}"
    if config.binary_first_last:
        tail += "_b1"
    if config.input_encoding == "thermometer":
        tail += f"_thermo{config.input_levels}"
    return f"{config.dataset}_{config.network}_{tail}"


def train(config: TrainConfig, on_step: StepCallback | None = None, dataset: Dataset | None = None) -> TrainResult:
    """Train, fold and run the integer inference on the test split (no file written).

    ``dataset``, if given, is the raw dataset; the config's input encoding is applied to it.
    """
    config.validate()
    dataset = prepare_dataset(config, dataset)
    start = time.perf_counter()
    with deterministic_torch(config.seed):
        model, history = train_model(config, dataset, on_step)
        seconds = time.perf_counter() - start
        accuracy_float = float((predict_float(model, dataset.x_test) == dataset.y_test).mean())
        net = fold_network(model, workload_name(config))
        integer = run_integer(net, dataset.workload_samples(dataset.x_test, config.timesteps))
    accuracy_quantized = float((integer.predicted.numpy() == dataset.y_test).mean())
    return TrainResult(config, dataset, model, net, integer, accuracy_float, accuracy_quantized, history, seconds)


def reproduce_command(config: TrainConfig, output: str) -> str:
    """The ``qsnnsim train`` command line that reproduces a run."""
    parts = ["qsnnsim", "train"]
    for name, value in config.to_dict().items():
        if value is None or (name == "input_levels" and config.input_encoding != "thermometer"):
            continue
        option = OPTION_NAMES[name]
        if name == "ws_dr":
            parts.append("--ws-dr" if value else "--no-ws-dr")
        elif name in ("float_mode", "binary_first_last"):
            if value:
                parts.append(option)
        else:
            parts += [option, str(value)]
    return " ".join(parts + ["-o", output])


def provenance(result: TrainResult, output: str) -> dict:
    """The workload's provenance entry for a finished run (plain JSON types)."""
    c, ds = result.config, result.dataset
    prov = {
        "trainer": f"{TRAINER_NAME} (torch {torch.__version__})",
        "method": "Q-SNN (Wei et al., ACM MM 2024) with WS-DR; static per-layer membrane grid; BatchNorm folded",
        "dataset": ds.name,
        "split": ds.split,
        "input_quantization": ds.input_quantization,
        "network": c.network,
        "width": c.width or DEFAULT_WIDTHS[c.network],
        "T": c.timesteps,
        "membrane_bits": 32 if c.float_mode else c.membrane_bits,
        "weight_bits": 32 if c.float_mode else 1,
        "first_last_weight_bits": 32 if c.float_mode else (1 if c.binary_first_last else 8),
        "input_encoding": (c.input_encoding if c.input_encoding == "analog"
                           else f"{c.input_encoding}, {c.input_levels} levels"),
        "ws_dr": c.ws_dr,
        "lambda": c.spike_lambda if c.ws_dr else 0.0,
        "epochs": c.epochs,
        "lr": c.lr,
        "batch_size": c.batch_size,
        "seed": c.seed,
        "train_samples": c.train_samples or len(ds.y_train),
        "float_baseline": c.float_mode,
        "accuracy_float": result.accuracy_float,
        "accuracy_quantized": result.accuracy_quantized,
        "n_correct_quantized": result.n_correct_quantized,
        "n_test": len(ds.y_test),
        "train_seconds": round(result.seconds, 1),
        "command": reproduce_command(c, output),
    }
    if c.float_mode:
        prov["integer_version"] = (
            f"post-training: every weight layer symmetric per-channel int8, {FLOAT_EXPORT_MEMBRANE_BITS}-bit "
            "membranes on a grid of V_th/4096; accuracy_quantized is this integer version's"
        )
    else:
        prov["membrane_grid"] = "static per layer: threshold theta = 2^(b-1) - 1, grid step V_th / 2^(b-1)"
    return prov


def run_training(config: TrainConfig, output: str, on_step: StepCallback | None = None) -> tuple[TrainResult, Workload]:
    """Train, fold, check and write the workload to ``output``; returns (result, workload)."""
    result = train(config, on_step)
    ds = result.dataset
    samples = ds.workload_samples(ds.x_test, config.timesteps)
    wl = export_workload(output, result.net, samples, ds.y_test, ds.class_names, provenance(result, output))
    return result, wl
