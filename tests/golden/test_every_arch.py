"""Every shipped arch runs something: each archs/*.yaml maps at least one workloads/*.npz,
and the all-1-bit digits network runs on the TrueNorth-like chip bit-exact with golden.

The first check tries workloads smallest file first and stops at the first that maps, so
an arch that maps a small workload costs one mapping; a failure lists why each one did not.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from qsnnsim.arch import load_arch
from qsnnsim.errors import InputError
from qsnnsim.golden import run_golden
from qsnnsim.mapping import map_workload
from qsnnsim.workload import load_workload

ROOT = Path(__file__).resolve().parents[2]
ARCHS = sorted((ROOT / "archs").glob("*.yaml"))
# shipped workloads (a generated resnet18_imagenet.npz is not one)
WORKLOADS = sorted((p for p in (ROOT / "workloads").glob("*.npz") if p.name != "resnet18_imagenet.npz"),
                   key=lambda p: (p.stat().st_size, p.name))
TRUENORTH_WORKLOAD = ROOT / "workloads" / "digits_truenorth.npz"
N_SAMPLES_ON_CHIP = 4


@functools.lru_cache(maxsize=16)
def _workload(path: Path):
    return load_workload(path)


def test_there_are_archs_and_workloads_to_check():
    names = {p.name for p in ARCHS}
    assert {"core16.yaml", "tiny.yaml", "large.yaml", "truenorth_like.yaml", "loihi_like.yaml"} <= names
    assert TRUENORTH_WORKLOAD in WORKLOADS


@pytest.mark.parametrize("arch_path", ARCHS, ids=[p.name for p in ARCHS])
def test_every_shipped_arch_maps_a_shipped_workload(arch_path):
    arch = load_arch(arch_path)
    why_not = []
    for wl_path in WORKLOADS:
        try:
            mapping = map_workload(_workload(wl_path), arch, arch_path=str(arch_path), workload_path=str(wl_path))
        except InputError as exc:
            why_not.append(f"{wl_path.name}: {exc.line()}")
            continue
        assert mapping.slices, f"{arch_path.name} maps {wl_path.name} onto no slice"
        return
    pytest.fail(f"{arch_path.name} maps no shipped workload:\n" + "\n".join(why_not))


def test_truenorth_like_maps_only_the_all_one_bit_spike_input_workload_among_the_digits():
    # The binary crossbar takes 1-bit synapses only: the 8-bit first/last layers of the
    # other digits networks are refused by name, the all-1-bit one maps.
    arch_path = ROOT / "archs" / "truenorth_like.yaml"
    arch = load_arch(arch_path)
    with pytest.raises(InputError, match=r"core\.weight_bits_supported: projection 'conv1' has 8-bit weights"):
        map_workload(_workload(ROOT / "workloads" / "digits_conv_m4.npz"), arch, arch_path=str(arch_path))
    wl = _workload(TRUENORTH_WORKLOAD)
    assert wl.input_kind == "spikes"
    assert {p.weight_bits for p in wl.projections if p.kind != "sumpool2d"} == {1}
    assert map_workload(wl, arch, arch_path=str(arch_path)).slices


def test_truenorth_like_runs_the_binary_digits_network_bit_exact_with_golden():
    # The cycle-accurate engine on the 64x64 TrueNorth-like mesh, the first samples of the
    # shipped all-1-bit network: every spike, final membrane and readout equal golden's.
    from qsnnsim.engine.simulate import simulate

    arch = load_arch(ROOT / "archs" / "truenorth_like.yaml")
    wl = _workload(TRUENORTH_WORKLOAD)
    run = simulate(wl, arch, map_workload(wl, arch), samples=range(N_SAMPLES_ON_CHIP))
    assert [r.sample for r in run.samples] == list(range(N_SAMPLES_ON_CHIP))
    for result in run.samples:
        gold = run_golden(wl, result.sample)
        i = result.sample
        assert sorted(result.spikes) == sorted(p.name for p in wl.populations if p.kind == "lif")
        for name, spikes in result.spikes.items():
            assert np.array_equal(spikes, gold.spikes[name]), f"sample {i}: {name} spikes differ"
        for name, membrane in result.membranes.items():
            assert np.array_equal(membrane, gold.membranes[name]), f"sample {i}: {name} membranes differ"
        assert np.array_equal(result.readout, gold.readout), f"sample {i}: readout differs"
        assert result.predicted == gold.predicted and result.label == int(wl.labels[i])
        assert result.latency_cycles > 0
