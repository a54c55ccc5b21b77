"""`qsnnsim map ARCH WORKLOAD` as a user runs it (subprocess): the mapping, the footprint, and
one clean line on stderr with exit status 2 for every class of bad arch file."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from qsnnsim.workload import WorkloadBuilder, save_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE16 = os.path.join(ROOT, "archs", "core16.yaml")
RESNET = os.path.join(ROOT, "workloads", "resnet19.npz")


def run(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "qsnnsim", *args],
        capture_output=True,
        check=False,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.skipif(
    not os.path.exists(RESNET), reason="workloads/resnet19.npz not generated"
)
def test_map_resnet19_on_core16():
    res = run("map", "archs/core16.yaml", "workloads/resnet19.npz")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "mapping of resnet19 onto core16: 4x4 mesh (16 cores)" in out
    assert "1 pass: no passes needed" in out
    assert "1.58 MB" in out and "50.28 MB" in out and "96.9% smaller" in out
    assert "membranes 1.44 MB" in out
    assert "row 3" in out  # the mesh picture
    assert res.stderr == ""


@pytest.fixture(scope="module")
def small_workload(tmp_path_factory):
    """spikes (2,6,6) -conv 1-bit-> (4,6,6) 8-bit membranes -linear 8-bit-> readout (5,)."""
    b = WorkloadBuilder("small", timesteps=2, input_kind="spikes")
    b.input("in", (2, 6, 6))
    b.lif("conv", (4, 6, 6), threshold=2)
    b.conv2d("in", "conv", np.ones((4, 2, 3, 3), np.int16), padding=1, acc_bits=6)
    b.readout("out", (5,))
    b.linear("conv", "out", np.ones((5, 144), np.int16), weight_bits=8, acc_bits=20)
    b.set_samples(np.zeros((1, 2, 2, 6, 6), np.uint8))
    path = tmp_path_factory.mktemp("wl") / "small.npz"
    save_workload(b.build(), path)
    return str(path)


def test_map_small_workload_on_tiny_needs_passes(small_workload):
    res = run("map", "archs/tiny.yaml", small_workload, "--strategy", "packed")
    assert res.returncode == 0, res.stderr
    assert "strategy packed" in res.stdout
    assert "passes: the network does not fit on chip at once" in res.stdout
    assert "off-chip weight reload" in res.stdout
    assert "conv[c0 r0:" in res.stdout or "conv[0:1)" in res.stdout


def _write_arch(tmp_path, change):
    with open(CORE16, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def _tiny_membranes(d):
    # 48 bits: a row of 6 conv neurons at 8 bits fits, a 64-bit readout neuron never does.
    d["core"]["membrane_sram"] = {"banks": 1, "bank_words": 3, "word_bits": 16}


BAD = [
    (
        "unknown_key",
        lambda d: d["core"]["weight_sram"].update(bnaks=4),
        "core.weight_sram.bnaks: unknown key in core.weight_sram (did you mean 'banks'?)",
    ),
    (
        "negative_size",
        lambda d: d["core"]["acc_sram"].update(bank_words=-1),
        "core.acc_sram.bank_words: must be >= 1 words (got -1)",
    ),
    (
        "zero_lanes",
        lambda d: d["core"].update(synapse_lanes=0),
        "core.synapse_lanes: must be >= 1 (got 0)",
    ),
    (
        "unsupported_membrane_width",
        lambda d: d["core"].update(membrane_bits_supported=[2, 4]),
        "core.membrane_bits_supported: population 'conv' has 8-bit membranes; this core supports 2, 4 bits",
    ),
    (
        "never_fits",
        _tiny_membranes,
        (
            "core.membrane_sram: population 'out' cannot be mapped: a single neuron needs 64 bits "
            "of membrane_sram (4 words of 16 bits) but a core has 48: short by 16 bits"
        ),
    ),
    (
        "wrong_version",
        lambda d: d.update(version=3),
        "version: 3 is not supported; this qsnnsim reads version 1",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_arch_gives_one_line_and_exit_2(case, tmp_path, small_workload):
    _id, change, expected = case
    arch = _write_arch(tmp_path, change)
    res = run("map", arch, small_workload)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert lines[0].startswith(f"qsnnsim: error: {arch}: ")
    assert expected in lines[0], lines[0]
    assert res.stdout == ""


@pytest.mark.parametrize("which", ["arch", "workload"])
def test_missing_files(which, tmp_path, small_workload):
    args = (
        [str(tmp_path / "absent.yaml"), small_workload]
        if which == "arch"
        else [CORE16, str(tmp_path / "absent.npz")]
    )
    res = run("map", *args)
    assert res.returncode == 2
    assert len(res.stderr.splitlines()) == 1
    assert "no such file" in res.stderr
    assert res.stdout == ""


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_run_with_a_bad_arch_writes_nothing(case, tmp_path, small_workload):
    # DESIGN §9: bad input never half-runs; not even an empty output folder is left behind.
    _id, change, expected = case
    arch = _write_arch(tmp_path, change)
    out = tmp_path / "out"
    res = run("run", arch, small_workload, "--out", str(out))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(res.stderr.splitlines()) == 1 and expected in res.stderr
    assert not out.exists()
