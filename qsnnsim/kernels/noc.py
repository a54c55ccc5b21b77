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
def eject_train(grant, costs, ring, state, record, paced_start=0, pace=0):
    """Eject and schedule one train at a core; updates ``ring`` and ``state`` in place.

    Parameters
    ----------
    grant : int, cycle the train was granted the ejection port.
    costs : int64 (F,) integrate cost of each packet (the marker last, cost 1).
    ring : int64 (S,) start cycles of the core's last S packets (slot j % S).
    state : int64 (2,) [packets ejected so far at this core, first cycle the integrate
        unit can issue the next packet].
    record : int64 (F, 2) receives each packet's (ejection cycle u_k, integrate start), or
        an empty (0, 2) array to record nothing.
    paced_start, pace : behind a chip-to-chip link packet k is not at the port before
        ``paced_start + k * pace`` (docs/timing-model.md §12); ``pace`` 0: no such bound.

    Returns
    -------
    (delivery, marker_start, stall_cycles, busy_cycles) : ints. ``delivery`` is the cycle
    the marker entered the spike buffer; the ejection port is free from ``delivery + 1``.
    """
    n_slots = ring.shape[0]
    j = state[STATE_N_EJECTED]
    issue_free = state[STATE_ISSUE_FREE]
    slot = j % n_slots  # walked with a wrap below: a division per packet costs more than the rest
    full = j >= n_slots
    u = grant - 1
    start = 0
    stall = 0
    busy = 0
    for k in range(costs.shape[0]):
        want = grant if k == 0 else u + 1
        if pace:
            want = max(want, paced_start + k * pace)
        u = want
        if full:
            # Back-pressure: the slot of packet j - S frees the cycle after it started.
            u = max(u, ring[slot] + 1)
        stall += u - want
        start = max(u + 1, issue_free)
        if record.shape[0]:
            record[k, 0] = u
            record[k, 1] = start
        ring[slot] = start
        issue_free = start + costs[k]
        busy += costs[k]
        slot += 1
        if slot == n_slots:
            slot = 0
            full = True
    state[STATE_N_EJECTED] = j + costs.shape[0]
    state[STATE_ISSUE_FREE] = issue_free
    return u, start, stall, busy


@jit
def count_train(spikes, stats, target_pops, target_actions, counts, t, count_columns):
    """Add a train's counts per target slice (see :func:`eject_and_count`) without timing it."""
    n = spikes.shape[0]
    for k in range(stats.shape[0]):
        words_row, updates_row, acc_row = stats[k, 0], stats[k, 1], stats[k, 2]
        words = 0
        updates = 0
        acc_words = 0
        for i in range(n):
            j = spikes[i]
            words += words_row[j]
            updates += updates_row[j]
            acc_words += acc_row[j]
        pop = target_pops[k]
        counts[pop, t, count_columns[0]] += words
        counts[pop, t, target_actions[k]] += updates
        counts[pop, t, count_columns[1]] += acc_words
        counts[pop, t, count_columns[2]] += acc_words


@jit
def eject_and_count(grant, spikes, cost, stats, target_pops, target_actions, counts, t, count_columns,
                    ring, state, record, paced_start=0, pace=0):
    """:func:`eject_train` for a train of ``spikes`` (source neuron indices, the marker after
    them), and the train's counts per target slice added in the same call.

    ``cost`` (n_src,) is the integrate cost of a packet per source neuron; ``stats``
    (n_targets, 3, n_src) holds, per source neuron, the weight words, updates and
    accumulator words its packet causes in each target slice. Their totals over the train's
    spikes are added to ``counts`` int64 (n_pops, T, n_actions) of the core at timestep ``t``:
    target k's updates under action ``target_actions[k]`` of population ``target_pops[k]``,
    its weight words, accumulator reads and accumulator writes under the three actions
    ``count_columns`` int64 (3,) names.
    """
    count_train(spikes, stats, target_pops, target_actions, counts, t, count_columns)
    n = spikes.shape[0]
    costs = np.empty(n + 1, dtype=np.int64)
    for i in range(n):
        costs[i] = cost[spikes[i]]
    costs[n] = 1  # the marker
    return eject_train(grant, costs, ring, state, record, paced_start, pace)
