"""How well an imported integer workload agrees with its float NIR network (DESIGN §10).

The float reference (:mod:`nir_float`) and the golden model (:mod:`qsnnsim.golden`) run the
same samples; per spiking layer the report gives both spike rates, the correlation of the
neurons' spike counts, and the first timestep at which the two spike trains differ; overall,
the class each predicts (by the readout rule of the import) and, with labels, both
accuracies. :func:`format_agreement` is the text ``qsnnsim import`` prints and writes.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.golden import run_golden_input
from qsnnsim.importers import nir_float


def _float_prediction(flat, trace, populations, readout) -> np.ndarray:
    """The float network's class per sample, by the same rule as the integer readout."""
    if "source_counts" in readout.params:
        counts = trace.outputs[readout.params["source_counts"]].sum(axis=1)
        return counts.reshape(counts.shape[0], -1).argmax(axis=1)
    if readout.kind == "sum":
        source = flat.nodes[flat.output].sources[0]
        total = trace.outputs[source].sum(axis=1)
        return total.reshape(total.shape[0], -1).argmax(axis=1)
    final = trace.states[readout.node]["v"][:, -1]
    return final.reshape(final.shape[0], -1).argmax(axis=1)


def first_differences(golden, trace, populations, x) -> np.ndarray:
    """Per sample, the first timestep at which any layer's spikes differ (T if none)."""
    n, steps = len(golden), x.shape[1]
    first = np.full(n, steps)
    for pop in populations.values():
        if pop.role != "lif":
            continue
        f = trace.outputs[pop.node].reshape((n, steps, -1)) > 0
        i = np.stack([g.spikes[pop.name].reshape(steps, -1) for g in golden]).astype(bool)
        rows = (f != i).any(axis=2)
        first = np.minimum(first, np.where(rows.any(axis=1), rows.argmax(axis=1), steps))
    return first


def _membrane_error(pop, trace, golden, first) -> tuple[float, float]:
    """The largest |integer membrane / scale - float membrane| while every layer's spikes still
    agree, against the quantisation bound the importer computed for that many steps (the
    per-step error, summed over the steps; squared steps for a CUBA neuron, whose current's
    error reaches v through every later step)."""
    if pop.node not in trace.states:
        return 0.0, 0.0  # a Threshold has no membrane: its spikes alone are compared
    step = np.asarray(pop.params.get("error_step", 0.0), np.float64)
    power = pop.params.get("accumulates", 1)
    worst_error, worst_bound, worst_ratio = 0.0, 0.0, -1.0
    for k, g in enumerate(golden):
        membrane = g.state_traces[pop.name]["m" if "m" in g.state_traces[pop.name] else "v"]
        ints = membrane.reshape(membrane.shape[0], pop.shape[0], -1)
        floats = trace.states[pop.node]["v"][k].reshape(ints.shape)
        for t in range(int(first[k])):
            err = np.abs(ints[t] / pop.scale - floats[t]).max(axis=1)        # per channel
            bound = step * float(t + 1) ** power if step.ndim else np.full(err.shape, float(step) * (t + 1) ** power)
            ratio = float((err / np.maximum(bound, 1e-300)).max())
            if ratio > worst_ratio:
                c = int((err / np.maximum(bound, 1e-300)).argmax())
                worst_error, worst_bound, worst_ratio = float(err[c]), float(bound[c]), ratio
    return worst_error, worst_bound


def compare(flat, workload, populations: dict, x: np.ndarray, y, disc, readout_rule: str) -> dict:
    """The agreement report of an import (see the module docstring) on every sample."""
    trace = nir_float.simulate_batch(flat, x, disc)
    n = workload.n_samples
    golden = [run_golden_input(workload, workload.sample_input(i), record_states=True) for i in range(n)]
    readout = next(p for p in populations.values() if p.role == "readout")
    float_pred = _float_prediction(flat, trace, populations, readout)
    int_pred = np.array([g.predicted for g in golden])
    layers = []
    for pop in populations.values():
        if pop.role != "lif":
            continue
        f = trace.outputs[pop.node].reshape((n, x.shape[1], -1)) > 0
        i = np.stack([g.spikes[pop.name].reshape(x.shape[1], -1) for g in golden]).astype(bool)
        fc, ic = f.sum(axis=1).reshape(-1), i.sum(axis=1).reshape(-1)
        corr = float(np.corrcoef(fc, ic)[0, 1]) if fc.std() > 0 and ic.std() > 0 else (1.0 if np.array_equal(fc, ic) else 0.0)
        differs = (f != i).reshape(n, x.shape[1], -1).any(axis=2)        # (n, T)
        first = [int(np.argmax(row)) for row in differs if row.any()]
        error, bound = _membrane_error(pop, trace, golden, first_differences(golden, trace, populations, x))
        layers.append({
            "layer": pop.name, "node": pop.node, "neurons": int(f.shape[2]),
            "membrane_error": error, "quantisation_bound": bound,
            "within_bound": bool(error <= bound * (1 + 1e-9) + 1e-12),
            "float_rate": float(f.mean()), "integer_rate": float(i.mean()),
            "count_correlation": round(corr, 4),
            "spike_agreement": float((f == i).mean()),
            "samples_diverging": len(first), "first_divergent_timestep": min(first) if first else None,
        })
    report = {
        "samples": n, "timesteps": int(x.shape[1]), "readout": readout_rule,
        "prediction_agreement": float((float_pred == int_pred).mean()),
        "layers": layers,
    }
    if y is not None:
        report["accuracy_float"] = float((float_pred == y).mean())
        report["accuracy_integer"] = float((int_pred == y).mean())
        report["accuracy_difference_points"] = round(100 * (report["accuracy_integer"] - report["accuracy_float"]), 2)
    return report


def format_agreement(report: dict) -> str:
    """The report as the lines ``qsnnsim import`` prints (fits 100 columns)."""
    lines = [f"agreement of the integer workload with the float NIR network, {report['samples']} samples x "
             f"{report['timesteps']} timesteps (readout: {report['readout']})"]
    lines.append(f"  {'layer':<18} {'neurons':>8} {'float rate':>10} {'int rate':>9} {'count corr':>10} "
                 f"{'spikes same':>11} {'first diff':>10} {'v error / bound':>15}")
    for layer in report["layers"]:
        first = "-" if layer["first_divergent_timestep"] is None else str(layer["first_divergent_timestep"])
        # "-": nothing measured (a Threshold, or spikes that differ from the first step)
        bound = (f"{layer['membrane_error']:.2g} / {layer['quantisation_bound']:.2g}"
                 if layer["quantisation_bound"] > 0 else "-")
        name = layer["layer"] if len(layer["layer"]) <= 18 else layer["layer"][:8] + "~" + layer["layer"][-9:]
        lines.append(f"  {name:<18} {layer['neurons']:>8,} {layer['float_rate']:>10.3f} "
                     f"{layer['integer_rate']:>9.3f} {layer['count_correlation']:>10.3f} "
                     f"{100 * layer['spike_agreement']:>10.2f}% {first:>10} {bound:>15}")
    lines.append(f"  same predicted class: {100 * report['prediction_agreement']:.2f}% of samples")
    if "accuracy_float" in report:
        lines.append(f"  accuracy: float {100 * report['accuracy_float']:.2f}%, integer "
                     f"{100 * report['accuracy_integer']:.2f}% ({report['accuracy_difference_points']:+.2f} points)")
    return "\n".join(lines)
