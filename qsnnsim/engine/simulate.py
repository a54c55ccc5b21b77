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
from qsnnsim.engine.build import HOST_SOURCE, Plan, build_plan
from qsnnsim.engine.core import CoreUnit, Readiness
from qsnnsim.engine.router import DECIDE, NORMAL, PORT_HOST, PORT_LOCAL, LinkUnit, call_at, xy_hops
from qsnnsim.kernels import noc, phase, synapse
from qsnnsim.mapping import Mapping
from qsnnsim.workload import Workload

_NEVER = 1 << 40


@dataclass(frozen=True)
class TrainTiming:
    """When one train was served (docs/timing-model.md §9)."""

    grants: tuple
    delivery: int
    marker_start: int


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
    spikes: dict                 # population name -> bool (T, *shape), lif populations
    membranes: dict              # population name -> int64 final membranes (shape), lif and readout
    fires: dict                  # (slice, t) -> (start, end)
    trains: dict                 # (pass, source, t, dest core) -> TrainTiming
    pass_starts: tuple
    noc_wait_peak_packets: tuple  # per router
    link_flits: dict             # (router core, next router core) -> flits carried; (c, c) is c's ejection port
    saturations: dict = field(default_factory=dict)  # projection name -> int64 (T,)

    @property
    def soma_busy_cycles(self) -> tuple:
        return tuple(int(x) for x in self.counters.unit_cycles[:-1, Unit.SOMA_BUSY])

    @property
    def integrate_busy_cycles(self) -> tuple:
        return tuple(int(x) for x in self.counters.unit_cycles[:-1, Unit.INTEGRATE_BUSY])

    @property
    def ejection_stall_cycles(self) -> tuple:
        return tuple(int(x) for x in self.counters.unit_cycles[:-1, Unit.EJECTION_STALL])


@dataclass(frozen=True, eq=False)
class RunResult:
    """All samples of a run, with what they ran on."""

    workload: Workload
    arch: ArchSpec
    mapping: Mapping
    samples: tuple


class _Train:
    __slots__ = ("key", "source_pop", "t", "dest", "spikes", "n_packets", "links", "ranks", "grants")

    def __init__(self, key, source_pop, t, dest, spikes, links, ranks):
        self.key = key
        self.source_pop = source_pop
        self.t = t
        self.dest = dest
        self.spikes = spikes
        self.n_packets = len(spikes) + 1
        self.links = links
        self.ranks = ranks
        self.grants = []


class _SampleState:
    """The functional state of one sample (spikes, membranes), shared by all passes."""

    def __init__(self, plan: Plan, sample: int):
        wl = plan.workload
        self.T = wl.timesteps
        self.values = {}
        for i, pop in enumerate(wl.populations):
            if pop.kind == "input":
                self.values[i] = np.ascontiguousarray(wl.sample_input(sample).reshape(self.T, -1))
            elif pop.kind == "lif":
                self.values[i] = np.zeros((self.T, pop.n_neurons), np.uint8)
        self.membranes = {s.index: np.zeros(s.n_neurons, np.int64) for s in plan.slices}
        self.fired = np.zeros((len(wl.populations), self.T), np.int64)
        self.n_slices = np.zeros(len(wl.populations), np.int64)
        for s in plan.slices:
            self.n_slices[s.pop] += 1
        self.pack_cache: dict = {}
        self.saturations = {p.name: np.zeros(self.T, np.int64) for p in wl.projections}


class _PassRun:
    """One pass of one sample: the simpy environment and its units."""

    def __init__(self, plan: Plan, state: _SampleState, pass_index: int, offset: int, counts: np.ndarray,
                 unit_cycles: np.ndarray, fires: dict, trains: dict, wait_log: list, link_flits: dict):
        self.plan = plan
        self.state = state
        self.p = pass_index
        self.offset = offset
        self.counts = counts
        self.unit_cycles = unit_cycles
        self.fires = fires
        self.trains = trains
        self.wait_log = wait_log
        self.link_flits = link_flits
        arch = plan.arch
        self.R = arch.noc.router_latency_cycles
        self.L = arch.noc.link_latency_cycles
        self.P_int = arch.core.integrate_pipeline_cycles
        self.cols = plan.mapping.mesh_cols
        self.env = simpy.Environment()
        self.T = state.T
        self.end = 0
        mapping = plan.mapping
        self.here = [s for s in plan.slices if s.pass_index == pass_index]
        here_ids = {s.index for s in self.here}
        # sources per slice in this pass: same-pass slices, host input, host boundary trains
        self.sources: dict[int, list[int]] = {s.index: [] for s in self.here}
        for s in plan.slices:
            for d in mapping.destinations[s.index]:
                if d in here_ids and (s.pass_index == pass_index or s.pass_index < pass_index):
                    self.sources[d].append(s.index)
        for d in mapping.input_destinations:
            if d in here_ids:
                self.sources[d].append(HOST_SOURCE)
        self.same_pass_dests = {s.index: [d for d in mapping.destinations[s.index] if d in here_ids]
                                for s in self.here}
        self.host_sources = []  # (source key, source slice or None) re-injected by the host
        if any(d in here_ids for d in mapping.input_destinations):
            self.host_sources.append(HOST_SOURCE)
        for s in plan.slices:
            if s.pass_index < pass_index and any(d in here_ids for d in mapping.destinations[s.index]):
                self.host_sources.append(s.index)
        self.host_dests = sorted({d for src in self.host_sources for d in self._dests_of(src)})
        # units
        self.cores: dict[int, CoreUnit] = {}
        for s in self.here:
            if s.core not in self.cores:
                self.cores[s.core] = CoreUnit(self.env, s.core, [], arch.core.spike_buffer_packets, self._start_fire)
            self.cores[s.core].slice_ids.append(s.index)
        for cu in self.cores.values():
            cu.slice_ids.sort()
            for sid in cu.slice_ids:
                cu.readiness[sid] = Readiness(len(self.sources[sid]))
        self.inject = {c: LinkUnit(self.env, c, self._grant_hop) for c in self.cores}
        self.host_inject = LinkUnit(self.env, plan.io_core, self._grant_hop)
        self.mesh: dict[tuple[int, int], LinkUnit] = {}
        self.eject: dict[int, LinkUnit] = {}
        self.inject_seq: dict[int, int] = {}
        self.host = Readiness(0)
        self.host_train_slices: dict[tuple, list[int]] = {}

    # ----------------------------------------------------------------- helpers
    def _dests_of(self, source: int) -> list[int]:
        here = {s.index for s in self.here}
        if source == HOST_SOURCE:
            return [d for d in self.plan.mapping.input_destinations if d in here]
        return [d for d in self.plan.mapping.destinations[source] if d in here]

    def _mesh_link(self, router: int, nxt: int) -> LinkUnit:
        key = (router, nxt)
        if key not in self.mesh:
            self.mesh[key] = LinkUnit(self.env, router, self._grant_hop)
        return self.mesh[key]

    def _eject_link(self, core: int) -> LinkUnit:
        if core not in self.eject:
            self.eject[core] = LinkUnit(self.env, core, self._grant_eject)
        return self.eject[core]

    def _count(self, core: int, pop: int, t: int, action: Action, n) -> None:
        self.counts[core, pop, t, int(action)] += int(n)

    # ----------------------------------------------------------------- run
    def run(self) -> int:
        for core in sorted(self.cores):
            cu = self.cores[core]
            for sid in cu.slice_ids:
                if cu.readiness[sid].missing == 0:
                    cu.schedule_decision(0)
        self._host_ready_check()
        self.env.run()
        for cu in self.cores.values():
            for sid in cu.slice_ids:
                if cu.readiness[sid].next_t < self.T:
                    raise RuntimeError(f"deadlock: slice {sid} stopped before timestep {cu.readiness[sid].next_t}")
        return self.end

    # ----------------------------------------------------------------- host
    def _host_ready_check(self) -> None:
        if not self.host_sources or self.host.next_t >= self.T:
            return
        if self.host.missing == 0:
            call_at(self.env, max(self.env.now, self.host.ready), self._host_emit, DECIDE)

    def _host_emit(self) -> None:
        t = self.host.next_t
        now = self.env.now
        io = self.plan.io_core
        n_dest_slices = len(self.host_dests)
        if t + 1 < self.T:
            self.host.reset(t + 1, 1 + n_dest_slices)
            self.host.satisfy(t + 1, now)
        else:
            self.host.reset(self.T, _NEVER)
        for src in self.host_sources:
            spikes, pop = self._source_spikes(src, t)
            dests = self._dests_of(src)
            for core in sorted({self.plan.slices[d].core for d in dests}):
                self._launch(src, pop, t, core, spikes, io, self.host_inject, PORT_HOST, n_cores_row=True)
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
    def _launch(self, src, pop, t, dest_core, spikes, src_core, inject_link, first_rank, n_cores_row=False):
        links = [inject_link]
        ranks = [self.inject_seq.setdefault(id(inject_link), 0)]
        self.inject_seq[id(inject_link)] += 1
        hops = xy_hops(src_core, dest_core, self.cols)
        rank_in = first_rank
        for router, nxt, rank_next in hops:
            self.link_flits[(router, nxt)] = self.link_flits.get((router, nxt), 0) + len(spikes) + 1
            links.append(self._mesh_link(router, nxt))
            ranks.append(rank_in)
            rank_in = rank_next
        links.append(self._eject_link(dest_core))
        ranks.append(rank_in)
        self.link_flits[(dest_core, dest_core)] = self.link_flits.get((dest_core, dest_core), 0) + len(spikes) + 1
        train = _Train((self.p, src, t, dest_core), pop, t, dest_core, spikes, links, ranks)
        f = train.n_packets
        counter_core = self.plan.n_cores if n_cores_row else src_core
        self._count(counter_core, pop, t, Action.PACKET, f)
        self._count(counter_core, pop, t, Action.FLIT_HOP, f * (len(hops) + 1))
        self._count(dest_core, pop, t, Action.SPIKE_BUFFER_ACCESS, 2 * f)
        inject_link.offer(train, ranks[0])

    def _grant_hop(self, train: _Train, grant: int, eligible: int) -> int:
        i = len(train.grants)
        train.grants.append(grant)
        link = train.links[i]
        if grant > eligible:
            self.unit_cycles[link.router_core, Unit.LINK_WAIT] += grant - eligible
            self.wait_log.append((link.router_core, eligible + self.offset, grant + self.offset, train.n_packets))
        delay = (1 + self.R) if i == 0 else (self.L + self.R)
        train.links[i + 1].offer(train, train.ranks[i + 1], grant + delay)
        return grant + train.n_packets

    def _grant_eject(self, train: _Train, grant: int, eligible: int) -> int:
        train.grants.append(grant)
        if grant > eligible:
            self.unit_cycles[train.dest, Unit.LINK_WAIT] += grant - eligible
            self.wait_log.append((train.dest, eligible + self.offset, grant + self.offset, train.n_packets))
        table = self.plan.cost_tables[(train.source_pop, train.dest, self.p)]
        cu = self.cores[train.dest]
        delivery, marker_start, stall, busy = noc.eject_spike_train(
            grant, train.spikes, table.cost, cu.ring, cu.integrate_state)
        self.unit_cycles[train.dest, Unit.EJECTION_STALL] += stall
        self.unit_cycles[train.dest, Unit.INTEGRATE_BUSY] += busy
        t = train.t
        sums = np.empty(3, np.int64)
        for (_slice_id, pop, action), counts in zip(table.targets, table.stats):
            noc.sum_over_spikes(counts, train.spikes, sums)
            n_words, n_upd, n_acc = sums.tolist()
            self._count(train.dest, pop, t, Action.WEIGHT_SRAM_READ, n_words)
            self._count(train.dest, pop, t, Action.ACC_SRAM_READ, n_acc)
            self._count(train.dest, pop, t, Action.ACC_SRAM_WRITE, n_acc)
            self._count(train.dest, pop, t, Action(action), n_upd)
        o = self.offset
        self.trains[train.key] = TrainTiming(tuple(g + o for g in train.grants), delivery + o, marker_start + o)
        done = marker_start + 1 + self.P_int
        src = train.key[1]
        targets = [d for d in self._dests_of(src) if self.plan.slices[d].core == train.dest]
        call_at(self.env, done, lambda: self._marker_done(targets, t, done), NORMAL)
        return delivery + 1

    def _marker_done(self, slice_ids, t, cycle) -> None:
        for sid in slice_ids:
            self._satisfy(sid, t, cycle)

    def _satisfy(self, sid: int, t: int, cycle: int) -> None:
        cu = self.cores[self.plan.slices[sid].core]
        if cu.readiness[sid].satisfy(t, cycle):
            cu.schedule_decision(max(self.env.now, cu.readiness[sid].ready))

    # ----------------------------------------------------------------- fire
    def _start_fire(self, sid: int, now: int) -> int:
        plan = self.plan
        sl = plan.slices[sid]
        cu = self.cores[sl.core]
        r = cu.readiness[sid]
        t = r.next_t
        end = now + sl.fire_cycles
        n_dests = len(self.same_pass_dests[sid])
        if t + 1 < self.T:
            r.reset(t + 1, len(self.sources[sid]) + 1 + n_dests)
            r.satisfy(t + 1, end)
        else:
            r.reset(self.T, _NEVER)
        spikes = self._compute(sl, t)
        call_at(self.env, end, lambda: self._end_fire(sid, t, spikes), NORMAL)
        self.fires[(sid, t)] = (now + self.offset, end + self.offset)
        self.end = max(self.end, end)
        # credits: a source may send t + 1 once this slice has consumed t
        if t + 1 < self.T:
            for src in self.sources[sid]:
                if src == HOST_SOURCE or plan.slices[src].pass_index < self.p:
                    continue
                lat = plan.hops(plan.slices[src].core, sl.core) * (self.R + self.L)
                self._satisfy(src, t + 1, end + lat)
            if sid in self.host_dests:
                lat = plan.hops(sl.core, plan.io_core) * (self.R + self.L)
                if self.host.satisfy(t + 1, end + lat):
                    self._host_ready_check()
        self.unit_cycles[sl.core, Unit.SOMA_BUSY] += sl.fire_cycles
        return sl.fire_cycles

    def _end_fire(self, sid: int, t: int, spikes: np.ndarray) -> None:
        sl = self.plan.slices[sid]
        idx = np.flatnonzero(spikes) + sl.neuron_start
        for core in sl.dest_cores:
            self._launch(sid, sl.pop, t, core, idx, sl.core, self.inject[sl.core], PORT_LOCAL)
        self.cores[sl.core].schedule_decision(self.env.now)

    def _compute(self, sl, t: int) -> np.ndarray:
        """The slice's integer update at t (kernels), with its counters; returns its spikes."""
        plan, state, wl = self.plan, self.state, self.plan.workload
        pop = wl.populations[sl.pop]
        n = sl.n_neurons
        acc = np.empty((len(sl.incoming), n), np.int64)
        for k, inc in enumerate(sl.incoming):
            proj = wl.projections[inc.projection]
            src = wl.populations[inc.source_pop]
            values = state.values[inc.source_pop][t]
            weights = plan.packed_weights.get(inc.projection)
            if weights is None:
                weights = plan.int_weights.get(inc.projection)
            packed = None
            if inc.form in ("conv_popcount", "linear_popcount"):
                # The packed source is shared by the population's target slices once every
                # source slice has fired t; before that, each slice packs what it can see.
                complete = src.kind == "input" or state.fired[inc.source_pop, t] == state.n_slices[inc.source_pop]
                key = (inc.source_pop, t, inc.form, proj.padding)
                packed = state.pack_cache.get(key) if complete else None
                if packed is None:
                    packed = (synapse.pack_spike_planes(values.reshape(src.shape), proj.padding[0], proj.padding[1])
                              if inc.form == "conv_popcount" else synapse.pack_spike_vector(values))
                    if complete:
                        state.pack_cache[key] = packed
            acc[k] = phase.projection_sums(
                inc.form, values, src.shape, pop.shape, weights, proj.kernel, proj.stride, proj.padding,
                proj.global_sum_pool, sl.channel_start, sl.channel_stop, sl.neuron_start, sl.neuron_stop,
                packed_source=packed,
            )
        acc_lo = np.array([inc.acc_lo for inc in sl.incoming], np.int64)
        acc_hi = np.array([inc.acc_hi for inc in sl.incoming], np.int64)
        spikes, sats = phase.fire_slice(acc, acc_lo, acc_hi, sl.mult, sl.shift, state.membranes[sl.index],
                                        sl.threshold, sl.bias, sl.plane, sl.first, pop)
        if pop.kind == "lif":
            state.values[sl.pop][t, sl.neuron_start:sl.neuron_stop] = spikes
        state.fired[sl.pop, t] += 1
        ms = plan.mapping.slices[sl.index]
        c, p = sl.core, sl.pop
        self._count(c, p, t, Action.MEMBRANE_SRAM_READ, ms.membrane_words)
        self._count(c, p, t, Action.MEMBRANE_SRAM_WRITE, ms.membrane_words)
        self._count(c, p, t, Action.ACC_SRAM_READ, ms.acc_words)
        self._count(c, p, t, Action.ACC_SRAM_WRITE, ms.acc_words)
        self._count(c, p, t, Action.NEURON_UPDATE, n)
        self._count(c, p, t, Action.SCALE_MULT, n * len(sl.incoming))
        if pop.kind == "lif":
            self._count(c, p, t, Action.COMPARE, n)
            self._count(c, p, t, Action.SPIKE, int(spikes.sum()))
        for k, inc in enumerate(sl.incoming):
            if sats[k]:
                self._count(c, p, t, Action.ACCUMULATOR_SATURATION, sats[k])
                state.saturations[wl.projections[inc.projection].name][t] += int(sats[k])
        return spikes


def _peak_waiting(wait_log: list, n_routers: int) -> tuple:
    """Peak packets of trains waiting at each router (eligible, not yet granted)."""
    peaks = [0] * n_routers
    events: dict[int, list] = {}
    for router, e, g, f in wait_log:
        events.setdefault(router, []).extend([(e, f), (g, -f)])
    for router, evs in events.items():
        level = 0
        for _, delta in sorted(evs, key=lambda x: (x[0], x[1])):
            level += delta
            peaks[router] = max(peaks[router], level)
    return tuple(peaks)


def simulate_sample(plan: Plan, sample: int) -> SampleResult:
    """Run one sample (all passes) and collect its result."""
    wl, arch, mapping = plan.workload, plan.arch, plan.mapping
    T = wl.timesteps
    n_pops = len(wl.populations)
    counts = np.zeros((plan.n_cores + 1, n_pops, T, len(Action)), np.int64)
    unit_cycles = np.zeros((plan.n_cores + 1, len(Unit)), np.int64)
    fires: dict = {}
    trains: dict = {}
    wait_log: list = []
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
        run = _PassRun(plan, state, p, offset, counts, unit_cycles, fires, trains, wait_log, link_flits)
        end = offset + run.run()
    out = wl.readout_population
    out_i = next(i for i, q in enumerate(wl.populations) if q is out)
    out_slices = sorted((s for s in plan.slices if s.pop == out_i), key=lambda s: s.neuron_start)
    readout = np.concatenate([state.membranes[s.index] for s in out_slices])
    spikes = {p.name: state.values[i].astype(bool).reshape((T,) + p.shape)
              for i, p in enumerate(wl.populations) if p.kind == "lif"}
    membranes = {}
    for i, pop in enumerate(wl.populations):
        if pop.kind != "input":
            parts = sorted((s for s in plan.slices if s.pop == i), key=lambda s: s.neuron_start)
            membranes[pop.name] = np.concatenate([state.membranes[s.index] for s in parts]).reshape(pop.shape)
    counters = Counters(actions=counts, unit_cycles=unit_cycles, latency_cycles=end,
                        population_names=tuple(p.name for p in wl.populations))
    label = None if wl.labels is None else int(wl.labels[sample])
    return SampleResult(
        sample=sample, label=label, readout=readout, predicted=int(np.argmax(readout)), latency_cycles=end,
        latency_us=end / arch.chip.clock_mhz, counters=counters, spikes=spikes, membranes=membranes,
        fires=fires, trains=trains,
        pass_starts=tuple(starts), noc_wait_peak_packets=_peak_waiting(wait_log, plan.n_cores),
        link_flits=dict(sorted(link_flits.items())),
        saturations=state.saturations,
    )


def simulate(workload: Workload, arch: ArchSpec, mapping: Mapping, samples=None, progress=None,
             arch_file: str = "") -> RunResult:
    """Simulate ``samples`` (indices; default all) of ``workload`` on ``arch`` as ``mapping`` places it.

    ``progress(done, total)`` is called after each sample when given.
    """
    plan = build_plan(workload, arch, mapping, arch_file)
    indices = list(range(workload.n_samples)) if samples is None else list(samples)
    results = []
    for k, i in enumerate(indices):
        results.append(simulate_sample(plan, i))
        if progress is not None:
            progress(k + 1, len(indices))
    return RunResult(workload=workload, arch=arch, mapping=mapping, samples=tuple(results))
