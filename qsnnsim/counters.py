"""Counters stage: what the engine counted, as integer arrays; no energy arithmetic here.

``actions[core, population, timestep, action]`` counts hardware actions (SRAM words read
and written per memory, synaptic adds, MACs, compares, spikes, packets, flit-hops,
off-chip bits...). Row ``n_cores`` is the chip's host/off-chip interface.
``unit_cycles[core, population, timestep, unit]`` counts cycles per unit (busy, stalled,
waiting), charged to the population and timestep of the work: a fire to its slice's
population, an integrate packet, its spike-buffer stalls and its link waits to the population
whose spikes it carries (one packet can update several target slices). Idle cycles are the
latency less the busy cycles, per core. The energy stage multiplies the actions by the
architecture's energy table; nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Action(IntEnum):
    """Counted hardware actions; the energy table has one ``<name>_pj`` entry per action
    (``offchip_bit`` -> ``offchip_pj_per_bit``; ``accumulator_saturation`` costs nothing)."""

    WEIGHT_SRAM_READ = 0
    WEIGHT_SRAM_WRITE = 1
    MEMBRANE_SRAM_READ = 2
    MEMBRANE_SRAM_WRITE = 3
    ACC_SRAM_READ = 4
    ACC_SRAM_WRITE = 5
    SPIKE_BUFFER_ACCESS = 6
    SYNAPTIC_ADD = 7
    MAC8 = 8
    MAC16 = 9
    SCALE_MULT = 10
    NEURON_UPDATE = 11
    COMPARE = 12
    SPIKE = 13
    PACKET = 14
    FLIT_HOP = 15
    OFFCHIP_BIT = 16
    ACCUMULATOR_SATURATION = 17
    # Neuron dialects (DESIGN §2b, qsnnsim/neurons/): appended, so a result written before
    # they existed reads as the first 18 columns with these at 0 (``Counters.from_dict``).
    CURRENT_UPDATE = 18          # a synaptic current's decay and add (loihi_cuba u; xylo_lif isyn, isyn2)
    MULTI_SPIKE_COMPARE = 19     # a graded neuron's spike count n = min(max, v // theta) (xylo_lif)
    # Systems of chips (DESIGN §12): appended likewise.
    CHIP_LINK_BIT = 20           # a bit carried over a chip-to-chip link (flit_bits per packet per link)


class Unit(IntEnum):
    """Cycle counters per core, population and timestep (docs/timing-model.md)."""

    SOMA_BUSY = 0
    INTEGRATE_BUSY = 1
    EJECTION_STALL = 2
    LINK_WAIT = 3  # cycles trains waited for a busy output port of this core's router


ACTION_NAMES = tuple(a.name.lower() for a in Action)
UNIT_NAMES = tuple(u.name.lower() + "_cycles" for u in Unit)


@dataclass(frozen=True, eq=False)
class Counters:
    """Counts of one sample's run (or a sum of runs).

    Attributes
    ----------
    actions : int64 (n_cores + 1, n_populations, T, n_actions)
    unit_cycles : int64 (n_cores + 1, n_populations, T, n_units)
    latency_cycles : int
    population_names : tuple[str, ...]
    """

    actions: np.ndarray
    unit_cycles: np.ndarray
    latency_cycles: int
    population_names: tuple

    @property
    def n_cores(self) -> int:
        return self.actions.shape[0] - 1

    def total(self, action: Action) -> int:
        return int(self.actions[..., int(action)].sum())

    def totals(self) -> dict[str, int]:
        sums = self.actions.sum(axis=(0, 1, 2))
        return {name: int(sums[i]) for i, name in enumerate(ACTION_NAMES)}

    def by_core(self) -> np.ndarray:
        """int64 (n_cores + 1, n_actions)."""
        return _along(self.actions, 0)

    def by_population(self) -> np.ndarray:
        """int64 (n_populations, n_actions)."""
        return _along(self.actions, 1)

    def by_timestep(self) -> np.ndarray:
        """int64 (T, n_actions)."""
        return _along(self.actions, 2)

    def unit_cycles_by_core(self) -> np.ndarray:
        """int64 (n_cores + 1, n_units)."""
        return _along(self.unit_cycles, 0)

    def unit_cycles_by_population(self) -> np.ndarray:
        """int64 (n_populations, n_units)."""
        return _along(self.unit_cycles, 1)

    def unit_cycles_by_timestep(self) -> np.ndarray:
        """int64 (T, n_units)."""
        return _along(self.unit_cycles, 2)

    def idle_cycles(self) -> dict[str, np.ndarray]:
        """Per core (n_cores,): cycles of the latency the soma and the integrate unit were not busy."""
        by_core = self.unit_cycles_by_core()[:-1]
        return {
            "soma_idle_cycles": self.latency_cycles - by_core[:, int(Unit.SOMA_BUSY)],
            "integrate_idle_cycles": self.latency_cycles - by_core[:, int(Unit.INTEGRATE_BUSY)],
        }

    def synaptic_ops(self) -> int:
        """SOPs: accumulates triggered by spikes plus MACs of analog inputs."""
        return self.total(Action.SYNAPTIC_ADD) + self.total(Action.MAC8) + self.total(Action.MAC16)

    def to_dict(self) -> dict:
        return {
            "actions": list(ACTION_NAMES),
            "units": list(UNIT_NAMES),
            "population_names": list(self.population_names),
            "latency_cycles": int(self.latency_cycles),
            "action_counts": self.actions.tolist(),
            "unit_cycles": self.unit_cycles.tolist(),
            # derived, for readers; recomputed from the above, never read back
            **{name: cycles.tolist() for name, cycles in self.idle_cycles().items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Counters":
        """Counters from :meth:`to_dict`'s object (e.g. read back from a result JSON).

        Raises
        ------
        KeyError
            A key is missing.
        ValueError
            Other counter names than this version's (an earlier version's, a prefix of them, are
            read with the later counters at 0), or a count (or ``latency_cycles``) that
            is not an integer in the int64 range: a float, a bool, a string, a ragged list, or
            a number too large for the int64 arrays the energy stage sums.
        """
        names = tuple(data["actions"])
        if names != ACTION_NAMES[:len(names)] or not names or tuple(data["units"]) != UNIT_NAMES:
            raise ValueError("counter names differ from this version's")
        latency = data["latency_cycles"]
        if not _is_int64(latency):
            raise ValueError(f"latency_cycles is {_shown(latency)}, not an integer in the int64 range")
        actions = _int64_array(data["action_counts"], "action_counts")
        if len(names) < len(ACTION_NAMES) and actions.ndim == 4 and actions.shape[3] == len(names):
            # written before the later counters existed: they counted nothing then
            pad = np.zeros(actions.shape[:3] + (len(ACTION_NAMES) - len(names),), np.int64)
            actions = np.concatenate([actions, pad], axis=3)
        return cls(
            actions=actions,
            unit_cycles=_int64_array(data["unit_cycles"], "unit_cycles"),
            latency_cycles=int(latency),
            population_names=tuple(data["population_names"]),
        )


def _along(counts: np.ndarray, axis: int) -> np.ndarray:
    """Sum a (core, population, timestep, counter) array over the two of its first axes not kept."""
    return counts.sum(axis=tuple(a for a in range(3) if a != axis))


_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def _is_int64(value) -> bool:
    # Strict, as for arch files (STYLE §5): a bool or an integral float is not a count.
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and _INT64_MIN <= value <= _INT64_MAX)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int64_array(value, name: str) -> np.ndarray:
    """Nested lists of integers as an int64 array, every entry checked first.

    ``np.asarray(..., dtype=np.int64)`` would truncate 1.5 to 1, take True as 1 and raise
    OverflowError on 1e308 or 2**64; this names the first bad entry in a ValueError instead.
    """
    arr = np.array(value, dtype=object)
    flat = arr.ravel().tolist()
    if not flat or (set(map(type, flat)) == {int} and _INT64_MIN <= min(flat) and max(flat) <= _INT64_MAX):
        return arr.astype(np.int64)
    for i, v in enumerate(flat):
        if not _is_int64(v):
            where = name + "".join(f"[{int(k)}]" for k in np.unravel_index(i, arr.shape))
            if isinstance(v, (list, tuple)):
                raise ValueError(f"{where} is a list where the other entries are numbers (a ragged array)")
            raise ValueError(f"{where} is {_shown(v)}, not an integer in the int64 range")
    return arr.astype(np.int64)


def sum_counters(runs: list[Counters]) -> Counters:
    """Element-wise sum of several runs' counters (latency summed: runs are sequential)."""
    first = runs[0]
    return Counters(
        actions=np.sum([c.actions for c in runs], axis=0),
        unit_cycles=np.sum([c.unit_cycles for c in runs], axis=0),
        latency_cycles=sum(c.latency_cycles for c in runs),
        population_names=first.population_names,
    )
