"""Vendor side of the Xylo oracle: runs each network in xylosim 0.1.3 ``XyloLayer`` and records it.

Runs inside the xylosim venv (``python xylo_side.py NETS.npz TRACES.npz``) and imports only
numpy and ``xylosim.v1`` / ``xylosim.v2`` (never ``rockpool.devices.xylo``, never samna).
Records, per step, the hidden neurons' spike counts, isyn, isyn2 and vmem and the readout
neurons' the same. File formats: ``n{i}_{key}`` entries plus ``count``.
"""


import numpy as np
import side_io  # beside this script: numpy only
import xylosim.v1
import xylosim.v2


def synapses(module, w, w2):
    """Per source, its XyloSynapse list (target, synapse id, weight); zero weights are absent."""
    lists = []
    for pre in range(w.shape[0]):
        row = []
        for post in range(w.shape[1]):
            for syn_id, matrix in ((0, w), (1, w2)):
                if matrix[pre, post] != 0:
                    row.append(module.XyloSynapse(post, syn_id, int(matrix[pre, post])))
        lists.append(row)
    return lists


def run_network(net):
    module = xylosim.v1 if net["version"] == 1 else xylosim.v2
    n_hid = net["w_rec"].shape[0]
    n_syn = net["n_syn"]
    # pybind keeps raw pointers to the synapse objects: they must outlive the layer.
    syn_in = synapses(module, net["w_in"], net["w_in2"])
    syn_rec = synapses(module, net["w_rec"], net["w_rec2"])
    syn_out = synapses(module, net["w_out"], net["w_out2"])

    def dashes(suffix):
        first, second = net["dash_syn" + suffix], net["dash_syn2" + suffix]
        return [[int(a), int(b)][:n_syn] for a, b in zip(first, second, strict=True)]

    common = dict(synapses_in=syn_in, synapses_rec=syn_rec, synapses_out=syn_out, aliases=[[] for _ in range(n_hid)],
                  threshold=net["threshold"].tolist(), threshold_out=net["threshold_out"].tolist(),
                  weight_shift_inp=net["shift_in"], weight_shift_rec=net["shift_rec"],
                  weight_shift_out=net["shift_out"], dash_mem=net["dash_mem"].tolist(),
                  dash_mem_out=net["dash_mem_out"].tolist(), dash_syns=dashes(""), dash_syns_out=dashes("_out"),
                  name="oracle")
    if net["version"] == 2:
        common.update(has_bias=bool(net["has_bias"]), bias=net["bias"].tolist(), bias_out=net["bias_out"].tolist())
    layer = module.XyloLayer(**common)
    steps = net["counts"].shape[0]
    layer.evolve(net["counts"].astype(np.uint8).tolist())

    def currents(recording, size):
        rec = np.array([list(r) for r in recording], np.int64)
        return rec.T if rec.size else np.zeros((steps, size), np.int64)

    n_out = net["w_out"].shape[1]
    trace = {
        "s": np.array(layer.rec_recurrent_spikes, np.int64).reshape(steps, n_hid),
        "isyn": currents(layer.rec_i_syn, n_hid),
        "isyn2": currents(layer.rec_i_syn2, n_hid),
        "vmem": currents(layer.rec_v_mem, n_hid),
        "s_out": np.array(layer.rec_out_spikes, np.int64).reshape(steps, n_out),
        "isyn_out": currents(layer.rec_i_syn_out, n_out),
        "isyn2_out": currents(layer.rec_i_syn2_out, n_out),
        "vmem_out": currents(layer.rec_v_mem_out, n_out),
    }
    del layer, syn_in, syn_rec, syn_out
    return trace


if __name__ == "__main__":
    side_io.main(run_network)
