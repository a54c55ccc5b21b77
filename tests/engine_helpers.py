"""Shared helpers of the engine tests: arch tweaks and running engine vs golden."""

from __future__ import annotations

import dataclasses

import numpy as np

from qsnnsim.engine.simulate import simulate
from qsnnsim.golden import run_golden
from qsnnsim.mapping import map_workload


def with_packet_flits(arch, flit_bits: int = 64):
    """The arch with flits wide enough for any packet of a small workload (header + address + value)."""
    noc = dataclasses.replace(arch.noc, flit_bits=max(flit_bits, arch.noc.packet_header_bits + 24 + 8))
    return dataclasses.replace(arch, noc=noc)


def with_core(arch, **changes):
    return dataclasses.replace(arch, core=dataclasses.replace(arch.core, **changes))


def with_chip(arch, **changes):
    return dataclasses.replace(arch, chip=dataclasses.replace(arch.chip, **changes))


def run_engine(workload, arch, samples=None, record_packets=False):
    mapping = map_workload(workload, arch)
    return simulate(workload, arch, mapping, samples=samples, record_packets=record_packets)


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
