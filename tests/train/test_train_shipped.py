"""The shipped trained digits workloads: trainer integer inference == golden, recorded
accuracies recomputed to the last sample, the >= 90% claim for 1-bit weights with 4-bit
membranes, and the all-1-bit spike-input network made for archs/truenorth_like.yaml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from strategies.trained import assert_matches_golden

from qsnnsim.golden import run_golden
from qsnnsim.train.data import load_digits, thermometer_encode
from qsnnsim.train.inference import run_integer
from qsnnsim.train.intnet import intnet_from_workload
from qsnnsim.workload import load_workload

pytestmark = pytest.mark.torch

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"
SHIPPED = (
    "digits_conv_m2.npz",
    "digits_conv_m4.npz",
    "digits_conv_m8.npz",
    "digits_conv_m4_nowsdr.npz",
    "digits_conv_float.npz",
    "digits_truenorth.npz",
)


def _make_digits():
    spec = importlib.util.spec_from_file_location("make_digits", WORKLOADS / "make_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SHIPPED)
def test_integer_inference_equals_golden_and_recorded_accuracy(name):
    wl = load_workload(WORKLOADS / name)
    result = run_integer(intnet_from_workload(wl), wl.samples)
    correct = assert_matches_golden(result, wl)
    prov = wl.provenance
    assert prov["n_test"] == wl.n_samples
    assert correct == prov["n_correct_quantized"], (correct, prov["n_correct_quantized"])
    assert correct / wl.n_samples == prov["accuracy_quantized"]


def test_one_bit_weights_four_bit_membranes_reach_90_percent():
    wl = load_workload(WORKLOADS / "digits_conv_m4.npz")
    predicted = np.array([run_golden(wl, i).predicted for i in range(wl.n_samples)])
    accuracy = float((predicted == wl.labels).mean())
    assert accuracy >= 0.90, accuracy
    weight_bits = [p.weight_bits for p in wl.projections if p.kind in ("conv2d", "linear")]
    assert weight_bits[0] == 8 and weight_bits[-1] == 8 and set(weight_bits[1:-1]) == {1}
    assert {p.membrane_bits for p in wl.populations if p.kind == "lif" and p.threshold.any()} == {4}


def test_truenorth_network_is_one_bit_throughout_with_a_spike_input():
    wl = load_workload(WORKLOADS / "digits_truenorth.npz")
    assert wl.input_kind == "spikes" and wl.samples.shape == (450, 4, 8, 8, 8)
    assert {p.weight_bits for p in wl.projections if p.kind != "sumpool2d"} == {1}
    assert {p.membrane_bits for p in wl.populations if p.kind == "lif" and p.threshold.any()} == {8}
    # conv3 reads 24 channels x 3 x 3 = 216 synapses per neuron: within a 256-axon core.
    conv3 = next(p for p in wl.projections if p.name == "conv3")
    assert conv3.weights.shape == (48, 24, 3, 3)
    prov = wl.provenance
    assert prov["first_last_weight_bits"] == 1 and prov["accuracy_quantized"] >= 0.95


@pytest.mark.parametrize("name", SHIPPED)
def test_provenance_and_samples_describe_the_run(name):
    wl = load_workload(WORKLOADS / name)
    prov = wl.provenance
    digits = load_digits()
    if name == "digits_truenorth.npz":
        digits = thermometer_encode(digits, 8)
        assert prov["input_encoding"] == "thermometer, 8 levels"
    assert np.array_equal(wl.samples, digits.workload_samples(digits.x_test, wl.timesteps))
    assert np.array_equal(wl.labels, digits.y_test)
    assert wl.class_names == digits.class_names
    # Files made before `qsnnsim train --arch` became `--network` record the family as "arch".
    network = prov.get("network", prov.get("arch"))
    assert prov["dataset"] == "digits" and network == "conv" and prov["T"] == wl.timesteps
    assert prov["trainer"].startswith("qsnnsim.train")
    assert prov["float_baseline"] == name.endswith("_float.npz")
    assert prov["ws_dr"] == (not name.endswith("_nowsdr.npz"))
    # The recorded command is the one make_digits.py (and workloads/README.md) give.
    expected = "qsnnsim train " + " ".join(_make_digits().command(name))
    assert _same_options(prov["command"].split(), expected.split()), (prov["command"], expected)


def _same_options(recorded: list[str], expected: list[str]) -> bool:
    """True when every option given in ``expected`` appears with the same value in ``recorded``."""
    def options(words):
        out, i = {}, 2
        while i < len(words):
            if i + 1 < len(words) and not words[i + 1].startswith("-"):
                out[words[i]] = words[i + 1]
                i += 2
            else:
                out[words[i]] = True
                i += 1
        return out

    # --arch is the deprecated spelling of --network (the files made before the rename record it).
    aliases = {"-T": "--timesteps", "--arch": "--network"}
    rec = {aliases.get(k, k): v for k, v in options(recorded).items()}
    exp = {aliases.get(k, k): v for k, v in options(expected).items()}
    return all(rec.get(k) == v for k, v in exp.items())
