"""Bit-exact export: the trainer's integer inference equals the golden model of the workload.

Trained briefly here (so the fold sees a real optimiser's weights and BatchNorm statistics)
and on random awkward networks drawn by hypothesis (negative gammas, random grids, every
family, membranes of 2, 4 and 8 bits, the float baseline's 16-bit integer version).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies.trained import assert_matches_golden, random_qsnns

from qsnnsim.train.config import TrainConfig
from qsnnsim.train.export import build_workload
from qsnnsim.train.fold import fold_network
from qsnnsim.train.inference import run_integer
from qsnnsim.train.trainer import predict_float, provenance, train
from qsnnsim.workload import load_workload, save_workload

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def brief_conv():
    """A conv Q-SNN (4-bit membranes) trained for three epochs on 600 digits (~80% test)."""
    config = TrainConfig(network="conv", width=8, timesteps=3, membrane_bits=4, epochs=3, train_samples=600, lr=1e-2)
    return train(config)


def test_briefly_trained_conv_equals_golden_on_every_test_sample(brief_conv, tmp_path):
    r = brief_conv
    path = tmp_path / "conv.npz"
    save_workload(build_workload(r.net, r.dataset.x_test, r.dataset.y_test, r.dataset.class_names,
                                 provenance(r, str(path))), path)
    wl = load_workload(path)
    assert wl.n_samples == len(r.dataset.y_test) == 450
    correct = assert_matches_golden(r.integer, wl)
    assert correct == r.n_correct_quantized
    assert r.accuracy_quantized > 0.5
    assert any(r.integer.spikes[name].any() for name in r.integer.spikes)


def test_workload_holds_the_integers_the_inference_ran_on(brief_conv):
    r = brief_conv
    wl = build_workload(r.net, r.dataset.x_test[:2])
    for proj in r.net.projections:
        stored = next(p for p in wl.projections if p.name == proj.name)
        assert np.array_equal(stored.mult, proj.mult) and np.array_equal(stored.shift, proj.shift)
        assert stored.acc_bits == proj.acc_bits
        if proj.weights is not None:
            assert np.array_equal(stored.weights, proj.weights)
    weight_bits = {p.name: p.weight_bits for p in wl.projections}
    assert weight_bits == {"conv1": 8, "conv2": 1, "pool1": 1, "conv3": 1, "pool2": 1, "fc_out": 8}


def test_fake_quantized_forward_agrees_with_integer_inference(brief_conv):
    # The training forward floors and rounds exactly where the integers do; only the float
    # representation of mult/2^shift differs, so decisions agree almost everywhere.
    r = brief_conv
    predicted = predict_float(r.model, r.dataset.x_test)
    agreement = float((predicted == r.integer.predicted.numpy()).mean())
    assert agreement >= 0.98, agreement
    assert abs(r.accuracy_float - r.accuracy_quantized) <= 0.02


@pytest.mark.parametrize("arch", ["mlp", "conv", "vgg", "resnet"])
@settings(max_examples=8)
@given(data=st.data())
def test_random_networks_integer_inference_equals_golden(arch, data):
    model, samples = data.draw(random_qsnns(archs=(arch,)))
    net = fold_network(model, f"random_{arch}")
    result = run_integer(net, samples)
    wl = build_workload(net, samples)
    assert_matches_golden(result, wl)


def _spike_calibrated(model, rng, n: int):
    """Random 0/1 frames (n, *input_shape); BatchNorm statistics re-taken on a batch of them."""
    frames = rng.integers(0, 2, (n,) + tuple(model.spec.input_shape))
    batch = rng.integers(0, 2, (16,) + tuple(model.spec.input_shape))
    with torch.no_grad():
        for bn in model.norms.values():
            bn.momentum = 1.0
        model.train()
        model(torch.as_tensor(batch, dtype=torch.float32))
        model.eval()
        for bn in model.norms.values():
            bn.momentum = 0.1
    return frames


@pytest.mark.parametrize("network", ["mlp", "conv", "vgg", "resnet"])
@settings(max_examples=6)
@given(seed=st.integers(0, 2**32 - 1), spikes=st.booleans(), bits=st.sampled_from([2, 4, 8]),
       timesteps=st.integers(1, 3))
def test_binary_first_last_networks_equal_golden(network, seed, spikes, bits, timesteps):
    # Every weight layer 1 bit (the first one reading int8 codes or a spike frame), on random
    # awkward weights, BatchNorms and grids: the export stays bit-exact.
    from strategies.trained import randomize_model

    from qsnnsim.train.model import QSNN
    from qsnnsim.train.networks import build_netspec

    rng = np.random.default_rng(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        c_in = 3 if spikes else 1
        spec = build_netspec(network, (c_in, 8, 8), 4, 8 if network == "mlp" else 2, edge_weights="binary")
        model = QSNN(spec, timesteps, bits, input_scale=1.0 if spikes else 1 / 127,
                     input_kind="spikes" if spikes else "analog")
        randomize_model(model, rng)
        if spikes:
            frames = _spike_calibrated(model, rng, 3)
            samples = np.repeat(frames[:, None], timesteps, axis=1).astype(np.uint8)
        else:
            samples = rng.integers(-128, 128, (3, c_in, 8, 8)).astype(np.int8)
        net = fold_network(model, f"binary_{network}")
    assert {p.weight_bits for p in net.projections if p.kind in ("conv2d", "linear")} == {1}
    first = next(p for p in net.projections if p.source == "input")
    # A spike input never needs the int8 input's 128x headroom in the first accumulator.
    assert first.acc_bits == max(2, int(np.abs(first.weights).reshape(len(first.weights), -1).sum(1).max()
                                        * (1 if spikes else 128)).bit_length() + 1)
    wl = build_workload(net, samples)
    assert wl.input_kind == ("spikes" if spikes else "analog")
    assert_matches_golden(run_integer(net, samples), wl)


def test_spike_input_that_changes_over_time_equals_golden():
    # The integer inference runs a spike input step by step (not once, as a static analog input).
    from strategies.trained import randomize_model

    from qsnnsim.train.model import QSNN
    from qsnnsim.train.networks import build_netspec

    rng = np.random.default_rng(11)
    with torch.random.fork_rng():
        torch.manual_seed(11)
        model = QSNN(build_netspec("conv", (2, 8, 8), 3, 2, edge_weights="binary"), 4, 4, input_kind="spikes")
        randomize_model(model, rng)
        _spike_calibrated(model, rng, 1)
        net = fold_network(model, "moving")
    samples = rng.integers(0, 2, (2, 4, 2, 8, 8)).astype(np.uint8)
    result = run_integer(net, samples)
    assert_matches_golden(result, build_workload(net, samples))
    static = run_integer(net, np.repeat(samples[:, :1], 4, axis=1))
    assert not all(torch.equal(result.spikes[k], static.spikes[k]) for k in result.spikes)


def test_negative_gamma_folds_into_negative_mult():
    with torch.random.fork_rng():
        from strategies.trained import randomize_model

        from qsnnsim.train.model import QSNN
        from qsnnsim.train.networks import build_netspec

        torch.manual_seed(3)
        model = QSNN(build_netspec("mlp", (1, 8, 8), 3, 8), 2, 4, input_scale=1 / 127)
        randomize_model(model, np.random.default_rng(3))
        with torch.no_grad():
            model.norms["fc2"].weight[0] = -1.0
        net = fold_network(model, "neg")
        fc2 = next(p for p in net.projections if p.name == "fc2")
        assert fc2.mult[0] < 0
        samples = np.random.default_rng(4).integers(-128, 128, (3, 1, 8, 8)).astype(np.int8)
        assert_matches_golden(run_integer(net, samples), build_workload(net, samples))
