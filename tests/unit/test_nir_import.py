"""NIR import (qsnnsim/importers/, DESIGN §10): node kinds, composition, quantisation, errors.

Small graphs built with the nir package: each imports into a valid workload whose golden
model agrees with the float reference (nir_float) within the quantisation the report states;
composed chains (pool and convolution) equal the chain itself; every way to get an import
wrong is one NirImportError line naming the node or field.
"""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnnsim.errors import NirImportError  # noqa: E402
from qsnnsim.golden import run_golden  # noqa: E402
from qsnnsim.importers import nir_chains, nir_float  # noqa: E402
from qsnnsim.importers.nir import ImportOptions, import_nir, quantise  # noqa: E402
from qsnnsim.importers.nir_graph import flatten  # noqa: E402

DT = 1e-4


def lif(shape, beta=0.9, threshold=1.0):
    tau = DT / (1 - beta)
    return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, tau / DT), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, threshold))


def graph(nodes: dict, edges: list, type_check: bool = True):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=type_check)


def mlp(rng, n_in=12, n_h=20, n_out=4, end="lif"):
    out = {"lif": lif(n_out), "li": nir.LI(tau=np.full(n_out, DT / 0.1), r=np.full(n_out, 10.0), v_leak=np.zeros(n_out)),
           "affine": None}[end]
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc1": nir.Affine(weight=rng.normal(0, 0.6, (n_h, n_in)), bias=rng.normal(0, 0.05, n_h)),
             "lif1": lif(n_h),
             "fc2": nir.Affine(weight=rng.normal(0, 0.6, (n_out, n_h)), bias=np.zeros(n_out)),
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2")]
    if out is None:
        edges.append(("fc2", "output"))
    else:
        nodes["out"] = out
        edges += [("fc2", "out"), ("out", "output")]
    return graph(nodes, edges)


@pytest.mark.parametrize("end", ["lif", "li", "affine"])
def test_an_mlp_imports_and_agrees_with_its_float_network(end):
    rng = np.random.default_rng(1)
    x = rng.random((40, 12))
    y = rng.integers(0, 4, 40)
    res = import_nir(mlp(rng, end=end), (x, y), ImportOptions(timesteps=8, weight_bits=8, membrane_bits=16))
    wl = res.workload
    assert [p.kind for p in wl.populations] == ["input", "lif", "lif", "readout"][: len(wl.populations)] or \
        [p.kind for p in wl.populations][-1] == "readout"
    layer = res.agreement["layers"][0]
    assert layer["spike_agreement"] > 0.97 and layer["count_correlation"] > 0.97
    assert res.agreement["prediction_agreement"] >= 0.9
    assert abs(res.agreement["accuracy_difference_points"]) <= 10
    assert wl.provenance["dt"] == 1e-4 and wl.provenance["reset"] == "zero"


def test_static_input_is_quantised_to_int8_codes_and_events_stay_spikes():
    rng = np.random.default_rng(2)
    res = import_nir(mlp(rng), (rng.random((5, 12)) * 3, None), ImportOptions(timesteps=4))
    assert res.workload.input_kind == "analog" and np.abs(res.workload.samples).max() == 127
    events = (rng.random((5, 6, 12)) < 0.3).astype(np.float32)
    res = import_nir(mlp(rng), (events, None), ImportOptions())
    assert res.workload.input_kind == "spikes" and res.workload.timesteps == 6
    assert np.array_equal(res.workload.samples, events.astype(np.uint8))


def test_binary_weights_stay_one_bit_with_alpha_in_the_scale():
    w = np.where(np.random.default_rng(3).random((4, 9)) < 0.5, -0.25, 0.25) * np.arange(1, 5)[:, None]
    codes, scale, bits = quantise(w, 8)
    assert bits == 1 and set(np.unique(codes)) <= {-1, 1}
    assert np.allclose(codes * scale[:, None], w)
    codes, scale, bits = quantise(np.array([[0.5, -0.25, 0.0]]), 4)
    assert bits == 4 and codes.tolist() == [[7, -4, 0]]


def conv_graph(rng, order):
    """input (2, 8, 8) -> [conv/pool chain] -> LIF -> flatten -> affine -> LIF -> output."""
    conv = nir.Conv2d(input_shape=(8, 8) if order[0] == "conv" else (4, 4), weight=rng.normal(0, 0.5, (3, 2, 3, 3)),
                      stride=1, padding=1, dilation=1, groups=1, bias=rng.normal(0, 0.05, 3))
    pool = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 8, 8])}), "conv": conv, "pool": pool,
             "lif1": lif((3, 4, 4)), "flat": nir.Flatten(input_type={"input": np.array([3, 4, 4])}, start_dim=0),
             "fc": nir.Affine(weight=rng.normal(0, 0.4, (5, 48)), bias=np.zeros(5)), "lif2": lif(5),
             "output": nir.Output(output_type={"output": np.array([5])})}
    chain = ["input"] + order + ["lif1"]
    edges = list(zip(chain[:-1], chain[1:])) + [("lif1", "flat"), ("flat", "fc"), ("fc", "lif2"), ("lif2", "output")]
    return graph(nodes, edges)


@pytest.mark.parametrize("order", [["conv", "pool"], ["pool", "conv"]])
def test_a_convolution_with_a_pool_composes_into_one_exact_kernel(order):
    rng = np.random.default_rng(4)
    flat = flatten(conv_graph(rng, order))
    projections, _ = nir_chains.incoming(flat, "lif1", DT)
    (p,) = projections
    assert p.kind == "conv2d"
    x = rng.normal(size=(2, 8, 8))
    direct = x
    for name in order:
        node = flat.nodes[name]
        direct = nir_chains.apply_linear(node, direct) - (nir_chains._bias_image(node) if name == "conv" else 0)
    composed = nir_chains.conv2d(x, p.weight, p.stride, p.padding)
    assert np.allclose(composed, direct)


def test_a_conv_network_imports_and_runs_bit_exactly_on_the_chip():
    from qsnnsim.arch import load_arch
    from qsnnsim.engine.simulate import simulate
    from qsnnsim.mapping import map_workload

    rng = np.random.default_rng(5)
    res = import_nir(conv_graph(rng, ["conv", "pool"]), (rng.random((6, 2, 8, 8)), rng.integers(0, 5, 6)),
                     ImportOptions(timesteps=6))
    wl = res.workload
    assert "conv2d" in [p.kind for p in wl.projections]
    arch = load_arch("archs/core16.yaml")
    run = simulate(wl, arch, map_workload(wl, arch), samples=[0, 1])
    for s in run.samples:
        assert np.array_equal(s.readout, run_golden(wl, s.sample).readout)


def test_a_recurrent_lif_becomes_a_projection_with_delay_one():
    rng = np.random.default_rng(6)
    n = 10
    g = graph({"input": nir.Input(input_type={"input": np.array([6])}), "fc": nir.Linear(weight=rng.normal(0, 1, (n, 6))),
               "lif": lif(n), "rec": nir.Linear(weight=rng.normal(0, 0.3, (n, n))),
               "out": nir.Linear(weight=rng.normal(0, 1, (3, n))), "li": nir.LI(tau=np.full(3, 1e-3), r=np.ones(3) * 10,
                                                                             v_leak=np.zeros(3)),
               "output": nir.Output(output_type={"output": np.array([3])})},
              [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out"), ("out", "li"),
               ("li", "output")])
    res = import_nir(g, ((rng.random((8, 5, 6)) < 0.4).astype(float), None), ImportOptions())
    rec = [p for p in res.workload.projections if p.source == p.target]
    assert len(rec) == 1 and rec[0].delay == 1
    assert res.agreement["layers"][0]["spike_agreement"] > 0.95


def test_cuba_lif_becomes_loihi_cuba_and_agrees():
    rng = np.random.default_rng(7)
    n = 16
    tau_syn, tau_mem = DT / (1 - 0.8), DT / (1 - 0.9)
    cuba = nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / DT),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.full(n, tau_syn / DT))
    g = graph({"input": nir.Input(input_type={"input": np.array([8])}),
               "fc": nir.Linear(weight=rng.normal(0, 0.5, (n, 8))), "cuba": cuba,
               "fc2": nir.Linear(weight=rng.normal(0, 0.5, (4, n))), "lif": lif(4),
               "output": nir.Output(output_type={"output": np.array([4])})},
              [("input", "fc"), ("fc", "cuba"), ("cuba", "fc2"), ("fc2", "lif"), ("lif", "output")])
    res = import_nir(g, ((rng.random((10, 12, 8)) < 0.4).astype(float), None), ImportOptions())
    cuba_pop = next(p for p in res.workload.populations if p.name == "cuba")
    assert cuba_pop.dialect == "loihi_cuba"
    assert res.agreement["layers"][0]["spike_agreement"] > 0.95


def test_a_nested_graph_and_a_delay_node_import():
    rng = np.random.default_rng(8)
    inner = graph({"input": nir.Input(input_type={"input": np.array([10])}), "lif": lif(10),
                   "output": nir.Output(output_type={"output": np.array([10])})},
                  [("input", "lif"), ("lif", "output")])
    g = graph({"input": nir.Input(input_type={"input": np.array([5])}), "fc": nir.Linear(weight=rng.normal(0, 1, (10, 5))),
               "delay": nir.Delay(delay=np.full(10, 2 * DT)), "block": inner,
               "fc2": nir.Linear(weight=rng.normal(0, 1, (3, 10))), "out": lif(3),
               "output": nir.Output(output_type={"output": np.array([3])})},
              [("input", "fc"), ("fc", "delay"), ("delay", "block"), ("block", "fc2"), ("fc2", "out"),
               ("out", "output")])
    res = import_nir(g, ((rng.random((4, 6, 5)) < 0.5).astype(float), None), ImportOptions())
    into_block = next(p for p in res.workload.projections if p.target == "block.lif")
    assert into_block.delay == 2


def _graph_file(tmp_path, g) -> str:
    path = str(tmp_path / "g.nir")
    nir.write(path, g)
    return path


def test_a_file_nir_refuses_for_a_batch_axis_on_its_input_imports_with_a_note(tmp_path):
    """Rockpool's export: the Input carries the batch axis ([1, 8]); NIR's strict reader refuses it."""
    g = graph({"input": nir.Input(input_type={"input": np.array([1, 8])}),
               "lin": nir.Linear(weight=np.random.default_rng(0).normal(0, 1, (4, 8))), "lif": lif(4),
               "output": nir.Output(output_type={"output": np.array([4])})},
              [("input", "lin"), ("lin", "lif"), ("lif", "output")], type_check=False)
    path = _graph_file(tmp_path, g)
    with pytest.raises(ValueError):
        nir.read(path)
    events = (np.random.default_rng(1).random((3, 5, 1, 8)) < 0.5).astype(float)
    res = import_nir(path, (events, None), ImportOptions())
    assert any("read without NIR's type check" in note for note in res.notes)


def test_errors_are_one_line_naming_the_node_or_field(tmp_path):
    rng = np.random.default_rng(9)
    samples = str(tmp_path / "s.npz")
    np.savez(samples, x=rng.random((3, 12)))
    good = _graph_file(tmp_path, mlp(rng))
    with pytest.raises(NirImportError, match=r"s\.npz: is not a NIR \(HDF5\) file"):
        import_nir(samples, samples, ImportOptions(timesteps=2))
    with pytest.raises(NirImportError, match=r"x: is a static input \(3, 12\).*give --timesteps T"):
        import_nir(good, samples, ImportOptions())
    bad = str(tmp_path / "bad.npz")
    np.savez(bad, x=rng.random((3, 7)))
    with pytest.raises(NirImportError, match=r"x: has shape \(3, 7\); the graph's input is \(12,\)"):
        import_nir(good, bad, ImportOptions(timesteps=2))
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=1, dilation=2, groups=1,
                      bias=np.zeros(2))
    g = graph({"input": nir.Input(input_type={"input": np.array([1, 4, 4])}), "conv": conv, "lif": lif((2, 4, 4)),
               "output": nir.Output(output_type={"output": np.array([2, 4, 4])})},
              [("input", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(NirImportError, match=r"conv\.dilation: is \(2, 2\)"):
        import_nir(g, (rng.random((2, 1, 4, 4)), None), ImportOptions(timesteps=2))
    with pytest.raises(NirImportError, match=r"--dialect: is 'nope'"):
        import_nir(good, samples, ImportOptions(dialect="nope", timesteps=2))
    # an unsupported use of a node: an integrator inside the network
    inner_li = graph({"input": nir.Input(input_type={"input": np.array([3])}), "fc": nir.Linear(weight=np.ones((3, 3))),
                      "li": nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)),
                      "fc2": nir.Linear(weight=np.ones((2, 3))), "out": lif(2),
                      "output": nir.Output(output_type={"output": np.array([2])})},
                     [("input", "fc"), ("fc", "li"), ("li", "fc2"), ("fc2", "out"), ("out", "output")])
    with pytest.raises(NirImportError, match=r": li: is a LI \(an integrator\) inside the network"):
        import_nir(inner_li, (np.ones((1, 2, 3)), None), ImportOptions())
    # missing shapes: an Input without its shape
    shapeless = graph({"input": nir.Input(input_type={"input": np.array([], dtype=int)}), "lif": lif(3),
                       "output": nir.Output(output_type={"output": np.array([3])})},
                      [("input", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(NirImportError, match=r": input: has input shape \(\) \(export with the input shape given\)"):
        import_nir(shapeless, (np.ones((1, 2, 3)), None), ImportOptions())
    grouped = graph({"input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
                     "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=1,
                                        dilation=1, groups=2, bias=np.zeros(2)),
                     "lif": lif((2, 4, 4)), "output": nir.Output(output_type={"output": np.array([2, 4, 4])})},
                    [("input", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(NirImportError, match=r": conv\.groups: is 2 \(only groups = 1 convolutions import\)"):
        import_nir(grouped, (np.ones((1, 2, 2, 4, 4)), None), ImportOptions())


def test_the_cli_imports_writes_the_report_and_refuses_in_one_line(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(10)
    model = _graph_file(tmp_path, mlp(rng))
    samples = str(tmp_path / "s.npz")
    np.savez(samples, x=rng.random((20, 12)), y=rng.integers(0, 4, 20))
    out = str(tmp_path / "w.npz")
    res = subprocess.run([sys.executable, "-m", "qsnnsim", "import", model, "-o", out, "--samples", samples,
                          "--timesteps", "6"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "agreement of the integer workload" in res.stdout and "accuracy: float" in res.stdout
    assert (tmp_path / "w.agreement.json").exists() and (tmp_path / "w.agreement.md").exists()
    assert "dt 0.0001 s, euler discretisation, reset zero" in (tmp_path / "w.agreement.md").read_text()
    run = subprocess.run([sys.executable, "-m", "qsnnsim", "run", "archs/tiny.yaml", out, "--samples", "2",
                          "--no-report", "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "accuracy:" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "qsnnsim", "import", samples, "-o", out, "--samples", samples],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "is not a NIR (HDF5) file" in bad.stderr


def test_the_float_reference_is_what_the_importer_calibrated_on():
    rng = np.random.default_rng(11)
    flat = flatten(mlp(rng))
    x = np.repeat(rng.random((3, 1, 12)), 4, axis=1)
    disc = nir_float.Discretisation(dt=DT)
    batch = nir_float.simulate_batch(flat, x, disc)
    single = nir_float.simulate(flat, x[1], disc)
    assert np.array_equal(batch.outputs["lif1"][1], single.outputs["lif1"])


def test_a_workload_exports_to_nir_and_its_float_graph_computes_the_same_network(tmp_path):
    """export-nir: the float NIR graph of an integer workload predicts what the workload does."""
    import subprocess
    import sys

    from qsnnsim.golden import run_golden
    from qsnnsim.importers.nir import read_graph
    from qsnnsim.importers.nir_export import export_nir
    from qsnnsim.workload import load_workload

    rng = np.random.default_rng(12)
    x_float = rng.random((12, 2, 8, 8)) * 2.5
    res = import_nir(conv_graph(rng, ["conv", "pool"]), (x_float, rng.integers(0, 5, 12)), ImportOptions(timesteps=6))
    wl = res.workload
    path = str(tmp_path / "back.nir")
    nir.write(path, export_nir(wl))
    flat = flatten(read_graph(path))
    # the exported graph takes the samples in their own units (its Input is followed by 1 / input scale)
    x = np.repeat(x_float[:, None], wl.timesteps, axis=1)
    trace = nir_float.simulate_batch(flat, x, nir_float.Discretisation(dt=1e-4))
    src = flat.nodes[flat.output].sources[0]
    float_v = trace.states[src]["v"][:, -1].reshape(len(x), -1)
    same = np.mean(float_v.argmax(axis=1) == [run_golden(wl, i).predicted for i in range(wl.n_samples)])
    assert same >= 0.9
    workload_file = str(tmp_path / "w.npz")
    from qsnnsim.workload import save_workload

    save_workload(wl, workload_file)
    cli = subprocess.run([sys.executable, "-m", "qsnnsim", "export-nir", workload_file, "-o", str(tmp_path / "c.nir")],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0 and "NIR nodes" in cli.stdout, cli.stderr
    xylo = subprocess.run([sys.executable, "-m", "qsnnsim", "export-nir", "workloads/xylo_recurrent.npz", "-o",
                           str(tmp_path / "x.nir")], capture_output=True, text=True, timeout=300)
    assert xylo.returncode == 2 and "xylo_lif, which no NIR node computes" in xylo.stderr
    assert load_workload(workload_file).name == wl.name
    same_file = subprocess.run([sys.executable, "-m", "qsnnsim", "export-nir", workload_file, "-o", workload_file],
                               capture_output=True, text=True, timeout=300)
    assert same_file.returncode == 2 and "-o: is not a .nir file name" in same_file.stderr
    # and back in: the exported graph imports with the original samples
    again = import_nir(path, (x_float, None), ImportOptions(timesteps=6))
    assert again.agreement["prediction_agreement"] >= 0.9


def test_the_cli_refuses_to_overwrite_an_input_and_bad_counts_in_one_line(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(13)
    model = _graph_file(tmp_path, mlp(rng))
    samples = str(tmp_path / "s.npz")
    np.savez(samples, x=rng.random((4, 12)))
    empty = str(tmp_path / "e.npz")
    np.savez(empty, x=np.zeros((0, 12)))
    cases = [
        (["-o", samples, "--samples", samples, "--timesteps", "4"], "-o: is one of the input files"),
        (["-o", str(tmp_path / "w.npz"), "--samples", samples, "--timesteps", "0"], "--timesteps: is 0"),
        (["-o", str(tmp_path / "w.npz"), "--samples", empty, "--timesteps", "4"], "x: holds no sample"),
        (["-o", str(tmp_path), "--samples", samples, "--timesteps", "4"], "is not a .npz file name"),
    ]
    for args, message in cases:
        res = subprocess.run([sys.executable, "-m", "qsnnsim", "import", model, *args], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert np.load(samples)["x"].shape == (4, 12)  # untouched
