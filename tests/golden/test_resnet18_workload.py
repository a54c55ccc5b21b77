"""ImageNet-shape ResNet-18 (workloads/make_resnet18.py): counts against PyTorch, topology, determinism.

The workload is generated on demand, not shipped (workloads/README.md says why): the module
fixture writes it once into a temporary folder (about 10 s). The counts are those
``qsnnsim inspect`` prints (:func:`qsnnsim.report.terminal.workload_counts`), checked
against an independent count: the same ResNet-18 built here from ``torch.nn`` layers.

What is compared with PyTorch, precisely:

- *stored weights* (inspect's ``weights:`` line, every conv2d and linear code) against the
  ``weight`` parameters of the ``nn.Conv2d`` (``bias=False``) and ``nn.Linear`` (``bias=False``)
  layers: 11,678,912. The workload stores no fc bias (the readout's bias is 0);
  BatchNorm folds into the per-channel ``mult/shift/bias`` and is not a weight;
- inspect's *float32 parameter count* (weights + BatchNorm gamma/beta + linear biases)
  against every parameter of the same model with ``nn.BatchNorm2d`` after each conv and
  the fc bias: 11,689,512, torchvision's ``resnet18().parameters()`` count (running
  statistics are buffers, not parameters);
- *spiking neurons* against the activation sizes at 224x224 (every conv output but the
  downsample shortcuts', plus the max-pool's): 2,508,800, of which 2,308,096 without the
  max-pool IF population (the "about 2.3 M" of the issue);
- *dense synaptic operations* (inspect's first SOP line: conv synapses per output position,
  linear synapses once) against the MACs of the convs and the fc at 224x224:
  1,813,561,344 + 512,000 = 1,814,073,344 per timestep.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsnnsim.golden import run_golden
from qsnnsim.report.terminal import workload_counts
from qsnnsim.workload import load_workload

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"
GENERATOR = WORKLOADS / "make_resnet18.py"

N_WEIGHTS_1BIT = 11_157_504
N_WEIGHTS_8BIT = 521_408          # stem 9,408 + fc 512,000
N_TORCH_WEIGHTS = 11_678_912      # conv (bias=False) + fc (bias=False) weight parameters
N_TORCHVISION_PARAMS = 11_689_512  # + 9,600 BatchNorm gamma/beta + 1,000 fc bias
N_NEURONS = 2_508_800
N_MAXPOOL_NEURONS = 200_704
CONV_SOPS = 1_813_561_344


def _generate(out: Path) -> Path:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def resnet18_path(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("resnet18") / "resnet18_imagenet.npz")


@pytest.fixture(scope="module")
def wl(resnet18_path):
    return load_workload(resnet18_path)


def _torch_resnet18(nn, batchnorm: bool, fc_bias: bool):
    """ResNet-18 from torch.nn layers in torchvision's module order (conv1, layer1..4, fc).

    Returns (model, convs): ``convs`` lists (name, nn.Conv2d) in the order the workload
    declares its projections (block conv1, conv2, then the downsample shortcut).
    """
    convs = []

    def conv(name, c_in, c_out, k, stride, padding):
        layer = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=False)
        convs.append((name, layer))
        return [layer, nn.BatchNorm2d(c_out)] if batchnorm else [layer]

    class Block(nn.Module):
        def __init__(self, name, c_in, c_out, stride):
            super().__init__()
            self.main = nn.Sequential(*conv(f"{name}.conv1", c_in, c_out, 3, stride, 1), nn.ReLU(),
                                      *conv(f"{name}.conv2", c_out, c_out, 3, 1, 1))
            self.downsample = (nn.Sequential(*conv(f"{name}.shortcut", c_in, c_out, 1, stride, 0))
                               if stride != 1 or c_in != c_out else nn.Identity())
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.main(x) + self.downsample(x))

    layers = [*conv("stem.conv", 3, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1)]
    c_in = 64
    for k, c in enumerate((64, 128, 256, 512), start=1):
        for j in (1, 2):
            stride = 2 if c != c_in else 1
            layers.append(Block(f"s{k}b{j}", c_in, c, stride))
            c_in = c
    fc = nn.Linear(512, 1000, bias=fc_bias)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc]
    return nn.Sequential(*layers), convs + [("readout.fc", fc)]


@pytest.fixture(scope="module")
def nn():
    torch = pytest.importorskip("torch")
    return torch.nn


@pytest.mark.torch
def test_weight_count_equals_pytorch_parameter_count(wl, nn):
    counts = workload_counts(wl)
    assert counts["weights_by_bits"] == {1: N_WEIGHTS_1BIT, 8: N_WEIGHTS_8BIT}
    model, _ = _torch_resnet18(nn, batchnorm=False, fc_bias=False)
    n_torch = sum(p.numel() for p in model.parameters())
    assert n_torch == N_TORCH_WEIGHTS
    assert sum(counts["weights_by_bits"].values()) == n_torch
    # With BatchNorm and the fc bias: torchvision's resnet18 count, which inspect's float32
    # comparison ("weights + BatchNorm gamma/beta + linear biases") reproduces.
    full, _ = _torch_resnet18(nn, batchnorm=True, fc_bias=True)
    assert sum(p.numel() for p in full.parameters()) == N_TORCHVISION_PARAMS == counts["float32_params"]


@pytest.mark.torch
def test_every_weight_shape_is_pytorch_s(wl, nn):
    _, layers = _torch_resnet18(nn, batchnorm=False, fc_bias=False)
    weighted = [p for p in wl.projections if p.kind in ("conv2d", "linear")]
    assert [p.name for p in weighted] == [name for name, _ in layers]
    for proj, (_, layer) in zip(weighted, layers):
        assert proj.weights.shape == tuple(layer.weight.shape), proj.name
        if proj.kind == "conv2d":
            geometry = (layer.kernel_size, layer.stride, layer.padding)
            assert (proj.kernel, proj.stride, proj.padding) == geometry, proj.name


@pytest.mark.torch
def test_neurons_and_conv_operations_equal_pytorch_activations(wl, nn):
    torch = pytest.importorskip("torch")
    model, layers = _torch_resnet18(nn, batchnorm=False, fc_bias=False)
    sizes: dict[str, int] = {}
    macs: dict[str, int] = {}

    def hook(name):
        def record(module, _inputs, output):
            sizes[name] = output[0].numel()
            if isinstance(module, nn.Conv2d):
                macs[name] = module.weight.numel() * output.shape[2] * output.shape[3]
        return record

    for name, layer in layers[:-1]:
        layer.register_forward_hook(hook(name))
    maxpool = next(m for m in model.modules() if isinstance(m, nn.MaxPool2d))
    maxpool.register_forward_hook(hook("maxpool"))
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    # One LIF population per conv output, shortcut convs excepted (they add into lif2).
    torch_neurons = sum(n for name, n in sizes.items() if not name.endswith(".shortcut"))
    counts = workload_counts(wl)
    assert counts["n_spiking_neurons"] == torch_neurons == N_NEURONS
    assert counts["n_lif_populations"] == 18
    assert torch_neurons - sizes["maxpool"] == N_NEURONS - N_MAXPOOL_NEURONS == 2_308_096
    convs = [p for p in wl.projections if p.kind == "conv2d"]
    conv_sops = sum(int(p.weights.size) * wl.population(p.target).plane_size for p in convs)
    assert conv_sops == sum(macs.values()) == CONV_SOPS
    fc_macs = layers[-1][1].weight.numel()
    assert counts["weighted_synaptic_ops_per_step"] == CONV_SOPS + fc_macs == 1_814_073_344


def test_topology(wl):
    assert wl.timesteps == 4 and wl.input_kind == "analog"
    assert wl.samples.shape == (4, 3, 224, 224) and wl.samples.dtype == np.int8
    assert len({row.tobytes() for row in wl.samples}) == 4
    stem = wl.projections[0]
    assert (stem.name, stem.weight_bits, stem.kernel, stem.stride, stem.padding) == \
        ("stem.conv", 8, (7, 7), (2, 2), (3, 3))
    pool = next(p for p in wl.projections if p.name == "maxpool")
    assert (pool.kind, pool.kernel, pool.stride, pool.padding) == ("sumpool2d", (3, 3), (2, 2), (1, 1))
    assert (int(pool.mult.min()), int(pool.mult.max()), int(pool.shift.max())) == (1, 1, 0)
    ifpop = wl.population("maxpool")
    assert ifpop.shape == (64, 56, 56) and (ifpop.decay_mult, ifpop.decay_shift) == (1, 0)
    assert not ifpop.threshold.any() and not ifpop.bias.any() and ifpop.fire_cmp == "gt" and ifpop.reset == "hard"
    lif = [p for p in wl.populations if p.kind == "lif" and p.name != "maxpool"]
    assert len(lif) == 17
    assert all(p.membrane_bits == 8 and (p.decay_mult, p.decay_shift) == (1, 1) for p in lif)
    assert all(p.reset == "hard" and p.fire_cmp == "gt" for p in lif)
    hidden = [p for p in wl.projections if p.kind == "conv2d" and p.name != "stem.conv"]
    assert len(hidden) == 19 and all(p.weight_bits == 1 for p in hidden)
    assert sum(p.kernel == (1, 1) and p.stride == (2, 2) for p in hidden) == 3
    assert [p.kind for p in wl.projections].count("identity") == 5
    fc = wl.projections[-1]
    assert fc.kind == "linear" and fc.global_sum_pool and fc.weight_bits == 8 and fc.weights.shape == (1000, 512)
    out = wl.readout_population
    assert out.shape == (1000,) and not out.bias.any()
    prov = wl.provenance
    assert prov["trainer"] == "none" and prov["status"] == "calibrated, not trained"
    assert prov["timesteps"] == 4 and prov["seed"] == 0 and "china.jpg" in prov["images"]
    for name, rate in prov["measured_firing_rate"].items():
        if name != "maxpool":
            assert 0.2 / 1.5 <= rate <= 0.2 * 1.5, f"{name}: rate {rate}"


@pytest.mark.torch
def test_sum_pool_into_if_is_max_pooling_of_spikes(wl):
    # Golden's max-pool spikes equal PyTorch's max_pool2d (3x3/2, padding 1) of golden's stem spikes.
    torch = pytest.importorskip("torch")
    res = run_golden(wl, 0)
    assert all(int(s.sum()) == 0 for s in res.saturations.values())
    stem = torch.from_numpy(res.spikes["stem"].astype(np.float32))
    pooled = torch.nn.functional.max_pool2d(stem, 3, stride=2, padding=1).numpy().astype(bool)
    assert np.array_equal(res.spikes["maxpool"], pooled)
    assert res.spikes["maxpool"].any() and not res.spikes["maxpool"].all()


@pytest.mark.slow
def test_generator_is_deterministic(resnet18_path, tmp_path):
    # Same seed, same bytes: every entry first (to name the one that differs), then the file.
    again = _generate(tmp_path / "again.npz")
    with np.load(resnet18_path, allow_pickle=False) as x, np.load(again, allow_pickle=False) as y:
        assert sorted(x.files) == sorted(y.files)
        for key in x.files:
            assert x[key].dtype == y[key].dtype and x[key].shape == y[key].shape, key
            assert x[key].tobytes() == y[key].tobytes(), f"entry {key} differs"
    assert resnet18_path.read_bytes() == again.read_bytes()
