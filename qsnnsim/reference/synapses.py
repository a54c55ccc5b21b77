"""Static per-core tables of the reference model: weight-SRAM layout, integrate cost, fire cycles.

A spike (or analog value) packet of source neuron ``j`` arriving at a core costs the integrate
unit ``max(1, sum over (slice, projection) of max(read_cycles, ceil(updates / synapse_lanes)))``
cycles (timing doc §4); this module enumerates, per (slice, projection) pair on the core, the
weight rows the spike reads (in the layout of ``docs/mapping.md``) and the neurons it updates
with their codes, which the integrate unit then adds into the slice's accumulators. Each reach
also carries what timing doc §4 counts for it (weight and accumulator words) and its projection's
delay, which picks the accumulator slot (§5b). A soma fire of a slice lasts
:func:`fire_cycles_of` cycles (timing doc §5). Everything here is a plain, straightforward
enumeration, independent of the engine's kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsnnsim.arch import ArchSpec
from qsnnsim.errors import MappingError
from qsnnsim.mapping import Slice
from qsnnsim.workload import Population, Projection, Workload


@dataclass(frozen=True)
class Reach:
    """What one source neuron does to one (slice, projection) pair on a core."""

    slice_index: int
    proj_slot: int  # position of the projection among those into the slice's population
    targets: np.ndarray  # local neuron indices in the slice (int64)
    weights: np.ndarray  # int64 weight codes, one per target
    delay: int = 0  # the projection's delay: the packet of t updates the accumulator slot of t + delay
    weight_words: int = 0  # weight SRAM words read (counter weight_sram_read, timing doc §4)
    acc_words: int = 0  # accumulator words read and written (counters acc_sram_read/_write, §4)
    weight_bits: int = 1  # the projection's code width: a valued packet counts mac8 (<= 8) or mac16


def window_positions(y: int, x: int, proj: Projection, out_hw: tuple[int, int]):
    """(kh, kw, oy, ox) of every kernel offset, row-major, whose window puts input (y, x) at an output."""
    (k_h, k_w), (s_h, s_w), (p_h, p_w) = proj.kernel, proj.stride, proj.padding
    for kh in range(k_h):
        num_y = y + p_h - kh
        if num_y < 0 or num_y % s_h or num_y // s_h >= out_hw[0]:
            continue
        for kw in range(k_w):
            num_x = x + p_w - kw
            if num_x < 0 or num_x % s_w or num_x // s_w >= out_hw[1]:
                continue
            yield kh, kw, num_y // s_h, num_x // s_w


def reach_of(proj: Projection, src: Population, tgt: Population, sl: Slice, j: int):
    """Weight rows read, (local target, code) pairs updated, and updates per accumulator row, when
    source neuron ``j`` spikes.

    Rows follow ``docs/mapping.md``'s layout and timing doc §4's order; a synapse counts
    whether or not its code is zero (the row is read and every lane updates). The updates of
    one synapse row (a conv kernel offset's slice channels at one output position, or a linear
    row's targets) touch adjacent accumulators, counted together (§4); a sum-pool or identity
    update is a row of its own.
    """
    lo, hi = sl.neuron_start, sl.neuron_stop
    row_updates: list[int] = []
    rows: list[int] = []
    targets: list[int] = []
    codes: list[int] = []
    c_src = j // src.plane_size
    if proj.kind in ("conv2d", "sumpool2d"):
        _, h_in, w_in = src.shape
        c_out, h_out, w_out = tgt.shape
        rem = j % (h_in * w_in)
        y, x = divmod(rem, w_in)
        k_h, k_w = proj.kernel
        channels = range(c_out) if proj.kind == "conv2d" else (c_src,)
        for kh, kw, oy, ox in window_positions(y, x, proj, (h_out, w_out)):
            hits = 0
            for co in channels:
                n = (co * h_out + oy) * w_out + ox
                if lo <= n < hi:
                    hits += 1
                    targets.append(n - lo)
                    codes.append(int(proj.weights[co, c_src, kh, kw]) if proj.kind == "conv2d" else 1)
            if hits and proj.kind == "conv2d":
                rows.append((c_src * k_h + kh) * k_w + kw)
                row_updates.append(hits)
            elif hits:
                row_updates.append(hits)
    elif proj.kind == "linear":
        col = c_src if proj.global_sum_pool else j
        rows.append(col)
        for n in range(lo, hi):
            targets.append(n - lo)
            codes.append(int(proj.weights[n, col]))
        row_updates.append(hi - lo)
    else:  # identity: one-to-one
        if lo <= j < hi:
            rows.append(c_src - sl.channel_start)
            targets.append(j - lo)
            codes.append(int(proj.weights[c_src]))
            row_updates.append(1)
    return rows, np.array(targets, np.int64), np.array(codes, np.int64), row_updates


def row_geometry(proj: Projection, src: Population, sl: Slice, word_bits: int) -> tuple[int, int]:
    """(rows, words per row) a (slice, projection) pair holds in weight SRAM (``docs/mapping.md``)."""
    if proj.kind == "conv2d":
        n_rows, row_bits = src.n_channels * proj.kernel[0] * proj.kernel[1], sl.n_channels * proj.weight_bits
    elif proj.kind == "linear":
        n_rows = src.n_channels if proj.global_sum_pool else src.n_neurons
        row_bits = sl.n_channels * proj.weight_bits
    elif proj.kind == "identity":
        n_rows, row_bits = sl.n_channels, proj.weight_bits
    else:
        return 0, 0
    return n_rows, math.ceil(row_bits / word_bits)


def bank_scan_cycles(addresses: list[int], banks: int) -> int:
    """Cycles to issue words in order, a new cycle whenever a word's bank is already busy."""
    if not addresses:
        return 0
    cycles, used = 1, set()
    for addr in addresses:
        bank = addr % banks
        if bank in used:
            cycles += 1
            used = set()
        used.add(bank)
    return cycles


class CoreSynapses:
    """The weight-SRAM layout of one core in one pass, and each spike's integrate cost."""

    def __init__(self, workload: Workload, arch: ArchSpec, slices: list[Slice], mapping_file: str):
        self.pops = {p.name: p for p in workload.populations}
        self.arch = arch
        word_bits = arch.core.weight_sram.word_bits
        # (slice, slot, projection, base address, words per row), in storage order.
        self.pairs: list[tuple[Slice, int, Projection, int, int]] = []
        base = 0
        for sl in slices:
            used = 0
            for slot, proj in enumerate(workload.projections_into(sl.population)):
                n_rows, row_words = row_geometry(proj, self.pops[proj.source], sl, word_bits)
                self.pairs.append((sl, slot, proj, base, row_words))
                base += n_rows * row_words
                used += n_rows * row_words
            if used != sl.weight_words:
                raise MappingError(mapping_file, f"slices[{sl.index}].weight_words",
                                   f"is {sl.weight_words}, but the slice's projections need {used} words",
                                   "map the workload again with this architecture")
        self._memo: dict[tuple[str, int], tuple[int, tuple[Reach, ...]]] = {}

    def spike(self, src_name: str, j: int) -> tuple[int, tuple[Reach, ...]]:
        """(cost in cycles, reaches) of a spike or value packet of neuron ``j`` of ``src_name``."""
        key = (src_name, j)
        if key not in self._memo:
            core = self.arch.core
            total, reaches = 0, []
            for sl, slot, proj, base, row_words in self.pairs:
                if proj.source != src_name:
                    continue
                rows, targets, codes, row_updates = reach_of(proj, self.pops[src_name], self.pops[sl.population], sl, j)
                addresses = [base + r * row_words + w for r in rows for w in range(row_words)]
                read_cycles = bank_scan_cycles(addresses, core.weight_sram.banks)
                total += max(read_cycles, math.ceil(len(targets) / core.synapse_lanes))
                if proj.kind in ("conv2d", "linear"):
                    acc_words = sum(math.ceil(u * proj.acc_bits / core.acc_sram.word_bits) for u in row_updates)
                else:  # a sum-pool or identity update touches one word
                    acc_words = sum(row_updates)
                if len(targets):
                    reaches.append(Reach(sl.index, slot, targets, codes, delay=proj.delay,
                                         weight_words=len(addresses), acc_words=acc_words,
                                         weight_bits=proj.weight_bits))
            self._memo[key] = (max(1, total), tuple(reaches))
        return self._memo[key]


def fire_cycles_of(sl: Slice, arch: ArchSpec) -> int:
    """Soma cycles of one fire of slice ``sl`` (timing doc §5): a fire reads and clears one of the
    slice's ``K`` accumulator slots (§5b), ``acc_words / K`` words, not all of them."""
    core = arch.core
    return core.fire_pipeline_cycles + max(
        math.ceil(sl.n_neurons / core.neuron_lanes),
        math.ceil(2 * sl.membrane_words / core.membrane_sram.banks),
        math.ceil(2 * sl.acc_slot_words / core.acc_sram.banks),
    )


