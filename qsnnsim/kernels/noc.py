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
def eject_train(grant, spikes, cost, marker, ring, state, record, paced_start=0, pace=0, known_cost=-1):
    """Eject and schedule one train at a core; updates ``ring`` and ``state`` in place.

    Parameters
    ----------
    grant : int, cycle the train was granted the ejection port.
    spikes : int (n,) source neuron indices of its spike packets, in order.
    cost : int (n_src,) integrate cost of a packet from each source neuron.
    marker : bool, the marker (cost 1) follows the spikes. The Python units of finite
        buffers eject one packet per call: a spike (``spikes`` of one) or the marker alone.
    ring : int64 (S,) start cycles of the core's last S packets (slot j % S).
    state : int64 (2,) [packets ejected so far at this core, first cycle the integrate
        unit can issue the next packet].
    record : int64 (F, 2) receives each packet's (ejection cycle u_k, integrate start), or
        an empty (0, 2) array to record nothing.
    paced_start, pace : behind a chip-to-chip link packet k is not at the port before
        ``paced_start + k * pace`` (docs/timing-model.md §12); ``pace`` 0: no such bound.
    known_cost : the sum of the packets' costs when the caller knows it (trains of one
        source reach cores that share a cost table), else -1.

    Returns
    -------
    (delivery, marker_start, stall_cycles, busy_cycles) : ints. ``delivery`` is the cycle
    the last packet (the marker, when there is one) entered the spike buffer, ``marker_start``
    the cycle the integrate unit started it; the ejection port is free from ``delivery + 1``.

    The cost of each packet is read here, in the loop, rather than gathered first: the reads
    do not depend on the recurrence, so the CPU overlaps them with it.
    """
    n_slots = ring.shape[0]
    n = spikes.shape[0]
    n_packets = n + 1 if marker else n
    keep = record.shape[0] > 0
    if not keep and not pace and n_slots >= 2 and n_packets > 0:
        return _eject_unpaced(grant, spikes, cost, n_packets, ring, state, known_cost)
    j = state[STATE_N_EJECTED]
    issue_free = state[STATE_ISSUE_FREE]
    slot = j % n_slots  # walked with a wrap below: a division per packet costs more than the rest
    full = j >= n_slots
    u = grant - 1
    start = 0
    stall = 0
    busy = 0
    for k in range(n_packets):
        c = np.int64(cost[spikes[k]]) if k < n else np.int64(1)
        want = u + 1  # u_0 = grant: u starts at grant - 1
        if pace:
            want = max(want, paced_start + k * pace)
        u = want
        if full:
            # Back-pressure: the slot of packet j - S frees the cycle after it started.
            u = max(u, ring[slot] + 1)
        stall += u - want
        start = max(u + 1, issue_free)
        if keep:
            record[k, 0] = u
            record[k, 1] = start
        ring[slot] = start
        issue_free = start + c
        busy += c
        slot += 1
        if slot == n_slots:
            slot = 0
            full = True
    state[STATE_N_EJECTED] = j + n_packets
    state[STATE_ISSUE_FREE] = issue_free
    return u, start, stall, busy


@jit
def _packet_cost(spikes, cost, k):
    """Integrate cost of packet k of a train: its spike's, or 1 for the marker after them."""
    return np.int64(cost[spikes[k]]) if k < spikes.shape[0] else np.int64(1)


@jit
def _eject_unpaced(grant, spikes, cost, n_packets, ring, state, known_cost):
    """:func:`eject_train` of a train no chip-to-chip link paces, in O(F + S) rather than a
    recurrence per packet, when nothing asks for the packets' own cycles.

    With a buffer of S >= 2 packets and every cost >= 1, packet k >= 1 of a train never
    waits for its own arrival: ``u_k + 1 <= start_{k-1} + c_{k-1}``, because ``u_{k-1} + 1 <=
    start_{k-1}`` and the packet S places earlier started at least two cycles before
    ``start_{k-1} + c_{k-1}`` (starts rise by at least 1 a packet). So the starts after the
    first are the first's plus the prefix sums of the costs. And ``u_k`` unrolls to
    ``max(u_0 + k, max_m(start of the packet S before m + 1 + k - m))``, whose inner term
    never decreases with m (again: starts rise by at least 1 a packet), so the last packet's
    ejection is ``max(u_0 + F - 1, start of the packet S before it + 1)``, and the stalls
    telescope to ``u_{F-1} - grant - (F - 1)``. Only the last S starts go into the ring.
    ``tests/property/test_eject_closed_form.py`` holds this to the recurrence. With
    ``known_cost``, a train costs O(S) whatever its length.
    """
    n_slots = ring.shape[0]
    j = state[STATE_N_EJECTED]
    last = n_packets - 1
    u_first = grant
    if j >= n_slots:
        u_first = max(u_first, ring[j % n_slots] + 1)
    start_first = max(u_first + 1, state[STATE_ISSUE_FREE])
    busy = known_cost
    if busy < 0:
        busy = train_cost(spikes, cost) + n_packets - spikes.shape[0]   # the marker's 1
    start_last = start_first + busy - _packet_cost(spikes, cost, last)
    # the start of the packet S places before the last (in this train or the ring), then the ring
    before = np.int64(-1)
    if last >= 1 and j + last >= n_slots and last < n_slots:
        before = ring[(j + last) % n_slots]
    lowest = max(0, n_packets - n_slots)           # the packets whose starts the ring keeps
    # the walk back goes one further than the ring needs when the packet S before the last is
    # in this train (then last - S == lowest - 1)
    walk_to = min(lowest, last - n_slots) if last >= n_slots else lowest
    slot = (j + last) % n_slots
    start = start_last
    k = last
    while True:
        if k >= lowest:
            ring[slot] = start
        if k == last - n_slots:
            before = start
        if k == walk_to:
            break
        k -= 1
        start -= _packet_cost(spikes, cost, k)
        slot = slot - 1 if slot > 0 else n_slots - 1
    u_last = u_first + last
    if before >= 0:
        u_last = max(u_last, before + 1)
    state[STATE_N_EJECTED] = j + n_packets
    state[STATE_ISSUE_FREE] = start_first + busy
    return u_last, start_last, u_last - grant - last, busy


@jit
def train_cost(spikes, cost):
    """The integrate cycles of a train's spike packets: the sum of ``cost`` over ``spikes``."""
    total = 0
    for k in range(spikes.shape[0]):
        total += cost[spikes[k]]
    return total


@jit
def train_sums(spikes, stats, sums):
    """A train's totals per target slice: ``sums`` int64 (n_targets, 3) receives, for each
    target, the weight words, updates and accumulator words of ``stats`` over ``spikes``."""
    n = spikes.shape[0]
    for k in range(stats.shape[0]):
        # one target at a time, its totals in registers: faster than one pass over the spikes
        words_row, updates_row, acc_row = stats[k, 0], stats[k, 1], stats[k, 2]
        words = 0
        updates = 0
        acc_words = 0
        for i in range(n):
            j = spikes[i]
            words += words_row[j]
            updates += updates_row[j]
            acc_words += acc_row[j]
        sums[k, 0] = words
        sums[k, 1] = updates
        sums[k, 2] = acc_words


@jit
def add_train_counts(sums, target_pops, target_actions, counts, t, count_columns):
    """Add :func:`train_sums`' totals to a core's ``counts`` (n_pops, T, n_actions) at ``t``:
    target k's updates under ``target_actions[k]`` of population ``target_pops[k]``, its weight
    words, accumulator reads and accumulator writes under the three ``count_columns``."""
    for k in range(target_pops.shape[0]):
        pop = target_pops[k]
        counts[pop, t, count_columns[0]] += sums[k, 0]
        counts[pop, t, target_actions[k]] += sums[k, 1]
        counts[pop, t, count_columns[1]] += sums[k, 2]
        counts[pop, t, count_columns[2]] += sums[k, 2]


@jit
def count_train(spikes, stats, target_pops, target_actions, counts, t, count_columns):
    """Add a train's counts per target slice (see :func:`eject_and_count`) without timing it."""
    sums = np.empty((stats.shape[0], 3), np.int64)
    train_sums(spikes, stats, sums)
    add_train_counts(sums, target_pops, target_actions, counts, t, count_columns)


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
    return eject_train(grant, spikes, cost, True, ring, state, record, paced_start, pace)
