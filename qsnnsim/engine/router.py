"""Mesh NoC as simpy events: links that serve trains first-come-first-served.

docs/timing-model.md §3. A :class:`LinkUnit` is one router output port (mesh link or
ejection) or one injection port. Trains are *offered* to a link at the cycle they become
eligible; the link grants them in increasing ``(eligible cycle, rank)``. Grant decisions
run at priority ``DECIDE``, after every ordinary event of the same cycle, so a train that
becomes eligible in a cycle always competes in that cycle's decision, whatever order simpy
processed the cycle's events in. No neuron state is touched here.
"""

from __future__ import annotations

import heapq

import simpy

# simpy orders events of one cycle by (priority, insertion); URGENT=0, NORMAL=1.
NORMAL = simpy.core.NORMAL
DECIDE = NORMAL + 1

# Input port ranks (tie-break among trains eligible in the same cycle).
PORT_LOCAL, PORT_HOST, PORT_NORTH, PORT_EAST, PORT_SOUTH, PORT_WEST = range(6)


def call_at(env: simpy.Environment, when: int, fn, priority: int = NORMAL) -> None:
    """Run ``fn()`` at cycle ``when`` (>= now) with the given event priority."""
    event = simpy.Event(env)
    event._ok = True  # a pre-triggered event, as simpy's own Timeout is
    event._value = None
    event.callbacks.append(lambda _event: fn())
    env.schedule(event, priority, when - env.now)


def xy_hops(src_core: int, dst_core: int, mesh_cols: int) -> list[tuple[int, int, int]]:
    """The mesh links of an XY route: (router core, next router core, input rank there)."""
    r, c = divmod(src_core, mesh_cols)
    dr, dc = divmod(dst_core, mesh_cols)
    hops = []
    while c != dc:
        step = 1 if dc > c else -1
        here = r * mesh_cols + c
        c += step
        hops.append((here, r * mesh_cols + c, PORT_WEST if step > 0 else PORT_EAST))
    while r != dr:
        step = 1 if dr > r else -1
        here = r * mesh_cols + c
        r += step
        hops.append((here, r * mesh_cols + c, PORT_NORTH if step > 0 else PORT_SOUTH))
    return hops


class LinkUnit:
    """One link: FCFS by (eligible cycle, rank), one train at a time.

    ``on_grant(train, grant_cycle, eligible_cycle)`` is called when a train wins the link
    and returns the first cycle the link is free again.
    """

    def __init__(self, env: simpy.Environment, router_core: int, on_grant):
        self.env = env
        self.router_core = router_core
        self.on_grant = on_grant
        self.free_at = 0
        self._pending: list = []
        self._decisions: set[int] = set()
        self._seq = 0

    def offer(self, train, rank: int, eligible: int | None = None) -> None:
        """The train competes for this link from cycle ``eligible`` on (default: now).

        An offer for a later cycle needs no event of its own: it waits in the queue, and the
        decision at that cycle sees it, because every train eligible at a cycle is offered
        before that cycle's decisions run.
        """
        eligible = self.env.now if eligible is None else eligible
        self._seq += 1
        heapq.heappush(self._pending, (eligible, rank, self._seq, train))
        self._schedule(max(eligible, self.free_at))

    def _schedule(self, when: int) -> None:
        if when not in self._decisions:
            self._decisions.add(when)
            call_at(self.env, when, lambda: self._decide(when), DECIDE)

    def _decide(self, when: int) -> None:
        self._decisions.discard(when)
        if not self._pending or self.free_at > self.env.now:
            return
        if self._pending[0][0] > self.env.now:
            self._schedule(self._pending[0][0])
            return
        eligible, _rank, _seq, train = heapq.heappop(self._pending)
        self.free_at = self.on_grant(train, self.env.now, eligible)
        if self._pending:
            self._schedule(max(self.env.now, self.free_at))
