"""Shared helpers of the engine tests: arch tweaks and running engine vs golden."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from qsnnsim.arch import ChipLinkSpec, SourcedValue, SystemSpec
from qsnnsim.engine.simulate import simulate
from qsnnsim.errors import MappingError
from qsnnsim.golden import run_golden
from qsnnsim.mapping import map_workload


def with_packet_flits(arch, flit_bits: int = 64):
    """The arch with flits wide enough for any packet of a small workload (header + address + value)."""
    noc = dataclasses.replace(arch.noc, flit_bits=max(flit_bits, arch.noc.packet_header_bits + 24 + 8))
    return dataclasses.replace(arch, noc=noc)


def with_every_dialect(arch):
    """The arch with cores that implement every dialect, and test prices for their actions (the
    engine tests are about bits and cycles, not about which chip has which neuron)."""
    from qsnnsim.arch import EnergyEntry

    test_price = EnergyEntry(1.0, "test value, no technology node")
    energy = dataclasses.replace(arch.energy, current_update_pj=test_price, multi_spike_compare_pj=test_price)
    core = dataclasses.replace(arch.core, dialects=("qsnn_lif", "loihi_cuba", "xylo_lif"))
    return dataclasses.replace(arch, core=core, energy=energy)


def with_core(arch, **changes):
    return dataclasses.replace(arch, core=dataclasses.replace(arch.core, **changes))


def with_chip(arch, **changes):
    return dataclasses.replace(arch, chip=dataclasses.replace(arch.chip, **changes))


def run_engine(workload, arch, samples=None, record_packets=False):
    mapping = map_workload(workload, arch)
    return simulate(workload, arch, mapping, samples=samples, record_packets=record_packets)


def map_or_none(workload, arch):
    """The workload's mapping, or None when a recurrent cycle cannot fit in one pass of a small
    chip (the one refusal a random graph on a random chip may meet: checked to be that one)."""
    try:
        return map_workload(workload, arch)
    except MappingError as exc:
        assert "recurrent cycle must fit in one pass" in str(exc), str(exc)
        return None


def run_engine_or_none(workload, arch, samples=None, record_packets=False):
    """:func:`run_engine`, or None where :func:`map_or_none` finds no mapping."""
    mapping = map_or_none(workload, arch)
    return None if mapping is None else simulate(workload, arch, mapping, samples=samples,
                                                 record_packets=record_packets)


def assert_bits_equal_golden(workload, run) -> None:
    """Spikes and final membranes of every population, readout, class and saturations equal golden's."""
    for result in run.samples:
        gold = run_golden(workload, result.sample)
        assert set(result.spikes) == {p.name for p in workload.populations if p.kind == "lif"}
        for name, spikes in result.spikes.items():
            assert np.array_equal(spikes, gold.spikes[name]), f"sample {result.sample}: spikes of {name} differ"
        assert np.array_equal(result.readout, gold.readout), f"sample {result.sample}: readout differs"
        assert set(result.membranes) == set(gold.membranes)
        for name, membrane in result.membranes.items():
            assert np.array_equal(membrane, gold.membranes[name]), f"sample {result.sample}: membranes of {name} differ"
        assert result.predicted == gold.predicted
        for name, sat in result.saturations.items():
            assert np.array_equal(sat, gold.saturations[name]), f"saturations of {name} differ"


def assert_same_timing(engine_sample, ref) -> None:
    """Every number of docs/timing-model.md §9 of one sample: engine and cycle reference agree."""
    assert engine_sample.fires == ref.fires, "fire (start, end) cycles differ"
    assert set(engine_sample.trains) == set(ref.trains), "different trains"
    for key, timing in ref.trains.items():
        mine = engine_sample.trains[key]
        assert tuple(mine.grants) == tuple(timing.grants), f"train {key}: grants {mine.grants} != {timing.grants}"
        assert mine.delivery == timing.delivery, f"train {key}: delivery"
        assert mine.marker_start == timing.marker_start, f"train {key}: marker start"
        assert mine.packets == timing.packets, f"train {key}: a packet's ejection or integrate start"
    assert engine_sample.soma_busy_cycles == tuple(ref.soma_busy_cycles)
    assert engine_sample.integrate_busy_cycles == tuple(ref.integrate_busy_cycles)
    assert engine_sample.ejection_stall_cycles == tuple(ref.ejection_stall_cycles)
    assert engine_sample.latency_cycles == ref.latency_cycles


def xy_links(src_core: int, dest: int, cols: int) -> list[tuple]:
    """Links along the XY route from a router to a core's ejection port (timing doc §3)."""
    (r, c), (rd, cd) = divmod(src_core, cols), divmod(dest, cols)
    out = []
    while (r, c) != (rd, cd):
        port = ("E" if cd > c else "W") if c != cd else ("S" if rd > r else "N")
        out.append((r * cols + c, port))
        c += {"E": 1, "W": -1}.get(port, 0)
        r += {"S": 1, "N": -1}.get(port, 0)
    out.append((dest, "ej"))
    return out


# --------------------------------------------------------------------------- timing options

COMBINATIONS = list(itertools.product(("level_order", "round_robin"), ("level", "ready"), ("unbounded", "finite")))


def with_options(arch, arbitration, soma_order, router_buffers, depth=None):
    noc = dataclasses.replace(arch.noc, arbitration=arbitration, router_buffers=router_buffers,
                              buffer_depth_flits=depth or arch.noc.buffer_depth_flits)
    return dataclasses.replace(arch, noc=noc, core=dataclasses.replace(arch.core, soma_order=soma_order))


def assert_same_noc_figures(engine_sample, ref) -> None:
    assert engine_sample.link_wait_cycles == ref.link_wait_cycles, "per-link wait cycles differ"
    assert engine_sample.link_stall_cycles == ref.link_stall_cycles, "per-link stall cycles differ"
    assert engine_sample.noc_buffer_peak_flits == tuple(ref.noc_buffer_peak_flits), "router buffer peaks differ"


# --------------------------------------------------------------------------- systems of chips
def link(bandwidth: int, latency: int, pj_per_bit: float = 2.0) -> ChipLinkSpec:
    return ChipLinkSpec(SourcedValue(8, "test"), SourcedValue(bandwidth, "test"), SourcedValue(latency, "test"),
                        SourcedValue(pj_per_bit, "test"))


def as_system(arch, chip_rows: int, chip_cols: int, chip_link: ChipLinkSpec, io_chip=(0, 0)):
    system = SystemSpec(chip_rows, chip_cols, io_chip, chip_link)
    cores = chip_rows * chip_cols * arch.chip.n_cores
    noc = dataclasses.replace(arch.noc, packet_header_bits=max(arch.noc.packet_header_bits, (cores - 1).bit_length()))
    return with_packet_flits(dataclasses.replace(arch, system=system, noc=noc))


# every shipped workload on the arch it was made for (and a multi-pass one on the tiny chip)
ONE_CHIP_RUNS = [("digits_conv_float", "core16"), ("digits_conv_m2", "core16"), ("digits_conv_m4", "core16"),
                 ("digits_conv_m4_nowsdr", "core16"), ("digits_conv_m8", "core16"),
                 ("digits_truenorth", "truenorth_like"), ("resnet19", "core16"), ("tiny_conv", "core16"),
                 ("tiny_dvs", "core16"), ("tiny_mlp", "core16"), ("tiny_mlp", "tiny"), ("tiny_conv", "tiny"),
                 ("xylo_recurrent", "xylo_like"), ("loihi_conv", "loihi_like")]
