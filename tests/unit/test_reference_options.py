"""The cycle-stepped reference with the options of docs/timing-model.md §10, on hand-built cases.

Every expected cycle below is derived by hand from the timing doc (the derivations are in the
comments); the reference must reproduce them. Then, on a few random small workloads, ``finite``
router buffers with a depth that never runs out of credits must give exactly ``unbounded``'s
numbers (§10.3, last bullet), for both arbitrations and both soma orders.

Common setting of the hand cases: R = L = 1, P_int = P_fire = 0, one neuron lane (a fire of
``n`` neurons lasts ``n`` cycles; asserted), wide synapse lanes (every spike packet here costs
the integrate unit 1 cycle unless said otherwise; a marker costs 1), spikes input of zeros (a host
train is its marker alone), hidden neurons with ``bias 1 > threshold 0`` so every one spikes at
t = 0 (a train of ``n`` neurons has ``F = n + 1`` packets), and the hidden populations read the
input through a delay-1 projection with T = 1, so they are ready at cycle 0 (§5 condition 1:
no edge for t - e < 0) while the host's trains still cross the chip.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from strategies.archs import arch_dict, small_archs
from strategies.workloads import dialect_workloads

from qsnnsim.arch import arch_from_dict
from qsnnsim.errors import DeadlockError, MappingError
from qsnnsim.mapping import map_workload
from qsnnsim.reference import HOST, fire_cycles_of, simulate_reference
from qsnnsim.reference.chip import PassModel
from qsnnsim.workload import WorkloadBuilder


def with_options(arch, arbitration="level_order", soma_order="level", router_buffers="unbounded", depth=None):
    """``arch`` with the §10 options (and the buffer depth) set."""
    noc = dataclasses.replace(arch.noc, arbitration=arbitration, router_buffers=router_buffers,
                              **({} if depth is None else {"buffer_depth_flits": depth}))
    return dataclasses.replace(arch, noc=noc, core=dataclasses.replace(arch.core, soma_order=soma_order))


def small_arch(rows: int, cols: int, spike_buffer: int = 8, synapse_lanes: int = 4, depth: int = 4):
    data = arch_dict(chip={"clock_mhz": 100.0, "mesh_rows": rows, "mesh_cols": cols})
    data["noc"].update(router_latency_cycles=1, link_latency_cycles=1, buffer_depth_flits=depth)
    data["offchip"]["io_router"] = [0, 0]
    data["core"].update(spike_buffer_packets=spike_buffer, synapse_lanes=synapse_lanes, neuron_lanes=1,
                        integrate_pipeline_cycles=0, fire_pipeline_cycles=0)
    return arch_from_dict(data, "<test_reference_options>")


def fan_in_workload(hidden: dict[str, int], n_out: int, delay0: tuple[str, ...] = ()):
    """in (1,) -> every hidden population (delay 1, or 0 for those in ``delay0``) -> readout ``out``."""
    b = WorkloadBuilder("options", timesteps=1, input_kind="spikes")
    b.input("in", (1,))
    for name, n in hidden.items():
        b.lif(name, (n,), threshold=0, bias=1)
        b.linear("in", name, np.ones((n, 1), np.int16), weight_bits=1, acc_bits=8,
                 delay=0 if name in delay0 else 1)
    b.readout("out", (n_out,))
    for name, n in hidden.items():
        b.linear(name, "out", np.ones((n_out, n), np.int16), weight_bits=1, acc_bits=8)
    b.set_samples(np.zeros((1, 1, 1), np.uint8))
    return b.build()


def placed(workload, arch, cores: dict[str, int]):
    """A packed mapping (one slice per population, asserted) with each population on the given core."""
    mapping = map_workload(workload, arch, strategy="packed")
    assert [s.population for s in mapping.slices] == list(cores)
    slices = tuple(dataclasses.replace(s, core=cores[s.population]) for s in mapping.slices)
    return dataclasses.replace(mapping, slices=slices)


def test_round_robin_pointer_over_input_ports():
    # 1x3 mesh, cores 0 1 2, host at core 0. Slices (index: population, core, n neurons):
    # 0: C core 0 n=6, 1: A core 2 n=6, 2: A2 core 2 n=1, 3: D core 1 n=8, 4: out core 1 (readout).
    # Fire cycles (one neuron lane; memory terms are smaller, asserted): C 6, A 6, A2 1, D 8.
    # Levels (§2b): lambda_H(0) = 0, every hidden slice 1, out 2. Keys (level, source, dest core).
    #
    # Host (§7) emits t = 0 at cycle 0; its port serves (0,-1,0), (0,-1,1), (0,-1,2) at 0, 1, 2.
    #   to core 1: host 1, e(0->1) = 1+1+R = 3, granted 3, e(eject 1) = 3+L+R = 5, granted 5
    #   (it entered router 1 through its west port: eject 1's pointer is now west);
    #   to core 2: host 2, 0->1 at 4, 1->2 at 6, eject 2 at 8;  to core 0: host 0, eject 0 at 2.
    # C fires [0,6): inject 0 at 6 (F=7), 0->1 at 8, eligible at eject 1 at 10 (from the west).
    # A fires [0,6): inject 2 at 6 (F=7, to 12), 2->1 at 8, eligible at eject 1 at 10 (east).
    # A2 fires [6,7): inject 2 eligible 7, free at 6+7 = 13: granted 13 (F=2); 2->1 at 15;
    #   eligible at eject 1 at 17 (east).
    # D fires [0,8): inject 1 at 8 (F=9), eligible at eject 1 at 8+1+R = 10 (local port).
    # Every packet into core 1 costs 1 cycle and enters at most one per cycle: no buffer stall.
    #
    # round_robin at eject 1 (§10.1), pointer west after the host's train:
    #   10: local, host, north, east... -> local has D: D at 10, u 10..18, free 19; pointer local.
    #   19: after local come host, north, east: east has A (eligible 10) and A2 (17): the earliest,
    #       A, at 19, u 19..25, free 26; pointer east.
    #   26: after east come south, west: C (west) at 26, u 26..32, free 33, although A2 (east) has
    #       the smaller key; pointer west.
    #   33: A2 at 33, u 33..34.
    # (Fixed priority would give D, A, A2, C; oldest-first D-C-A tie by key C, A, D.)
    # level_order at eject 1 (§2b): keys host, C(1,0,1), A(1,1,1), A2(1,2,1), D(1,3,1):
    #   C at 10 (u to 16), A at 17 (to 23), A2 at 24 (to 25), D at 26 (u 26..34).
    # Either way the last marker enters at 34, starts at 35, completes at 36: out fires at 36.
    wl = fan_in_workload({"C": 6, "A": 6, "A2": 1, "D": 8}, n_out=2)
    arch = small_arch(1, 3)
    mapping = placed(wl, arch, {"C": 0, "A": 2, "A2": 2, "D": 1, "out": 1})
    assert [fire_cycles_of(s, arch) for s in mapping.slices[:4]] == [6, 6, 1, 8]
    f_out = fire_cycles_of(mapping.slices[4], arch)
    expected = {
        "round_robin": {0: (6, 8, 26, 32), 1: (6, 8, 19, 25), 2: (13, 15, 33, 34), 3: (8, 10, 18)},
        "level_order": {0: (6, 8, 10, 16), 1: (6, 8, 17, 23), 2: (13, 15, 24, 25), 3: (8, 26, 34)},
    }
    eject_wait = {"round_robin": 0 + 9 + 16 + 16, "level_order": 0 + 7 + 7 + 16}
    for arbitration, trains in expected.items():
        for soma_order in ("level", "ready"):  # one fire per core at a time: the same fires
            res = simulate_reference(wl, with_options(arch, arbitration, soma_order), mapping, 0)
            for source, want in trains.items():
                timing = res.trains[(0, source, 0, 1)]
                assert timing.grants + (timing.delivery,) == want, (arbitration, source)
            assert res.trains[(0, HOST, 0, 1)].grants == (1, 3, 5)
            assert res.trains[(0, HOST, 0, 2)].grants == (2, 4, 6, 8)
            assert res.fires[(4, 0)] == (36, 36 + f_out)
            assert res.latency_cycles == 36 + f_out
            assert res.link_wait_cycles["eject 1"] == eject_wait[arbitration]
            # inject 2: A2 waited 13 - 7; the host port: its trains, all eligible at 0, waited 0, 1, 2;
            # nothing else waits outside router 1's ejection port.
            assert res.link_wait_cycles["inject 2"] == 6
            assert res.link_wait_cycles["host"] == 3
            assert set(res.link_wait_cycles) == {"host", "inject 0", "inject 1", "inject 2", "0->1", "1->2",
                                                 "2->1", "eject 0", "eject 1", "eject 2"}
            assert sum(res.link_wait_cycles.values()) == eject_wait[arbitration] + 6 + 3
            assert set(res.link_stall_cycles.values()) == {0}


def test_ready_soma_order_fires_the_ready_slice_first():
    # 1x1 mesh, core 0 holds X (slice 0, n=3, reads the input with delay 0), Y (slice 1, n=5,
    # delay 1: ready at 0) and out (slice 2). Fire cycles X 3, Y 5. Levels: lambda_H(0) = 0,
    # X = 1 + lambda_H(0) = 1, Y = 1 (its delayed edge does not exist at t = 0), out 2.
    # Host train to core 0 (marker only): host port 0, eject 0 eligible 0+1+R = 2, u = 2, marker
    # starts 3, completes 3+1+P_int = 4: X ready at 4.
    #
    # level soma, level_order links (the default): the soma waits for X although Y is ready.
    #   X [4,7); Y [7,12). X's train (F=4): inject 7, eject eligible 9, u 9..12, marker start 13.
    #   Y's train (F=6): inject eligible 12, free at 11: 12; eject 14, u 14..19, marker starts 20,
    #   completes 21: out fires at 21.
    # ready soma (§10.2), level_order links: Y is ready at 0 -> Y [0,5); X ready at 4, soma idle at
    #   5 -> X [5,8). Inject 0 serves keys (1,X,0) before (1,Y,0): it idles until X's train comes
    #   at 8 (F=4, 8..11), then Y at 12 (waited 12 - 5 = 7). Eject 0: X eligible 10, u 10..13
    #   (marker starts 14); Y eligible 14, u 14..19, marker starts 20 -> out at 21.
    # ready soma, round_robin links: inject 0 grants Y at 5 (F=6, 5..10), X (eligible 8) at 11
    #   (waited 3). Eject 0: Y eligible 7, u 7..12 (marker starts 13, completes 14); X eligible 13,
    #   granted 13 (free at 13), u 13..16, marker starts 17, completes 18 -> out at 18.
    wl = fan_in_workload({"X": 3, "Y": 5}, n_out=2, delay0=("X",))
    arch = small_arch(1, 1)
    mapping = placed(wl, arch, {"X": 0, "Y": 0, "out": 0})
    assert [fire_cycles_of(s, arch) for s in mapping.slices[:2]] == [3, 5]
    f_out = fire_cycles_of(mapping.slices[2], arch)
    cases = {
        ("level_order", "level"): ({0: (4, 7), 1: (7, 12)}, {0: ((7, 9), 12, 13), 1: ((12, 14), 19, 20)}, 21, 0),
        ("level_order", "ready"): ({0: (5, 8), 1: (0, 5)}, {0: ((8, 10), 13, 14), 1: ((12, 14), 19, 20)}, 21, 7),
        ("round_robin", "ready"): ({0: (5, 8), 1: (0, 5)}, {0: ((11, 13), 16, 17), 1: ((5, 7), 12, 13)}, 18, 3),
    }
    for (arbitration, soma_order), (fires, trains, out_start, inject_wait) in cases.items():
        res = simulate_reference(wl, with_options(arch, arbitration, soma_order), mapping, 0)
        for index, want in fires.items():
            assert res.fires[(index, 0)] == want, (arbitration, soma_order, index)
        for source, (grants, delivery, marker_start) in trains.items():
            timing = res.trains[(0, source, 0, 0)]
            assert (timing.grants, timing.delivery, timing.marker_start) == (grants, delivery, marker_start)
        assert res.fires[(2, 0)] == (out_start, out_start + f_out)
        assert res.link_wait_cycles["inject 0"] == inject_wait
        assert res.soma_busy_cycles == (3 + 5 + f_out,)


def test_finite_buffers_credit_stall_reaches_the_injection_port():
    # 1x2 mesh, host at core 0. X (slice 0, n=3) on core 0 sends to out (slice 1, n=5) on core 1;
    # S = 1 spike-buffer slot, one synapse lane: a spike packet costs the integrate unit 5 cycles
    # (5 updates, one 1-word row), the marker 1. B = 1 flit per router input port (never enough to
    # stream: B < lat + R + C = 3). Fire X [0,3): its train (F=4) is eligible at inject 0 at 3.
    #   Inject 0 (C=1) feeds router 0's local port: x^I_k >= max(x^I_{k-1}+1, 3, x^M_{k-1}+1).
    #   0->1 (C=L=1) feeds router 1's west port: x^M_k >= max(x^M_{k-1}+1, x^I_k+1+R, u_{k-1}+1).
    #   Eject 1: u_k = max(u_{k-1}+1, x^M_k+L+R, start(k-1)+1); start(k) = max(u_k+1, start(k-1)+cost).
    # k=0: x^I 3, x^M 5 (grant 0->1 at 5), u 7 (grant eject at 7), start 8.
    # k=1: x^I max(4, 6) = 6 (stall 2); x^M max(6, 8, 8) = 8; u max(8, 10, 9) = 10; start max(11, 13) = 13.
    # k=2: x^I max(7, 9) = 9 (stall 2); x^M max(9, 11, 11) = 11; u max(11, 13, 14) = 14 (buffer
    #      stall 14 - 13 = 1); start max(15, 18) = 18.
    # k=3: x^I max(10, 12) = 12 (stall 2); x^M max(12, 14, 15) = 15 (credit stall 15 - 14 = 1: the
    #      spike buffer's back-pressure); u max(16, 17, 19) = 19 (stall 2); start max(20, 23) = 23.
    # Stalls: inject 0: 6, 0->1: 1, core 1's ejection: 3. Marker completes 23+1+0 = 24: out fires.
    # Occupancy (§11): router 0's local port holds [x^I+1, x^M): [4,5) [7,8) [10,11) [13,15) -> 1;
    # router 1's west port [x^M+1, u): [6,7) [9,10) [12,14) [16,19) -> 1; the host port 1.
    #
    # unbounded: x^I 3..6, x^M 5..8, eligible at eject 7..10; u_0 = 7, start 8; u_1 = max(8, 9) = 9,
    # start 13; u_2 = max(10, 14) = 14, start 18; u_3 = max(15, 19) = 19 (ejection stalls 1+4+4),
    # start 23. Router 1's west port holds [6,7) [7,9) [8,14) [9,19): peak 2 at cycles 8 and 9,
    # above a depth of 1 (what a router of that depth would have stalled on).
    wl = fan_in_workload({"X": 3}, n_out=5)
    arch = small_arch(1, 2, spike_buffer=1, synapse_lanes=1, depth=1)
    mapping = placed(wl, arch, {"X": 0, "out": 1})
    assert fire_cycles_of(mapping.slices[0], arch) == 3
    f_out = fire_cycles_of(mapping.slices[1], arch)
    for arbitration, soma_order in itertools.product(("level_order", "round_robin"), ("level", "ready")):
        res = simulate_reference(wl, with_options(arch, arbitration, soma_order, "finite"), mapping, 0,
                                 record_packets=True)
        timing = res.trains[(0, 0, 0, 1)]
        assert timing.grants == (3, 5, 7)
        assert timing.packets == ((7, 8), (10, 13), (14, 18), (19, 23))
        assert (timing.delivery, timing.marker_start) == (19, 23)
        assert res.link_stall_cycles == {"host": 0, "inject 0": 6, "0->1": 1, "eject 0": 0, "eject 1": 0}
        assert set(res.link_wait_cycles.values()) == {0}
        assert res.ejection_stall_cycles == (0, 3)
        assert res.noc_buffer_peak_flits == (1, 1)
        assert res.fires[(1, 0)] == (24, 24 + f_out)
        unbounded = simulate_reference(wl, with_options(arch, arbitration, soma_order), mapping, 0,
                                       record_packets=True)
        timing = unbounded.trains[(0, 0, 0, 1)]
        assert timing.grants == (3, 5, 7)
        assert timing.packets == ((7, 8), (9, 13), (14, 18), (19, 23))
        assert unbounded.ejection_stall_cycles == (0, 9)
        assert set(unbounded.link_stall_cycles.values()) == {0}
        assert unbounded.noc_buffer_peak_flits == (1, 2)


def test_a_pass_that_cannot_move_raises_deadlock_error(monkeypatch):
    # No option can deadlock (§10.4); a link that never grants is a stand-in for a bug.
    wl = fan_in_workload({"X": 3}, n_out=2)
    arch = small_arch(1, 2)
    mapping = placed(wl, arch, {"X": 0, "out": 1})
    monkeypatch.setattr(PassModel, "pick", lambda self, link, c: None)
    with pytest.raises(DeadlockError, match=r"deadlock at cycle \d+ \(pass 0\).*waiting: .*links held"):
        simulate_reference(wl, arch, mapping, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_finite_with_deep_buffers_equals_unbounded(data):
    wl = data.draw(dialect_workloads(max_populations=4, max_neurons_per_population=16, max_timesteps=3))
    arch = data.draw(small_archs(workload=wl))
    try:
        mapping = map_workload(wl, arch)
    except MappingError:
        reject()
    sample = data.draw(st.integers(0, wl.n_samples - 1))
    arbitration = data.draw(st.sampled_from(["level_order", "round_robin"]))
    soma_order = data.draw(st.sampled_from(["level", "ready"]))
    a = simulate_reference(wl, with_options(arch, arbitration, soma_order), mapping, sample, record_packets=True)
    b = simulate_reference(wl, with_options(arch, arbitration, soma_order, "finite", depth=1 << 16), mapping,
                           sample, record_packets=True)
    assert (a.latency_cycles, a.fires, a.trains) == (b.latency_cycles, b.fires, b.trains)
    assert (a.soma_busy_cycles, a.integrate_busy_cycles, a.ejection_stall_cycles) == \
        (b.soma_busy_cycles, b.integrate_busy_cycles, b.ejection_stall_cycles)
    assert a.link_wait_cycles == b.link_wait_cycles
    assert a.link_stall_cycles == b.link_stall_cycles and set(b.link_stall_cycles.values()) <= {0}
    assert a.noc_buffer_peak_flits == b.noc_buffer_peak_flits
    np.testing.assert_array_equal(a.readout, b.readout)
    # A shallow finite buffer changes only cycles, never what the neurons compute, and never
    # holds more than its depth.
    c = simulate_reference(wl, with_options(arch, arbitration, soma_order, "finite"), mapping, sample)
    np.testing.assert_array_equal(a.readout, c.readout)
    assert max(c.noc_buffer_peak_flits) <= arch.noc.buffer_depth_flits
    assert set(c.trains) == set(a.trains) and set(c.link_wait_cycles) == set(a.link_wait_cycles)
