"""`qsnnsim run` writes a report by default and `qsnnsim report` re-renders it from the JSON alone;
a corrupt or foreign result file is one line on stderr, exit status 2 and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCH = os.path.join(ROOT, "archs", "core16.yaml")
WORKLOAD = os.path.join(ROOT, "workloads", "tiny_mlp.npz")


def qsnnsim(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qsnnsim", *args], check=False, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "core16-tiny_mlp")
    proc = qsnnsim("run", ARCH, WORKLOAD, "--samples", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_run_writes_result_and_report(run_dir):
    out, stdout = run_dir
    for name in ("result.json", "report.md", "report.html"):
        assert os.path.isfile(os.path.join(out, name)), name
    pngs = [f for f in os.listdir(os.path.join(out, "figures")) if f.endswith(".png")]
    assert {"energy_components.png", "timeline_sample0.png", "timeline_sample1.png", "noc_links.png"} <= set(pngs)
    assert os.path.isfile(os.path.join(out, "tables", "energy_terms.csv"))
    assert "energy per inference: " in stdout and " uJ mean (min " in stdout
    assert f"report: {os.path.join(out, 'report.html')}" in stdout
    with open(os.path.join(out, "result.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    assert len(data["energy"]["samples"]) == 2
    assert data["energy"]["run"]["total_pj"] == pytest.approx(sum(s["total_pj"] for s in data["energy"]["samples"]))


def test_report_rerenders_the_same_report_from_the_json(run_dir, tmp_path):
    out, _ = run_dir
    again = str(tmp_path / "again")
    proc = qsnnsim("report", os.path.join(out, "result.json"), "--out", again)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"report: {os.path.join(again, 'report.html')}")
    for name in ("report.md", "tables/samples.csv", "tables/energy_terms.csv", "tables/layers.csv"):
        with open(os.path.join(out, name), encoding="utf-8") as a, open(os.path.join(again, name), encoding="utf-8") as b:
            assert a.read() == b.read(), name
    assert sorted(os.listdir(os.path.join(again, "figures"))) == sorted(os.listdir(os.path.join(out, "figures")))


def test_no_report_writes_the_result_only(tmp_path):
    out = str(tmp_path / "bare")
    proc = qsnnsim("run", ARCH, WORKLOAD, "--out", out, "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(out) == ["result.json"]
    assert "report:" not in proc.stdout


CORRUPT = {
    "not-json": ("{not json", "is not valid JSON"),
    "foreign": ('{"format": "something-else", "version": 1}', "format: is not a qsnnsim-result file"),
    "a-list": ("[1, 2, 3]", "format: is not a qsnnsim-result file"),
    "other-version": ('{"format": "qsnnsim-result", "version": 9}', "version: is 9"),
    "truncated": (None, "is not valid JSON"),
}


@pytest.fixture(scope="module")
def corrupt_runs(run_dir, tmp_path_factory):
    """Every corrupt case, re-rendered by concurrent subprocesses (interpreter startup dominates)."""
    folder = tmp_path_factory.mktemp("corrupt")
    with open(os.path.join(run_dir[0], "result.json"), encoding="utf-8") as fh:
        truncated = fh.read()[:5000]
    procs = {}
    for name, (content, _message) in CORRUPT.items():
        path = folder / f"{name}.json"
        path.write_text(truncated if content is None else content, encoding="utf-8")
        out = folder / f"{name}-out"
        procs[name] = (path, out, subprocess.Popen(
            [sys.executable, "-m", "qsnnsim", "report", str(path), "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
    done = {}
    for name, (path, out, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        done[name] = (path, out, proc.returncode, stdout, stderr)
    return done


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_or_foreign_result_is_one_line_and_exit_2(corrupt_runs, name):
    path, out, returncode, stdout, stderr = corrupt_runs[name]
    assert returncode == 2
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"qsnnsim: error: {path}: ") and CORRUPT[name][1] in lines[0]
    assert not out.exists()


def test_a_result_with_broken_counters_is_one_line_and_exit_2(run_dir, tmp_path):
    with open(os.path.join(run_dir[0], "result.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    data["samples"][1]["counters"]["action_counts"] = [[0]]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    proc = qsnnsim("report", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        (f"qsnnsim: error: {path}: samples[1].counters.action_counts: has shape (1, 1), not (cores + 1, "
         "populations, timesteps, actions) (re-run qsnnsim run)")]
    assert not (tmp_path / "out").exists()


def test_run_refuses_an_out_that_is_a_file(tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    proc = qsnnsim("run", ARCH, WORKLOAD, "--out", str(blocker))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"qsnnsim: error: {blocker}: is a file, not a folder (give --out a folder for result.json and the report)"]
    assert blocker.read_text() == "not a folder"
