"""Unit tests of the cycle-stepped reference model (qsnnsim.reference).

Every timing case is derived by hand from docs/timing-model.md; the arithmetic is in the
comments. Short names as in the doc: R router, L link, S spike-buffer packets, P_int/P_fire
pipelines; F = packets of a train (spikes + marker). Unless a test says otherwise the tiny
arch has R = L = 1, P_int = P_fire = 1, one synapse lane, one neuron lane, one weight bank of
16-bit words, and 4 membrane and 4 accumulator banks, so a fire of n neurons with
membrane_words <= 2n and acc_words <= 2n lasts 1 + n cycles.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import xy_links
from hypothesis import given, reject
from hypothesis import strategies as st
from strategies import workload_and_sample
from strategies.workloads import reference_workload

from qsnnsim.arch import ENERGY_ENTRY_NAMES, arch_from_dict
from qsnnsim.errors import MappingError, WorkloadError
from qsnnsim.golden import run_golden
from qsnnsim.mapping import Mapping, Slice, compute_destinations, map_workload
from qsnnsim.reference import HOST, TrainTiming, simulate_reference
from qsnnsim.reference.chip import service_levels
from qsnnsim.reference.synapses import CoreSynapses, bank_scan_cycles
from qsnnsim.workload import WorkloadBuilder


def tiny_arch(rows: int = 1, cols: int = 2, io=(0, 0), spike_buffer_packets: int = 8, offchip=None, noc=None,
              **core):
    """A small valid arch; ``offchip`` and ``noc`` update those sections, ``core`` overrides core fields."""
    spec = {
        "neuron_capacity": 64,
        "weight_sram": {"banks": 1, "bank_words": 1024, "word_bits": 16},
        "membrane_sram": {"banks": 4, "bank_words": 256, "word_bits": 16},
        "acc_sram": {"banks": 4, "bank_words": 256, "word_bits": 32},
        "spike_buffer_packets": spike_buffer_packets,
        "synapse_lanes": 1,
        "neuron_lanes": 1,
        "integrate_pipeline_cycles": 1,
        "fire_pipeline_cycles": 1,
    }
    spec.update(core)
    return arch_from_dict({
        "format": "qsnnsim-arch", "version": 1, "name": "tiny",
        "chip": {"clock_mhz": 100.0, "mesh_rows": rows, "mesh_cols": cols},
        "noc": {"flit_bits": 32, "router_latency_cycles": 1, "link_latency_cycles": 1, "buffer_depth_flits": 4,
                "packet_header_bits": 16, **(noc or {})},
        "offchip": dict(offchip or {}, io_router=list(io)),
        "core": spec,
        "energy": {name: {"value": 1.0, "source": "unit test"} for name in ENERGY_ENTRY_NAMES},
    })


def hand_mapping(workload, arch, rows: list[tuple], n_passes: int = 1) -> Mapping:
    """A mapping placed by hand: rows are (population, start, stop, core, weight, membrane, acc words[, pass])."""
    slices = []
    for i, (pop, start, stop, core, ww, mw, aw, *rest) in enumerate(rows):
        slices.append(Slice(index=i, population=pop, neuron_start=start, neuron_stop=stop, channel_start=start,
                            channel_stop=stop, core=core, pass_index=rest[0] if rest else 0, weight_words=ww,
                            membrane_words=mw, acc_words=aw, weight_bits_stored=0, membrane_bits_stored=0,
                            acc_bits_stored=0))
    slices = tuple(slices)
    dests, input_dests = compute_destinations(workload, slices)
    return Mapping(arch_name=arch.name, workload_name=workload.name, mesh_rows=arch.chip.mesh_rows,
                   mesh_cols=arch.chip.mesh_cols, n_passes=n_passes, slices=slices, destinations=dests,
                   core_of_input=arch.io_core, input_destinations=input_dests)


def assert_bits_equal_golden(workload, result, sample: int) -> None:
    golden = run_golden(workload, sample)
    np.testing.assert_array_equal(result.readout, golden.readout)
    assert result.predicted == golden.predicted
    lif = {p.name for p in workload.populations if p.kind == "lif"}
    assert set(result.spikes) == lif
    for name in lif:
        np.testing.assert_array_equal(result.spikes[name], golden.spikes[name], err_msg=name)


def chain_workload(timesteps: int, samples) -> object:
    """in (2,) spikes -linear 1-bit all +1-> a (2,) lif theta 0 -linear 8-bit [1, 2]-> out (1,) readout."""
    b = WorkloadBuilder("chain", timesteps=timesteps, input_kind="spikes")
    b.input("in", (2,))
    b.lif("a", (2,), threshold=0)
    b.linear("in", "a", np.ones((2, 2), np.int16), weight_bits=1)
    b.readout("out", (1,))
    b.linear("a", "out", np.array([[1, 2]], np.int16), weight_bits=8)
    b.set_samples(np.array(samples, np.uint8))
    return b.build()


# Slice words of chain_workload: a[0:2) has 2 rows (one per input neuron) of 2 one-bit codes =
# 1 word each, membranes ceil(2*8/16) = 1 word, accumulators ceil(2*24/32) = 2 words; out has
# 2 rows of one 8-bit code = 2 words, membranes ceil(64/16) = 4 words, accumulators 1 word.
# Fires: a 1 + max(2, ceil(2/4), ceil(4/4)) = 3 cycles; out 1 + max(1, ceil(8/4), ceil(2/4)) = 3.
CHAIN_ROWS = [("a", 0, 2, 0, 2, 1, 2), ("out", 0, 1, 1, 2, 4, 1)]


def test_one_slice_to_one_slice_on_neighbouring_cores():
    # Mesh 1x2, host at core 0; slice 0 = a on core 0, slice 1 = out on core 1; T = 2.
    wl = chain_workload(2, [[[1, 1], [1, 0]]])
    arch = tiny_arch()
    r = simulate_reference(wl, arch, hand_mapping(wl, arch, CHAIN_ROWS), 0)
    # t=0 host train -> core 0, F = 3: host port g=0; ejection e = 0+1+R = 2, g = 2; u = 2,3,4.
    # Integrate core 0: spike cost max(1 word read, 2 updates / 1 lane) = 2: starts 3, 5;
    # marker starts max(4+1, 5+2) = 7, complete 7+1+P_int = 9 -> fire a t=0 (9, 12), both spike.
    # Train a -> core 1, F = 3: injection g=12; east link e = 12+1+R = 14; ejection e = 14+L+R = 16;
    # u = 16,17,18; spikes cost 1 (1 word, 1 update): starts 17, 18; marker 19 -> complete 21.
    # Fire out t=0 (21, 24).
    # t=1: host ready at max(injection of t=0 done at 3, credit a: 12 + 0 hops) = 12; F = 2:
    # g = 12, ejection 14, u = 14,15; spike starts 15 (cost 2), marker max(16, 17) = 17 -> done 19.
    # a ready at max(19, own end 12, credit out: 24 + 1 hop * (R+L) = 26) = 26 -> fire (26, 29).
    # Train: injection 29, east 31, ejection 33, u = 33,34,35; starts 34, 35, marker 36 -> 38.
    # Fire out t=1 (38, 41).
    assert r.fires == {(0, 0): (9, 12), (0, 1): (26, 29), (1, 0): (21, 24), (1, 1): (38, 41)}
    assert r.trains == {
        (0, HOST, 0, 0): TrainTiming(grants=(0, 2), delivery=4, marker_start=7),
        (0, HOST, 1, 0): TrainTiming(grants=(12, 14), delivery=15, marker_start=17),
        (0, 0, 0, 1): TrainTiming(grants=(12, 14, 16), delivery=18, marker_start=19),
        (0, 0, 1, 1): TrainTiming(grants=(29, 31, 33), delivery=35, marker_start=36),
    }
    assert r.latency_cycles == 41
    assert r.soma_busy_cycles == (6, 6)
    # core 0: 2 + 2 + 1 (t=0) + 2 + 1 (t=1); core 1: 3 packets of 1 cycle per timestep.
    assert r.integrate_busy_cycles == (8, 6)
    assert r.ejection_stall_cycles == (0, 0)
    # out = (1*1 + 1*2) per timestep, no leak: 3 + 3.
    assert r.readout.tolist() == [6]
    assert_bits_equal_golden(wl, r, 0)


def test_spike_buffer_of_one_packet_stalls_ejection():
    # As above with S = 1 and T = 1: packet j enters at u_j >= start(j-1) + 1.
    wl = chain_workload(1, [[[1, 1]]])
    arch = tiny_arch(spike_buffer_packets=1)
    r = simulate_reference(wl, arch, hand_mapping(wl, arch, CHAIN_ROWS), 0)
    # Core 0: g_E = 2, u0 = 2, start0 = 3 (cost 2); u1 = max(3, 3+1) = 4 (1 stall);
    # start1 = max(5, 3+2) = 5; u2 = max(5, 5+1) = 6 (1 stall); marker start max(7, 5+2) = 7,
    # complete 9 -> fire a (9, 12). Core 1: g_E = 16, u0 = 16, start0 = 17 (cost 1);
    # u1 = max(17, 18) = 18 (1 stall), start1 = 19; u2 = max(19, 20) = 20 (1 stall);
    # marker start 21, complete 23 -> fire out (23, 26).
    assert r.trains == {
        (0, HOST, 0, 0): TrainTiming(grants=(0, 2), delivery=6, marker_start=7),
        (0, 0, 0, 1): TrainTiming(grants=(12, 14, 16), delivery=20, marker_start=21),
    }
    assert r.fires == {(0, 0): (9, 12), (1, 0): (23, 26)}
    assert r.ejection_stall_cycles == (2, 2)
    assert r.latency_cycles == 26
    assert_bits_equal_golden(wl, r, 0)
    # Not asked for: no packet records.
    assert all(timing.packets is None for timing in r.trains.values())
    # Asked for: (u_k, start_k) per packet, from the arithmetic above. Core 0 (host train, spikes
    # of in[0], in[1], marker): u = 2, 4, 6 and starts 3, 5, 7. Core 1 (a's train, spikes of
    # a[0], a[1], marker): u = 16, 18, 20 and starts 17, 19, 21. Each u_k for k >= 1 is
    # start(k - 1) + 1 (S = 1): the slot freed at start(k - 1) is taken the cycle after.
    rec = simulate_reference(wl, arch, hand_mapping(wl, arch, CHAIN_ROWS), 0, record_packets=True)
    assert {key: timing.packets for key, timing in rec.trains.items()} == {
        (0, HOST, 0, 0): ((2, 3), (4, 5), (6, 7)),
        (0, 0, 0, 1): ((16, 17), (18, 19), (20, 21)),
    }
    for key, timing in rec.trains.items():
        assert timing.packets[-1] == (timing.delivery, timing.marker_start)
        # Recording changes nothing else.
        assert timing == TrainTiming(r.trains[key].grants, r.trains[key].delivery, r.trains[key].marker_start,
                                     timing.packets)
    assert rec.fires == r.fires and rec.latency_cycles == r.latency_cycles
    assert rec.ejection_stall_cycles == r.ejection_stall_cycles


def test_ejection_port_waits_for_the_lower_key_train_that_arrives_later():
    # Mesh 1x3, host at the middle core 1. in (1,) spikes; a (6,) on core 0 and b (2,) on core 2
    # both read the input; out (1,) on core 1 reads a and b. Slices 0 = a, 1 = b, 2 = out.
    b = WorkloadBuilder("order", timesteps=1, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (6,), threshold=0)
    b.linear("in", "a", np.ones((6, 1), np.int16), weight_bits=1)
    b.lif("b", (2,), threshold=0)
    b.linear("in", "b", np.ones((2, 1), np.int16), weight_bits=1)
    b.readout("out", (1,))
    b.linear("a", "out", np.ones((1, 6), np.int16), weight_bits=8)
    b.linear("b", "out", np.ones((1, 2), np.int16), weight_bits=8)
    b.set_samples(np.ones((1, 1, 1), np.uint8))
    wl = b.build()
    arch = tiny_arch(1, 3, io=(0, 1))
    # Words: a 1 row of 6 bits, membranes ceil(48/16) = 3, accs ceil(144/32) = 5 -> fire
    # 1 + max(6, 2, 3) = 7; b 1 row, membranes 1, accs 2 -> fire 1 + 2 = 3; out 6 + 2 one-word
    # rows, membranes 4, accs 2 -> fire 3.
    rows = [("a", 0, 6, 0, 1, 3, 5), ("b", 0, 2, 2, 1, 1, 2), ("out", 0, 1, 1, 8, 4, 2)]
    r = simulate_reference(wl, arch, hand_mapping(wl, arch, rows), 0)
    # Levels: lambda_H(0) = 0, a and b 1 + lambda_H = 1, out 2. Keys at core 1's ejection port:
    # a's train (1, 0, 1) before b's (1, 1, 1), whatever their arrival.
    # Host trains (F = 2), keys (0, -1, 0) then (0, -1, 2): host port g = 0 and 0 + F = 2.
    # -> core 0: west link of router 1 e = 0+1+R = 2; ejection e = 2+L+R = 4; u = 4,5; spike
    #    cost max(1 word, 6 updates) = 6 starts 5; marker max(6, 11) = 11 -> 13: fire a (13, 20).
    # -> core 2: east link e = 4; ejection 6; u = 6,7; spike cost 2 starts 7; marker 9 -> 11:
    #    fire b (11, 14).
    # b's train (F = 3): injection 14, west link of router 2 e = 16, core 1's ejection e = 18.
    # a's train (F = 7): injection 20, east link of router 0 e = 22, core 1's ejection e = 24.
    # b's is eligible first but a's is next in the port's order: the port idles 18..23, grants
    # a's at 24, u = 24..30, and b's at max(18, 30 + 1) = 31, u = 31..33 (first-come-first-
    # served would have sent b's at 18). Core 1 starts a's spikes 25..30 (cost 1), marker 31;
    # b's 32, 33, marker 34 -> complete 36 -> fire out (36, 39).
    assert r.trains == {
        (0, HOST, 0, 0): TrainTiming(grants=(0, 2, 4), delivery=5, marker_start=11),
        (0, HOST, 0, 2): TrainTiming(grants=(2, 4, 6), delivery=7, marker_start=9),
        (0, 0, 0, 1): TrainTiming(grants=(20, 22, 24), delivery=30, marker_start=31),
        (0, 1, 0, 1): TrainTiming(grants=(14, 16, 31), delivery=33, marker_start=34),
    }
    assert r.fires == {(0, 0): (13, 20), (1, 0): (11, 14), (2, 0): (36, 39)}
    assert r.latency_cycles == 39
    assert r.readout.tolist() == [8]
    assert_bits_equal_golden(wl, r, 0)
    assert all(timing.packets is None for timing in r.trains.values())
    # Per packet (u_k, start_k), from the arithmetic above (S = 8: no stall). Core 0: u = 4, 5;
    # the spike starts 5 (cost 6), the marker max(5 + 1, 5 + 6) = 11. Core 2: u = 6, 7; spike
    # 7 (cost 2), marker max(8, 9) = 9. Core 1: a's 6 spikes enter at 24..29 and start 25..30
    # (cost 1 each), its marker enters 30 and starts 31; b's train enters at 31, 32, 33 and its
    # packets start at 32, 33, 34 (each one the cycle after it entered).
    rec = simulate_reference(wl, arch, hand_mapping(wl, arch, rows), 0, record_packets=True)
    assert {key: list(timing.packets) for key, timing in rec.trains.items()} == {
        (0, HOST, 0, 0): [(4, 5), (5, 11)],
        (0, HOST, 0, 2): [(6, 7), (7, 9)],
        (0, 0, 0, 1): [(24, 25), (25, 26), (26, 27), (27, 28), (28, 29), (29, 30), (30, 31)],
        (0, 1, 0, 1): [(31, 32), (32, 33), (33, 34)],
    }
    for timing in rec.trains.values():
        assert timing.packets[-1] == (timing.delivery, timing.marker_start)


def test_two_slices_on_one_core_take_turns_at_the_soma():
    # in (1,) -> a (2,) cut into a[0:1) (slice 0) and a[1:2) (slice 1), both on core 0;
    # out (1,) on core 1; T = 2. Each a slice: 1 row of 1 bit, 1 membrane word, 1 acc word,
    # fire 1 + 1 = 2 cycles.
    b = WorkloadBuilder("pair", timesteps=2, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (2,), threshold=0)
    b.linear("in", "a", np.ones((2, 1), np.int16), weight_bits=1)
    b.readout("out", (1,))
    b.linear("a", "out", np.array([[1, 2]], np.int16), weight_bits=8)
    b.set_samples(np.ones((1, 2, 1), np.uint8))
    wl = b.build()
    arch = tiny_arch()
    rows = [("a", 0, 1, 0, 1, 1, 1), ("a", 1, 2, 0, 1, 1, 1), ("out", 0, 1, 1, 2, 4, 1)]
    r = simulate_reference(wl, arch, hand_mapping(wl, arch, rows), 0)
    # t=0: host F=2, g=0, ejection 2, u = 2,3. The input spike reads row 0 of each slice
    # (addresses 0 and 1) and updates one neuron of each: cost 1 + 1 = 2, starts 3; marker 5 -> 7.
    # Both slices ready at 7: slice 0 first (7, 9), then slice 1 (9, 11).
    # Their trains (F = 2): injection 9 and 11, east 11 and 13, ejection 13 and 15;
    # core 1: spike 14, marker 15 -> 17; spike 16, marker 17 -> 19: fire out (19, 22).
    # t=1: host ready at max(host done 2, credits 9 and 11 + 0 hops) = 11: g 11, ejection 13,
    # u = 13,14; spike 14 (cost 2), marker 16 -> 18. Both slices wait for out's credit,
    # 22 + 1 * (R+L) = 24, so both are ready at 24: slice 0 (24, 26), slice 1 (26, 28).
    # Trains: ejection 30 and 32; core 1 markers 32 -> 34 and 34 -> 36: fire out (36, 39).
    assert r.fires == {(0, 0): (7, 9), (0, 1): (24, 26), (1, 0): (9, 11), (1, 1): (26, 28),
                       (2, 0): (19, 22), (2, 1): (36, 39)}
    assert r.trains[(0, HOST, 1, 0)] == TrainTiming(grants=(11, 13), delivery=14, marker_start=16)
    assert r.trains[(0, 1, 0, 1)] == TrainTiming(grants=(11, 13, 15), delivery=16, marker_start=17)
    assert r.trains[(0, 1, 1, 1)] == TrainTiming(grants=(28, 30, 32), delivery=33, marker_start=34)
    assert r.latency_cycles == 39
    assert r.soma_busy_cycles == (8, 6)
    assert r.integrate_busy_cycles == (6, 8)
    assert r.readout.tolist() == [6]
    assert_bits_equal_golden(wl, r, 0)


def test_soma_orders_fires_by_level_then_slice_index():
    # Mesh 1x2, host at core 0; in (1,) spikes. Slice 0 = p (1,) on core 1 reads in; on core 0:
    # slice 1 = a (10,) reads in, slice 2 = b (1,) reads p, slice 3 = c (1,) reads in;
    # slice 4 = out (1,) on core 1 reads a, b and c. All codes +1, every lif neuron spikes.
    b = WorkloadBuilder("order", timesteps=1, input_kind="spikes")
    b.input("in", (1,))
    b.lif("p", (1,), threshold=0)
    b.linear("in", "p", np.ones((1, 1), np.int16), weight_bits=1)
    b.lif("a", (10,), threshold=0)
    b.linear("in", "a", np.ones((10, 1), np.int16), weight_bits=1)
    b.lif("b", (1,), threshold=0)
    b.linear("p", "b", np.ones((1, 1), np.int16), weight_bits=1)
    b.lif("c", (1,), threshold=0)
    b.linear("in", "c", np.ones((1, 1), np.int16), weight_bits=1)
    b.readout("out", (1,))
    for src, n in (("a", 10), ("b", 1), ("c", 1)):
        b.linear(src, "out", np.ones((1, n), np.int16), weight_bits=8)
    b.set_samples(np.ones((1, 1, 1), np.uint8))
    wl = b.build()
    arch = tiny_arch()
    # a: membranes ceil(80/16) = 5, accs ceil(240/32) = 8 -> fire 1 + max(10, 3, 4) = 11;
    # p, b, c: fire 2; out: 12 one-word rows, membranes 4, accs ceil(72/32) = 3 -> fire 3.
    rows = [("p", 0, 1, 1, 1, 1, 1), ("a", 0, 10, 0, 1, 5, 8), ("b", 0, 1, 0, 1, 1, 1),
            ("c", 0, 1, 0, 1, 1, 1), ("out", 0, 1, 1, 12, 4, 3)]
    r = simulate_reference(wl, arch, hand_mapping(wl, arch, rows), 0)
    # Host: to core 0 g=0, ejection 2, u = 2,3; to core 1 g=2, east 4, ejection 6, u = 6,7.
    # Levels: p, a, c 1 (they read the host's level-0 input), b 2 (it reads p), so core 0's
    # soma order is a (1, 1), c (1, 3), b (2, 2).
    # Core 0: the input spike costs 10 (a) + 1 (c) = 11 from 3; marker 14 -> 16: a and c ready
    # at 16, a fires (16, 27). Core 1: spike 7, marker 8 -> 10: p fires (10, 12); its train:
    # injection 12, west 14, ejection 16, u = 16,17; core 0 starts it at 17 (cost 1), marker
    # 18 -> 20: b is ready at 20 while a fires. At 27 c goes before b although b has the lower
    # index: c (27, 29), b (29, 31).
    # To core 1 (keys (1, 1, 1) < (1, 3, 1) < (2, 2, 1)): a's 11 packets inj 27, east 29,
    # ejection 31, u = 31..41; c's train waits for the injection port (free at 27 + 11 = 38),
    # east link (free 40), ejection (free 42): u = 42,43;
    # b's: injection 40, east 42, ejection 44, u = 44,45. Core 1 starts a's at 32..41, marker 42;
    # c's 43, marker 44; b's 45, marker 46 -> 48: out fires (48, 51).
    assert r.fires == {(0, 0): (10, 12), (1, 0): (16, 27), (2, 0): (29, 31), (3, 0): (27, 29), (4, 0): (48, 51)}
    assert r.trains == {
        (0, HOST, 0, 0): TrainTiming(grants=(0, 2), delivery=3, marker_start=14),
        (0, HOST, 0, 1): TrainTiming(grants=(2, 4, 6), delivery=7, marker_start=8),
        (0, 0, 0, 0): TrainTiming(grants=(12, 14, 16), delivery=17, marker_start=18),
        (0, 1, 0, 1): TrainTiming(grants=(27, 29, 31), delivery=41, marker_start=42),
        (0, 2, 0, 1): TrainTiming(grants=(40, 42, 44), delivery=45, marker_start=46),
        (0, 3, 0, 1): TrainTiming(grants=(38, 40, 42), delivery=43, marker_start=44),
    }
    assert r.readout.tolist() == [12]
    assert_bits_equal_golden(wl, r, 0)


def test_soma_waits_for_the_next_fire_of_its_order():
    # Mesh 1x3, host at core 0; in (1,) spikes at both timesteps, T = 2. On core 0 slice 0 = x (1,)
    # and slice 1 = y (1,) read in; slice 2 = d (12,) on core 1 reads x; slice 3 = z (1,) and
    # slice 4 = out (1,) on core 2, z reads y, out reads d and z. Every code +1: all spike.
    b = WorkloadBuilder("wait", timesteps=2, input_kind="spikes")
    b.input("in", (1,))
    for name in ("x", "y"):
        b.lif(name, (1,), threshold=0)
        b.linear("in", name, np.ones((1, 1), np.int16), weight_bits=1)
    b.lif("d", (12,), threshold=0)
    b.linear("x", "d", np.ones((12, 1), np.int16), weight_bits=1)
    b.lif("z", (1,), threshold=0)
    b.linear("y", "z", np.ones((1, 1), np.int16), weight_bits=1)
    b.readout("out", (1,))
    b.linear("d", "out", np.ones((1, 12), np.int16), weight_bits=8)
    b.linear("z", "out", np.ones((1, 1), np.int16), weight_bits=8)
    b.set_samples(np.ones((1, 2, 1), np.uint8))
    wl = b.build()
    arch = tiny_arch(1, 3)
    # Fires: x, y, z 1 + 1 = 2; d membranes 6, accs 9 -> 1 + max(12, 2, 3) = 13; out 13 one-word
    # rows, membranes 4, accs 2 -> 3.
    rows = [("x", 0, 1, 0, 1, 1, 1), ("y", 0, 1, 0, 1, 1, 1), ("d", 0, 12, 1, 1, 6, 9),
            ("z", 0, 1, 2, 1, 1, 1), ("out", 0, 1, 2, 13, 4, 2)]
    r = simulate_reference(wl, arch, hand_mapping(wl, arch, rows), 0)
    # Levels t=0: x, y 1; d, z 2; out 3. lambda_H(1) = 1 + max(0, 1, 1) = 2. t=1: x 1 + max(2, 1,
    # d 2) = 3; y 1 + max(2, 1, z 2) = 3; d 1 + max(x 3, 2, out 3) = 4; z 4; out 5.
    # Core 0's soma: (x,0) (y,0) (x,1) (y,1); core 2's: (z,0) (out,0) (z,1) (out,1); core 2's
    # ejection port: y's t=0 (1,1,2), d's (2,2,2), z's (2,3,2), y's t=1 (3,1,2), d's (4,2,2), z's (4,3,2).
    # t=0: host train g=0, ejection 2, u = 2,3; spike cost 1 + 1 = 2 from 3, marker 5 -> 7:
    # x (7, 9), y (9, 11). x's train: injection 9, east 11, ejection 13, u = 13,14; spike cost 12
    # from 14, marker 26 -> 28: d (28, 41). y's train: injection 11, east links 13 and 15,
    # ejection 17, u = 17,18; spike 18, marker 19 -> 21: z (21, 23). z's train to its own core is
    # eligible at the ejection port at 23+1+R = 25 but d's train goes first: d's injection 41,
    # east 43, ejection 45, u = 45..57, spikes 46..57, marker 58 -> 60; z's granted 58, u = 58,59,
    # spike 59, marker 60 -> 62: out (62, 65).
    # t=1: host ready at the credits 9 and 11 (0 hops) = 11: g=11, ejection 13, u = 13,14; spike
    # 14 (cost 2), marker 16 -> 18. y is ready at max(18, 11, credit z: 23 + 2 hops * 2 = 27) = 27,
    # x at max(18, 9, credit d: 41 + 1 hop * 2 = 43) = 43: the soma idles from 27 until x
    # (43, 45), then y (45, 47) (first-come-first-served would have fired y at 27).
    # x's train: injection 45, east 47, ejection 49, u = 49,50; spike from 50, marker 62 -> 64;
    # d ready at max(64, 41, credit out: 65 + 2) = 67: d (67, 80). y's train: injection
    # max(47, 45+2) = 47, east 49; router 1's east link is d's t=0 train's until 43 + 13 = 56:
    # g=56; ejection e = 58, free after z's t=0 train at 60: u = 60,61; spike 61, marker 62 -> 64:
    # z ready at max(64, 23, credit out: 65 + 0) = 65: z (65, 67). z's train is eligible at the
    # ejection port at 69 but waits for d's t=1 train: injection 80, east 82, ejection 84,
    # u = 84..96, marker 97 -> 99; z's granted 97, u = 97,98, marker 99 -> 101: out (101, 104).
    assert r.fires == {(0, 0): (7, 9), (0, 1): (43, 45), (1, 0): (9, 11), (1, 1): (45, 47),
                       (2, 0): (28, 41), (2, 1): (67, 80), (3, 0): (21, 23), (3, 1): (65, 67),
                       (4, 0): (62, 65), (4, 1): (101, 104)}
    assert r.trains == {
        (0, HOST, 0, 0): TrainTiming(grants=(0, 2), delivery=3, marker_start=5),
        (0, HOST, 1, 0): TrainTiming(grants=(11, 13), delivery=14, marker_start=16),
        (0, 0, 0, 1): TrainTiming(grants=(9, 11, 13), delivery=14, marker_start=26),
        (0, 0, 1, 1): TrainTiming(grants=(45, 47, 49), delivery=50, marker_start=62),
        (0, 1, 0, 2): TrainTiming(grants=(11, 13, 15, 17), delivery=18, marker_start=19),
        (0, 1, 1, 2): TrainTiming(grants=(47, 49, 56, 60), delivery=61, marker_start=62),
        (0, 2, 0, 2): TrainTiming(grants=(41, 43, 45), delivery=57, marker_start=58),
        (0, 2, 1, 2): TrainTiming(grants=(80, 82, 84), delivery=96, marker_start=97),
        (0, 3, 0, 2): TrainTiming(grants=(23, 58), delivery=59, marker_start=60),
        (0, 3, 1, 2): TrainTiming(grants=(67, 97), delivery=98, marker_start=99),
    }
    assert r.latency_cycles == 104
    assert r.soma_busy_cycles == (8, 26, 10)
    # out = 12 (d) + 1 (z) per timestep, no leak.
    assert r.readout.tolist() == [26]
    assert_bits_equal_golden(wl, r, 0)


def test_levels_of_a_skip_network_in_one_and_two_passes():
    # in (2,) -> a (2,) -> b (2,) -> out (1,), with a skip a -> out. Slices 0 = a, 1 = b, 2 = out.
    b = WorkloadBuilder("skip", timesteps=3, input_kind="spikes")
    b.input("in", (2,))
    b.lif("a", (2,), threshold=0)
    b.linear("in", "a", np.ones((2, 2), np.int16), weight_bits=1)
    b.lif("b", (2,), threshold=0)
    b.linear("a", "b", np.ones((2, 2), np.int16), weight_bits=1)
    b.readout("out", (1,))
    b.linear("a", "out", np.ones((1, 2), np.int16), weight_bits=8)
    b.linear("b", "out", np.ones((1, 2), np.int16), weight_bits=8)
    b.set_samples(np.ones((1, 3, 2), np.uint8))
    wl = b.build()
    arch = tiny_arch(1, 3)
    one = hand_mapping(wl, arch, [("a", 0, 2, 0, 2, 1, 2), ("b", 0, 2, 1, 2, 1, 2), ("out", 0, 1, 2, 4, 4, 2)])
    fire, host = service_levels(one, 0, 3)
    # t=0: lambda_H = 0; a = 1 + H 0 = 1; b = 1 + a 1 = 2; out = 1 + max(a 1, b 2) = 3.
    # t=1: H = 1 + max(H 0, a 1) = 2; a = 1 + max(H 2, a 1, b 2, out 3) = 4; b = 1 + max(a 4,
    #      b 2, out 3) = 5; out = 1 + max(a 4, b 5, out 3) = 6.
    # t=2: H = 1 + max(2, a 4) = 5; a = 1 + max(5, 4, 5, 6) = 7; b = 8; out = 9.
    assert host == [0, 2, 5]
    assert fire == {(0, 0): 1, (1, 0): 2, (2, 0): 3, (0, 1): 4, (1, 1): 5, (2, 1): 6,
                    (0, 2): 7, (1, 2): 8, (2, 2): 9}
    # out alone in pass 1: the host re-injects a and b, so a and b keep only their same-pass
    # destination (a -> b) and out only host sources.
    two = hand_mapping(wl, arch, [("a", 0, 2, 0, 2, 1, 2, 0), ("b", 0, 2, 1, 2, 1, 2, 0),
                                  ("out", 0, 1, 2, 4, 4, 2, 1)], n_passes=2)
    fire, host = service_levels(two, 0, 3)
    # Pass 0: a 1, b 2; H(1) = 1 + max(0, a 1) = 2; a 1 + max(2, 1, b 2) = 3; b 4;
    # H(2) = 1 + max(2, a 3) = 4; a 1 + max(4, 3, b 4) = 5; b 6.
    assert host == [0, 2, 4]
    assert fire == {(0, 0): 1, (1, 0): 2, (0, 1): 3, (1, 1): 4, (0, 2): 5, (1, 2): 6}
    fire, host = service_levels(two, 1, 3)
    # Pass 1: out 1 + H; H(t) = 1 + max(H(t-1), out(t-1)).
    assert host == [0, 2, 4]
    assert fire == {(2, 0): 1, (2, 1): 3, (2, 2): 5}
    # The checker's fixed-point reading of §2b gives the same numbers.
    for mapping, p in ((one, 0), (two, 0), (two, 1)):
        relaxed_fire, relaxed_host = _levels_by_relaxation(mapping, p, 3)
        assert (relaxed_fire, list(relaxed_host.values())) == service_levels(mapping, p, 3)


def test_two_pass_mapping_on_one_core():
    # A 1x1 mesh holds a (pass 0), then out (pass 1); off-chip latency 10, 8 bits/cycle.
    b = WorkloadBuilder("passes", timesteps=1, input_kind="spikes")
    b.input("in", (1,))
    b.lif("a", (2,), threshold=0)
    b.linear("in", "a", np.ones((2, 1), np.int16), weight_bits=1)
    b.readout("out", (1,))
    b.linear("a", "out", np.array([[1, 2]], np.int16), weight_bits=8)
    b.set_samples(np.ones((1, 1, 1), np.uint8))
    wl = b.build()
    arch = tiny_arch(1, 1, offchip={"latency_cycles": 10, "bandwidth_bits_per_cycle": 8})
    rows = [("a", 0, 2, 0, 1, 1, 2, 0), ("out", 0, 1, 0, 2, 4, 1, 1)]
    r = simulate_reference(wl, arch, hand_mapping(wl, arch, rows, n_passes=2), 0)
    # load(0) = 10 + ceil(1 word * 16 / 8) = 12 = start(0). Pass 0: host F=2 g=0, ejection 2,
    # u = 2,3; spike cost 2 starts 3; marker 5 -> 7; fire a (7, 10) -> absolute (19, 22).
    # spill(0) = 10 + ceil(T*n = 2 bits / 8) = 11; load(1) = 10 + ceil(2 * 16 / 8) = 14;
    # start(1) = 22 + 11 + 14 = 47. Pass 1: host re-injects a's 2 spikes (F=3): g=0, ejection 2,
    # u = 2,3,4; spikes start 3, 4 (cost 1), marker 5 -> 7; fire out (7, 10) -> (54, 57).
    assert r.trains == {
        (0, HOST, 0, 0): TrainTiming(grants=(12, 14), delivery=15, marker_start=17),
        (1, 0, 0, 0): TrainTiming(grants=(47, 49), delivery=51, marker_start=52),
    }
    assert r.fires == {(0, 0): (19, 22), (1, 0): (54, 57)}
    assert r.latency_cycles == 57
    assert r.soma_busy_cycles == (6,)
    assert r.integrate_busy_cycles == (6,)
    assert_bits_equal_golden(wl, r, 0)
    # Packet records are absolute like the rest: pass 0 (offset 12) u = 2, 3 and starts 3, 5 ->
    # (14, 15), (15, 17); pass 1 (offset 47) u = 2, 3, 4 and starts 3, 4, 5 -> (49, 50), (50, 51),
    # (51, 52).
    rec = simulate_reference(wl, arch, hand_mapping(wl, arch, rows, n_passes=2), 0, record_packets=True)
    assert rec.trains == {
        (0, HOST, 0, 0): TrainTiming(grants=(12, 14), delivery=15, marker_start=17, packets=((14, 15), (15, 17))),
        (1, 0, 0, 0): TrainTiming(grants=(47, 49), delivery=51, marker_start=52,
                                  packets=((49, 50), (50, 51), (51, 52))),
    }


def test_conv_spike_cost_counts_rows_bank_conflicts_and_lanes():
    # conv 3x3, padding 1, 1x3x3 -> 2x3x3, one slice holding both channels. Row of (c_src, kh, kw)
    # is (0*3 + kh)*3 + kw and holds 2 one-bit codes = 1 word, at address row (base 0), bank row % 2.
    b = WorkloadBuilder("conv", timesteps=1, input_kind="spikes")
    b.input("in", (1, 3, 3))
    b.lif("c", (2, 3, 3))
    b.conv2d("in", "c", np.ones((2, 1, 3, 3), np.int16), weight_bits=1, padding=1)
    b.readout("out", (1,))
    b.linear("c", "out", np.ones((1, 18), np.int16), weight_bits=1)
    b.set_samples(np.zeros((1, 1, 1, 3, 3), np.uint8))
    wl = b.build()
    arch = tiny_arch(weight_sram={"banks": 2, "bank_words": 64, "word_bits": 16}, synapse_lanes=4)
    sl = Slice(index=0, population="c", neuron_start=0, neuron_stop=18, channel_start=0, channel_stop=2, core=0,
               pass_index=0, weight_words=9, membrane_words=9, acc_words=14, weight_bits_stored=18,
               membrane_bits_stored=144, acc_bits_stored=432)
    table = CoreSynapses(wl, arch, [sl], "<test>")
    # Centre (1, 1): 9 offsets, rows 0..8 on banks 0,1,0,1,... -> 5 read cycles; 18 updates / 4
    # lanes -> 5 cycles; cost max(5, 5) = 5.
    cost, reaches = table.spike("in", 4)
    assert cost == 5 and len(reaches[0].targets) == 18
    # Corner (0, 0): offsets (1,1), (1,2), (2,1), (2,2) -> rows 4, 5, 7, 8 on banks 0, 1, 1, 0:
    # cycle 1 reads 4, 5; bank 1 is busy, so cycle 2 reads 7, 8 -> 2; 8 updates / 4 lanes = 2.
    cost, reaches = table.spike("in", 0)
    assert cost == 2 and sorted(reaches[0].targets.tolist()) == [0, 1, 3, 4, 9, 10, 12, 13]
    assert bank_scan_cycles([], 2) == 0
    assert bank_scan_cycles([0, 2, 4], 2) == 3
    assert bank_scan_cycles([0, 1, 2, 3], 4) == 1


def test_reference_workload_multi_pass_bits_equal_golden():
    wl = reference_workload()
    arch = tiny_arch(1, 2, neuron_capacity=16, weight_sram={"banks": 2, "bank_words": 256, "word_bits": 16})
    mapping = map_workload(wl, arch)
    assert mapping.n_passes == 2
    for sample in range(wl.n_samples):
        r = simulate_reference(wl, arch, mapping, sample)
        assert_bits_equal_golden(wl, r, sample)
        # Every fire of a pass lies after that pass's weights are loaded and before the latency.
        assert max(end for _, end in r.fires.values()) == r.latency_cycles


def _levels_by_relaxation(mapping, p: int, T: int) -> tuple[dict, dict]:
    """lambda(s, t) and lambda_H(t) of timing doc §2b for pass ``p``, as the least fixed point.

    The model computes levels in one sweep in dependency order; this re-applies every equation
    of §2b to all jobs until nothing changes, so the two agree only if they read the doc alike.
    """
    here = [s.index for s in mapping.slices if s.pass_index == p]
    dests = {i: [d for d in mapping.destinations[i] if mapping.slices[d].pass_index == p] for i in here}
    host_dests = {d for d in mapping.input_destinations if mapping.slices[d].pass_index == p}
    for s in mapping.slices:
        if s.pass_index < p:
            host_dests.update(d for d in mapping.destinations[s.index] if mapping.slices[d].pass_index == p)
    fire = {(i, t): 0 for i in here for t in range(T)}
    host = {t: 0 for t in range(T)} if host_dests else {}
    changed = True
    while changed:
        changed = False
        for t in host:
            new = 0 if t == 0 else 1 + max([host[t - 1]] + [fire[(d, t - 1)] for d in host_dests])
            changed |= new != host[t]
            host[t] = new
        for i, t in fire:
            terms = [0] + [fire[(x, t)] for x in here if i in dests[x]] + ([host[t]] if i in host_dests else [])
            if t > 0:
                terms += [fire[(i, t - 1)]] + [fire[(d, t - 1)] for d in dests[i]]
            changed |= 1 + max(terms) != fire[(i, t)]
            fire[(i, t)] = 1 + max(terms)
    return fire, host


def check_doc_recurrences(wl, arch, mapping, sample: int, r) -> None:
    """The recorded cycles obey the closed forms of timing doc §2b, §3 (links) and §5 (soma).

    The model itself steps cycles; this re-derives every link grant and fire start from the
    doc's recurrences using the recorded cycles of the other units: each link serves its trains
    in increasing key (level, source, destination core), ``g = max(e, previous g + F)`` (the
    ejection port free at delivery + 1); each soma serves its fires in increasing (level, slice
    index), starting at max(ready, end of its previous fire).
    """
    R, L, P_int = arch.noc.router_latency_cycles, arch.noc.link_latency_cycles, arch.core.integrate_pipeline_cycles
    cols, hops, T = arch.chip.mesh_cols, mapping.hops, wl.timesteps
    levels = [_levels_by_relaxation(mapping, p, T) for p in range(mapping.n_passes)]
    input_packets = np.count_nonzero(wl.sample_input(sample).reshape(T, -1), axis=1)
    n_spikes = {}
    for s in mapping.slices:
        if s.population in r.spikes:
            flat = r.spikes[s.population].reshape(T, -1)
            for t in range(T):
                n_spikes[(s.index, t)] = int(flat[t, s.neuron_start:s.neuron_stop].sum())

    def from_host(p: int, src: int) -> bool:
        return src == HOST or mapping.slices[src].pass_index != p

    host_ready = {}
    for (p, src, t, _), timing in r.trains.items():
        if from_host(p, src):
            host_ready[(p, t)] = min(host_ready.get((p, t), timing.grants[0]), timing.grants[0])
    uses: dict[tuple, list] = {}
    for key, timing in r.trains.items():
        p, src, t, dest = key
        n_packets = 1 + (int(input_packets[t]) if src == HOST else n_spikes[(src, t)])
        fire_level, host_level = levels[p]
        if from_host(p, src):
            start_core, e, first, level = arch.io_core, host_ready[(p, t)], ("host",), host_level[t]
        else:
            core = mapping.slices[src].core
            start_core, e, first, level = core, r.fires[(src, t)][1], (core, "inj"), fire_level[(src, t)]
        path = [first] + xy_links(start_core, dest, cols)
        assert len(path) == len(timing.grants) == hops(start_core, dest) + 2
        for i, (link, g) in enumerate(zip(path, timing.grants)):
            uses.setdefault((p, link), []).append(((level, src, dest), e, g, n_packets, timing.delivery))
            e = g + (1 if i == 0 else L) + R
        assert timing.marker_start >= timing.delivery + 1
    for (p, link), trains in uses.items():
        free = None
        for order, e, g, n_packets, delivery in sorted(trains):
            assert g == (e if free is None else max(e, free)), (p, link, order, e, g)
            free = delivery + 1 if link[-1] == "ej" else g + n_packets
    marker_done = {key: timing.marker_start + 1 + P_int for key, timing in r.trains.items()}
    # Pass starts (§7): a slice with no source at all (its window lies in the padding) is ready
    # for t=0 at its pass start, and a soma's first fire of a pass starts no earlier.
    pass_start, bw, word_bits = [], arch.offchip.bandwidth_bits_per_cycle, arch.core.weight_sram.word_bits
    for p in range(mapping.n_passes):
        load = arch.offchip.latency_cycles + -(-sum(s.weight_words * word_bits for s in mapping.slices
                                                     if s.pass_index == p) // bw)
        if p == 0:
            pass_start.append(load if mapping.n_passes > 1 else 0)
            continue
        boundary = sum(T * s.n_neurons for s in mapping.slices if s.pass_index == p - 1
                       and any(mapping.slices[d].pass_index >= p for d in mapping.destinations[s.index]))
        end = max(r.fires[(s.index, T - 1)][1] for s in mapping.slices if s.pass_index == p - 1)
        pass_start.append(end + arch.offchip.latency_cycles + -(-boundary // bw) + load)
    # Host (§7): ready for t=0 at the pass start, for t>0 when the last credit is back (its
    # trains of t-1 are on the port by then: every one of them feeds a slice that sends a credit).
    for (p, t), ready in host_ready.items():
        dests = {d for d in mapping.input_destinations if mapping.slices[d].pass_index == p}
        for s in mapping.slices:
            if s.pass_index < p:
                dests.update(d for d in mapping.destinations[s.index] if mapping.slices[d].pass_index == p)
        if t == 0:
            assert ready == pass_start[p], p
        else:
            assert ready == max(r.fires[(d, t - 1)][1] + hops(mapping.slices[d].core, arch.io_core) * (R + L)
                                for d in dests), (p, t)
    # Soma (§5): each core's fires of a pass in its fixed order, from ready cycles built out of
    # the recorded cycles.
    for core in range(arch.n_cores):
        for p in range(mapping.n_passes):
            fire_level = levels[p][0]
            here = [s for s in mapping.slices if s.core == core and s.pass_index == p]
            ready = {}
            for s in here:
                sources = [x for x, ds in enumerate(mapping.destinations) if s.index in ds]
                sources += [HOST] if s.index in mapping.input_destinations else []
                for t in range(T):
                    stamps = [pass_start[p]] + [marker_done[(p, x, t, core)] for x in sources]
                    if t > 0:
                        stamps.append(r.fires[(s.index, t - 1)][1])
                        stamps += [r.fires[(d, t - 1)][1] + hops(mapping.slices[d].core, core) * (R + L)
                                   for d in mapping.destinations[s.index] if mapping.slices[d].pass_index == p]
                    ready[(s.index, t)] = max(stamps)
            free = pass_start[p]
            for _, i, t in sorted((fire_level[(i, t)], i, t) for i, t in ready):
                assert r.fires[(i, t)][0] == max(ready[(i, t)], free), (i, t)
                free = r.fires[(i, t)][1]


def check_packet_records(wl, arch, mapping, sample: int, r) -> None:
    """The recorded (u_k, start_k) of every packet obey timing doc §3 (ejection) and §4 (integrate).

    Per pass and core, the packets in the order they entered the spike buffer (j = 0, 1, ...)
    must satisfy ``u_0 = max(g_E, start(j - S) + 1)``, ``u_k = max(u_{k-1} + 1, start(j - S) + 1)``,
    be started in that order with ``start(j) >= u_j + 1`` and, after a marker (cost 1),
    ``start(j) = max(u_j + 1, start(j - 1) + 1)``; the stalls they imply sum to
    ``ejection_stall_cycles``.
    """
    S, T = arch.core.spike_buffer_packets, wl.timesteps
    input_packets = np.count_nonzero(wl.sample_input(sample).reshape(T, -1), axis=1)
    per_core: dict[tuple[int, int], list] = {}
    for (p, src, t, dest), timing in r.trains.items():
        if src == HOST:
            n_spikes = int(input_packets[t])
        else:
            sl = mapping.slices[src]
            n_spikes = int(r.spikes[sl.population].reshape(T, -1)[t, sl.neuron_start:sl.neuron_stop].sum())
        packets = timing.packets
        assert isinstance(packets, tuple) and len(packets) == n_spikes + 1
        assert packets[-1] == (timing.delivery, timing.marker_start)
        for k, (u, start) in enumerate(packets):
            per_core.setdefault((p, dest), []).append((u, start, k, timing.grants[-1], k == n_spikes))
    stalls = [0] * arch.n_cores
    for (_, core), seq in per_core.items():
        seq.sort()
        for j, (u, start, k, g_e, _) in enumerate(seq):
            floor = seq[j - S][1] + 1 if j >= S else None
            if k == 0:
                assert u == max(g_e, floor if floor is not None else g_e)
                stalls[core] += u - g_e
            else:
                prev = seq[j - 1][0]
                assert u == max(prev + 1, floor if floor is not None else prev + 1)
                stalls[core] += u - (prev + 1)
            assert start >= u + 1
            if j > 0:
                assert start > seq[j - 1][1]
                if seq[j - 1][4]:
                    assert start == max(u + 1, seq[j - 1][1] + 1)
    assert tuple(stalls) == r.ejection_stall_cycles


_GEOMETRIES = [
    # rows, cols, neuron capacity, spike buffer packets, io router, mapping strategy, overrides
    (3, 3, 16, 4, (1, 1), "balanced", {}),
    (1, 2, 12, 1, (0, 1), "balanced", {"fire_pipeline_cycles": 12}),
    (2, 2, 64, 2, (0, 0), "balanced", {"neuron_lanes": 4, "synapse_lanes": 3, "integrate_pipeline_cycles": 0,
                                       "fire_pipeline_cycles": 0, "noc": {"router_latency_cycles": 2,
                                                                          "link_latency_cycles": 3}}),
    (1, 1, 8, 2, (0, 0), "balanced", {}),  # almost always several passes
    # Several slices per core and slow somas: soma contention, credits that bind.
    (2, 3, 8, 3, (1, 2), "packed", {"fire_pipeline_cycles": 25, "synapse_lanes": 2}),
    (1, 2, 64, 4, (0, 0), "packed", {"fire_pipeline_cycles": 25}),
]


@given(workload_and_sample(max_populations=4, max_neurons_per_population=32, max_timesteps=3),
       st.sampled_from(_GEOMETRIES))
def test_bits_equal_golden_on_random_workloads(ws, geometry):
    wl, sample = ws
    rows, cols, capacity, buffer, io, strategy, overrides = geometry
    arch = tiny_arch(rows, cols, io=io, spike_buffer_packets=buffer, neuron_capacity=capacity,
                     weight_sram={"banks": 2, "bank_words": 4096, "word_bits": 16},
                     acc_sram={"banks": 2, "bank_words": 4096, "word_bits": 32}, **overrides)
    try:
        mapping = map_workload(wl, arch, strategy=strategy)
    except MappingError as exc:
        # Tiny cores on purpose (to force row slices and passes): one row may not fit at all.
        if exc.field != "core.neuron_capacity":
            raise
        reject()
    r = simulate_reference(wl, arch, mapping, sample, record_packets=True)
    assert_bits_equal_golden(wl, r, sample)
    check_doc_recurrences(wl, arch, mapping, sample, r)
    check_packet_records(wl, arch, mapping, sample, r)
    n_cores = rows * cols
    assert len(r.soma_busy_cycles) == len(r.integrate_busy_cycles) == len(r.ejection_stall_cycles) == n_cores
    assert set(r.fires) == {(s.index, t) for s in mapping.slices for t in range(wl.timesteps)}
    assert r.latency_cycles == max(end for _, end in r.fires.values())
    assert sum(r.soma_busy_cycles) == sum(end - start for start, end in r.fires.values())
    for timing in r.trains.values():
        assert list(timing.grants) == sorted(timing.grants)
        assert timing.grants[-1] <= timing.delivery < timing.marker_start


def test_bad_sample_index_is_a_workload_error():
    wl = chain_workload(1, [[[1, 1]]])
    arch = tiny_arch()
    mapping = hand_mapping(wl, arch, CHAIN_ROWS)
    with pytest.raises(WorkloadError, match=r"sample: index 3 is not one of the workload's 1 samples"):
        simulate_reference(wl, arch, mapping, 3)


def test_mapping_for_another_mesh_or_layout_is_a_mapping_error():
    wl = chain_workload(1, [[[1, 1]]])
    arch = tiny_arch()
    with pytest.raises(MappingError, match=r"mesh: is 1x3 but the arch's mesh is 1x2"):
        simulate_reference(wl, arch, hand_mapping(wl, tiny_arch(1, 3), CHAIN_ROWS), 0)
    wrong_words = [("a", 0, 2, 0, 3, 1, 2), ("out", 0, 1, 1, 2, 4, 1)]
    with pytest.raises(MappingError, match=r"slices\[0\]\.weight_words: is 3, but the slice's projections need 2"):
        simulate_reference(wl, arch, hand_mapping(wl, arch, wrong_words), 0)
    mapping = hand_mapping(wl, arch, CHAIN_ROWS)
    broken = Mapping(arch_name=arch.name, workload_name=wl.name, mesh_rows=1, mesh_cols=2, n_passes=1,
                     slices=mapping.slices, destinations=((), ()), core_of_input=0,
                     input_destinations=mapping.input_destinations)
    with pytest.raises(MappingError, match=r"destinations\[0\]: misses slice 1"):
        simulate_reference(wl, arch, broken, 0)
