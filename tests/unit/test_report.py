"""qsnnsim.report: the schema (columns), the rendered report (render, plots), the run summary."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import fields

import numpy as np
import pytest
from strategies.archs import arch_dict
from strategies.workloads import reference_workload

from qsnnsim.arch import ONE_CHIP, arch_from_dict
from qsnnsim.energy import (
    COMPONENTS,
    DYNAMIC_COMPONENTS,
    estimate_run_energy,
    run_energy_to_dict,
)
from qsnnsim.engine.simulate import simulate
from qsnnsim.errors import InputError, ResultError
from qsnnsim.footprint import compute_footprint
from qsnnsim.mapping import map_workload
from qsnnsim.report import columns as col
from qsnnsim.report import plots, render
from qsnnsim.report.files import run_to_dict
from qsnnsim.workload import WorkloadBuilder


def _arch():
    data = arch_dict()
    for i, name in enumerate(data["energy"]):
        data["energy"][name] = {"value": 0.1 * (i + 1), "source": f"test source {i}"}
    return arch_from_dict(data, "<test>")


@pytest.fixture(scope="module")
def tiny_run():
    wl = reference_workload()
    arch = _arch()
    mapping = map_workload(wl, arch)
    run = simulate(wl, arch, mapping, samples=[0, 1])
    footprint = compute_footprint(wl, mapping, arch)
    checks = [{"predicted": s.predicted, "readout_equal": True, "spikes_equal": True} for s in run.samples]
    energy = estimate_run_energy([s.counters for s in run.samples], arch)
    data = run_to_dict(run, footprint, checks, "ref.npz", "test.yaml", trace=True)
    data["energy"] = run_energy_to_dict(energy)
    return run, footprint, checks, energy, json.loads(json.dumps(data))


@pytest.fixture(scope="module")
def report_dir(tiny_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("rep") / "report")
    paths = render.build_report(tiny_run[4], out, "r.json")
    return out, paths


def test_headers_come_from_field_names():
    assert col.header("latency_us") == "latency (us)"
    assert col.header("energy_pj_per_sop") == "energy (pJ/SOP)"
    assert col.header("soma_busy_percent") == "soma busy (%)"
    assert col.header("throughput_per_s") == "throughput (1/s)"
    assert col.header("p95") == "p95"


def test_numbers_are_shown_with_four_significant_digits():
    assert col.fmt_sig(22413097.4) == "22,413,097"
    assert col.fmt_sig(0.00123456) == "0.001235"
    assert col.fmt_sig(1.5) == "1.500"
    assert col.fmt_sig(0) == "0"
    assert col.fmt_cell(None, "sig") == "-"
    assert col.fmt_cell(1234567, "count") == "1,234,567"
    assert col.fmt_cell(44.5, "count") == "44.50"


def test_every_column_declares_a_format_and_says_what_it_holds():
    for name, cls in col.TABLES.items():
        assert name.endswith(".csv")
        for f in fields(cls):
            assert f.metadata.get("fmt") in col._FORMATS, f"{cls.__name__}.{f.name}"
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"


def test_component_columns_follow_the_energy_model():
    assert col.names(col.SampleEnergyRow)[1:] == [f"{c}_uj" for c in COMPONENTS] + ["total_uj"]
    assert col.names(col.LayerRow)[-len(DYNAMIC_COMPONENTS) - 1:] == [f"{c}_uj" for c in DYNAMIC_COMPONENTS] + [
        "total_uj"]
    assert col.names(col.TimestepRow)[3:] == [f"{c}_uj" for c in DYNAMIC_COMPONENTS] + ["total_uj"]


def test_a_report_has_documents_figures_and_tables(report_dir):
    out, paths = report_dir
    names = {os.path.relpath(p, out) for p in paths}
    assert paths[0] == os.path.join(out, "report.html")
    assert {"report.md", "report.html", "figures/energy_components.svg", "figures/energy_layers.svg",
            "figures/core_utilisation.svg", "figures/noc_links.svg", "figures/firing_rates.svg",
            "figures/model_size.svg", "figures/paper_estimate.svg", "figures/timeline_sample0.svg",
            "figures/timeline_sample1.svg"} <= names
    assert {f"tables/{t}" for t in col.TABLES if t not in col.SYSTEM_TABLES} <= names  # one chip
    figures = [p for p in paths if p.startswith(os.path.join(out, "figures"))]
    assert figures and all(p.endswith(".svg") for p in figures)
    for p in figures:
        assert ET.parse(p).getroot().tag == "{http://www.w3.org/2000/svg}svg", p


def test_every_table_reads_back_into_its_schema(tiny_run, report_dir):
    out, _ = report_dir
    model = render.summarise(tiny_run[4], "r.json")
    for name, cls in col.TABLES.items():
        if name in col.SYSTEM_TABLES:   # a one-chip run has no chip tables
            assert name not in model.tables and not os.path.exists(os.path.join(out, "tables", name))
            continue
        assert col.read_csv(os.path.join(out, "tables", name), cls) == model.tables[name], name


def test_a_csv_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("sample,energy\n0,1\n")
    with pytest.raises(ValueError, match="is not SampleRow's columns"):
        col.read_csv(str(path), col.SampleRow)


def test_two_samples_show_each_sample_and_the_statistics(report_dir):
    with open(os.path.join(report_dir[0], "report.md"), encoding="utf-8") as fh:
        md = fh.read()
    assert "| quantity | unit | mean | min | max | p95 |" in md
    assert re.search(r"^\| 0 \| ", md, re.MULTILINE) and re.search(r"^\| 1 \| ", md, re.MULTILINE)
    assert "| energy per inference | uJ |" in md
    assert "paper-style: SOPs x E_AC + MACs x E_MAC" in md
    for figure in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert os.path.exists(os.path.join(report_dir[0], figure)), figure
    for i in range(len(_arch().energy.entries())):
        assert f"test source {i} |" in md


def test_the_html_page_opens_offline(report_dir):
    with open(os.path.join(report_dir[0], "report.html"), encoding="utf-8") as fh:
        page = fh.read()
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page)) and "<script" not in page
    assert len(sources) == len(os.listdir(os.path.join(report_dir[0], "figures")))


def test_energy_table_rows_are_count_times_value(tiny_run):
    rows = render.summarise(tiny_run[4], "r.json").tables["energy_terms.csv"]
    assert len(rows) == len(_arch().energy.entries()) + 1  # and the chip-to-chip link's pJ/bit
    for r in rows:
        assert math.isclose(r.energy_pj, r.quantity * r.value, rel_tol=1e-12, abs_tol=1e-12), r.entry
        assert r.source.startswith("test source") or (r.entry == "chip_link_pj_per_bit" and r.source == ONE_CHIP)
    assert math.isclose(sum(r.share_percent for r in rows), 100.0)


def _listing(folder):
    return sorted(os.listdir(folder))


def test_a_broken_result_writes_nothing_and_keeps_the_old_report(tiny_run, tmp_path):
    out = str(tmp_path / "rep")
    render.build_report(tiny_run[4], out, "r.json")
    with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
        before = fh.read()
    broken = copy.deepcopy(tiny_run[4])
    del broken["counters"]["unit_cycles"]
    with pytest.raises(ResultError, match=r"r\.json: counters: cannot be read"):
        render.build_report(broken, out, "r.json")
    with pytest.raises(ResultError, match="never-created"):
        render.build_report({**tiny_run[4], "samples": "x"}, str(tmp_path / "never-created"), "never-created")
    with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
        assert fh.read() == before
    assert _listing(tmp_path) == ["rep"]


def test_a_failure_while_drawing_leaves_the_old_report(tiny_run, tmp_path, monkeypatch):
    out = str(tmp_path / "rep")
    render.build_report(tiny_run[4], out, "r.json")
    figures = _listing(os.path.join(out, "figures"))

    def broken_plot(*args, **kwargs):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(plots, "plot_links", broken_plot)
    with pytest.raises(RuntimeError, match="plotting failed"):
        render.build_report(tiny_run[4], out, "r.json")
    assert _listing(os.path.join(out, "figures")) == figures
    assert _listing(tmp_path) == ["rep"]


def test_a_new_report_replaces_the_old_figures(tiny_run, tmp_path):
    out = str(tmp_path / "rep")
    os.makedirs(out)
    with open(os.path.join(out, "result.json"), "w", encoding="utf-8") as fh:
        fh.write("{}")
    render.build_report(tiny_run[4], out, "r.json")
    assert "timeline_sample1.svg" in _listing(os.path.join(out, "figures"))
    run, footprint, checks = tiny_run[0], tiny_run[1], tiny_run[2]
    one = json.loads(json.dumps(run_to_dict(dataclasses.replace(run, samples=run.samples[:1]), footprint,
                                            checks[:1], trace=True)))
    render.build_report(one, out, "r.json")
    assert "timeline_sample1.svg" not in _listing(os.path.join(out, "figures"))
    assert _listing(out) == [".qsnnsim-report-files", "figures", "report.html", "report.md", "result.json", "tables"]


def test_a_report_never_deletes_files_it_did_not_write(tiny_run, tmp_path):
    out = tmp_path / "rep"
    (out / "figures").mkdir(parents=True)
    (out / "tables").mkdir()
    (out / "figures" / "my_paper_plot.png").write_text("mine")
    (out / "tables" / "notes.csv").write_text("mine")
    render.build_report(tiny_run[4], str(out), "r.json")
    render.build_report(tiny_run[4], str(out), "r.json")
    assert (out / "figures" / "my_paper_plot.png").read_text() == "mine"
    assert (out / "tables" / "notes.csv").read_text() == "mine"


def test_a_file_in_the_way_is_an_input_error(tiny_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        render.build_report(tiny_run[4], str(blocker), "r.json")


@pytest.mark.parametrize("edit,field", [
    (lambda d: d["mapping"]["slices"][0].update(core=99), r"mapping\.slices\[0\]\.core"),
    (lambda d: d["mapping"]["slices"][0].update(population="nope"), r"mapping\.slices\[0\]\.population"),
    (lambda d: d["samples"][0]["trace"].update(fires=[[0, 0, "a", 1]]), r"samples\[0\]\.trace\.fires\[0\]"),
    (lambda d: d.update(link_flits=[[0, 77, 3]]), r"r\.json: link_flits"),
    (lambda d: d["footprint"].pop("weight_bits"), r"footprint\.weight_bits: is missing"),
    (lambda d: d["workload"]["populations"][0].update(name=3), r"workload\.populations\[0\]\.name: must be a str"),
    (lambda d: d["counters"].update(population_names=["a"]), r"r\.json: counters"),
])
def test_inconsistent_results_name_the_field(tiny_run, edit, field):
    data = copy.deepcopy(tiny_run[4])
    edit(data)
    with pytest.raises(ResultError, match=field):
        render.summarise(data, "r.json")


def test_whiskers_tolerate_a_mean_an_ulp_outside_min_max(tmp_path):
    # The mean of equal floats can differ from them in the last bit; the figure must still draw.
    x = 0.1 + 0.2
    above, below = math.nextafter(x, 1.0), math.nextafter(x, 0.0)
    path = plots.plot_components(["noc"], ["NoC"], [x], [above], [below], [100.0], str(tmp_path / "c.svg"), "t")
    assert os.path.getsize(path) > 0


def test_repeated_samples_render_once_each(tiny_run, tmp_path):
    run, footprint, checks = tiny_run[0], tiny_run[1], tiny_run[2]
    again = dataclasses.replace(run, samples=(run.samples[0],) * 3)
    same = json.loads(json.dumps(run_to_dict(again, footprint, [checks[0]] * 3, trace=True)))
    paths = render.build_report(same, str(tmp_path / "rep"), "r.json")
    assert [os.path.basename(p) for p in paths if "timeline" in p] == ["timeline_sample0.svg"]


def _svg_size(path: str) -> tuple[int, int]:
    """The figure's size in px; its viewBox must say the same (a fixed-size drawing)."""
    root = ET.parse(path).getroot()
    width, height = int(root.get("width")), int(root.get("height"))
    assert root.get("viewBox") == f"0 0 {width} {height}", path
    return width, height


def test_every_figure_of_a_128_core_report_fits_on_a_screen(tmp_path):
    # An 8x16 mesh of 8-neuron cores: two 64-neuron layers spread over all 128 cores.
    data = arch_dict(chip={"clock_mhz": 100.0, "mesh_rows": 8, "mesh_cols": 16})
    data["core"]["neuron_capacity"] = 8
    data["noc"]["packet_header_bits"] = 8
    arch = arch_from_dict(data, "<test>")
    rng = np.random.default_rng(3)
    b = WorkloadBuilder("wide", timesteps=2, input_kind="spikes")
    b.input("in", (32,))
    b.lif("h0", (64,), threshold=1)
    b.linear("in", "h0", rng.choice([-1, 1], size=(64, 32)), name="fc0")
    b.lif("h1", (64,), threshold=1)
    b.linear("h0", "h1", rng.choice([-1, 1], size=(64, 64)), name="fc1")
    b.readout("out", (3,))
    b.linear("h1", "out", rng.choice([-1, 1], size=(3, 64)), name="fc2")
    b.set_samples(rng.integers(0, 2, size=(1, 2, 32)).astype(np.uint8))
    wl = b.build()
    mapping = map_workload(wl, arch)
    assert len({s.core for s in mapping.slices}) == 128
    run = simulate(wl, arch, mapping, samples=[0])
    checks = [{"predicted": s.predicted, "readout_equal": True, "spikes_equal": True} for s in run.samples]
    result = run_to_dict(run, compute_footprint(wl, mapping, arch), checks, "w.npz", "a.yaml")
    result["energy"] = run_energy_to_dict(estimate_run_energy([s.counters for s in run.samples], arch))
    paths = render.build_report(json.loads(json.dumps(result)), str(tmp_path / "rep"), "r.json")
    figures = [p for p in paths if p.endswith(".svg")]
    assert len(figures) == 10  # with the NoC waits of the traced sample
    for path in figures:
        width, height = _svg_size(path)
        assert width <= 2400 and height <= 2000, (os.path.basename(path), width, height)


def test_mesh_figures_of_4096_cores_and_timelines_of_many_layers_stay_small(tmp_path):
    rows = cols = 64
    rng = np.random.default_rng(0)
    busy = rng.uniform(0, 100, size=(rows, cols))
    links = [(c, c + 1, 10.0 * c) for c in range(cols - 1)]
    cores = list(range(rows * cols))
    percent = [float(v) for v in busy.ravel()]
    populations = [f"layer{k}" for k in range(18)]
    spans = [[(0.1 * k, 0.1 * k + 0.05, k % 18)] for k in range(128)]
    paths = [
        plots.plot_utilisation(busy, busy, str(tmp_path / "u.svg")),
        plots.plot_links(rows, cols, links, busy.ravel(), str(tmp_path / "l.svg"), "t"),
        plots.plot_sram([(0, cores, percent, percent, percent)], str(tmp_path / "s.svg"), (rows, cols)),
        plots.plot_sram([(p, cores, percent, percent, percent) for p in range(12)], str(tmp_path / "p.svg"),
                        (rows, cols)),
        plots.plot_timeline([f"core {c}" for c in range(128)], spans, spans, populations, 13.0,
                            str(tmp_path / "t.svg"), "t"),
    ]
    for path in paths:
        width, height = _svg_size(path)
        # A 4096-cell map is one embedded raster, not 4096 elements: the files stay small.
        assert os.path.getsize(path) < 300_000, (os.path.basename(path), os.path.getsize(path))
        assert width <= 2400 and height <= 2000, (os.path.basename(path), width, height)


#: A population name that would be markup, an entity and an attribute break if copied raw.
HOSTILE = "<script>&\"'"


def _two_layer_report_input(name: str, seed: int = 1) -> dict:
    """The result object of a tiny run of in -> ``name`` (lif) -> out on the test arch."""
    arch = _arch()
    rng = np.random.default_rng(seed)
    b = WorkloadBuilder(f"wl {name}", timesteps=2, input_kind="spikes")
    b.input("in", (16,))
    b.lif(name, (16,), threshold=1)
    b.linear("in", name, rng.choice([-1, 1], size=(16, 16)), name="fc0")
    b.readout("out", (3,))
    b.linear(name, "out", rng.choice([-1, 1], size=(3, 16)), name="fc1")
    b.set_samples(rng.integers(0, 2, size=(1, 2, 16)).astype(np.uint8))
    wl = b.build()
    mapping = map_workload(wl, arch)
    run = simulate(wl, arch, mapping, samples=[0])
    checks = [{"predicted": s.predicted, "readout_equal": True, "spikes_equal": True} for s in run.samples]
    result = run_to_dict(run, compute_footprint(wl, mapping, arch), checks, "w.npz", "a.yaml", trace=True)
    result["energy"] = run_energy_to_dict(estimate_run_energy([s.counters for s in run.samples], arch))
    return json.loads(json.dumps(result))


def test_hostile_names_are_escaped_in_every_figure(tmp_path):
    paths = render.build_report(_two_layer_report_input(HOSTILE), str(tmp_path / "rep"), "r.json")
    shown = 0
    for path in (p for p in paths if p.endswith(".svg")):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        assert "<script" not in text, os.path.basename(path)
        root = ET.fromstring(text)   # well-formed whatever the name holds
        shown += any(HOSTILE in "".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert shown >= 3   # energy by layer, firing rates and the timeline's legend name it, as typed
    with open(os.path.join(tmp_path, "rep", "report.html"), encoding="utf-8") as fh:
        assert "<script" not in fh.read()


def test_figures_are_the_same_bytes_every_time(tmp_path):
    data = _two_layer_report_input("layer one")
    first = render.build_report(data, str(tmp_path / "a"), "r.json")
    second = render.build_report(data, str(tmp_path / "b"), "r.json")
    figures = [os.path.relpath(p, tmp_path / "a") for p in first if p.endswith(".svg")]
    assert len(figures) == 10
    for rel in figures:
        with open(tmp_path / "a" / rel, "rb") as fa, open(tmp_path / "b" / rel, "rb") as fb:
            assert fa.read() == fb.read(), rel
    assert [os.path.relpath(p, tmp_path / "b") for p in second if p.endswith(".svg")] == figures


def test_small_values_keep_two_significant_digits_and_counts_are_compact():
    assert [plots._pct(v) for v in (0.0, 0.0013, 0.13, 7.44, 44.4, 100.0)] == \
        ["0%", "0.0013%", "0.13%", "7.4%", "44%", "100%"]
    assert [plots._compact(v) for v in (0, 950, 6126, 109_334, 999_700, 1_234_567)] == \
        ["0", "950", "6.1k", "109k", "1M", "1.2M"]
