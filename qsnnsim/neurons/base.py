"""What a neuron dialect is: the one spec every stage reads (DESIGN §2b).

A :class:`Dialect` names a neuron model and holds everything the stages need of it:

- its state variables and their bit widths (mapping and footprint size the state SRAM from
  them; the engine keeps one array per variable);
- its integer parameters with their ranges (the workload validates against them);
- what a spike carries (nothing for a readout, a bit, or a count up to ``spike_max``);
- its integer step in golden (numpy) form, :meth:`Dialect.step`, the normative semantics;
- its engine kernel, ``fire``, a numba function over one slice that proves itself against
  ``step`` (tests/unit/test_kernels.py, tests/unit/test_neurons.py);
- the actions it counts for energy beyond every dialect's (``counts``: e.g. a synaptic
  current's update), each an entry of the arch's energy table.

The step works on any array shape: parameters come from :meth:`Dialect.parameters` as
per-channel vectors, and the caller shapes them to broadcast against the state (the golden
model uses ``(C, 1)`` against ``(C, H*W)`` states; the cycle reference indexes them per neuron).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import numpy as np


@dataclass(frozen=True)
class Param:
    """One integer parameter of a dialect: per channel unless ``per_population``."""

    name: str
    lo: int
    hi: int
    meaning: str
    per_population: bool = False
    default: int | None = None   # the value a workload that leaves it out gets (None: required)


@dataclass(frozen=True)
class Dialect:
    """A neuron dialect (see the module docstring).

    ``state_vars(pop)`` returns ((name, bits), ...); the first variable is the one reported
    as the membrane. ``step(params, state, current)`` returns (spikes int64, new state) with
    ``current`` the summed, scaled synaptic input of this timestep (int64). ``parameters(pop)``
    returns the name -> per-channel int64 vector (or Python scalar) mapping ``step`` reads.
    ``fire`` is the engine's kernel entry (see :mod:`qsnnsim.kernels.phase`).
    """

    name: str
    summary: str
    spike_max: int
    params: tuple[Param, ...]
    state_vars: Callable
    parameters: Callable
    step: Callable
    fire: Callable
    counts: tuple = ()   # (action name, count per neuron per step) beyond every dialect's
                         # neuron_update / scale_mult / compare (qsnnsim.counters.Action)
    chosen_width: bool = False  # the population chooses its state width (``membrane_bits``), so a
                                # core must implement that width (``core.membrane_bits_supported``)

    @property
    def spiking(self) -> bool:
        return self.spike_max > 0

    @property
    def graded(self) -> bool:
        """A spike carries a count (several spikes of one neuron in one timestep)."""
        return self.spike_max > 1

    def state_bits(self, pop) -> int:
        """SRAM bits of one neuron's state."""
        return sum(bits for _, bits in self.state_vars(pop))

    def state_names(self, pop) -> tuple[str, ...]:
        return tuple(name for name, _ in self.state_vars(pop))

    def initial_state(self, pop, shape) -> dict:
        """Every state variable at 0 (DESIGN §2: state starts at 0 for every sample)."""
        return {name: np.zeros(shape, np.int64) for name in self.state_names(pop)}


def rshift(x, shift, rounding: str = "floor"):
    """Arithmetic right shift of int64 values: floor, or rounded toward zero."""
    if rounding == "floor":
        return x >> shift
    # Adding 2^shift - 1 to a negative value before the floor shift rounds it toward zero
    # without negating it, which would overflow at -2^63.
    return (x + ((x >> 63) & ((1 << shift) - 1))) >> shift
