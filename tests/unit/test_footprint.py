"""compute_footprint: model size vs float32, membranes, mapped SRAM bits, hand-computed."""

from __future__ import annotations

import os

import numpy as np
import pytest
from strategies import arch_dict

from qsnnsim.arch import arch_from_dict, load_arch
from qsnnsim.footprint import compute_footprint
from qsnnsim.mapping import map_workload
from qsnnsim.report.mapview import format_mapping
from qsnnsim.report.terminal import fmt_bytes
from qsnnsim.workload import WorkloadBuilder, load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def residual_net():
    """spikes (1,4,4) -conv 1-bit-> h (2,4,4) -conv 1-bit-> r (2,4,4) (+ identity h) -linear 2-bit-> out (3,)."""
    b = WorkloadBuilder("res", timesteps=2, input_kind="spikes")
    b.input("in", (1, 4, 4))
    b.lif("h", (2, 4, 4), threshold=1, membrane_bits=4)
    b.conv2d("in", "h", np.ones((2, 1, 3, 3), np.int16), padding=1, acc_bits=6)
    b.lif("r", (2, 4, 4), threshold=1, membrane_bits=8)
    b.conv2d("h", "r", np.ones((2, 2, 3, 3), np.int16), padding=1, acc_bits=7)
    b.identity("h", "r", codes=[1, -1], weight_bits=2, acc_bits=3, name="skip")
    b.readout("out", (3,))
    b.linear("r", "out", np.ones((3, 32), np.int16), weight_bits=2, acc_bits=10)
    b.set_samples(np.zeros((1, 2, 1, 4, 4), np.uint8))
    return b.build()


def test_model_size_against_float32_by_hand():
    wl = residual_net()
    arch = arch_from_dict(arch_dict())
    fp = compute_footprint(wl, map_workload(wl, arch), arch)
    # Weights: 2x1x3x3 + 2x2x3x3 = 54 one-bit codes and 3x32 = 96 two-bit codes; the identity's
    # two codes are scale codes, not synaptic weights.
    assert fp.weights_by_bits == {1: 54, 2: 96}
    assert fp.n_weights == 150
    assert fp.weight_bits == 54 + 192
    # float32: 150 weights + BatchNorm gamma, beta for 2 + 2 conv output channels + 3 biases.
    assert (fp.batchnorm_params, fp.bias_params, fp.float32_params) == (8, 3, 161)
    assert fp.float32_bits == 161 * 32
    assert fp.weight_saving_percent == pytest.approx(100 * (1 - 246 / 5152))
    # Membranes: 32 neurons at 4 bits + 32 at 8 bits; the readout is 3 x 64 bits on its own.
    assert (fp.n_lif_neurons, fp.membrane_bits) == (64, 32 * 4 + 32 * 8)
    assert fp.membrane_bits_at(2) == 128
    assert (fp.n_readout_neurons, fp.readout_state_bits) == (3, 192)
    assert fp.identity_code_bits == 4
    # mult (25 bits) + shift (5 bits) per target channel of 4 projections (2 + 2 + 2 + 3 channels),
    # threshold + bias (64 bits) per lif channel (4), bias (32 bits) per readout channel (3).
    assert fp.scale_param_bits == 9 * 30 + 4 * 64 + 3 * 32


def test_mapped_bits_are_words_times_word_width():
    wl = residual_net()
    data = arch_dict()
    data["chip"].update(mesh_rows=1, mesh_cols=1)
    data["core"].update(neuron_capacity=16)
    arch = arch_from_dict(data)
    m = map_workload(wl, arch, strategy="packed")
    fp = compute_footprint(wl, m, arch)
    assert m.n_passes > 1
    assert fp.mapped_weight_bits == 16 * sum(s.weight_words for s in m.slices)
    assert fp.stored_weight_bits == sum(s.weight_bits_stored for s in m.slices)
    assert fp.mapped_membrane_bits == 16 * sum(s.membrane_words for s in m.slices)
    assert fp.mapped_acc_bits == 32 * sum(s.acc_words for s in m.slices)
    # Several passes: every pass reloads its weights per sample.
    assert fp.offchip_weight_bits_per_sample == fp.mapped_weight_bits
    assert len(fp.cores) == m.n_passes * 1
    for c in fp.cores:
        here = m.slices_on(c.core, c.pass_index)
        assert c.n_slices == len(here)
        assert c.weight.used_bits == 16 * sum(s.weight_words for s in here)
        assert c.weight.capacity_bits == 2 * 256 * 16
        assert c.acc.capacity_bits == 2 * 64 * 32
        assert 0 <= c.membrane.fraction <= 1
    # One core's spike buffer: 8 packets of one 32-bit flit.
    assert fp.spike_buffer_bits == 8 * 32


def test_one_pass_loads_weights_once():
    wl = residual_net()
    arch = arch_from_dict(arch_dict())
    fp = compute_footprint(wl, map_workload(wl, arch), arch)
    assert fp.n_passes == 1
    assert fp.offchip_weight_bits_per_sample == 0
    assert len(fp.cores) == 4
    assert fp.chip_weight_capacity_bits == 4 * 2 * 256 * 16


def test_footprint_refuses_a_foreign_mapping():
    wl = residual_net()
    arch = arch_from_dict(arch_dict())
    m = map_workload(wl, arch)
    other = arch_from_dict({**arch_dict(), "name": "other"})
    with pytest.raises(ValueError, match="mapping is of"):
        compute_footprint(wl, m, other)


RESNET = os.path.join(ROOT, "workloads", "resnet19.npz")


@pytest.mark.skipif(
    not os.path.exists(RESNET), reason="workloads/resnet19.npz not generated"
)
def test_resnet19_reproduces_the_seed_papers_model_size():
    wl = load_workload(RESNET)
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    m = map_workload(wl, arch)
    fp = compute_footprint(wl, m, arch)
    assert fp.weights_by_bits == {1: 12_550_144, 8: 8_576}
    assert fp.weight_bits == 12_618_752
    assert fmt_bytes(fp.weight_bits) == "1.58 MB"
    assert fp.float32_params == 12_569_226
    assert fmt_bytes(fp.float32_bits) == "50.28 MB"
    assert f"{fp.weight_saving_percent:.1f}" == "96.9"
    assert fp.n_lif_neurons == 1_441_792
    if all(p.membrane_bits == 8 for p in wl.populations if p.kind == "lif"):
        assert fmt_bytes(fp.membrane_bits) == "1.44 MB"
    assert fmt_bytes(fp.membrane_bits_at(2)) == "0.36 MB"  # the seed paper writes 0.36 MB
    text = format_mapping(m, fp, arch)
    assert "96.9% smaller" in text
