"""Core units: a core's soma (fire phases) and its integrate unit, as simpy-driven objects.

docs/timing-model.md §4-§5. A :class:`CoreUnit` owns, for one pass, the readiness of its
slices (markers received, own previous fire, credits from destinations), starts the next
fire of the pass's fixed service order (docs/timing-model.md §2b) at priority DECIDE once it
is ready, and holds the integrate unit's state (spike-buffer ring,
issue cycle). Neuron arithmetic is not done here: ``start_fire`` hands the fire to the
pass, which calls the kernels.
"""

from __future__ import annotations

import numpy as np
import simpy

from qsnnsim.engine.router import DECIDE, call_at


class Readiness:
    """Conditions still missing before a unit may handle its next timestep."""

    def __init__(self, missing: int):
        self.next_t = 0
        self.missing = missing
        self.ready = 0

    def reset(self, t: int, missing: int) -> None:
        self.next_t = t
        self.missing = missing
        self.ready = 0

    def satisfy(self, t: int, cycle: int) -> bool:
        """One condition of timestep ``t`` holds from ``cycle``; True when none is missing."""
        if t != self.next_t:
            raise RuntimeError(f"condition for timestep {t} while waiting for {self.next_t}")
        self.missing -= 1
        self.ready = max(self.ready, cycle)
        return self.missing == 0


class CoreUnit:
    """One core in one pass: its soma, serving fires in the pass's fixed order, and its integrate-unit state."""

    def __init__(self, env: simpy.Environment, core: int, fire_sequence: list, spike_buffer_packets: int,
                 start_fire):
        self.env = env
        self.core = core
        self.fire_sequence = fire_sequence   # (slice index, t) in service order (engine/order.py)
        self.next = 0
        self.start_fire = start_fire   # (slice index, now) -> fire cycles; the pass does the work
        self.busy_until = 0
        self.readiness: dict[int, Readiness] = {}
        self.ring = np.zeros(spike_buffer_packets, np.int64)
        self.integrate_state = np.zeros(2, np.int64)
        self._decisions: set[int] = set()

    def schedule_decision(self, when: int) -> None:
        if when not in self._decisions:
            self._decisions.add(when)
            call_at(self.env, when, lambda: self._decide(when), DECIDE)

    def _decide(self, when: int) -> None:
        # Only the next fire in order may start, even if a later one is ready: that fixed order is
        # what keeps latency monotone in every cost (docs/timing-model.md §2b).
        self._decisions.discard(when)
        now = self.env.now
        if self.busy_until > now or self.next == len(self.fire_sequence):
            return
        sid, t = self.fire_sequence[self.next]
        r = self.readiness[sid]
        if r.next_t != t or r.missing != 0:
            return
        if r.ready > now:
            self.schedule_decision(r.ready)
            return
        self.next += 1
        cycles = self.start_fire(sid, now)
        self.busy_until = now + cycles
