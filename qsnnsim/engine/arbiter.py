"""Work-conserving round-robin links (docs/timing-model.md §10.1), as simpy events.

Unlike :class:`~qsnnsim.engine.router.LinkUnit`, whose fixed order lets it grant ahead, a
round-robin link can only choose at the cycle it chooses: which trains wait there depends on
what arrived by then. So every choice is an event at that cycle, at priority ``ARBITRATE``,
after the fire ends and host emissions of the cycle (which make trains eligible now) have
been offered. Nothing a link grants at cycle ``c`` can make another train eligible before
``c + 1``, so the links of one cycle never depend on each other's choice.
"""

from __future__ import annotations

import simpy

from qsnnsim.engine.router import DECIDE, call_at

ARBITRATE = DECIDE + 1
#: Input ports of a router in round-robin order (§10.1); a mesh input is named by the
#: neighbour it comes from (north is row - 1).
IN_PORTS = ("local", "host", "north", "east", "south", "west")
LOCAL, HOST = 0, 1


def input_port(previous_link: tuple, mesh_cols: int) -> int:
    """The input port through which a train that crossed ``previous_link`` enters the next router."""
    kind = previous_link[0]
    if kind == "inject":
        return LOCAL
    if kind == "host":
        return HOST
    src, dst = previous_link[1], previous_link[2]
    (rs, cs), (rd, cd) = divmod(src, mesh_cols), divmod(dst, mesh_cols)
    if rs < rd:
        return 2  # came from the north
    if cs > cd:
        return 3  # from the east
    if rs > rd:
        return 4  # from the south
    return 5      # from the west


class RoundRobinChooser:
    """The choice of §10.1 over the trains waiting at one link, shared by the train-level and
    the flit-level links: per input port, the one eligible first (ties: smaller key), the ports
    taken round-robin from the one after the last granted."""

    def __init__(self):
        self.waiting: list[list] = [[] for _ in IN_PORTS]
        self.pointer = len(IN_PORTS) - 1  # west: the first grant looks at local first

    def add(self, eligible: int, key: tuple, train, in_port: int) -> None:
        self.waiting[in_port].append((eligible, key, train))

    def __bool__(self) -> bool:
        return any(self.waiting)

    def next_eligible(self) -> int:
        return min(e for port in self.waiting for e, _, _ in port)

    def choose(self, now: int):
        """Remove and return ``(eligible, key, train)`` of the train granted at ``now``, or None."""
        n = len(IN_PORTS)
        for step in range(1, n + 1):
            port = (self.pointer + step) % n
            candidates = [w for w in self.waiting[port] if w[0] <= now]
            if candidates:
                best = min(candidates, key=lambda w: (w[0], w[1]))
                self.waiting[port].remove(best)
                self.pointer = port
                return best
        return None


class RoundRobinLink:
    """One link with unbounded downstream buffers, granting whole trains round-robin.

    ``on_grant(train, grant_cycle, eligible_cycle)`` is called at the grant cycle and returns
    the first cycle the link is free again (as for :class:`~qsnnsim.engine.router.LinkUnit`).
    """

    def __init__(self, env: simpy.Environment, router_core: int, on_grant, name: str = ""):
        self.env = env
        self.router_core = router_core
        self.on_grant = on_grant
        self.name = name
        self.free_at = 0
        self.chooser = RoundRobinChooser()
        self._decisions: set[int] = set()

    def offer(self, train, key, eligible: int | None = None, in_port: int = LOCAL) -> None:
        eligible = self.env.now if eligible is None else eligible
        self.chooser.add(eligible, key, train, in_port)
        self._schedule(max(eligible, self.free_at, self.env.now))

    def _schedule(self, when: int) -> None:
        if when not in self._decisions:
            self._decisions.add(when)
            call_at(self.env, when, lambda: self._decide(when), ARBITRATE)

    def _decide(self, when: int) -> None:
        self._decisions.discard(when)
        now = self.env.now
        if now < self.free_at or not self.chooser:
            return  # busy: the grant that made it busy scheduled the next choice
        chosen = self.chooser.choose(now)
        if chosen is None:
            return  # nothing eligible yet: each offer scheduled its own eligibility cycle
        eligible, _, train = chosen
        self.free_at = self.on_grant(train, now, eligible)
        if self.chooser:
            self._schedule(max(self.free_at, self.chooser.next_eligible()))

    def held(self) -> bool:
        return bool(self.chooser)
