"""The timing options as a user meets them (docs/timing-options.md): an arch file with
round-robin arbitration, ready-first somas and finite router buffers runs from the CLI; the run
prints its bottleneck line; the report shows the critical path, the per-link waits and stalls and
the router buffer peaks; `--trace packets` keeps every packet's cycles; a misspelt option is one
line, exit 2."""

from __future__ import annotations

import json
import os

import yaml
from cli_helpers import run_qsnnsim as qsnnsim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _arch_with(tmp_path, **noc_core) -> str:
    with open(os.path.join(ROOT, "archs", "tiny.yaml"), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for key, value in noc_core.items():
        section, name = key.split("__")
        data[section][name] = value
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_a_finite_round_robin_chip_runs_and_reports_what_bounds_it(tmp_path):
    arch = _arch_with(tmp_path, noc__arbitration="round_robin", noc__router_buffers="finite",
                      noc__buffer_depth_flits=2, core__soma_order="ready")
    out = tmp_path / "run"
    proc = qsnnsim("run", arch, "workloads/tiny_conv.npz", "--out", str(out), "--trace", "packets")
    assert proc.returncode == 0, proc.stderr
    assert "bottleneck: " in proc.stdout and "critical path" in proc.stdout
    assert "golden-model check: every sample bit-exact" in proc.stdout
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert data["arch"]["noc"]["router_buffers"] == "finite" and data["options"]["trace"] == "packets"
    sample = data["samples"][0]
    assert max(sample["noc_buffer_peak_flits"]) <= 2
    assert sum(c for _, c in sample["critical_path"]["units"]) == sample["latency_cycles"]
    trace = sample["trace"]
    assert any(v > 0 for v in trace["link_stall_cycles"].values())
    train = trace["trains"][0]
    assert len(train[7]) >= 1 and train[7][-1] == [train[5], train[6]]  # F packets, the marker last
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("What bounds the latency", "NoC waits, back-pressure and buffers"):
        assert heading in report
    assert (out / "tables" / "noc_links.csv").exists() and (out / "tables" / "critical_path.csv").exists()


def test_a_misspelt_option_value_is_one_line_exit_2(tmp_path):
    arch = _arch_with(tmp_path, noc__arbitration="roundrobin")
    proc = qsnnsim("run", arch, "workloads/tiny_mlp.npz", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "noc.arbitration" in proc.stderr
    assert "round_robin" in proc.stderr
