"""The network of the reference model (timing doc §3, §10, §11, §12): the grid of routers of a
system of chips, its links, XY routes, the side band's credit latency, and the trains that cross it.

A system is ``system.chip_rows x system.chip_cols`` chips of ``chip.mesh_rows x chip.mesh_cols``
cores each; their cores form one grid of ``arch.grid_rows x arch.grid_cols`` cores, core id
``grid_row * grid_cols + grid_col`` (timing doc §12). Routes are XY on the grid. The hop between two
routers of different chips is a chip-to-chip link: a link like the others (its name ``"a->b"``,
its service order, the options of §10), but a packet occupies it for ``s = ceil(noc.flit_bits /
system.link.bandwidth_bits_per_cycle)`` cycles instead of 1, and its latency (forward, and its
credits' return with finite buffers) is ``L_c = system.link.latency_cycles`` instead of ``L``.
One chip has no chip-to-chip link, and its link values are never read.

This module only describes the network; :mod:`qsnnsim.reference.chip` steps it.
"""

from __future__ import annotations

from collections import deque

from qsnnsim.arch import ArchSpec

#: Input ports of a router in the cyclic order of round-robin arbitration (timing doc §10.1).
PORTS = ("local", "host", "north", "east", "south", "west")
LOCAL, HOST_PORT, NORTH, EAST, SOUTH, WEST = range(6)
#: The input port a train enters the next router through, by the output port it left on.
ENTERS_THROUGH = {"E": WEST, "W": EAST, "S": NORTH, "N": SOUTH}
#: Grid steps of a router's output ports (north is row - 1, east is col + 1).
STEPS = {"N": (-1, 0), "E": (0, 1), "S": (1, 0), "W": (0, -1)}


class Grid:
    """The system's grid of routers (timing doc §3, §12): who is whose neighbour, which hop joins two
    chips, the XY route between two cores and the credit latency along it.

    Parameters
    ----------
    arch : ArchSpec
        Its ``chip`` mesh, ``system`` (chips and chip-to-chip links), ``noc`` latencies and
        ``io_core``.
    """

    def __init__(self, arch: ArchSpec):
        self.rows, self.cols = arch.grid_rows, arch.grid_cols
        self.mesh_rows, self.mesh_cols = arch.chip.mesh_rows, arch.chip.mesh_cols  # one chip's mesh
        self.R = arch.noc.router_latency_cycles
        self.L = arch.noc.link_latency_cycles
        self.io_core = arch.io_core
        multi = arch.system.n_chips > 1  # a one-chip arch has placeholder link values: never read
        link = arch.system.link
        #: s: cycles a packet occupies a chip-to-chip link (the values are whole numbers, arch-checked).
        self.s_chip = -(-arch.noc.flit_bits // int(link.bandwidth_bits_per_cycle.value)) if multi else 1
        #: L_c: forward latency of a chip-to-chip link, also its credits' return latency.
        self.L_chip = int(link.latency_cycles.value) if multi else self.L

    def crosses_chips(self, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """The hop between neighbouring grid positions ``a`` and ``b`` joins two chips (timing doc §12)."""
        return (a[0] // self.mesh_rows, a[1] // self.mesh_cols) != (b[0] // self.mesh_rows, b[1] // self.mesh_cols)

    def links(self) -> dict[tuple, Link]:
        """Every link of the system, created in a fixed order: per core its injection port, its four
        output ports N, E, S, W (a port at the grid's edge leads nowhere; XY routing never uses it;
        one between two chips is a chip-to-chip link) and its ejection port; then the host port.
        Keys ``(core, "inj")``, ``(core, port)``, ``(core, "ej")``, ``("host",)``."""
        links: dict[tuple, Link] = {}
        order = 0
        for core in range(self.rows * self.cols):
            row, col = divmod(core, self.cols)
            links[(core, "inj")] = Link(order, 1, f"inject {core}", core, LOCAL)
            order += 1
            for port, (dr, dc) in STEPS.items():
                nbr = (row + dr) * self.cols + col + dc
                if self.crosses_chips((row, col), (row + dr, col + dc)):
                    links[(core, port)] = Link(order, self.L_chip, f"{core}->{nbr}", nbr, ENTERS_THROUGH[port],
                                               packet_cycles=self.s_chip, chip=True)
                else:
                    links[(core, port)] = Link(order, self.L, f"{core}->{nbr}", nbr, ENTERS_THROUGH[port])
                order += 1
            links[(core, "ej")] = Link(order, 0, f"eject {core}", eject_core=core)
            order += 1
        links[("host",)] = Link(order, 1, "host", self.io_core, HOST_PORT)
        return links

    def route(self, a: int, b: int) -> list[tuple[int, str]]:
        """The router output ports ``(core, port)`` of the XY route from core ``a`` to core ``b``:
        along the row to ``b``'s column, then along the column (timing doc §3, §12)."""
        hops = []
        (r, c), (rb, cb) = divmod(a, self.cols), divmod(b, self.cols)
        while (r, c) != (rb, cb):
            if c != cb:
                port = "E" if cb > c else "W"
            else:
                port = "S" if rb > r else "N"
            hops.append((r * self.cols + c, port))
            r, c = r + STEPS[port][0], c + STEPS[port][1]
        return hops

    def credit_cycles(self, a: int, b: int) -> int:
        """Side-band latency of a credit from core ``a`` to core ``b`` (timing doc §5 condition 3, §7).

        The doc's ``hops(a, b) * (R + L)``, read per hop for a system of chips (§12): each hop of the
        XY route from ``a`` to ``b`` costs ``R`` plus its own latency, ``L`` on a chip and ``L_c`` for
        a chip-to-chip hop. (The count of chip-to-chip hops does not depend on the route's direction:
        it is the chip-row plus the chip-column distance.) One chip: ``hops * (R + L)``.
        """
        total = 0
        for core, port in self.route(a, b):
            r, c = divmod(core, self.cols)
            nxt = (r + STEPS[port][0], c + STEPS[port][1])
            total += self.R + (self.L_chip if self.crosses_chips((r, c), nxt) else self.L)
        return total


class Train:
    """The packets one source sends to one core for one timestep, and where they are."""

    __slots__ = (
        "delivery",
        "dest",
        "eligible",
        "grants",
        "key",
        "marker_start",
        "packets",
        "path",
        "queues",
        "service_key",
        "source",
        "src_pop",
        "starts",
        "t",
        "u",
    )

    def __init__(self, key, service_key: tuple[int, int, int], source: int, src_pop: str, t: int, dest: int,
                 packets: list, path: list):
        self.key = key  # (pass, source, t, destination core), as timing doc §9 names trains
        self.service_key = service_key  # (level, source, destination core): its place in every link's order
        self.source = source
        self.src_pop = src_pop
        self.t = t
        self.dest = dest
        self.packets = packets  # (source neuron, value); the last one is the marker
        self.path = path
        # Packets routed and waiting in front of link h: (cycle they became available, i.e. a_k, k,
        # the occupancy cell of the input port they sit in, None before the first link).
        self.queues = [deque() for _ in path]
        self.grants: list[int] = []
        self.eligible: list[int] = []  # per link of the path: the cycle its head became eligible there
        self.delivery = -1
        self.marker_start = -1
        # Per packet k, filled as the units step: cycle it entered the spike buffer, cycle the
        # integrate unit started it (timing doc §3, §4). Reported only on request.
        self.u: list[int] = []
        self.starts: list[int] = []


class Link:
    """A router output port with its wire, an injection port or the host port (timing doc §3).

    A packet occupies the link for ``packet_cycles`` cycles (``s_l``: 1 on chip, ``s`` for a
    chip-to-chip link, timing doc §12): after a packet crosses at ``x`` the link moves nothing and
    grants no train before ``free_at = x + s_l``. ``latency`` is its forward latency (``L``, ``L_c``
    for a chip-to-chip link, 1 for an injection or host port, 0 for an ejection port), also its
    credits' return latency. ``chip`` marks a chip-to-chip link (it counts ``chip_link_bit``).

    ``schedule`` is the link's service order for the pass: the keys ``(level, source,
    destination core)`` of every train whose path crosses it, increasing (timing doc §2b). With
    round-robin arbitration (§10.1) it is only the list of the trains to come (its length says
    when all have been granted); the choice among waiting trains is made as they wait.

    Every link but an ejection port feeds one router input port (``downstream`` router, port
    ``in_port`` of :data:`PORTS`). ``cells`` are the packets that crossed it, one mutable
    ``[enter, leave, release]`` each: the cycle the packet entered that input port (``x + lat``),
    the cycle it left it by crossing its next link (``y``), and the cycle its slot is usable by
    this link again (``y + C``, ``C`` = this link's forward latency; timing doc §10.3, §11).
    ``held`` are the cells that may still hold a slot (finite buffers' credits).
    """

    __slots__ = ("cells", "chip", "downstream", "eject_core", "free_at", "held", "hop", "in_port", "latency",
                 "name", "next", "order", "owner", "packet_cycles", "pointer", "schedule", "stall", "wait",
                 "waiting")

    def __init__(self, order: int, latency: int, name: str, downstream: int = -1, in_port: int = -1,
                 eject_core: int = -1, packet_cycles: int = 1, chip: bool = False):
        self.order = order  # fixed visiting order, for determinism only
        self.latency = latency
        self.packet_cycles = packet_cycles  # s_l of timing doc §12
        self.chip = chip  # a chip-to-chip link (timing doc §12)
        self.free_at = 0  # last crossing + s_l: no packet moves and no train is granted before it
        self.name = name  # as timing doc §11 names links: "inject c", "host", "c->d", "eject c"
        self.downstream = downstream
        self.in_port = in_port
        self.eject_core = eject_core
        self.schedule: list[tuple[int, int, int]] = []
        self.next = 0  # trains granted so far (level order: position in schedule of the next one)
        self.waiting: dict[tuple[int, int, int], tuple[Train, int]] = {}  # eligible trains: key -> (train, hop)
        self.owner: Train | None = None
        self.hop = 0
        self.pointer = WEST  # round robin: the input port granted last (timing doc §10.1)
        self.cells: list[list] = []
        self.held: list[list] = []
        self.wait = 0  # link_wait_cycles: sum of g - e (timing doc §3)
        self.stall = 0  # link_stall_cycles: cycles a ready packet waited only for a credit (§10.3)


def buffer_peak(cells: list[list]) -> int:
    """Largest number of cells with ``enter <= c < leave`` at any cycle ``c`` (timing doc §11)."""
    edges = sorted([(cell[0], 1) for cell in cells] + [(cell[1], -1) for cell in cells])
    peak = now = 0
    for _, delta in edges:  # at equal cycles the leaves (-1) come first: a packet leaving at c is gone
        now += delta
        peak = max(peak, now)
    return peak
