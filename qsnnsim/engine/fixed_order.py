"""The default NoC of one pass compiled: fixed-order links and unbounded buffers, in arrays.

docs/timing-model.md §2b-§4 and §12, the same rules :class:`~qsnnsim.engine.router.LinkUnit`
and ``_PassRun._grant_hop`` / ``_grant_eject`` apply one Python call per link grant. Under
the default options (``noc.arbitration: level_order``, ``noc.router_buffers: unbounded``) a
train's grant at a link is ``max(eligible, free)`` and is known as soon as every train before
it in the link's fixed sequence has been offered, so a train launched by a fire can be
carried as far as the order lets it, through every link and into the spike buffer, in one
compiled call: :func:`launch_trains`. The call returns the markers it delivered, whose
targets' readiness the pass then updates (still simpy's).

It serves samples that keep no per-train record (``simulate_sample(noc_figures=False)``,
the samples a long run does not trace); the Python units serve the others and every other
option. Both give the same cycles and counts (``tests/property/test_fixed_order_noc.py``).

The walk is the Python units' call stack made explicit: a link that grants a train offers it
to the next link, which grants what it can before the first link goes on; a link already
granting takes the offer into its own loop. So markers are delivered, and readiness updated,
in the same order as there.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from qsnnsim.counters import Action, Unit
from qsnnsim.engine.build import HOST_SOURCE, Plan, TablePools
from qsnnsim.engine.occupancy import link_name
from qsnnsim.engine.order import train_path
from qsnnsim.engine.pass_topology import PassTopology
from qsnnsim.engine.router import link_timing
from qsnnsim.kernels._jit import jit
from qsnnsim.kernels.noc import add_train_counts, eject_train, train_cost, train_sums
from qsnnsim.system import chip_link_packet_cycles
from qsnnsim.system import topology as system_topology

# route columns: one route per (source, destination core) of the pass
R_COUNTER_CORE, R_DEST, R_POP, R_PATH_START, R_N_LINKS, R_TABLE, R_HOPS, R_CHIP_LINKS, R_SUMS, N_ROUTE_COLS = range(10)
# link columns: static, then the link's state in a sample
L_ROUTER, L_FORWARD, L_PACE, L_SEQ_START, L_SEQ_LEN, L_NEXT, L_FREE, L_GRANTING, L_FLITS, N_LINK_COLS = range(10)
# table columns: offsets into the plan's TablePools and the target arrays, and sizes
T_COST_AT, T_N_SRC, T_STATS_AT, T_N_TARGETS, T_WIDE, T_TARGETS_AT, N_TABLE_COLS = range(7)
# train state columns (train id = route * T + t)
S_AT, S_ELIGIBLE, S_PACED, S_SPIKE_OFF, S_SPIKE_N, N_STATE_COLS = range(6)
# scalar parameters
# (P_SPIKE_FILL is a sample's own: how much of its spike pool is used)
(P_T, P_R, P_CHIP_PACE, P_INTEGRATE, P_FLIT_BITS, P_SPIKE_FILL, P_COUNT_WORDS, P_COUNT_ACC_READ,
 P_COUNT_ACC_WRITE, N_PARAMS) = range(10)
_NOT_OFFERED, _DONE, _NO_PACE = -1, -2, -1
_PACKET, _FLIT_HOP, _CHIP_LINK_BIT = int(Action.PACKET), int(Action.FLIT_HOP), int(Action.CHIP_LINK_BIT)
_SPIKE_BUFFER_ACCESS = int(Action.SPIKE_BUFFER_ACCESS)
_LINK_WAIT, _EJECTION_STALL, _INTEGRATE_BUSY = int(Unit.LINK_WAIT), int(Unit.EJECTION_STALL), int(Unit.INTEGRATE_BUSY)


@dataclass(frozen=True, eq=False)
class FixedOrderNet:
    """The trains, routes and links of one pass as arrays; sample-independent."""

    route_index: dict        # (source key, destination core) -> route
    source_routes: dict      # source key -> int64 routes of its trains, in launch order
    routes: np.ndarray       # int64 (n_routes, N_ROUTE_COLS): the R_* columns
    route_keys: tuple        # per route: (source key, destination core)
    marker_targets: tuple    # per route: the (slice, delay) pairs its markers complete
    paths: np.ndarray        # int64: each route's links, injection port first, ejection port last
    links: np.ndarray        # int64 (n_links, N_LINK_COLS): the L_* columns, state columns zero
    link_names: tuple        # per link: its name as engine/order.py spells it
    flit_keys: tuple         # per link: the link_flits key it is counted under, or None
    sequences: np.ndarray    # int64: each link's train ids in service order
    tables: np.ndarray       # int64 (n_tables, N_TABLE_COLS): the T_* columns, where each table lies in the pools
    pools: TablePools        # the plan's cost and stats arrays, end to end
    target_pops: np.ndarray  # int64: each table's targets' populations, end to end (T_TARGETS_AT) ...
    target_actions: np.ndarray  # ... and the actions their updates count under
    n_sum_groups: int        # routes whose trains have equal sums (R_SUMS): one stats table, one source
    max_targets: int         # most target slices of any table
    spike_capacity: int      # spike indices a sample's trains carry at most
    params: np.ndarray       # int64: the P_* values


_NETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fixed_order_net(plan: Plan, topology: PassTopology) -> FixedOrderNet:
    """The pass's net, built on first use and kept as long as ``topology`` lives."""
    net = _NETS.get(topology)
    if net is None or net.pools is not plan.table_pools:
        net = _NETS[topology] = _build(plan, topology)
    return net


def _build(plan: Plan, top: PassTopology) -> FixedOrderNet:
    arch, wl = plan.arch, plan.workload
    T = wl.timesteps
    topo = system_topology(arch)
    cols = plan.mapping.mesh_cols
    input_pop = next(i for i, p in enumerate(wl.populations) if p.kind == "input")
    p = top.here[0].pass_index if top.here else 0
    route_defs = []   # (source key, source core, dest, from host, source population)
    for s in top.here:
        route_defs += [(s.index, s.core, dest, False, s.pop) for dest in s.dest_cores]
    for src in top.host_sources:
        pop = input_pop if src == HOST_SOURCE else plan.slices[src].pop
        route_defs += [(src, plan.io_core, dest, True, pop) for dest in top.host_train_cores[src]]

    link_ids: dict = {}
    link_rows, names, flit_keys = [], [], []
    table_ids: dict = {}
    tables = []
    sum_groups: dict = {}
    routes = np.zeros((len(route_defs), N_ROUTE_COLS), np.int64)
    paths: list[int] = []
    chip_pace = chip_link_packet_cycles(arch)
    for r, (src, src_core, dest, from_host, pop) in enumerate(route_defs):
        route_names = train_path(src_core, dest, cols, from_host)
        routes[r, R_COUNTER_CORE] = plan.n_cores if from_host else src_core
        routes[r, R_DEST], routes[r, R_POP] = dest, pop
        routes[r, R_PATH_START], routes[r, R_N_LINKS] = len(paths), len(route_names)
        routes[r, R_HOPS] = len(route_names) - 1
        for name in route_names:
            if name not in link_ids:
                link_ids[name] = len(names)
                names.append(name)
                link_rows.append(link_timing(name, topo, arch, plan.io_core))
                # flits are counted per hop after the injection port: (router, next), (core, core) ejecting
                flit_keys.append(name[1:] if name[0] == "mesh" else (name[1], name[1]) if name[0] == "eject" else None)
            routes[r, R_CHIP_LINKS] += link_rows[link_ids[name]][3]
            paths.append(link_ids[name])
        table = plan.cost_tables[(pop, dest, p)]
        if id(table) not in table_ids:
            table_ids[id(table)] = len(tables)
            tables.append(table)
        routes[r, R_TABLE] = table_ids[id(table)]
        # Cores holding equal slices share one stats table: a source's train sums the same there.
        routes[r, R_SUMS] = sum_groups.setdefault((table.stats.dtype.str, table.stats_at, table.cost_at, src),
                                                  len(sum_groups))
    # every link's sequence, as train ids (a train key's level tells its timestep)
    route_index = {(d[0], d[2]): r for r, d in enumerate(route_defs)}
    level_t: dict = {}
    for (sid, t), level in top.order.fire_level.items():
        level_t[(level, sid)] = t
    for t, level in enumerate(top.order.host_level):
        for src in top.host_sources:
            level_t[(level, src)] = t
    links = np.zeros((len(names), N_LINK_COLS), np.int64)
    links[:, [L_ROUTER, L_FORWARD, L_PACE]] = np.array([row[:3] for row in link_rows], np.int64).reshape(-1, 3)
    sequences: list[int] = []
    for l, name in enumerate(names):
        keys = top.order.link_sequence[name]
        links[l, L_SEQ_START], links[l, L_SEQ_LEN] = len(sequences), len(keys)
        sequences += [route_index[(src, dest)] * T + level_t[(level, src)] for level, src, dest in keys]

    n_src = {}
    for src, *_ in route_defs:
        n_src[src] = wl.populations[input_pop].n_neurons if src == HOST_SOURCE else plan.slices[src].n_neurons
    params = np.zeros(N_PARAMS, np.int64)
    params[[P_T, P_R, P_CHIP_PACE, P_INTEGRATE, P_FLIT_BITS]] = (
        T, arch.noc.router_latency_cycles, chip_pace, arch.core.integrate_pipeline_cycles, arch.noc.flit_bits)
    params[[P_COUNT_WORDS, P_COUNT_ACC_READ, P_COUNT_ACC_WRITE]] = (
        Action.WEIGHT_SRAM_READ, Action.ACC_SRAM_READ, Action.ACC_SRAM_WRITE)
    return FixedOrderNet(
        route_index=route_index, routes=routes,
        source_routes={src: np.array([r for r, d in enumerate(route_defs) if d[0] == src], np.int64)
                       for src in dict.fromkeys(d[0] for d in route_defs)},
        route_keys=tuple((d[0], d[2]) for d in route_defs),
        marker_targets=tuple(top.marker_targets[(d[0], d[2])] for d in route_defs),
        paths=np.array(paths, np.int64), links=links, link_names=tuple(names), flit_keys=tuple(flit_keys),
        sequences=np.array(sequences, np.int64), pools=plan.table_pools, **_table_index(tables),
        n_sum_groups=len(sum_groups), max_targets=max((t.stats.shape[0] for t in tables), default=1),
        spike_capacity=sum(n * T for n in n_src.values()),
        params=params,
    )


def _table_index(tables: list) -> dict:
    """Where each table's arrays lie (the plan's pools), and its targets' arrays end to end."""
    index = np.zeros((len(tables), N_TABLE_COLS), np.int64)
    at = 0
    for i, table in enumerate(tables):
        n_targets, _, n_src = table.stats.shape
        index[i, [T_COST_AT, T_N_SRC, T_STATS_AT, T_N_TARGETS, T_WIDE, T_TARGETS_AT]] = (
            table.cost_at, n_src, table.stats_at, n_targets, table.stats.dtype == np.int32, at)
        at += n_targets
    pops = [t.target_pops for t in tables]
    actions = [t.target_actions for t in tables]
    return {"tables": index, "target_pops": np.concatenate(pops or [np.zeros(0)]).astype(np.int64),
            "target_actions": np.concatenate(actions or [np.zeros(0)]).astype(np.int64)}


class FixedOrderNoc:
    """One sample's pass over a :class:`FixedOrderNet`: the links' and trains' state, the
    spike buffers and integrate units of every core, and the spikes the trains carry."""

    def __init__(self, net: FixedOrderNet, n_cores: int, spike_buffer_packets: int, counts: np.ndarray,
                 unit_cycles: np.ndarray):
        self.net = net
        self.links = net.links.copy()
        self.trains = np.full((len(net.routes) * int(net.params[P_T]), N_STATE_COLS), _NOT_OFFERED, np.int64)
        self.spike_pool = np.empty(max(net.spike_capacity, 1), np.int32)
        self.params = net.params.copy()   # P_SPIKE_FILL: how much of the pool is used
        self.rings = np.zeros((n_cores, spike_buffer_packets), np.int64)
        self.integrate_state = np.zeros((n_cores, 2), np.int64)
        self.counts = counts
        self.unit_cycles = unit_cycles
        self.stack = np.empty(len(self.links) + 1, np.int64)
        self.delivered = np.empty((len(self.trains), 2), np.int64)
        # each sum group's train totals per timestep, computed by its first train there: per target
        # slice its words, updates and accumulator words, and the packets' integrate cycles
        T = int(net.params[P_T])
        self.sums = np.empty((net.n_sum_groups, T, net.max_targets, 3), np.int64)
        self.cost_totals = np.empty((net.n_sum_groups, T), np.int64)
        self.sums_done = np.zeros((net.n_sum_groups, T), np.bool_)

    def launch(self, routes: np.ndarray, t: int, now: int, spikes: np.ndarray) -> np.ndarray:
        """Launch at ``now`` the trains of timestep ``t`` on ``routes`` (in this order), all
        carrying ``spikes``; returns (train id, marker done cycle) of every train delivered."""
        net = self.net
        pools = net.pools
        n = launch_trains(routes, t, now, spikes, net.routes, net.paths, self.links, net.sequences, self.trains,
                          self.spike_pool, self.params, net.tables, pools.cost, pools.stats16, pools.stats32,
                          net.target_pops, net.target_actions, self.rings, self.integrate_state, self.counts,
                          self.unit_cycles, self.sums, self.cost_totals, self.sums_done, self.stack,
                          self.delivered)
        return self.delivered[:n]

    def add_link_flits(self, link_flits: dict) -> None:
        """Add the flits each link carried to ``link_flits`` (keys as the Python units count them)."""
        for key, flits in zip(self.net.flit_keys, self.links[:, L_FLITS].tolist()):
            if key is not None and flits:
                link_flits[key] = link_flits.get(key, 0) + flits

    def held_links(self) -> list:
        """Names of the links with trains offered that their order does not let through yet."""
        at = self.trains[:, S_AT]
        held = set()
        for tr in np.flatnonzero(at >= 0).tolist():
            r = tr // int(self.params[P_T])
            held.add(link_name(self.net.link_names[self.net.paths[self.net.routes[r, R_PATH_START] + at[tr]]]))
        return sorted(held)


# The compiled functions take every array as an argument, by hand: numba caches a function of
# plain arrays on disk, where typed containers or classes would be compiled again in every process.
@jit
def launch_trains(launch_routes, t, now, spikes, routes, paths, links, sequences, trains, spike_pool, params,
                  tables, costs, stats16, stats32, target_pops, target_actions, rings, integrate_state,
                  counts, unit_cycles, sums, cost_totals, sums_done, stack, delivered):
    """Launch one fire's (or the host's) trains of timestep ``t`` and carry them, and every
    train they unblock, as far as the links' fixed order allows; returns how many trains were
    delivered (rows of ``delivered``: train id, cycle its marker's targets may fire from)."""
    T = params[P_T]
    off = params[P_SPIKE_FILL]
    n = spikes.shape[0]
    for i in range(n):
        spike_pool[off + i] = spikes[i]
    params[P_SPIKE_FILL] = off + n
    f = n + 1
    n_delivered = 0
    for x in range(launch_routes.shape[0]):
        r = launch_routes[x]
        tr = r * T + t
        core, pop = routes[r, R_COUNTER_CORE], routes[r, R_POP]
        counts[core, pop, t, _PACKET] += f
        counts[core, pop, t, _FLIT_HOP] += f * routes[r, R_HOPS]
        if routes[r, R_CHIP_LINKS]:
            counts[core, pop, t, _CHIP_LINK_BIT] += f * params[P_FLIT_BITS] * routes[r, R_CHIP_LINKS]
        counts[routes[r, R_DEST], pop, t, _SPIKE_BUFFER_ACCESS] += 2 * f
        start = routes[r, R_PATH_START]
        for h in range(1, routes[r, R_N_LINKS]):
            links[paths[start + h], L_FLITS] += f
        trains[tr, S_SPIKE_OFF] = off
        trains[tr, S_SPIKE_N] = n
        trains[tr, S_PACED] = _NO_PACE
        n_delivered = _offer(tr, 0, now, routes, paths, links, sequences, trains, spike_pool, params, tables, costs,
                             stats16, stats32, target_pops, target_actions, rings, integrate_state,
                             counts, unit_cycles, sums, cost_totals, sums_done, stack, delivered, n_delivered)
    return n_delivered


@jit
def _offer(tr, hop, eligible, routes, paths, links, sequences, trains, spike_pool, params, tables, costs, stats16,
           stats32, target_pops, target_actions, rings, integrate_state, counts, unit_cycles, sums, cost_totals,
           sums_done, stack, delivered, n_delivered):
    """Train ``tr`` may use link ``hop`` of its path from ``eligible`` on: grant what follows."""
    T = params[P_T]
    trains[tr, S_AT] = hop
    trains[tr, S_ELIGIBLE] = eligible
    offered_at = paths[routes[tr // T, R_PATH_START] + hop]
    if links[offered_at, L_GRANTING]:
        return n_delivered   # that link's loop, further down the stack, takes the offer
    depth = 0
    stack[0] = offered_at
    links[offered_at, L_GRANTING] = 1
    while depth >= 0:
        link = stack[depth]
        nxt = links[link, L_NEXT]
        if nxt == links[link, L_SEQ_LEN]:
            links[link, L_GRANTING] = 0
            depth -= 1
            continue
        cand = sequences[links[link, L_SEQ_START] + nxt]
        r = cand // T
        at = trains[cand, S_AT]
        if at < 0 or paths[routes[r, R_PATH_START] + at] != link:
            links[link, L_GRANTING] = 0   # its next train is not here yet: the link idles for it
            depth -= 1
            continue
        links[link, L_NEXT] = nxt + 1
        t = cand - r * T
        elig = trains[cand, S_ELIGIBLE]
        grant = max(elig, links[link, L_FREE])
        pop = routes[r, R_POP]
        if grant > elig:
            unit_cycles[links[link, L_ROUTER], pop, t, _LINK_WAIT] += grant - elig
        f = trains[cand, S_SPIKE_N] + 1
        pace = links[link, L_PACE]
        paced = trains[cand, S_PACED]
        if at == routes[r, R_N_LINKS] - 1:
            # the ejection port: into the spike buffer and the integrate unit (§3-§4)
            dest = routes[r, R_DEST]
            table = routes[r, R_TABLE]
            off = trains[cand, S_SPIKE_OFF]
            spikes = spike_pool[off:off + f - 1]
            cost_at, n_src, stats_at, n_targets = tables[table, T_COST_AT], tables[table, T_N_SRC], \
                tables[table, T_STATS_AT], tables[table, T_N_TARGETS]
            cost = costs[cost_at:cost_at + n_src]
            group = routes[r, R_SUMS]
            totals = sums[group, t]
            if not sums_done[group, t]:
                size = n_targets * 3 * n_src
                if tables[table, T_WIDE]:
                    train_sums(spikes, stats32[stats_at:stats_at + size].reshape((n_targets, 3, n_src)), totals)
                else:
                    train_sums(spikes, stats16[stats_at:stats_at + size].reshape((n_targets, 3, n_src)), totals)
                cost_totals[group, t] = train_cost(spikes, cost) + 1   # and the marker's cycle
                sums_done[group, t] = True
            targets_at = tables[table, T_TARGETS_AT]
            add_train_counts(totals, target_pops[targets_at:targets_at + n_targets],
                             target_actions[targets_at:targets_at + n_targets], counts[dest], t,
                             params[P_COUNT_WORDS:P_COUNT_ACC_WRITE + 1])
            no_record = np.empty((0, 2), np.int64)   # (a global array would be read-only to numba)
            delivery, marker_start, stall, busy = eject_train(
                grant, spikes, cost, True, rings[dest], integrate_state[dest], no_record,
                0 if paced == _NO_PACE else paced, 0 if paced == _NO_PACE else params[P_CHIP_PACE],
                cost_totals[group, t])
            unit_cycles[dest, pop, t, _EJECTION_STALL] += stall
            unit_cycles[dest, pop, t, _INTEGRATE_BUSY] += busy
            links[link, L_FREE] = delivery + 1
            trains[cand, S_AT] = _DONE
            delivered[n_delivered, 0] = cand
            delivered[n_delivered, 1] = marker_start + 1 + params[P_INTEGRATE]
            n_delivered += 1
            continue
        # a hop (§3, §12): packet k crosses at max(grant + k * pace, paced + k * s)
        if pace > 1:
            paced = grant
        last = grant + (f - 1) * pace
        if paced != _NO_PACE:
            last = max(last, paced + (f - 1) * params[P_CHIP_PACE])
        links[link, L_FREE] = last + pace
        lat = links[link, L_FORWARD] + params[P_R]
        trains[cand, S_PACED] = _NO_PACE if paced == _NO_PACE else paced + lat
        nxt_link = paths[routes[r, R_PATH_START] + at + 1]
        trains[cand, S_AT] = at + 1
        trains[cand, S_ELIGIBLE] = grant + lat
        if not links[nxt_link, L_GRANTING]:
            depth += 1
            stack[depth] = nxt_link
            links[nxt_link, L_GRANTING] = 1
    return n_delivered
