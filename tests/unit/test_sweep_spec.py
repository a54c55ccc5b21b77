"""Sweep files: strict keys, one-line errors, grid and random expansion, point keys (qsnnsim/sweep/spec.py, points.py)."""

from __future__ import annotations

import os
import shutil

import pytest

from qsnnsim.sweep.points import point_key, sweep_points
from qsnnsim.sweep.spec import SweepError, expand, grid_values, load_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCH = os.path.join(ROOT, "archs", "core16.yaml")
MLP = os.path.join(ROOT, "workloads", "tiny_mlp.npz")
CONV = os.path.join(ROOT, "workloads", "tiny_conv.npz")


def write(tmp_path, body: str, head: str | None = None) -> str:
    head = head if head is not None else f"format: qsnnsim-sweep\nversion: 1\narch: {ARCH}\nworkloads: [{MLP}]\n"
    path = tmp_path / "s.yaml"
    path.write_text(head + body)
    return str(path)


def test_a_grid_sweep_is_every_combination_the_last_key_fastest(tmp_path):
    spec = load_sweep(write(tmp_path, "samples: 2\nvary:\n  core.synapse_lanes: [1, 4]\n  noc.router_latency_cycles: [1, 2, 3]\n"))
    assert spec.mode == "grid" and spec.grid_size == 6 and spec.check == "none" and spec.samples == 2
    assert [v.values for v in spec.variants][:4] == [
        (("core.synapse_lanes", 1), ("noc.router_latency_cycles", 1)),
        (("core.synapse_lanes", 1), ("noc.router_latency_cycles", 2)),
        (("core.synapse_lanes", 1), ("noc.router_latency_cycles", 3)),
        (("core.synapse_lanes", 4), ("noc.router_latency_cycles", 1)),
    ]
    last = spec.variants[-1]
    assert last.arch["core"]["synapse_lanes"] == 4 and last.arch["noc"]["router_latency_cycles"] == 3
    # The base arch's other keys are kept, defaults filled in.
    assert last.arch["core"]["neuron_lanes"] == spec.base_arch["core"]["neuron_lanes"]


def test_grid_values_decode_an_index_in_mixed_radix():
    vary = (("a", (1, 2)), ("b", ("x", "y", "z")))
    # index 5 = a[1] * 3 + b[2]
    assert grid_values(vary, 5) == (("a", 2), ("b", "z"))
    assert grid_values(vary, 0) == (("a", 1), ("b", "x"))


def test_random_expansion_is_distinct_sorted_and_fixed_by_the_seed():
    vary = (("a", tuple(range(10))), ("b", tuple(range(10))))
    one = expand(vary, "random", 17, seed=3)
    assert one == expand(vary, "random", 17, seed=3)
    assert one != expand(vary, "random", 17, seed=4)
    assert len(set(one)) == 17 and one == sorted(one) and all(0 <= i < 100 for i in one)
    assert expand(vary, "grid", None, None) == list(range(100))


def test_a_random_sweep_file_takes_points_and_seed(tmp_path):
    body = "vary:\n  core.synapse_lanes: [1, 2, 4, 8]\n  core.neuron_lanes: [1, 2, 4, 8]\nmode: random\npoints: 5\nseed: 11\n"
    spec = load_sweep(write(tmp_path, body))
    assert len(spec.variants) == 5
    assert [v.grid_index for v in spec.variants] == expand(spec.vary, "random", 5, 11)


def test_strategy_is_a_run_option_not_an_arch_key(tmp_path):
    spec = load_sweep(write(tmp_path, "strategy: packed\nvary:\n  strategy: [balanced, packed]\n"))
    assert [v.strategy for v in spec.variants] == ["balanced", "packed"]
    assert spec.variants[0].arch == spec.variants[1].arch == spec.base_arch


BAD = [
    ("vary: {core.synapse_lane: [1, 2]}\n", r"s\.yaml: vary\.core\.synapse_lane: is not a key .*did you mean 'core\.synapse_lanes'"),
    ("vary: {core.synapse_lanes: []}\n", r"vary\.core\.synapse_lanes: is an empty list"),
    ("vary: {core.synapse_lanes: 4}\n", r"vary\.core\.synapse_lanes: must be a list of values"),
    ("vary: {core.synapse_lanes: [1, 1]}\n", r"lists 1 twice"),
    ("vary: {core.synapse_lanes: [1, 0]}\n",
     r"vary\.core\.synapse_lanes: the point core\.synapse_lanes=0 is not a valid arch: core\.synapse_lanes: must be >= 1"),
    ("vary: {core.weight_sram.word_bits: [16, 4]}\n", r"vary\.core\.weight_sram\.word_bits: .*cannot hold one 16-bit weight"),
    ("vary: {core.synapse_lanes: [1]}\nvarry: 2\n", r"varry: unknown key at the top level \(did you mean 'vary'\?\)"),
    ("vary: {version: [1]}\n", r"vary\.version: is not a key"),
    ("vary: {strategy: [fast]}\n", r"'fast' is not a mapping strategy"),
    ("vary: {core.synapse_lanes: [1]}\nmode: random\npoints: 2\nseed: 1\n", r"points: must be a whole number from 1 to 1"),
    ("vary: {core.synapse_lanes: [1]}\nmode: random\npoints: 1\n", r"seed: is required with 'mode: random'"),
    ("vary: {core.synapse_lanes: [1]}\nseed: 1\n", r"seed: is only read with 'mode: random'"),
    ("vary: {core.synapse_lanes: [1]}\nsamples: 0\n", r"samples: must be a positive number or 'all'"),
    ("vary: {core.synapse_lanes: [1]}\nsamples: 9\n", r"samples: is 9 but workloads\[0\] .* holds 8 sample"),
    ("vary: {core.synapse_lanes: [1]}\ncheck: some\n", r"check: must be one of all, first, none"),
    ("vary: {core: {synapse_lanes: 2}, core.synapse_lanes: [1]}\n", r"vary\.core: must be a list"),
    ("vary: {core.weight_sram: [{banks: 1}], core.weight_sram.banks: [2]}\n", r"is inside vary\.core\.weight_sram"),
    ("vary: {}\n", r"vary: must map dotted arch keys"),
]


@pytest.mark.parametrize("body,match", BAD)
def test_a_bad_sweep_file_is_one_line_naming_file_field_and_fix(tmp_path, body, match):
    with pytest.raises(SweepError, match=match) as info:
        load_sweep(write(tmp_path, body))
    assert "\n" not in info.value.line()


def test_top_level_and_file_errors(tmp_path):
    with pytest.raises(SweepError, match=r"format: is required"):
        load_sweep(write(tmp_path, "vary: {a: [1]}\n", head="version: 1\narch: x\nworkloads: [y]\n"))
    with pytest.raises(SweepError, match=r"format: is 'qsnnsim-arch', not 'qsnnsim-sweep'"):
        load_sweep(write(tmp_path, "vary: {a: [1]}\n", head=f"format: qsnnsim-arch\nversion: 1\narch: {ARCH}\nworkloads: [{MLP}]\n"))
    with pytest.raises(SweepError, match=r"version: 2 is not supported"):
        load_sweep(write(tmp_path, "vary: {a: [1]}\n", head=f"format: qsnnsim-sweep\nversion: 2\narch: {ARCH}\nworkloads: [{MLP}]\n"))
    with pytest.raises(SweepError, match=r"arch: .*nope\.yaml: no such file"):
        load_sweep(write(tmp_path, "vary: {a: [1]}\n", head=f"format: qsnnsim-sweep\nversion: 1\narch: {tmp_path}/nope.yaml\nworkloads: [{MLP}]\n"))
    with pytest.raises(SweepError, match=r"workloads\[1\]: .* is listed twice"):
        load_sweep(write(tmp_path, "vary: {a: [1]}\n", head=f"format: qsnnsim-sweep\nversion: 1\narch: {ARCH}\nworkloads: [{MLP}, {MLP}]\n"))
    with pytest.raises(SweepError, match=r"workloads: must be a non-empty list"):
        load_sweep(write(tmp_path, "vary: {a: [1]}\n", head=f"format: qsnnsim-sweep\nversion: 1\narch: {ARCH}\nworkloads: []\n"))
    with pytest.raises(SweepError, match=r"s\.yaml: is empty"):
        load_sweep(write(tmp_path, "", head=""))
    with pytest.raises(SweepError, match=r"is a folder"):
        load_sweep(str(tmp_path))


def test_point_keys_change_with_every_input_and_nothing_else(tmp_path):
    spec = load_sweep(write(tmp_path, "samples: 2\nvary:\n  core.synapse_lanes: [1, 2]\n"))
    points = sweep_points(spec)
    assert len(points) == 2 and len({p.key for p in points}) == 2
    p = points[0]
    key = point_key(p.arch, p.workload_sha256, p.samples, p.check, p.strategy)
    assert key == p.key and len(key) == 32
    # Key order of the arch dict does not matter; every value does.
    reordered = dict(reversed(list(p.arch.items())))
    assert point_key(reordered, p.workload_sha256, p.samples, p.check, p.strategy) == key
    assert point_key(p.arch, p.workload_sha256, (0,), p.check, p.strategy) != key
    assert point_key(p.arch, p.workload_sha256, p.samples, "all", p.strategy) != key
    assert point_key(p.arch, p.workload_sha256, p.samples, p.check, "packed") != key
    assert point_key(p.arch, "0" * 64, p.samples, p.check, p.strategy) != key
    energy = {**p.arch, "energy": {**p.arch["energy"], "mac8_pj": {**p.arch["energy"]["mac8_pj"], "value": 9.0}}}
    assert point_key(energy, p.workload_sha256, p.samples, p.check, p.strategy) != key
    # The workload's content, not its name, is in the key: a copy gives the same key.
    copy = tmp_path / "copy.npz"
    shutil.copy(MLP, copy)
    head = f"format: qsnnsim-sweep\nversion: 1\narch: {ARCH}\nworkloads: [{copy}]\n"
    again = sweep_points(load_sweep(write(tmp_path, "samples: 2\nvary:\n  core.synapse_lanes: [1, 2]\n", head=head)))
    assert [q.key for q in again] == [q.key for q in points]


def test_points_are_in_variant_then_workload_order(tmp_path):
    head = f"format: qsnnsim-sweep\nversion: 1\narch: {ARCH}\nworkloads: [{MLP}, {CONV}]\n"
    points = sweep_points(load_sweep(write(tmp_path, "vary:\n  core.neuron_lanes: [1, 2, 3]\n", head=head)))
    assert [p.order for p in points] == [(v, w) for v in range(3) for w in range(2)]
    assert [p.workload for p in points[:2]] == [MLP, CONV]


def test_the_example_sweep_file_loads():
    spec = load_sweep(os.path.join(ROOT, "sweeps", "core16_lanes.yaml"))
    assert len(sweep_points(spec)) == 36
