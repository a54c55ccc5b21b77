"""Service order of one pass: the fixed order in which every link and soma serves its jobs.

docs/timing-model.md §2b. Each job gets a *level*, the length in jobs of its longest chain of
dependencies (markers, the slice's own previous fire, credits); a soma serves its fires by
``(level, slice)`` and a link its trains by ``(level, source, destination core)``. Because
every dependency goes from a lower level to a higher one, serving in that order never
deadlocks; because the order is fixed before the run (from the mapping alone, never from
spikes, costs or times), every start is a max-plus function of the costs, so a cheaper job
can never make anything later.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnnsim.engine.router import xy_hops


@dataclass(frozen=True)
class PassOrder:
    """Levels and per-unit service sequences of one pass.

    ``soma_sequence[core]`` lists ``(slice, t)`` fires; ``link_sequence[link]`` lists train keys
    ``(level, source, destination core)``, with links named ``("inject", core)``, ``("host",)``,
    ``("mesh", router core, next router core)`` and ``("eject", core)``.
    """

    fire_level: dict        # (slice, t) -> level
    host_level: tuple       # per timestep; empty when the pass has no host train
    soma_sequence: dict
    link_sequence: dict


def train_path(src_core: int, dest_core: int, mesh_cols: int, from_host: bool) -> list[tuple]:
    """Names of the links a train crosses, injection port first, ejection port last."""
    links = [("host",) if from_host else ("inject", src_core)]
    links += [("mesh", router, nxt) for router, nxt in xy_hops(src_core, dest_core, mesh_cols)]
    links.append(("eject", dest_core))
    return links


def pass_order(here: list, T: int, sources: dict, same_pass_dests: dict, host_sources: list,
               host_dest_slices: list, host_train_cores: dict, io_core: int, mesh_cols: int,
               credit_lag: dict | None = None, host_lag: dict | None = None) -> PassOrder:
    """Compute the levels and service sequences of one pass.

    Parameters
    ----------
    here : the pass's slice plans, in slice index order (topological through delay-0 edges).
    sources : slice -> source edges ``(source key, delay)``: same-pass slices, earlier-pass
        slices, -1 for the input (docs/timing-model.md §5b).
    same_pass_dests : slice -> same-pass destination slices.
    host_sources : the sources the host sends in this pass (-1 for the input, earlier-pass slices).
    host_dest_slices : the slices that receive a host train.
    host_train_cores : host source -> destination cores of its trains.
    credit_lag : (source slice, destination slice) -> K(d) - e_max(s, d): the fire of ``t`` of
        the source waits for the destination's fire of ``t - lag`` (1 without delays).
    host_lag : host destination slice -> the same lag for the host's trains.
    """
    credit_lag = credit_lag or {}
    host_lag = host_lag or {}
    here_ids = {s.index for s in here}
    has_host = bool(host_sources)
    host_level: list[int] = []
    fire_level: dict = {}
    for t in range(T):
        if has_host:
            if t == 0:
                host_level.append(0)
            else:
                host_level.append(1 + max([host_level[t - 1]] + [
                    fire_level[(d, t - host_lag.get(d, 1))] for d in host_dest_slices if t - host_lag.get(d, 1) >= 0]))
        for s in here:
            terms = [0]
            for src, delay in sources[s.index]:
                if t - delay < 0:
                    continue
                terms.append(fire_level[(src, t - delay)] if src in here_ids else host_level[t - delay])
            if t > 0:
                terms.append(fire_level[(s.index, t - 1)])
            for d in same_pass_dests[s.index]:
                earlier = t - credit_lag.get((s.index, d), 1)
                if earlier >= 0:
                    terms.append(fire_level[(d, earlier)])
            fire_level[(s.index, t)] = 1 + max(terms)

    soma_sequence: dict = {}
    for s in here:
        soma_sequence.setdefault(s.core, []).extend((s.index, t) for t in range(T))
    for fires in soma_sequence.values():
        fires.sort(key=lambda job: (fire_level[job], job[0]))

    link_sequence: dict = {}

    def add_trains(source: int, src_core: int, levels, dest_cores, from_host: bool) -> None:
        for dest in dest_cores:
            path = train_path(src_core, dest, mesh_cols, from_host)
            for t in range(T):
                key = (levels(t), source, dest)
                for link in path:
                    link_sequence.setdefault(link, []).append(key)

    for s in here:
        if s.dest_cores:
            add_trains(s.index, s.core, lambda t, s=s: fire_level[(s.index, t)], s.dest_cores, False)
    for src in host_sources:
        add_trains(src, io_core, lambda t: host_level[t], host_train_cores[src], True)
    for keys in link_sequence.values():
        keys.sort()
    return PassOrder(fire_level=fire_level, host_level=tuple(host_level), soma_sequence=soma_sequence,
                     link_sequence=link_sequence)
