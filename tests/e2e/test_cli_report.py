"""`qsnnsim run` writes a report by default and `qsnnsim report` re-renders it from the JSON alone;
a corrupt or foreign result file is one line on stderr, exit status 2 and nothing written. The
energies written to result.json are whole pJ that add up exactly."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest
from cli_helpers import run_qsnnsim

from qsnnsim.energy import ACTION_ENTRIES, COMPONENT_LABELS, COMPONENTS, LEAKAGE_ENTRIES, energy_from_result

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCH = os.path.join(ROOT, "archs", "core16.yaml")
WORKLOAD = os.path.join(ROOT, "workloads", "tiny_conv.npz")
N_SAMPLES = 3


qsnnsim = functools.partial(run_qsnnsim, timeout=300)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "core16-tiny_conv")
    proc = qsnnsim("run", ARCH, WORKLOAD, "--samples", str(N_SAMPLES), "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_run_writes_result_and_report(run_dir):
    out, stdout = run_dir
    for name in ("result.json", "report.md", "report.html"):
        assert os.path.isfile(os.path.join(out, name)), name
    figures = os.listdir(os.path.join(out, "figures"))
    assert all(f.endswith(".svg") for f in figures)
    assert {"energy_components.svg", "timeline_sample0.svg", "noc_links.svg"} <= set(figures)
    assert "timeline_sample1.svg" not in figures  # only the first sample is traced without --trace
    assert os.path.isfile(os.path.join(out, "tables", "energy_terms.csv"))
    assert "energy per inference: " in stdout and " uJ mean; " in stdout
    assert f"report: {os.path.join(out, 'report.html')}" in stdout
    with open(os.path.join(out, "result.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    assert len(data["energy"]["samples"]) == N_SAMPLES
    assert data["energy"]["run"]["total_pj"] == sum(s["total_pj"] for s in data["energy"]["samples"])


def _read_result(out: str) -> dict:
    with open(os.path.join(out, "result.json"), encoding="utf-8") as fh:
        return json.load(fh)


def test_written_energies_add_up_exactly_in_the_json(run_dir):
    data = _read_result(run_dir[0])
    samples, run = data["energy"]["samples"], data["energy"]["run"]
    assert len(samples) == N_SAMPLES
    component_of = {**{e: c for e, c in ACTION_ENTRIES.values()}, **{e: "leakage" for e in LEAKAGE_ENTRIES}}
    for b, n in [(s, 1) for s in samples] + [(run, N_SAMPLES)]:
        terms = {t["entry"]: t["energy_pj"] for t in b["terms"]}
        assert all(type(v) is int for v in [b["total_pj"], *b["components_pj"].values(), *terms.values()])
        assert sum(b["components_pj"].values()) == b["total_pj"]
        assert b["components_pj"] == {c: sum(v for e, v in terms.items() if component_of[e] == c)
                                      for c in b["components_pj"]}
        assert b["energy_per_inference_pj"] == b["total_pj"] / n
        assert b["pj_per_sop"] == b["total_pj"] / b["synaptic_ops"]
    for t in run["terms"]:
        assert t["energy_pj"] == sum(u["energy_pj"] for s in samples for u in s["terms"] if u["entry"] == t["entry"])
    assert run["components_pj"] == {c: sum(s["components_pj"][c] for s in samples) for c in run["components_pj"]}
    assert run["total_pj"] == sum(s["total_pj"] for s in samples)
    # Each sample's integers are its exact terms rounded (recomputed from the counters).
    exact = energy_from_result(data)
    for s, b in zip(samples, exact.samples):
        assert [t["energy_pj"] for t in s["terms"]] == [round(t.energy_pj) for t in b.terms]
    assert run["total_pj"] > 0


def test_the_component_table_has_a_total_row_its_pj_add_up_to(run_dir):
    run = _read_result(run_dir[0])["energy"]["run"]
    with open(os.path.join(run_dir[0], "report.md"), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| component | counters |"))
    heads = [h.strip() for h in lines[head].strip("|").split("|")]
    assert heads[-1] == "all samples (pJ)"
    rows = []
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], int(cells[-1].replace(",", ""))))
    assert [name for name, _ in rows] == [COMPONENT_LABELS[c] for c in COMPONENTS] + ["total"]
    assert sum(pj for _, pj in rows[:-1]) == rows[-1][1] == run["total_pj"]
    assert [pj for _, pj in rows[:-1]] == [run["components_pj"][c] for c in COMPONENTS]


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
    for name in os.listdir(os.path.join(out, "figures")):   # the figures too, byte for byte
        with open(os.path.join(out, "figures", name), "rb") as a, open(os.path.join(again, "figures", name), "rb") as b:
            assert a.read() == b.read(), name


# `qsnnsim run` (with its report) and `qsnnsim report` in one process, which then says which
# plotting library it loaded: the report's figures are SVG written by qsnnsim itself.
_NO_MATPLOTLIB = """
import sys
from qsnnsim.cli import main
assert main(["run", ARCH, WORKLOAD, "--out", OUT]) == 0
assert main(["report", OUT + "/result.json", "--out", OUT + "-again"]) == 0
print(sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "PIL")))
"""


def test_run_and_report_never_import_matplotlib(tmp_path):
    out = str(tmp_path / "run")
    code = f"ARCH, WORKLOAD, OUT = {ARCH!r}, {WORKLOAD!r}, {out!r}\n" + _NO_MATPLOTLIB
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert os.path.isfile(os.path.join(out + "-again", "figures", "noc_links.svg"))


def test_no_report_writes_the_result_only(tmp_path):
    out = str(tmp_path / "bare")
    proc = qsnnsim("run", ARCH, WORKLOAD, "--out", out, "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == [".qsnnsim-report-files", "result.json"]
    assert "report:" not in proc.stdout


CORRUPT = {
    "not-json": ("{not json", "is not valid JSON"),
    "foreign": ('{"format": "something-else", "version": 1}', "format: is not a qsnnsim-result file"),
    "a-list": ("[1, 2, 3]", "format: is not a qsnnsim-result file"),
    "other-version": ('{"format": "qsnnsim-result", "version": 9}', "version: is 9"),
    "truncated": (None, "is not valid JSON"),
    # A count edited to a float, or to a number too large for int64 (was an OverflowError traceback).
    "huge-count": (lambda d: d["counters"]["action_counts"][0][0][0].__setitem__(7, 1e308),
                   "counters: cannot be read (action_counts[0][0][0][7] is 1e+308, not an integer in "
                   "the int64 range)"),
    "int64-overflow": (lambda d: d["counters"]["action_counts"][0][0][0].__setitem__(7, 2**64),
                       "action_counts[0][0][0][7] is 18446744073709551616, not an integer in the int64 range"),
    "fractional-count": (lambda d: d["counters"]["unit_cycles"][0][0][0].__setitem__(1, 12.5),
                         "counters: cannot be read (unit_cycles[0][0][0][1] is 12.5, not an integer"),
    "edited-sample-total": (lambda d: d["samples"][1]["action_totals"].__setitem__("spike", 10**6),
                            "counters.action_counts (spike): is not the sum of the samples' action_totals"),
}


@pytest.fixture(scope="module")
def corrupt_runs(run_dir, tmp_path_factory):
    """Every corrupt case, re-rendered by concurrent subprocesses (interpreter startup dominates)."""
    folder = tmp_path_factory.mktemp("corrupt")
    with open(os.path.join(run_dir[0], "result.json"), encoding="utf-8") as fh:
        text = fh.read()
    procs = {}
    for name, (content, _message) in CORRUPT.items():
        path = folder / f"{name}.json"
        if content is None:
            content = text[:5000]
        elif callable(content):   # an edit of the run's result
            data = json.loads(text)
            content(data)
            content = json.dumps(data)
        path.write_text(content, encoding="utf-8")
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
    data["counters"]["action_counts"] = [[0]]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    proc = qsnnsim("report", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        (f"qsnnsim: error: {path}: counters.action_counts: has shape (1, 1), not (cores + 1, "
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
