"""The sweep folder, table and page (qsnnsim/sweep/store.py, table.py, report.py, worker.py)."""

from __future__ import annotations

import json
import os

import pytest

from qsnnsim.sweep.points import sweep_points
from qsnnsim.sweep.report import pareto_front, render_report
from qsnnsim.sweep.runner import sweep_index
from qsnnsim.sweep.spec import load_sweep
from qsnnsim.sweep.store import SweepFolder, SweepFolderError
from qsnnsim.sweep.table import build_rows, columns, to_csv, to_jsonl
from qsnnsim.sweep.worker import evaluate_point

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 2-variant sweep of tiny_mlp on archs/tiny.yaml; neuron_capacity 2 cannot hold an output channel."""
    folder = tmp_path_factory.mktemp("spec")
    path = folder / "s.yaml"
    path.write_text(f"format: qsnnsim-sweep\nversion: 1\narch: {ROOT}/archs/tiny.yaml\n"
                    f"workloads: [{ROOT}/workloads/tiny_conv.npz]\nsamples: 2\ncheck: first\n"
                    "vary:\n  core.neuron_capacity: [16, 2]\n")
    spec = load_sweep(str(path))
    points = sweep_points(spec)
    return spec, points, [evaluate_point(p) for p in points]


def test_a_point_record_is_small_plain_data_and_a_failure_keeps_its_line(sweep):
    _spec, points, records = sweep
    ok, failed = records
    assert ok["status"] == "ok" and ok["key"] == points[0].key and ok["error"] == ""
    assert ok["figures"]["n_samples"] == 2 and ok["figures"]["all_match"] is True
    assert ok["figures"]["latency_cycles_mean"] > 0 and "leakage" in ok["figures"]["energy_components_pj"]
    assert len(json.dumps(ok)) < 4000
    assert failed["status"] == "failed" and failed["figures"] is None
    assert "cannot be mapped" in failed["error"] and "\n" not in failed["error"]


def test_points_are_written_atomically_read_back_and_checked(tmp_path, sweep):
    _spec, points, records = sweep
    with SweepFolder(str(tmp_path / "out")) as folder:
        folder.write_point(points[0].key, json.dumps(records[0]))
        assert folder.read_point(points[0].key) == records[0]
        assert folder.read_point(points[1].key) is None
        # A record under the wrong name, of another format, or broken, is not trusted.
        folder.write_point(points[1].key, json.dumps(records[0]))
        assert folder.read_point(points[1].key) is None
        folder.write_point(points[1].key, '{"format": "qsnnsim-sweep-point", "version": 1, "key"')
        assert folder.read_point(points[1].key) is None
        tampered = {**records[0], "figures": {"latency_cycles_mean": "fast"}}
        folder.write_point(points[0].key, json.dumps(tampered))
        assert folder.read_point(points[0].key) is None
        with pytest.raises(ValueError):
            folder.write_point("../escape", "{}")
    assert sorted(os.listdir(tmp_path / "out" / "points")) == sorted(f"{p.key}.json" for p in points)


def test_one_sweep_per_folder_and_stale_temp_files_go(tmp_path):
    out = tmp_path / "out"
    with SweepFolder(str(out)):
        with pytest.raises(SweepFolderError, match=r"another qsnnsim sweep is writing into this folder"):
            SweepFolder(str(out)).open()
    (out / "points" / ".tmp-abc-x.json").write_text("half")
    (out / "mine.txt").write_text("a user's file")
    with SweepFolder(str(out)):
        pass
    assert os.listdir(out / "points") == [] and (out / "mine.txt").read_text() == "a user's file"


def test_links_in_the_folder_are_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, out / "points")
    with pytest.raises(SweepFolderError, match=r"points: is not a real folder \(a link\?\)"):
        SweepFolder(str(out)).open()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SweepFolderError, match=r"is a file, not a folder"):
        SweepFolder(str(tmp_path / "file")).open()
    with pytest.raises(SweepFolderError, match=r"not a sweep folder"):
        SweepFolder(str(tmp_path / "missing"), create=False).open()


def test_the_table_has_a_row_per_point_and_a_column_per_varied_key(sweep):
    spec, points, records = sweep
    index = sweep_index(spec, points)
    rows = build_rows(index, {p.key: r for p, r in zip(points, records, strict=True)})
    assert [r["core.neuron_capacity"] for r in rows] == [16, 2]
    assert [r["status"] for r in rows] == ["ok", "failed"]
    ok = rows[0]
    assert ok["sram_bits"] == ok["weight_sram_bits"] + ok["membrane_sram_bits"] + ok["acc_sram_bits"]
    assert ok["energy_per_inference_pj"] == pytest.approx(sum(ok[c] for c in columns([]) if c.startswith("energy_")
                                                              and c != "energy_per_inference_pj"))
    assert ok["top_components"].count("%") == 3 and ok["point_hash"] == points[0].key
    text = to_csv(rows, spec.varied_keys)
    lines = text.splitlines()
    assert lines[0].split(",")[:6] == ["variant", "workload", "core.neuron_capacity", "status", "error", "latency_cycles"]
    assert len(lines) == 3
    assert [json.loads(line)["status"] for line in to_jsonl(rows, spec.varied_keys).splitlines()] == ["ok", "failed"]
    # A missing record is a pending row with empty figures.
    pending = build_rows(index, {})
    assert [r["status"] for r in pending] == ["pending", "pending"] and pending[0]["latency_cycles"] is None


def test_csv_text_cells_never_start_a_formula():
    rows = [{"variant": 0, "workload": "=cmd()", "k": "-x", "status": "ok", "error": "@y", "latency_cycles": -1.5}]
    line = to_csv(rows, ["k"]).splitlines()[1]
    assert line.startswith("0,'=cmd(),'-x,ok,'@y,-1.5")


def test_pareto_front_keeps_the_points_nothing_beats():
    # (latency, energy, id): 1 is dominated by 0 (slower and costlier); 3 by 2.
    points = [(1.0, 5.0, 0), (2.0, 6.0, 1), (3.0, 2.0, 2), (4.0, 2.0, 3), (5.0, 1.0, 4)]
    assert pareto_front(points) == [0, 2, 4]
    assert pareto_front([]) == []


def test_the_page_escapes_text_and_shows_the_fronts(sweep):
    spec, points, records = sweep
    index = {**sweep_index(spec, points), "name": "<b>x</b>"}
    page = render_report(index, build_rows(index, {p.key: r for p, r in zip(points, records, strict=True)}))
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert page.count("data:image/png;base64,") == 3  # two fronts for one workload, one varied key
    assert "cannot be mapped" in page
