"""The cycle-stepped reference on systems of chips (docs/timing-model.md §12), on hand-built cases.

Every expected cycle below is derived by hand from the timing doc (derivations in the comments).
Common setting: R = L = 1, P_int = P_fire = 0, one neuron lane (a fire of ``n`` neurons lasts
``n`` cycles; asserted), wide synapse lanes (every spike packet here costs the integrate unit 1
cycle; a marker costs 1), S = 8, ``noc.flit_bits`` = 32, an input of zeros (a host train is its
marker alone), hidden neurons with ``bias 1 > threshold 0`` so every one spikes at t = 0 (a train
of ``n`` neurons has ``F = n + 1`` packets), and hidden populations that read the input through a
delay-1 projection, so they are ready at cycle 0 at t = 0 (§5 condition 1: no edge for t - e < 0).

A chip-to-chip link has packet time ``s = ceil(flit_bits / bandwidth)`` and latency ``L_c``
(§12): packet k crosses it at ``x_k = max(x_{k-1} + s, a_k)``, is ready at the next router's
output port at ``x_k + L_c + R``, and (finite buffers) its slot comes back ``L_c`` after it leaves.
Credits on the side band take ``R`` plus the hop's latency per hop (``L`` on a chip, ``L_c`` for a
chip-to-chip hop): the reading of §5 condition 3's ``hops * (R + L)`` for a system.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from strategies.archs import arch_dict

from qsnnsim.arch import ArchSpec, ChipLinkSpec, SourcedValue, SystemSpec, arch_from_dict
from qsnnsim.errors import MappingError
from qsnnsim.golden import run_golden
from qsnnsim.mapping import map_workload
from qsnnsim.reference import HOST, fire_cycles_of, simulate_reference
from qsnnsim.workload import WorkloadBuilder

OPTIONS = list(itertools.product(("level_order", "round_robin"), ("level", "ready")))


def with_options(arch: ArchSpec, arbitration="level_order", soma_order="level", router_buffers="unbounded",
                 depth=None) -> ArchSpec:
    noc = dataclasses.replace(arch.noc, arbitration=arbitration, router_buffers=router_buffers,
                              **({} if depth is None else {"buffer_depth_flits": depth}))
    return dataclasses.replace(arch, noc=noc, core=dataclasses.replace(arch.core, soma_order=soma_order))


def system_arch(chips=(1, 1), mesh=(1, 1), s=None, latency=5, depth=4, io_chip=(0, 0), system=True) -> ArchSpec:
    """``chips`` rows x cols of ``mesh`` chips; chip links of packet time ``s`` (bandwidth ``ceil(32 / s)``
    bits per cycle; 32-bit flits) and latency ``latency``. ``system=False``: no system section at all."""
    data = arch_dict(chip={"clock_mhz": 100.0, "mesh_rows": mesh[0], "mesh_cols": mesh[1]})
    data["noc"].update(router_latency_cycles=1, link_latency_cycles=1, buffer_depth_flits=depth, flit_bits=32)
    data["offchip"]["io_router"] = [0, 0]
    data["core"].update(spike_buffer_packets=8, synapse_lanes=4, neuron_lanes=1,
                        integrate_pipeline_cycles=0, fire_pipeline_cycles=0)
    arch = arch_from_dict(data, "<test_reference_system>")
    if not system:
        return arch
    bandwidth = -(-32 // s) if s is not None else 32
    assert -(-32 // bandwidth) == (s or 1)
    src = "test value, hand-derived case"
    link = ChipLinkSpec(width_bits=SourcedValue(float(bandwidth), src),
                        bandwidth_bits_per_cycle=SourcedValue(float(bandwidth), src),
                        latency_cycles=SourcedValue(float(latency), src),
                        pj_per_bit=SourcedValue(1.0, src))
    spec = SystemSpec(chip_rows=chips[0], chip_cols=chips[1], io_chip=io_chip, link=link)
    return dataclasses.replace(arch, system=spec).validate("<test_reference_system>")


def chain_workload(n_hidden: int, n_out: int = 2, timesteps: int = 1):
    """in (1,) -> X (n_hidden, delay 1) -> readout out (n_out)."""
    b = WorkloadBuilder("system", timesteps=timesteps, input_kind="spikes")
    b.input("in", (1,))
    b.lif("X", (n_hidden,), threshold=0, bias=1)
    b.linear("in", "X", np.ones((n_hidden, 1), np.int16), weight_bits=1, acc_bits=8, delay=1)
    b.readout("out", (n_out,))
    b.linear("X", "out", np.ones((n_out, n_hidden), np.int16), weight_bits=1, acc_bits=8)
    b.set_samples(np.zeros((1, timesteps, 1), np.uint8))
    return b.build()


def placed(workload, arch, cores: dict[str, int]):
    """A packed mapping (one slice per population, asserted) with each population on the given core."""
    mapping = map_workload(workload, arch, strategy="packed")
    assert (mapping.mesh_rows, mapping.mesh_cols) == (arch.grid_rows, arch.grid_cols)
    assert [s.population for s in mapping.slices] == list(cores)
    slices = tuple(dataclasses.replace(s, core=cores[s.population]) for s in mapping.slices)
    return dataclasses.replace(mapping, slices=slices)


def test_a_train_crosses_a_chip_link_s_cycles_per_packet():
    # 2x1 system of 1x1 chips: core 0 on chip (0,0), core 1 on chip (1,0); the hop 0->1 (south) is a
    # chip-to-chip link with s = ceil(32 / 11) = 3, L_c = 5. Host at core 0. X (slice 0, n=3) on
    # core 0, out (slice 1) on core 1. X fires [0,3); its train (F=4) is eligible at inject 0 at 3.
    #   inject 0: g = 3, x = 3, 4, 5, 6 -> ready at 0->1 at x + 1 + R = 5, 6, 7, 8 (eligible 5).
    #   0->1 (chip link): g = 5, x_k = max(x_{k-1} + 3, a_k) = 5, 8, 11, 14 (free at 17).
    #   eject 1: ready at x + L_c + R = 11, 14, 17, 20 (eligible 11): g = 11, u = 11, 14, 17, 20.
    #   integrate: start = u + 1 = 12, 15, 18, 21 (each spike costs 1). Marker completes 22: out fires.
    # chip_link_bit = 4 packets x 32 bits. Nothing waits for a link: every link_wait is 0.
    # Occupancy (§11): router 0's local port [x^I + 1, x^C): [4,5) [5,8) [6,11) [7,14) -> 3 at cycle 7;
    # router 1's north port [x^C + L_c, u): [10,11) [13,14) [16,17) [19,20) -> 1.
    wl = chain_workload(3)
    arch = system_arch(chips=(2, 1), s=3, latency=5)
    assert (arch.grid_rows, arch.grid_cols, arch.io_core) == (2, 1, 0)
    mapping = placed(wl, arch, {"X": 0, "out": 1})
    assert fire_cycles_of(mapping.slices[0], arch) == 3
    f_out = fire_cycles_of(mapping.slices[1], arch)
    for arbitration, soma_order in OPTIONS:  # one train per link: every option gives the same cycles
        for buffers, depth in (("unbounded", None), ("finite", 64)):
            res = simulate_reference(wl, with_options(arch, arbitration, soma_order, buffers, depth), mapping, 0,
                                     record_packets=True)
            timing = res.trains[(0, 0, 0, 1)]
            assert timing.grants == (3, 5, 11)
            assert timing.packets == ((11, 12), (14, 15), (17, 18), (20, 21))
            assert (timing.delivery, timing.marker_start) == (20, 21)
            assert res.trains[(0, HOST, 0, 0)].grants == (0, 2)
            assert res.fires[(0, 0)] == (0, 3)
            assert res.fires[(1, 0)] == (22, 22 + f_out)
            assert res.latency_cycles == 22 + f_out
            assert res.actions["chip_link_bit"] == 4 * 32
            assert res.link_wait_cycles == {"host": 0, "inject 0": 0, "0->1": 0, "eject 0": 0, "eject 1": 0}
            assert set(res.link_stall_cycles.values()) == {0}
            assert res.ejection_stall_cycles == (0, 0)
            assert res.noc_buffer_peak_flits == (3, 1)


def test_spacing_behind_a_chip_link_is_kept_on_chip_and_host_on_another_chip():
    # 1x2 system of 1x2 chips: grid 1x4, cores 0 1 on chip (0,0), cores 2 3 on chip (0,1); the host
    # is at io_router (0,0) of io_chip (0,1): core 2. s = 2 (bandwidth 16), L_c = 5.
    # X (n=3) on core 0, out on core 3. X fires [0,3); train F=4, inject 0 at 3, x 3..6.
    #   0->1 (mesh): ready x + 1 + R = 5..8; g 5, x 5, 6, 7, 8.
    #   1->2 (chip): ready x + L + R = 7..10; g 7, x = 7, 9, 11, 13.
    #   2->3 (mesh): ready x + L_c + R = 13, 15, 17, 19; g 13, x = 13, 15, 17, 19 (the spacing s = 2 kept).
    #   eject 3: ready x + L + R = 15, 17, 19, 21; u = 15, 17, 19, 21; starts 16, 18, 20, 22.
    #   Marker completes 23: out fires [23, 23 + f_out). chip_link_bit = 4 x 32.
    # Host train of t = 0 to core 0 (marker only): host port g 0 at core 2; 2->1 (chip link) ready at
    # 0 + 1 + R = 2, g 2; 1->0 ready at 2 + L_c + R = 8, g 8; eject 0 ready 8 + L + R = 10, u 10.
    # It crosses one chip link: chip_link_bit += 32.
    wl = chain_workload(3)
    arch = system_arch(chips=(1, 2), mesh=(1, 2), s=2, latency=5, io_chip=(0, 1))
    assert (arch.grid_rows, arch.grid_cols, arch.io_core) == (1, 4, 2)
    mapping = placed(wl, arch, {"X": 0, "out": 3})
    f_out = fire_cycles_of(mapping.slices[1], arch)
    for arbitration, soma_order in OPTIONS:
        for buffers, depth in (("unbounded", None), ("finite", 64)):
            res = simulate_reference(wl, with_options(arch, arbitration, soma_order, buffers, depth), mapping, 0,
                                     record_packets=True)
            timing = res.trains[(0, 0, 0, 3)]
            assert timing.grants == (3, 5, 7, 13, 15)
            assert timing.packets == ((15, 16), (17, 18), (19, 20), (21, 22))
            assert res.trains[(0, HOST, 0, 0)].grants == (0, 2, 8, 10)
            assert res.fires[(1, 0)] == (23, 23 + f_out)
            assert res.actions["chip_link_bit"] == 5 * 32
            assert set(res.link_wait_cycles) == {"host", "inject 0", "0->1", "1->2", "2->3", "2->1", "1->0",
                                                 "eject 0", "eject 3"}
            assert set(res.link_wait_cycles.values()) == {0}


def test_finite_buffers_credit_return_takes_the_chip_link_latency():
    # 2x1 system of 1x1 chips as in the first test, s = 2 (bandwidth 16), L_c = 5, B = 1 flit.
    # inject 0 (C = 1) feeds router 0's local port: x^I_k >= max(x^I_{k-1} + 1, 3, x^C_{k-1} + 1).
    # 0->1 (chip link, C = L_c = 5) feeds router 1's north port:
    #   x^C_k >= max(x^C_{k-1} + s, x^I_k + 1 + R, u_{k-1} + L_c).
    # eject 1: u_k = max(u_{k-1} + 1, x^C_k + L_c + R) (S = 8: the spike buffer never fills).
    # k=0: x^I 3, x^C 5, u 11, start 12.
    # k=1: x^I max(4, 6) = 6 (stall 2); x^C max(7, 8, 16) = 16 (stall 16 - 8 = 8); u 22; start 23.
    # k=2: x^I max(7, 17) = 17 (stall 10); x^C max(18, 19, 27) = 27 (stall 8); u 33; start 34.
    # k=3: x^I max(18, 28) = 28 (stall 10); x^C max(29, 30, 38) = 38 (stall 8); u 44; start 45.
    # Stalls: inject 0: 22, 0->1: 24. Marker completes 46: out fires at 46. Grants: inject 3, 0->1 5
    # (its head crosses at once), eject 1 at 11. (With a credit latency of L = 1 instead of L_c the
    # chip link would cross at 5, 12, ...: the test pins L_c.)
    # Occupancy: router 0's local port [x^I + 1, x^C): [4,5) [7,16) [18,27) [29,38) -> 1; router 1's
    # north port [x^C + 5, u): [10,11) [21,22) [32,33) [43,44) -> 1.
    wl = chain_workload(3)
    arch = system_arch(chips=(2, 1), s=2, latency=5)
    mapping = placed(wl, arch, {"X": 0, "out": 1})
    f_out = fire_cycles_of(mapping.slices[1], arch)
    for arbitration, soma_order in OPTIONS:
        res = simulate_reference(wl, with_options(arch, arbitration, soma_order, "finite", 1), mapping, 0,
                                 record_packets=True)
        timing = res.trains[(0, 0, 0, 1)]
        assert timing.grants == (3, 5, 11)
        assert timing.packets == ((11, 12), (22, 23), (33, 34), (44, 45))
        assert res.link_stall_cycles == {"host": 0, "inject 0": 22, "0->1": 24, "eject 0": 0, "eject 1": 0}
        assert res.ejection_stall_cycles == (0, 0)
        assert res.noc_buffer_peak_flits == (1, 1)
        assert res.fires[(1, 0)] == (46, 46 + f_out)
        assert res.actions["chip_link_bit"] == 4 * 32
        # Unbounded: x^C = 5, 7, 9, 11 (spacing s), u = 11, 13, 15, 17; router 1's north port holds
        # [10,11) [12,13) [14,15) [16,17): 1; router 0's local port [4,5) [5,7) [6,9) [7,11): 2 (at 6 and at 7).
        free = simulate_reference(wl, with_options(arch, arbitration, soma_order), mapping, 0, record_packets=True)
        assert free.trains[(0, 0, 0, 1)].packets == ((11, 12), (13, 14), (15, 16), (17, 18))
        assert free.noc_buffer_peak_flits == (2, 1)
        assert free.fires[(1, 0)] == (19, 19 + f_out)


def test_credit_on_the_side_band_takes_r_plus_l_c_per_chip_hop():
    # The first test's system (s = 3, L_c = 5) with T = 2. X's fire of t = 1 waits for (§5):
    # the host's marker of t = 0 at core 0 (delay-1 edge: starts 3, completes 4), its own fire of
    # t = 0 (ends 3), and the credit of out's fire of t' = 1 + 0 - 1 = 0: out's fire end + one chip
    # hop of R + L_c = 6 cycles (out's fire of t = 0 starts at 22, as in the first test).
    # The host's credit from X (core 0 = io core, zero hops): X's fire of t' = 1 + 1 - 2 = 0 ends at 3.
    wl = chain_workload(3, timesteps=2)
    arch = system_arch(chips=(2, 1), s=3, latency=5)
    mapping = placed(wl, arch, {"X": 0, "out": 1})
    f_out = fire_cycles_of(mapping.slices[1], arch)
    for arbitration, soma_order in OPTIONS:
        res = simulate_reference(wl, with_options(arch, arbitration, soma_order), mapping, 0)
        assert res.fires[(1, 0)] == (22, 22 + f_out)
        assert res.fires[(0, 1)][0] == 22 + f_out + 1 + 5
        assert res.trains[(0, HOST, 1, 0)].grants == (3, 5)


def one_chip_workload():
    b = WorkloadBuilder("one_chip", timesteps=3, input_kind="spikes")
    b.input("in", (6,))
    b.lif("h", (10,), threshold=0, bias=0)
    b.linear("in", "h", (np.arange(60).reshape(10, 6) % 3 - 1).astype(np.int16), weight_bits=2, acc_bits=8)
    b.lif("g", (5,), threshold=0, bias=1)
    b.linear("h", "g", (np.arange(50).reshape(5, 10) % 3 - 1).astype(np.int16), weight_bits=2, acc_bits=8)
    b.readout("out", (3,))
    b.linear("g", "out", np.ones((3, 5), np.int16), weight_bits=1, acc_bits=8)
    b.linear("h", "out", np.ones((3, 10), np.int16), weight_bits=1, acc_bits=8)
    rng = np.random.default_rng(7)
    b.set_samples(rng.integers(0, 2, (2, 3, 6)).astype(np.uint8))
    return b.build()


def every_field(res):
    return (res.latency_cycles, res.soma_busy_cycles, res.integrate_busy_cycles, res.ejection_stall_cycles,
            res.fires, res.trains, res.readout.tolist(), res.predicted,
            {k: v.tolist() for k, v in res.spikes.items()}, res.actions, res.link_wait_cycles,
            res.link_stall_cycles, res.noc_buffer_peak_flits)


def test_a_one_chip_system_equals_the_arch_without_a_system():
    # §12: without a system section the system is one chip, and every number is the same as with
    # chip_rows = chip_cols = 1 (the chip-link values, s = 3 and L_c = 5 here, are never used).
    wl = one_chip_workload()
    plain = system_arch(mesh=(2, 2), system=False)
    one = system_arch(mesh=(2, 2), s=3, latency=5)
    assert plain.system.n_chips == one.system.n_chips == 1
    mapping = map_workload(wl, plain, strategy="packed")
    spread = dataclasses.replace(mapping, slices=tuple(dataclasses.replace(s, core=(0, 3, 1)[i % 3])
                                                       for i, s in enumerate(mapping.slices)))
    for arbitration, soma_order in OPTIONS:
        for buffers, depth in (("unbounded", None), ("finite", 1)):
            for sample in range(wl.n_samples):
                a = simulate_reference(wl, with_options(plain, arbitration, soma_order, buffers, depth), spread,
                                       sample, record_packets=True)
                b = simulate_reference(wl, with_options(one, arbitration, soma_order, buffers, depth), spread,
                                       sample, record_packets=True)
                assert every_field(a) == every_field(b)
                assert a.actions["chip_link_bit"] == 0


def test_chip_links_like_mesh_links_give_the_mesh_numbers():
    # A 2x2 system of 1x1 chips whose links have s = 1 and L_c = L = 1 is, cycle for cycle, a 2x2
    # chip: every rule of §12 reduces to §3 (only chip_link_bit differs: flit_bits per crossing).
    wl = one_chip_workload()
    chip = system_arch(mesh=(2, 2), system=False)
    system = system_arch(chips=(2, 2), s=1, latency=1)
    mapping = map_workload(wl, chip, strategy="packed")
    spread = dataclasses.replace(mapping, slices=tuple(dataclasses.replace(s, core=(3, 0, 2)[i % 3])
                                                       for i, s in enumerate(mapping.slices)))
    for arbitration, soma_order in OPTIONS:
        for buffers, depth in (("unbounded", None), ("finite", 2)):
            a = simulate_reference(wl, with_options(chip, arbitration, soma_order, buffers, depth), spread, 0,
                                   record_packets=True)
            b = simulate_reference(wl, with_options(system, arbitration, soma_order, buffers, depth), spread, 0,
                                   record_packets=True)
            crossings = b.actions.pop("chip_link_bit")
            a.actions.pop("chip_link_bit")
            assert every_field(a) == every_field(b)
            # Every hop between two cores is a chip link here: flit_bits per packet per router hop.
            hops = sum((len(t.grants) - 2) * len(t.packets) for t in b.trains.values())
            assert crossings == 32 * hops > 0


def test_a_mapping_for_one_chip_is_refused_on_a_system():
    wl = chain_workload(3)
    one = system_arch(mesh=(1, 1), system=False)
    mapping = map_workload(wl, one, strategy="packed")
    with pytest.raises(MappingError, match=r"mesh: is 1x1 but the arch's mesh is 2x1 \(the cores of its 2x1 chips\)"):
        simulate_reference(wl, system_arch(chips=(2, 1), s=3), mapping, 0)


def test_map_workload_on_a_system_runs_and_computes_the_golden_result():
    # map_workload places slices on the system's grid; timing changes only when things happen (§12
    # inherits DESIGN §2): spikes and readout equal the golden model's, whatever the chip links.
    wl = one_chip_workload()
    for chips, s, latency in (((1, 2), 3, 5), ((2, 1), 2, 7)):
        arch = system_arch(chips=chips, mesh=(1, 2), s=s, latency=latency)
        mapping = map_workload(wl, arch)
        assert (mapping.mesh_rows, mapping.mesh_cols) == (arch.grid_rows, arch.grid_cols)
        for buffers, depth in (("unbounded", None), ("finite", 1)):
            for sample in range(wl.n_samples):
                res = simulate_reference(wl, with_options(arch, "round_robin", "ready", buffers, depth), mapping,
                                         sample)
                golden = run_golden(wl, sample)
                np.testing.assert_array_equal(res.readout, golden.readout)
                assert set(res.spikes) == {"h", "g"}
                for name, spikes in res.spikes.items():
                    np.testing.assert_array_equal(spikes, golden.spikes[name])
                assert res.actions["chip_link_bit"] % 32 == 0
