"""Off-chip transfers between passes: bandwidth-limited jobs (docs/timing-model.md §7).

Pure cycle arithmetic on the arch's off-chip parameters; the engine calls these to place
passes one after another and counts the bits moved.
"""

from __future__ import annotations

import math

from qsnnsim.arch import ArchSpec


def transfer_cycles(bits: int, arch: ArchSpec) -> int:
    """latency + ceil(bits / bandwidth): one off-chip transfer of ``bits``."""
    off = arch.offchip
    return off.latency_cycles + math.ceil(bits / off.bandwidth_bits_per_cycle)


def pass_weight_bits(slices, pass_index: int, arch: ArchSpec) -> int:
    """Weight SRAM bits a pass loads (its slices' words x word width)."""
    word = arch.core.weight_sram.word_bits
    return sum(s.weight_words * word for s in slices if s.pass_index == pass_index)


def pass_boundary_bits(plan_slices, pass_index: int, timesteps: int) -> int:
    """Spike bitmaps a pass writes for later passes: T x n per boundary slice."""
    return sum(timesteps * s.n_neurons for s in plan_slices
               if s.pass_index == pass_index and s.has_later_pass_dests)
