"""simulate(): run samples of a workload on a mapped architecture, cycle-accurately.

The event engine of DESIGN §6 / docs/timing-model.md: one simpy environment per pass, with
a :class:`CoreUnit` per core, a :class:`LinkUnit` per injection port, mesh link and
ejection port, and the host. Events are at the granularity of (slice, timestep, phase) and
trains of packets; the kernels compute each phase's integer work and each train's
per-packet ejection and integrate cycles. Functional results never depend on the timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from qsnnsim.arch import ArchSpec
from qsnnsim.counters import Action, Counters, Unit
from qsnnsim.engine import offchip
from qsnnsim.engine.arbiter import RoundRobinLink, input_port
from qsnnsim.engine.build import HOST_SOURCE, Plan, build_plan
from qsnnsim.engine.core import CoreUnit, Readiness
from qsnnsim.engine.fixed_order import FixedOrderNoc, fixed_order_net
from qsnnsim.engine.flits import FlitEjectPort, FlitLink
from qsnnsim.engine.occupancy import NocLog, link_name
from qsnnsim.engine.order import train_path
from qsnnsim.engine.pass_topology import PassTopology, pass_topology  # noqa: F401 (re-exported)
from qsnnsim.engine.router import DECIDE, NORMAL, LinkUnit, call_at, link_timing
from qsnnsim.errors import DeadlockError
from qsnnsim.kernels import noc, phase, synapse
from qsnnsim.mapping import Mapping
from qsnnsim.system import chip_link_latency_cycles, chip_link_packet_cycles
from qsnnsim.system import topology as system_topology
from qsnnsim.workload import Workload

_NEVER = 1 << 40
# Plain ints for the hot path: numpy indexes with an IntEnum member far more slowly than with an int.
_COUNT_COLUMNS = np.array([Action.WEIGHT_SRAM_READ, Action.ACC_SRAM_READ, Action.ACC_SRAM_WRITE], np.int64)
_LINK_WAIT, _EJECTION_STALL, _INTEGRATE_BUSY = int(Unit.LINK_WAIT), int(Unit.EJECTION_STALL), int(Unit.INTEGRATE_BUSY)
_SPIKE = int(Action.SPIKE)
_NO_RECORD = np.empty((0, 2), np.int64)


@dataclass(frozen=True)
class TrainTiming:
    """When one train was served (docs/timing-model.md §9).

    ``packets`` holds every packet's (ejection cycle u_k, integrate start), spikes in neuron
    order and the marker last, when the run was asked to record them; otherwise None.
    """

    grants: tuple
    delivery: int
    marker_start: int
    packets: tuple | None = None
    eligibles: tuple = ()    # the cycle the train was eligible at each link of its path
    n_packets: int = 0       # F: its spikes and the marker
    buffer_stall: int = 0    # cycles its packets waited for the destination's full spike buffer


@dataclass(frozen=True, eq=False)
class SampleResult:
    """One sample's run: outputs, time and counts."""

    sample: int
    label: int | None
    readout: np.ndarray
    predicted: int
    latency_cycles: int
    latency_us: float
    counters: Counters
    spikes: dict                 # population name -> bool (T, *shape), or int64 counts for graded
                                 # spikes, of every spiking population
    membranes: dict              # population name -> final membranes (shape): the first state variable
                                 # of its dialect; values equal the golden model's int64 ones
    fires: dict                  # (slice, t) -> (start, end)
    trains: dict                 # (pass, source, t, dest core) -> TrainTiming
    pass_starts: tuple
    noc_buffer_peak_flits: tuple  # per router: its fullest input port's peak (docs/timing-model.md §11)
    link_flits: dict             # (router core, next router core) -> flits carried; (c, c) is c's ejection port
    saturations: dict = field(default_factory=dict)  # projection name -> int64 (T,)
    link_wait_cycles: dict = field(default_factory=dict)   # link name -> cycles trains waited for a grant
    link_stall_cycles: dict = field(default_factory=dict)  # link name -> cycles packets waited for a credit
    fire_waits: dict = field(default_factory=dict)  # (slice, t) -> what its start waited for (critical path)

    @property
    def soma_busy_cycles(self) -> tuple:
        return tuple(int(x) for x in self.counters.unit_cycles_by_core()[:-1, Unit.SOMA_BUSY])

    @property
    def integrate_busy_cycles(self) -> tuple:
        return tuple(int(x) for x in self.counters.unit_cycles_by_core()[:-1, Unit.INTEGRATE_BUSY])

    @property
    def ejection_stall_cycles(self) -> tuple:
        return tuple(int(x) for x in self.counters.unit_cycles_by_core()[:-1, Unit.EJECTION_STALL])


@dataclass(frozen=True, eq=False)
class RunResult:
    """All samples of a run, with what they ran on."""

    workload: Workload
    arch: ArchSpec
    mapping: Mapping
    samples: tuple


class _Train:
    __slots__ = ("key", "order_key", "source_pop", "t", "dest", "spikes", "n_packets", "links", "ports", "grants",
                 "eligibles", "ready", "record", "paced", "crossed", "stall")

    def __init__(self, key, order_key, source_pop, t, dest, spikes, links, ports):
        self.key = key
        self.order_key = order_key
        self.source_pop = source_pop
        self.t = t
        self.dest = dest
        self.spikes = spikes
        self.n_packets = len(spikes) + 1
        self.links = links
        self.ports = ports        # per link of the path: the (router, input port) it reads from; None first
        self.grants = []
        self.eligibles = []
        self.ready = None         # finite buffers: per link, the cycle each packet is ready there
        self.record = None        # finite buffers: (u_k, start_k) per packet
        # Behind a chip-to-chip link packet k is ready at the next port from ``paced + k * s``
        # (docs/timing-model.md §12); None before one. ``crossed`` = (grant, packet cycles,
        # paced) of the last link, which give its packets' crossing cycles.
        self.paced = None
        self.crossed = None
        self.stall = 0


def _state_dtype(bits: int) -> type:
    """Storage of a state variable of ``bits`` bits. A qsnn_lif membrane (<= 16 bits) is
    clamped before it is stored; one narrow width for all (not int8 for 8 bits) keeps the
    fire kernel to few compiled variants. A readout's 64-bit register wraps (kernels/lif.py)."""
    return np.int16 if bits <= 16 else np.int32 if bits <= 32 else np.int64


class _SampleState:
    """The functional state of one sample (spikes, membranes), shared by all passes."""

    def __init__(self, plan: Plan, sample: int):
        wl = plan.workload
        self.T = wl.timesteps
        self.values = {}
        for i, pop in enumerate(wl.populations):
            if pop.kind == "input":
                self.values[i] = np.ascontiguousarray(wl.sample_input(sample).reshape(self.T, -1))
            elif pop.is_spiking:
                self.values[i] = np.zeros((self.T, pop.n_neurons), np.uint8)  # bits, or counts <= 255
        # One array per state variable of each population (a slice updates its own range of
        # it), so the result needs no gathering; each in the narrowest integer that holds its
        # dialect's bits (a qsnn_lif membrane in int16: a quarter of the memory the kernel streams).
        self.neuron_state = {i: {name: np.zeros(pop.n_neurons, _state_dtype(bits))
                                 for name, bits in pop.neuron.state_vars(pop)}
                             for i, pop in enumerate(wl.populations) if pop.kind != "input"}
        # The first state variable of each is its membrane (the golden model's ``membranes``).
        self.membranes = {i: next(iter(st.values())) for i, st in self.neuron_state.items()}
        self.fired = np.zeros((len(wl.populations), self.T), np.int64)
        self.n_slices = np.zeros(len(wl.populations), np.int64)
        for s in plan.slices:
            self.n_slices[s.pop] += 1
        self.pack_cache: dict = {}
        # Direct encoding feeds the same input every timestep: a slice's sums over it are then
        # those of the previous timestep (the integrate unit's cycles are counted per packet
        # regardless; only the arithmetic is reused).
        self.input_repeats = {i: [t > 0 and np.array_equal(v[t], v[t - 1]) for t in range(self.T)]
                              for i, v in self.values.items() if wl.populations[i].kind == "input"}
        self.input_sums: dict = {}
        self.saturations = {p.name: np.zeros(self.T, np.int64) for p in wl.projections}


class _PassRun:
    """One pass of one sample: the simpy environment and its units."""

    def __init__(self, plan: Plan, state: _SampleState, pass_index: int, offset: int, counts: np.ndarray,
                 unit_cycles: np.ndarray, fires: dict, trains: dict, noc_log: NocLog, link_flits: dict,
                 topology: PassTopology, record_packets: bool = False, on_fire=None):
        self.plan = plan
        self.on_fire = on_fire
        self.record_packets = record_packets
        self.state = state
        self.p = pass_index
        self.offset = offset
        self.counts = counts
        self.unit_cycles = unit_cycles
        self.fires = fires
        self.trains = trains
        self.noc_log = noc_log
        self.link_flits = link_flits
        arch = plan.arch
        # The options of docs/timing-model.md §10; the defaults keep the fixed order's ahead-granting links.
        self.round_robin = arch.noc.arbitration == "round_robin"
        self.finite = arch.noc.router_buffers == "finite"
        self.depth = arch.noc.buffer_depth_flits
        self.R = arch.noc.router_latency_cycles
        self.L = arch.noc.link_latency_cycles
        # systems of chips (docs/timing-model.md §12): a hop between chips is slower and longer
        self.topology = system_topology(arch)
        self.chip_pace = chip_link_packet_cycles(arch)
        self.chip_latency = chip_link_latency_cycles(arch)
        self.flit_bits = arch.noc.flit_bits
        self._credit_memo: dict = {}
        self._fire_count_memo: dict = {}
        self.P_int = arch.core.integrate_pipeline_cycles
        self.cols = plan.mapping.mesh_cols
        self.env = simpy.Environment()
        self.T = state.T
        self.end = 0
        self.top = topology
        self.order = topology.order
        # units
        self.cores: dict[int, CoreUnit] = {}
        for s in self.top.here:
            if s.core not in self.cores:
                self.cores[s.core] = CoreUnit(self.env, s.core, self.order.soma_sequence[s.core],
                                              arch.core.spike_buffer_packets, self._start_fire,
                                              ready_order=arch.core.soma_order == "ready")
            self.cores[s.core].readiness[s.index] = Readiness(self.top.needs[s.index])
        self.links: dict[tuple, LinkUnit] = {}
        self.paths: dict[tuple, tuple] = {}
        self.host = Readiness(self.top.host_needs)
        # The default options without per-train records: the compiled fixed-order NoC serves the
        # trains (engine/fixed_order.py), the same cycles as the link units below at a fraction of the cost.
        self.fast = None
        if not (self.round_robin or self.finite or noc_log.enabled or record_packets):
            self.fast = FixedOrderNoc(fixed_order_net(plan, topology), plan.n_cores, arch.core.spike_buffer_packets,
                                      counts, unit_cycles)

    # ----------------------------------------------------------------- helpers
    def _link(self, name: tuple):
        link = self.links.get(name)
        if link is None:
            kind = name[0]
            router, forward, pace, chip_link = link_timing(name, self.topology, self.plan.arch, self.plan.io_core)
            sequence = None if self.round_robin else self.order.link_sequence[name]
            label = link_name(name)
            if self.finite and kind == "eject":
                link = FlitEjectPort(self.env, label, router, sequence, self._grant_flits, self._eject_packet)
            elif self.finite:
                link = FlitLink(self.env, label, router, sequence, self._grant_flits, self._move_packet,
                                self.depth, forward, pace)
            else:
                on_grant = self._grant_eject if kind == "eject" else self._grant_hop
                if self.round_robin:
                    link = RoundRobinLink(self.env, router, on_grant, label)
                else:
                    link = LinkUnit(self.env, router, on_grant, sequence)
                    link.name = label
            link.forward_latency = forward   # to the next router (1: into the local router)
            link.pace = pace                 # cycles per packet
            link.chip_link = chip_link
            self.links[name] = link
        return link

    def _count(self, core: int, pop: int, t: int, action: Action, n) -> None:
        self.counts[core, pop, t, int(action)] += int(n)

    # ----------------------------------------------------------------- run
    def run(self) -> int:
        for core in sorted(self.cores):
            self.cores[core].schedule_decision(0)
        self._host_ready_check()
        self.env.run()
        self._check_finished()
        if self.fast is not None:
            self.fast.add_link_flits(self.link_flits)
        for link in self.links.values():
            if self.finite and isinstance(link, FlitLink):
                self.noc_log.stall(link.name, link.stall_cycles)
        # The units call back into this pass (bound methods): drop them, so the pass, its plan
        # and its arrays are freed when the sample ends rather than at some later cycle
        # collection, whose timing would decide when tens of MB go back to the allocator.
        self.cores.clear()
        self.links.clear()
        self.paths.clear()
        return self.end

    def _check_finished(self) -> None:
        """Nothing is left to happen: every slice must have fired every timestep (§10.4)."""
        waiting = [(sid, cu.readiness[sid].next_t) for cu in self.cores.values() for sid in sorted(cu.readiness)
                   if cu.readiness[sid].next_t < self.T]
        if waiting:
            held = sorted(link.name for link in self.links.values() if link.held())
            if self.fast is not None:
                held = self.fast.held_links()
            slices = ", ".join(f"slice {sid} at t={t}" for sid, t in waiting[:8])
            raise DeadlockError(
                f"deadlock in pass {self.p} at cycle {self.env.now + self.offset}: {slices}"
                f"{' and more' if len(waiting) > 8 else ''} wait; links holding or queueing trains: "
                f"{', '.join(held[:12]) or 'none'}{' ...' if len(held) > 12 else ''}")

    # ----------------------------------------------------------------- host
    def _host_ready_check(self) -> None:
        if not self.top.host_sources or self.host.next_t >= self.T:
            return
        if self.host.is_ready():
            call_at(self.env, max(self.env.now, self.host.ready), self._host_emit, DECIDE)

    def _host_emit(self) -> None:
        t = self.host.next_t
        now = self.env.now
        io = self.plan.io_core
        self.noc_log.fire_waits[("host", self.p, t)] = (now + self.offset, self.host.cause[t])
        self.host.advance()
        if t + 1 < self.T:
            self.host.satisfy(t + 1, now, ("own",))  # its trains of t became eligible now
        for src in self.top.host_sources:
            spikes, pop = self._source_spikes(src, t)
            if self.fast is not None:
                self._launch_compiled(src, t, spikes)
            else:
                for core in self.top.host_train_cores[src]:
                    self._launch(src, pop, t, core, spikes, io, self.order.host_level[t], from_host=True)
            if src != HOST_SOURCE:
                # the host reads the boundary slice's spike bitmap of this timestep back in
                sl = self.plan.slices[src]
                self._count(self.plan.n_cores, sl.pop, t, Action.OFFCHIP_BIT, sl.n_neurons)
        self._host_ready_check()

    def _source_spikes(self, src: int, t: int) -> tuple[np.ndarray, int]:
        """Neuron indices (in the source population) a source sends at t, and its population."""
        if src == HOST_SOURCE:
            pop = next(i for i, p in enumerate(self.plan.workload.populations) if p.kind == "input")
            return np.flatnonzero(self.state.values[pop][t]), pop
        sl = self.plan.slices[src]
        seg = self.state.values[sl.pop][t, sl.neuron_start:sl.neuron_stop]
        return np.flatnonzero(seg) + sl.neuron_start, sl.pop

    # ----------------------------------------------------------------- trains
    def _path(self, src_core: int, dest_core: int, from_host: bool) -> tuple:
        """The links of a route, the keys its flits are counted under (after the injection port),
        and the (router, input port) each link of the route reads from (None for the first)."""
        key = (src_core, dest_core, from_host)
        path = self.paths.get(key)
        if path is None:
            names = train_path(src_core, dest_core, self.cols, from_host)
            hops = [(n[1], n[2]) if n[0] == "mesh" else (dest_core, dest_core) for n in names[1:]]
            # (router, input port, pass): each pass has its own timeline and empty buffers (§7, §11)
            ports = [None] + [(self._router_of(n), input_port(prev, self.cols), self.p)
                              for prev, n in zip(names, names[1:])]
            links = [self._link(name) for name in names]
            path = self.paths[key] = (links, hops, ports, sum(1 for link in links if link.chip_link))
        return path

    def _router_of(self, name: tuple) -> int:
        """The core whose router owns a link (the io core for the host port)."""
        return self.plan.io_core if name[0] == "host" else name[1]

    def _launch(self, src, pop, t, dest_core, spikes, src_core, level, from_host=False):
        links, hops, ports, chip_links = self._path(src_core, dest_core, from_host)
        f = len(spikes) + 1
        for hop in hops:
            self.link_flits[hop] = self.link_flits.get(hop, 0) + f
        train = _Train((self.p, src, t, dest_core), (level, src, dest_core), pop, t, dest_core, spikes, links, ports)
        counter_core = self.plan.n_cores if from_host else src_core
        self._count(counter_core, pop, t, Action.PACKET, f)
        self._count(counter_core, pop, t, Action.FLIT_HOP, f * len(hops))
        if chip_links:
            self._count(counter_core, pop, t, Action.CHIP_LINK_BIT, f * self.flit_bits * chip_links)
        self._count(dest_core, pop, t, Action.SPIKE_BUFFER_ACCESS, 2 * f)
        now = self.env.now
        if self.finite:
            train.ready = [[now] * f] + [[] for _ in links[1:]]
            train.record = []
        links[0].offer(train, train.order_key, now, 0)

    def _launch_compiled(self, src, t: int, spikes: np.ndarray) -> None:
        """Launch a source's trains of t on the compiled NoC; its delivered markers complete their targets."""
        net = self.fast.net
        T = self.T
        for train, done in self.fast.launch(net.source_routes[src], t, self.env.now, spikes).tolist():
            r, t_train = divmod(train, T)
            src_r, dest = net.route_keys[r]
            self._marker_done(net.marker_targets[r], t_train, done, (self.p, src_r, t_train, dest))

    def _credit_cycles(self, from_core: int, to_core: int) -> int:
        """A credit's trip on the side band: R plus the hop's latency per hop of the XY route (§5, §12)."""
        key = (from_core, to_core)
        cycles = self._credit_memo.get(key)
        if cycles is None:
            hops = self.topology.hops(from_core, to_core)
            chip_hops = self.topology.chip_link_hops(from_core, to_core) if self.topology.n_chips > 1 else 0
            cycles = hops * self.R + (hops - chip_hops) * self.L + chip_hops * self.chip_latency
            self._credit_memo[key] = cycles
        return cycles

    def _crossings(self, crossed, f: int) -> np.ndarray:
        """The cycles the train's packets crossed a link: ``max(grant + k * pace, paced + k * s)``."""
        grant, pace, paced = crossed
        k = np.arange(f, dtype=np.int64)
        times = grant + k * pace
        if paced is not None:
            np.maximum(times, paced + k * self.chip_pace, out=times)
        return times

    def _waited(self, train: _Train, link, grant: int, eligible: int) -> None:
        train.grants.append(grant)
        train.eligibles.append(eligible)
        logged = self.noc_log.enabled
        if logged:
            self.noc_log.carried(link.name)
        if grant > eligible:
            self.unit_cycles[link.router_core, train.source_pop, train.t, _LINK_WAIT] += grant - eligible
            if logged:
                self.noc_log.wait(link.name, grant - eligible)

    def _grant_hop(self, train: _Train, grant: int, eligible: int) -> int:
        i = len(train.grants)
        link = train.links[i]
        self._waited(train, link, grant, eligible)
        f = train.n_packets
        # Packet k crosses at max(grant + k * pace, paced + k * s) (§12): on a chip-to-chip link
        # the link's own pace wins (grant >= paced), on chip the slower of the two curves.
        paced = grant if link.pace > 1 else train.paced
        if self.noc_log.enabled:  # it sat in this router's input port from entry until it crossed here
            crossed = (grant, link.pace, paced)
            if i > 0:
                self._log_port(train, i, crossed)
            train.crossed = crossed
        last = grant + (f - 1) * link.pace if paced is None else max(grant + (f - 1) * link.pace,
                                                                     paced + (f - 1) * self.chip_pace)
        lat = link.forward_latency + self.R
        train.paced = None if paced is None else paced + lat
        train.links[i + 1].offer(train, train.order_key, grant + lat, train.ports[i + 1][1])
        return last + link.pace

    def _log_port(self, train: _Train, i: int, crossed, exits=None) -> None:
        """Packets entered link i's input port after crossing link i - 1, and left it at ``exits``."""
        f = train.n_packets
        o = self.offset
        prev, lat = train.crossed, train.links[i - 1].forward_latency
        if prev[2] is None and prev[1] == 1:
            self.noc_log.held(train.ports[i], prev[0] + lat + o, f, 0, 0)
        else:
            self.noc_log.held_points(train.ports[i], self._crossings(prev, f) + lat + o, +1)
        if exits is not None:
            self.noc_log.held_points(train.ports[i], exits + o, -1)
        elif crossed[2] is None and crossed[1] == 1:
            self.noc_log.held(train.ports[i], 0, 0, crossed[0] + o, f)
        else:
            self.noc_log.held_points(train.ports[i], self._crossings(crossed, f) + o, -1)

    def _grant_eject(self, train: _Train, grant: int, eligible: int) -> int:
        i = len(train.grants)
        self._waited(train, train.links[i], grant, eligible)
        table = self.plan.cost_tables[(train.source_pop, train.dest, self.p)]
        cu = self.cores[train.dest]
        t = train.t
        record = np.empty((train.n_packets, 2), np.int64) if self.record_packets or self.noc_log.enabled \
            else _NO_RECORD
        paced = train.paced
        delivery, marker_start, stall, busy = noc.eject_and_count(
            grant, train.spikes, table.cost, table.stats, table.target_pops, table.target_actions,
            self.counts[train.dest], t, _COUNT_COLUMNS, cu.ring, cu.integrate_state, record,
            0 if paced is None else paced, 0 if paced is None else self.chip_pace)
        cycles = self.unit_cycles[train.dest, train.source_pop, t]
        cycles[_EJECTION_STALL] += stall
        cycles[_INTEGRATE_BUSY] += busy
        if self.noc_log.enabled:
            crossed = (grant, 1, paced)
            self._log_port(train, i, crossed, None if not stall else record[:, 0])
        self._delivered(train, delivery, marker_start, record.tolist() if self.record_packets else None, stall)
        return delivery + 1

    def _delivered(self, train: _Train, delivery: int, marker_start: int, packets, buffer_stall: int = 0) -> None:
        o = self.offset
        if not self.noc_log.enabled and packets is None:
            # an untraced sample keeps no per-train timings (nothing reads them): only the marker counts
            self._marker_done(self.top.marker_targets[(train.key[1], train.dest)], train.t,
                              marker_start + 1 + self.P_int, train.key)
            return
        if packets is not None:
            packets = tuple((u + o, start + o) for u, start in packets)
        grants = tuple(g + o for g in train.grants)
        eligibles = tuple(e + o for e in train.eligibles)
        self.trains[train.key] = TrainTiming(grants, delivery + o, marker_start + o, packets, eligibles,
                                             train.n_packets, int(buffer_stall))
        # The marker's targets may fire from ``done`` on. That cycle is known now (the port and
        # the integrate unit serve in a fixed order), so their readiness records it at once and
        # their soma decides at that cycle at the earliest: no event of its own per train.
        done = marker_start + 1 + self.P_int
        self._marker_done(self.top.marker_targets[(train.key[1], train.dest)], train.t, done, train.key)

    # ------------------------------------------------- finite router buffers (§10.3)
    def _grant_flits(self, train: _Train, grant: int, eligible: int) -> None:
        self._waited(train, train.links[len(train.grants)], grant, eligible)

    def _move_packet(self, train: _Train, i: int, k: int, x: int, stall: int) -> None:
        """Packet ``k`` crossed link ``i`` of its path at ``x``."""
        o = self.offset
        if i > 0:  # it left the input port of link i's router, whose slot the link before gets back
            self.noc_log.held(train.ports[i], 0, 0, x + o, 1)
            train.links[i - 1].credit(x + train.links[i - 1].forward_latency)
        lat = train.links[i].forward_latency
        self.noc_log.held(train.ports[i + 1], x + lat + o, 1, 0, 0)
        train.ready[i + 1].append(x + lat + self.R)
        nxt = train.links[i + 1]
        if k == 0:
            nxt.offer(train, train.order_key, x + lat + self.R, train.ports[i + 1][1])
        else:
            nxt.packet_ready(train)

    def _eject_packet(self, train: _Train, k: int, earliest: int) -> int:
        """Packet ``k`` of the port's train enters the spike buffer (§10.3): returns ``u_k``."""
        cu = self.cores[train.dest]
        table = self.plan.cost_tables[(train.source_pop, train.dest, self.p)]
        t = train.t
        if k == 0:
            noc.count_train(train.spikes, table.stats, table.target_pops, table.target_actions,
                            self.counts[train.dest], t, _COUNT_COLUMNS)
        row = np.empty((1, 2), np.int64)
        u, start, stall, busy = noc.eject_train(earliest, train.spikes[k:k + 1], table.cost, k == len(train.spikes),
                                                cu.ring, cu.integrate_state, row)
        cycles = self.unit_cycles[train.dest, train.source_pop, t]
        cycles[_EJECTION_STALL] += stall
        cycles[_INTEGRATE_BUSY] += busy
        train.record.append((int(u), int(start)))
        train.stall += int(stall)
        i = len(train.grants) - 1
        self.noc_log.held(train.ports[i], 0, 0, int(u) + self.offset, 1)
        train.links[i - 1].credit(int(u) + train.links[i - 1].forward_latency)
        if k == train.n_packets - 1:
            self._delivered(train, int(u), int(start), train.record if self.record_packets else None, train.stall)
        return int(u)

    def _marker_done(self, edges, t, cycle, train_key) -> None:
        # A train of t completes its targets' timestep t + delay, for every edge (§5b).
        for sid, delay in edges:
            if t + delay < self.T:
                self._satisfy(sid, t + delay, cycle, ("train", train_key))

    def _satisfy(self, sid: int, t: int, cycle: int, cause) -> None:
        cu = self.cores[self.plan.slices[sid].core]
        if cu.readiness[sid].satisfy(t, cycle, cause):
            cu.schedule_decision(max(self.env.now, cu.readiness[sid].ready))

    # ----------------------------------------------------------------- fire
    def _start_fire(self, sid: int, now: int) -> int:
        plan = self.plan
        sl = plan.slices[sid]
        cu = self.cores[sl.core]
        r = cu.readiness[sid]
        t = r.next_t
        end = now + sl.fire_cycles
        # What this start waited for, the critical path's step back (docs/timing-model.md §11).
        busy = now > r.ready_at[t] and cu.last_fire is not None
        self.noc_log.fire_waits[(sid, t)] = ("soma", cu.last_fire) if busy else r.cause[t]
        cu.last_fire = (sid, t)
        r.advance()
        if t + 1 < self.T:
            r.satisfy(t + 1, end, ("own",))  # its own fire of t
        fired = self._compute(sl, t)
        call_at(self.env, end, lambda: self._end_fire(sid, t, fired), NORMAL)
        self.fires[(sid, t)] = (now + self.offset, end + self.offset)
        self.end = max(self.end, end)
        # credits (§5b): a source may send its timestep t + K - e_max once this slice has consumed t
        # (t + 1 without delays); credits travel on a side band, hops * (R + L) cycles.
        for src in dict.fromkeys(src for src, _ in self.top.sources[sid]):
            if src == HOST_SOURCE or plan.slices[src].pass_index < self.p:
                continue
            granted = t + self.top.credit_lag[(src, sid)]
            if granted < self.T:
                lat = self._credit_cycles(sl.core, plan.slices[src].core)
                self._satisfy(src, granted, end + lat, ("credit", sid, t))
        if sid in self.top.host_lag:
            granted = t + self.top.host_lag[sid]
            if granted < self.T:
                lat = self._credit_cycles(sl.core, plan.io_core)
                if self.host.satisfy(granted, end + lat, ("credit", sid, t)):
                    self._host_ready_check()
        self.unit_cycles[sl.core, sl.pop, t, Unit.SOMA_BUSY] += sl.fire_cycles
        return sl.fire_cycles

    def _end_fire(self, sid: int, t: int, fired: np.ndarray) -> None:
        sl = self.plan.slices[sid]
        if self.fast is not None:
            if sl.dest_cores:
                self._launch_compiled(sid, t, fired)
        else:
            for core in sl.dest_cores:
                self._launch(sid, sl.pop, t, core, fired, sl.core, self.order.fire_level[(sid, t)])
        self.cores[sl.core].schedule_decision(self.env.now)
        if self.on_fire is not None:
            self.on_fire()

    def _fire_counts(self, sl) -> np.ndarray:
        """What every fire of the slice counts, spikes and saturations aside (docs/timing-model.md §5)."""
        counts = self._fire_count_memo.get(sl.index)
        if counts is None:
            pop = self.plan.workload.populations[sl.pop]
            ms = self.plan.mapping.slices[sl.index]
            n = sl.n_neurons
            counts = np.zeros(len(Action), np.int64)
            counts[Action.MEMBRANE_SRAM_READ] = counts[Action.MEMBRANE_SRAM_WRITE] = ms.membrane_words
            counts[Action.ACC_SRAM_READ] = counts[Action.ACC_SRAM_WRITE] = ms.acc_slot_words
            counts[Action.NEURON_UPDATE] = n
            counts[Action.SCALE_MULT] = n * len(sl.incoming)
            if pop.is_spiking:
                counts[Action.COMPARE] = n
            for action, per_neuron in pop.neuron.counts:  # the dialect's own actions (a current's update...)
                counts[Action[action.upper()]] += per_neuron * n
            self._fire_count_memo[sl.index] = counts
        return counts

    def _compute(self, sl, t: int) -> np.ndarray:
        """The slice's integer update at t (kernels), with its counters; returns the population
        indices of the neurons that fired (the packets of its trains)."""
        plan, state, wl = self.plan, self.state, self.plan.workload
        pop = wl.populations[sl.pop]
        n = sl.n_neurons
        acc = np.empty((len(sl.incoming), n), np.int64)
        for k, inc in enumerate(sl.incoming):
            proj = wl.projections[inc.projection]
            src = wl.populations[inc.source_pop]
            ts = t - proj.delay  # the source timestep this slot of t holds (§5b)
            if ts < 0:
                acc[k] = 0
                continue
            if src.kind == "input" and state.input_repeats[inc.source_pop][ts] and (sl.index, k) in state.input_sums:
                acc[k] = state.input_sums[(sl.index, k)]
                continue
            values = state.values[inc.source_pop][ts]
            weights = plan.packed_weights.get(inc.projection)
            if weights is None:
                weights = plan.int_weights.get(inc.projection)
            if inc.form == "conv_events" and (src.kind == "input" or
                                              state.fired[inc.source_pop, ts] == state.n_slices[inc.source_pop]):
                # One exact product for every slice of the target, once its source is complete.
                key = ("conv", inc.projection, ts)
                if key not in state.pack_cache:
                    state.pack_cache[key] = phase.conv_all_channels(values.reshape(src.shape), weights, proj.stride,
                                                                    proj.padding, pop.shape[1:])
                full = state.pack_cache[key]
                if full is not None:
                    acc[k] = full[sl.neuron_start:sl.neuron_stop]
                    if src.kind == "input":
                        state.input_sums[(sl.index, k)] = acc[k]
                    continue
            packed = None
            if inc.form in ("conv_popcount", "linear_popcount"):
                # The packed source is shared by the population's target slices once every
                # source slice has fired t; before that, each slice packs what it can see.
                complete = src.kind == "input" or state.fired[inc.source_pop, ts] == state.n_slices[inc.source_pop]
                key = (inc.source_pop, ts, inc.form, proj.padding)
                packed = state.pack_cache.get(key) if complete else None
                if packed is None:
                    packed = (synapse.pack_spike_planes(values.reshape(src.shape), proj.padding[0], proj.padding[1])
                              if inc.form == "conv_popcount" else synapse.pack_spike_vector(values))
                    if complete:
                        state.pack_cache[key] = packed
            phase.projection_sums(
                inc.form, values, src.shape, pop.shape, weights, proj.kernel, proj.stride, proj.padding,
                proj.global_sum_pool, sl.channel_start, sl.channel_stop, sl.neuron_start, sl.neuron_stop,
                out=acc[k], packed_source=packed,
            )
            if src.kind == "input":
                state.input_sums[(sl.index, k)] = acc[k]
        acc_lo = np.array([inc.acc_lo for inc in sl.incoming], np.int64)
        acc_hi = np.array([inc.acc_hi for inc in sl.incoming], np.int64)
        neuron_state = {k: v[sl.neuron_start:sl.neuron_stop] for k, v in state.neuron_state[sl.pop].items()}
        spikes, sats, fired = pop.neuron.fire(acc, acc_lo, acc_hi, sl.mult, sl.shift, neuron_state, sl.params,
                                              sl.plane, sl.first, pop, sl.neuron_start)
        if pop.is_spiking:
            state.values[sl.pop][t, sl.neuron_start:sl.neuron_stop] = spikes
        state.fired[sl.pop, t] += 1
        c, p = sl.core, sl.pop
        row = self.counts[c, p, t]
        row += self._fire_counts(sl)
        if pop.is_spiking:
            row[_SPIKE] += len(fired)
        for k, inc in enumerate(sl.incoming):
            if sats[k]:
                self._count(c, p, t, Action.ACCUMULATOR_SATURATION, sats[k])
                state.saturations[wl.projections[inc.projection].name][t] += int(sats[k])
        return fired


def _spike_record(values: np.ndarray, fire_bits: bool) -> np.ndarray:
    """A population's spikes as the result keeps them: bool for bits, int64 for counts. The fire
    kernels store bits as 0/1 uint8, which a bool view reads without a copy (tens of MB on ImageNet)."""
    if fire_bits and values.dtype == np.uint8:
        return values.view(bool)
    return values.astype(bool) if fire_bits else values.astype(np.int64)


def simulate_sample(plan: Plan, sample: int, topologies: list | None = None,
                    record_packets: bool = False, progress=None, noc_figures: bool = True) -> SampleResult:
    """Run one sample (all passes) and collect its result.

    ``topologies`` (one :class:`PassTopology` per pass) are sample-independent; pass them to
    compute them once for many samples. ``record_packets`` keeps every packet's ejection and
    integrate start in each :class:`TrainTiming` (small runs: F pairs per train).
    ``progress(fires_done, fires_total)``, when given, is called after every fire (a slice's
    timestep), so a long sample can show where it is. ``noc_figures`` keeps the per-link waits
    and stalls, the router buffer peaks (docs/timing-model.md §11) and every train's timing;
    without it (and without ``record_packets``) those are empty: they cost a run about a third
    of a sample's time, so a long run keeps them for the samples it traces.
    """
    on_fire = None
    if progress is not None:
        fires_total = len(plan.slices) * plan.workload.timesteps
        done = [0]

        def on_fire():
            done[0] += 1
            progress(done[0], fires_total)
    if topologies is None:
        topologies = [pass_topology(plan, p) for p in range(plan.mapping.n_passes)]
    wl, arch, mapping = plan.workload, plan.arch, plan.mapping
    T = wl.timesteps
    n_pops = len(wl.populations)
    counts = np.zeros((plan.n_cores + 1, n_pops, T, len(Action)), np.int64)
    unit_cycles = np.zeros((plan.n_cores + 1, n_pops, T, len(Unit)), np.int64)
    fires: dict = {}
    trains: dict = {}
    noc_log = NocLog(plan.n_cores, noc_figures)
    link_flits: dict = {}
    state = _SampleState(plan, sample)
    host = plan.n_cores
    offset = 0
    starts = []
    end = 0
    for p in range(mapping.n_passes):
        if mapping.n_passes > 1:
            bits = offchip.pass_weight_bits(mapping.slices, p, arch)
            if p > 0:
                boundary = offchip.pass_boundary_bits(plan.slices, p - 1, T)
                offset = end + offchip.transfer_cycles(boundary, arch)
                for s in plan.slices:
                    if s.pass_index == p - 1 and s.has_later_pass_dests:
                        for t in range(T):
                            counts[host, s.pop, t, Action.OFFCHIP_BIT] += s.n_neurons
            offset += offchip.transfer_cycles(bits, arch)
            for s in mapping.slices:
                if s.pass_index == p:
                    pop_i = next(i for i, q in enumerate(wl.populations) if q.name == s.population)
                    counts[host, pop_i, 0, Action.OFFCHIP_BIT] += s.weight_words * arch.core.weight_sram.word_bits
                    counts[s.core, pop_i, 0, Action.WEIGHT_SRAM_WRITE] += s.weight_words
        starts.append(offset)
        run = _PassRun(plan, state, p, offset, counts, unit_cycles, fires, trains, noc_log, link_flits,
                       topologies[p], record_packets, on_fire)
        end = int(offset + run.run())  # a plain int with or without the JIT
    out_i = next(i for i, q in enumerate(wl.populations) if q is wl.readout_population)
    readout = state.membranes[out_i].copy()
    spikes = {p.name: _spike_record(state.values[i], p.spike_max == 1).reshape((T,) + p.shape)
              for i, p in enumerate(wl.populations) if p.is_spiking}
    membranes = {wl.populations[i].name: m.reshape(wl.populations[i].shape) for i, m in state.membranes.items()}
    counters = Counters(actions=counts, unit_cycles=unit_cycles, latency_cycles=end,
                        population_names=tuple(p.name for p in wl.populations))
    label = None if wl.labels is None else int(wl.labels[sample])
    return SampleResult(
        sample=sample, label=label, readout=readout, predicted=int(np.argmax(readout)), latency_cycles=end,
        latency_us=end / arch.chip.clock_mhz, counters=counters, spikes=spikes, membranes=membranes,
        fires=fires, trains=trains,
        pass_starts=tuple(starts), noc_buffer_peak_flits=noc_log.buffer_peaks(),
        link_flits=dict(sorted(link_flits.items())),
        saturations=state.saturations,
        link_wait_cycles=noc_log.wait_cycles, link_stall_cycles=noc_log.stall_cycles,
        fire_waits=noc_log.fire_waits,
    )


def simulate(workload: Workload, arch: ArchSpec, mapping: Mapping, samples=None, progress=None,
             arch_file: str = "", record_packets: bool = False) -> RunResult:
    """Simulate ``samples`` (indices; default all) of ``workload`` on ``arch`` as ``mapping`` places it.

    ``progress(done, total)`` is called after each sample when given. ``record_packets`` keeps
    every packet's ejection and integrate-start cycle (docs/timing-model.md §9; small runs).
    """
    plan = build_plan(workload, arch, mapping, arch_file)
    indices = list(range(workload.n_samples)) if samples is None else list(samples)
    topologies = [pass_topology(plan, p) for p in range(mapping.n_passes)]
    results = []
    for k, i in enumerate(indices):
        results.append(simulate_sample(plan, i, topologies, record_packets))
        if progress is not None:
            progress(k + 1, len(indices))
    return RunResult(workload=workload, arch=arch, mapping=mapping, samples=tuple(results))
