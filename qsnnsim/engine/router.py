"""Mesh NoC as simpy events: links that serve trains in the pass's fixed order.

docs/timing-model.md §2b-§3. A :class:`LinkUnit` is one router output port (mesh link or
ejection) or one injection port. It knows, before the pass starts, the keys of every train
it will carry, in the order it serves them (engine/order.py); trains are *offered* when they
become eligible, and the next train in order is granted at ``max(eligible, free)``, so a link
idles for a late train rather than let a later one pass it. No neuron state is touched here.
``call_at`` and the ``DECIDE`` priority are the event helpers the core units share.
"""

from __future__ import annotations

import simpy

from qsnnsim.system import (
    chip_link_latency_cycles,
    chip_link_packet_cycles,
    xy_hops,  # noqa: F401  (routes are the system module's; re-exported)
)

# simpy orders events of one cycle by (priority, insertion); URGENT=0, NORMAL=1.
NORMAL = simpy.core.NORMAL
DECIDE = NORMAL + 1


def call_at(env: simpy.Environment, when: int, fn, priority: int = NORMAL) -> None:
    """Run ``fn()`` at cycle ``when`` (>= now) with the given event priority."""
    event = simpy.Event(env)
    event._ok = True  # a pre-triggered event, as simpy's own Timeout is
    event._value = None
    event.callbacks.append(lambda _event: fn())
    env.schedule(event, priority, when - env.now)


def link_timing(name: tuple, topology, arch, io_core: int) -> tuple[int, int, int, bool]:
    """(router core, forward latency, cycles per packet, chip-to-chip) of a link named as
    engine/order.py names them: a hop between chips is slower and longer (docs/timing-model.md
    §12); an injection or ejection port forwards in 1 cycle; the host port belongs to the io core."""
    kind = name[0]
    chip_link = kind == "mesh" and topology.is_chip_link(name[1], name[2])
    if chip_link:
        return name[1], chip_link_latency_cycles(arch), chip_link_packet_cycles(arch), True
    forward = arch.noc.link_latency_cycles if kind == "mesh" else 1
    return (io_core if kind == "host" else name[1]), forward, 1, False


class LinkUnit:
    """One link: grants its trains one at a time, in the fixed order ``sequence`` of train keys.

    ``on_grant(train, grant_cycle, eligible_cycle)`` is called when a train wins the link
    and returns the first cycle the link is free again.

    Because the order is fixed, a train's grant cycle ``max(eligible, free)`` is known as
    soon as the train and every train before it in the sequence have been offered: the link
    grants it then, possibly for a later cycle, and needs no event of its own (the kernels
    likewise compute whole phases ahead). Effects that other units wait for (a marker
    completing in the integrate pipeline) are still delivered as events at their cycle.
    """

    def __init__(self, env: simpy.Environment, router_core: int, on_grant, sequence: list):
        self.env = env
        self.router_core = router_core
        self.on_grant = on_grant
        self.sequence = sequence
        self.next = 0
        self.free_at = 0
        self.name = ""
        self._offered: dict = {}
        self._granting = False

    def offer(self, train, key, eligible: int | None = None, in_port: int = 0) -> None:
        """The train with ``key`` can use this link from cycle ``eligible`` on (default: now).
        ``in_port`` (the router input it comes through) matters only to round-robin links."""
        self._offered[key] = (self.env.now if eligible is None else eligible, train)
        if self._granting:
            return  # a grant in progress here led back to this link; its loop takes the offer
        self._granting = True
        try:
            while self.next < len(self.sequence):
                offer = self._offered.pop(self.sequence[self.next], None)
                if offer is None:
                    break
                eligible, train = offer
                self.next += 1
                self.free_at = self.on_grant(train, max(eligible, self.free_at), eligible)
        finally:
            self._granting = False

    def held(self) -> bool:
        """Trains are offered here that the fixed order does not let through yet."""
        return bool(self._offered)
