"""Hypothesis strategies for random trainer models (torch): untrained Q-SNNs made awkward.

A drawn model has random latent weights (some exactly zero, so ``sign(0) = +1`` matters),
BatchNorm statistics calibrated on random inputs and then perturbed, gammas of both
signs (negative ``mult`` after folding), a random integer threshold per hidden layer (a
random static membrane grid), membrane widths 2/4/8 and every network family; sometimes
the float baseline (exported as 8-bit weights and 16-bit membranes). Samples are random
int8 images over the whole int8 range.

Needs torch: import it only from tests that ran ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from qsnnsim.train.model import QSNN
from qsnnsim.train.networks import FAMILIES, build_netspec
from qsnnsim.workload import membrane_limit

CALIBRATION_BATCH = 16


def randomize_model(model: QSNN, rng: np.random.Generator, theta_max_factor: int = 2) -> QSNN:
    """Give ``model`` random weights, perturbed calibrated BatchNorms and random thresholds."""
    with torch.no_grad():
        for quantizer in model.weights.values():
            w = rng.normal(0.0, 1.0, tuple(quantizer.weight.shape))
            w[rng.random(w.shape) < 0.1] = 0.0
            quantizer.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        for bn in model.norms.values():
            c = bn.weight.shape[0]
            sign = np.where(rng.random(c) < 0.3, -1.0, 1.0)
            bn.weight.copy_(torch.as_tensor(sign * rng.uniform(0.3, 2.0, c), dtype=torch.float32))
            bn.bias.copy_(torch.as_tensor(rng.normal(0.5, 1.0, c), dtype=torch.float32))
            bn.momentum = 1.0
        model.readout_bias.copy_(torch.as_tensor(rng.normal(0.0, 1.0, model.spec.n_classes), dtype=torch.float32))
        q = membrane_limit(model.membrane_bits)
        for name in model.theta_int:
            model.theta_int[name] = int(rng.integers(0, theta_max_factor * q + 2))
        # Running statistics from a real batch, so currents are near the threshold, then
        # perturbed so eval differs from any batch.
        codes = rng.integers(-128, 128, (CALIBRATION_BATCH,) + tuple(model.spec.input_shape))
        model.train()
        model(torch.as_tensor(codes, dtype=torch.float32) * model.input_scale)
        model.eval()
        for bn in model.norms.values():
            c = bn.weight.shape[0]
            std = torch.sqrt(bn.running_var)
            bn.running_mean.add_(torch.as_tensor(rng.normal(0.0, 0.3, c), dtype=torch.float32) * std)
            bn.running_var.mul_(torch.as_tensor(rng.uniform(0.5, 2.0, c), dtype=torch.float32))
            bn.momentum = 0.1
    return model


@st.composite
def random_qsnns(draw, archs=tuple(FAMILIES), membrane_bits=(2, 4, 8), max_samples: int = 3):
    """(model, samples int8 (N, C, 8, 8)) for a random small network of the given families."""
    arch = draw(st.sampled_from(archs))
    bits = draw(st.sampled_from(membrane_bits))
    timesteps = draw(st.integers(1, 4))
    c_in = draw(st.integers(1, 2))
    n_classes = draw(st.integers(2, 5))
    width = draw(st.integers(4, 12)) if arch == "mlp" else draw(st.integers(2, 3))
    float_mode = draw(st.sampled_from([False, False, False, True]))
    ws_dr = draw(st.booleans())
    input_scale = draw(st.sampled_from([1.0 / 127.0, 1.0 / 64.0, 0.01]))
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, max_samples))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    spec = build_netspec(arch, (c_in, 8, 8), n_classes, width)
    model = QSNN(spec, timesteps, bits, float_mode=float_mode, ws_dr=ws_dr, input_scale=input_scale)
    randomize_model(model, rng)
    samples = rng.integers(-128, 128, (n, c_in, 8, 8)).astype(np.int8)
    return model, samples


def assert_matches_golden(result, wl, indices=None) -> int:
    """Assert the trainer's integer inference equals the golden model on every sample.

    Compares, per sample: the spikes of every lif population at every timestep, the
    readout values, the predicted class and the (zero) accumulator saturations. Returns
    the number of samples the golden model classifies as ``wl.labels`` says (0 without
    labels).
    """
    from qsnnsim.golden import run_golden

    correct = 0
    lif_names = [p.name for p in wl.populations if p.kind == "lif"]
    assert sorted(result.spikes) == sorted(lif_names)
    for i in range(wl.n_samples) if indices is None else indices:
        gold = run_golden(wl, i)
        for name in lif_names:
            mine = result.spikes[name][i].numpy()
            if not np.array_equal(mine, gold.spikes[name]):
                t, *where = np.argwhere(mine != gold.spikes[name])[0]
                raise AssertionError(f"sample {i}: {name} spikes differ first at t={t}, neuron {tuple(where)}")
        assert np.array_equal(result.readout[i].numpy(), gold.readout), f"sample {i}: readout differs"
        assert int(result.predicted[i]) == gold.predicted, f"sample {i}: predicted class differs"
        for name, sat in gold.saturations.items():
            assert np.array_equal(result.saturations[name][i].numpy(), sat), f"sample {i}: {name} saturations"
            assert not sat.any(), f"sample {i}: {name} saturated although acc_bits has headroom"
        if wl.labels is not None:
            correct += int(gold.predicted == wl.labels[i])
    return correct
