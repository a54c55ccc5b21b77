"""`qsnnsim run` as a user meets it: a short summary for many samples, a small result, the output
folder contained, a misspelt flag answered with the nearest one, examples found by name."""

from __future__ import annotations

import json
import os

import pytest
from cli_helpers import run_qsnnsim as qsnnsim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_all_digits_samples_give_a_short_summary_and_a_small_result(tmp_path):
    out = tmp_path / "digits"
    proc = qsnnsim("run", "archs/core16.yaml", "workloads/digits_conv_m4.npz", "--samples", "all", "--check", "all",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) < 60 and max(len(line) for line in lines if not line.startswith(("result:", "report:"))) <= 100
    assert "accuracy: 446/450 = 99.11%" in proc.stdout
    assert "golden-model check: every sample bit-exact" in proc.stdout
    assert os.path.getsize(out / "result.json") < 5 * 10**6
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Accuracy: 446/450 = 99.11%" in report
    assert report.count("\n| 449 |") == 0  # no row per sample in the page...
    assert len((out / "tables" / "samples.csv").read_text().splitlines()) == 451  # ...they are in the CSV


def test_a_planted_report_folder_is_refused_and_nothing_outside_changes(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "important.txt").write_text("keep me")
    theirs = tmp_path / "their"
    first = qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--out", str(theirs), "--no-report")
    assert first.returncode == 0, first.stderr
    os.symlink(elsewhere, theirs / "figures")
    (theirs / ".qsnnsim-report-files").write_text("report.md\nfigures/important.txt\n../elsewhere/important.txt\n")
    for args in (("report", str(theirs / "result.json")),
                 ("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--out", str(theirs))):
        proc = qsnnsim(*args)
        assert proc.returncode == 2
        assert proc.stderr.splitlines() == [
            f"qsnnsim: error: {theirs}: figures: is a symbolic link; qsnnsim writes its figures and tables only "
            "into real folders inside the output folder (remove it or give --out another folder)"]
    assert os.listdir(elsewhere) == ["important.txt"] and (elsewhere / "important.txt").read_text() == "keep me"


def test_report_accepts_a_run_folder(tmp_path):
    out = tmp_path / "run"
    assert qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--out", str(out), "--no-report").returncode == 0
    proc = qsnnsim("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"report: {out / 'report.html'}")
    manifest = (out / ".qsnnsim-report-files").read_text().splitlines()
    run_id = json.loads((out / "result.json").read_text())["run_id"]
    assert manifest[0] == f"# qsnnsim output files, run {run_id}"


def test_a_misspelt_flag_gets_the_subcommand_usage_and_the_nearest_flag():
    proc = qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--sample", "2")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: qsnnsim run ")
    assert proc.stderr.splitlines()[-1] == ("qsnnsim run: error: unrecognized arguments: --sample 2 "
                                            "(did you mean --samples?)")
    abbreviated = qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--no-rep")
    assert abbreviated.returncode == 2 and "(did you mean --no-report?)" in abbreviated.stderr


def test_examples_are_found_by_name_from_any_folder(tmp_path):
    listing = qsnnsim("examples", cwd=str(tmp_path))
    assert listing.returncode == 0 and "archs/truenorth_like.yaml" in listing.stdout
    proc = qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--out", str(tmp_path / "o"),
                   "--no-report", "--check", "first", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "using the shipped example" in proc.stderr
    assert "golden-model check: every sample bit-exact" in proc.stdout


def test_the_default_checks_the_first_sample_and_says_so(tmp_path):
    proc = qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--samples", "3", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "golden-model check: 1 of 3 samples (--check first) bit-exact" in proc.stdout
    report = (tmp_path / "o" / "report.md").read_text(encoding="utf-8")
    assert "Golden-model check: 1 of 3 sample(s) checked, every one bit-exact (`--check first`" in report


def test_check_none_says_nothing_was_checked(tmp_path):
    proc = qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_mlp.npz", "--samples", "2", "--check", "none",
                   "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "golden-model check: not run (--check none)" in proc.stdout
    assert "Golden-model check: not run" in (tmp_path / "o" / "report.md").read_text(encoding="utf-8")


def test_a_chunked_run_on_processes_or_dask_is_byte_identical_to_a_serial_run(tmp_path):
    # One arch over a whole sample set, in chunks on 2 spawned processes and on a real Dask
    # LocalCluster (scheduler and 2 worker processes started by qsnnsim): the same result.json.
    pytest.importorskip("distributed")
    blobs = {}
    for executor in ("serial", "processes", "dask"):
        out = tmp_path / executor
        proc = qsnnsim("run", "archs/tiny.yaml", "workloads/tiny_conv.npz", "--samples", "all", "--check", "all",
                       "--executor", executor, "--workers", "2", "--out", str(out), "--no-report")
        assert proc.returncode == 0, proc.stderr
        blobs[executor] = (out / "result.json").read_bytes()
        assert "golden-model check: every sample bit-exact" in proc.stdout
    assert blobs["processes"] == blobs["serial"] and blobs["dask"] == blobs["serial"]
