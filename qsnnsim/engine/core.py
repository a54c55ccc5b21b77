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
    """Conditions still missing before a unit may handle each timestep (docs/timing-model.md §5).

    ``needs[t]`` is how many conditions timestep ``t`` has; each ``satisfy(t, cycle)`` meets one
    from ``cycle`` on. A condition of a later timestep may be met while the unit still waits for
    an earlier one (a delayed train's marker, §5b), so every timestep keeps its own count.
    """

    def __init__(self, needs):
        self.next_t = 0
        self.missing = list(needs)
        self.ready_at = [0] * len(self.missing)
        self.cause = [("start",)] * len(self.missing)  # the condition met last (the critical path's step)

    @property
    def ready(self) -> int:
        """The cycle the next timestep's met conditions allow it from."""
        return self.ready_at[self.next_t] if self.next_t < len(self.ready_at) else 0

    def is_ready(self) -> bool:
        """Every condition of the next timestep is met (a past run end never is)."""
        return self.next_t < len(self.missing) and self.missing[self.next_t] == 0

    def advance(self) -> None:
        """The next timestep starts: the unit now waits for the one after."""
        self.next_t += 1

    def satisfy(self, t: int, cycle: int, cause=("start",)) -> bool:
        """One condition of timestep ``t`` holds from ``cycle``; True when ``t`` is the next
        timestep and none of its conditions is missing. ``cause`` names the condition (a train,
        a credit, the unit's own previous timestep), kept when it is the latest."""
        if self.missing[t] <= 0:
            raise RuntimeError(f"a condition of timestep {t} met more often than it exists")
        self.missing[t] -= 1
        if cycle > self.ready_at[t]:
            self.ready_at[t] = cycle
            self.cause[t] = cause
        return t == self.next_t and self.missing[t] == 0


class CoreUnit:
    """One core in one pass: its soma, serving fires in the pass's fixed order, and its integrate-unit state."""

    def __init__(self, env: simpy.Environment, core: int, fire_sequence: list, spike_buffer_packets: int,
                 start_fire, ready_order: bool = False):
        self.env = env
        self.core = core
        self.fire_sequence = fire_sequence   # (slice index, t) in service order (engine/order.py)
        self.ready_order = ready_order       # core.soma_order: ready (docs/timing-model.md §10.2)
        self.last_fire = None                # (slice, t) of the soma's previous fire
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
        if self.ready_order:
            self._start_earliest_ready(now)
            return
        sid, t = self.fire_sequence[self.next]
        r = self.readiness[sid]
        if r.next_t != t or not r.is_ready():
            return
        if r.ready > now:
            self.schedule_decision(r.ready)
            return
        self.next += 1
        cycles = self.start_fire(sid, now)
        self.busy_until = now + cycles

    def _start_earliest_ready(self, now: int) -> None:
        # Work-conserving (§10.2): of the slices whose next timestep is ready by now, the one
        # ready first; ties to the smaller timestep, then the smaller slice.
        best = None
        later = None
        for sid, r in self.readiness.items():
            if r.is_ready():
                if r.ready <= now:
                    job = (r.ready, r.next_t, sid)
                    if best is None or job < best:
                        best = job
                elif later is None or r.ready < later:
                    later = r.ready
        if best is None:
            # A slice whose last condition was its own previous fire is ready only from its other
            # conditions' cycles, which may be later than that fire's end: decide again then.
            if later is not None:
                self.schedule_decision(later)
            return
        self.next += 1
        cycles = self.start_fire(best[2], now)
        self.busy_until = now + cycles
