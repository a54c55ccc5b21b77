"""The critical path of a sample and the bottleneck line (docs/timing-model.md §11).

Runs back from the fire that ends last: each fire's start is charged to what it waited for
(its soma's previous fire, a credit, a train's marker, the pass start), a train's time from its
source's fire end to its marker's completion is split over the links it waited at, the NoC's
fixed latencies, the destination's spike buffer and integrate unit, and the time before a
pass starts is off-chip. Every cycle of the latency is charged to exactly one unit, so the
shares add up to the latency. Reads a :class:`~qsnnsim.engine.simulate.SampleResult` (its
``fires``, ``trains`` and ``fire_waits``), the mapping's slice cores and the arch's latencies.
"""

from __future__ import annotations

from collections import Counter

from qsnnsim.system import Topology, chip_link_latency_cycles, topology

NOC_LATENCY = "NoC latency"
OFF_CHIP = "off-chip"


def train_links(key: tuple, slices, topo: Topology) -> list[tuple[str, int]]:
    """``(name, forward latency kind)`` of the links a train crossed (docs/timing-model.md §11),
    injection port first: kind 0 for the injection or host port, 1 for a mesh link, 2 for a
    chip-to-chip link, 3 for the ejection port."""
    p, src, _, dest = key
    from_host = src < 0 or slices[src].pass_index < p
    here = topo.io_core if from_host else slices[src].core
    links = [("host" if from_host else f"inject {here}", 0)]
    links += [(f"{a}->{b}", 2 if topo.is_chip_link(a, b) else 1) for a, b in topo.xy_hops(here, dest)]
    links.append((f"eject {dest}", 3))
    return links


class _Walk:
    """One sample's critical path, walked back job by job; ``share`` collects each unit's cycles."""

    def __init__(self, sample, slices, arch):
        self.R = arch.noc.router_latency_cycles
        self.latency = {0: 1, 1: arch.noc.link_latency_cycles, 2: chip_link_latency_cycles(arch)}
        self.topo = topology(arch)
        self.slices = slices
        self.fires, self.trains, self.waits = sample.fires, sample.trains, sample.fire_waits
        self.pass_starts = sample.pass_starts
        self.pass_of = {s.index: s.pass_index for s in slices}
        self.last_fire_of_pass: dict = {}
        for job, (_, end) in self.fires.items():
            p = self.pass_of[job[0]]
            last = self.last_fire_of_pass.get(p)
            if last is None or end > self.fires[last][1]:
                self.last_fire_of_pass[p] = job
        self.share: Counter = Counter()

    def run(self) -> None:
        fires = self.fires
        node = ("fire", max(fires, key=lambda j: (fires[j][1], j)))
        for _ in range(len(fires) + 4 * len(self.trains) + 8):  # a path visits each job at most once
            if node is None:
                break
            kind, job = node
            if kind == "fire":
                start, end = fires[job]
                self.share[f"soma of core {self.slices[job[0]].core}"] += end - start
                node = self.back_from(self.waits.get(job, ("start",)), start, self.pass_of[job[0]], job)
            else:  # a host emission ("host", p, t)
                cycle, cause = self.waits[job]
                node = self.back_from(cause, cycle, job[1], job)

    def back_from(self, cause, at, p, job):
        """Charge the time from the job this one waited for up to ``at``; return that job's node."""
        fires, share = self.fires, self.share
        kind = cause[0]
        if kind == "soma":
            prev = cause[1]
            share[f"soma of core {self.slices[prev[0]].core}"] += at - fires[prev][1]
            return ("fire", prev)
        if kind == "own":
            if job[0] == "host":
                prev = ("host", p, job[2] - 1)
                share[NOC_LATENCY] += at - self.waits[prev][0]
                return ("host", prev)
            prev = (job[0], job[1] - 1)
            share[f"soma of core {self.slices[job[0]].core}"] += at - fires[prev][1]
            return ("fire", prev)
        if kind == "credit":
            prev = (cause[1], cause[2])
            share[NOC_LATENCY] += at - fires[prev][1]
            return ("fire", prev)
        if kind == "train":
            return self.back_through_train(cause[1], at)
        # the pass start: off-chip loads and spills, after the previous pass's last fire
        start = self.pass_starts[p] if p < len(self.pass_starts) else 0
        share[OFF_CHIP] += at - start
        if p == 0:
            share[OFF_CHIP] += start
            return None
        prev = self.last_fire_of_pass[p - 1]
        share[OFF_CHIP] += start - fires[prev][1]
        return ("fire", prev)

    def back_through_train(self, key, done):
        timing, share = self.trains[key], self.share
        p, src, t, dest = key
        links = train_links(key, self.slices, self.topo)
        grants, eligibles = timing.grants, timing.eligibles
        for i, (name, kind) in enumerate(links):
            share[f"link {name}"] += grants[i] - eligibles[i]
            if i + 1 < len(links):
                fixed = self.latency[kind] + self.R
                # beyond the fixed latency, the head waited for a credit on this link (finite buffers)
                share[NOC_LATENCY] += fixed
                share[f"link {name}"] += eligibles[i + 1] - grants[i] - fixed
        # after the head, the packets follow one per cycle (or one per chip-link packet time), and
        # the full spike buffer held some back
        share[NOC_LATENCY] += timing.delivery - grants[-1] - timing.buffer_stall
        share[f"spike buffer of core {dest}"] += timing.buffer_stall
        share[f"integrate on core {dest}"] += done - timing.delivery  # queue, marker, pipeline
        if src < 0 or self.slices[src].pass_index < p:
            return ("host", ("host", p, t))
        return ("fire", (src, t))


def critical_path(sample, slices, arch) -> dict:
    """``{"latency_cycles", "units": [[unit, cycles], ...] largest first}`` of one sample.

    ``slices`` are the mapping's slices (index order); the sample must carry ``fire_waits``.
    """
    if not sample.fires:
        return {"latency_cycles": int(sample.latency_cycles), "units": []}
    walk = _Walk(sample, slices, arch)
    walk.run()
    units = sorted(((u, int(c)) for u, c in walk.share.items() if c > 0), key=lambda uc: (-uc[1], uc[0]))
    return {"latency_cycles": int(sample.latency_cycles), "units": [[u, c] for u, c in units]}


def bottleneck_line(path: dict) -> str:
    """One plain sentence: the unit with the largest share of the critical path, then the next two
    after ``"; next: "``."""
    units = path.get("units") or []
    total = sum(c for _, c in units)
    if not total:
        return "bottleneck: none (no cycle on the critical path)"
    head, cycles = units[0]
    text = f"bottleneck: {head} ({100.0 * cycles / total:.0f}% of the {total:,}-cycle critical path)"
    rest = [f"{u} ({100.0 * c / total:.0f}%)" for u, c in units[1:3]]
    if rest:
        text += "; next: " + ", ".join(rest)
    return text
