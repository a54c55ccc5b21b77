"""Engine build: Mapping + ArchSpec + Workload -> typed, contiguous per-slice and per-core arrays.

The one place the engine chooses dtypes (int64 state and counts, uint64 packed 1-bit
weights, uint8 spikes; the per-neuron cost tables as narrow as their bounds allow, as they
are the largest arrays of a run) and precomputes what the hot path looks up: each slice's fire cost
and scale vectors, each projection's packed weights, and for every (source population,
destination core) the integrate cost of a packet from each source neuron
(docs/timing-model.md §4). Built once per run, shared by all samples.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from qsnnsim.arch import ArchSpec
from qsnnsim.counters import Action
from qsnnsim.errors import MappingError
from qsnnsim.kernels import sram, synapse
from qsnnsim.kernels._jit import load_numba_target
from qsnnsim.mapping import Mapping, Slice, check_packet_fits
from qsnnsim.workload import Population, Projection, Workload

HOST_SOURCE = -1  # source key of the host's input train (docs/timing-model.md §9)


@dataclass(frozen=True, eq=False)
class IncomingPlan:
    """One projection into a slice's population, as the fire kernel consumes it."""

    projection: int          # index in workload.projections
    source_pop: int          # index in workload.populations
    form: str                # conv_popcount | linear_popcount | conv_events | linear_events | identity | sumpool2d
    acc_lo: int
    acc_hi: int


@dataclass(frozen=True, eq=False)
class SlicePlan:
    """Everything the engine needs about one slice, arrays already typed."""

    index: int
    pop: int                 # index in workload.populations
    core: int
    pass_index: int
    neuron_start: int
    neuron_stop: int
    channel_start: int
    channel_stop: int
    fire_cycles: int
    incoming: tuple          # IncomingPlan per projection into the population (workload order)
    mult: np.ndarray         # int64 (n_proj, n_channels) of the slice's channels
    shift: np.ndarray        # int64 (n_proj, n_channels)
    params: dict             # the dialect's parameters (qsnnsim.neurons): int64 (n_channels,)
                             # vectors of the slice's channels, scalars as they are
    plane: int               # neurons per channel
    first: int               # offset of neuron_start inside its channel's plane
    dest_cores: tuple        # cores of same-pass destination slices, increasing
    has_later_pass_dests: bool

    @property
    def n_neurons(self) -> int:
        return self.neuron_stop - self.neuron_start


@dataclass(frozen=True, eq=False)
class CostTable:
    """Integrate cost at one core of a packet from each neuron of one source population."""

    cost: np.ndarray            # int32 (n_src,): max(1, sum of pair cycles)
    stats: np.ndarray           # uint16, or int32 past its range (n_targets, 3, n_src): weight words,
                                # updates, accumulator words; one target per (slice, projection) pair
    target_pops: np.ndarray     # int64 (n_targets,): each target's population index
    target_actions: np.ndarray  # int64 (n_targets,): what counts its updates (an add, or a MAC for
                                # an analog source)
    cost_at: int = 0            # where ``cost`` lies in the plan's TablePools.cost
    stats_at: int = 0           # where ``stats`` lies in TablePools.stats16 or .stats32 (by its dtype)


@dataclass(frozen=True, eq=False)
class TablePools:
    """Every distinct cost table's arrays end to end (each :class:`CostTable` is a view into
    them), so compiled code reaches any table by an offset rather than a list of arrays."""

    cost: np.ndarray            # int32
    stats16: np.ndarray         # uint16
    stats32: np.ndarray         # int32


@dataclass(frozen=True, eq=False)
class Plan:
    """The prepared run: workload, arch, mapping and the arrays derived from them."""

    workload: Workload
    arch: ArchSpec
    mapping: Mapping
    slices: tuple
    cost_tables: dict        # (source population index, core, pass) -> CostTable
    table_pools: TablePools  # the tables' arrays, end to end
    packed_weights: dict     # projection index -> uint64 array (popcount forms)
    int_weights: dict        # projection index -> int64 array (event forms; conv: (C_in, kH, kW, C_out))
    n_cores: int
    io_core: int
    analog_value_bits: int

    def hops(self, core_a: int, core_b: int) -> int:
        return self.mapping.hops(core_a, core_b)


def _is_binary(pop: Population, wl: Workload) -> bool:
    """Its spikes are bits (the popcount fast path); graded spikes and analog inputs are values."""
    if pop.kind == "input":
        return wl.input_kind == "spikes"
    return pop.spike_max == 1


def _form(proj: Projection, src: Population, wl: Workload) -> str:
    if proj.kind == "conv2d":
        return "conv_popcount" if proj.weight_bits == 1 and _is_binary(src, wl) else "conv_events"
    if proj.kind == "linear":
        if proj.weight_bits == 1 and _is_binary(src, wl) and not proj.global_sum_pool:
            return "linear_popcount"
        return "linear_events"
    return proj.kind


def _pack_plus(codes: np.ndarray) -> np.ndarray:
    """Pack 1-bit weight codes into uint64 words along the source axis, bit set for +1.

    conv2d (C_out, C_in, kH, kW) -> (C_out, kH, kW, words); linear (n_out, n_in) -> (n_out,
    words). Bit i of word w is source input w * 64 + i, as the spike packing kernels of
    kernels/synapse.py expect.
    """
    codes = np.ascontiguousarray(codes)
    if codes.ndim == 4:
        c_out, c_in, k_h, k_w = codes.shape
        return synapse.pack_plus(codes.reshape(c_out, c_in, k_h * k_w)).reshape(c_out, k_h, k_w, -1)
    return synapse.pack_plus(codes[:, :, None]).reshape(codes.shape[0], -1)


def _fire_cycles(s: Slice, arch: ArchSpec) -> int:
    core = arch.core
    return core.fire_pipeline_cycles + max(
        math.ceil(s.n_neurons / core.neuron_lanes),
        math.ceil(2 * s.membrane_words / core.membrane_sram.banks),
        math.ceil(2 * s.acc_slot_words / core.acc_sram.banks),
    )


def _check_mapping(wl: Workload, arch: ArchSpec, mapping: Mapping, file: str) -> None:
    """Refuse a mapping that was not made for this workload on this architecture."""
    problem = None
    if mapping.workload_name != wl.name or mapping.arch_name != arch.name:
        problem = f"was made for {mapping.workload_name!r} on {mapping.arch_name!r}"
    elif (mapping.mesh_rows, mapping.mesh_cols) != (arch.grid_rows, arch.grid_cols):
        problem = (f"is for a {mapping.mesh_rows}x{mapping.mesh_cols} mesh, the arch has "
                   f"{arch.grid_rows}x{arch.grid_cols}")
    else:
        covered = {}
        for s in mapping.slices:
            covered[s.population] = covered.get(s.population, 0) + s.n_neurons
        for pop in wl.populations:
            if pop.kind != "input" and covered.get(pop.name, 0) != pop.n_neurons:
                problem = f"covers {covered.get(pop.name, 0)} of the {pop.n_neurons} neurons of {pop.name!r}"
                break
    if problem:
        raise MappingError(file, "mapping", problem, "map this workload onto this architecture first")


def build_plan(workload: Workload, arch: ArchSpec, mapping: Mapping, arch_file: str = "") -> Plan:
    """Prepare the per-slice and per-core arrays of a run (see module docstring)."""
    _check_mapping(workload, arch, mapping, arch_file or arch.name)
    load_numba_target()  # before the kernels below, and before the second thread calls any
    value_bits = check_packet_fits(workload, arch, arch_file)
    wl = workload
    pops = wl.populations
    pop_index = {p.name: i for i, p in enumerate(pops)}
    proj_index = {p.name: i for i, p in enumerate(wl.projections)}
    # The weights are packed on a second thread while this one builds the slices and the
    # packet-cost tables: the packing and the cost tables are numba kernels, which release the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        weights = pool.submit(_typed_weights, wl, pop_index)
        slices = _slice_plans(wl, arch, mapping, pop_index, proj_index)
        cost_tables, table_pools = _pool_tables(_cost_tables(wl, arch, mapping, pop_index))
        packed, ints = weights.result()
    return Plan(
        workload=wl, arch=arch, mapping=mapping, slices=tuple(slices),
        cost_tables=cost_tables, table_pools=table_pools, packed_weights=packed, int_weights=ints,
        n_cores=mapping.n_cores, io_core=mapping.core_of_input, analog_value_bits=value_bits,
    )


def _typed_weights(wl: Workload, pop_index: dict) -> tuple[dict, dict]:
    """Each projection's weights as its kernel reads them: packed 1-bit words, or int64."""
    pops = wl.populations
    packed: dict[int, np.ndarray] = {}
    ints: dict[int, np.ndarray] = {}
    for i, proj in enumerate(wl.projections):
        form = _form(proj, pops[pop_index[proj.source]], wl)
        if form == "conv_popcount":
            packed[i] = _pack_plus(proj.weights)  # (C_out, kH, kW, words)
        elif form == "linear_popcount":
            packed[i] = _pack_plus(proj.weights)
        elif form == "conv_events":
            # output channel last: the event kernel's inner loop runs over contiguous weights
            ints[i] = np.ascontiguousarray(proj.weights.astype(np.int64).transpose(1, 2, 3, 0))
        elif proj.weights is not None:
            ints[i] = np.ascontiguousarray(proj.weights.astype(np.int64))
    return packed, ints


def _slice_plans(wl: Workload, arch: ArchSpec, mapping: Mapping, pop_index: dict, proj_index: dict) -> list:
    """One :class:`SlicePlan` per mapped slice."""
    slices = []
    for s in mapping.slices:
        pop = wl.population(s.population)
        channels = slice(s.channel_start, s.channel_stop)
        incoming = []
        mult = np.zeros((0, s.n_channels), np.int64)
        shift = np.zeros((0, s.n_channels), np.int64)
        rows_m, rows_s = [], []
        for proj in wl.projections_into(pop.name):
            lo, hi = proj.acc_range
            k = proj_index[proj.name]
            incoming.append(IncomingPlan(projection=k, source_pop=pop_index[proj.source],
                                         form=_form(proj, wl.population(proj.source), wl), acc_lo=lo, acc_hi=hi))
            rows_m.append(proj.mult.astype(np.int64)[channels])
            rows_s.append(proj.shift.astype(np.int64)[channels])
        if rows_m:
            mult = np.ascontiguousarray(np.stack(rows_m))
            shift = np.ascontiguousarray(np.stack(rows_s))
        dests = mapping.destinations[s.index]
        same = sorted({mapping.slices[d].core for d in dests if mapping.slices[d].pass_index == s.pass_index})
        later = any(mapping.slices[d].pass_index > s.pass_index for d in dests)
        slices.append(SlicePlan(
            index=s.index, pop=pop_index[s.population], core=s.core, pass_index=s.pass_index,
            neuron_start=s.neuron_start, neuron_stop=s.neuron_stop, channel_start=s.channel_start,
            channel_stop=s.channel_stop, fire_cycles=_fire_cycles(s, arch), incoming=tuple(incoming),
            mult=mult, shift=shift, params=_slice_params(pop, channels), plane=pop.plane_size,
            first=s.neuron_start - s.channel_start * pop.plane_size, dest_cores=tuple(same),
            has_later_pass_dests=later,
        ))
    return slices


def _slice_params(pop: Population, channels) -> dict:
    """The dialect's parameters for a slice: per-channel vectors cut to its channels."""
    return {k: (np.ascontiguousarray(v[channels]) if isinstance(v, np.ndarray) else v)
            for k, v in pop.neuron.parameters(pop).items()}


def _row_words(bits: int, arch: ArchSpec) -> int:
    return -(-bits // arch.core.weight_sram.word_bits)


def _cost_tables(wl: Workload, arch: ArchSpec, mapping: Mapping, pop_index: dict) -> dict:
    """For every (source population, core holding one of its targets, pass): per-neuron packet costs.

    Rows of a core's (slice, projection) pairs are laid out in slice index order, then
    projection order, from word address 0 (docs/mapping.md, docs/timing-model.md §4).
    """
    banks = arch.core.weight_sram.banks
    pops = wl.populations
    # word base of every (slice, projection) pair, per core and pass
    base_of: dict[tuple[int, str], int] = {}
    next_base: dict[tuple[int, int], int] = {}
    for s in mapping.slices:
        pop = wl.population(s.population)
        key = (s.core, s.pass_index)
        for proj in wl.projections_into(pop.name):
            n_rows, row_bits = _rows(proj, wl.population(proj.source), s)
            base = next_base.get(key, 0)
            base_of[(s.index, proj.name)] = base
            next_base[key] = base + n_rows * (_row_words(row_bits, arch) if n_rows else 0)
    tables: dict = {}
    by_core: dict[tuple[int, int, int], list] = {}
    for s in mapping.slices:
        pop = wl.population(s.population)
        for proj in wl.projections_into(pop.name):
            by_core.setdefault((pop_index[proj.source], s.core, s.pass_index), []).append((s, proj))
    proj_order = {p.name: i for i, p in enumerate(wl.projections)}
    memo: dict = {}
    shared: dict = {}
    for (src_i, core_id, pass_i), pairs in sorted(by_core.items()):
        src = pops[src_i]
        n_src = src.n_neurons
        ordered = sorted(pairs, key=lambda sp: (sp[0].index, proj_order[sp[1].name]))
        keys = [_pair_key(proj, s, wl.population(s.population), base_of[(s.index, proj.name)] % banks)
                for s, proj in ordered]
        target_pops = np.array([pop_index[s.population] for s, _ in ordered], np.int64)
        target_actions = np.array([_update_action(proj, src, wl) for _, proj in ordered], np.int64)
        # Cores holding equal slices of a layer (the usual case) see identical tables: share them.
        table_key = tuple(keys) if all(k is not None for k in keys) else None
        if table_key is not None and table_key in shared:
            cost, stats = shared[table_key]
            tables[(src_i, core_id, pass_i)] = CostTable(cost, stats, target_pops, target_actions)
            continue
        # The kernels fill each pair's counts in place, at the width the train gathers read
        # (every entry written: no zeroing of these MB-sized arrays).
        bound = max(_stat_bound(proj, src, s, arch) for s, proj in ordered)
        stats = np.empty((len(ordered), 3, n_src), np.uint16 if bound <= np.iinfo(np.uint16).max else np.int32)
        total = None
        for k, ((s, proj), key) in enumerate(zip(ordered, keys)):
            if key is not None and key in memo:
                cycles, counts = memo[key]
                stats[k] = counts
            else:
                tgt = wl.population(s.population)
                n_rows, row_bits = _rows(proj, src, s)
                rw = _row_words(row_bits, arch) if n_rows else 0
                # a packet's cycles are at most its words plus its updates: int32 holds them
                cycles = np.empty(n_src, np.int32)
                _pair_costs(proj, src, tgt, s, base_of[(s.index, proj.name)], rw, arch, cycles,
                            stats[k, 0], stats[k, 1], stats[k, 2])
                if key is not None:
                    memo[key] = (cycles, stats[k])
            if total is None:
                total = cycles.copy()
            else:
                total += cycles
        cost = np.maximum(total, 1, out=total)
        if table_key is not None:
            shared[table_key] = (cost, stats)
        tables[(src_i, core_id, pass_i)] = CostTable(cost, stats, target_pops, target_actions)
    return tables


def _pool_tables(tables: dict) -> tuple[dict, TablePools]:
    """Copy every distinct cost and stats array into one pool per dtype; the tables become views
    (tables that shared an array share its view)."""
    arrays: dict = {}   # id -> (array, pool name)
    for table in tables.values():
        arrays.setdefault(id(table.cost), (table.cost, "cost"))
        arrays.setdefault(id(table.stats), (table.stats, "stats16" if table.stats.dtype == np.uint16 else "stats32"))
    dtypes = {"cost": np.int32, "stats16": np.uint16, "stats32": np.int32}
    sizes = dict.fromkeys(dtypes, 0)
    at: dict = {}
    for key, (array, pool) in arrays.items():
        at[key] = sizes[pool]
        sizes[pool] += array.size
    pools = {pool: np.empty(size, dtypes[pool]) for pool, size in sizes.items()}
    views: dict = {}
    for key, (array, pool) in arrays.items():
        view = pools[pool][at[key]:at[key] + array.size]
        view[:] = array.reshape(-1)
        views[key] = view.reshape(array.shape)
    pooled = {key: CostTable(views[id(t.cost)], views[id(t.stats)], t.target_pops, t.target_actions,
                             cost_at=at[id(t.cost)], stats_at=at[id(t.stats)])
              for key, t in tables.items()}
    return pooled, TablePools(**pools)


def _pair_key(proj: Projection, s: Slice, tgt: Population, bank_offset: int) -> tuple | None:
    """What a conv pair's per-neuron costs depend on, when it covers whole channel planes.

    Such a pair costs the same per source neuron for every slice with as many channels and
    the same bank alignment of its rows; other pairs get no key and are computed each time.
    """
    full_planes = (s.neuron_start == s.channel_start * tgt.plane_size
                   and s.neuron_stop == s.channel_stop * tgt.plane_size)
    return (proj.name, s.n_channels, bank_offset) if proj.kind == "conv2d" and full_planes else None


def _pair_costs(proj: Projection, src: Population, tgt: Population, s: Slice, base: int, rw: int,
                arch: ArchSpec, cycles, words, updates, acc_words) -> None:
    """Fill the per-source-neuron cost arrays of one (slice, projection) pair (kernels.sram)."""
    banks, lanes = arch.core.weight_sram.banks, arch.core.synapse_lanes
    acc_word_bits = arch.core.acc_sram.word_bits
    n_src = src.n_neurons
    if proj.kind in ("conv2d", "sumpool2d"):
        c_in, in_h, in_w = src.shape
        _, out_h, out_w = tgt.shape
        kh, kw = proj.kernel
        sh, sw = proj.stride
        ph, pw = proj.padding
        if proj.kind == "conv2d":
            sram.conv_pair_costs(c_in, in_h, in_w, out_h, out_w, kh, kw, sh, sw, ph, pw,
                                 s.channel_start, s.channel_stop, s.neuron_start, s.neuron_stop,
                                 base, rw, banks, lanes, proj.acc_bits, acc_word_bits,
                                 cycles, words, updates, acc_words)
        else:
            sram.sumpool_pair_costs(c_in, in_h, in_w, out_h, out_w, kh, kw, sh, sw, ph, pw,
                                    s.channel_start, s.channel_stop, s.neuron_start, s.neuron_stop,
                                    lanes, cycles, words, updates, acc_words)
    elif proj.kind == "linear":
        sram.linear_pair_costs(n_src, s.n_neurons, rw, banks, lanes, proj.acc_bits, acc_word_bits,
                               cycles, words, updates, acc_words)
    else:
        sram.identity_pair_costs(n_src, s.neuron_start, s.neuron_stop, rw, banks, lanes,
                                 cycles, words, updates, acc_words)


def _update_action(proj: Projection, src: Population, wl: Workload) -> int:
    """A binary spike's update is an add whatever the weight width; an analog value's or a graded
    spike's count (DESIGN §2b) multiplies the weight: a MAC."""
    if not _is_binary(src, wl):
        return int(Action.MAC8 if proj.weight_bits <= 8 else Action.MAC16)
    return int(Action.SYNAPTIC_ADD)


def _stat_bound(proj: Projection, src: Population, s: Slice, arch: ArchSpec) -> int:
    """An upper bound of the weight words, updates and accumulator words one packet causes in a pair."""
    n_rows, row_bits = _rows(proj, src, s)
    row_words = _row_words(row_bits, arch) if n_rows else 0
    acc_word_bits = arch.core.acc_sram.word_bits
    if proj.kind in ("conv2d", "sumpool2d"):
        window = proj.kernel[0] * proj.kernel[1]
        per_row = max(row_words, s.n_channels, -(-s.n_channels * max(proj.acc_bits, 1) // acc_word_bits))
        return window * per_row
    if proj.kind == "linear":
        return max(row_words, s.n_neurons, -(-s.n_neurons * proj.acc_bits // acc_word_bits))
    return max(row_words, 1)


def _rows(proj: Projection, src: Population, s: Slice) -> tuple[int, int]:
    """(number of synapse rows, bits per row) of one projection's weights in a slice."""
    if proj.kind == "conv2d":
        kh, kw = proj.kernel
        return src.n_channels * kh * kw, s.n_channels * proj.weight_bits
    if proj.kind == "linear":
        n_rows = src.n_channels if proj.global_sum_pool else src.n_neurons
        return n_rows, s.n_neurons * proj.weight_bits
    if proj.kind == "identity":
        return s.n_channels, proj.weight_bits
    return 0, 0
