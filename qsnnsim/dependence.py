"""Which slices depend on which: the structural dependence of DESIGN §5, used by mapping.

A target slice depends on a source slice (or on the input) when some neuron of the target
has a synapse from some neuron of the source, whatever the weight code (a 0 still counts:
the hardware reads it). Mapping records the result as ``Mapping.destinations``; the engine
and the cycle reference send a train from every source slice to the cores of its
destinations. Pure geometry: no placement, no time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qsnnsim.workload import Population, Projection, Workload

if TYPE_CHECKING:  # mapping imports this module; the type is only for the signatures
    from qsnnsim.mapping import Slice


def _rows_reach(
    src_rows: tuple[int, int], tgt_rows: tuple[int, int], k: int, s: int, p: int
) -> bool:
    """Does some target row in [tgt) have a window (rows y*s - p .. + k) touching source rows [src)?"""
    lo = (src_rows[0] + p - k) // s + 1
    hi = (src_rows[1] + p - 1) // s
    return max(lo, tgt_rows[0]) <= min(hi, tgt_rows[1] - 1)


def _depends(proj: Projection, src: Population, tgt: Population, s_geo, t_geo) -> bool:
    """Does any neuron of target range ``t_geo`` read any neuron of source range ``s_geo``?

    A geometry is (channel_start, channel_stop, row_start, row_stop, neuron_start, neuron_stop).
    Dependence is structural: a synapse counts even if its weight code is 0.
    """
    if proj.kind == "linear":
        return True
    if proj.kind == "identity":
        return max(s_geo[4], t_geo[4]) < min(s_geo[5], t_geo[5])
    if proj.kind == "sumpool2d" and max(s_geo[0], t_geo[0]) >= min(s_geo[1], t_geo[1]):
        return False
    (kh, kw), (sh, sw), (ph, pw) = proj.kernel, proj.stride, proj.padding
    width_in, width_out = src.shape[2], tgt.shape[2]
    if not _rows_reach((0, width_in), (0, width_out), kw, sw, pw):
        return False
    return _rows_reach((s_geo[2], s_geo[3]), (t_geo[2], t_geo[3]), kh, sh, ph)


def _geo(s: "Slice") -> tuple[int, int, int, int, int, int]:
    return (
        s.channel_start,
        s.channel_stop,
        s.row_start,
        s.row_stop,
        s.neuron_start,
        s.neuron_stop,
    )


def compute_destinations(
    wl: Workload, slices: "tuple[Slice, ...]"
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """Per slice, and for the input population, the sorted indices of the slices that depend on it."""
    pops = {p.name: p for p in wl.populations}
    by_pop: dict = {}
    for s in slices:
        by_pop.setdefault(s.population, []).append(s)
    dests: list[set[int]] = [set() for _ in slices]
    in_pop = wl.input_population
    c, h = in_pop.shape[0], (in_pop.shape[1] if len(in_pop.shape) == 3 else 1)
    input_geo = (0, c, 0, h, 0, in_pop.n_neurons)
    input_dests: set[int] = set()
    for proj in wl.projections:
        src, tgt = pops[proj.source], pops[proj.target]
        targets = by_pop.get(proj.target, [])
        sources = (
            [(None, input_geo)]
            if src.kind == "input"
            else [(s.index, _geo(s)) for s in by_pop.get(src.name, [])]
        )
        for s_index, s_geo in sources:
            out = input_dests if s_index is None else dests[s_index]
            for t in targets:
                if t.index not in out and _depends(proj, src, tgt, s_geo, _geo(t)):
                    out.add(t.index)
    return tuple(tuple(sorted(d)) for d in dests), tuple(sorted(input_dests))
