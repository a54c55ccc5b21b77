"""`qsnnsim sweep` end to end: identical tables from every executor, resumption after SIGKILL, bad files.

The sweep: 72 variants of archs/core16.yaml (neuron capacity, synapse lanes, router latency,
neuron lanes, mapping strategy) x tiny_mlp and tiny_conv = 144 points; neuron capacity 4
cannot hold a tiny_conv channel, so 24 points fail with their one-line error and the sweep
goes on.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_helpers import run_qsnnsim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEP = f"""format: qsnnsim-sweep
version: 1
name: e2e
arch: {ROOT}/archs/core16.yaml
workloads: [{ROOT}/workloads/tiny_mlp.npz, {ROOT}/workloads/tiny_conv.npz]
samples: 2
check: first
vary:
  core.neuron_capacity: [4, 8, 1024]
  core.synapse_lanes: [1, 4, 16]
  noc.router_latency_cycles: [1, 3]
  core.neuron_lanes: [1, 8]
  strategy: [balanced, packed]
"""
N_POINTS = 144


qsnnsim = functools.partial(run_qsnnsim, timeout=300)


def table(out) -> str:
    with open(os.path.join(out, "sweep.csv"), encoding="utf-8") as fh:
        return fh.read()


def point_files(out) -> dict:
    folder = os.path.join(out, "points")
    if not os.path.isdir(folder):
        return {}
    found = {}
    for name in os.listdir(folder):
        if name.endswith(".json") and not name.startswith("."):
            st = os.stat(os.path.join(folder, name))
            found[name] = (st.st_ino, st.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "sweep.yaml").write_text(SWEEP)
    return folder


@pytest.fixture(scope="module")
def serial_table(workdir):
    proc = qsnnsim("sweep", "sweep.yaml", "--out", "serial", "--executor", "serial", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert f"sweep: {N_POINTS} points ({N_POINTS} run now, 0 found done; 120 ok, 24 failed, 0 error)" in proc.stdout
    return table(workdir / "serial")


def test_the_serial_table_has_every_point_and_the_failures(workdir, serial_table):
    lines = serial_table.splitlines()
    assert len(lines) == N_POINTS + 1
    header = lines[0].split(",")
    for key in ("core.neuron_capacity", "core.synapse_lanes", "noc.router_latency_cycles", "core.neuron_lanes",
                "strategy", "latency_cycles", "latency_us", "energy_per_inference_pj", "top_components",
                "weight_sram_bits", "membrane_sram_bits", "acc_sram_bits", "accuracy", "n_passes", "point_hash"):
        assert key in header
    failed = [line for line in lines[1:] if ",failed," in line]
    assert len(failed) == 24 and all("tiny_conv.npz,4," in line and "cannot be mapped" in line for line in failed)
    assert len(os.listdir(workdir / "serial" / "points")) == N_POINTS
    html = (workdir / "serial" / "report.html").read_text()
    assert "Pareto front: energy vs latency" in html and "Pareto front: energy vs SRAM" in html


def test_processes_give_the_same_table(workdir, serial_table):
    proc = qsnnsim("sweep", "sweep.yaml", "--out", "processes", "--executor", "processes", "--workers", "2",
                   cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert table(workdir / "processes") == serial_table
    with open(workdir / "processes" / "sweep.jsonl") as a, open(workdir / "serial" / "sweep.jsonl") as b:
        assert a.read() == b.read()


def test_a_dask_local_cluster_gives_the_same_table(workdir, serial_table):
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        proc = qsnnsim("sweep", "sweep.yaml", "--out", "dask", "--executor", "dask",
                       "--scheduler", cluster.scheduler_address, cwd=workdir)
        assert proc.returncode == 0, proc.stderr
        # Every point went through this cluster's scheduler to its workers.
        assert cluster.scheduler.task_prefixes["qsnnsim-point"].state_counts["memory"] == N_POINTS
    assert table(workdir / "dask") == serial_table


def test_a_sweep_killed_midway_resumes_without_rerunning_finished_points(workdir, serial_table):
    out = workdir / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "qsnnsim", "sweep", "sweep.yaml", "--out", "killed",
                             "--executor", "serial"], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while len(point_files(out)) < 20:
            assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no points written in 120 s"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = point_files(out)
    assert 20 <= len(done) < N_POINTS and not (out / "sweep.csv").exists()
    again = qsnnsim("sweep", "sweep.yaml", "--out", "killed", "--executor", "processes", "--workers", "2",
                    cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert f"({N_POINTS - len(done)} run now, {len(done)} found done;" in again.stdout
    after = point_files(out)
    assert {name: after[name] for name in done} == done  # same inode and mtime: not rewritten
    assert len(after) == N_POINTS and not [n for n in os.listdir(out / "points") if n.startswith(".")]
    assert table(out) == serial_table


def test_report_re_renders_the_same_table(workdir, serial_table):
    os.unlink(workdir / "serial" / "sweep.csv")
    proc = qsnnsim("sweep", "--report", "serial", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert f"sweep: {N_POINTS} points (120 ok, 24 failed, 0 error, 0 pending)" in proc.stdout
    assert table(workdir / "serial") == serial_table


BAD = [
    ("  core.synapse_lane: [1, 2]\n", r"vary.core.synapse_lane: is not a key of the arch or a run option "
     r"(did you mean 'core.synapse_lanes'?)"),
    ("  core.synapse_lanes: []\n", "vary.core.synapse_lanes: is an empty list (give at least one value)"),
    ("  core.synapse_lanes: [2, -1]\n", "vary.core.synapse_lanes: the point core.synapse_lanes=-1 is not a valid "
     "arch: core.synapse_lanes: must be >= 1 (got -1)"),
    ("  core.synapse_lanes: [2]\nsamplez: 3\n", "samplez: unknown key at the top level (did you mean 'samples'?)"),
]


@pytest.mark.parametrize("vary,expected", BAD)
def test_a_bad_sweep_file_is_one_line_exit_2_and_nothing_written(tmp_path, vary, expected):
    text = SWEEP.split("vary:\n")[0] + "vary:\n" + vary
    (tmp_path / "bad.yaml").write_text(text)
    proc = qsnnsim("sweep", "bad.yaml", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"qsnnsim: error: bad.yaml: {expected}"), lines
    assert proc.stdout == "" and sorted(os.listdir(tmp_path)) == ["bad.yaml"]


def test_report_of_a_folder_that_is_not_a_sweep(tmp_path):
    proc = qsnnsim("sweep", "--report", "nothing", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "nothing: is not a sweep folder" in proc.stderr and not (tmp_path / "nothing").exists()
