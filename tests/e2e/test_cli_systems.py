"""Systems of chips as a user meets them (DESIGN §12): `qsnnsim map` says what each chip holds,
`qsnnsim run` is bit-exact and its report shows every chip and every chip-to-chip link; a bad
system file is one line, exit 2; ImageNet ResNet-18 runs on the shipped 2x2 board (slow)."""

from __future__ import annotations

import csv
import functools
import json
import os
import subprocess
import sys

import pytest
import yaml
from cli_helpers import run_qsnnsim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


qsnnsim = functools.partial(run_qsnnsim, timeout=1800)


def _tiny_system(tmp_path, **system) -> str:
    with open(os.path.join(ROOT, "archs", "tiny.yaml"), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    value = lambda v: {"value": v, "source": "test link"}  # noqa: E731
    data["system"] = {"chip_rows": 2, "chip_cols": 2, "io_chip": [0, 0],
                      "link": {"width_bits": value(8), "bandwidth_bits_per_cycle": value(16),
                               "latency_cycles": value(6), "pj_per_bit": value(3.0)}, **system}
    data["noc"]["packet_header_bits"] = 6
    data["noc"]["flit_bits"] = 40
    path = tmp_path / "tiny_system.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_a_system_maps_runs_and_reports_its_chips_and_links(tmp_path):
    arch = _tiny_system(tmp_path)
    mapped = qsnnsim("map", arch, "workloads/tiny_conv.npz")
    assert mapped.returncode == 0, mapped.stderr
    assert "system: 2x2 chips of 2x2 cores" in mapped.stdout and "  chip 3 (1, 1):" in mapped.stdout
    out = tmp_path / "run"
    proc = qsnnsim("run", arch, "workloads/tiny_conv.npz", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "golden-model check: every sample bit-exact" in proc.stdout
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert data["samples"][0]["action_totals"]["chip_link_bit"] > 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Chips and chip-to-chip links" in report
    with open(out / "tables" / "chip_links.csv", encoding="utf-8") as fh:
        links = list(csv.DictReader(fh))
    bits = sum(float(r[[k for k in r if k.startswith("bits")][0]]) for r in links)
    assert links and bits == data["samples"][0]["action_totals"]["chip_link_bit"]
    with open(out / "tables" / "chips.csv", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_a_chip_that_does_not_exist_is_one_line_exit_2(tmp_path):
    proc = qsnnsim("run", _tiny_system(tmp_path, io_chip=[0, 5]), "workloads/tiny_mlp.npz", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "system.io_chip" in proc.stderr and "does not exist" in proc.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_resnet18_at_224_runs_on_the_2x2_board_bit_exact(tmp_path):
    workload = tmp_path / "resnet18_imagenet.npz"
    subprocess.run([sys.executable, os.path.join(ROOT, "workloads", "make_resnet18.py"), "--out", str(workload)],
                   check=True, capture_output=True, timeout=600)
    out = tmp_path / "r18"
    proc = qsnnsim("run", "archs/board4.yaml", str(workload), "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "golden-model check: every sample bit-exact" in proc.stdout
    assert "1 pass(es)" in proc.stdout and "bottleneck: " in proc.stdout
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert data["samples"][0]["action_totals"]["chip_link_bit"] > 0
