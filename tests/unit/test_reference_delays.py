"""The cycle-stepped reference with projection delays, recurrence and graded spikes
(docs/timing-model.md §5b, and the delay terms of §2b, §5 and §7).

Hand-worked cases on archs/tiny.yaml (R = L = 1, P_int = P_fire = 2, 2 synapse lanes, 2 neuron
lanes, 2 weight banks of 16-bit words, 2 membrane banks of 16-bit words, 2 accumulator banks of
32-bit words, S = 8, host at core 0 of the 2x2 mesh), with the arithmetic in the comments, then
hypothesis: random delays and recurrent projections, where the reference must equal the golden
model bit for bit and its recorded cycles must obey the doc's closed forms, re-derived here
from the doc with delays (levels as a least fixed point, link grants in key order, soma starts
from ready cycles built out of recorded markers, fire ends and credits).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from engine_helpers import with_every_dialect, xy_links
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from strategies.workloads import small_workloads

from qsnnsim.arch import load_arch
from qsnnsim.errors import MappingError
from qsnnsim.golden import run_golden
from qsnnsim.mapping import Mapping, Slice, compute_destinations, map_workload
from qsnnsim.reference import HOST, TrainTiming, simulate_reference
from qsnnsim.reference.chip import service_levels
from qsnnsim.reference.edges import SourceEdges
from qsnnsim.workload import WorkloadBuilder, validate_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = load_arch(os.path.join(ROOT, "archs", "tiny.yaml"))
ONES = np.ones((1, 1), np.int8)


def hand_mapping(wl, arch, rows) -> Mapping:
    """One pass placed by hand: rows are (population, neurons, core, weight, membrane, acc words, slots)."""
    slices = tuple(
        Slice(index=i, population=pop, neuron_start=0, neuron_stop=n, channel_start=0, channel_stop=n, core=core,
              pass_index=0, weight_words=ww, membrane_words=mw, acc_words=aw, weight_bits_stored=0,
              membrane_bits_stored=0, acc_bits_stored=0, acc_slots=k)
        for i, (pop, n, core, ww, mw, aw, k) in enumerate(rows))
    dests, input_dests = compute_destinations(wl, slices)
    return Mapping(arch_name=arch.name, workload_name=wl.name, mesh_rows=arch.chip.mesh_rows,
                   mesh_cols=arch.chip.mesh_cols, n_passes=1, slices=slices, destinations=dests,
                   core_of_input=arch.io_core, input_destinations=input_dests)


def assert_bits_equal_golden(wl, r, sample: int = 0) -> None:
    golden = run_golden(wl, sample)
    np.testing.assert_array_equal(r.readout, golden.readout)
    assert set(r.spikes) == {p.name for p in wl.populations if p.kind == "lif"}
    for name, spikes in r.spikes.items():
        np.testing.assert_array_equal(spikes, golden.spikes[name], err_msg=name)


def readout_chain(timesteps: int = 3):
    """in (1,) spikes every step -> a (1,) lif theta 0 -> out (1,) readout with delay 2."""
    b = WorkloadBuilder("d2", timesteps=timesteps, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (1,), threshold=0)
    b.linear("in", "a", ONES, weight_bits=2)
    b.readout("out", (1,))
    b.linear("a", "out", ONES, weight_bits=2, delay=2)
    b.set_samples(np.ones((1, timesteps, 1), np.uint8))
    return b.build()


def test_a_readout_fires_t_only_after_the_train_of_t_minus_2():
    wl = readout_chain()
    # a on core 0: 1 weight word, 1 membrane word, 1 acc word: fire 2 + max(1, 1, 1) = 3 cycles.
    # out on core 1: K = 3 slots of ceil(24/32) = 1 word; 4 membrane words (64 bits):
    # fire 2 + max(ceil(1/2), ceil(8/2), ceil(2 * 1 / 2)) = 6 cycles.
    mapping = hand_mapping(wl, TINY, [("a", 1, 0, 1, 1, 1, 1), ("out", 1, 1, 1, 4, 3, 3)])
    r = simulate_reference(wl, TINY, mapping, 0, record_packets=True)
    # Host t=0 (F=2): port g 0, ejection g 2, u 2, 3; spike starts 3 (cost 1), marker 4 -> 7.
    # a t=0 ready 7 (its credit from out is for t' = 0 + 2 - 3 < 0): fire (7, 10).
    # out t=0 and t=1 have no edge (t - 2 < 0): t=0 at the pass start (0, 6), t=1 after it (6, 12).
    # a's train t=0 -> core 1: injection 10, east link 12, ejection 14, u 14, 15; its spike starts
    # 15 into slot 2 of out; marker 16 -> complete 19, which out's fire of t=2 waits for: (19, 25).
    # Host t=1: credit of a's fire 0 at 10 (io core, 0 hops): g 10, ejection 12, marker 14 -> 17.
    # a t=1: max(17, own 10, credit out's fire 1 + 2 - 3 = 0: 6 + 1 hop * (R + L) = 8) -> (17, 20).
    # Host t=2 at a's fire-1 end 20: g 20, ejection 22, marker 24 -> 27; a t=2 (27, 30).
    # a's trains of t=1 and t=2 write slots of t=3 and t=4 >= T: nobody waits for them, yet they
    # are sent and recorded; the latency is the last fire end, 30.
    assert r.fires == {(0, 0): (7, 10), (0, 1): (17, 20), (0, 2): (27, 30),
                       (1, 0): (0, 6), (1, 1): (6, 12), (1, 2): (19, 25)}
    assert r.trains == {
        (0, HOST, 0, 0): TrainTiming((0, 2), 3, 4, ((2, 3), (3, 4))),
        (0, HOST, 1, 0): TrainTiming((10, 12), 13, 14, ((12, 13), (13, 14))),
        (0, HOST, 2, 0): TrainTiming((20, 22), 23, 24, ((22, 23), (23, 24))),
        (0, 0, 0, 1): TrainTiming((10, 12, 14), 15, 16, ((14, 15), (15, 16))),
        (0, 0, 1, 1): TrainTiming((20, 22, 24), 25, 26, ((24, 25), (25, 26))),
        (0, 0, 2, 1): TrainTiming((30, 32, 34), 35, 36, ((34, 35), (35, 36))),
    }
    assert r.latency_cycles == 30
    # The trailing trains are integrated like the others: 2 packets x 3 trains per core.
    assert r.integrate_busy_cycles == (6, 6, 0, 0)
    assert r.soma_busy_cycles == (9, 18, 0, 0)
    assert r.readout.tolist() == [1]  # out sees a's spike of t=0 at t=2 only
    assert_bits_equal_golden(wl, r)
    # Levels (§2b): out(0) = out(1) - 1 = 1 need nothing; H(1) = 1 + max(H(0), a(0)) = 2;
    # a(1) = 1 + max(H(1), a(0), out(1 + 2 - 3)) = 3; H(2) = 4; a(2) = 5; out(2) = 1 + max(a(0), out(1)) = 3.
    fire, host = service_levels(mapping, 0, 3, SourceEdges(mapping, wl))
    assert host == [0, 2, 4]
    assert fire == {(0, 0): 1, (0, 1): 3, (0, 2): 5, (1, 0): 1, (1, 1): 2, (1, 2): 3}


def test_a_delay_two_between_hidden_layers_and_one_slot_per_fire():
    # in -> a -> b (delay 2) -> out; a on core 0, b on core 1, out on core 3 (south of core 1).
    b = WorkloadBuilder("d2b", timesteps=3, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (1,), threshold=0)
    b.linear("in", "a", ONES, weight_bits=2)
    b.lif("b", (1,), threshold=0)
    b.linear("a", "b", ONES, weight_bits=2, delay=2)
    b.readout("out", (1,))
    b.linear("b", "out", ONES, weight_bits=2)
    b.set_samples(np.ones((1, 3, 1), np.uint8))
    wl = b.build()
    # b holds K = 3 slots of 1 word: a fire reads and clears one, 2 + max(1, 1, ceil(2 * 1 / 2)) = 3
    # cycles (all 3 words would make it 2 + ceil(2 * 3 / 2) = 5).
    mapping = hand_mapping(wl, TINY, [("a", 1, 0, 1, 1, 1, 1), ("b", 1, 1, 1, 1, 3, 3), ("out", 1, 3, 1, 4, 1, 1)])
    r = simulate_reference(wl, TINY, mapping, 0, record_packets=True)
    # a as in the readout chain: (7, 10), (17, 20) (b's credit for a's t=1 is b's fire 0 end 3 + 2),
    # (27, 30) (b's fire 1 end 22 + 2 = 24 < 27).
    # b t=0: no edge, no credit (out's t' = -1): (0, 3); no spike; its marker-only train:
    # injection 3, south link 5, ejection 7, marker 8 -> 11: out t=0 (11, 17).
    # b t=1: credit out's fire 0 end 17 + 2 = 19: (19, 22); train 22, 24, 26, marker 27 -> 30:
    # out t=1 (30, 36).
    # b t=2: a's train of t=0 complete at 19 (spike at 15 into slot 2), own 22, credit out's fire 1
    # end 36 + 2 = 38: (38, 41), and it spikes; train (F=2) 41, 43, 45, u 45, 46, marker 47 -> 50:
    # out t=2 (50, 56).
    assert r.fires == {(0, 0): (7, 10), (0, 1): (17, 20), (0, 2): (27, 30),
                       (1, 0): (0, 3), (1, 1): (19, 22), (1, 2): (38, 41),
                       (2, 0): (11, 17), (2, 1): (30, 36), (2, 2): (50, 56)}
    assert r.trains[(0, 0, 0, 1)] == TrainTiming((10, 12, 14), 15, 16, ((14, 15), (15, 16)))
    assert r.trains[(0, 1, 0, 3)] == TrainTiming((3, 5, 7), 7, 8, ((7, 8),))
    assert r.trains[(0, 1, 2, 3)] == TrainTiming((41, 43, 45), 46, 47, ((45, 46), (46, 47)))
    assert r.latency_cycles == 56
    assert r.readout.tolist() == [1]
    assert_bits_equal_golden(wl, r)
    # Per fire a reads and writes one accumulator slot (§5): a 1 word x 3, b 1 x 3, out 1 x 3;
    # per packet (§4) one word each for a's 3 input spikes, b's 3 from a, out's 1 from b.
    assert r.actions["acc_sram_read"] == r.actions["acc_sram_write"] == 9 + 7
    assert r.actions["synaptic_add"] == 7 and r.actions["mac8"] == r.actions["mac16"] == 0


def self_loop(timesteps: int = 4):
    """One input spike at t=0 starts a neuron whose own spike re-excites it one step later."""
    b = WorkloadBuilder("loop", timesteps=timesteps, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (1,), threshold=0, decay_shift=1)
    b.linear("in", "a", ONES, weight_bits=2)
    b.linear("a", "a", ONES, weight_bits=2, delay=1, name="loop")
    b.readout("out", (1,))
    b.linear("a", "out", ONES, weight_bits=2)
    x = np.zeros((1, timesteps, 1), np.uint8)
    x[0, 0, 0] = 1
    b.set_samples(x)
    return b.build()


def test_a_self_loop_with_delay_one_fires_in_order_and_lets_the_host_run_ahead():
    wl = self_loop()
    # a: 2 weight words (rows of in->a and a->a), K = 2 slots of ceil(48/32) = 2 words, so
    # 4 acc words: fire 2 + max(1, 1, ceil(2 * 2 / 2)) = 4. out: fire 6 as above.
    mapping = hand_mapping(wl, TINY, [("a", 1, 0, 2, 1, 4, 2), ("out", 1, 1, 1, 4, 1, 1)])
    assert mapping.destinations == ((0, 1), ())  # a feeds itself and out
    r = simulate_reference(wl, TINY, mapping, 0, record_packets=True)
    # Host credits from a are for t' = t + 0 - K(a) = t - 2: timesteps 0 and 1 are eligible at
    # cycle 0, served in key order: t=0 (F=2) g 0, t=1 (F=1) g 2; ejection 2 (u 2, 3), then 4.
    # Markers start 4 and 5 -> complete 7 and 8. a t=0 (7, 11): spikes.
    # a's trains of t=0, injection in increasing destination core: to core 0 g 11, ejection 13,
    # u 13, 14, spike starts 14 into slot 1 (t=1), marker 15 -> 18; to core 1 g 13, 15, 17, marker 19
    # -> 22: out t=0 (22, 28).
    # a t=1: host marker 8, its own train of t=0 (self edge, e=1) 18, own end 11, credit out's fire 0
    # end 28 + 2 = 30, its own credit (t' = 1 + 1 - 2 = 0) 11: (30, 34).
    # Host t=2 at a's fire-0 end 11: g 11; at core 0's ejection port it follows a's train of t=0
    # (key (1, 0, 0) < (2, -1, 0)), so g 15. Host t=3 at a's fire-1 end 34: g 34, ejection 38.
    # Each later step of a waits for out's credit: t=2 (53, 57), t=3 (76, 80); out 23 cycles apart.
    assert r.fires == {(0, 0): (7, 11), (0, 1): (30, 34), (0, 2): (53, 57), (0, 3): (76, 80),
                       (1, 0): (22, 28), (1, 1): (45, 51), (1, 2): (68, 74), (1, 3): (91, 97)}
    assert [r.trains[(0, HOST, t, 0)].grants for t in range(4)] == [(0, 2), (2, 4), (11, 15), (34, 38)]
    assert r.trains[(0, 0, 0, 0)] == TrainTiming((11, 13), 14, 15, ((13, 14), (14, 15)))
    assert r.trains[(0, 0, 0, 1)] == TrainTiming((13, 15, 17), 18, 19, ((17, 18), (18, 19)))
    # a's train of t=3 to itself feeds t=4 >= T: sent and integrated, after the last fire of a.
    assert r.trains[(0, 0, 3, 0)] == TrainTiming((80, 82), 83, 84, ((82, 83), (83, 84)))
    assert r.latency_cycles == 97
    assert r.spikes["a"][:, 0].tolist() == [True] * 4 and r.readout.tolist() == [4]
    assert_bits_equal_golden(wl, r)
    # Levels: H(1) = 1 + H(0) (no credit yet); a(1) = 1 + max(H(1), a(0) (edge e=1 and own),
    # out(0) (credit t' = 0)) = 3; H(2) = 1 + max(H(1), a(0)) = 2; H(3) = 1 + max(H(2), a(1)) = 4.
    fire, host = service_levels(mapping, 0, 4, SourceEdges(mapping, wl))
    assert host == [0, 1, 2, 4]
    assert fire == {(0, 0): 1, (1, 0): 2, (0, 1): 3, (1, 1): 4, (0, 2): 5, (1, 2): 6, (0, 3): 7, (1, 3): 8}


def test_a_self_loop_maps_and_runs_on_the_tiny_chip_for_long():
    wl = self_loop(12)
    mapping = map_workload(wl, TINY)
    r = simulate_reference(wl, TINY, mapping, 0)
    assert_bits_equal_golden(wl, r)
    for s in mapping.slices:
        starts = [r.fires[(s.index, t)][0] for t in range(wl.timesteps)]
        assert starts == sorted(starts)


def test_a_two_population_cycle_with_a_delay():
    # in -> a -> b, b -> a with delay 2: a's timestep t waits for b's train of t - 2.
    b = WorkloadBuilder("cycle", timesteps=5, input_kind="spikes")
    b.input("in", (2,))
    b.lif("a", (2,), threshold=1)
    b.linear("in", "a", np.ones((2, 2), np.int8), weight_bits=2)
    b.lif("b", (2,), threshold=0)
    b.linear("a", "b", np.ones((2, 2), np.int8), weight_bits=2)
    b.linear("b", "a", np.array([[1, -1], [1, 1]], np.int8), weight_bits=2, delay=2, name="back")
    b.readout("out", (2,))
    b.linear("b", "out", np.array([[1, 2], [3, 4]], np.int8), weight_bits=4)
    b.set_samples(np.array([[[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]]], np.uint8))
    wl = b.build()
    mapping = map_workload(wl, TINY)
    r = simulate_reference(wl, TINY, mapping, 0, record_packets=True)
    assert_bits_equal_golden(wl, r)
    check_doc_recurrences(wl, TINY, mapping, 0, r)
    a = [s.index for s in mapping.slices if s.population == "a"]
    b_ = [s.index for s in mapping.slices if s.population == "b"]
    for i in a:
        for j in b_:
            for t in range(2, 5):
                marker = r.trains[(0, j, t - 2, mapping.slices[i].core)].marker_start
                assert r.fires[(i, t)][0] >= marker + 1 + TINY.core.integrate_pipeline_cycles


def test_a_delay_into_a_later_pass_is_a_choice_of_slot_for_the_host_train():
    # 1x1 mesh as test_reference's two-pass case (R = L = P_int = P_fire = 1, one synapse lane,
    # off-chip latency 10, 8 bits/cycle); a -> out now has delay 1, so out holds K = 2 slots.
    b = WorkloadBuilder("passes", timesteps=2, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (2,), threshold=0)
    b.linear("in", "a", np.ones((2, 1), np.int16), weight_bits=1)
    b.readout("out", (1,))
    b.linear("a", "out", np.array([[1, 2]], np.int16), weight_bits=8, delay=1)
    b.set_samples(np.ones((1, 2, 1), np.uint8))
    wl = b.build()
    core = dataclasses.replace(
        TINY.core, synapse_lanes=1, neuron_lanes=1, integrate_pipeline_cycles=1, fire_pipeline_cycles=1,
        weight_sram=dataclasses.replace(TINY.core.weight_sram, banks=1),
        membrane_sram=dataclasses.replace(TINY.core.membrane_sram, banks=4),
        acc_sram=dataclasses.replace(TINY.core.acc_sram, banks=4))
    arch = dataclasses.replace(TINY, core=core, chip=dataclasses.replace(TINY.chip, mesh_rows=1, mesh_cols=1),
                               offchip=dataclasses.replace(TINY.offchip, latency_cycles=10,
                                                           bandwidth_bits_per_cycle=8))
    slices = (Slice(index=0, population="a", neuron_start=0, neuron_stop=2, channel_start=0, channel_stop=2, core=0,
                    pass_index=0, weight_words=1, membrane_words=1, acc_words=2, weight_bits_stored=0,
                    membrane_bits_stored=0, acc_bits_stored=0),
              Slice(index=1, population="out", neuron_start=0, neuron_stop=1, channel_start=0, channel_stop=1, core=0,
                    pass_index=1, weight_words=2, membrane_words=4, acc_words=2, weight_bits_stored=0,
                    membrane_bits_stored=0, acc_bits_stored=0, acc_slots=2))
    dests, input_dests = compute_destinations(wl, slices)
    mapping = Mapping(arch_name=arch.name, workload_name=wl.name, mesh_rows=1, mesh_cols=1, n_passes=2,
                      slices=slices, destinations=dests, core_of_input=0, input_destinations=input_dests)
    r = simulate_reference(wl, arch, mapping, 0, record_packets=True)
    # Pass 0 (start 12) as without the delay: a (19, 22) and (29, 32). start(1) = 32 + spill 11 +
    # load 14 = 57. out fires 1 + max(1, ceil(8/4), ceil(2 * 1 / 4)) = 3 cycles. Pass 1 (local):
    # out t=0 has no edge (0 - 1 < 0): (0, 3). The host's credit from out is for t' = t + 1 - 2:
    # t=0 (F=3) at 0: ejection 2, u 2, 3, 4, starts 3, 4, marker 5 -> 7; t=1 at out's fire-0 end 3,
    # ejection 5 (u 5, 6, 7), marker 8. out t=1 waits for the host's train of t=0 (e=1): (7, 10).
    assert r.fires == {(0, 0): (19, 22), (0, 1): (29, 32), (1, 0): (57, 60), (1, 1): (64, 67)}
    assert r.trains[(1, 0, 0, 0)] == TrainTiming((57, 59), 61, 62, ((59, 60), (60, 61), (61, 62)))
    assert r.trains[(1, 0, 1, 0)] == TrainTiming((60, 62), 64, 65, ((62, 63), (63, 64), (64, 65)))
    assert r.latency_cycles == 67 and r.readout.tolist() == [3]  # a's spikes of t=0 at t=1: 1 + 2
    assert_bits_equal_golden(wl, r)
    check_doc_recurrences(wl, arch, mapping, 0, r)
    # Pass 1 levels: H(1) = 1 + max(H(0), out(1 + 1 - 2)) = 2; out(1) = 1 + max(H(0), out(0)) = 2.
    assert service_levels(mapping, 1, 2, SourceEdges(mapping, wl)) == ({(1, 0): 1, (1, 1): 2}, [0, 2])


def test_edge_delays_are_those_of_every_projection_between_the_two_populations():
    # A (2, 2, 2) -> B (2, 1, 1) twice: a sum-pool with delay 2 (channel c to channel c only) and a
    # conv with delay 0 (every channel). With one channel per slice, A[0] has no pooled synapse
    # into B[1]; §5b's E(src, d) still lists both projections "from src's population into d's
    # population", so B[1] also waits for A[0]'s train of t - 2 and A[0]'s credit from B[1] is
    # for t + 2 - 3 = t - 1 (t - 3 with the delay-0 projection alone).
    b = WorkloadBuilder("two", timesteps=5, input_kind="spikes")
    b.input("in", (2, 2, 2))
    b.lif("A", (2, 2, 2), threshold=0)
    b.identity("in", "A", codes=1)
    b.lif("B", (2, 1, 1), threshold=0)
    b.sumpool2d("A", "B", (2, 2), delay=2, name="pool")
    b.conv2d("A", "B", np.ones((2, 2, 2, 2), np.int8), weight_bits=2, name="conv")
    b.readout("out", (2,))
    b.linear("B", "out", np.ones((2, 2), np.int8), weight_bits=2)
    b.set_samples(np.random.default_rng(1).integers(0, 2, size=(1, 5, 2, 2, 2)).astype(np.uint8))
    wl = b.build()
    mapping = map_workload(wl, TINY)
    a0, a1, b0, b1 = (next(s.index for s in mapping.slices if (s.population, s.channel_start) == key)
                      for key in (("A", 0), ("A", 1), ("B", 0), ("B", 1)))
    edges = SourceEdges(mapping, wl)
    assert edges.delays(a0, b1) == edges.delays(a0, b0) == edges.delays(a1, b0) == (0, 2)
    assert edges.slots(b1) == 3 and edges.credit_timestep(a0, b1, 4) == 3
    r = simulate_reference(wl, TINY, mapping, 0, record_packets=True)
    assert_bits_equal_golden(wl, r)
    check_doc_recurrences(wl, TINY, mapping, 0, r)
    R_L = TINY.noc.router_latency_cycles + TINY.noc.link_latency_cycles
    hops = mapping.hops(mapping.slices[b1].core, mapping.slices[a0].core)
    for t in range(1, 5):
        assert r.fires[(a0, t)][0] >= r.fires[(b1, t - 1)][1] + hops * R_L


def test_graded_spikes_travel_as_counts_and_multiply():
    # in (1,) -> x (2,) xylo_lif, threshold 2, so a current of 7 makes 3 spikes -> out readout.
    b = WorkloadBuilder("graded", timesteps=3, input_kind="spikes")
    b.input("in", (1,))
    b.neurons("x", (2,), "xylo_lif", threshold=[2, 3], dash_syn=15, dash_mem=15, bias=0, version=1)
    b.linear("in", "x", np.array([[7], [1]], np.int8), weight_bits=4)
    b.readout("out", (1,))
    b.linear("x", "out", np.array([[1, 1]], np.int8), weight_bits=4, delay=1)
    b.set_samples(np.array([[[1], [1], [0]]], np.uint8))
    wl = b.build()
    arch = with_every_dialect(TINY)
    mapping = map_workload(wl, arch)
    r = simulate_reference(wl, arch, mapping, 0, record_packets=True)
    assert_bits_equal_golden(wl, r)
    counts = r.spikes["x"]
    assert counts.max() > 1  # graded: several spikes of one neuron in one step
    # One packet per neuron with a non-zero count (the count is its value), plus the marker.
    for (_, src, t, _), timing in r.trains.items():
        if src != HOST:
            sl = mapping.slices[src]
            assert len(timing.packets) == np.count_nonzero(counts[t, sl.neuron_start:sl.neuron_stop]) + 1
    # x's packets carry counts: each of their updates of out is a MAC (4-bit weights: mac8); the
    # input's binary spikes are additions (2 updates each: both x neurons).
    updates_from_x = int(np.count_nonzero(counts)) * len(mapping.slices_of("out"))
    assert r.actions["mac8"] == updates_from_x and r.actions["mac16"] == 0
    assert r.actions["synaptic_add"] == 2 * int(wl.samples[0].sum())


def test_a_mapping_whose_slots_miss_the_delays_is_refused():
    wl = readout_chain()
    mapping = hand_mapping(wl, TINY, [("a", 1, 0, 1, 1, 1, 1), ("out", 1, 1, 1, 4, 1, 1)])
    with pytest.raises(MappingError, match=r"slices\[1\]\.acc_slots: is 1 with 1 accumulator words, but 'out' "
                                           r"needs 3 slots"):
        simulate_reference(wl, TINY, mapping, 0)


# --------------------------------------------------------------------------- the doc, re-derived


def edge_delays(wl, mapping):
    """E(src, d) (timing doc §5b) for every mapped edge, and K(d), straight from the doc."""
    pop_of = {s.index: s.population for s in mapping.slices} | {HOST: wl.input_population.name}
    pairs = [(s, d) for s, ds in enumerate(mapping.destinations) for d in ds]
    pairs += [(HOST, d) for d in mapping.input_destinations]
    delays = {}
    for src, d in pairs:
        found = {p.delay for p in wl.projections if p.source == pop_of[src] and p.target == pop_of[d]}
        delays[(src, d)] = found or {0}
    slots = {s.index: 1 + max(p.delay for p in wl.projections_into(s.population)) for s in mapping.slices}
    return delays, slots


def host_edges(mapping, p):
    """Host sources of pass p with the slices of p they reach (§7): input, then earlier slices."""
    here = {s.index for s in mapping.slices if s.pass_index == p}
    found = [(HOST, [d for d in mapping.input_destinations if d in here])]
    found += [(s.index, [d for d in mapping.destinations[s.index] if d in here])
              for s in mapping.slices if s.pass_index < p]
    return [(src, ds) for src, ds in found if ds]


def levels_by_relaxation(wl, mapping, p: int):
    """lambda and lambda_H of timing doc §2b with delays, as the least fixed point of its equations."""
    T = wl.timesteps
    delays, slots = edge_delays(wl, mapping)
    here = [s.index for s in mapping.slices if s.pass_index == p]
    hosts = host_edges(mapping, p)
    host_dests = {d for _, ds in hosts for d in ds}
    host_e = {d: max(max(delays[(src, d)]) for src, ds in hosts if d in ds) for d in host_dests}
    fire = {(i, t): 0 for i in here for t in range(T)}
    host = {t: 0 for t in range(T)} if host_dests else {}
    changed = True
    while changed:
        changed = False
        for t in host:
            new = 0 if t == 0 else 1 + max([host[t - 1]] + [fire[(d, t + host_e[d] - slots[d])] for d in host_dests
                                                            if t + host_e[d] - slots[d] >= 0])
            changed |= new != host[t]
            host[t] = new
        for i, t in fire:
            terms = [0]
            for (src, d), es in delays.items():
                if d != i or (src != HOST and mapping.slices[src].pass_index > p):
                    continue
                same_pass = src != HOST and mapping.slices[src].pass_index == p
                terms += [fire[(src, t - e)] if same_pass else host[t - e] for e in es if t - e >= 0]
            if t > 0:
                terms.append(fire[(i, t - 1)])
            for d in mapping.destinations[i]:
                t_credit = t + max(delays[(i, d)]) - slots[d]
                if mapping.slices[d].pass_index == p and t_credit >= 0:
                    terms.append(fire[(d, t_credit)])
            changed |= 1 + max(terms) != fire[(i, t)]
            fire[(i, t)] = 1 + max(terms)
    return fire, [host[t] for t in sorted(host)]


def _packets(wl, mapping, r, sample, src, t) -> int:
    """Spike packets of a train: non-zero values (a graded spike is one packet carrying its count)."""
    if src == HOST:
        return int(np.count_nonzero(wl.sample_input(sample)[t]))
    sl = mapping.slices[src]
    return int(np.count_nonzero(r.spikes[sl.population][t].reshape(-1)[sl.neuron_start:sl.neuron_stop]))


def check_doc_recurrences(wl, arch, mapping, sample, r) -> None:
    """Every recorded grant, host injection and fire start obeys timing doc §2b, §3, §5, §5b, §7."""
    R, L, P_int = arch.noc.router_latency_cycles, arch.noc.link_latency_cycles, arch.core.integrate_pipeline_cycles
    T, cols, hops = wl.timesteps, arch.chip.mesh_cols, mapping.hops
    delays, slots = edge_delays(wl, mapping)
    for p in range(mapping.n_passes):
        assert levels_by_relaxation(wl, mapping, p) == service_levels(mapping, p, T, SourceEdges(mapping, wl))
    levels = [levels_by_relaxation(wl, mapping, p) for p in range(mapping.n_passes)]
    # Pass starts (§7).
    starts, bw = [], arch.offchip.bandwidth_bits_per_cycle
    for p in range(mapping.n_passes):
        load = arch.offchip.latency_cycles + -(-sum(s.weight_words * arch.core.weight_sram.word_bits
                                                     for s in mapping.slices if s.pass_index == p) // bw)
        if p == 0:
            starts.append(load if mapping.n_passes > 1 else 0)
            continue
        boundary = sum(T * s.n_neurons for s in mapping.slices if s.pass_index == p - 1
                       and any(mapping.slices[d].pass_index >= p for d in mapping.destinations[s.index]))
        end = max(r.fires[(s.index, t)][1] for s in mapping.slices if s.pass_index == p - 1 for t in range(T))
        starts.append(end + arch.offchip.latency_cycles + -(-boundary // bw) + load)
    # Every train exists (one per source, timestep and destination core, §5b "Trains").
    expected = set()
    for p in range(mapping.n_passes):
        for t in range(T):
            for s in mapping.slices:
                if s.pass_index == p:
                    cores = {mapping.slices[d].core for d in mapping.destinations[s.index]
                             if mapping.slices[d].pass_index == p}
                    expected |= {(p, s.index, t, c) for c in cores}
            for src, ds in host_edges(mapping, p):
                expected |= {(p, src, t, mapping.slices[d].core) for d in ds}
    assert set(r.trains) == expected
    # Host readiness (§7 with §5b credits), from recorded fire ends.
    host_ready = {}
    for p in range(mapping.n_passes):
        hosts = host_edges(mapping, p)
        for t in range(T):
            stamps = [starts[p]] + ([host_ready[(p, t - 1)]] if t else [])
            for d in {d for _, ds in hosts for d in ds}:
                t_credit = t + max(max(delays[(src, d)]) for src, ds in hosts if d in ds) - slots[d]
                if t_credit >= 0:
                    stamps.append(r.fires[(d, t_credit)][1] + hops(mapping.slices[d].core, arch.io_core) * (R + L))
            host_ready[(p, t)] = max(stamps)
    # Links (§3) in key order (§2b).
    uses: dict[tuple, list] = {}
    for key, timing in r.trains.items():
        p, src, t, dest = key
        fire_level, host_level = levels[p]
        n = 1 + _packets(wl, mapping, r, sample, src, t)
        if src == HOST or mapping.slices[src].pass_index != p:
            start_core, e, first, level = arch.io_core, host_ready[(p, t)], ("host",), host_level[t]
        else:
            core = mapping.slices[src].core
            start_core, e, first, level = core, r.fires[(src, t)][1], (core, "inj"), fire_level[(src, t)]
        path = [first] + xy_links(start_core, dest, cols)
        assert len(timing.grants) == len(path)
        for i, (link, g) in enumerate(zip(path, timing.grants, strict=True)):
            uses.setdefault((p, link), []).append(((level, src, dest), e, g, n, timing.delivery))
            e = g + (1 if i == 0 else L) + R
        assert timing.marker_start >= timing.delivery + 1
    for (_, link), trains in uses.items():
        free = None
        for _, e, g, n, delivery in sorted(trains):
            assert g == (e if free is None else max(e, free))
            free = delivery + 1 if link[-1] == "ej" else g + n
    # Somas (§5 with §5b edges and credits), each core's fires of a pass in (level, index) order.
    marker_done = {key: timing.marker_start + 1 + P_int for key, timing in r.trains.items()}
    for p in range(mapping.n_passes):
        fire_level = levels[p][0]
        for core in range(arch.n_cores):
            here = [s for s in mapping.slices if s.core == core and s.pass_index == p]
            ready = {}
            for s in here:
                for t in range(T):
                    stamps = [starts[p]]
                    for (src, d), es in delays.items():
                        if d == s.index and (src == HOST or mapping.slices[src].pass_index <= p):
                            stamps += [marker_done[(p, src, t - e, core)] for e in es if t - e >= 0]
                    if t > 0:
                        stamps.append(r.fires[(s.index, t - 1)][1])
                    for d in mapping.destinations[s.index]:
                        t_credit = t + max(delays[(s.index, d)]) - slots[d]
                        if mapping.slices[d].pass_index == p and t_credit >= 0:
                            stamps.append(r.fires[(d, t_credit)][1] + hops(mapping.slices[d].core, core) * (R + L))
                    ready[(s.index, t)] = max(stamps)
            free = starts[p]
            for _, i, t in sorted((fire_level[(i, t)], i, t) for i, t in ready):
                assert r.fires[(i, t)][0] == max(ready[(i, t)], free), (i, t)
                free = r.fires[(i, t)][1]
    assert r.latency_cycles == max(end for _, end in r.fires.values())


def check_packet_records(wl, arch, mapping, sample, r) -> None:
    """Every packet's (u_k, start_k) obeys §3's ejection and §4's FIFO integrate order."""
    S = arch.core.spike_buffer_packets
    per_core: dict[tuple, list] = {}
    for (p, src, t, dest), timing in r.trains.items():
        n = _packets(wl, mapping, r, sample, src, t)
        assert len(timing.packets) == n + 1 and timing.packets[-1] == (timing.delivery, timing.marker_start)
        for k, (u, start) in enumerate(timing.packets):
            per_core.setdefault((p, dest), []).append((u, start, k, timing.grants[-1]))
    stalls = [0] * arch.n_cores
    for (_, core), seq in per_core.items():
        seq.sort()
        for j, (u, start, k, g_e) in enumerate(seq):
            floor = seq[j - S][1] + 1 if j >= S else -1
            before = g_e if k == 0 else seq[j - 1][0] + 1
            assert u == max(before, floor)
            stalls[core] += u - before
            assert start >= u + 1 and (j == 0 or start > seq[j - 1][1])
    assert tuple(stalls) == r.ejection_stall_cycles


# --------------------------------------------------------------------------- random workloads


def with_delays(draw, wl):
    """``wl`` with random delays (0..T, so some deliver nothing) and 0..2 recurrent projections."""
    T = wl.timesteps
    projs = [dataclasses.replace(p, delay=draw(st.integers(0, T))) for p in wl.projections]
    lif = [p for p in wl.populations if p.kind == "lif"]
    order = {p.name: i for i, p in enumerate(wl.populations)}
    for n in range(draw(st.integers(0, 2)) if lif else 0):
        target = draw(st.sampled_from(lif))
        if sum(p.target == target.name for p in projs) >= 16:
            continue
        later = [p for p in lif if order[p.name] >= order[target.name]]
        source = draw(st.sampled_from(later))
        common = dict(mult=np.full(target.n_channels, draw(st.integers(-2, 4)), np.int32),
                      shift=np.zeros(target.n_channels, np.int32), acc_bits=draw(st.sampled_from([4, 8, 16])),
                      kernel=(1, 1), stride=(1, 1), padding=(0, 0), global_sum_pool=False,
                      delay=draw(st.integers(1, 3)), name=f"rec{n}", source=source.name, target=target.name)
        if len(target.shape) == 1:
            codes = draw(st.lists(st.sampled_from([-1, 1]), min_size=source.n_neurons * target.n_neurons,
                                  max_size=source.n_neurons * target.n_neurons))
            projs.append(dataclasses.replace(projs[0], kind="linear", weight_bits=1,
                                             weights=np.array(codes, np.int16).reshape(target.n_neurons, -1),
                                             **common))
        elif source.shape == target.shape:
            codes = draw(st.lists(st.integers(-2, 1), min_size=target.n_channels, max_size=target.n_channels))
            projs.append(dataclasses.replace(projs[0], kind="identity", weight_bits=2,
                                             weights=np.array(codes, np.int16), **common))
    return validate_workload(dataclasses.replace(wl, projections=tuple(projs)))


def with_graded(draw, wl):
    """Some lif populations turned into xylo_lif (graded spikes, DESIGN §2b)."""
    pops = []
    for p in wl.populations:
        if p.kind == "lif" and draw(st.integers(0, 2)) == 0:
            c = p.n_channels
            p = dataclasses.replace(p, dialect="xylo_lif", params={
                "threshold": np.full(c, draw(st.integers(1, 4)), np.int64),
                "dash_syn": np.full(c, draw(st.integers(0, 3)), np.int64),
                "dash_mem": np.full(c, draw(st.integers(0, 3)), np.int64),
                "bias": np.zeros(c, np.int64), "version": 1})
        pops.append(p)
    return validate_workload(dataclasses.replace(wl, populations=tuple(pops)))


_GEOMETRIES = [
    # rows, cols, neuron capacity, spike buffer packets, io router, strategy, fire pipeline
    (2, 2, 16, 8, (0, 0), "balanced", 2),
    (3, 3, 16, 4, (1, 1), "balanced", 1),
    (1, 2, 12, 1, (0, 1), "balanced", 12),
    (1, 1, 8, 2, (0, 0), "balanced", 1),  # often several passes
    (2, 3, 8, 3, (1, 2), "packed", 25),  # several slices per core, credits that bind
]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(_GEOMETRIES))
def test_random_delays_and_recurrence_equal_golden_and_obey_the_doc(data, geometry):
    wl = with_delays(data.draw, data.draw(small_workloads(max_populations=4, max_neurons_per_population=24,
                                                          max_timesteps=5, max_samples=1)))
    if data.draw(st.booleans()):
        wl = with_graded(data.draw, wl)
    rows, cols, capacity, buffer, io, strategy, fire_pipeline = geometry
    core = dataclasses.replace(TINY.core, neuron_capacity=capacity, spike_buffer_packets=buffer,
                               fire_pipeline_cycles=fire_pipeline, dialects=("qsnn_lif", "xylo_lif"),
                               weight_sram=dataclasses.replace(TINY.core.weight_sram, bank_words=4096),
                               acc_sram=dataclasses.replace(TINY.core.acc_sram, bank_words=4096))
    arch = dataclasses.replace(with_every_dialect(TINY), core=core,
                               chip=dataclasses.replace(TINY.chip, mesh_rows=rows, mesh_cols=cols),
                               offchip=dataclasses.replace(TINY.offchip, io_router=io),
                               noc=dataclasses.replace(TINY.noc, flit_bits=64))
    try:
        mapping = map_workload(wl, arch, strategy=strategy)
    except MappingError as exc:
        # One row that fits no core, or a recurrent cycle that would span passes (refused).
        if exc.field not in ("core.neuron_capacity", "chip"):
            raise
        reject()
    r = simulate_reference(wl, arch, mapping, 0, record_packets=True)
    assert_bits_equal_golden(wl, r)
    assert set(r.fires) == {(s.index, t) for s in mapping.slices for t in range(wl.timesteps)}
    check_doc_recurrences(wl, arch, mapping, 0, r)
    check_packet_records(wl, arch, mapping, 0, r)
