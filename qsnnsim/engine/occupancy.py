"""What the NoC reports beyond cycles: per-link waits and stalls, router buffer occupancy.

docs/timing-model.md §11. Links are named ``inject c``, ``host``, ``a->b`` and ``eject c``. An
input port of a router holds a packet from the cycle it enters (its crossing of the link into
the port plus that link's latency) until the cycle it crosses its next link; the peak of that
count over every input port of a router and every cycle is the router's
``noc_buffer_peak_flits``. Packets enter and leave a port in runs of consecutive cycles (a
whole train when nothing holds it back), so the log keeps runs, and the peak is found by one
sweep over the points where a run starts or ends.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit


def link_name(link: tuple) -> str:
    """The report name of an engine link key (``("mesh", a, b)`` -> ``"a->b"``)."""
    kind = link[0]
    if kind == "mesh":
        return f"{link[1]}->{link[2]}"
    return "host" if kind == "host" else f"{kind} {link[1]}"


class NocLog:
    """Per-sample NoC figures, summed over the passes of the sample."""

    def __init__(self, n_routers: int, enabled: bool = True):
        self.n_routers = n_routers
        self.enabled = enabled         # off: only fire_waits are kept (a run's untraced samples)
        self.wait_cycles: dict = {}    # link name -> cycles trains waited for a grant
        self.stall_cycles: dict = {}   # link name -> cycles packets waited for a credit
        self._runs: dict = {}          # (router, input port, pass) -> [entry starts, lengths, exit starts, lengths, exit cycle arrays]
        self.fire_waits: dict = {}     # (slice, t) or ("host", pass, t) -> the condition its start waited for

    def carried(self, name: str) -> None:
        """The link carried a train (so it is listed, possibly with zero cycles)."""
        if not self.enabled:
            return
        self.wait_cycles.setdefault(name, 0)
        self.stall_cycles.setdefault(name, 0)

    def wait(self, name: str, cycles: int) -> None:
        if not self.enabled:
            return
        self.wait_cycles[name] = self.wait_cycles.get(name, 0) + cycles

    def stall(self, name: str, cycles: int) -> None:
        if not self.enabled:
            return
        self.stall_cycles[name] = self.stall_cycles.get(name, 0) + cycles

    def held(self, port: tuple, enter: int, n_enter: int, leave: int, n_leave: int) -> None:
        """``n_enter`` packets enter ``port`` at consecutive cycles from ``enter``; ``n_leave``
        leave it at consecutive cycles from ``leave`` (either count may be 0)."""
        if not self.enabled:
            return
        runs = self._runs.get(port)
        if runs is None:
            runs = self._runs[port] = ([], [], [], [], [])
        if n_enter:
            runs[0].append(enter)
            runs[1].append(n_enter)
        if n_leave:
            runs[2].append(leave)
            runs[3].append(n_leave)

    def held_points(self, port: tuple, cycles: np.ndarray, sign: int) -> None:
        """Packets enter (``sign`` +1) or leave (-1) ``port`` at ``cycles``, not one per cycle
        (behind a chip-to-chip link, or held by a full spike buffer)."""
        if not self.enabled:
            return
        runs = self._runs.get(port)
        if runs is None:
            runs = self._runs[port] = ([], [], [], [], [])
        runs[4].append((np.asarray(cycles, np.int64), sign))

    def buffer_peaks(self) -> tuple:
        """``noc_buffer_peak_flits`` per router (the fullest input port at its fullest cycle);
        empty when the log is off."""
        if not self.enabled:
            return ()
        peaks = np.zeros(self.n_routers, np.int64)
        empty = np.zeros(0, np.int64)
        for port, runs in self._runs.items():
            router = port[0]
            cycles = np.concatenate([c for c, _ in runs[4]]) if runs[4] else empty
            signs = np.concatenate([np.full(c.size, sign, np.int64) for c, sign in runs[4]]) if runs[4] else empty
            if cycles.size > 1 and (np.diff(cycles) < 0).any():
                order = np.argsort(cycles, kind="stable")
                cycles, signs = cycles[order], signs[order]
            peaks[router] = max(peaks[router], _peak(runs[0], runs[1], runs[2], runs[3], cycles, signs))
        return tuple(int(p) for p in peaks)


def _peak(enter, n_enter, leave, n_leave, points, signs) -> int:
    """Max over cycles c of #entered at <= c minus #left at <= c: entries and exits in runs of one
    packet per cycle, plus single entries (+1) and exits (-1) at the sorted cycles ``points``."""
    e0 = np.asarray(enter, np.int64)
    x0 = np.asarray(leave, np.int64)
    # The runs' count changes slope only where a run starts or ends.
    times = np.concatenate([e0, e0 + np.asarray(n_enter, np.int64), x0, x0 + np.asarray(n_leave, np.int64)])
    if times.size == 0 and points.size == 0:
        return 0
    slope = np.concatenate([np.ones(e0.size, np.int64), -np.ones(e0.size, np.int64),
                            -np.ones(x0.size, np.int64), np.ones(x0.size, np.int64)])
    order = np.argsort(times, kind="stable")
    times, slope = times[order], slope[order]
    uniq, first = np.unique(times, return_index=True)
    change = np.add.reduceat(slope, first) if times.size else np.zeros(0, np.int64)
    return int(peak_sweep(uniq, change, points, signs))


@jit
def peak_sweep(times, slope_change, points, signs):
    """One merge of the runs' slope changes (sorted, unique ``times``) with the single entries
    and exits ``points`` (sorted, ``signs`` +1 or -1): the highest count at any cycle, at least
    0. Between two events the count is linear, so its highest value is at a cycle just before
    or at an event."""
    best = 0
    level = 0        # the count at cycle ``cur``
    rate = 0         # its change per cycle after ``cur``, until the next slope change
    if times.shape[0] and (points.shape[0] == 0 or times[0] <= points[0]):
        cur = times[0] - 1
    else:
        cur = points[0] - 1
    i = 0
    j = 0
    n_times = times.shape[0]
    n_points = points.shape[0]
    while i < n_times or j < n_points:
        if j == n_points or (i < n_times and times[i] <= points[j]):
            when = times[i]
        else:
            when = points[j]
        before = level + rate * (when - 1 - cur)   # the count at when - 1
        if before > best:
            best = before
        while i < n_times and times[i] == when:
            rate += slope_change[i]
            i += 1
        level = before + rate
        while j < n_points and points[j] == when:
            level += signs[j]
            j += 1
        cur = when
        if level > best:
            best = level
    return best
