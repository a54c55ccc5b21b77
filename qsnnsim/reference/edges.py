"""Source edges and accumulator slots of the reference model (timing doc §5b), from the mapping and
the workload's projection delays.

For a source ``src`` (a slice index, or :data:`~qsnnsim.reference.result.HOST` for the host's input)
and a destination slice ``d`` that has it as a source (``d`` in the mapping's destinations of
``src``), the edge delays ``E(src, d)`` are the delays of the workload's projections from ``src``'s
population into ``d``'s population, and ``(src, e)`` for each ``e`` in ``E(src, d)`` is a source edge
of ``d``. A slice ``d`` holds ``K(d) = 1 + the largest delay of a projection into its population``
accumulator slots. Everything in this module is a plain function of the mapping and the workload,
fixed before a run, like the rest of the chip's configuration.

How the doc is read here: ``E(src, d)`` takes every projection between the two *populations*,
whether or not that projection has a synapse between these two particular slices (§5b's
parenthesis "the projections that put d in src's destinations" is read as naming those
projections, not as a per-slice filter; tests/unit/test_reference_delays.py pins a case where the
two readings differ). A destination the mapping lists with no projection between the populations
at all (a hand-built mapping may list one) is an edge of delay 0, as before delays existed.
An earlier-pass slice re-injected by the host is a source like any other slice.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnnsim.mapping import Mapping
from qsnnsim.reference.result import HOST
from qsnnsim.workload import Workload


class SourceEdges:
    """``E(src, d)``, ``e_max(src, d)`` and ``K(d)`` of timing doc §5b for every slice of a mapping.

    Parameters
    ----------
    mapping : Mapping
        Its ``destinations`` and ``input_destinations`` say which pairs are edges.
    workload : Workload or None
        Gives the delays; None reads every projection as delay 0 (the timing of a workload
        without delays, which needs the mapping alone).
    """

    def __init__(self, mapping: Mapping, workload: Workload | None = None):
        pop_of = {s.index: s.population for s in mapping.slices}
        if workload is not None:
            pop_of[HOST] = workload.input_population.name
        delays: dict[tuple[str, str], set[int]] = {}
        into: dict[str, int] = {}
        for proj in workload.projections if workload is not None else ():
            delays.setdefault((proj.source, proj.target), set()).add(proj.delay)
            into[proj.target] = max(into.get(proj.target, 0), proj.delay)
        self._delays: dict[tuple[int, int], tuple[int, ...]] = {}
        pairs = [(s, d) for s, ds in enumerate(mapping.destinations) for d in ds]
        pairs += [(HOST, d) for d in mapping.input_destinations]
        for src, d in pairs:
            found = delays.get((pop_of.get(src), pop_of[d]))
            self._delays[(src, d)] = tuple(sorted(found)) if found else (0,)
        self._slots = {s.index: 1 + into.get(s.population, 0) for s in mapping.slices}

    def delays(self, src: int, d: int) -> tuple[int, ...]:
        """``E(src, d)``, increasing (``src`` is a slice index or HOST)."""
        return self._delays[(src, d)]

    def e_max(self, src: int, d: int) -> int:
        """The largest delay of ``E(src, d)``."""
        return self._delays[(src, d)][-1]

    def slots(self, d: int) -> int:
        """``K(d)``: the accumulator slots of slice ``d``."""
        return self._slots[d]

    def credit_timestep(self, src: int, d: int, t: int) -> int:
        """``t' = t + e_max(src, d) - K(d)``: the fire of ``d`` that ``src``'s timestep ``t`` waits for
        (timing doc §5 condition 3; the host's credit of §7 takes ``PassGraph.host_e_max``, the
        largest over all its sources); below 0 there is none. ``t' <= t - 1`` always, since
        ``K(d) >= 1 + e_max(src, d)``."""
        return t + self.e_max(src, d) - self.slots(d)


@dataclass(frozen=True)
class PassGraph:
    """Who feeds whom within one pass (timing doc §5, §5b, §7), in a fixed order.

    Attributes
    ----------
    here : tuple[int, ...]
        The pass's slices, increasing index.
    dests : dict[int, tuple[int, ...]]
        Same-pass destination slices of each slice (itself included for a self-projection).
    sources : dict[int, tuple[tuple[int, tuple[int, ...]], ...]]
        Per slice ``d``, every source with its edge delays ``(src, E(src, d))``: same-pass slices
        in increasing index, then the host's input (HOST), then earlier-pass slices that the
        host re-injects, in increasing index. An earlier-pass source is a host source (§7).
    host_sources : tuple[tuple[int, tuple[int, ...]], ...]
        What the host sends in this pass, in its port's order (§7): the input (HOST), then each
        earlier-pass slice with destinations here; each with its destination slices here.
    host_dests : tuple[int, ...]
        Slices of the pass that receive a host train, increasing.
    host_e_max : dict[int, int]
        Per host destination ``d``, ``e_max(host, d)``: the largest delay over the host's sources
        that reach ``d`` (the host sends all of them together, §7).
    """

    here: tuple
    dests: dict
    sources: dict
    host_sources: tuple
    host_dests: tuple
    host_e_max: dict


def pass_graph(mapping: Mapping, pass_index: int, edges: SourceEdges) -> PassGraph:
    """The :class:`PassGraph` of pass ``pass_index`` (later passes' slices get spikes via the host)."""
    here = tuple(s.index for s in mapping.slices if s.pass_index == pass_index)
    on = set(here)
    dests = {i: tuple(d for d in mapping.destinations[i] if d in on) for i in here}
    sources: dict[int, list] = {i: [] for i in here}
    for i in here:
        for d in dests[i]:
            sources[d].append((i, edges.delays(i, d)))
    host_sources = []
    inputs_here = tuple(d for d in mapping.input_destinations if d in on)
    if inputs_here:
        host_sources.append((HOST, inputs_here))
    for s in mapping.slices:
        if s.pass_index < pass_index:
            later = tuple(d for d in mapping.destinations[s.index] if d in on)
            if later:
                host_sources.append((s.index, later))
    host_e_max: dict[int, int] = {}
    for src, ds in host_sources:
        for d in ds:
            sources[d].append((src, edges.delays(src, d)))
            host_e_max[d] = max(host_e_max.get(d, 0), edges.e_max(src, d))
    return PassGraph(here=here, dests=dests, sources={i: tuple(v) for i, v in sources.items()},
                     host_sources=tuple(host_sources), host_dests=tuple(sorted(host_e_max)), host_e_max=host_e_max)
