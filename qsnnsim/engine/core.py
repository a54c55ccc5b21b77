"""Core units: a core's soma (fire phases) and its integrate unit, as simpy-driven objects.

docs/timing-model.md §4-§5. A :class:`CoreUnit` owns, for one pass, the readiness of its
slices (markers received, own previous fire, credits from destinations), picks the next
slice to fire at priority DECIDE, and holds the integrate unit's state (spike-buffer ring,
issue cycle). Neuron arithmetic is not done here: the pass calls the kernels through
``fire_fn`` and ``eject_fn``.
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
    """One core in one pass: soma arbitration over its slices, integrate-unit state."""

    def __init__(self, env: simpy.Environment, core: int, slice_ids: list[int], spike_buffer_packets: int,
                 start_fire):
        self.env = env
        self.core = core
        self.slice_ids = sorted(slice_ids)
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
        self._decisions.discard(when)
        now = self.env.now
        if self.busy_until > now:
            return
        best = None
        for s in self.slice_ids:
            r = self.readiness[s]
            if r.missing == 0 and r.ready <= now:
                key = (r.ready, s)
                if best is None or key < best:
                    best = key
        if best is None:
            return
        cycles = self.start_fire(best[1], now)
        self.busy_until = now + cycles
