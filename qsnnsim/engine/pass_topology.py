"""Who sends to whom in one pass, with which delays, and the pass's service order.

docs/timing-model.md §2b, §5, §5b, §7: sample-independent, computed once per run and shared by
its samples (``simulate_sample(..., topologies)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnnsim.engine.build import HOST_SOURCE, Plan
from qsnnsim.engine.order import PassOrder, pass_order


@dataclass(frozen=True, eq=False)
class PassTopology:
    """Who sends to whom in one pass, with which delays, and the pass's service order;
    sample-independent (docs/timing-model.md §2b, §5, §5b, §7)."""

    here: list               # the pass's SlicePlans, slice index order
    sources: dict            # slice -> source edges (source key, delay): same-pass slices,
                             # earlier-pass slices, HOST_SOURCE
    same_pass_dests: dict    # slice -> same-pass destination slices
    dests: dict              # source key -> destination slices in this pass
    host_sources: list       # what the host sends in this pass: HOST_SOURCE, earlier-pass slices
    host_dests: list         # slices that receive a host train
    host_train_cores: dict   # host source -> destination cores of its trains, increasing
    marker_targets: dict     # (source key, destination core) -> (slice, delay) pairs a marker completes
    credit_lag: dict         # (source slice, destination slice) -> K(d) - e_max(s, d) (§5b)
    host_lag: dict           # host destination slice -> K(d) - e_max(host, d)
    needs: dict              # slice -> conditions per timestep (§5)
    host_needs: list         # the host's conditions per timestep (§7)
    order: PassOrder


def _edge_delays(wl) -> tuple[dict, list]:
    """(source population, target population) -> sorted distinct delays; and K per population."""
    index = {p.name: i for i, p in enumerate(wl.populations)}
    delays: dict = {}
    for proj in wl.projections:
        delays.setdefault((index[proj.source], index[proj.target]), set()).add(proj.delay)
    slots = [1] * len(wl.populations)
    for (_, target), ds in delays.items():
        slots[target] = max(slots[target], 1 + max(ds))
    return {k: sorted(v) for k, v in delays.items()}, slots


def pass_topology(plan: Plan, pass_index: int) -> PassTopology:
    """Sources, destinations, delays and service order of one pass (docs/timing-model.md §2b, §5, §5b, §7)."""
    mapping, wl, T = plan.mapping, plan.workload, plan.workload.timesteps
    input_pop = next(i for i, p in enumerate(wl.populations) if p.kind == "input")
    delays, slots = _edge_delays(wl)

    def pop_of(src: int) -> int:
        return input_pop if src == HOST_SOURCE else plan.slices[src].pop

    def edge(src: int, d: int) -> list:
        return delays[(pop_of(src), plan.slices[d].pop)]

    here = [s for s in plan.slices if s.pass_index == pass_index]
    here_ids = {s.index for s in here}
    sources: dict[int, list] = {s.index: [] for s in here}
    for s in plan.slices:
        if s.pass_index <= pass_index:
            for d in mapping.destinations[s.index]:
                if d in here_ids:
                    sources[d].extend((s.index, e) for e in edge(s.index, d))
    for d in mapping.input_destinations:
        if d in here_ids:
            sources[d].extend((HOST_SOURCE, e) for e in edge(HOST_SOURCE, d))
    dests = {s.index: [d for d in mapping.destinations[s.index] if d in here_ids] for s in plan.slices}
    dests[HOST_SOURCE] = [d for d in mapping.input_destinations if d in here_ids]
    same_pass_dests = {s.index: dests[s.index] for s in here}
    host_sources = [HOST_SOURCE] if dests[HOST_SOURCE] else []
    host_sources += [s.index for s in plan.slices if s.pass_index < pass_index and dests[s.index]]
    host_dests = sorted({d for src in host_sources for d in dests[src]})
    host_train_cores = {src: sorted({plan.slices[d].core for d in dests[src]}) for src in host_sources}
    credit_lag = {(s.index, d): slots[plan.slices[d].pop] - max(edge(s.index, d))
                  for s in here for d in same_pass_dests[s.index]}
    host_lag = {d: slots[plan.slices[d].pop] - max(max(edge(src, d)) for src in host_sources if d in dests[src])
                for d in host_dests}
    needs = {}
    for s in here:
        needs[s.index] = [sum(1 for _, e in sources[s.index] if t - e >= 0) + (t > 0)
                          + sum(1 for d in same_pass_dests[s.index] if t - credit_lag[(s.index, d)] >= 0)
                          for t in range(T)]
    host_needs = [(t > 0) + sum(1 for d in host_dests if t - host_lag[d] >= 0) for t in range(T)]
    order = pass_order(here, T, sources, same_pass_dests, host_sources, host_dests,
                       host_train_cores, plan.io_core, mapping.mesh_cols, credit_lag, host_lag)
    marker_targets = {}
    for src, targets in dests.items():
        for d in targets:
            marker_targets.setdefault((src, plan.slices[d].core), []).extend((d, e) for e in edge(src, d))
    return PassTopology(here=here, sources=sources, same_pass_dests=same_pass_dests, dests=dests,
                        host_sources=host_sources, host_dests=host_dests, host_train_cores=host_train_cores,
                        marker_targets=marker_targets, credit_lag=credit_lag, host_lag=host_lag,
                        needs=needs, host_needs=host_needs, order=order)
