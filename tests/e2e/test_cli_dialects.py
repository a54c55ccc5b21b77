"""Neuron dialects, delays and recurrence from the command line (DESIGN §2b; issue 13).

The shipped dialect workloads run on their arches with a report, and every way a user can
get a dialect wrong is one line on stderr with exit status 2: a dialect the arch's cores do
not implement, a cycle without a delay, a parameter out of range.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "qsnnsim", *args], capture_output=True, check=False, text=True,
                          cwd=cwd, timeout=300)


def _one_line_error(res, *fragments):
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("arch, workload, dialect", [
    ("archs/xylo_like.yaml", "workloads/xylo_recurrent.npz", "xylo_lif"),
    ("archs/loihi_like.yaml", "workloads/loihi_conv.npz", "loihi_cuba"),
])
def test_a_dialect_workload_runs_on_its_arch_with_a_report(tmp_path, arch, workload, dialect):
    out = tmp_path / "out"
    res = run("run", arch, workload, "--samples", "4", "--check", "all", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "bit-exact" in res.stdout or "match" in res.stdout, res.stdout
    result = json.loads((out / "result.json").read_text())
    dialects = {p.get("dialect") for p in result["workload"]["populations"]}
    assert dialect in dialects
    assert (out / "report.md").exists() and (out / "report.html").exists()


def test_inspect_shows_dialects_and_delays():
    res = run("inspect", "workloads/xylo_recurrent.npz")
    assert res.returncode == 0, res.stderr
    assert "xylo_lif" in res.stdout
    assert "delay 1" in res.stdout


def test_a_dialect_the_core_does_not_implement_is_one_line(tmp_path):
    res = run("run", "archs/core16.yaml", "workloads/xylo_recurrent.npz", "--no-report", "--out", str(tmp_path / "o"))
    _one_line_error(res, "core.dialects", "xylo_lif", "add xylo_lif to core.dialects")


def _rewrite_meta(src: str, dst: str, edit) -> None:
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    edit(meta, arrays)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(dst, **arrays)


def test_a_cycle_without_a_delay_is_one_line(tmp_path):
    bad = tmp_path / "cycle.npz"

    def edit(meta, arrays):
        for proj in meta["projections"]:
            if proj["name"] == "recurrent":
                proj["delay"] = 0

    _rewrite_meta(os.path.join(ROOT, "workloads", "xylo_recurrent.npz"), str(bad), edit)
    res = run("inspect", str(bad))
    _one_line_error(res, "projections.recurrent", "closes the cycle hidden -> hidden with no delay",
                    "delay >= 1")


def test_a_parameter_out_of_range_is_one_line(tmp_path):
    bad = tmp_path / "range.npz"

    def edit(meta, arrays):
        hidden = next(p for p in meta["populations"] if p["name"] == "hidden")
        arrays[hidden["params"]["dash_mem"]] = np.full_like(arrays[hidden["params"]["dash_mem"]], 16)

    _rewrite_meta(os.path.join(ROOT, "workloads", "xylo_recurrent.npz"), str(bad), edit)
    res = run("inspect", str(bad))
    _one_line_error(res, "populations.hidden.params.dash_mem", "values must be in 0..15")
