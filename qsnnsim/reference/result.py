"""Results of the cycle-stepped reference model: what timing doc §9 compares with the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HOST = -1
"""Source id of the host's input train in train keys (timing doc §9)."""


@dataclass(frozen=True)
class TrainTiming:
    """When one train crossed the chip.

    Attributes
    ----------
    grants : tuple[int, ...]
        Grant cycle at every link of the path: injection port, mesh links in path order,
        ejection port.
    delivery : int
        Cycle the marker entered the destination's spike buffer (``u_{F-1}``).
    marker_start : int
        Cycle the destination's integrate unit started the marker.
    packets : tuple[tuple[int, int], ...] or None
        Only when asked for (``simulate_reference(..., record_packets=True)``), else None:
        ``(u_k, start_k)`` for each of the train's F packets in order (its spikes in increasing
        neuron order, the marker last): the cycle packet k entered the destination's spike
        buffer and the cycle the integrate unit started it (timing doc §3, §4, §9). The last
        pair is ``(delivery, marker_start)``.
    """

    grants: tuple[int, ...]
    delivery: int
    marker_start: int
    packets: tuple | None = None


@dataclass(frozen=True, eq=False)
class ReferenceResult:
    """What the cycle-stepped reference computes for one sample (timing doc §9).

    Attributes
    ----------
    latency_cycles : int
        End of the last fire of the last pass.
    soma_busy_cycles, integrate_busy_cycles, ejection_stall_cycles : tuple[int, ...]
        Per core id (``row * mesh_cols + col``; for a system of chips the grid's, ``grid_row *
        grid_cols + grid_col``, timing doc §12), summed over passes.
    fires : dict[tuple[int, int], tuple[int, int]]
        ``(slice index, t) -> (start, end)`` cycles.
    trains : dict[tuple[int, int, int, int], TrainTiming]
        ``(pass index, source, t, destination core)``; source is a slice index or -1 (host input).
    readout : np.ndarray
        int64 readout values after the last timestep.
    predicted : int
        argmax of ``readout``, ties to the lowest index.
    spikes : dict[str, np.ndarray]
        (T, *shape) for every lif population: bool, or int64 counts for a dialect whose spike is
        graded.
    actions : dict[str, int]
        Totals over the sample of the synapse-side actions of timing doc §4 and §5:
        ``weight_sram_read``, ``acc_sram_read``, ``acc_sram_write`` (packets and fires; a fire
        reads and clears one accumulator slot, §5b), ``synaptic_add``, ``mac8``, ``mac16`` (a
        packet that carries a value, an analog input or a graded spike's count, multiplies), and
        ``chip_link_bit`` (timing doc §12: ``noc.flit_bits`` for every packet that crosses a
        chip-to-chip link, per crossing; always present, 0 on one chip). Not part of §9's list
        except ``chip_link_bit`` (§12); a check of the counters the engine reports.
    link_wait_cycles : dict[str, int]
        Per link, ``g - e`` summed over the trains that crossed it (contention, timing doc §3),
        summed over passes. Links are named as in timing doc §11: ``"inject c"`` (core ``c``'s
        injection port), ``"host"``, ``"c->d"`` (mesh link from router ``c`` to router ``d``),
        ``"eject c"``, with the grid's core ids (a chip-to-chip link is ``"c->d"`` too, timing doc
        §12); every link that carried at least one train in the sample is a key (its
        value may be 0), no other.
    link_stall_cycles : dict[str, int]
        Same keys: cycles a ready packet waited only for a credit (back-pressure, timing doc
        §10.3), summed over passes. Always 0 with ``noc.router_buffers: unbounded``, and for an
        ejection port (it waits for the spike buffer, counted in ``ejection_stall_cycles``).
    noc_buffer_peak_flits : tuple[int, ...]
        Per router (core id order), the largest occupancy of any of its input ports at any cycle
        of the sample (timing doc §11): a packet crossing into the port at ``x`` is in it from
        ``x + lat`` until the cycle it crosses its next link. Computed for both buffer models; a
        router no packet entered has 0. The maximum over passes (they never overlap in time).
    """

    latency_cycles: int
    soma_busy_cycles: tuple[int, ...]
    integrate_busy_cycles: tuple[int, ...]
    ejection_stall_cycles: tuple[int, ...]
    fires: dict
    trains: dict
    readout: np.ndarray
    predicted: int
    spikes: dict
    actions: dict = field(default_factory=dict)
    link_wait_cycles: dict = field(default_factory=dict)
    link_stall_cycles: dict = field(default_factory=dict)
    noc_buffer_peak_flits: tuple = ()
