"""Addresses and routes of a system of chips (DESIGN §12, docs/timing-model.md §12).

The one place that knows how cores are numbered across chips and which way a packet goes. A
system of ``chip_rows x chip_cols`` identical chips of ``mesh_rows x mesh_cols`` cores is one
grid of cores: a core id is ``grid_row * grid_cols + grid_col``, its address ``(chip, row,
col)``. Routes are XY on the grid (along the row, then along the column), so a packet crosses
the chips of its row and then those of its column; a hop between routers of two chips is a
chip-to-chip link. A one-chip arch is a system of one chip, with the ids it always had.
Mapping, engine and footprint use this module; the cycle reference keeps its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qsnnsim.arch import ArchSpec


@dataclass(frozen=True)
class Topology:
    """The grid of a system and its chip boundaries."""

    chip_rows: int
    chip_cols: int
    mesh_rows: int
    mesh_cols: int
    io_core: int

    @property
    def grid_rows(self) -> int:
        return self.chip_rows * self.mesh_rows

    @property
    def grid_cols(self) -> int:
        return self.chip_cols * self.mesh_cols

    @property
    def n_cores(self) -> int:
        return self.grid_rows * self.grid_cols

    @property
    def n_chips(self) -> int:
        return self.chip_rows * self.chip_cols

    def address(self, core: int) -> tuple[int, int, int]:
        """``(chip, row, col)`` of a core id."""
        grid_row, grid_col = divmod(core, self.grid_cols)
        chip = (grid_row // self.mesh_rows) * self.chip_cols + grid_col // self.mesh_cols
        return chip, grid_row % self.mesh_rows, grid_col % self.mesh_cols

    def core_id(self, chip: int, row: int, col: int) -> int:
        chip_row, chip_col = divmod(chip, self.chip_cols)
        return (chip_row * self.mesh_rows + row) * self.grid_cols + chip_col * self.mesh_cols + col

    def chip_of(self, core: int) -> int:
        return self.address(core)[0]

    def is_chip_link(self, a: int, b: int) -> bool:
        """The hop from router ``a`` to its neighbour ``b`` leaves a's chip."""
        return self.chip_of(a) != self.chip_of(b)

    def hops(self, a: int, b: int) -> int:
        """Manhattan distance on the grid (the XY route's length)."""
        (ra, ca), (rb, cb) = divmod(a, self.grid_cols), divmod(b, self.grid_cols)
        return abs(ra - rb) + abs(ca - cb)

    def xy_hops(self, src: int, dst: int) -> list[tuple[int, int]]:
        """The links of the XY route from router ``src`` to router ``dst``, as (router, next router)."""
        return xy_hops(src, dst, self.grid_cols)

    def chip_link_hops(self, src: int, dst: int) -> int:
        """Chip-to-chip links on the XY route from ``src`` to ``dst`` (either way): one per chip
        boundary crossed, so the distance between the two chips on the mesh of chips."""
        (ra, ca), (rb, cb) = divmod(self.chip_of(src), self.chip_cols), divmod(self.chip_of(dst), self.chip_cols)
        return abs(ra - rb) + abs(ca - cb)

    def snake(self, start_corner: tuple[int, int]) -> list[int]:
        """Every core, chip after chip along a boustrophedon over the chips, and within each chip
        along a boustrophedon over its cores, so consecutive cores are neighbours and a chip is
        finished before the next (a neighbour) begins. ``start_corner`` is (row, col) on the grid;
        the walk starts in the corner chip nearest it and, there, in the corner core nearest it."""
        flip_rows = start_corner[0] >= self.grid_rows / 2
        flip_cols = start_corner[1] >= self.grid_cols / 2
        order = []
        chips = [(cr, cc if cr % 2 == 0 else self.chip_cols - 1 - cc)
                 for cr in range(self.chip_rows) for cc in range(self.chip_cols)]
        for k, (cr, cc) in enumerate(chips):
            # enter each chip from the side its predecessor left: alternate the inner walk
            reverse = k % 2 == 1 and self.chip_cols > 1
            cells = []
            for r in range(self.mesh_rows):
                cols = range(self.mesh_cols)
                if (r % 2 == 1) != reverse:
                    cols = reversed(cols)
                cells.extend((r, c) for c in cols)
            for r, c in cells:
                gr, gc = cr * self.mesh_rows + r, cc * self.mesh_cols + c
                if flip_rows:
                    gr = self.grid_rows - 1 - gr
                if flip_cols:
                    gc = self.grid_cols - 1 - gc
                order.append(gr * self.grid_cols + gc)
        return order


def topology(arch: ArchSpec) -> Topology:
    """The system the arch describes (one chip without a ``system`` section)."""
    return Topology(arch.system.chip_rows, arch.system.chip_cols, arch.chip.mesh_rows, arch.chip.mesh_cols,
                    arch.io_core)


def chip_link_packet_cycles(arch: ArchSpec) -> int:
    """Cycles one packet occupies a chip-to-chip link: ceil(flit bits / bandwidth)."""
    return math.ceil(arch.noc.flit_bits / max(1.0, arch.system.link.bandwidth_bits_per_cycle.value))


def chip_link_latency_cycles(arch: ArchSpec) -> int:
    return int(arch.system.link.latency_cycles.value)


def xy_hops(src_core: int, dst_core: int, grid_cols: int) -> list[tuple[int, int]]:
    """The mesh links of an XY route on a grid ``grid_cols`` wide, as (router core, next router
    core): along the row first, then along the column."""
    r, c = divmod(src_core, grid_cols)
    dr, dc = divmod(dst_core, grid_cols)
    hops = []
    while c != dc:
        here = r * grid_cols + c
        c += 1 if dc > c else -1
        hops.append((here, r * grid_cols + c))
    while r != dr:
        here = r * grid_cols + c
        r += 1 if dr > r else -1
        hops.append((here, r * grid_cols + c))
    return hops


def chip_holdings(mapping, arch: ArchSpec, workload=None) -> list[dict]:
    """What each chip holds, per chip in id order: slices, neurons, weight and membrane words
    (over all passes), for ``qsnnsim map`` and the report (DESIGN §12)."""
    topo = topology(arch)
    rows = [{"chip": c, "position": divmod(c, topo.chip_cols), "slices": 0, "neurons": 0, "weight_words": 0,
             "membrane_words": 0, "populations": []} for c in range(topo.n_chips)]
    for s in mapping.slices:
        row = rows[topo.chip_of(s.core)]
        row["slices"] += 1
        row["neurons"] += s.n_neurons
        row["weight_words"] += s.weight_words
        row["membrane_words"] += s.membrane_words
        if s.population not in row["populations"]:
            row["populations"].append(s.population)
    return rows


def chip_link_loads(link_flits: dict, arch: ArchSpec) -> list[tuple[int, int, int]]:
    """``(router, next router, flits)`` of every chip-to-chip link that carried a packet."""
    topo = topology(arch)
    return [(a, b, int(n)) for (a, b), n in sorted(link_flits.items()) if a != b and topo.is_chip_link(a, b)]
