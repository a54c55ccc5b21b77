"""Random oracle networks, the qsnnsim side of each comparison, and the step-by-step diff.

A network is a flat dict of numpy arrays and ints (it travels to the vendor's venv in an
``.npz``); a trace is a dict of int64 arrays with time first. The vendor side
(``lava_side.py``, ``xylo_side.py``) records the same keys. ``qsnnsim_trace_loihi`` and
``qsnnsim_trace_xylo`` compute them from the dialect modules' golden_step and synapse
functions only.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.neurons import loihi_cuba, xylo_lif

LOIHI_KEYS = ("s", "u", "v")
XYLO_KEYS = ("s", "isyn", "isyn2", "vmem", "s_out", "isyn_out", "isyn2_out", "vmem_out")


# ---------------------------------------------------------------- generation


def random_loihi_net(rng: np.random.Generator, steps: int) -> dict:
    """Input spikes -> Lava Dense -> LIF, every integer knob drawn across its range and edges."""
    n_in = int(rng.integers(1, 17))
    n = int(rng.integers(1, 17))
    kind = rng.choice(["mixed8", "mixed8", "mixed_wide", "excitatory", "inhibitory"])
    if kind == "mixed8":  # the 8-bit mixed-sign matrix whose odd weights lose their LSB
        w = rng.integers(-128, 128, (n, n_in))
    elif kind == "mixed_wide":  # outside 8 bits: Dense clips to [-256, 255]
        w = rng.integers(-300, 301, (n, n_in))
    elif kind == "excitatory":
        w = rng.integers(0, 300, (n, n_in))
    else:
        w = -rng.integers(0, 300, (n, n_in))
    if rng.random() < 0.3:
        w = w * (rng.random(w.shape) < 0.3)

    def decay_choices():
        return int(rng.choice([0, 4095, rng.integers(0, 4096), rng.integers(0, 64)]))

    net = {
        "weights": w.astype(np.int64),
        "num_weight_bits": int(rng.integers(1, 9)) if rng.random() < 0.2 else 8,
        "weight_exp": int(rng.integers(-4, 5)) if rng.random() < 0.3 else 0,
        "du": decay_choices(),
        "dv": decay_choices(),
        "vth": int(rng.choice([0, 131071, min(131071, int(2 ** rng.uniform(0, 17)))])) if rng.random() < 0.1
        else min(131071, int(2 ** rng.uniform(0, 14))),
        "bias_mant": (rng.integers(-4096, 4096, n) * (rng.random() < 0.6)).astype(np.int64),
        "bias_exp": rng.integers(0, 8, n).astype(np.int64),
        "u0": np.zeros(n, np.int64),
        "v0": np.zeros(n, np.int64),
        "spikes": (rng.random((steps, n_in)) < rng.uniform(0.02, 1.0)).astype(np.int64),
    }
    if rng.random() < 0.2:  # start near the rails: the 24-bit fold of u, the clamp of v
        net["u0"] = rng.integers(-(1 << 23) + 1, 1 << 23, n).astype(np.int64)
        net["v0"] = rng.integers(-(1 << 23) + 1, 1 << 23, n).astype(np.int64)
    return net


def random_xylo_net(rng: np.random.Generator, steps: int) -> dict:
    """A recurrent XyloLayer: inputs -> hidden (recurrent, delay 1) -> readout, random everything."""
    n_in = int(rng.integers(1, 17))
    n_hid = int(rng.integers(1, 17))
    n_out = int(rng.integers(1, 5))
    n_syn = int(rng.integers(1, 3))

    def weights(shape, density):
        w = rng.integers(-128, 128, shape) * (rng.random(shape) < density)
        return w.astype(np.int64)

    def second(shape, density):
        return weights(shape, density) if n_syn == 2 else np.zeros(shape, np.int64)

    def shift():
        return int(rng.integers(0, 9)) if rng.random() < 0.85 else int(rng.integers(9, 16))

    d_in, d_rec, d_out = rng.uniform(0.1, 1.0, 3)
    version = int(rng.integers(1, 3))
    has_bias = version == 2 and rng.random() < 0.6
    max_count = int(rng.choice([2, 16, 32, 40]))  # > 15 exercises the input clip
    net = {
        "version": version,
        "n_syn": n_syn,
        "has_bias": int(has_bias),
        "w_in": weights((n_in, n_hid), d_in),
        "w_in2": second((n_in, n_hid), d_in),
        "w_rec": weights((n_hid, n_hid), d_rec),
        "w_rec2": second((n_hid, n_hid), d_rec),
        "w_out": weights((n_hid, n_out), d_out),
        "w_out2": second((n_hid, n_out), d_out),
        "shift_in": shift(),
        "shift_rec": shift(),
        "shift_out": shift(),
        "counts": (rng.integers(0, max_count, (steps, n_in)) * (rng.random((steps, n_in)) < rng.uniform(0.05, 1))
                   ).astype(np.int64),
    }
    for suffix, size in (("", n_hid), ("_out", n_out)):
        net["threshold" + suffix] = np.clip(2 ** rng.uniform(0, 15, size), 1, 32767).astype(np.int64)
        net["dash_mem" + suffix] = rng.integers(0, 16, size).astype(np.int64)
        net["dash_syn" + suffix] = rng.integers(0, 16, size).astype(np.int64)
        net["dash_syn2" + suffix] = rng.integers(0, 16, size).astype(np.int64)
        bias = rng.integers(-32768, 32768, size) >> int(rng.integers(0, 16))
        net["bias" + suffix] = (bias if has_bias else np.zeros(size)).astype(np.int64)
    return net


def make_networks(vendor: str, n_networks: int, steps: int, seed: int) -> list[dict]:
    """``n_networks`` random networks of one vendor; network i depends only on (seed, vendor, i)."""
    make = {"loihi": random_loihi_net, "xylo": random_xylo_net}[vendor]
    tag = {"loihi": 1, "xylo": 2}[vendor]
    return [make(np.random.default_rng([seed, tag, i]), steps) for i in range(n_networks)]


def pack(nets: list[dict]) -> dict[str, np.ndarray]:
    """Networks (or traces) -> one flat dict for ``np.savez`` (``n{i}_{key}``)."""
    flat = {"count": np.array(len(nets))}
    for i, net in enumerate(nets):
        for key, value in net.items():
            flat[f"n{i}_{key}"] = np.asarray(value)
    return flat


def unpack(flat) -> list[dict]:
    """Inverse of :func:`pack` (ints come back as Python ints)."""
    nets = [{} for _ in range(int(flat["count"]))]
    for name in flat.keys():
        if name == "count":
            continue
        index, key = name[1:].split("_", 1)
        value = np.asarray(flat[name])
        nets[int(index)][key] = int(value) if value.ndim == 0 else value.astype(np.int64)
    return nets


# ---------------------------------------------------------------- qsnnsim side


def qsnnsim_trace_loihi(net: dict, *, drop_lsb: bool = True, silicon_reset: bool = False) -> dict:
    """The loihi_cuba golden step driven by Lava Dense's delayed input; s, u, v per step.

    ``silicon_reset`` selects the Loihi 2 silicon option. ``drop_lsb=False`` feeds the weights as given (no clip, no LSB drop): the variant that
    shows what Dense's weight handling changes.
    """
    options = {"weight_exp": net["weight_exp"], "num_weight_bits": net["num_weight_bits"]}
    if drop_lsb:
        a_in = loihi_cuba.dense_trace(net["weights"], net["spikes"], **options)
    else:
        raw = net["weights"] @ net["spikes"].T  # (n, T)
        raw = (raw << net["weight_exp"]) if net["weight_exp"] > 0 else raw >> (-net["weight_exp"])
        a_in = np.zeros_like(raw.T)
        a_in[1:] = raw.T[:-1]
    params = {k: net[k] for k in ("du", "dv", "vth", "bias_mant", "bias_exp")}
    state = {"u": net["u0"], "v": net["v0"]}
    out = {k: [] for k in LOIHI_KEYS}
    for t in range(a_in.shape[0]):
        s, state = loihi_cuba.golden_step(state, a_in[t], params, silicon_reset=silicon_reset)
        for key, value in (("s", s), ("u", state["u"]), ("v", state["v"])):
            out[key].append(value)
    return {k: np.array(v, np.int64) for k, v in out.items()}


def qsnnsim_trace_xylo(net: dict, *, ordered: bool = True, version: int | None = None) -> dict:
    """The xylo_lif golden step of a recurrent XyloLayer; hidden and readout states per step.

    ``ordered=False`` sums each step's events before one saturating add (DESIGN §2b's form);
    ``version`` overrides the network's neuron version: both are variants that show what
    the vendor's exact rule changes.
    """
    version = net["version"] if version is None else version
    n_hid = net["w_rec"].shape[0]
    n_out = net["w_out"].shape[1]
    hidden = {k: net[k] for k in ("threshold", "dash_mem", "dash_syn", "dash_syn2", "bias")}
    readout = {k: net[k + "_out"] for k in ("threshold", "dash_mem", "dash_syn", "dash_syn2", "bias")}
    state_h = {"isyn": np.zeros(n_hid, np.int64), "isyn2": np.zeros(n_hid, np.int64), "vmem": np.zeros(n_hid, np.int64)}
    state_o = {"isyn": np.zeros(n_out, np.int64), "isyn2": np.zeros(n_out, np.int64), "vmem": np.zeros(n_out, np.int64)}
    previous = np.zeros(n_hid, np.int64)  # the recurrent spikes of the last step (delay 1)
    out = {k: [] for k in XYLO_KEYS}

    def events(counts, w, shift, limit):
        e = xylo_lif.synaptic_events(counts, w, shift, limit)
        return e if ordered else e.sum(axis=0)

    def both(parts):
        return np.concatenate(parts) if ordered else sum(parts)

    for t in range(net["counts"].shape[0]):
        a0 = both([events(net["counts"][t], net["w_in"], net["shift_in"], xylo_lif.MAX_INPUT_EVENTS),
                   events(previous, net["w_rec"], net["shift_rec"], xylo_lif.MAX_SPIKES)])
        a1 = both([events(net["counts"][t], net["w_in2"], net["shift_in"], xylo_lif.MAX_INPUT_EVENTS),
                   events(previous, net["w_rec2"], net["shift_rec"], xylo_lif.MAX_SPIKES)])
        o0 = events(previous, net["w_out"], net["shift_out"], xylo_lif.MAX_SPIKES)
        o1 = events(previous, net["w_out2"], net["shift_out"], xylo_lif.MAX_SPIKES)
        s, state_h = xylo_lif.golden_step(state_h, a0, hidden, a_in2=a1, version=version, ordered=ordered)
        s_out, state_o = xylo_lif.golden_step(state_o, o0, readout, a_in2=o1, version=version, ordered=ordered,
                                              max_spikes=xylo_lif.MAX_OUTPUT_SPIKES)
        previous = s
        for key, value in (("s", s), ("isyn", state_h["isyn"]), ("isyn2", state_h["isyn2"]),
                           ("vmem", state_h["vmem"]), ("s_out", s_out), ("isyn_out", state_o["isyn"]),
                           ("isyn2_out", state_o["isyn2"]), ("vmem_out", state_o["vmem"])):
            out[key].append(value)
    return {k: np.array(v, np.int64).reshape(len(v), -1) for k, v in out.items()}


def loihi_workload(net: dict):
    """The network as a qsnnsim workload: input spikes -> linear projection (Lava Dense's
    effective weights as 9-bit codes, its weight_exp as the projection's scale, delay 1) ->
    a loihi_cuba population -> a readout (zero weights: the workload format needs one).
    Only for networks that start at rest (every workload's state starts at 0)."""
    from qsnnsim.builder import WorkloadBuilder

    if net["u0"].any() or net["v0"].any():
        raise ValueError("a workload's neurons start at rest; this network does not")
    w = loihi_cuba.dense_weights(net["weights"], num_weight_bits=net["num_weight_bits"])
    exp = net["weight_exp"]
    steps, n_in = net["spikes"].shape
    n = w.shape[0]
    b = WorkloadBuilder("lava_dense_lif", timesteps=steps, input_kind="spikes")
    b.input("in", (n_in,))
    b.neurons("lif", (n,), "loihi_cuba", du=net["du"], dv=net["dv"], vth=net["vth"], bias_mant=net["bias_mant"],
              bias_exp=net["bias_exp"], silicon_reset=0)
    # |W @ s| <= 16 inputs x 256 < 2^23: a 24-bit accumulator (Loihi's) is exact for these networks
    b.linear("in", "lif", w, weight_bits=9, mult=1 << max(exp, 0), shift=max(-exp, 0), acc_bits=24, delay=1)
    b.readout("out", (1,))
    b.linear("lif", "out", np.zeros((1, n), np.int8), weight_bits=2)
    b.set_samples(net["spikes"].astype(np.uint8)[None])
    return b.build()


def qsnnsim_trace_loihi_workload(net: dict) -> dict:
    """s, u, v per step from qsnnsim's golden model of :func:`loihi_workload` (the whole path:
    workload validation, projection delay and scale, the dialect's step)."""
    from qsnnsim.golden import run_golden_input

    wl = loihi_workload(net)
    g = run_golden_input(wl, wl.sample_input(0), record_states=True)
    return {"s": g.spikes["lif"].astype(np.int64), "u": g.state_traces["lif"]["u"], "v": g.state_traces["lif"]["v"]}


QSNNSIM_TRACE = {"loihi": qsnnsim_trace_loihi, "xylo": qsnnsim_trace_xylo}
KEYS = {"loihi": LOIHI_KEYS, "xylo": XYLO_KEYS}


# ---------------------------------------------------------------- comparison


def compare(vendor_traces: list[dict], ours: list[dict], keys) -> dict:
    """Step-by-step diff of every recorded value; the first mismatch in (network, step) order.

    A step matches when every key's whole vector equals; ``mismatched_steps`` counts the
    (network, step) pairs that do not.
    """
    result = {"networks": len(ours), "steps": 0, "values": 0, "mismatched_steps": 0, "first_mismatch": None}
    for i, (theirs, mine) in enumerate(zip(vendor_traces, ours, strict=True)):
        n_steps = mine[keys[0]].shape[0]
        bad = np.zeros(n_steps, bool)
        for key in keys:
            a = np.asarray(theirs[key], np.int64).reshape(n_steps, -1)
            b = np.asarray(mine[key], np.int64).reshape(n_steps, -1)
            if a.shape != b.shape:
                raise ValueError(f"network {i}: {key} has shape {a.shape} from the vendor, {b.shape} from qsnnsim")
            result["values"] += a.size
            bad |= (a != b).any(axis=1)
        result["steps"] += n_steps
        result["mismatched_steps"] += int(bad.sum())
        if bad.any() and result["first_mismatch"] is None:
            t = int(np.argmax(bad))
            detail = {}
            for key in keys:
                a = np.asarray(theirs[key], np.int64).reshape(n_steps, -1)[t]
                b = np.asarray(mine[key], np.int64).reshape(n_steps, -1)[t]
                if (a != b).any():
                    j = int(np.argmax(a != b))
                    detail[key] = {"neuron": j, "vendor": int(a[j]), "qsnnsim": int(b[j])}
            result["first_mismatch"] = {"network": i, "step": t, "values": detail}
    return result
