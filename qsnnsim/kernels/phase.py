"""Phase-level kernel entry points: the integer work of one slice's integrate + fire.

Plain Python over arrays that picks the jitted kernel for a projection's form
(:mod:`synapse`) and hands the sums to the fire kernel (:mod:`lif`). No simpy, no engine
objects: the engine passes arrays and ints and gets arrays back.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels import lif, synapse


#: Largest |sum| a float64 matrix product keeps exact (2^53): far above any conv here
#: (an 8-bit value x a 16-bit weight x 10^6 synapses is 2^45).
_EXACT_FLOAT = 1 << 53


def conv_all_channels(values: np.ndarray, weights: np.ndarray, stride, padding, out_hw) -> np.ndarray | None:
    """The exact int64 sums of a conv2d for every output channel at once, flat (C_out*H*W,), or None
    when a float64 product could round (then the caller uses the event kernel).

    ``values`` int (C_in, H, W), ``weights`` int64 (C_in, kH, kW, C_out). The windows are
    gathered once (im2col) and multiplied in float64 by BLAS: every partial sum is an integer
    below 2^53, so the product is exact, and one product serves every slice of the target
    (the event kernel rescans the source once per slice).
    """
    c_in, k_h, k_w, c_out = weights.shape
    out_h, out_w = out_hw
    bound = float(np.abs(values).max(initial=0)) * float(np.abs(weights).max(initial=0)) * c_in * k_h * k_w
    if bound >= _EXACT_FLOAT:
        return None
    padded = np.zeros((c_in, values.shape[1] + 2 * padding[0], values.shape[2] + 2 * padding[1]))
    padded[:, padding[0]:padding[0] + values.shape[1], padding[1]:padding[1] + values.shape[2]] = values
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k_h, k_w), axis=(1, 2))
    windows = windows[:, ::stride[0], ::stride[1]][:, :out_h, :out_w]          # (C_in, H, W, kH, kW)
    columns = np.ascontiguousarray(windows.transpose(0, 3, 4, 1, 2)).reshape(c_in * k_h * k_w, out_h * out_w)
    sums = weights.reshape(c_in * k_h * k_w, c_out).astype(np.float64).T @ columns   # (C_out, H*W)
    return np.rint(sums).astype(np.int64).reshape(-1)


def projection_sums(form: str, source: np.ndarray, source_shape: tuple, target_shape: tuple,
                    weights: np.ndarray | None, kernel, stride, padding, global_pool: bool,
                    channel_start: int, channel_stop: int, neuron_start: int, neuron_stop: int,
                    out: np.ndarray, packed_source: np.ndarray | None = None) -> np.ndarray:
    """Exact int64 sums of one projection for target neurons [neuron_start, neuron_stop).

    ``source`` is the source population's values at this timestep, flat (uint8 spikes or
    int64 analog values). For the popcount forms ``weights`` is the packed uint64 array of
    :func:`qsnnsim.engine.build._pack_plus`; ``packed_source`` may pass the source already
    packed (a cache of the caller's). ``out`` (int64, contiguous, one per target neuron)
    receives the sums and is returned.
    """
    plane = target_shape[1] * target_shape[2] if len(target_shape) == 3 else 1
    lo = neuron_start - channel_start * plane
    hi = neuron_stop - channel_start * plane
    n_c = channel_stop - channel_start
    if form in ("conv_popcount", "conv_events", "sumpool2d"):
        _, out_h, out_w = target_shape
        # The kernels fill whole channel planes: straight into ``out`` when the slice is
        # whole planes (the usual case; no copy), else into a buffer cut to the slice.
        whole = lo == 0 and hi == n_c * plane
        acc = out.reshape(n_c, out_h, out_w) if whole else np.empty((n_c, out_h, out_w), np.int64)
        if form == "conv_popcount":
            if packed_source is None:
                packed_source = synapse.pack_spike_planes(source.reshape(source_shape), padding[0], padding[1])
            synapse.accumulate_conv_popcount(packed_source, weights, channel_start, channel_stop,
                                             stride[0], stride[1], out_h, out_w, acc)
        elif form == "conv_events":
            synapse.accumulate_conv_events(source.reshape(source_shape).astype(np.int64), weights,
                                           channel_start, channel_stop, stride[0], stride[1],
                                           padding[0], padding[1], acc)
        else:
            # the source as it is stored (uint8 spikes, no int64 copy of it per slice)
            synapse.accumulate_sumpool(source.reshape(source_shape), kernel[0], kernel[1],
                                       stride[0], stride[1], padding[0], padding[1],
                                       channel_start, channel_stop, acc)
        if not whole:
            out[:] = acc.reshape(-1)[lo:hi]
        return out
    if form == "linear_popcount":
        if packed_source is None:
            packed_source = synapse.pack_spike_vector(source)
        synapse.accumulate_linear_popcount(packed_source, weights, neuron_start, neuron_stop, out)
    elif form == "linear_events":
        values = source.astype(np.int64)
        if global_pool:
            values = values.reshape(source_shape[0], -1).sum(axis=1)
        synapse.accumulate_linear_events(values, weights, neuron_start, neuron_stop, out)
    else:  # identity
        synapse.accumulate_identity(source, weights, plane, neuron_start, neuron_stop, out)
    return out


def fire_lif_slice(acc, acc_lo, acc_hi, mult, shift, membranes, threshold, bias, plane: int, first: int,
                   population, is_readout: bool, index_base: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the qsnn_lif / readout fire kernel on a slice; returns (spikes uint8 (n,), saturations
    int64 (n_proj,), fired int64: ``index_base`` + the index of each neuron that fired, ascending).

    ``mult``/``shift`` (n_proj, n_channels) and ``threshold``/``bias`` (n_channels,) are per slice
    channel; neuron i of the slice is in slice channel ``(first + i) // plane``. The dialects'
    ``fire`` entries (qsnnsim.neurons.qsnn_lif, .readout) call this.
    """
    n = membranes.shape[0]
    spikes = np.empty(n, np.uint8)
    saturations = np.zeros(acc.shape[0], np.int64)
    spike_index = np.empty(n, np.int64)
    n_fired = lif.fire_neurons(
        acc, acc_lo, acc_hi, mult, shift, membranes, threshold, bias, plane, first,
        population.decay_mult, population.decay_shift,
        lif.ROUND_TOWARD_ZERO if population.rounding == "toward_zero" else lif.ROUND_FLOOR,
        population.fire_cmp == "ge", population.reset == "soft",
        (1 << (population.membrane_bits - 1)) - 1, is_readout, spikes, saturations,
        spike_index, index_base,
    )
    return spikes, saturations, spike_index[:n_fired]


def slice_currents(acc, acc_lo, acc_hi, mult, shift, plane: int, first: int, population):
    """The summed scaled input of each of a slice's neurons, each neuron's slice channel, and the
    saturations per projection: (current int64 (n,), channel int64 (n,), saturations int64
    (n_proj,)); for the dialects' own fire kernels."""
    saturations = np.zeros(acc.shape[0], np.int64)
    channel = np.empty(acc.shape[1], np.int64)
    rounding = lif.ROUND_TOWARD_ZERO if population.rounding == "toward_zero" else lif.ROUND_FLOOR
    current = lif.slice_currents(acc, acc_lo, acc_hi, mult, shift, plane, first, rounding, saturations, channel)
    return current, channel, saturations


def spikes_to_packets(spikes, index_base: int) -> np.ndarray:
    """Population indices of the neurons that sent a spike (a bit or a count), ascending."""
    return index_base + np.flatnonzero(spikes)
