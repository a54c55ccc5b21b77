"""The chip of the reference model, stepped one cycle at a time: NoC links, spike buffers,
integrate units, somas and the host, for one pass of one sample (timing doc §1-§7).

Every link and every soma serves its jobs in the fixed order of timing doc §2b. Like the
chip, which is configured with it, the model sets that order up before a pass runs, from the
levels :func:`service_levels` derives from the mapping and the projections' delays alone; while
the pass runs each unit only ever looks at the next job of its own order. Each slice keeps its
accumulator slots (timing doc §5b) and the counts of the synapse-side actions (§4, §5). The intra-cycle order of
:meth:`PassModel.step` is documented in :mod:`qsnnsim.reference`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from qsnnsim.arch import ArchSpec
from qsnnsim.errors import MappingError
from qsnnsim.golden import rshift, saturate
from qsnnsim.mapping import Mapping, Slice
from qsnnsim.reference.edges import SourceEdges, pass_graph
from qsnnsim.reference.result import HOST, TrainTiming
from qsnnsim.reference.synapses import CoreSynapses, fire_cycles_of
from qsnnsim.workload import Workload

MARKER = -1
#: Actions the reference counts, totals per sample (timing doc §4, §5): the synapse-side ones.
ACTIONS = ("weight_sram_read", "acc_sram_read", "acc_sram_write", "synaptic_add", "mac8", "mac16")


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


class Train:
    """The packets one source sends to one core for one timestep, and where they are."""

    __slots__ = (
        "delivery",
        "dest",
        "grants",
        "key",
        "marker_start",
        "packets",
        "path",
        "queues",
        "service_key",
        "source",
        "src_pop",
        "starts",
        "t",
        "u",
    )

    def __init__(self, key, service_key: tuple[int, int, int], source: int, src_pop: str, t: int, dest: int,
                 packets: list, path: list):
        self.key = key  # (pass, source, t, destination core), as timing doc §9 names trains
        self.service_key = service_key  # (level, source, destination core): its place in every link's order
        self.source = source
        self.src_pop = src_pop
        self.t = t
        self.dest = dest
        self.packets = packets  # (source neuron, value); the last one is the marker
        self.path = path
        # Packets routed and waiting in front of link h: (cycle they became available, k).
        self.queues = [deque() for _ in path]
        self.grants: list[int] = []
        self.delivery = -1
        self.marker_start = -1
        # Per packet k, filled as the units step: cycle it entered the spike buffer, cycle the
        # integrate unit started it (timing doc §3, §4). Reported only on request.
        self.u: list[int] = []
        self.starts: list[int] = []


class Link:
    """A router output port with its wire, an injection port or the host port (timing doc §3).

    ``schedule`` is the link's service order for the pass: the keys ``(level, source,
    destination core)`` of every train whose path crosses it, increasing (timing doc §2b).
    """

    __slots__ = ("eject_core", "hop", "latency", "next", "order", "owner", "schedule", "waiting")

    def __init__(self, order: int, latency: int, eject_core: int = -1):
        self.order = order  # fixed visiting order, for determinism only
        self.latency = latency
        self.eject_core = eject_core
        self.schedule: list[tuple[int, int, int]] = []
        self.next = 0  # position in schedule of the next train to grant
        self.waiting: dict[tuple[int, int, int], tuple[Train, int]] = {}  # eligible trains: key -> (train, hop)
        self.owner: Train | None = None
        self.hop = 0


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
        n_cores = arch.chip.mesh_rows * arch.chip.mesh_cols
        self.soma_busy = [0] * n_cores
        self.integrate_busy = [0] * n_cores
        self.ejection_stall = [0] * n_cores
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
        self.cols = arch.chip.mesh_cols
        self.io_core = arch.offchip.io_router[0] * self.cols + arch.offchip.io_router[1]
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
        # Links, created in a fixed order.
        self.links: dict[tuple, Link] = {}
        order = 0
        for core in range(arch.chip.mesh_rows * self.cols):
            for port in ("inj", "N", "E", "S", "W"):
                self.links[(core, port)] = Link(order, 1 if port == "inj" else self.L)
                order += 1
            self.links[(core, "ej")] = Link(order, 0, eject_core=core)
            order += 1
        self.links[("host",)] = Link(order, 1)
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

    # ------------------------------------------------------------------ helpers

    def hops(self, a: int, b: int) -> int:
        ra, ca = divmod(a, self.cols)
        rb, cb = divmod(b, self.cols)
        return abs(ra - rb) + abs(ca - cb)

    def at(self, cycle: int, event: tuple) -> None:
        self.events.setdefault(cycle, []).append(event)

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
        links = [first]
        r, c = divmod(cur, self.cols)
        rd, cd = divmod(dest, self.cols)
        while (r, c) != (rd, cd):
            if c != cd:
                port = "E" if cd > c else "W"
                c += 1 if cd > c else -1
            else:
                port = "S" if rd > r else "N"
                r += 1 if rd > r else -1
            links.append(self.links[(cur, port)])
            cur = r * self.cols + c
        links.append(self.links[(dest, "ej")])
        return links

    def launch(self, c: int, source: int, src_pop: str, t: int, dest: int, neurons, values) -> Train:
        """A train eligible at its injection port (a core's, or the host's) at cycle ``c``."""
        packets = [(int(n), int(v)) for n, v in zip(neurons, values, strict=True)] + [(MARKER, 0)]
        train = Train((self.p, source, t, dest), self.service_key(source, t, dest), source, src_pop, t, dest,
                      packets, self.path_of(source, dest))
        train.queues[0].extend((c, k) for k in range(len(packets)))
        self.request(train.path[0], train, 0)
        return train

    def request(self, link: Link, train: Train, hop: int) -> None:
        """The train's head is at ``link`` (eligible from this cycle on), waiting for its turn."""
        link.waiting[train.service_key] = (train, hop)
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
        """
        total = len(self.slices) * self.run.T
        c = 0
        while True:
            self.step(c)
            if sum(self.fires_ended.values()) == total and not self.trains_in_flight():
                break
            # Links holding only trains that are not next in their order cannot move on their own.
            moving = any(link.owner is not None for link in self.active)
            if not (self.events or moving or self.firing or any(self.buffers.values())):
                waiting = [f"{s.label} t={self.next_t[s.index]}" for s in self.slices if self.next_t[s.index] < self.run.T]
                raise RuntimeError(f"reference model stalled at cycle {c} of pass {self.p}: "
                                   f"{', '.join(waiting) or 'a train'} can never move on "
                                   "(inconsistent mapping or service order)")
            c += 1
        for s in self.slices:
            # The first state variable of a dialect is its membrane.
            self.run.membranes[s.index] = next(iter(self.state[s.index].values()))
        return max(self.fire_end.values())

    def trains_in_flight(self) -> bool:
        """Some train is not yet granted everywhere on its path, or some packet is not yet integrated."""
        return (any(ln.owner is not None or ln.next < len(ln.schedule) for ln in self.links.values())
                or any(self.buffers.values()))

    def step(self, c: int) -> None:
        """Advance the whole chip through cycle ``c`` in the fixed order of the module docstring."""
        for core in self.cores:
            f = self.firing.get(core)
            if f is not None and f[3] == c:
                del self.firing[core]
                self.finish_fire(c, *f)
        for event in self.events.pop(c, ()):
            kind = event[0]
            if kind == "pkt":
                _, train, hop, k = event
                train.queues[hop].append((c, k))
                if k == 0:
                    self.request(train.path[hop], train, hop)
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

    def link_step(self, link: Link, c: int) -> None:
        """Grant a free link to the next train of its order if eligible; move one packet of the owner."""
        if link.owner is None:
            key = link.schedule[link.next] if link.next < len(link.schedule) else None
            if key not in link.waiting:
                # Timing doc §2b: the link idles until its next train comes, whoever else waits.
                if not link.waiting:
                    self.active.discard(link)
                return
            link.owner, link.hop = link.waiting.pop(key)
            link.next += 1
            link.owner.grants.append(c)
        train, hop = link.owner, link.hop
        queue = train.queues[hop]
        if not queue or queue[0][0] > c:
            return  # the next packet has not been routed yet (§3's timing never lets this happen)
        last = len(train.packets) - 1
        if link.eject_core >= 0:
            buffer = self.buffers[link.eject_core]
            if len(buffer) >= self.S:
                self.run.ejection_stall[link.eject_core] += 1
                return
            _, k = queue.popleft()
            buffer.append((c, train, k))
            train.u.append(c)
            if k == last:
                train.delivery = c
        else:
            _, k = queue.popleft()
            # Over the wire, then through the next router's pipeline.
            self.at(c + link.latency + self.R, ("pkt", train, hop + 1, k))
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
        """Start the next fire of the soma's order (timing doc §2b) if its slice is ready; else idle."""
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

    def finish_fire(self, c: int, index: int, t: int, start: int, end: int, spikes: np.ndarray) -> None:
        """Fire end: trains to the destination cores, credits to the sources (timing doc §5, §6)."""
        sl = self.run.mapping.slices[index]
        self.fire_end[(index, t)] = c
        self.fires_ended[index] += 1
        self.run.fires[(index, t)] = (start + self.offset, end + self.offset)
        neurons = sl.neuron_start + np.flatnonzero(spikes)
        counts = spikes[np.flatnonzero(spikes)].astype(np.int64)  # 1, or a graded spike's count
        for dest in self.dest_cores[index]:
            self.launch(c, index, sl.population, t, dest, neurons, counts)
        credit_cycles = self.R + self.L
        # Credits to every same-pass source (itself too, for a self-projection: zero hops, at once).
        for src, _ in self.graph.sources[index]:
            if src != HOST and src in self.here:
                self.at(c + self.hops(sl.core, self.run.mapping.slices[src].core) * credit_cycles, ("credit", src, index, t))
        if index in self.host_dests:
            self.at(c + self.hops(sl.core, self.io_core) * credit_cycles, ("hcredit", index, t))

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


