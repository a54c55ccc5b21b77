"""Random NIR graphs import, and their integer result matches the float reference within the
quantisation error the import reports (issue 14).

Hypothesis builds graphs from every node kind the importer maps (Input, Output, Affine, Linear,
Scale, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, Delay, Threshold, I, IF, LI, LIF, CubaLI,
CubaLIF, a nested NIRGraph and recurrent edges) with random shapes and parameters, imports them with
random options, and requires: the workload is valid; every layer's integer membrane stays
within the reported bound of the float one while the spikes agree; the engine runs it bit for
bit as the golden model.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import with_core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

nir = pytest.importorskip("nir")

from qsnnsim.arch import load_arch  # noqa: E402
from qsnnsim.engine.simulate import simulate  # noqa: E402
from qsnnsim.golden import run_golden  # noqa: E402
from qsnnsim.importers.nir import ImportOptions, import_nir  # noqa: E402
from qsnnsim.mapping import map_workload  # noqa: E402

DT = 1e-4


def _per_channel(draw, lo, hi, shape):
    """A parameter constant within each channel (axis 0), as qsnnsim keeps it."""
    c = shape[0]
    values = np.array(draw(st.lists(st.floats(lo, hi), min_size=c, max_size=c)))
    return np.broadcast_to(values.reshape((c,) + (1,) * (len(shape) - 1)), shape).astype(np.float64).copy()


def _neuron(draw, kind, shape):
    beta = _per_channel(draw, 0.5, 0.97, shape)
    tau = DT / (1 - beta)
    theta = _per_channel(draw, 0.3, 2.0, shape)
    if kind == "LIF":
        return nir.LIF(tau=tau, r=tau / DT, v_leak=_per_channel(draw, -0.05, 0.05, shape), v_threshold=theta)
    if kind == "IF":
        return nir.IF(r=np.full(shape, 1 / DT) * _per_channel(draw, 0.2, 1.0, shape), v_threshold=theta)
    if kind == "Threshold":
        return nir.Threshold(threshold=_per_channel(draw, 0.1, 1.0, shape))
    alpha = _per_channel(draw, 0.3, 0.9, shape)
    tau_syn = DT / (1 - alpha)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=tau / DT, v_leak=np.zeros(shape), v_threshold=theta,
                       w_in=tau_syn / DT)


@st.composite
def nir_graphs(draw):
    """(graph, samples, options): a random network over every importable node kind."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    nodes, edges = {}, []
    path = draw(st.sampled_from(["conv2d", "conv1d", "dense"]))
    conv_path = path == "conv2d"
    if conv_path:
        c, h = draw(st.integers(1, 3)), draw(st.sampled_from([4, 6, 8]))
        in_shape = (c, h, h)
    elif path == "conv1d":
        in_shape = (draw(st.integers(1, 3)), draw(st.integers(4, 10)))
    else:
        in_shape = (draw(st.integers(2, 12)),)
    nodes["input"] = nir.Input(input_type={"input": np.array(in_shape)})
    last, shape = "input", in_shape
    kinds = st.sampled_from(["LIF", "IF", "CubaLIF", "Threshold"])
    if conv_path:
        c_out = draw(st.integers(1, 4))
        k = draw(st.sampled_from([1, 3]))
        conv = nir.Conv2d(input_shape=shape[1:], weight=rng.normal(0, 0.6, (c_out, shape[0], k, k)), stride=1,
                          padding=k // 2, dilation=1, groups=1, bias=rng.normal(0, 0.1, c_out))
        nodes["conv"], edges = conv, edges + [(last, "conv")]
        last, shape = "conv", (c_out,) + shape[1:]
        if draw(st.booleans()):
            pool = (nir.AvgPool2d if draw(st.booleans()) else nir.SumPool2d)(
                kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
            nodes["pool"], edges = pool, edges + [(last, "pool")]
            last, shape = "pool", (shape[0], shape[1] // 2, shape[2] // 2)
        nodes["n1"], edges = _neuron(draw, draw(kinds), shape), edges + [(last, "n1")]
        last = "n1"
        if draw(st.booleans()):
            pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
            nodes["pool2"], edges = pool, edges + [(last, "pool2")]
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
            nodes["n1b"] = _neuron(draw, "IF", shape)
            edges += [("pool2", "n1b")]
            last = "n1b"
        nodes["flat"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
        edges.append((last, "flat"))
        last, shape = "flat", (int(np.prod(shape)),)
    if path == "conv1d":
        c_out, k = draw(st.integers(1, 3)), draw(st.sampled_from([1, 3]))
        nodes["conv1d"] = nir.Conv1d(input_shape=shape[1], weight=rng.normal(0, 0.6, (c_out, shape[0], k)), stride=1,
                                     padding=k // 2, dilation=1, groups=1, bias=rng.normal(0, 0.1, c_out))
        shape = (c_out, shape[1])
        nodes["n1"] = _neuron(draw, draw(kinds), shape)
        nodes["flat"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
        edges += [(last, "conv1d"), ("conv1d", "n1"), ("n1", "flat")]
        last, shape = "flat", (int(np.prod(shape)),)
    n_h = draw(st.integers(2, 16))
    lin = nir.Affine(weight=rng.normal(0, 0.8, (n_h, shape[0])), bias=rng.normal(0, 0.1, n_h)) \
        if draw(st.booleans()) else nir.Linear(weight=rng.normal(0, 0.8, (n_h, shape[0])))
    nodes["fc"], edges = lin, edges + [(last, "fc")]
    last = "fc"
    if draw(st.booleans()):
        nodes["delay"] = nir.Delay(delay=np.full(n_h, draw(st.integers(1, 2)) * DT))
        edges.append((last, "delay"))
        last = "delay"
    hidden = _neuron(draw, draw(kinds), (n_h,))
    if draw(st.booleans()):
        # the hidden layer inside a nested graph
        inner = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n_h])}), "lif": hidden,
                                    "output": nir.Output(output_type={"output": np.array([n_h])})},
                             edges=[("input", "lif"), ("lif", "output")], type_check=False)
        nodes["block"], edges = inner, edges + [(last, "block")]
        hid = "block"
    else:
        nodes["hid"], edges = hidden, edges + [(last, "hid")]
        hid = "hid"
    if hid == "hid" and draw(st.booleans()):
        nodes["rec"] = nir.Linear(weight=rng.normal(0, 0.4, (n_h, n_h)))
        edges += [("hid", "rec"), ("rec", "hid")]
    if draw(st.booleans()):
        nodes["scale"] = nir.Scale(scale=np.full(n_h, draw(st.floats(0.5, 2.0))))
        edges.append((hid, "scale"))
        hid_out = "scale"
    else:
        hid_out = hid
    n_out = draw(st.integers(2, 5))
    nodes["fc_out"] = nir.Affine(weight=rng.normal(0, 0.8, (n_out, n_h)), bias=rng.normal(0, 0.05, n_out))
    edges.append((hid_out, "fc_out"))
    end = draw(st.sampled_from(["LIF", "LI", "I", "CubaLI", "none"]))
    if end == "LIF":
        nodes["out"] = _neuron(draw, "LIF", (n_out,))
    elif end == "LI":
        nodes["out"] = nir.LI(tau=np.full(n_out, DT / 0.2), r=np.full(n_out, 5.0), v_leak=np.zeros(n_out))
    elif end == "I":
        nodes["out"] = nir.I(r=np.full(n_out, 1 / DT))
    elif end == "CubaLI":
        tau_syn, tau_mem = DT / 0.3, DT / 0.2
        nodes["out"] = nir.CubaLI(tau_syn=np.full(n_out, tau_syn), tau_mem=np.full(n_out, tau_mem),
                                  r=np.full(n_out, tau_mem / DT), v_leak=np.zeros(n_out), w_in=np.full(n_out, tau_syn / DT))
    if end != "none":
        edges += [("fc_out", "out"), ("out", "output")]
    else:
        edges.append(("fc_out", "output"))
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    n, steps = 5, draw(st.integers(3, 7))
    if draw(st.booleans()):
        x = (rng.random((n, steps) + in_shape) < draw(st.floats(0.1, 0.6))).astype(np.float64)
        timesteps = None
    else:
        x, timesteps = rng.random((n,) + in_shape) * draw(st.floats(0.2, 3.0)), steps
    options = ImportOptions(timesteps=timesteps, dt=DT, rule=draw(st.sampled_from(["euler", "exp"])),
                            reset=draw(st.sampled_from(["zero", "subtract"])),
                            dialect=draw(st.sampled_from(["qsnn_lif", "loihi_cuba"])),
                            weight_bits=draw(st.integers(6, 16)), membrane_bits=draw(st.integers(10, 16)))
    return graph, (x, rng.integers(0, n_out, n)), options


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nir_graphs())
def test_random_nir_graphs_import_within_their_reported_quantisation_error(case):
    graph, samples, options = case
    res = import_nir(graph, samples, options)
    for layer in res.agreement["layers"]:
        assert layer["within_bound"], layer
    wl = res.workload
    # 16-bit weights on an analog input may need accumulators wider than core16's 24 bits
    arch = with_core(load_arch("archs/core16.yaml"), acc_bits_max=32)
    run = simulate(wl, arch, map_workload(wl, arch), samples=[0])
    assert np.array_equal(run.samples[0].readout, run_golden(wl, 0).readout)
