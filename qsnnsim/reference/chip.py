"""The chip of the reference model, stepped one cycle at a time: NoC links, spike buffers,
integrate units, somas and the host, for one pass of one sample (timing doc §1-§7), on one chip or
a system of chips (§12; the grid, its links and routes are :mod:`qsnnsim.reference.network`'s).

By default every link and every soma serves its jobs in the fixed order of timing doc §2b. Like
the chip, which is configured with it, the model sets that order up before a pass runs, from the
levels :func:`service_levels` derives from the mapping and the projections' delays alone; while
the pass runs each unit only ever looks at the next job of its own order. The options of timing
doc §10 (round-robin links, ready-first somas, finite router buffers with credits) change only
how a free unit picks its next job and when a packet may cross a link (:meth:`PassModel.pick`,
:meth:`PassModel.soma_step`, :meth:`PassModel.link_step`). Each slice keeps its
accumulator slots (timing doc §5b) and the counts of the synapse-side actions (§4, §5). The intra-cycle order of
:meth:`PassModel.step` is documented in :mod:`qsnnsim.reference`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from qsnnsim.arch import ArchSpec
from qsnnsim.errors import DeadlockError, MappingError
from qsnnsim.golden import rshift, saturate
from qsnnsim.mapping import Mapping, Slice
from qsnnsim.reference.edges import SourceEdges, pass_graph
from qsnnsim.reference.network import HOST_PORT, LOCAL, PORTS, Grid, Link, Train, buffer_peak
from qsnnsim.reference.result import HOST, TrainTiming
from qsnnsim.reference.synapses import CoreSynapses, fire_cycles_of
from qsnnsim.workload import Workload

MARKER = -1
#: Actions the reference counts, totals per sample (timing doc §4, §5): the synapse-side ones.
#: ``chip_link_bit`` (timing doc §12): ``noc.flit_bits`` per packet per chip-to-chip link crossed.
ACTIONS = ("weight_sram_read", "acc_sram_read", "acc_sram_write", "synaptic_add", "mac8", "mac16", "chip_link_bit")


def service_levels(mapping: Mapping, pass_index: int, timesteps: int,
                   edges: SourceEdges | None = None) -> tuple[dict[tuple[int, int], int], list[int]]:
    """Levels of timing doc §2b for one pass, from the mapping (and the projections' delays) alone.

    Parameters
    ----------
    mapping : Mapping
        The mapping; only its slices' passes, ``destinations`` and ``input_destinations`` are read.
    pass_index : int
        The pass.
    timesteps : int
        T of the workload.
    edges : SourceEdges or None
        Edge delays and slot counts (timing doc §5b); None for a workload without delays.

    Returns
    -------
    tuple[dict[tuple[int, int], int], list[int]]
        ``lambda(s, t)`` for every slice ``s`` of the pass and every ``t``, and ``lambda_H(t)``
        for every ``t`` (an empty list when no host train enters the pass).
    """
    edges = edges if edges is not None else SourceEdges(mapping)
    g = pass_graph(mapping, pass_index, edges)
    host_ids = {src for src, _ in g.host_sources}
    # Slices in increasing index, each after its same-pass sources through delay-0 edges. A delayed
    # edge (a back edge or a self-loop among them) refers to an earlier timestep and orders nothing.
    order: list[int] = []
    placed: set[int] = set()

    def place(i: int) -> None:
        if i not in placed:
            placed.add(i)
            for src, delays in g.sources[i]:
                if src not in host_ids and delays[0] == 0:
                    place(src)
            order.append(i)

    for i in g.here:
        place(i)
    fire: dict[tuple[int, int], int] = {}
    host: list[int] = []
    for t in range(timesteps):
        if g.host_dests:
            terms = [host[t - 1]] if t > 0 else []
            for d in g.host_dests:
                # The host's credit from d (§7): d's fire of t + e_max(host, d) - K(d), if that exists.
                t_credit = t + g.host_e_max[d] - edges.slots(d)
                if t_credit >= 0:
                    terms.append(fire[(d, t_credit)])
            host.append(1 + max(terms) if t > 0 else 0)
        for i in order:
            terms = [0]
            for src, delays in g.sources[i]:
                for e in delays:
                    if t - e >= 0:
                        terms.append(host[t - e] if src in host_ids else fire[(src, t - e)])
            if t > 0:
                terms.append(fire[(i, t - 1)])
            for d in g.dests[i]:
                t_credit = edges.credit_timestep(i, d, t)
                if t_credit >= 0:
                    terms.append(fire[(d, t_credit)])
            fire[(i, t)] = 1 + max(terms)
    return fire, host


# --------------------------------------------------------------------------- one sample


class SampleRun:
    """State shared by the passes of one sample: results, spikes, membranes, per-core totals."""

    def __init__(self, workload: Workload, arch: ArchSpec, mapping: Mapping, sample: int, mapping_file: str,
                 record_packets: bool = False):
        self.workload = workload
        self.record_packets = record_packets  # keep every packet's (u_k, start_k) in TrainTiming.packets
        self.arch = arch
        self.mapping = mapping
        self.mapping_file = mapping_file
        self.T = workload.timesteps
        self.pops = {p.name: p for p in workload.populations}
        self.inputs = np.asarray(workload.sample_input(sample), np.int64).reshape(self.T, -1)
        self.input_name = workload.input_population.name
        n_cores = arch.n_cores  # the system's grid of cores (timing doc §12; one chip: its mesh)
        self.soma_busy = [0] * n_cores
        self.integrate_busy = [0] * n_cores
        self.ejection_stall = [0] * n_cores
        # Per link that carried a train (timing doc §11 names), summed over passes; per router the
        # largest input-port occupancy over the sample's cycles (its passes never overlap in time).
        self.link_wait: dict[str, int] = {}
        self.link_stall: dict[str, int] = {}
        self.buffer_peak = [0] * n_cores
        self.fires: dict[tuple[int, int], tuple[int, int]] = {}
        self.trains: dict[tuple[int, int, int, int], TrainTiming] = {}
        self.spikes = {p.name: np.zeros((self.T,) + p.shape, bool if p.spike_max == 1 else np.int64)
                       for p in workload.populations if p.is_spiking}
        self.slice_spikes: dict[tuple[int, int], np.ndarray] = {}
        self.membranes: dict[int, np.ndarray] = {}
        # Edge delays and accumulator slots (timing doc §5b), fixed before the run.
        self.edges = SourceEdges(mapping, workload)
        # Sources whose packets carry a value that multiplies the weight (mac8/mac16, timing doc §4,
        # §5b): an analog input, and every population of a dialect with graded spikes (even a
        # packet whose count happens to be 1: the datapath is the multiplier's either way).
        self.valued_sources = {p.name for p in workload.populations
                               if (p.kind == "input" and workload.input_kind == "analog")
                               or (p.is_spiking and p.spike_max > 1)}
        self.actions = dict.fromkeys(ACTIONS, 0)


class PassModel:
    """One pass of a mapping, stepped cycle by cycle on its own timeline (cycle 0 = pass start)."""

    def __init__(self, run: SampleRun, pass_index: int, offset: int):
        self.run = run
        self.p = pass_index
        self.offset = offset
        arch, mapping = run.arch, run.mapping
        self.R = arch.noc.router_latency_cycles
        self.L = arch.noc.link_latency_cycles
        self.S = arch.core.spike_buffer_packets
        self.P_int = arch.core.integrate_pipeline_cycles
        # Timing doc §12: the cores of every chip form one grid, core id = grid_row * G_cols + grid_col;
        # the host sits at offchip.io_router of chip system.io_chip.
        self.grid = Grid(arch)
        self.io_core = arch.io_core
        self.flit_bits = arch.noc.flit_bits
        # Options of timing doc §10.
        self.round_robin = arch.noc.arbitration == "round_robin"
        self.ready_order = arch.core.soma_order == "ready"
        self.finite = arch.noc.router_buffers == "finite"
        self.B = arch.noc.buffer_depth_flits
        self.slices = [s for s in mapping.slices if s.pass_index == pass_index]
        here = {s.index for s in self.slices}
        self.here = here
        self.cores = sorted({s.core for s in self.slices})
        self.on_core = {c: [s for s in self.slices if s.core == c] for c in self.cores}
        self.tables = {c: CoreSynapses(run.workload, arch, self.on_core[c], run.mapping_file) for c in self.cores}
        self.fire_cycles = {s.index: fire_cycles_of(s, arch) for s in self.slices}
        # On-chip traffic: destinations in this pass only (later passes get spikes via the host).
        self.edges = run.edges
        graph = pass_graph(mapping, pass_index, run.edges)
        self.graph = graph
        self.dest_slices = graph.dests
        self.dest_cores = {i: sorted({mapping.slices[d].core for d in ds}) for i, ds in self.dest_slices.items()}
        # (source, population, destination cores) of every host source, in the host port's order (§7).
        pop_of = {HOST: run.input_name} | {s.index: s.population for s in mapping.slices}
        self.host_sources = [(src, pop_of[src], sorted({mapping.slices[d].core for d in ds}))
                             for src, ds in graph.host_sources]
        self.host_dests = list(graph.host_dests)
        # Links of the system's grid (chip-to-chip ones included, timing doc §12), in a fixed order.
        self.links: dict[tuple, Link] = self.grid.links()
        self.active: set[Link] = set()
        # The fixed service orders of timing doc §2b, set up before the pass as the chip is configured.
        self.fire_level, self.host_level = service_levels(mapping, pass_index, run.T, run.edges)
        self.soma_schedule = {c: sorted((self.fire_level[(s.index, t)], s.index, t) for s in self.on_core[c]
                                        for t in range(run.T)) for c in self.cores}
        self.soma_next = {c: 0 for c in self.cores}
        for t in range(run.T):
            for s in self.slices:
                for dest in self.dest_cores[s.index]:
                    for link in self.path_of(s.index, dest):
                        link.schedule.append(self.service_key(s.index, t, dest))
            for source, _, cores in self.host_sources:
                for dest in cores:
                    for link in self.path_of(source, dest):
                        link.schedule.append(self.service_key(source, t, dest))
        for link in self.links.values():
            link.schedule.sort()
        # Per-slice and per-core state.
        self.next_t = {s.index: 0 for s in self.slices}
        self.fires_ended = {s.index: 0 for s in self.slices}
        projs = {s.index: run.workload.projections_into(s.population) for s in self.slices}
        self.projs = projs
        # K(d) accumulator slots per slice (timing doc §5b), slot t mod K for timestep t, each with
        # one accumulator per incoming projection; a fire of t reads and clears slot t mod K.
        self.accs = {s.index: np.zeros((run.edges.slots(s.index), len(projs[s.index]), s.n_neurons), np.int64)
                     for s in self.slices}
        self.state = {s.index: run.pops[s.population].neuron.initial_state(run.pops[s.population], s.n_neurons)
                      for s in self.slices}
        self.buffers = {c: deque() for c in self.cores}
        self.integrate_free = {c: 0 for c in self.cores}
        self.firing: dict[int, tuple] = {}  # core -> (slice, t, start, end, spikes)
        # Time stamps of the conditions of timing doc §5 and §7, set when they happen.
        self.marker_done: dict[tuple[int, int, int], int] = {}
        self.fire_end: dict[tuple[int, int], int] = {}
        self.credit: dict[tuple[int, int, int], int] = {}
        self.host_credit: dict[tuple[int, int], int] = {}
        self.host_next_t = 0
        self.events: dict[int, list] = {}
        # Deadlock detection (timing doc §10.4): whether anything happened in the current cycle, and
        # the latest cycle at which something already set in motion is due (an event, a fire end,
        # an integrate unit's next issue, a buffered packet's earliest start, a credit's return).
        self.progress = False
        self.horizon = 0

    # ------------------------------------------------------------------ helpers

    def at(self, cycle: int, event: tuple) -> None:
        self.events.setdefault(cycle, []).append(event)
        self.due(cycle)

    def due(self, cycle: int) -> None:
        """Something set in motion happens at ``cycle``: the pass cannot be stuck before it."""
        if cycle > self.horizon:
            self.horizon = cycle

    def is_host_source(self, source: int) -> bool:
        """The host sends this source's trains: the input, or a slice of an earlier pass (timing doc §7)."""
        return source == HOST or self.run.mapping.slices[source].pass_index != self.p

    def service_key(self, source: int, t: int, dest: int) -> tuple[int, int, int]:
        """A train's key (level, source, destination core) of timing doc §2b."""
        level = self.host_level[t] if self.is_host_source(source) else self.fire_level[(source, t)]
        return level, source, dest

    def path_of(self, source: int, dest: int) -> list[Link]:
        """Every link a train of ``source`` to core ``dest`` crosses: its injection port, then XY (timing doc §3)."""
        if self.is_host_source(source):
            first, cur = self.links[("host",)], self.io_core
        else:
            cur = self.run.mapping.slices[source].core
            first = self.links[(cur, "inj")]
        return [first] + [self.links[hop] for hop in self.grid.route(cur, dest)] + [self.links[(dest, "ej")]]

    def launch(self, c: int, source: int, src_pop: str, t: int, dest: int, neurons, values) -> Train:
        """A train eligible at its injection port (a core's, or the host's) at cycle ``c``."""
        packets = [(int(n), int(v)) for n, v in zip(neurons, values, strict=True)] + [(MARKER, 0)]
        train = Train((self.p, source, t, dest), self.service_key(source, t, dest), source, src_pop, t, dest,
                      packets, self.path_of(source, dest))
        # At the injection (or host) port every packet is ready from the eligible cycle: a_k = e.
        train.queues[0].extend((c, k, None) for k in range(len(packets)))
        self.request(train.path[0], train, 0, c)
        self.progress = True
        return train

    def request(self, link: Link, train: Train, hop: int, c: int) -> None:
        """The train's head is at ``link`` (eligible from cycle ``c`` on), waiting for its turn."""
        link.waiting[train.service_key] = (train, hop)
        train.eligible.append(c)
        self.active.add(link)

    def ready_cycle(self, s: Slice, t: int) -> int | None:
        """The cycle slice ``s`` became ready for ``t`` (timing doc §5), or None if not yet.

        Every condition is a time stamp of timestep ``t`` itself, never "the next marker to come":
        with delays, the marker a later timestep waits for can complete before an earlier
        timestep's (a delayed edge's train of ``t - e`` is older than a delay-0 edge's of ``t``).
        """
        # A slice whose every window lies in padding, or whose only edges are delayed beyond t, has
        # no marker to wait for: ready at the pass start as far as condition 1 goes.
        stamps = [0]
        for src, delays in self.graph.sources[s.index]:
            stamps.extend(self.marker_done.get((s.core, src, t - e)) for e in delays if t - e >= 0)
        if t > 0:
            stamps.append(self.fire_end.get((s.index, t - 1)))
        for d in self.dest_slices[s.index]:
            t_credit = self.edges.credit_timestep(s.index, d, t)
            if t_credit >= 0:
                stamps.append(self.credit.get((s.index, d, t_credit)))
        return None if None in stamps else max(stamps)

    # ------------------------------------------------------------------ one cycle

    def simulate(self) -> int:
        """Step the pass until every slice has fired every timestep and every train has been
        integrated; returns the last fire end (the pass's end, timing doc §7, §8).

        With delays a train can outlive the last fire: a source's train of t feeds its delayed
        edges' timestep t + e, and when that is >= T nobody waits for it (timing doc §5b), yet it
        is sent like every train (§5b "Trains") and crosses the chip. It is stepped to its
        marker's integrate start like the others (its cycles are part of timing doc §9) but ends
        nothing: the pass ends at its last fire.

        Raises
        ------
        DeadlockError
            A cycle in which nothing happened, with nothing due later (no event, fire end,
            integrate issue or credit return ahead), while the pass is not done: the chip's state
            can never change again (timing doc §10.4).
        """
        total = len(self.slices) * self.run.T
        c = 0
        while True:
            self.step(c)
            if sum(self.fires_ended.values()) == total and not self.trains_in_flight():
                break
            if not self.progress and c >= self.horizon:
                raise DeadlockError(self.deadlock_message(c))
            c += 1
        for s in self.slices:
            # The first state variable of a dialect is its membrane.
            self.run.membranes[s.index] = next(iter(self.state[s.index].values()))
        self.collect()
        return max(self.fire_end.values())

    def deadlock_message(self, c: int) -> str:
        """One line: the cycle, the slices that wait and the links held (timing doc §10.4)."""
        waiting = [f"{s.label} t={self.next_t[s.index]}" for s in self.slices if self.next_t[s.index] < self.run.T]
        held = [f"{link.name} by train {link.owner.key}" for link in self.links.values() if link.owner is not None]
        return (f"deadlock at cycle {c + self.offset} (pass {self.p}): nothing can move on; waiting: "
                f"{', '.join(waiting) or 'no slice (a train is not delivered)'}; links held: "
                f"{', '.join(held) or 'none'} (a bug of the reference model, please report it)")

    def collect(self) -> None:
        """Add the pass's per-link and per-router figures (timing doc §11) to the sample's."""
        run = self.run
        for link in self.links.values():
            if link.next:  # carried at least one train
                run.link_wait[link.name] = run.link_wait.get(link.name, 0) + link.wait
                run.link_stall[link.name] = run.link_stall.get(link.name, 0) + link.stall
            if link.cells:
                run.buffer_peak[link.downstream] = max(run.buffer_peak[link.downstream], buffer_peak(link.cells))

    def trains_in_flight(self) -> bool:
        """Some train is not yet granted everywhere on its path, or some packet is not yet integrated."""
        return (any(ln.owner is not None or ln.next < len(ln.schedule) for ln in self.links.values())
                or any(self.buffers.values()))

    def step(self, c: int) -> None:
        """Advance the whole chip through cycle ``c`` in the fixed order of the module docstring."""
        self.progress = False
        for core in self.cores:
            f = self.firing.get(core)
            if f is not None and f[3] == c:
                del self.firing[core]
                self.finish_fire(c, *f)
        events = self.events.pop(c, ())
        if events:
            self.progress = True
        for event in events:
            kind = event[0]
            if kind == "pkt":
                _, train, hop, k, cell = event
                train.queues[hop].append((c, k, cell))
                if k == 0:
                    self.request(train.path[hop], train, hop, c)
            elif kind == "marker":
                self.marker_done[event[1:]] = c
            elif kind == "credit":
                self.credit[event[1:]] = c
            else:
                self.host_credit[event[1:]] = c
        self.host_step(c)
        for link in sorted(self.active, key=lambda ln: ln.order):
            self.link_step(link, c)
        for core in self.cores:
            self.integrate_step(core, c)
        for core in self.cores:
            if core not in self.firing:
                self.soma_step(core, c)

    def host_step(self, c: int) -> None:
        """Timing doc §7: put timestep t on the host port once t-1 is on it and every host credit is back.

        With accumulator slots (§5b) a credit may refer to no fire at all (``t' < 0``), so several
        timesteps can become eligible in the same cycle; the port then serves them in key order.
        """
        while self.host_sources and self.host_next_t < self.run.T:
            t = self.host_next_t
            for d in self.host_dests:
                t_credit = t + self.graph.host_e_max[d] - self.edges.slots(d)
                if t_credit >= 0 and (d, t_credit) not in self.host_credit:
                    return
            self.host_next_t += 1
            for source, pop, cores in self.host_sources:
                if source == HOST:
                    values = self.run.inputs[t]
                    neurons = np.flatnonzero(values)
                    values = values[neurons]
                else:
                    fired = self.run.slice_spikes[(source, t)]
                    neurons = self.run.mapping.slices[source].neuron_start + np.flatnonzero(fired)
                    values = fired[np.flatnonzero(fired)].astype(np.int64)  # 1, or a graded spike's count
                for dest in cores:
                    self.launch(c, source, pop, t, dest, neurons, values)

    def pick(self, link: Link, c: int) -> tuple[Train, int] | None:
        """The waiting train a free link grants at ``c``, or None (it idles).

        ``level_order`` (timing doc §2b, §3): the next train of the link's order if it is
        eligible, whoever else waits. ``round_robin`` (§10.1): an injection or host port takes
        the oldest eligibility, ties by key; a router output port takes, from the first input
        port after its pointer (cyclic order of :data:`PORTS`) that has a waiting train, the
        train eligible first, ties by key, and moves its pointer to that input port.
        """
        if not self.round_robin:
            key = link.schedule[link.next] if link.next < len(link.schedule) else None
            return link.waiting.get(key)
        if not link.waiting:
            return None
        best: dict[int, tuple] = {}  # input port -> (eligible, key, train, hop) of its best train
        for key, (train, hop) in link.waiting.items():
            port = train.path[hop - 1].in_port if hop > 0 else LOCAL
            cand = (train.eligible[hop], key, train, hop)
            if port not in best or cand[:2] < best[port][:2]:
                best[port] = cand
        if link.in_port in (LOCAL, HOST_PORT):  # an injection or host port: one input
            _, _, train, hop = best[LOCAL]
            return train, hop
        for i in range(1, len(PORTS) + 1):
            port = (link.pointer + i) % len(PORTS)
            if port in best:
                link.pointer = port
                _, _, train, hop = best[port]
                return train, hop
        return None  # unreachable: some train waits

    def has_credit(self, link: Link, c: int) -> bool:
        """Fewer than B packets that crossed ``link`` still hold their slot at ``c`` (timing doc §10.3).

        A slot is held from the crossing until its release ``y + C``; a packet that has not crossed
        its next link yet (release unknown) holds it.
        """
        link.held = [cell for cell in link.held if cell[2] is None or cell[2] > c]
        return len(link.held) < self.B

    def leave(self, cell: list | None, y: int, upstream: Link) -> None:
        """A packet leaves the input port fed by ``upstream`` at ``y`` by crossing its next link: its
        slot is usable by ``upstream`` again from ``y + C`` (C: ``upstream``'s forward latency)."""
        if cell is not None:
            cell[1] = y
            cell[2] = y + upstream.latency
            self.due(cell[2])

    def link_step(self, link: Link, c: int) -> None:
        """Grant a free link to a waiting train (by :meth:`pick`); move one packet of the owner."""
        if c < link.free_at:
            return  # timing doc §12: the previous packet still occupies the link (x_{k-1} + s_l)
        if link.owner is None:
            picked = self.pick(link, c)
            if picked is None:
                # Timing doc §2b: the link idles until its next train comes, whoever else waits.
                if not link.waiting:
                    self.active.discard(link)
                return
            train, hop = picked
            del link.waiting[train.service_key]
            link.owner, link.hop = train, hop
            link.next += 1
            train.grants.append(c)
            link.wait += c - train.eligible[hop]
            self.progress = True
        train, hop = link.owner, link.hop
        queue = train.queues[hop]
        if not queue or queue[0][0] > c:
            return  # the next packet is not ready here yet (a_k > c: only with finite buffers)
        last = len(train.packets) - 1
        if link.eject_core >= 0:
            buffer = self.buffers[link.eject_core]
            if len(buffer) >= self.S:
                self.run.ejection_stall[link.eject_core] += 1
                return
            _, k, cell = queue.popleft()
            self.leave(cell, c, train.path[hop - 1])
            buffer.append((c, train, k))
            self.due(c + 1)  # the integrate unit can start it from the next cycle
            train.u.append(c)
            if k == last:
                train.delivery = c
        else:
            if self.finite and not self.has_credit(link, c):
                link.stall += 1
                return
            _, k, cell = queue.popleft()
            if hop > 0:
                self.leave(cell, c, train.path[hop - 1])
            # The link carries this packet for s_l cycles: the next crossing is at x_k + s_l at the earliest.
            link.free_at = c + link.packet_cycles
            self.due(link.free_at)
            if link.chip:
                self.run.actions["chip_link_bit"] += self.flit_bits
            # Into the downstream input port at c + lat; over the wire, then through its router's pipeline.
            new = [c + link.latency, None, None]
            link.cells.append(new)
            link.held.append(new)
            self.at(c + link.latency + self.R, ("pkt", train, hop + 1, k, new))
        self.progress = True
        if k == last:
            link.owner = None
            if not link.waiting:
                self.active.discard(link)

    def integrate_step(self, core: int, c: int) -> None:
        """Start the oldest buffered packet if the unit has issued all of the previous one's cycles."""
        buffer = self.buffers[core]
        if c < self.integrate_free[core] or not buffer or buffer[0][0] >= c:
            return
        _, train, k = buffer.popleft()
        train.starts.append(c)
        neuron, value = train.packets[k]
        if neuron == MARKER:
            cost = 1
            train.marker_start = c
            self.at(c + 1 + self.P_int, ("marker", core, train.source, train.t))
            off = self.offset
            packets = None
            if self.run.record_packets:
                # The buffer is FIFO and the ejection port sends one train at a time, so by the
                # marker's start every packet of the train has entered the buffer and started.
                packets = tuple((u + off, st + off) for u, st in zip(train.u, train.starts, strict=True))
            self.run.trains[train.key] = TrainTiming(tuple(g + off for g in train.grants), train.delivery + off,
                                                     c + off, packets)
        else:
            cost, reaches = self.tables[core].spike(train.src_pop, neuron)
            for reach in reaches:
                self.accumulate(train, neuron, value, reach)
        self.integrate_free[core] = c + cost
        self.run.integrate_busy[core] += cost
        self.progress = True
        self.due(c + cost)

    def accumulate(self, train: Train, neuron: int, value: int, reach) -> None:
        """One packet's synapses into one (slice, projection) pair: slot ``t + delay`` (timing doc §5b)."""
        index, tau = reach.slice_index, train.t + reach.delay
        slots = self.edges.slots(index)
        # The slot of tau must be free of tau - K (its fire ended: the credit of §5 condition 3),
        # and tau must not have fired yet (the slice waits for this train's marker, condition 1).
        # Only a source missing from the mapping's destinations (no credit, no wait) breaks this.
        if self.fires_ended[index] < tau - slots + 1 or self.next_t[index] > tau:
            sl = self.run.mapping.slices[index]
            raise MappingError(self.run.mapping_file, "destinations",
                               f"a spike of {train.src_pop!r} neuron {neuron} for t={train.t} reaches slice "
                               f"{sl.label}, which is not among the destinations of its source",
                               "map the workload again; destinations must cover every synapse")
        run = self.run
        if tau < run.T:  # a timestep >= T is never run: nothing reads what would land there
            np.add.at(self.accs[index][tau % slots][reach.proj_slot], reach.targets, reach.weights * value)
        # Counters of timing doc §4 and §5b: a value (analog input or graded count) multiplies.
        updates = len(reach.targets)
        if train.src_pop in run.valued_sources:
            run.actions["mac8" if reach.weight_bits <= 8 else "mac16"] += updates
        else:
            run.actions["synaptic_add"] += updates
        run.actions["weight_sram_read"] += reach.weight_words
        run.actions["acc_sram_read"] += reach.acc_words
        run.actions["acc_sram_write"] += reach.acc_words

    def soma_step(self, core: int, c: int) -> None:
        """Start a fire on an idle soma, or idle.

        ``level`` (timing doc §2b): the next fire of the soma's order if its slice is ready, else
        idle. ``ready`` (§10.2): of the core's slices that are ready for their next timestep, the
        one ready earliest; ties to the smaller ``t``, then the smaller slice index.
        """
        if self.ready_order:
            best = None
            for sl in self.on_core[core]:
                t = self.next_t[sl.index]
                if t < self.run.T:
                    ready = self.ready_cycle(sl, t)
                    if ready is not None and (best is None or (ready, t, sl.index) < best):
                        best = (ready, t, sl.index)
            if best is None:
                return
            _, t, index = best
            sl = self.run.mapping.slices[index]
        else:
            schedule, n = self.soma_schedule[core], self.soma_next[core]
            if n == len(schedule):
                return
            _, index, t = schedule[n]
            sl = self.run.mapping.slices[index]
            if self.ready_cycle(sl, t) is None:
                return
            self.soma_next[core] = n + 1
        cycles = self.fire_cycles[index]
        self.firing[core] = (index, t, c, c + cycles, self.fire_neurons(sl, t))
        self.next_t[index] = t + 1
        self.run.soma_busy[core] += cycles
        self.progress = True
        self.due(c + cycles)

    def finish_fire(self, c: int, index: int, t: int, start: int, end: int, spikes: np.ndarray) -> None:
        """Fire end: trains to the destination cores, credits to the sources (timing doc §5, §6)."""
        sl = self.run.mapping.slices[index]
        self.progress = True
        self.fire_end[(index, t)] = c
        self.fires_ended[index] += 1
        self.run.fires[(index, t)] = (start + self.offset, end + self.offset)
        neurons = sl.neuron_start + np.flatnonzero(spikes)
        counts = spikes[np.flatnonzero(spikes)].astype(np.int64)  # 1, or a graded spike's count
        for dest in self.dest_cores[index]:
            self.launch(c, index, sl.population, t, dest, neurons, counts)
        # Credits to every same-pass source (itself too, for a self-projection: zero hops, at once),
        # R + the hop's latency per hop of the route from this core to the source's (§12).
        for src, _ in self.graph.sources[index]:
            if src != HOST and src in self.here:
                self.at(c + self.grid.credit_cycles(sl.core, self.run.mapping.slices[src].core), ("credit", src, index, t))
        if index in self.host_dests:
            self.at(c + self.grid.credit_cycles(sl.core, self.io_core), ("hcredit", index, t))

    def fire_neurons(self, sl: Slice, t: int) -> np.ndarray:
        """DESIGN §2 for the slice's neurons from the accumulators it integrated; returns its spikes."""
        run = self.run
        pop = run.pops[sl.population]
        channel = np.arange(sl.neuron_start, sl.neuron_stop) // pop.plane_size
        current = np.zeros(sl.n_neurons, np.int64)
        # The fire of t reads and clears slot t mod K (timing doc §5b); the other slots hold later
        # timesteps that delayed edges have already begun to fill.
        slot = self.accs[sl.index][t % self.edges.slots(sl.index)]
        for k, proj in enumerate(self.projs[sl.index]):
            acc, _ = saturate(slot[k], proj.acc_bits)
            mult = proj.mult.astype(np.int64)[channel]
            current += rshift(acc * mult, proj.shift.astype(np.int64)[channel], pop.rounding)
        slot[:] = 0  # the soma reads and clears the slot in the same sweep
        run.actions["acc_sram_read"] += sl.acc_slot_words
        run.actions["acc_sram_write"] += sl.acc_slot_words
        # The neuron update is the dialect's golden step (qsnnsim.neurons), per neuron with its
        # channel's parameters: the reference re-implements timing, not a neuron's semantics.
        spec = pop.neuron
        params = {k: (v[channel] if isinstance(v, np.ndarray) else v) for k, v in spec.parameters(pop).items()}
        spike, self.state[sl.index] = spec.step(params, self.state[sl.index], current)
        if spec.spiking:
            run.spikes[pop.name][t].reshape(-1)[sl.neuron_start:sl.neuron_stop] = spike
        run.slice_spikes[(sl.index, t)] = spike
        return spike


