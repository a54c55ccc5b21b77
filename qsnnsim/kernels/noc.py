"""NoC-side kernels: ejection into the spike buffer and the integrate unit's issue times.

docs/timing-model.md §3-§4: packet k of a train granted the ejection port at ``grant`` is
ejected at ``u_k = max(u_{k-1} + 1, start(j - S) + 1)`` (``u_0 >= grant``), and the
integrate unit starts it at ``max(u_k + 1, start(j - 1) + cost(j - 1))``. The spike buffer
holds S packets, so a slot is free once the packet S places earlier has started; the
kernel keeps the last S start cycles in a ring.
"""

from __future__ import annotations

import numpy as np

from qsnnsim.kernels._jit import jit

STATE_N_EJECTED = 0
STATE_ISSUE_FREE = 1


@jit
def eject_train(grant, costs, ring, state):
    """Eject and schedule one train at a core; updates ``ring`` and ``state`` in place.

    Parameters
    ----------
    grant : int, cycle the train was granted the ejection port.
    costs : int64 (F,) integrate cost of each packet (the marker last, cost 1).
    ring : int64 (S,) start cycles of the core's last S packets (slot j % S).
    state : int64 (2,) [packets ejected so far at this core, first cycle the integrate
        unit can issue the next packet].

    Returns
    -------
    (delivery, marker_start, stall_cycles, busy_cycles) : ints. ``delivery`` is the cycle
    the marker entered the spike buffer; the ejection port is free from ``delivery + 1``.
    """
    n_slots = ring.shape[0]
    j = state[STATE_N_EJECTED]
    issue_free = state[STATE_ISSUE_FREE]
    u = grant - 1
    start = 0
    stall = 0
    busy = 0
    for k in range(costs.shape[0]):
        want = grant if k == 0 else u + 1
        u = want
        if j >= n_slots:
            # Back-pressure: the slot of packet j - S frees the cycle after it started.
            free = ring[j % n_slots] + 1
            if free > u:
                u = free
        stall += u - want
        start = u + 1
        if issue_free > start:
            start = issue_free
        ring[j % n_slots] = start
        issue_free = start + costs[k]
        busy += costs[k]
        j += 1
    state[STATE_N_EJECTED] = j
    state[STATE_ISSUE_FREE] = issue_free
    return u, start, stall, busy


@jit
def eject_spike_train(grant, spikes, cost, ring, state):
    """:func:`eject_train` for a train of ``spikes`` (source neuron indices, the marker after them).

    ``cost`` int64 (n_src,) is the integrate cost of a packet per source neuron; the marker costs 1.
    """
    n = spikes.shape[0]
    costs = np.empty(n + 1, dtype=np.int64)
    for i in range(n):
        costs[i] = cost[spikes[i]]
    costs[n] = 1
    return eject_train(grant, costs, ring, state)


@jit
def sum_over_spikes(counts, spikes, sums):
    """sums[k] = sum of counts[k, j] over the train's spike indices j (int32 counts, int64 sums)."""
    for k in range(counts.shape[0]):
        total = 0
        for i in range(spikes.shape[0]):
            total += counts[k, spikes[i]]
        sums[k] = total
