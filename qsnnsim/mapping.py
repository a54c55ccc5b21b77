"""Mapping stage: Workload + ArchSpec -> Mapping (slices, placement on the mesh, passes; DESIGN §5).

Every ``lif`` and ``readout`` population is cut into slices that each fit one core; the
``input`` population is not mapped (the host injects it through ``offchip.io_router``).
A slice is a range of whole channels, or, only when one channel does not fit an empty core,
a range of rows of one channel's plane. Neurons are numbered in flat C, H, W order, so a
slice is always one contiguous range ``[neuron_start, neuron_stop)``.

Storage rules (the engine's timing model reads weights the same way):

- weights of every projection *into* a slice are synapse rows, each padded to whole words of
  ``core.weight_sram.word_bits``: conv2d one row per (source channel, kh, kw) holding the
  slice's output channels' codes (the kernel is stored once per output-channel slice, never per
  position; a row-split slice repeats its channel's kernel); linear one row per source neuron
  (per source channel with ``global_sum_pool``) holding the slice's target codes; identity one
  row per slice channel holding one code; sumpool2d nothing (every weight is +1);
- ``membrane_words = ceil(n_neurons * b / word_bits)`` with b = 64 for a readout;
- ``acc_words = K * ceil(n_neurons * sum(acc_bits of incoming projections) / word_bits)``, with
  ``K = 1 + the largest delay of a projection into the population`` accumulator slots
  (docs/timing-model.md §5b; K = 1 without delays).

Placement walks a boustrophedon (snake) path over the mesh that starts in the corner nearest
``offchip.io_router``, in topological order, so consecutive slices sit on neighbouring cores.
The default ``balanced`` strategy cuts every population into as many word-aligned slices as
there are cores and spreads each population over the cores with a per-population work
budget, so every core does an even share of every layer (layers update one after another
within a timestep, so this is what shortens a timestep); ``proportional`` gives each layer a
run of neighbouring cores in proportion to its share of the network's work; ``packed`` uses
the fewest slices and fills every core as far as its memories allow. When the slices do not
all fit, they are split in topological order into passes. ``docs/mapping.md`` describes the
algorithm and its invariants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from qsnnsim.arch import NO_SUCH_UNIT, ArchSpec
from qsnnsim.dependence import compute_destinations
from qsnnsim.errors import MappingError
from qsnnsim.workload import Population, Projection, Workload, dense_synaptic_ops

STRATEGIES = ("auto", "balanced", "proportional", "packed")

# Work budgets tried by the balanced and proportional strategies, as multiples of a fair share
# of work per core, before they fall back to packing: slack absorbs slices that do not divide
# evenly.
_BUDGET_SLACK = (1.0, 1.15, 1.3, 1.6, 2.0, 3.0)
# Multiples of the fewest slices tried when the network does not fit in one pass.
_REFINE = (1, 2, 4)


@dataclass(frozen=True)
class Slice:
    """A contiguous range of one population's neurons, placed on one core in one pass.

    ``*_words`` are the SRAM words the slice occupies (rows padded to whole words);
    ``*_bits_stored`` are the payload bits inside them (codes, membranes, accumulators).
    ``row_start``/``row_stop`` are the rows of each channel's plane the slice covers
    (all rows unless the slice is a row range of one channel; (0, 1) for (N,) populations).
    ``synapse_rows`` counts the weight rows (axons) of the slice; ``is_row_range`` is true
    for a slice that holds only some rows of one channel.
    """

    index: int
    population: str
    neuron_start: int
    neuron_stop: int
    channel_start: int
    channel_stop: int
    core: int
    pass_index: int
    weight_words: int
    membrane_words: int
    acc_words: int
    weight_bits_stored: int
    membrane_bits_stored: int
    acc_bits_stored: int
    row_start: int = 0
    row_stop: int = 1
    synapse_rows: int = 0
    is_row_range: bool = False
    acc_slots: int = 1

    @property
    def n_neurons(self) -> int:
        return self.neuron_stop - self.neuron_start

    @property
    def acc_slot_words(self) -> int:
        """Accumulator words of one timestep's slot (what a fire reads and clears)."""
        return self.acc_words // self.acc_slots

    @property
    def n_channels(self) -> int:
        return self.channel_stop - self.channel_start

    @property
    def label(self) -> str:
        """Short name: ``conv1[0:64)`` (channels) or ``conv1[c3 r0:8)`` (rows of one channel)."""
        if self.is_row_range:
            return f"{self.population}[c{self.channel_start} r{self.row_start}:{self.row_stop})"
        return f"{self.population}[{self.channel_start}:{self.channel_stop})"


@dataclass(frozen=True)
class Mapping:
    """Where every slice lives and where its spikes go; what the engine consumes.

    ``slices`` are sorted by (pass, topological population order, neuron_start) and
    ``slices[i].index == i``. ``destinations[i]`` are the sorted indices of the slices that
    depend on at least one neuron of slice i (through any outgoing projection);
    ``input_destinations`` the same for the input population. Core id = row * mesh_cols + col.
    """

    arch_name: str
    workload_name: str
    mesh_rows: int
    mesh_cols: int
    n_passes: int
    slices: tuple[Slice, ...]
    destinations: tuple[tuple[int, ...], ...]
    core_of_input: int
    input_destinations: tuple[int, ...] = ()
    strategy: str = "balanced"

    @property
    def n_cores(self) -> int:
        return self.mesh_rows * self.mesh_cols

    def core_position(self, core: int) -> tuple[int, int]:
        """(row, col) of a core id."""
        return divmod(core, self.mesh_cols)

    def hops(self, core_a: int, core_b: int) -> int:
        """Router-to-router hops of an XY route between two cores."""
        ra, ca = self.core_position(core_a)
        rb, cb = self.core_position(core_b)
        return abs(ra - rb) + abs(ca - cb)

    def slices_of(self, population: str) -> tuple[Slice, ...]:
        return tuple(s for s in self.slices if s.population == population)

    def slices_on(self, core: int, pass_index: int) -> tuple[Slice, ...]:
        return tuple(
            s for s in self.slices if s.core == core and s.pass_index == pass_index
        )

    def cores_used(self, pass_index: int) -> tuple[int, ...]:
        return tuple(
            sorted({s.core for s in self.slices if s.pass_index == pass_index})
        )


# --------------------------------------------------------------------------- demand of a slice


@dataclass(frozen=True)
class _Demand:
    neurons: int
    weight_words: int
    membrane_words: int
    acc_words: int
    synapse_rows: int
    weight_bits_stored: int
    membrane_bits_stored: int
    acc_bits_stored: int


def _geometry(pop: Population) -> tuple[int, int, int]:
    """(C, H, W) of a population; an (N,) population is N channels of a 1x1 plane."""
    if len(pop.shape) == 3:
        return pop.shape
    return pop.shape[0], 1, 1


class _PopModel:
    """What one mapped population needs per slice, and how it is cut."""

    def __init__(
        self,
        pop: Population,
        order: int,
        projs_in: tuple[Projection, ...],
        pops: dict[str, Population],
        arch: ArchSpec,
    ):
        self.pop = pop
        self.order = order
        self.channels, self.height, self.width = _geometry(pop)
        self.state_bits = pop.neuron.state_bits(pop)  # the dialect's state SRAM bits per neuron
        self.acc_bits_sum = sum(p.acc_bits for p in projs_in)
        # One accumulator set per timestep a delayed input can be ahead (timing-model.md §5b).
        self.acc_slots = 1 + max((p.delay for p in projs_in), default=0)
        self.arch = arch
        # (synapse rows, code bits, whether rows grow with the slice's channels): a conv or
        # linear row holds one code per slice channel; an identity has one row per channel.
        self.weight_terms: list[tuple[int, int, bool]] = []
        granule = 1
        word_bits = arch.core.weight_sram.word_bits
        for proj in projs_in:
            src = pops[proj.source]
            if proj.kind == "conv2d":
                rows = src.n_channels * proj.kernel[0] * proj.kernel[1]
                self.weight_terms.append((rows, proj.weight_bits, False))
            elif proj.kind == "linear":
                rows = src.n_channels if proj.global_sum_pool else src.n_neurons
                self.weight_terms.append((rows, proj.weight_bits, False))
            elif proj.kind == "identity":
                self.weight_terms.append((1, proj.weight_bits, True))
                continue
            else:
                continue
            # Channels per slice that fill whole words, so rows carry no padding.
            step = word_bits // math.gcd(word_bits, proj.weight_bits)
            granule = granule * step // math.gcd(granule, step)
        self.granule = granule
        self.work = (
            sum(dense_synaptic_ops(p, pops[p.source], pop) for p in projs_in)
            + pop.n_neurons
        )

    def demand(self, n_channels: int, n_rows: int) -> _Demand:
        """SRAM words and bits of a slice of ``n_channels`` channels x ``n_rows`` rows."""
        core = self.arch.core
        neurons = n_channels * n_rows * self.width
        ww = core.weight_sram.word_bits
        weight_words = weight_bits = synapse_rows = 0
        for rows, bits, per_channel in self.weight_terms:
            if per_channel:
                n_rows_w, row_bits = rows * n_channels, bits
            else:
                n_rows_w, row_bits = rows, n_channels * bits
            weight_words += n_rows_w * -(-row_bits // ww)
            weight_bits += n_rows_w * row_bits
            synapse_rows += n_rows_w
        membrane_bits = neurons * self.state_bits
        acc_bits = self.acc_slots * neurons * self.acc_bits_sum
        return _Demand(
            neurons=neurons,
            weight_words=weight_words,
            membrane_words=-(-membrane_bits // core.membrane_sram.word_bits),
            acc_words=self.acc_slots * -(-(neurons * self.acc_bits_sum) // core.acc_sram.word_bits),
            synapse_rows=synapse_rows,
            weight_bits_stored=weight_bits,
            membrane_bits_stored=membrane_bits,
            acc_bits_stored=acc_bits,
        )


def _shortfall(d: _Demand, arch: ArchSpec) -> tuple[str, str] | None:
    """The first core limit ``d`` exceeds, as (field, what is short), or None if it fits."""
    core = arch.core
    if d.neurons > core.neuron_capacity:
        return (
            "core.neuron_capacity",
            f"needs {d.neurons:,} neurons but a core holds {core.neuron_capacity:,}",
        )
    for name, words, sram in (
        ("weight_sram", d.weight_words, core.weight_sram),
        ("membrane_sram", d.membrane_words, core.membrane_sram),
        ("acc_sram", d.acc_words, core.acc_sram),
    ):
        if words > sram.capacity_words:
            need, cap = words * sram.word_bits, sram.capacity_bits
            return (
                f"core.{name}",
                (
                    f"needs {need:,} bits of {name} ({words:,} words of {sram.word_bits} bits) "
                    f"but a core has {cap:,}: short by {need - cap:,} bits"
                ),
            )
    if core.max_synapse_rows and d.synapse_rows > core.max_synapse_rows:
        return (
            "core.max_synapse_rows",
            f"needs {d.synapse_rows:,} synapse rows but a core has {core.max_synapse_rows:,}",
        )
    return None


# --------------------------------------------------------------------------- slicing


@dataclass(frozen=True)
class _Piece:
    """A slice before placement."""

    model: _PopModel
    channel_start: int
    channel_stop: int
    row_start: int
    row_stop: int
    demand: _Demand

    @property
    def neuron_start(self) -> int:
        m = self.model
        return (self.channel_start * m.height + self.row_start) * m.width

    @property
    def neuron_stop(self) -> int:
        m = self.model
        if self.row_stop - self.row_start < m.height:
            return (self.channel_start * m.height + self.row_stop) * m.width
        return self.channel_stop * m.height * m.width

    @property
    def work(self) -> float:
        return self.model.work * self.demand.neurons / self.model.pop.n_neurons


def _largest_fitting(lo: int, hi: int, fits) -> int:
    """Largest n in [lo, hi] with fits(n) (fits is monotone: true up to some n), or lo - 1."""
    if hi < lo or not fits(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _even_bounds(total: int, parts: int) -> list[int]:
    """Cut points splitting ``total`` units into ``parts`` runs whose sizes differ by at most one."""
    base, extra = divmod(total, parts)
    bounds, at = [0], 0
    for i in range(parts):
        at += base + (1 if i < extra else 0)
        bounds.append(at)
    return bounds


class _Slicer:
    def __init__(self, model: _PopModel, arch: ArchSpec, arch_file: str):
        self.model = model
        m = model

        def channels_fit(n: int) -> bool:
            return _shortfall(m.demand(n, m.height), arch) is None

        def rows_fit(r: int) -> bool:
            return _shortfall(m.demand(1, r), arch) is None

        self.max_channels = _largest_fitting(1, m.channels, channels_fit)
        self.max_rows = m.height
        if self.max_channels < 1:
            self.max_rows = _largest_fitting(1, m.height, rows_fit)
            if self.max_rows < 1:
                field, short = _shortfall(m.demand(1, 1), arch)
                unit = (
                    f"one row of one channel ({m.width:,} neuron{'s' if m.width != 1 else ''})"
                    if m.height > 1 or m.width > 1
                    else "a single neuron"
                )
                raise MappingError(
                    arch_file,
                    field,
                    f"population {m.pop.name!r} cannot be mapped: {unit} {short}",
                    "use an architecture with larger cores or make the layer smaller",
                )

    @property
    def min_slices(self) -> int:
        return len(self.pieces(1))

    def pieces(self, wanted: int) -> list[_Piece]:
        """Slices of whole channels (at least ``wanted`` if the channels allow), else row ranges."""
        m = self.model
        if self.max_channels < 1:
            cuts = _even_bounds(m.height, -(-m.height // self.max_rows))
            return [
                _Piece(m, c, c + 1, r0, r1, m.demand(1, r1 - r0))
                for c in range(m.channels)
                for r0, r1 in pairwise(cuts)
            ]
        # Cut in units of the granule when a unit fits, so weight rows carry no word padding.
        unit = m.granule if m.granule <= self.max_channels else 1
        n_units = -(-m.channels // unit)
        # The last unit may be partial, so all units fit when all channels do.
        per_slice = (
            n_units if self.max_channels >= m.channels else self.max_channels // unit
        )
        parts = min(n_units, max(wanted, -(-n_units // per_slice)))
        cuts = [min(m.channels, b * unit) for b in _even_bounds(n_units, parts)]
        return [
            _Piece(m, c0, c1, 0, m.height, m.demand(c1 - c0, m.height))
            for c0, c1 in pairwise(cuts)
        ]


# --------------------------------------------------------------------------- placement


def snake_path(arch: ArchSpec) -> list[int]:
    """Core ids along a boustrophedon path starting in the mesh corner nearest ``io_router``.

    In a system of chips the path finishes one chip before it enters the next, a neighbour
    (:meth:`qsnnsim.system.Topology.snake`): a layer's slices stay together, and consecutive
    layers land on the same or a neighbouring chip, which keeps chip-to-chip traffic low."""
    if arch.system.n_chips > 1:
        from qsnnsim.system import topology

        return topology(arch).snake(divmod(arch.io_core, arch.grid_cols))
    rows, cols = arch.chip.mesh_rows, arch.chip.mesh_cols
    io_row, io_col = arch.offchip.io_router
    row_order = (
        list(range(rows)) if 2 * io_row <= rows - 1 else list(range(rows - 1, -1, -1))
    )
    col_order = (
        list(range(cols)) if 2 * io_col <= cols - 1 else list(range(cols - 1, -1, -1))
    )
    path = []
    for i, row in enumerate(row_order):
        for col in col_order if i % 2 == 0 else col_order[::-1]:
            path.append(row * cols + col)
    return path


def _capacity(arch: ArchSpec) -> np.ndarray:
    core = arch.core
    rows = core.max_synapse_rows if core.max_synapse_rows else np.iinfo(np.int64).max
    return np.array(
        [
            core.neuron_capacity,
            core.weight_sram.capacity_words,
            core.membrane_sram.capacity_words,
            core.acc_sram.capacity_words,
            rows,
        ],
        dtype=np.int64,
    )


def _need(d: _Demand) -> np.ndarray:
    return np.array(
        [d.neurons, d.weight_words, d.membrane_words, d.acc_words, d.synapse_rows],
        dtype=np.int64,
    )


def _place(
    pieces: list[_Piece],
    arch: ArchSpec,
    path: list[int],
    budget: float | None,
    per_population: bool = False,
) -> list[tuple[int, int]]:
    """(pass, core) of every piece, walking ``path`` in topological order.

    A piece goes to the core at the cursor if it fits there, else to the nearest core along the
    path that has room (ahead before behind at equal distance), and the cursor moves there: while
    fresh cores remain this is next-fit, and once the path is used up later slices backfill the
    room left on earlier cores. A new pass starts only when no core of the pass has room. With a
    ``budget`` a core also refuses work beyond it, except that a slice joins a core whose
    remaining budget covers at least half of the slice (cuts land at the nearest slice
    boundary) and an empty core takes any slice. With ``per_population`` the budget is a
    fraction of each population's own work (``budget`` x its work / cores), so every layer
    spreads over the cores instead of the network as a whole. Every piece fits an empty core,
    so a new pass always has room.
    """
    n = len(path)
    cap = _capacity(arch)
    used = np.zeros((n, cap.size), dtype=np.int64)
    work = np.zeros(n)
    order = np.arange(n)
    placement = []
    pass_index, cursor = 0, 0
    current = None
    for piece in pieces:
        need = _need(piece.demand)
        if per_population and piece.model is not current:
            current = piece.model
            work[:] = 0.0
        limit = budget
        if per_population and budget is not None:
            limit = budget * piece.model.work / n
        while True:
            ok = np.all(used + need <= cap, axis=1)
            if limit is not None:
                empty = (work == 0) if per_population else ~np.any(used, axis=1)
                ok &= empty | (work + piece.work / 2 <= limit)
            if ok.any():
                break
            if not used.any():
                raise RuntimeError(
                    f"slice of {piece.model.pop.name!r} fits no empty core (slicing bug)"
                )
            pass_index, cursor = pass_index + 1, 0
            used[:] = 0
            work[:] = 0.0
        if not ok[cursor]:
            # Nearest along the path; ahead wins a tie (distance 2d-1 ahead vs 2d behind).
            rank = np.where(
                order > cursor, 2 * (order - cursor) - 1, 2 * (cursor - order)
            )
            cursor = int(np.argmin(np.where(ok, rank, np.iinfo(np.int64).max)))
        used[cursor] += need
        work[cursor] += piece.work
        placement.append((pass_index, path[cursor]))
    return placement


def _merge(
    pieces: list[_Piece], placement: list[tuple[int, int]]
) -> tuple[list[_Piece], list[tuple[int, int]]]:
    """Join neighbouring pieces of one population that landed on the same core in the same pass.

    A joined piece never needs more words than its parts (rows are padded once, a split
    channel's kernel is stored once), so the placement stays within every capacity.
    """
    out_pieces, out_place = [], []
    for piece, where in zip(pieces, placement):
        if (
            out_pieces
            and out_place[-1] == where
            and out_pieces[-1].model is piece.model
        ):
            prev = out_pieces[-1]
            m = piece.model
            if (
                prev.channel_stop == piece.channel_start
                and prev.row_start == 0
                and piece.row_stop == m.height
                and prev.row_stop == m.height
                and piece.row_start == 0
            ):
                out_pieces[-1] = _Piece(
                    m,
                    prev.channel_start,
                    piece.channel_stop,
                    0,
                    m.height,
                    m.demand(piece.channel_stop - prev.channel_start, m.height),
                )
                continue
            if (
                prev.channel_start == piece.channel_start
                and prev.row_stop == piece.row_start
            ):
                out_pieces[-1] = _Piece(
                    m,
                    prev.channel_start,
                    prev.channel_stop,
                    prev.row_start,
                    piece.row_stop,
                    m.demand(1, piece.row_stop - prev.row_start),
                )
                continue
        out_pieces.append(piece)
        out_place.append(where)
    return out_pieces, out_place


def check_packet_fits(wl: Workload, arch: ArchSpec, arch_file: str) -> int:
    """A packet is one flit: routing header + source neuron address + value (timing model §2): an
    analog input's 8 bits, or a graded spike's count (DESIGN §2b: 5 bits for counts up to 31).

    Returns the value bits of an input packet (8 for an analog input, 0 for spikes).
    """
    value_bits = 8 if wl.input_kind == "analog" else 0
    count_bits = max((int(p.spike_max).bit_length() for p in wl.populations if p.is_spiking and p.spike_max > 1),
                     default=0)
    address_bits = max(1, math.ceil(math.log2(max(p.n_neurons for p in wl.populations))))
    need = arch.noc.packet_header_bits + address_bits + max(value_bits, count_bits)
    if need > arch.noc.flit_bits:
        raise MappingError(
            arch_file or arch.name, "noc.flit_bits",
            f"a packet of {wl.name} needs {need} bits (packet_header_bits {arch.noc.packet_header_bits} + "
            f"{address_bits} address bits + {max(value_bits, count_bits)} value bits) but a flit holds {arch.noc.flit_bits}",
            f"set noc.flit_bits >= {need}",
        )
    return value_bits


def _check_support(wl: Workload, arch: ArchSpec, arch_file: str) -> None:
    check_packet_fits(wl, arch, arch_file)
    core = arch.core
    supported_m = ", ".join(map(str, sorted(core.membrane_bits_supported)))
    supported_w = ", ".join(map(str, sorted(core.weight_bits_supported)))
    for pop in wl.populations:
        if pop.is_spiking and pop.neuron.name not in core.dialects:
            raise MappingError(
                arch_file,
                "core.dialects",
                f"population {pop.name!r} uses the {pop.neuron.name} neuron dialect; this core implements "
                f"{', '.join(core.dialects)}",
                f"add {pop.neuron.name} to core.dialects or use an arch whose cores implement it",
            )
    for pop in wl.populations:
        # the dialects' own actions must be priced (checked after every dialect is known to run)
        for action, _ in (pop.neuron.counts if pop.neuron else ()):
            if getattr(arch.energy, f"{action}_pj").source == NO_SUCH_UNIT:
                raise MappingError(
                    arch_file, f"energy.{action}_pj",
                    f"is not given, and population {pop.name!r} ({pop.neuron.name}) counts {action}",
                    f"add energy.{action}_pj with its value and source",
                )
        if pop.is_spiking and pop.neuron.chosen_width and pop.membrane_bits not in core.membrane_bits_supported:
            raise MappingError(
                arch_file,
                "core.membrane_bits_supported",
                f"population {pop.name!r} has {pop.membrane_bits}-bit membranes; this core supports "
                f"{supported_m} bits",
                f"add {pop.membrane_bits} to core.membrane_bits_supported or re-export the workload",
            )
    for proj in wl.projections:
        if (
            proj.kind != "sumpool2d"
            and proj.weight_bits not in core.weight_bits_supported
        ):
            raise MappingError(
                arch_file,
                "core.weight_bits_supported",
                f"projection {proj.name!r} has {proj.weight_bits}-bit weights; this core supports "
                f"{supported_w} bits",
                f"add {proj.weight_bits} to core.weight_bits_supported or re-export the workload",
            )
        if proj.acc_bits > core.acc_bits_max:
            raise MappingError(
                arch_file,
                "core.acc_bits_max",
                f"projection {proj.name!r} needs {proj.acc_bits}-bit accumulators; this core's "
                f"adders are {core.acc_bits_max} bits wide",
                f"raise core.acc_bits_max to {proj.acc_bits} or lower the projection's acc_bits",
            )


# --------------------------------------------------------------------------- dependencies


def _check_cycles_in_one_pass(slices: tuple, destinations: tuple, arch_file: str) -> None:
    """A pass cannot wait for a later one: every destination runs in its source's pass or later,
    so a recurrent cycle (DESIGN §2b) must fit in one pass (docs/timing-model.md §5b)."""
    for s in slices:
        for d in destinations[s.index]:
            if slices[d].pass_index < s.pass_index:
                raise MappingError(
                    arch_file, "chip",
                    f"the recurrent connection {s.population} -> {slices[d].population} would run from pass "
                    f"{s.pass_index} back to pass {slices[d].pass_index}; a recurrent cycle must fit in one pass",
                    "use an arch with more cores or memory, or fewer neurons in the cycle",
                )



# --------------------------------------------------------------------------- entry point


def map_workload(
    workload: Workload,
    arch: ArchSpec,
    arch_path: str = "",
    workload_path: str = "",
    strategy: str = "auto",
) -> Mapping:
    """Partition a workload into slices, place them on the arch's mesh, split into passes.

    Parameters
    ----------
    workload : Workload
        A validated workload.
    arch : ArchSpec
        A validated architecture.
    arch_path, workload_path : str
        File names used in error messages.
    strategy : {"auto", "balanced", "proportional", "packed"}
        ``auto`` (the default) is ``balanced`` on one chip and ``proportional`` on a system of
        chips (DESIGN §12); the mapping records the strategy it used.
        When the network fits in one pass, ``balanced`` spreads every layer over as many cores
        as its word-aligned channels allow, so each core does an even share of every layer;
        ``proportional`` gives each layer a number of neighbouring cores proportional to its
        share of the network's work; ``packed`` uses the fewest slices and cores.

    Returns
    -------
    Mapping

    Raises
    ------
    MappingError
        A membrane or weight width the core does not support, accumulators wider than
        ``core.acc_bits_max``, or a population of which not even one row (one neuron) fits an
        empty core (the message names the population, the memory and the shortfall in bits).
    """
    arch_file = arch_path or f"<arch {arch.name}>"
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} (got {strategy!r})")
    _check_support(workload, arch, arch_file)
    pops = {p.name: p for p in workload.populations}
    slicers = []
    for order, pop in enumerate(workload.populations):
        if pop.kind == "input":
            continue
        model = _PopModel(pop, order, workload.projections_into(pop.name), pops, arch)
        slicers.append(_Slicer(model, arch, arch_file))
    if strategy == "auto":
        # One chip: balanced. A system: spreading every layer over every chip would send every
        # layer's spikes over every chip-to-chip link, so each layer gets a run of neighbouring
        # cores along the chip-major path instead (proportional): a layer stays on one chip or
        # two neighbours (DESIGN §12). ``balanced`` asked for by name is still balanced.
        strategy = "proportional" if arch.system.n_chips > 1 else "balanced"
    path = snake_path(arch)

    def attempt(wanted: dict[int, int], budget: float | None):
        pieces = [p for sl in slicers for p in sl.pieces(wanted.get(sl.model.order, 1))]
        return pieces, _place(pieces, arch, path, budget)

    minimal = {sl.model.order: sl.min_slices for sl in slicers}
    total = sum(sl.model.work for sl in slicers)
    # Slicings tried in order; the first that fits in one pass wins (finer slices pack into the
    # holes big ones leave). Failing all, the one with the fewest passes.
    slicings = [{k: v * f for k, v in minimal.items()} for f in _REFINE]
    if strategy == "balanced":
        slicings.insert(0, dict.fromkeys(minimal, arch.n_cores))
    elif strategy == "proportional":
        share = {
            sl.model.order: max(
                minimal[sl.model.order], round(arch.n_cores * sl.model.work / total)
            )
            for sl in slicers
        }
        slicings.insert(0, share)
    best = None
    for wanted in slicings:
        pieces, placement = attempt(wanted, None)
        if placement[-1][0] == 0:
            best = (pieces, placement)
            # A work budget only closes cores earlier, so it is tried once packing fits.
            for slack in _BUDGET_SLACK if strategy != "packed" else ():
                if strategy == "balanced":
                    budgeted = _place(pieces, arch, path, slack, per_population=True)
                else:
                    budgeted = _place(pieces, arch, path, slack * total / arch.n_cores)
                if budgeted[-1][0] == 0:
                    best = (pieces, budgeted)
                    break
            break
        if best is None or placement[-1][0] < best[1][-1][0]:
            best = (pieces, placement)
    pieces, placement = _merge(*best)
    slices = tuple(
        Slice(
            index=i,
            population=p.model.pop.name,
            neuron_start=p.neuron_start,
            neuron_stop=p.neuron_stop,
            channel_start=p.channel_start,
            channel_stop=p.channel_stop,
            core=core,
            pass_index=pass_index,
            weight_words=p.demand.weight_words,
            membrane_words=p.demand.membrane_words,
            acc_words=p.demand.acc_words,
            weight_bits_stored=p.demand.weight_bits_stored,
            membrane_bits_stored=p.demand.membrane_bits_stored,
            acc_bits_stored=p.demand.acc_bits_stored,
            row_start=p.row_start,
            row_stop=p.row_stop,
            synapse_rows=p.demand.synapse_rows,
            is_row_range=p.row_stop - p.row_start < p.model.height,
            acc_slots=p.model.acc_slots,
        )
        for i, (p, (pass_index, core)) in enumerate(zip(pieces, placement))
    )
    destinations, input_destinations = compute_destinations(workload, slices)
    _check_cycles_in_one_pass(slices, destinations, arch_file)
    return Mapping(
        arch_name=arch.name,
        workload_name=workload.name,
        mesh_rows=arch.grid_rows,   # the system's grid of cores (one chip: the chip's mesh)
        mesh_cols=arch.grid_cols,
        n_passes=(slices[-1].pass_index + 1) if slices else 1,
        slices=slices,
        destinations=destinations,
        core_of_input=arch.io_core,
        input_destinations=input_destinations,
        strategy=strategy,
    )
