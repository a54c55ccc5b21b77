"""Shipped workloads: every workloads/*.npz loads, runs through the golden model and fires.

The files made by ``workloads/make_resnet19.py`` and ``workloads/make_small.py`` also have
their documented counts (docs/resnet19.md), the calibration recorded in their provenance,
accumulators that can never saturate and are no wider than needed, and regenerate
byte-identically.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsnnsim.golden import run_golden
from qsnnsim.report.terminal import workload_counts
from qsnnsim.workload import load_workload

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"
SHIPPED = sorted(p for p in WORKLOADS.glob("*.npz") if p.name != "resnet18_imagenet.npz")  # generated on demand

# Counts as documented in docs/resnet19.md. ResNet-19's dense SOPs are 2,285,240,320 in
# its convolutions plus 557,056 identity-shortcut and 327,680 readout operations.
DOCUMENTED = {
    "resnet19.npz": {"weights_by_bits": {1: 12_550_144, 8: 8_576}, "n_spiking_neurons": 1_441_792,
                     "n_lif_populations": 17, "dense_synaptic_ops_per_step": 2_286_125_056},
    "tiny_mlp.npz": {"weights_by_bits": {1: 2_560, 8: 160}, "n_spiking_neurons": 48,
                     "n_lif_populations": 2, "dense_synaptic_ops_per_step": 2_720},
    "tiny_conv.npz": {"weights_by_bits": {1: 180, 8: 40}, "n_spiking_neurons": 576,
                      "n_lif_populations": 3, "dense_synaptic_ops_per_step": 12_672},
    "tiny_dvs.npz": {"weights_by_bits": {1: 1_096, 8: 64}, "n_spiking_neurons": 336,
                     "n_lif_populations": 3, "dense_synaptic_ops_per_step": 5_952},
}
SMALL = ("tiny_mlp.npz", "tiny_conv.npz", "tiny_dvs.npz")
# Populations with fixed, not calibrated, parameters (a max-pool as an IF neuron).
FIXED = {("tiny_dvs.npz", "maxpool")}


def _ids(paths):
    return [p.name for p in paths]


@functools.lru_cache(maxsize=8)
def _loaded(path: Path):
    return load_workload(path)


@functools.lru_cache(maxsize=8)
def _golden_sample0(path: Path):
    return run_golden(_loaded(path), 0)


def test_shipped_set_is_present():
    names = {p.name for p in SHIPPED}
    assert set(DOCUMENTED) <= names, f"missing: {sorted(set(DOCUMENTED) - names)}"
    for name in SMALL:
        assert (WORKLOADS / name).stat().st_size < 100_000


@pytest.mark.parametrize("path", SHIPPED, ids=_ids(SHIPPED))
def test_golden_runs_on_sample_0(path):
    wl = _loaded(path)
    res = _golden_sample0(path)
    out = wl.readout_population
    assert res.readout.shape == (out.n_neurons,)
    assert res.predicted == int(np.argmax(res.readout))
    for pop in wl.populations:
        if pop.kind == "lif":
            assert res.spikes[pop.name].shape == (wl.timesteps,) + pop.shape


@pytest.mark.parametrize("path", SHIPPED, ids=_ids(SHIPPED))
def test_no_population_is_dead_or_always_on(path):
    # Sample 0 alone is the strictest case of "over the calibration images".
    wl = _loaded(path)
    res = _golden_sample0(path)
    for pop in wl.populations:
        if pop.kind != "lif":
            continue
        spikes = res.spikes[pop.name]
        assert spikes.any(), f"{pop.name} never fires"
        assert not spikes.all(), f"{pop.name} fires at every neuron and step"


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_counts_are_as_documented(name):
    wl = _loaded(WORKLOADS / name)
    counts = workload_counts(wl)
    for key, want in DOCUMENTED[name].items():
        assert counts[key] == want, f"{key}: {counts[key]} != {want}"


def test_resnet19_shape():
    wl = _loaded(WORKLOADS / "resnet19.npz")
    lif = [p for p in wl.populations if p.kind == "lif"]
    assert len(lif) == 17
    assert all(p.membrane_bits == 8 and (p.decay_mult, p.decay_shift) == (1, 1) for p in lif)
    assert all(p.reset == "hard" and p.fire_cmp == "gt" for p in lif)
    kinds = [p.kind for p in wl.projections]
    assert kinds.count("identity") == 6
    convs = [p for p in wl.projections if p.kind == "conv2d"]
    assert sum(p.kernel == (1, 1) and p.stride == (2, 2) and p.weight_bits == 1 for p in convs) == 2
    conv_sops = sum(int(p.weights.size) * wl.population(p.target).plane_size for p in convs)
    assert conv_sops == 2_285_240_320
    fc = wl.projections[-1]
    assert fc.kind == "linear" and fc.global_sum_pool and fc.weight_bits == 8 and fc.weights.shape == (10, 512)
    assert wl.input_kind == "analog" and wl.samples.shape == (8, 3, 32, 32)
    # Real image crops: textured and all different.
    flat = wl.samples.reshape(8, -1).astype(np.float64)
    assert flat.std(axis=1).min() > 10
    assert len({row.tobytes() for row in wl.samples}) == 8


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_provenance_records_the_calibration(name):
    wl = _loaded(WORKLOADS / name)
    prov = wl.provenance
    assert prov["trainer"] == "none" and prov["status"] == "calibrated, not trained"
    target = prov["target_firing_rate"]
    rates = prov["measured_firing_rate"]
    lif = [p.name for p in wl.populations if p.kind == "lif"]
    assert sorted(rates) == sorted(lif)
    for pop, rate in rates.items():
        if (name, pop) not in FIXED:
            assert target / 1.5 <= rate <= target * 1.5, f"{pop}: rate {rate} vs target {target}"
    if name == "resnet19.npz":
        assert prov["membrane_bits"] == 8 and prov["seed"] == 0 and "china.jpg" in prov["images"]


def _smallest_acc_bits(proj, source, input_kind) -> int:
    """Narrowest accumulator for any legal input, derived here independently of the generator."""
    x_lo, x_hi = (-128, 127) if source.kind == "input" and input_kind == "analog" else (0, 1)
    if proj.kind in ("conv2d", "linear"):
        w = proj.weights.reshape(proj.weights.shape[0], -1).astype(np.int64)
        reach = source.plane_size if proj.global_sum_pool else 1
        pos = np.where(w > 0, w, 0).sum(axis=1)
        neg = np.where(w < 0, -w, 0).sum(axis=1)
        hi = int((pos * x_hi * reach - neg * x_lo * reach).max())
        lo = int((neg * -x_hi * reach + pos * x_lo * reach).min())
    elif proj.kind == "identity":
        w = proj.weights.astype(np.int64)
        hi, lo = int(np.maximum(w * x_lo, w * x_hi).max()), int(np.minimum(w * x_lo, w * x_hi).min())
    else:
        area = proj.kernel[0] * proj.kernel[1]
        hi, lo = area * x_hi, area * x_lo
    # a bits hold -2^(a-1) .. 2^(a-1) - 1.
    need = max(hi + 1, -lo)
    return max(2, 1 + (need - 1).bit_length())


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_accumulators_never_saturate_and_are_minimal(name):
    wl = _loaded(WORKLOADS / name)
    for proj in wl.projections:
        want = _smallest_acc_bits(proj, wl.population(proj.source), wl.input_kind)
        assert proj.acc_bits == want, f"{proj.name}: acc_bits {proj.acc_bits}, smallest safe width {want}"
    res = _golden_sample0(WORKLOADS / name)
    assert all(int(s.sum()) == 0 for s in res.saturations.values())


def _same_arrays(a: Path, b: Path) -> None:
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        assert sorted(x.files) == sorted(y.files)
        for key in x.files:
            assert x[key].dtype == y[key].dtype and x[key].shape == y[key].shape, key
            assert x[key].tobytes() == y[key].tobytes(), f"{a.name}: entry {key} differs"


def test_small_workloads_regenerate_byte_identically(tmp_path):
    subprocess.run([sys.executable, str(WORKLOADS / "make_small.py"), "--out-dir", str(tmp_path)],
                   check=True, capture_output=True, text=True)
    for name in SMALL:
        _same_arrays(WORKLOADS / name, tmp_path / name)


def test_dialect_workloads_regenerate_byte_identically_with_their_accuracy(tmp_path):
    """workloads/make_dialects.py rewrites the same integers, and the accuracy in provenance is
    the golden model's on the shipped test samples (xylo_recurrent, loihi_conv)."""
    subprocess.run([sys.executable, str(WORKLOADS / "make_dialects.py"), "--out-dir", str(tmp_path)],
                   check=True, capture_output=True, text=True)
    for name in ("xylo_recurrent.npz", "loihi_conv.npz"):
        _same_arrays(WORKLOADS / name, tmp_path / name)
        wl = _loaded(WORKLOADS / name)
        hits = sum(int(run_golden(wl, i).predicted == wl.labels[i]) for i in range(wl.n_samples))
        assert round(hits / wl.n_samples, 4) == wl.provenance["test_accuracy"]
        assert "calibrated" in wl.provenance["calibration"] and "trained" in wl.provenance["training"]


@pytest.mark.slow
def test_resnet19_regenerates_byte_identically(tmp_path):
    out = tmp_path / "resnet19.npz"
    subprocess.run([sys.executable, str(WORKLOADS / "make_resnet19.py"), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    _same_arrays(WORKLOADS / "resnet19.npz", out)


@pytest.mark.slow
def test_resnet19_rates_over_all_samples_match_provenance():
    wl = _loaded(WORKLOADS / "resnet19.npz")
    totals: dict[str, int] = {}
    for n in range(wl.n_samples):
        res = run_golden(wl, n)
        for pop, spikes in res.spikes.items():
            totals[pop] = totals.get(pop, 0) + int(spikes.sum())
    for pop, rate in wl.provenance["measured_firing_rate"].items():
        measured = totals[pop] / (wl.n_samples * wl.timesteps * wl.population(pop).n_neurons)
        assert abs(measured - rate) <= 5e-5, f"{pop}: golden {measured:.5f} vs recorded {rate}"


@pytest.mark.slow
def test_simulated_accuracy_of_the_trained_digits_qsnn_equals_the_trainers_to_the_last_sample():
    # The chip, not the golden model: every one of the 450 test images through the cycle-accurate
    # engine on the default chip, each prediction equal to golden's, the count equal to the
    # trainer's integer inference as recorded in the file (workloads/README.md: 446/450).
    from qsnnsim.arch import load_arch
    from qsnnsim.engine.simulate import simulate
    from qsnnsim.mapping import map_workload

    wl = _loaded(WORKLOADS / "digits_conv_m4.npz")
    arch = load_arch(WORKLOADS.parent / "archs" / "core16.yaml")
    run = simulate(wl, arch, map_workload(wl, arch))
    assert len(run.samples) == wl.n_samples == 450
    for result in run.samples:
        gold = run_golden(wl, result.sample)
        assert np.array_equal(result.readout, gold.readout), f"sample {result.sample}"
    correct = sum(int(r.predicted == r.label) for r in run.samples)
    assert correct == wl.provenance["n_correct_quantized"] == 446
