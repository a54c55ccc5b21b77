"""The float reference of a NIR graph (importers/nir_float.py): hand-worked steps of every node.

Each case builds a tiny graph with the ``nir`` package, runs it for a few steps and checks
literal numbers worked out in the comment next to them. Convolutions and pools are checked
against a direct loop over output positions; batches against a loop of single runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

nir = pytest.importorskip("nir")

from qsnnsim.errors import NirImportError  # noqa: E402
from qsnnsim.importers.nir_float import (  # noqa: E402
    Discretisation,
    FloatTrace,
    decay,
    input_gain,
    simulate,
    simulate_batch,
)
from qsnnsim.importers.nir_graph import flatten  # noqa: E402

EULER_1 = Discretisation(dt=1.0)


def a(*values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def chain(in_shape, *nodes, edges=None):
    """Input -> nodes[0] -> nodes[1] -> ... -> Output, named n0, n1, ... (or the given edges)."""
    named = {f"n{k}": node for k, node in enumerate(nodes)}
    order = ["input", *named, "output"]
    if edges is None:
        edges = list(zip(order[:-1], order[1:], strict=False))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array(in_shape)), **named,
               "output": nir.Output(output_type=np.array([1]))},
        edges=edges, type_check=False)
    return flatten(graph, "test.nir")


def run(flat, x, disc=EULER_1) -> FloatTrace:
    return simulate(flat, np.asarray(x, dtype=np.float64), disc)


# --- the discretisation rules ---------------------------------------------------------------

def test_decay_and_gain_follow_the_rule():
    # euler: 1 - dt/tau and dt/tau; exp: exp(-dt/tau) and 1 - exp(-dt/tau). dt = 1 ms, tau = 4 ms.
    euler, exp = Discretisation(dt=1e-3), Discretisation(dt=1e-3, rule="exp")
    assert decay(4e-3, euler) == pytest.approx(0.75)
    assert input_gain(4e-3, euler) == pytest.approx(0.25)
    assert decay(a(4e-3, 1e-3), exp) == pytest.approx(a(math.exp(-0.25), math.exp(-1)))
    assert input_gain(a(4e-3, 1e-3), exp) == pytest.approx(a(1 - math.exp(-0.25), 1 - math.exp(-1)))
    # Both keep decay + gain = 1: a constant drive settles at itself.
    taus = a(1e-3, 3e-3, 1.0)
    for disc in (euler, exp):
        assert decay(taus, disc) + input_gain(taus, disc) == pytest.approx(np.ones(3))


@pytest.mark.parametrize("kwargs, field", [
    ({"dt": 0.0}, "dt"), ({"dt": -1e-3}, "dt"), ({"dt": float("nan")}, "dt"), ({"dt": True}, "dt"),
    ({"dt": 1e-3, "rule": "rk4"}, "rule"), ({"dt": 1e-3, "reset": "none"}, "reset"),
])
def test_a_bad_discretisation_is_one_line_naming_the_field(kwargs, field):
    with pytest.raises(NirImportError, match=f"^<discretisation>: {field}: "):
        Discretisation(**kwargs)


# --- stateless nodes --------------------------------------------------------------------------

def test_flatten_affine_linear_scale():
    # x = [[1, 2], [3, 4]] flattened to [1, 2, 3, 4];
    # Affine: [1, 0, 0, 1] . x + 0.5 = 5.5 and [0, 1, -1, 0] . x - 1 = -2;
    # Linear: [[2, 0], [1, 1]] @ [5.5, -2] = [11, 3.5]; Scale by [0.5, -2]: [5.5, -7].
    flat = chain((2, 2),
                 nir.Flatten(input_type={"input": np.array([2, 2])}, start_dim=0),
                 nir.Affine(weight=a([1, 0, 0, 1], [0, 1, -1, 0]), bias=a(0.5, -1)),
                 nir.Linear(weight=a([2, 0], [1, 1])),
                 nir.Scale(scale=a(0.5, -2)))
    trace = run(flat, [[[1, 2], [3, 4]]])
    assert trace.outputs["n0"].tolist() == [[1, 2, 3, 4]]
    assert trace.outputs["n1"].tolist() == [[5.5, -2]]
    assert trace.outputs["n2"].tolist() == [[11, 3.5]]
    assert trace.outputs["n3"].tolist() == [[5.5, -7]]
    assert trace.outputs["output"].tolist() == [[5.5, -7]]
    assert trace.states == {}


def test_threshold_is_strict():
    # 1 > 1 is false: a value at the threshold does not spike.
    flat = chain((3,), nir.Threshold(threshold=a(1, 1, 0)))
    assert run(flat, [[1, 1.5, 0], [0.5, 2, 1e-9]]).outputs["n0"].tolist() == [[0, 1, 0], [0, 1, 1]]


def test_delay_rounds_to_whole_steps_per_neuron():
    # dt = 1 ms; delays 0, 2 ms and 2.6 ms -> 0, 2 and 3 steps (rounded); y(t) = u(t - n), 0 before.
    flat = chain((3,), nir.Delay(delay=a(0, 2e-3, 2.6e-3)))
    x = np.arange(1, 6, dtype=float)[:, None] * a(1, 10, 100)   # u(t) = (t+1) * [1, 10, 100]
    y = run(flat, x, Discretisation(dt=1e-3)).outputs["n0"]
    assert y.tolist() == [[1, 0, 0], [2, 0, 0], [3, 10, 0], [4, 20, 100], [5, 30, 200]]


def test_a_negative_delay_is_refused():
    flat = chain((1,), nir.Delay(delay=a(-1e-3)))
    with pytest.raises(NirImportError, match=r"^test.nir: n0.delay: is negative"):
        run(flat, [[1]])


# --- integrators and neurons ------------------------------------------------------------------

def test_integrator_has_no_leak_and_scales_by_dt():
    # v = v + dt R u with dt = 0.5, R = 2: v = 1, 2, 2 (u = 1, 1, 0), the same under both rules.
    flat = chain((1,), nir.I(r=a(2)))
    for rule in ("euler", "exp"):
        trace = run(flat, [[1], [1], [0]], Discretisation(dt=0.5, rule=rule))
        assert trace.outputs["n0"].ravel().tolist() == [1, 2, 2]
        assert trace.states["n0"]["v"].ravel().tolist() == [1, 2, 2]


def test_leaky_integrator_euler_and_exp():
    # tau = 2, dt = 1, v_leak = 1, R = 2, u = 1: drive v_leak + R u = 3.
    # euler: d = g = 0.5: v = 1.5, 2.25, 2.625.  exp: d = e^-0.5, g = 1 - e^-0.5.
    flat = chain((1,), nir.LI(tau=a(2), r=a(2), v_leak=a(1)))
    assert run(flat, [[1]] * 3).outputs["n0"].ravel().tolist() == [1.5, 2.25, 2.625]
    d = math.exp(-0.5)
    v1 = (1 - d) * 3
    expected = [v1, d * v1 + (1 - d) * 3, 3 - 3 * d ** 3]
    assert run(flat, [[1]] * 3, Discretisation(dt=1.0, rule="exp")).outputs["n0"].ravel() == pytest.approx(expected)


@pytest.mark.parametrize("reset, v_reset, expected_v", [
    # r = 1, dt = 1, threshold 1, u = 0.6 each step: v = 0.6, 1.2 (spike) ...
    ("zero", None, [0.6, 0.0, 0.6, 0.0]),        # ... -> 0, 0.6, 1.2 -> 0
    ("zero", 0.25, [0.6, 0.25, 0.85, 0.25]),     # ... -> v_reset 0.25, 0.85, 1.45 -> 0.25
    ("subtract", 0.25, [0.6, 0.2, 0.8, 0.4]),    # ... -> 1.2 - 1, 0.8, 1.4 - 1 (v_reset unused)
])
def test_integrate_and_fire_resets_in_the_spiking_step(reset, v_reset, expected_v):
    kwargs = {} if v_reset is None else {"v_reset": a(v_reset)}
    flat = chain((1,), nir.IF(r=a(1), v_threshold=a(1), **kwargs))
    trace = run(flat, [[0.6]] * 4, Discretisation(dt=1.0, reset=reset))
    assert trace.outputs["n0"].ravel().tolist() == [0, 1, 0, 1]
    assert trace.states["n0"]["v"].ravel() == pytest.approx(expected_v)


def test_lif_with_snntorch_conventions_is_mem_beta_mem_plus_input():
    # snnTorch exports Leaky(beta) as tau = dt / (1 - beta), r = tau / dt, v_leak = 0 with its
    # hard-coded dt = 1e-4. Euler then gives d = beta and g R = 1: mem = beta mem + input.
    # beta = 0.9, input 0.5, threshold 1: mem = 0.5, 0.95, 1.355 (spike), then
    #   zero reset:     0, 0.5, 0.95
    #   subtract reset: 0.355, 0.8195, 1.23755 (spike) -> 0.23755
    dt, beta = 1e-4, 0.9
    tau = dt / (1 - beta)
    flat = chain((1,), nir.LIF(tau=a(tau), r=a(tau / dt), v_leak=a(0), v_threshold=a(1)))
    zero = run(flat, [[0.5]] * 6, Discretisation(dt=dt))
    assert zero.states["n0"]["v"].ravel() == pytest.approx([0.5, 0.95, 0, 0.5, 0.95, 0], abs=1e-12)
    assert zero.outputs["n0"].ravel().tolist() == [0, 0, 1, 0, 0, 1]
    subtract = run(flat, [[0.5]] * 5, Discretisation(dt=dt, reset="subtract"))
    assert subtract.states["n0"]["v"].ravel() == pytest.approx([0.5, 0.95, 0.355, 0.8195, 0.23755], abs=1e-12)
    assert subtract.outputs["n0"].ravel().tolist() == [0, 0, 1, 0, 1]


def test_cuba_lif_with_snntorch_conventions_is_synaptic():
    # snnTorch's Synaptic(alpha, beta): syn = alpha syn + input; mem = beta mem + syn (the new
    # syn). Its export: tau_syn = dt/(1-alpha), w_in = tau_syn/dt, tau_mem = dt/(1-beta),
    # r = tau_mem/dt. alpha = 0.8, beta = 0.9, input 1, 0, 0, threshold 1:
    #   syn = 1, 0.8, 0.64 (never reset); mem = 1 (1 > 1 is false), 0.9 + 0.8 = 1.7 (spike) -> 0,
    #   then 0 + 0.64 = 0.64.
    dt, alpha, beta = 1e-4, 0.8, 0.9
    tau_syn, tau_mem = dt / (1 - alpha), dt / (1 - beta)
    flat = chain((1,), nir.CubaLIF(tau_syn=a(tau_syn), tau_mem=a(tau_mem), r=a(tau_mem / dt), v_leak=a(0),
                                   v_threshold=a(1), w_in=a(tau_syn / dt)))
    trace = run(flat, [[1], [0], [0]], Discretisation(dt=dt))
    assert trace.states["n0"]["i"].ravel() == pytest.approx([1, 0.8, 0.64])
    assert trace.states["n0"]["v"].ravel() == pytest.approx([1, 0, 0.64], abs=1e-12)
    assert trace.outputs["n0"].ravel().tolist() == [0, 1, 0]


def test_cuba_li_outputs_its_membrane():
    # dt = 1, tau_syn = 2 (d = g = 0.5), tau_mem = 4 (d = 0.75, g = 0.25), w_in = 2, R = 4, v_leak = 0.
    # u = 1, 1: i = 0.5 * 2 = 1, then 0.5 + 1 = 1.5; v = 0.25 * 4 * 1 = 1, then 0.75 + 1.5 = 2.25.
    flat = chain((1,), nir.CubaLI(tau_syn=a(2), tau_mem=a(4), r=a(4), v_leak=a(0), w_in=a(2)))
    trace = run(flat, [[1], [1]])
    assert trace.states["n0"]["i"].ravel().tolist() == [1, 1.5]
    assert trace.outputs["n0"].ravel().tolist() == [1, 2.25] == trace.states["n0"]["v"].ravel().tolist()


def test_scalar_parameters_apply_to_every_neuron():
    # One threshold for three neurons (snnTorch exports a scalar-shaped threshold).
    flat = chain((3,), nir.LIF(tau=np.array(2.0), r=np.array(1.0), v_leak=np.array(0.0),
                               v_threshold=np.array(0.4)))
    # d = g = 0.5: v = 0.5 u: [0.5, 0.25, 0] -> spikes [1, 0, 0].
    assert run(flat, [[1, 0.5, 0]]).outputs["n0"].tolist() == [[1, 0, 0]]


def test_a_parameter_of_the_wrong_size_or_a_bad_tau_is_named():
    flat = chain((3,), nir.LI(tau=a(1, 1), r=a(1, 1), v_leak=a(0, 0)))
    with pytest.raises(NirImportError, match=r"^test.nir: n0.r: does not fit the node"):
        run(flat, np.zeros((1, 3)))
    flat = chain((2,), nir.LI(tau=a(1, 0), r=a(1, 1), v_leak=a(0, 0)))
    with pytest.raises(NirImportError, match=r"^test.nir: n0.tau: has a time constant <= 0"):
        run(flat, np.zeros((1, 2)))


def test_input_of_the_wrong_shape_is_named():
    flat = chain((3,), nir.Scale(scale=a(1, 1, 1)))
    with pytest.raises(NirImportError, match=r"^test.nir: input: takes input of shape \(3,\)"):
        run(flat, np.zeros((2, 4)))


# --- graph structure --------------------------------------------------------------------------

def test_fan_in_edges_add():
    # Two branches from the input join at the output: 2x + (-x) + the bias 1.
    flat = chain((1,), nir.Linear(weight=a([2])), nir.Affine(weight=a([-1]), bias=a(1)),
                 edges=[("input", "n0"), ("input", "n1"), ("n0", "output"), ("n1", "output")])
    assert run(flat, [[3], [5]]).outputs["output"].ravel().tolist() == [4, 6]


def test_a_recurrent_edge_delivers_the_previous_step():
    # acc = I(r = 1), rec = Scale(0.5) of acc fed back: acc's input at t is x(t) + 0.5 v(t-1).
    # x = 1, 0, 0: v = 1 (nothing fed back at t = 0), 1 + 0.5 = 1.5, 1.5 + 0.75 = 2.25.
    flat = chain((1,), nir.I(r=a(1)), nir.Scale(scale=a(0.5)),
                 edges=[("input", "n0"), ("n0", "n1"), ("n1", "n0"), ("n0", "output")])
    assert flat.nodes["n0"].back_sources == {"n1"}
    trace = run(flat, [[1], [0], [0]])
    assert trace.outputs["n0"].ravel().tolist() == [1, 1.5, 2.25]
    assert trace.outputs["n1"].ravel().tolist() == [0.5, 0.75, 1.125]


def test_a_recurrent_edge_of_the_wrong_size_is_named():
    # flatten refuses it (one line naming the edge) before any simulation
    with pytest.raises(NirImportError, match=r"^test.nir: edges \(n1 -> n0\): a recurrent edge carries \(3,\) into "
                                             r"an input of \(2,\)"):
        chain((2,), nir.I(r=a(1, 1)), nir.Linear(weight=np.ones((3, 2))),
              edges=[("input", "n0"), ("n0", "n1"), ("n1", "n0"), ("n0", "output")])


def test_a_nested_graph_with_recurrence_runs_as_inlined():
    # snnTorch's RSynaptic exports a nested graph: input -> lif <-> w_rec, lif -> output.
    # Here the inner neuron is IF (dt = 1, r = 1, threshold 1, zero reset) and w_rec adds 0.75
    # of last step's spike. x = 0.6 each step:
    #   v = 0.6, 1.2 (spike) -> 0, 0 + 0.6 + 0.75 = 1.35 (spike) -> 0, 0.6 + 0.75 = 1.35 (spike) ...
    inner = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([1])), "lif": nir.IF(r=a(1), v_threshold=a(1)),
               "w_rec": nir.Linear(weight=a([0.75])), "output": nir.Output(output_type=np.array([1]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], type_check=False)
    flat = chain((1,), nir.Linear(weight=a([1])), inner)
    assert set(flat.nodes) == {"input", "n0", "n1.lif", "n1.w_rec", "output"}
    assert sorted(flat.nodes["n1.lif"].sources) == ["n0", "n1.w_rec"]
    assert flat.nodes["n1.lif"].back_sources == {"n1.w_rec"}
    trace = run(flat, [[0.6]] * 5)
    assert trace.outputs["n1.lif"].ravel().tolist() == [0, 1, 1, 1, 1]
    assert trace.outputs["output"].ravel().tolist() == [0, 1, 1, 1, 1]


def test_a_nested_graph_that_passes_its_input_through_is_joined_through():
    # A nested graph whose Input is wired straight to its Output (an exported identity module):
    # the edges join through both, so x reaches Scale(2) and then the output.
    identity = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1])),
                                   "output": nir.Output(output_type=np.array([1]))},
                            edges=[("input", "output")], type_check=False)
    flat = chain((1,), identity, nir.Scale(scale=a(2)))
    assert set(flat.nodes) == {"input", "n1", "output"}
    assert run(flat, [[1.5]]).outputs["output"].tolist() == [[3]]


def test_a_graph_read_back_from_a_file_runs_the_same(tmp_path):
    flat_graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])),
               "fc": nir.Affine(weight=a([1, -1], [0.5, 2]), bias=a(0.1, 0)),
               "lif": nir.CubaLIF(tau_syn=a(2e-3, 3e-3), tau_mem=a(4e-3, 5e-3), r=a(1, 2), v_leak=a(0, 0.1),
                                  v_threshold=a(0.2, 0.3)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    path = tmp_path / "net.nir"
    nir.write(path, flat_graph)
    disc = Discretisation(dt=1e-3, rule="exp", reset="subtract")
    x = np.random.default_rng(1).random((8, 2))
    before = simulate(flatten(flat_graph, "net.nir"), x, disc)
    after = simulate(flatten(nir.read(path), "net.nir"), x, disc)
    for name in before.outputs:
        np.testing.assert_array_equal(before.outputs[name], after.outputs[name])


# --- convolutions and pools against a direct loop --------------------------------------------

def conv2d_loop(x, w, b, stride, pad):
    """One output value at a time: y[o, i, j] = b[o] + sum_{c, p, q} xpad[c, i s + p, j s + q] w[o, c, p, q]."""
    c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    xp = np.zeros((c_in, h + 2 * pad[0], wd + 2 * pad[1]))
    xp[:, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    ho, wo = (xp.shape[1] - kh) // stride[0] + 1, (xp.shape[2] - kw) // stride[1] + 1
    y = np.zeros((c_out, ho, wo))
    for o in range(c_out):
        for i in range(ho):
            for j in range(wo):
                total = b[o]
                for c in range(c_in):
                    for p in range(kh):
                        for q in range(kw):
                            total += xp[c, i * stride[0] + p, j * stride[1] + q] * w[o, c, p, q]
                y[o, i, j] = total
    return y


def pool_loop(x, kernel, stride, pad):
    """Window sums channel by channel: a one-channel convolution with a kernel of ones."""
    ones = np.ones((1, 1) + tuple(kernel))
    return np.stack([conv2d_loop(x[c:c + 1], ones, np.zeros(1), stride, pad)[0] for c in range(x.shape[0])])


@pytest.mark.parametrize("stride, padding, pad", [((1, 1), (0, 0), (0, 0)), ((2, 1), (1, 2), (1, 2)),
                                                  ((1, 1), "same", (1, 1)), ((2, 2), "valid", (0, 0))])
def test_conv2d_matches_a_direct_loop(stride, padding, pad):
    rng = np.random.default_rng(0)
    w, b, x = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), rng.normal(size=(2, 2, 6, 7))
    flat = chain((2, 6, 7), nir.Conv2d(input_shape=(6, 7), weight=w, stride=stride, padding=padding,
                                        dilation=1, groups=1, bias=b))
    y = run(flat, x).outputs["n0"]
    for t in range(2):
        np.testing.assert_allclose(y[t], conv2d_loop(x[t], w, b, stride, pad), rtol=1e-12, atol=1e-12)


def test_conv1d_matches_a_direct_loop():
    # Conv1d on (C, L) is Conv2d on (C, 1, L).
    rng = np.random.default_rng(1)
    w, b, x = rng.normal(size=(2, 3, 3)), rng.normal(size=2), rng.normal(size=(2, 3, 9))
    flat = chain((3, 9), nir.Conv1d(input_shape=9, weight=w, stride=2, padding=1, dilation=1, groups=1, bias=b))
    y = run(flat, x).outputs["n0"]
    assert y.shape == (2, 2, 5)
    for t in range(2):
        expected = conv2d_loop(x[t][:, None], w[:, :, None], b, (1, 2), (0, 1))[:, 0]
        np.testing.assert_allclose(y[t], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["SumPool2d", "AvgPool2d"])
def test_pools_match_a_direct_loop(kind):
    # AvgPool divides by the whole window, padding included (PyTorch's count_include_pad=True).
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 2, 5, 6))
    pool = getattr(nir, kind)(kernel_size=np.array([2, 3]), stride=np.array([2, 2]), padding=np.array([1, 1]))
    y = run(chain((2, 5, 6), pool), x).outputs["n0"][0]
    expected = pool_loop(x[0], (2, 3), (2, 2), (1, 1)) / (6 if kind == "AvgPool2d" else 1)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(c_in=st.integers(1, 3), c_out=st.integers(1, 3), h=st.integers(3, 7), w=st.integers(3, 7),
       k=st.integers(1, 3), stride=st.integers(1, 3), pad=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_random_conv2d_matches_a_direct_loop(c_in, c_out, h, w, k, stride, pad, seed):
    rng = np.random.default_rng(seed)
    weight, bias, x = rng.normal(size=(c_out, c_in, k, k)), rng.normal(size=c_out), rng.normal(size=(1, c_in, h, w))
    flat = chain((c_in, h, w), nir.Conv2d(input_shape=(h, w), weight=weight, stride=stride, padding=pad,
                                          dilation=1, groups=1, bias=bias))
    y = run(flat, x).outputs["n0"][0]
    np.testing.assert_allclose(y, conv2d_loop(x[0], weight, bias, (stride, stride), (pad, pad)), rtol=1e-12, atol=1e-12)


# --- batches ---------------------------------------------------------------------------------

def assert_batch_is_a_loop(flat, xs, disc, exact=True):
    """Row k of a batch run is a single run of sample k: bit for bit when every weighted sum
    is exact in float64, else to rounding (BLAS may add in another order for another N)."""
    def check(actual, desired, what):
        if exact:
            np.testing.assert_array_equal(actual, desired, err_msg=what)
        else:
            np.testing.assert_allclose(actual, desired, rtol=1e-12, atol=1e-12, err_msg=what)

    batch = simulate_batch(flat, xs, disc)
    for k in range(xs.shape[0]):
        single = simulate(flat, xs[k], disc)
        assert batch.outputs.keys() == single.outputs.keys()
        assert batch.states.keys() == single.states.keys()
        for name, out in single.outputs.items():
            check(batch.outputs[name][k], out, name)
        for name, state in single.states.items():
            for var, values in state.items():
                check(batch.states[name][var][k], values, f"{name}.{var}")


def every_path_graph(weights):
    """A conv net with a recurrent Cuba layer and a delay: every path of the step loop."""
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([1, 4, 4])),
               "conv": nir.Conv2d(input_shape=(4, 4), weight=weights((2, 1, 3, 3)), stride=1, padding=1,
                                  dilation=1, groups=1, bias=a(0.5, 0.25)),
               "lif": nir.LIF(tau=np.full((2, 4, 4), 2e-3), r=np.ones((2, 4, 4)), v_leak=np.zeros((2, 4, 4)),
                              v_threshold=np.full((2, 4, 4), 0.5)),
               "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
               "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
               "fc": nir.Affine(weight=weights((3, 8)), bias=weights((3,))),
               "cuba": nir.CubaLIF(tau_syn=a(2e-3, 3e-3, 4e-3), tau_mem=a(3e-3, 3e-3, 5e-3), r=a(1, 1, 1),
                                   v_leak=a(0, 0, 0), v_threshold=a(0.3, 0.3, 0.3)),
               "rec": nir.Linear(weight=weights((3, 3))),
               "delay": nir.Delay(delay=a(0, 1e-3, 2e-3)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "flat"), ("flat", "fc"),
               ("fc", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "delay"), ("delay", "output")],
        type_check=False)


def test_simulate_batch_equals_a_loop_of_simulate():
    # Weights on a grid of 1/8 and 0/1 inputs: every weighted sum (of inputs or spikes) is exact.
    rng = np.random.default_rng(3)
    flat = flatten(every_path_graph(lambda shape: rng.integers(-8, 9, size=shape) / 8), "test.nir")
    xs = (rng.random((4, 6, 1, 4, 4)) < 0.5).astype(float)
    for disc in (Discretisation(dt=1e-3), Discretisation(dt=1e-3, rule="exp", reset="subtract")):
        assert_batch_is_a_loop(flat, xs, disc)
        trace = simulate_batch(flat, xs, disc)
        assert trace.outputs["output"].shape == (4, 6, 3)
        assert trace.states["cuba"]["i"].shape == (4, 6, 3) and trace.states["lif"]["v"].shape == (4, 6, 2, 4, 4)
        assert trace.outputs["lif"].sum() > 0 and trace.outputs["cuba"].sum() > 0


def test_simulate_batch_equals_a_loop_of_simulate_to_rounding_with_any_weights():
    rng = np.random.default_rng(4)
    flat = flatten(every_path_graph(lambda shape: rng.normal(size=shape)), "test.nir")
    xs = rng.random((5, 6, 1, 4, 4))
    assert_batch_is_a_loop(flat, xs, Discretisation(dt=1e-3, rule="exp"), exact=False)


@st.composite
def conv_lif_chains(draw):
    """Input -> [Conv2d -> LIF ->] Flatten -> Affine -> LIF/CubaLIF -> Output, on a dyadic grid.

    Weights, inputs and 1 - dt/tau are multiples of 1/8, so every sum is exact in float64 and
    a batch cannot differ from single runs by the order BLAS adds in.
    """
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(2, 5)), draw(st.integers(2, 5))
    grid = st.integers(-8, 8).map(lambda v: v / 8)
    taus = st.sampled_from([1.0, 2.0, 4.0, 8.0])

    def values(shape, elements=grid):
        return np.array(draw(st.lists(elements, min_size=math.prod(shape), max_size=math.prod(shape)))).reshape(shape)

    nodes, shape = [], (c, h, w)
    if draw(st.booleans()):
        k, out_c = draw(st.integers(1, min(3, h, w))), draw(st.integers(1, 2))
        stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
        nodes.append(nir.Conv2d(input_shape=(h, w), weight=values((out_c, c, k, k)), stride=stride, padding=pad,
                                dilation=1, groups=1, bias=values((out_c,))))
        shape = (out_c, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
        nodes.append(nir.LIF(tau=values(shape, taus), r=np.ones(shape), v_leak=np.zeros(shape),
                             v_threshold=np.abs(values(shape)) + 0.125))
    nodes.append(nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0))
    n_in, n_out = math.prod(shape), draw(st.integers(1, 4))
    nodes.append(nir.Affine(weight=values((n_out, n_in)), bias=values((n_out,))))
    params = dict(r=np.ones(n_out), v_leak=values((n_out,)), v_threshold=np.abs(values((n_out,))) + 0.125)
    if draw(st.booleans()):
        nodes.append(nir.CubaLIF(tau_syn=values((n_out,), taus), tau_mem=values((n_out,), taus), **params))
    else:
        nodes.append(nir.LIF(tau=values((n_out,), taus), **params))
    n, t = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    xs = values((n, t, c, h, w), st.integers(0, 8).map(lambda v: v / 8))
    disc = Discretisation(dt=1.0, reset=draw(st.sampled_from(["zero", "subtract"])))
    return chain((c, h, w), *nodes), xs, disc


@settings(max_examples=40, deadline=None)
@given(conv_lif_chains())
def test_random_conv_affine_lif_chains_batch_equals_single(case):
    flat, xs, disc = case
    assert_batch_is_a_loop(flat, xs, disc)
