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

NOC_LATENCY = "NoC latency"
OFF_CHIP = "off-chip"


def _link_label(link: str) -> str:
    return f"link {link}"


def train_links(key: tuple, slices, mesh_cols: int, io_core: int) -> list[str]:
    """Names of the links a train crossed (docs/timing-model.md §11), injection port first."""
    p, src, _, dest = key
    from_host = src < 0 or slices[src].pass_index < p
    here = io_core if from_host else slices[src].core
    names = ["host" if from_host else f"inject {here}"]
    r, c = divmod(here, mesh_cols)
    dr, dc = divmod(dest, mesh_cols)
    while c != dc:
        nxt = c + (1 if dc > c else -1)
        names.append(f"{r * mesh_cols + c}->{r * mesh_cols + nxt}")
        c = nxt
    while r != dr:
        nxt = r + (1 if dr > r else -1)
        names.append(f"{r * mesh_cols + c}->{nxt * mesh_cols + c}")
        r = nxt
    names.append(f"eject {dest}")
    return names


def critical_path(sample, slices, arch) -> dict:
    """``{"latency_cycles", "units": [[unit, cycles], ...] largest first}`` of one sample.

    ``slices`` are the mapping's slices (index order); the sample must carry ``fire_waits``.
    """
    R, L = arch.noc.router_latency_cycles, arch.noc.link_latency_cycles
    P_int = arch.core.integrate_pipeline_cycles
    cols = arch.grid_cols
    io_core = arch.io_core
    from qsnnsim.system import chip_link_latency_cycles, topology

    topo, L_chip = topology(arch), chip_link_latency_cycles(arch)
    fires, trains, waits = sample.fires, sample.trains, sample.fire_waits
    share: Counter = Counter()
    if not fires:
        return {"latency_cycles": int(sample.latency_cycles), "units": []}
    pass_of = {s.index: s.pass_index for s in slices}
    last_fire_of_pass: dict = {}
    for job, (_, end) in fires.items():
        p = pass_of[job[0]]
        if p not in last_fire_of_pass or end > fires[last_fire_of_pass[p]][1]:
            last_fire_of_pass[p] = job
    job = max(fires, key=lambda j: (fires[j][1], j))
    node = ("fire", job)
    for _ in range(len(fires) + 4 * len(trains) + 8):  # a path visits each job at most once
        if node is None:
            break
        kind, job = node
        if kind == "fire":
            sid, t = job
            start, end = fires[job]
            core = slices[sid].core
            share[f"soma of core {core}"] += end - start
            node = _back_from(waits.get(job, ("start",)), start, pass_of[sid], job, fires, trains, waits, share,
                              slices, cols, io_core, R, (L, L_chip, topo), P_int, sample.pass_starts,
                              last_fire_of_pass)
        else:  # a host emission ("host", p, t)
            cycle, cause = waits[job]
            node = _back_from(cause, cycle, job[1], job, fires, trains, waits, share, slices, cols, io_core,
                              R, (L, L_chip, topo), P_int, sample.pass_starts, last_fire_of_pass)
    units = sorted(((u, int(c)) for u, c in share.items() if c > 0), key=lambda uc: (-uc[1], uc[0]))
    return {"latency_cycles": int(sample.latency_cycles), "units": [[u, c] for u, c in units]}


def _back_from(cause, at, p, job, fires, trains, waits, share, slices, cols, io_core, R, L, P_int,
               pass_starts, last_fire_of_pass):
    """Charge the time from the job this one waited for up to ``at``; return that job's node."""
    kind = cause[0]
    if kind == "soma":
        prev = cause[1]
        share[f"soma of core {slices[prev[0]].core}"] += at - fires[prev][1]
        return ("fire", prev)
    if kind == "own":
        if job[0] == "host":
            prev = ("host", p, job[2] - 1)
            share[NOC_LATENCY] += at - waits[prev][0]
            return ("host", prev)
        prev = (job[0], job[1] - 1)
        share[f"soma of core {slices[job[0]].core}"] += at - fires[prev][1]
        return ("fire", prev)
    if kind == "credit":
        prev = (cause[1], cause[2])
        share[NOC_LATENCY] += at - fires[prev][1]
        return ("fire", prev)
    if kind == "train":
        return _back_through_train(cause[1], at, trains, waits, share, slices, cols, io_core, R, L, P_int)
    # the pass start: off-chip loads and spills, after the previous pass's last fire
    start = pass_starts[p] if p < len(pass_starts) else 0
    share[OFF_CHIP] += at - start
    if p == 0:
        share[OFF_CHIP] += start
        return None
    prev = last_fire_of_pass[p - 1]
    share[OFF_CHIP] += start - fires[prev][1]
    return ("fire", prev)


def _back_through_train(key, done, trains, waits, share, slices, cols, io_core, R, L, P_int):
    timing = trains[key]
    p, src, t, dest = key
    links = train_links(key, slices, cols, io_core)
    L, L_chip, topo = L
    grants, eligibles = timing.grants, timing.eligibles
    for i, name in enumerate(links):
        share[_link_label(name)] += grants[i] - eligibles[i]
        if i + 1 < len(links):
            latency = 1 if i == 0 else L
            if "->" in name:
                a, b = (int(x) for x in name.split("->"))
                latency = L_chip if topo.is_chip_link(a, b) else L
            # beyond the fixed latency, the head waited for a credit on this link (finite buffers)
            share[NOC_LATENCY] += latency + R
            share[_link_label(name)] += eligibles[i + 1] - grants[i] - latency - R
    # after the head, the packets follow one per cycle (or one per chip-link packet time), and the
    # full spike buffer held some back
    share[NOC_LATENCY] += timing.delivery - grants[-1] - timing.buffer_stall
    share[f"spike buffer of core {dest}"] += timing.buffer_stall
    share[f"integrate on core {dest}"] += done - timing.delivery  # queue, marker, pipeline
    from_host = src < 0 or slices[src].pass_index < p
    if from_host:
        return ("host", ("host", p, t))
    return ("fire", (src, t))


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
