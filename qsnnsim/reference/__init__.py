"""Cycle-stepped reference model: the whole chip advanced one clock cycle at a time (DESIGN §6, §9).

This is the slow, independent implementation of ``docs/timing-model.md`` that the fast event
engine is checked against, cycle for cycle. It shares no code with ``qsnnsim/engine/`` or
``qsnnsim/kernels/``; it reuses only :mod:`qsnnsim.golden`'s scalar helpers (``rshift``,
``saturate``) for the neuron arithmetic, and is itself checked against
:func:`qsnnsim.golden.run_golden` bit for bit. It is meant for small configurations (tens to
hundreds of neurons, meshes up to about 3x3, a few timesteps): every cycle of a pass is visited.

The chip may be a **system of chips** (timing doc §12): ``system.chip_rows x system.chip_cols`` chips
whose cores form one grid of ``arch.grid_rows x arch.grid_cols`` cores (core id ``grid_row *
grid_cols + grid_col``; the mapping's mesh is that grid), the host at ``arch.io_core``, XY routes on
the grid. A hop between two chips is a chip-to-chip link, stepped like any link but with packet time
``s = ceil(noc.flit_bits / system.link.bandwidth_bits_per_cycle)`` and latency ``L_c =
system.link.latency_cycles`` (:mod:`~qsnnsim.reference.network`). One chip has none of them and
gives exactly the numbers of an arch without a ``system`` section.

Time is modelled by units that look at their own state every cycle, never by closed-form
recurrences over whole trains: packets sit in router queues, trains own links and send one
packet per cycle, packets fly over a link for its latency and through a router for ``R``
cycles, the spike buffer holds packets, the integrate unit counts down a packet's cost and the
soma counts down a fire. By default (``noc.arbitration: level_order``, ``core.soma_order: level``)
every link and every soma serves its jobs in the fixed order of timing doc §2b: before a pass runs,
the levels of its fires and host emissions are computed from the mapping and the projections'
delays alone, each link gets the list of the trains that cross it sorted by key
``(level, source, destination core)`` and each soma the list of its slices' fires sorted by
``(level, slice index)``. The options of timing doc §10 are read from the arch:
``noc.arbitration: round_robin`` makes every link work-conserving (§10.1), ``core.soma_order:
ready`` every soma (§10.2), and ``noc.router_buffers: finite`` gives every router input port
``noc.buffer_depth_flits`` slots with credits (§10.3). Within one cycle ``c`` the units act in this
fixed order (the order is what makes the doc's inclusive/exclusive cycle rules come out exactly,
for every combination of the options):

1. somas whose fire ends at ``c`` finish it: the slice's spikes become trains eligible at the
   core's injection port at ``c``, and credits leave for the slice's sources (itself included,
   for a self-projection) and the host, on a side band with no contention: ``R`` plus the hop's
   latency (``L``, or ``L_c`` for a chip-to-chip hop) per hop of the XY route from the slice's core
   to the source's (one chip: timing doc §5's ``hops * (R + L)``);
2. events due at ``c`` land: packets reach the point where their router has routed them (the
   packet's readiness ``a_k`` at the next output port; a train's head there makes the train
   eligible at that port at ``c``), markers complete in the integrate pipeline, credits arrive (a
   credit with zero hops lands at once);
3. the host puts its trains on its port for every next timestep that is ready at ``c`` (with
   accumulator slots several can be: a credit for a timestep below 0 is no wait);
4. every link with no owner (free: its last train's last packet crossed before ``c``) grants a
   train. ``level_order``: the next train of its order if that train is eligible, and otherwise
   it idles, even while a later train waits. ``round_robin``: among the trains eligible at
   ``<= c`` (steps 1-3 included), an injection or host port takes the oldest eligibility, ties by
   key; a router output port takes the first input port after its pointer in the cyclic order
   local, host, north, east, south, west (pointer initially west) that has a waiting train, the
   earliest eligible train there, ties by key, and moves its pointer to that input port. A link
   whose last packet crossed at ``x`` neither grants nor moves anything before ``x + s_l`` (its
   packet time: 1, or ``s`` for a chip-to-chip link, §12; so ``x_k = max(x_{k-1} + s_l, a_k)`` and
   the link is free at ``x_{F-1} + s_l``). Then
   every owned link moves one packet if that packet is ready there (``a_k <= c``): the ejection
   port only while the spike buffer, as it was at the start of the cycle, has a free slot
   (otherwise it counts an ejection stall cycle); with ``finite`` buffers any other link only
   while it holds a credit, i.e. fewer than ``B`` of the packets that crossed it still hold a
   slot in the input port it feeds (otherwise it counts a link stall cycle). A packet holds that
   slot from its crossing until ``y + C``, ``y`` the cycle it crosses its next link and ``C`` the
   link's forward latency (``L``, ``L_c`` for a chip-to-chip link, or 1 for an injection or host
   port): since ``C >= 1`` a slot
   freed in cycle ``c`` is usable from ``c + 1`` at the earliest, and since a packet crossing at
   ``c`` is ready at the next port at ``c + lat + R > c``, the order in which links are visited
   within the cycle never matters;
5. every idle integrate unit starts the oldest buffered packet that entered before ``c``;
   the slot it frees is only seen by the ejection port at ``c + 1``;
6. every idle soma starts a fire, and otherwise idles: ``level``, the next fire of its order if
   that slice is ready; ``ready``, of its slices ready for their next timestep (every condition
   of §5 met at a cycle ``<= c``, steps 1-2 included), the one ready earliest, ties by the smaller
   ``t``, then the smaller slice index. A fire computes the slice's neuron update of DESIGN §2
   from the accumulators its integrate unit filled from the packets it really received.

Figures of timing doc §11 come out of the same stepping: a train's wait at a link is its grant
cycle minus the cycle it became eligible there; every packet that crosses a link other than an
ejection port gets an occupancy cell of the input port behind it, entered at ``x + lat`` and left
at the cycle it crosses its next link (``u_k`` at the ejection port), from which
``noc_buffer_peak_flits`` is the largest count of cells with ``enter <= c < leave`` (for either
buffer model). If a cycle passes in which nothing happens while nothing is due later (no event,
fire end, integrate issue or credit return ahead) and the pass is not done, the chip can never
move again: the run raises :class:`qsnnsim.errors.DeadlockError` (§10.4) rather than loop.

Delays and recurrence (timing doc §5b): a slice holds ``K`` accumulator slots; a packet of a
source's train of ``t`` adds, for each projection with delay ``e``, into the slot of timestep
``t + e`` (nothing, beyond the last timestep), and the fire of ``t`` reads and clears slot
``t mod K``. Readiness is kept per timestep (the markers a later timestep waits for may complete
first), credits and host credits wait for ``t + e_max - K``, and the levels order slices within a
timestep through delay-0 edges only. A train that only feeds timesteps ``>= T`` is still sent and
stepped to its marker's integrate start; the pass ends at its last fire all the same.

A multi-pass mapping runs each pass on its own timeline starting at the pass's start cycle
(timing doc §7); all reported cycles are absolute.

Modules: :mod:`~qsnnsim.reference.synapses` (per-core weight layout, integrate cost of a packet,
fire cycles), :mod:`~qsnnsim.reference.edges` (source edges, their delays and accumulator slots),
:mod:`~qsnnsim.reference.network` (the grid of routers, its links and routes, trains),
:mod:`~qsnnsim.reference.chip` (the units, stepped), :mod:`~qsnnsim.reference.result` (what is
compared with the engine). Only the functions and classes re-exported here are public.
"""

from __future__ import annotations

import math

import numpy as np

from qsnnsim.arch import ArchSpec
from qsnnsim.errors import MappingError, WorkloadError
from qsnnsim.mapping import Mapping, compute_destinations
from qsnnsim.reference.chip import PassModel, SampleRun
from qsnnsim.reference.result import HOST, ReferenceResult, TrainTiming
from qsnnsim.reference.synapses import fire_cycles_of
from qsnnsim.workload import Workload

__all__ = ["HOST", "ReferenceResult", "TrainTiming", "fire_cycles_of", "simulate_reference"]


def _check(workload: Workload, arch: ArchSpec, mapping: Mapping, sample, mapping_file: str) -> None:
    """Refuse a sample index out of range and a mapping made for another workload or arch."""
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or not 0 <= sample < workload.n_samples:
        raise WorkloadError(f"<workload {workload.name}>", "sample",
                            f"index {sample!r} is not one of the workload's {workload.n_samples} samples",
                            f"use an integer in 0..{workload.n_samples - 1}")
    # Timing doc §12: a mapping's mesh is the system's grid of cores (one chip: the chip's mesh).
    if (mapping.mesh_rows, mapping.mesh_cols) != (arch.grid_rows, arch.grid_cols):
        raise MappingError(mapping_file, "mesh",
                           f"is {mapping.mesh_rows}x{mapping.mesh_cols} but the arch's mesh is "
                           f"{arch.grid_rows}x{arch.grid_cols}"
                           + (f" (the cores of its {arch.system.chip_rows}x{arch.system.chip_cols} chips)"
                              if arch.system.n_chips > 1 else ""), "map the workload onto this architecture")
    if len(mapping.destinations) != len(mapping.slices):
        raise MappingError(mapping_file, "destinations",
                           f"has {len(mapping.destinations)} entries for {len(mapping.slices)} slices",
                           "map the workload again")
    pops = {p.name: p for p in workload.populations}
    covered: dict[str, int] = {}
    for i, sl in enumerate(mapping.slices):
        fld = f"slices[{i}]"
        pop = pops.get(sl.population)
        if sl.index != i or pop is None or pop.kind == "input":
            raise MappingError(mapping_file, fld, f"names {sl.population!r}, not a lif or readout population of "
                               f"workload {workload.name!r} (or its index is not {i})",
                               "map this workload, not another one")
        if not 0 <= sl.core < arch.n_cores or not 0 <= sl.pass_index < mapping.n_passes:
            raise MappingError(mapping_file, fld, f"sits on core {sl.core} in pass {sl.pass_index}, outside the "
                               f"{arch.n_cores} cores or {mapping.n_passes} passes", "map the workload again")
        if sl.neuron_start != covered.get(sl.population, 0) or not sl.neuron_start < sl.neuron_stop <= pop.n_neurons:
            raise MappingError(mapping_file, fld, f"covers neurons {sl.neuron_start}..{sl.neuron_stop} of "
                               f"{sl.population!r}, which does not continue the previous slice",
                               "slices of a population must tile its neurons in order")
        covered[sl.population] = sl.neuron_stop
        # Accumulator slots (timing doc §5b): one per timestep a delayed input can be ahead.
        slots = 1 + max((p.delay for p in workload.projections_into(sl.population)), default=0)
        if sl.acc_slots != slots or sl.acc_words % slots:
            raise MappingError(mapping_file, fld + ".acc_slots",
                               f"is {sl.acc_slots} with {sl.acc_words} accumulator words, but {sl.population!r} "
                               f"needs {slots} slots (1 + the largest delay into it) of equal size",
                               "map the workload again")
    for pop in workload.populations:
        if pop.kind != "input" and covered.get(pop.name) != pop.n_neurons:
            raise MappingError(mapping_file, "slices", f"do not cover all {pop.n_neurons} neurons of {pop.name!r}",
                               "map this workload, not another one")
    missing = sorted(set(range(mapping.n_passes)) - {sl.pass_index for sl in mapping.slices})
    if missing:
        raise MappingError(mapping_file, "n_passes", f"is {mapping.n_passes} but pass {missing[0]} holds no slice",
                           "map the workload again")
    # Every synapse must be covered by a destination, and spikes only flow to the same or a later pass.
    needed, input_needed = compute_destinations(workload, mapping.slices)
    given = [set(d) for d in mapping.destinations] + [set(mapping.input_destinations)]
    for i, (need, have) in enumerate(zip(list(needed) + [input_needed], given, strict=True)):
        fld = f"destinations[{i}]" if i < len(needed) else "input_destinations"
        if not set(need) <= have:
            raise MappingError(mapping_file, fld, f"misses slice {min(set(need) - have)}, which reads spikes from it",
                               "map the workload again")
        source_pass = mapping.slices[i].pass_index if i < len(needed) else 0
        early = [d for d in have if not 0 <= d < len(mapping.slices) or mapping.slices[d].pass_index < source_pass]
        if early:
            raise MappingError(mapping_file, fld, f"names slice {early[0]}, which is not a slice of this or a later pass",
                               "map the workload again")


def _offchip_cycles(arch: ArchSpec, n_bits: int) -> int:
    """One off-chip transfer: fixed latency plus the bits at the interface's bandwidth (timing doc §7)."""
    return arch.offchip.latency_cycles + math.ceil(n_bits / arch.offchip.bandwidth_bits_per_cycle)


def simulate_reference(workload: Workload, arch: ArchSpec, mapping: Mapping, sample: int, *,
                       record_packets: bool = False) -> ReferenceResult:
    """Run one sample through the cycle-stepped reference model of ``docs/timing-model.md``.

    Parameters
    ----------
    workload : Workload
        A validated workload (small: every cycle is stepped in Python).
    arch : ArchSpec
        The architecture the mapping was made for: one chip, or a system of chips (timing doc §12).
    mapping : Mapping
        ``map_workload(workload, arch)`` or an equivalent hand-built mapping.
    sample : int
        Index of the input sample.
    record_packets : bool
        Also record, for every packet of every train, the cycle it entered the destination's
        spike buffer and the cycle the integrate unit started it, in ``TrainTiming.packets``
        (timing doc §9); None there otherwise.

    Returns
    -------
    ReferenceResult
        Cycles of every fire and train, per-core busy and stall cycles, latency, per-link wait
        and stall cycles, per-router buffer peaks (timing doc §9, §11), and the functional result
        (spikes, readout), which equals :func:`qsnnsim.golden.run_golden`. The options of timing
        doc §10 are read from ``arch`` (``noc.arbitration``, ``core.soma_order``,
        ``noc.router_buffers`` with ``noc.buffer_depth_flits``).

    Raises
    ------
    WorkloadError
        ``sample`` is not a valid sample index.
    MappingError
        The mapping does not belong to this workload and arch (mesh, i.e. the system's grid of
        cores, slices, SRAM words, or destinations that miss a synapse).
    DeadlockError
        A pass stopped moving with slices that had not fired every timestep (timing doc §10.4;
        not expected to happen).
    """
    mapping_file = f"<mapping of {mapping.workload_name} on {mapping.arch_name}>"
    _check(workload, arch, mapping, sample, mapping_file)
    run = SampleRun(workload, arch, mapping, int(sample), mapping_file, record_packets=bool(record_packets))
    T = workload.timesteps
    word_bits = arch.core.weight_sram.word_bits

    def load_cycles(p: int) -> int:
        return _offchip_cycles(arch, sum(s.weight_words * word_bits for s in mapping.slices if s.pass_index == p))

    def spill_cycles(p: int) -> int:
        boundary = sum(T * s.n_neurons for s in mapping.slices if s.pass_index == p
                       and any(mapping.slices[d].pass_index > p for d in mapping.destinations[s.index]))
        return _offchip_cycles(arch, boundary)

    # A single pass keeps its weights resident: no load before it.
    start = load_cycles(0) if mapping.n_passes > 1 else 0
    end = start
    for p in range(mapping.n_passes):
        end = start + PassModel(run, p, start).simulate()
        if p + 1 < mapping.n_passes:
            start = end + spill_cycles(p) + load_cycles(p + 1)
    out = workload.readout_population
    readout = np.concatenate([run.membranes[s.index] for s in mapping.slices if s.population == out.name])
    return ReferenceResult(
        latency_cycles=end,
        soma_busy_cycles=tuple(run.soma_busy),
        integrate_busy_cycles=tuple(run.integrate_busy),
        ejection_stall_cycles=tuple(run.ejection_stall),
        fires=dict(sorted(run.fires.items())),
        trains=dict(sorted(run.trains.items())),
        readout=readout.astype(np.int64),
        predicted=int(np.argmax(readout)),
        spikes=run.spikes,
        actions=dict(run.actions),
        link_wait_cycles=dict(sorted(run.link_wait.items())),
        link_stall_cycles=dict(sorted(run.link_stall.items())),
        noc_buffer_peak_flits=tuple(run.buffer_peak),
    )

