"""The README's headline commands print the numbers the issues promise."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _qsnnsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qsnnsim", *args], cwd=ROOT, capture_output=True, text=True)


def test_inspect_resnet19_headline_counts():
    out = _qsnnsim("inspect", "workloads/resnet19.npz")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "12,550,144 1-bit weights and 8,576 8-bit weights" in text
    assert "1,441,792 spiking neurons in 17 LIF populations" in text
    assert "dense synaptic operations per timestep: 2,285,245,440 (2.285 G" in text
    assert "(1.58 MB)" in text and "(50.28 MB" in text and "96.9% smaller" in text


def test_run_resnet19_end_to_end(tmp_path):
    out = _qsnnsim("run", "archs/core16.yaml", "workloads/resnet19.npz", "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "yes" in out.stdout  # the sample matches the golden model
    assert "energy per inference" in out.stdout
    for name in ("result.json", "report.md", "report.html"):
        assert (tmp_path / "r" / name).exists()
