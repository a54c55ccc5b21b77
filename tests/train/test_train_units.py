"""Unit tests of the trainer's pieces: quantisers, fixed point, accumulator width, data, shapes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qsnnsim.train.config import TrainConfig, TrainError
from qsnnsim.train.data import load_digits, quantize_digits
from qsnnsim.train.inference import floor_shift
from qsnnsim.train.intnet import (
    IntPopulation,
    IntProjection,
    accumulator_bits,
    to_fixed_point,
)
from qsnnsim.train.model import QSNN, spike_rate_loss
from qsnnsim.train.networks import FAMILIES, build_netspec
from qsnnsim.train.quant import (
    WeightQuantizer,
    floor_ste,
    int8_codes,
    power_of_two,
    spike,
)

pytestmark = pytest.mark.torch


def test_binary_quantizer_standardizes_and_maps_zero_to_plus_one():
    q = WeightQuantizer((2, 4), "binary", standardize=False)
    with torch.no_grad():
        q.weight.copy_(torch.tensor([[0.0, -0.3, 0.2, 0.5], [-1.0, -2.0, 0.0, 4.0]]))
    _, codes, scale = q.quantized()
    assert codes.tolist() == [[1, -1, 1, 1], [-1, -1, 1, 1]]
    # mean |w| = 0.25 and 1.75 -> powers of two 0.25 and 2 (log2 1.75 = 0.81 rounds to 1).
    assert scale.tolist() == [0.25, 2.0]
    q.standardize = True
    w = q.latent()
    assert torch.allclose(w.mean(dim=1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(w.std(dim=1, unbiased=False), torch.ones(2), atol=1e-4)
    # Row 0 standardised: mean 0.1, so 0.0 -> negative and its code flips to -1.
    _, codes, scale = q.quantized()
    assert codes[0].tolist() == [-1, -1, 1, 1]
    assert scale.tolist() == [1.0, 1.0]


def test_straight_through_gradient_reaches_latent_weights():
    q = WeightQuantizer((3, 5), "binary")
    effective, codes, scale = q.quantized()
    assert torch.equal(effective.detach(), scale[:, None] * codes)
    effective.sum().backward()
    assert q.weight.grad is not None and q.weight.grad.abs().sum() > 0


def test_int8_codes_are_symmetric_and_clamped():
    w = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0]])
    codes, scale = int8_codes(w)
    assert codes[0].tolist() == [64, -127, 32]  # 0.5 * 127 = 63.5 rounds half to even: 64
    assert codes[1].tolist() == [0, 0, 0] and scale[1] == 1.0
    assert scale[0] == pytest.approx(1 / 127)


def test_floor_ste_and_spike_surrogate():
    x = torch.tensor([-1.5, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    y = floor_ste(x)
    assert y.tolist() == [-2.0, -1.0, 0.0, 0.0, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0] * 5
    h = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    s = spike(h, 1.0)
    assert s.tolist() == [0.0, 0.0, 1.0]  # strict: exactly at the threshold does not fire
    s.sum().backward()
    assert h.grad[1] == pytest.approx(1.0) and 0 < h.grad[0] < 1.0
    assert power_of_two(torch.tensor([0.7, 0.75, 3.0, 0.0])).tolist() == [0.5, 1.0, 4.0, 1.0]


@pytest.mark.parametrize(
    "factor, mult, shift",
    [
        (8.0, 8, 0),  # a grid scale stays exact and readable
        (0.5, 1, 1),
        (-3.0, -3, 0),
        (0.0, 0, 0),
        (1 / 3, 11184811, 25),  # round(2^25 / 3) = 11184810.67 -> 11184811, |mult| < 2^24
        (2**30, None, None),  # needs |mult| >= 2^24 at shift 0
    ],
)
def test_to_fixed_point(factor, mult, shift):
    if mult is None:
        with pytest.raises(TrainError, match="needs \\|mult\\| >= 2\\^24"):
            to_fixed_point(np.array([factor]), "projections.x.mult")
        return
    m, s = to_fixed_point(np.array([factor]), "projections.x.mult")
    assert (int(m[0]), int(s[0])) == (mult, shift)
    assert abs(m[0]) < 2**24 and 0 <= s[0] <= 31


def test_to_fixed_point_rejects_non_finite():
    with pytest.raises(TrainError, match="non-finite"):
        to_fixed_point(np.array([1.0, np.nan]), "projections.fc2.mult")


def test_accumulator_bits_cover_the_worst_case():
    src = IntPopulation("input", "input", (1, 8, 8))
    w = np.full((4, 1, 3, 3), -127, np.int64)
    proj = IntProjection("c", "conv2d", "input", "c", 8, w, np.ones(4, np.int64), np.zeros(4, np.int64), 0)
    # 9 * 127 * 128 = 146304 < 2^18 -> 18 magnitude bits + sign.
    assert accumulator_bits(proj, src, 128) == 19
    spikes = IntPopulation("s", "lif", (16, 2, 2))
    lin = IntProjection("o", "linear", "s", "o", 1, np.ones((3, 16), np.int64), np.ones(3, np.int64),
                        np.zeros(3, np.int64), 0, global_sum_pool=True)
    # 16 channels * 4 positions = 64 -> 7 bits + sign.
    assert accumulator_bits(lin, spikes, 1) == 8


def test_floor_shift_is_an_arithmetic_shift():
    x = torch.tensor([-5, -4, -1, 0, 1, 5], dtype=torch.int64)
    assert floor_shift(x, torch.tensor(1)).tolist() == [-3, -2, -1, 0, 0, 2]


def test_digits_quantization_and_split():
    assert quantize_digits(np.array([0, 1, 8, 15, 16])).tolist() == [0, 8, 64, 119, 127]
    ds = load_digits()
    assert ds.x_train.shape == (1347, 1, 8, 8) and ds.x_test.shape == (450, 1, 8, 8)
    assert ds.x_test.dtype == np.int8 and ds.x_test.min() >= 0 and ds.x_test.max() <= 127
    # Stratified: 25% of each class (174..183 images per class) is 43..46 test samples.
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 46
    again = load_digits()
    assert np.array_equal(ds.x_test, again.x_test) and np.array_equal(ds.y_test, again.y_test)


@pytest.mark.parametrize("arch", sorted(FAMILIES))
def test_every_family_runs_forward_and_backward(arch):
    spec = build_netspec(arch, (1, 8, 8), 10, 4 if arch != "mlp" else 16)
    model = QSNN(spec, 3, 4, input_scale=1 / 127)
    logits, spikes = model(torch.rand(5, 1, 8, 8))
    assert logits.shape == (3, 5, 10)
    assert set(spikes) == set(spec.lif_names)
    loss = logits.sum() + spike_rate_loss(spikes)
    loss.backward()
    assert all(q.weight.grad is not None for q in model.weights.values())


def test_resnet_has_identity_and_1x1_shortcuts_into_the_block_output():
    spec = build_netspec("resnet", (1, 8, 8), 10, 4)
    shortcuts = {p.name: p for p in spec.projections if p.name.endswith("_short")}
    assert shortcuts["b1_short"].kind == "identity" and shortcuts["b1_short"].target == "b1_out"
    assert shortcuts["b2_short"].kind == "conv2d" and shortcuts["b2_short"].kernel == (1, 1)
    assert shortcuts["b2_short"].stride == (2, 2)
    assert [p.name for p in spec.projections_into("b2_out")] == ["b2_conv2", "b2_short"]


def test_config_validation_names_the_option():
    with pytest.raises(TrainError, match="--width: must be in 1..1024"):
        TrainConfig(width=0).validate()
    with pytest.raises(TrainError, match="--ws-dr: must be true or false"):
        TrainConfig(ws_dr="yes").validate()
    with pytest.raises(TrainError, match="--seed: must be an integer"):
        TrainConfig(seed=1.5).validate()
