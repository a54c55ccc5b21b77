"""The ejection of an unpaced train in O(F + S) (kernels/noc.py ``_eject_unpaced``) is the
per-packet recurrence of docs/timing-model.md §3-§4, exactly.

``eject_train`` takes the closed form when no packet's own cycles are asked for and no chip
link paces the train; asked for a record, it walks the recurrence packet by packet. Random
sequences of trains at one core (spike buffers of 1 to 9 packets, costs from 1 up, with and
without the marker, grants early and late, the total cost given or not): delivery, marker
start, stalls, busy cycles, the ring of starts and the core's state agree after every train.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnnsim.kernels import noc

N_SRC = 40

trains = st.lists(st.tuples(
    st.lists(st.integers(0, N_SRC - 1), max_size=30).map(sorted),   # spike sources
    st.integers(0, 400),                                             # grant, before or after the port is free
    st.booleans(),                                                   # the marker follows
    st.booleans(),                                                   # the caller knows the total cost
), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(slots=st.integers(1, 9), costs=st.lists(st.integers(1, 40), min_size=N_SRC, max_size=N_SRC), seq=trains)
def test_closed_form_ejection_is_the_recurrence(slots, costs, seq):
    cost = np.array(costs, np.int32)
    ring_a, state_a = np.zeros(slots, np.int64), np.zeros(2, np.int64)
    ring_b, state_b = ring_a.copy(), state_a.copy()
    for spikes, grant, marker, known in seq:
        spikes = np.array(spikes, np.int64)
        if len(spikes) + marker == 0:
            continue
        record = np.empty((len(spikes) + marker, 2), np.int64)
        walked = noc.eject_train(grant, spikes, cost, marker, ring_a, state_a, record)
        busy = int(cost[spikes].sum()) + marker if known else -1
        closed = noc.eject_train(grant, spikes, cost, marker, ring_b, state_b, np.empty((0, 2), np.int64),
                                 known_cost=busy)
        assert closed == walked
        assert np.array_equal(ring_b, ring_a) and np.array_equal(state_b, state_a)
        # and the record's last row is what the closed form returns
        assert (record[-1, 0], record[-1, 1]) == walked[:2]


def test_a_paced_train_walks_the_recurrence():
    """Behind a chip link the packets arrive paced: no closed form, the same numbers with or without a record."""
    cost = np.array([1, 5, 2, 9], np.int32)
    spikes = np.array([0, 1, 2, 3, 1, 1], np.int64)
    runs = []
    for record in (np.empty((7, 2), np.int64), np.empty((0, 2), np.int64)):
        ring, state = np.zeros(3, np.int64), np.zeros(2, np.int64)
        runs.append((noc.eject_train(5, spikes, cost, True, ring, state, record, 7, 4), ring.tolist(), state.tolist()))
    assert runs[0] == runs[1]
