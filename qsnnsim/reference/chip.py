"""The chip of the reference model, stepped one cycle at a time: NoC links, spike buffers,
integrate units, somas and the host, for one pass of one sample (timing doc §1-§7).

Every link and every soma serves its jobs in the fixed order of timing doc §2b. Like the
chip, which is configured with it, the model sets that order up before a pass runs, from the
levels :func:`service_levels` derives from the mapping alone; while the pass runs each unit
only ever looks at the next job of its own order. The intra-cycle order of
:meth:`PassModel.step` is documented in :mod:`qsnnsim.reference`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from qsnnsim.arch import ArchSpec
from qsnnsim.errors import MappingError
from qsnnsim.golden import rshift, saturate
from qsnnsim.mapping import Mapping, Slice
from qsnnsim.reference.result import HOST, TrainTiming
from qsnnsim.reference.synapses import CoreSynapses, fire_cycles_of
from qsnnsim.workload import Workload, membrane_limit

MARKER = -1


def service_levels(mapping: Mapping, pass_index: int, timesteps: int) -> tuple[dict[tuple[int, int], int], list[int]]:
    """Levels of timing doc §2b for one pass, from the mapping alone.

    Parameters
    ----------
    mapping : Mapping
        The mapping; only its slices' passes, ``destinations`` and ``input_destinations`` are read.
    pass_index : int
        The pass.
    timesteps : int
        T of the workload.

    Returns
    -------
    tuple[dict[tuple[int, int], int], list[int]]
        ``lambda(s, t)`` for every slice ``s`` of the pass and every ``t``, and ``lambda_H(t)``
        for every ``t`` (an empty list when no host train enters the pass).
    """
    here = {s.index for s in mapping.slices if s.pass_index == pass_index}
    dests = {i: [d for d in mapping.destinations[i] if d in here] for i in here}
    sources: dict[int, list[int]] = {i: [] for i in here}
    for i in sorted(here):
        for d in dests[i]:
            sources[d].append(i)
    # Slices that receive a host train: the input's destinations and those of earlier passes' slices.
    host_dests = {d for d in mapping.input_destinations if d in here}
    for s in mapping.slices:
        if s.pass_index < pass_index:
            host_dests.update(d for d in mapping.destinations[s.index] if d in here)
    # Slices in increasing index, each after its same-pass sources (the graph is acyclic).
    order: list[int] = []
    placed: set[int] = set()

    def place(i: int) -> None:
        if i not in placed:
            placed.add(i)
            for src in sources[i]:
                place(src)
            order.append(i)

    for i in sorted(here):
        place(i)
    fire: dict[tuple[int, int], int] = {}
    host: list[int] = []
    for t in range(timesteps):
        if host_dests:
            host.append(0 if t == 0 else 1 + max([host[t - 1]] + [fire[(d, t - 1)] for d in host_dests]))
        for i in order:
            terms = [0] + [fire[(src, t)] for src in sources[i]]
            if i in host_dests:
                terms.append(host[t])
            if t > 0:
                terms += [fire[(i, t - 1)]] + [fire[(d, t - 1)] for d in dests[i]]
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
        self.spikes = {p.name: np.zeros((self.T,) + p.shape, bool) for p in workload.populations if p.kind == "lif"}
        self.slice_spikes: dict[tuple[int, int], np.ndarray] = {}
        self.membranes: dict[int, np.ndarray] = {}


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
        self.dest_slices = {s.index: [d for d in mapping.destinations[s.index] if d in here] for s in self.slices}
        self.dest_cores = {i: sorted({mapping.slices[d].core for d in ds}) for i, ds in self.dest_slices.items()}
        self.sources: dict[int, list[int]] = {s.index: [] for s in self.slices}
        for s in self.slices:
            for d in self.dest_slices[s.index]:
                self.sources[d].append(s.index)
        self.host_sources: list[tuple[int, str, list[int]]] = []
        host_dests: set[int] = set()
        inputs_here = [d for d in mapping.input_destinations if d in here]
        if inputs_here:
            self.host_sources.append((HOST, run.input_name, sorted({mapping.slices[d].core for d in inputs_here})))
            host_dests.update(inputs_here)
            for d in inputs_here:
                self.sources[d].append(HOST)
        for s in mapping.slices:
            if s.pass_index >= pass_index:
                continue
            later = [d for d in mapping.destinations[s.index] if d in here]
            if later:
                self.host_sources.append((s.index, s.population, sorted({mapping.slices[d].core for d in later})))
                host_dests.update(later)
                for d in later:
                    self.sources[d].append(s.index)
        self.host_dests = sorted(host_dests)
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
        self.fire_level, self.host_level = service_levels(mapping, pass_index, run.T)
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
        self.accs = {s.index: [np.zeros(s.n_neurons, np.int64) for _ in projs[s.index]] for s in self.slices}
        self.membrane = {s.index: np.zeros(s.n_neurons, np.int64) for s in self.slices}
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
        packets = [(int(n), int(v)) for n, v in zip(neurons, values)] + [(MARKER, 0)]
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
        """The cycle slice ``s`` became ready for ``t`` (timing doc §5), or None if not yet."""
        # A slice whose every window lies in padding has no source: ready for t=0 at the pass start.
        stamps = [0]
        for src in self.sources[s.index]:
            stamps.append(self.marker_done.get((s.core, src, t)))
        if t > 0:
            stamps.append(self.fire_end.get((s.index, t - 1)))
            stamps.extend(self.credit.get((s.index, d, t - 1)) for d in self.dest_slices[s.index])
        return None if None in stamps else max(stamps)

    # ------------------------------------------------------------------ one cycle

    def simulate(self) -> int:
        """Step the pass until every slice has fired every timestep; returns the last fire end."""
        total = len(self.slices) * self.run.T
        c = 0
        while True:
            self.step(c)
            if sum(self.fires_ended.values()) == total:
                break
            # Links holding only trains that are not next in their order cannot move on their own.
            moving = any(link.owner is not None for link in self.active)
            if not (self.events or moving or self.firing or any(self.buffers.values())):
                waiting = [f"{s.label} t={self.next_t[s.index]}" for s in self.slices if self.next_t[s.index] < self.run.T]
                raise RuntimeError(f"reference model stalled at cycle {c} of pass {self.p}: "
                                   f"{', '.join(waiting)} can never fire (inconsistent mapping or service order)")
            c += 1
        if self.active or any(self.buffers.values()) or any(ln.next < len(ln.schedule) for ln in self.links.values()):
            raise RuntimeError(f"pass {self.p} ended at cycle {c} with trains not delivered")
        for s in self.slices:
            self.run.membranes[s.index] = self.membrane[s.index]
        return c

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
        """Timing doc §7: put timestep t on the host port once t-1 is on it and every host credit is back."""
        t = self.host_next_t
        if not self.host_sources or t >= self.run.T:
            return
        if t > 0 and any((d, t - 1) not in self.host_credit for d in self.host_dests):
            return
        self.host_next_t += 1
        for source, pop, cores in self.host_sources:
            if source == HOST:
                values = self.run.inputs[t]
                neurons = np.flatnonzero(values)
                values = values[neurons]
            else:
                neurons = self.run.mapping.slices[source].neuron_start + np.flatnonzero(self.run.slice_spikes[(source, t)])
                values = np.ones(len(neurons), np.int64)
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
                if self.fires_ended[reach.slice_index] != train.t:
                    sl = self.run.mapping.slices[reach.slice_index]
                    raise MappingError(self.run.mapping_file, "destinations",
                                       f"a spike of {train.src_pop!r} neuron {neuron} for t={train.t} reaches slice "
                                       f"{sl.label}, which is not among the destinations of its source",
                                       "map the workload again; destinations must cover every synapse")
                np.add.at(self.accs[reach.slice_index][reach.proj_slot], reach.targets, reach.weights * value)
        self.integrate_free[core] = c + cost
        self.run.integrate_busy[core] += cost

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
        ones = np.ones(len(neurons), np.int64)
        for dest in self.dest_cores[index]:
            self.launch(c, index, sl.population, t, dest, neurons, ones)
        credit_cycles = self.R + self.L
        for src in self.sources[index]:
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
        for slot, proj in enumerate(self.projs[sl.index]):
            acc, _ = saturate(self.accs[sl.index][slot], proj.acc_bits)
            mult = proj.mult.astype(np.int64)[channel]
            current += rshift(acc * mult, proj.shift.astype(np.int64)[channel], pop.rounding)
            # The soma reads and clears each accumulator in the same sweep.
            self.accs[sl.index][slot] = np.zeros(sl.n_neurons, np.int64)
        m = self.membrane[sl.index]
        h = rshift(m * pop.decay_mult, pop.decay_shift, pop.rounding) + current + pop.bias.astype(np.int64)[channel]
        if pop.kind == "readout":
            self.membrane[sl.index] = h
            return np.zeros(sl.n_neurons, bool)
        theta = pop.threshold.astype(np.int64)[channel]
        spike = h > theta if pop.fire_cmp == "gt" else h >= theta
        after = np.where(spike, 0 if pop.reset == "hard" else h - theta, h)
        q = membrane_limit(pop.membrane_bits)
        self.membrane[sl.index] = np.clip(after, -q, q)
        run.spikes[pop.name][t].reshape(-1)[sl.neuron_start:sl.neuron_stop] = spike
        run.slice_spikes[(sl.index, t)] = spike
        return spike


