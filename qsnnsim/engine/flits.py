"""Links with finite router buffers: wormhole switching with credits (docs/timing-model.md §10.3).

With ``noc.router_buffers: finite`` a train no longer crosses a link as one block: each of its
packets crosses when it is ready there and the link holds a credit for a slot of the
downstream input port, so the engine follows packets one by one. A link is still granted to
one whole train (in the pass's fixed order, or round-robin, §10.1) and held until its last
packet has crossed. The ejection port computes each packet's entry into the spike buffer as
soon as the packet is ready (its rule looks only backwards, §3), and returns the packet's
router slot as a credit from then on.

Event order within a cycle: choices (``ARBITRATE``) before packet moves (``SEND``). A move at
cycle ``c`` makes the packet ready downstream at ``c + lat + R`` and frees its upstream slot
at ``c + C`` (both later than ``c``), so the moves of one cycle never depend on each other.
"""

from __future__ import annotations

import heapq

import simpy

from qsnnsim.engine.arbiter import ARBITRATE, RoundRobinChooser
from qsnnsim.engine.router import call_at

SEND = ARBITRATE + 1


class FlitPort:
    """What a finite-buffer link and an ejection port share: who holds it and who is next.

    ``sequence`` (train keys) gives the fixed order of §2b; None chooses round-robin.
    Subclasses move the holder's packets (:meth:`_granted`, :meth:`packet_ready`).
    """

    def __init__(self, env: simpy.Environment, name: str, router_core: int, sequence, on_grant):
        self.env = env
        self.name = name
        self.router_core = router_core
        self.on_grant = on_grant   # (train, grant, eligible) -> None: records the grant
        self.sequence = sequence
        self.next = 0
        self._offered: dict = {}
        self.chooser = None if sequence is not None else RoundRobinChooser()
        self.holder = None
        self.free_at = 0
        self._events: set = set()

    # -------------------------------------------------------------- arbitration
    def offer(self, train, key, eligible: int, in_port: int) -> None:
        if self.chooser is None:
            self._offered[key] = (eligible, train)
            self._grant_in_order()
        else:
            self.chooser.add(eligible, key, train, in_port)
            self._at(max(eligible, self.free_at, self.env.now), self._choose, ARBITRATE)

    def _grant_in_order(self) -> None:
        if self.holder is not None or self.next >= len(self.sequence):
            return
        offer = self._offered.pop(self.sequence[self.next], None)
        if offer is None:
            return
        eligible, train = offer
        self.next += 1
        self._grant(train, max(eligible, self.free_at), eligible)

    def _choose(self) -> None:
        now = self.env.now
        if self.holder is not None or now < self.free_at or not self.chooser:
            return
        chosen = self.chooser.choose(now)
        if chosen is not None:
            self._grant(chosen[2], now, chosen[0])

    def _grant(self, train, grant: int, eligible: int) -> None:
        self.holder = train
        self.on_grant(train, grant, eligible)
        self._granted(train, grant)

    def _release(self, free_at: int) -> None:
        self.holder = None
        self.free_at = free_at
        if self.chooser is None:
            self._grant_in_order()
        elif self.chooser:
            self._at(max(free_at, self.chooser.next_eligible()), self._choose, ARBITRATE)

    def _at(self, when: int, fn, priority: int) -> None:
        key = (when, fn.__name__)
        if key not in self._events:
            self._events.add(key)

            def run() -> None:
                self._events.discard(key)
                fn()
            call_at(self.env, when, run, priority)

    def held(self) -> bool:
        return self.holder is not None or bool(self.chooser) or bool(self._offered)


class FlitLink(FlitPort):
    """An injection port, the host port or a mesh link, feeding a router input port of ``depth`` slots.

    ``forward_latency`` is 1 for an injection or host port and L for a mesh link; a credit comes
    back over the same wire (``credit latency = forward latency``). ``on_move(train, index, k, x)``
    is told each packet move (index: this link's position in the train's path).
    """

    def __init__(self, env, name, router_core, sequence, on_grant, on_move, depth: int, forward_latency: int,
                 pace: int = 1):
        super().__init__(env, name, router_core, sequence, on_grant)
        self.on_move = on_move
        self.depth = depth
        self.forward_latency = forward_latency
        self.pace = pace     # cycles one packet occupies the link (a chip-to-chip link: ceil(flit / bandwidth))
        self.index = 0       # the holder's position of this link in its path
        self.k = 0           # the holder's next packet
        self.last = 0        # x_{k-1} + 1 (the grant cycle before the first packet)
        self.in_flight = 0   # packets downstream whose slot's release is not known yet
        self.releases: list = []  # heap of known cycles at which a downstream slot is usable again
        self.stall_cycles = 0

    def _granted(self, train, grant: int) -> None:
        self.index = len(train.grants) - 1
        self.k = 0
        self.last = grant
        self._at(grant, self._try, ARBITRATE + 1)

    def packet_ready(self, train) -> None:
        """A packet of ``train`` became ready here; move it when it is the holder's next."""
        if train is self.holder and self.k < len(train.ready[self.index]):
            self._at(max(self.last, train.ready[self.index][self.k], self.env.now), self._try, SEND)

    def credit(self, usable_from: int) -> None:
        """A downstream slot is released; the link may use it from ``usable_from`` on."""
        self.in_flight -= 1
        heapq.heappush(self.releases, usable_from)
        if self.holder is not None:
            self._at(max(usable_from, self.env.now), self._try, SEND)

    def _try(self) -> None:
        train = self.holder
        if train is None:
            return
        now = self.env.now
        ready = train.ready[self.index]
        if self.k >= len(ready):
            return  # not yet ready here: the upstream move will call packet_ready
        earliest = max(self.last, ready[self.k])
        if now < earliest:
            self._at(earliest, self._try, SEND)
            return
        while self.releases and self.releases[0] <= now:
            heapq.heappop(self.releases)
        if self.in_flight + len(self.releases) >= self.depth:
            if self.releases:
                self._at(self.releases[0], self._try, SEND)
            return  # no credit: a release (credit) will try again
        self.stall_cycles += now - earliest
        self.in_flight += 1
        k = self.k
        self.on_move(train, self.index, k, now, now - earliest)
        self.k += 1
        self.last = now + self.pace
        if self.k == train.n_packets:
            self._release(now + self.pace)
        else:
            self._at(now + self.pace, self._try, SEND)


class FlitEjectPort(FlitPort):
    """A core's ejection port: each packet enters the spike buffer by §3's rule once it is ready.

    ``on_packet(train, k, earliest)`` ejects packet k no earlier than ``earliest`` (the spike
    buffer may hold it back) and returns its ejection cycle ``u_k``.
    """

    def __init__(self, env, name, router_core, sequence, on_grant, on_packet):
        super().__init__(env, name, router_core, sequence, on_grant)
        self.on_packet = on_packet
        self.index = 0
        self.k = 0
        self.last = 0

    def _granted(self, train, grant: int) -> None:
        self.index = len(train.grants) - 1
        self.k = 0
        self.last = grant
        self._drain()

    def packet_ready(self, train) -> None:
        if train is self.holder:
            self._drain()

    def _drain(self) -> None:
        # The rule looks only at earlier packets of this core, all decided: compute at once.
        train = self.holder
        ready = train.ready[self.index]
        while train is self.holder and self.k < len(ready):
            u = self.on_packet(train, self.k, max(self.last, ready[self.k]))
            self.k += 1
            self.last = u + 1
            if self.k == train.n_packets:
                self._release(u + 1)
