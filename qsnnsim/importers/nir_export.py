"""A workload back to NIR (`qsnnsim export-nir`): the integer network as a float NIR graph, so a
network can go on to Lava, SpiNNaker2 or any other NIR consumer.

The exported graph computes, in float and with forward Euler at the stated ``dt``, what the
workload's integer network computes, up to the integer arithmetic itself (rounding of each
shift, clamps, wraps): membranes are in the workload's integer units, each projection's
weights are its codes times its per-channel scale ``mult / 2^shift``, and

- ``qsnn_lif`` becomes LIF with ``tau = dt / (1 - decay)`` (IF where the decay is 1), ``r = tau / dt``
  (so the input adds with weight 1), ``v_leak = bias * tau / dt`` (the bias added every step),
  ``v_threshold`` the threshold; ``loihi_cuba`` becomes CubaLIF with its two 12-bit decays;
- ``readout`` becomes LI (I without a leak), ``cuba_readout`` CubaLI;
- ``conv2d`` is Conv2d, ``linear`` Affine (a Flatten first from a (C, H, W) source; a global
  sum-pool first sums each channel), ``sumpool2d`` SumPool2d and a Scale, ``identity`` a Scale;
  a delay is a Delay node; fan-in adds, as NIR's edges do.

``xylo_lif`` (graded spikes, shift decays) has no NIR node that spikes more than once a step:
it is refused in one line. NIR does not encode reset by subtraction: the graph records the
workload's reset in its metadata, and the user says it again on import.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.errors import NirImportError

DT = 1e-4


def _scale(proj) -> np.ndarray:
    return proj.mult.astype(np.float64) / np.exp2(proj.shift.astype(np.float64))


def export_nir(workload, dt: float = DT):
    """The workload as a ``nir.NIRGraph`` (see the module docstring)."""
    import nir

    nodes: dict = {}
    edges: list = []
    pops = {p.name: p for p in workload.populations}
    units = {p.name for p in workload.populations if _always_fires(p, workload)}
    in_pop = workload.input_population
    entry = in_pop.name
    for pop in workload.populations:
        if pop.name not in units:
            nodes[pop.name] = _population_node(nir, pop, dt, workload)
    scale = workload.provenance.get("input_scale") if isinstance(workload.provenance, dict) else None
    if workload.input_kind == "analog" and isinstance(scale, (int, float)) and scale > 0 and scale != 1:
        # An imported workload's int8 codes are round(x / scale): the graph takes x itself.
        entry = f"{in_pop.name}.scale"
        nodes[entry] = nir.Scale(scale=np.full(in_pop.shape, 1.0 / scale))
        edges.append((in_pop.name, entry))
    for proj in workload.projections:
        src, tgt = pops[proj.source], pops[proj.target]
        if proj.source in units:
            if proj.target in units:
                continue  # the unit's own silent self-projection
            # A unit that fires every step (the importer's bias for a CUBA current) is a
            # constant input: an Affine with no weights and the projection's values as bias.
            chain = [("flatten", nir.Flatten(input_type={"input": np.array(in_pop.shape)}, start_dim=0))] \
                if len(in_pop.shape) > 1 else []
            bias = np.broadcast_to((_scale(proj) * proj.weights.astype(np.float64)).reshape(
                (-1,) + (1,) * (len(tgt.shape) - 1)), tgt.shape).reshape(-1)
            chain.append(("constant", nir.Affine(weight=np.zeros((bias.size, in_pop.n_neurons)), bias=bias.copy())))
            prev = entry
        else:
            chain = _projection_nodes(nir, proj, src, tgt)
            prev = entry if proj.source == in_pop.name else proj.source
        if proj.delay:
            chain.append(("delay", nir.Delay(delay=np.full(tgt.shape, proj.delay * dt))))
        for suffix, node in chain:
            name = f"{proj.name}.{suffix}"
            nodes[name] = node
            edges.append((prev, name))
            prev = name
        edges.append((prev, proj.target))
    out = workload.readout_population
    nodes["output"] = nir.Output(output_type={"output": np.array(out.shape)})
    edges.append((out.name, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False,
                         metadata={"exported_by": "qsnnsim export-nir", "dt": dt, "workload": workload.name,
                                   "resets": {p.name: _reset(p) for p in workload.populations
                                              if p.kind == "lif" and p.name not in units}})
    return graph


def _reset(pop) -> str:
    """A spiking population's reset: hard (to 0) or soft (by subtraction)."""
    if pop.neuron.name == "loihi_cuba":
        return "soft" if pop.params.get("reset_subtract", 0) else "hard"
    return pop.reset


def _always_fires(pop, workload) -> bool:
    """A population that spikes at every step whatever comes in (no leak, threshold below 0, fed
    only by a silent self-projection): the importer's constant-input unit."""
    if pop.kind != "lif" or pop.neuron.name != "qsnn_lif" or pop.decay_mult != 0 or not np.all(pop.threshold < 0):
        return False
    incoming = workload.projections_into(pop.name)
    return all(p.source == pop.name and not np.any(p.weights) for p in incoming)


def _population_node(nir, pop, dt: float, workload):
    shape = pop.shape
    if pop.kind == "input":
        return nir.Input(input_type={"input": np.array(shape)})
    channel = lambda v: np.broadcast_to(np.asarray(v, np.float64).reshape((-1,) + (1,) * (len(shape) - 1)), shape)  # noqa: E731
    name = pop.neuron.name
    if name in ("qsnn_lif", "readout"):
        decay = pop.decay_mult / 2.0 ** pop.decay_shift
        if decay >= 1.0:
            if name == "readout":
                return nir.I(r=np.full(shape, 1 / dt))
            return nir.IF(r=np.full(shape, 1 / dt), v_threshold=channel(pop.threshold).copy(), v_reset=np.zeros(shape))
        tau = np.full(shape, dt / (1 - decay))
        v_leak = channel(pop.bias).copy() * tau / dt
        if name == "readout":
            return nir.LI(tau=tau, r=tau / dt, v_leak=v_leak)
        return nir.LIF(tau=tau, r=tau / dt, v_leak=v_leak, v_threshold=channel(pop.threshold).copy(),
                       v_reset=np.zeros(shape))
    if name == "loihi_cuba":
        p = pop.params
        d_syn = 1 - (np.asarray(p["du"], np.float64) + 1) / 4096
        d_mem = 1 - np.asarray(p["dv"], np.float64) / 4096
        tau_syn, tau_mem = channel(dt / np.maximum(1 - d_syn, 1e-12)), channel(dt / np.maximum(1 - d_mem, 1e-12))
        bias = np.asarray(p["bias_mant"], np.float64) * np.exp2(np.asarray(p["bias_exp"], np.float64))
        return nir.CubaLIF(tau_syn=tau_syn.copy(), tau_mem=tau_mem.copy(), r=(tau_mem / dt).copy(),
                           v_leak=(channel(bias) * tau_mem / dt).copy(),
                           v_threshold=channel(np.asarray(p["vth"], np.float64) * 64).copy(),
                           w_in=(64 * tau_syn / dt).copy(), v_reset=np.zeros(shape))
    if name == "cuba_readout":
        d_syn = pop.params["syn_decay_mult"] / 2.0 ** pop.params["syn_decay_shift"]
        d_mem = pop.decay_mult / 2.0 ** pop.decay_shift
        tau_syn, tau_mem = np.full(shape, dt / max(1 - d_syn, 1e-12)), np.full(shape, dt / max(1 - d_mem, 1e-12))
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt,
                          v_leak=channel(pop.bias).copy() * tau_mem / dt, w_in=tau_syn / dt)
    raise NirImportError(workload.name, f"populations.{pop.name}.dialect",
                         f"is {name}, which no NIR node computes (graded spikes, shift decays)",
                         "export a workload of qsnn_lif, loihi_cuba, readout or cuba_readout populations")


def _projection_nodes(nir, proj, src, tgt) -> list:
    """The NIR nodes of one projection, source side first."""
    scale = _scale(proj)
    if proj.kind == "conv2d":
        w = proj.weights.astype(np.float64) * scale[:, None, None, None]
        return [("conv", nir.Conv2d(input_shape=np.array(src.shape[1:]), weight=w, stride=np.array(proj.stride),
                                    padding=np.array(proj.padding), dilation=np.array([1, 1]), groups=1,
                                    bias=np.zeros(w.shape[0])))]
    if proj.kind == "linear":
        chain = []
        if proj.global_sum_pool:
            # a global sum-pool is a SumPool2d over the whole plane
            k = np.array(src.shape[1:])
            chain.append(("pool", nir.SumPool2d(kernel_size=k, stride=k, padding=np.array([0, 0]))))
        if len(src.shape) > 1:
            flat_in = np.array((src.shape[0], 1, 1) if proj.global_sum_pool else src.shape)
            chain.append(("flatten", nir.Flatten(input_type={"input": flat_in}, start_dim=0)))
        w = proj.weights.astype(np.float64) * scale[:, None]
        chain.append(("affine", nir.Affine(weight=w, bias=np.zeros(w.shape[0]))))
        return chain
    per_channel = np.broadcast_to(scale.reshape((-1,) + (1,) * (len(tgt.shape) - 1)), tgt.shape)
    if proj.kind == "sumpool2d":
        return [("pool", nir.SumPool2d(kernel_size=np.array(proj.kernel), stride=np.array(proj.stride),
                                       padding=np.array(proj.padding))),
                ("scale", nir.Scale(scale=per_channel.copy()))]
    codes = np.broadcast_to(proj.weights.astype(np.float64).reshape((-1,) + (1,) * (len(tgt.shape) - 1)), tgt.shape)
    return [("scale", nir.Scale(scale=(per_channel * codes).copy()))]
