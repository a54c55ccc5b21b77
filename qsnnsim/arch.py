"""Architecture stage: an arch YAML file -> a validated, frozen :class:`ArchSpec` (DESIGN §4).

An arch file describes one chip: its clock and core mesh (:class:`ChipSpec`), the NoC
(:class:`NocSpec`), the off-chip interface (:class:`OffchipSpec`), one core type
(:class:`CoreSpec`, with a :class:`SramSpec` for each of its three SRAMs) and the energy table
(:class:`EnergyTable`, every entry a value with its cited source). YAML keys are the dataclass
field names; the format is documented in ``docs/architecture-format.md``.

Loading goes through :func:`qsnnsim._spec.build_spec` (unknown keys, types and ranges) and then
:meth:`ArchSpec.validate` (cross-field rules). Every problem is an :class:`ArchError` naming the
file and the dotted field. Units are in the names: ``_mhz``, ``_bits``, ``_cycles``, ``_pj``
(picojoules per action), ``_uw`` (microwatts), ``_kib`` (1024 bytes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from qsnnsim._guard import MAX_ARCH_BYTES, check_name, load_yaml
from qsnnsim._spec import build_spec, spec, spec_to_dict
from qsnnsim.errors import ArchError
from qsnnsim.neurons import SPIKING_DIALECTS, dialect
from qsnnsim.neurons.readout import READOUT_STATE_BITS  # noqa: F401  (width of a readout's state; re-exported)

FORMAT_NAME = "qsnnsim-arch"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)


#: Largest energy-table value (pJ per action or uW): 1 uJ per action is 10^5 times the
#: costliest published per-action figure; a bound keeps every energy sum far from float overflow.
MAX_ENERGY_VALUE = 1e6

_MAX_MESH_SIDE = 256
_MAX_WORD_BITS = 4096


@dataclass(frozen=True)
class ChipSpec:
    """The chip: one clock and a rows x cols mesh of identical cores."""

    clock_mhz: float = field(
        metadata=spec(
            minimum=0,
            exclusive_minimum=True,
            maximum=100_000,
            unit="MHz",
            doc="core and NoC clock",
        )
    )
    mesh_rows: int = field(
        metadata=spec(minimum=1, maximum=_MAX_MESH_SIDE, doc="rows of the core mesh")
    )
    mesh_cols: int = field(
        metadata=spec(minimum=1, maximum=_MAX_MESH_SIDE, doc="columns of the core mesh")
    )

    @property
    def n_cores(self) -> int:
        return self.mesh_rows * self.mesh_cols


@dataclass(frozen=True)
class NocSpec:
    """2D-mesh network on chip with XY routing (DESIGN §6)."""

    flit_bits: int = field(
        default=32,
        metadata=spec(
            minimum=1,
            maximum=_MAX_WORD_BITS,
            unit="bits",
            doc="width of a flit; a link moves one flit per cycle",
        ),
    )
    router_latency_cycles: int = field(
        default=1,
        metadata=spec(
            minimum=1,
            maximum=1024,
            unit="cycles",
            doc="cycles a flit spends in a router",
        ),
    )
    link_latency_cycles: int = field(
        default=1,
        metadata=spec(
            minimum=1, maximum=1024, unit="cycles", doc="cycles a flit spends on a link"
        ),
    )
    buffer_depth_flits: int = field(
        default=4,
        metadata=spec(
            minimum=1,
            maximum=1 << 16,
            unit="flits",
            doc="input buffer depth per router port",
        ),
    )
    arbitration: str = field(
        default="level_order",
        metadata=spec(
            choices=("level_order", "round_robin"),
            doc="link service order: the mapping's fixed order, or work-conserving round-robin "
                "per output port (docs/timing-model.md §10.1)",
        ),
    )
    router_buffers: str = field(
        default="unbounded",
        metadata=spec(
            choices=("unbounded", "finite"),
            doc="router input buffers: never full, or buffer_depth_flits per input port with "
                "wormhole credit flow control (docs/timing-model.md §10.3)",
        ),
    )
    packet_header_bits: int = field(
        default=8,
        metadata=spec(
            minimum=1,
            maximum=_MAX_WORD_BITS,
            unit="bits",
            doc="routing header of every packet (names the destination core)",
        ),
    )


@dataclass(frozen=True)
class OffchipSpec:
    """The off-chip memory interface, also where the host injects input."""

    bandwidth_bits_per_cycle: int = field(
        default=64,
        metadata=spec(
            minimum=1,
            maximum=1 << 20,
            unit="bits/cycle",
            doc="off-chip transfer bandwidth",
        ),
    )
    latency_cycles: int = field(
        default=100,
        metadata=spec(
            minimum=0,
            maximum=1 << 20,
            unit="cycles",
            doc="latency of an off-chip transfer",
        ),
    )
    io_router: tuple[int, int] = field(
        default=(0, 0),
        metadata=spec(
            item_minimum=0,
            item_maximum=_MAX_MESH_SIDE - 1,
            doc="[row, col] of the router the off-chip interface and host input attach to",
        ),
    )


@dataclass(frozen=True)
class SramSpec:
    """One SRAM: ``banks`` banks of ``bank_words`` words of ``word_bits`` bits."""

    banks: int = field(
        metadata=spec(
            minimum=1,
            maximum=1024,
            doc="independent banks (one access per bank per cycle)",
        )
    )
    bank_words: int = field(
        metadata=spec(minimum=1, maximum=1 << 24, unit="words", doc="words per bank")
    )
    word_bits: int = field(
        metadata=spec(
            minimum=1, maximum=_MAX_WORD_BITS, unit="bits", doc="bits per word"
        )
    )

    @property
    def capacity_words(self) -> int:
        return self.banks * self.bank_words

    @property
    def capacity_bits(self) -> int:
        return self.capacity_words * self.word_bits

    @property
    def capacity_kib(self) -> float:
        return self.capacity_bits / 8192


_ALL_MEMBRANE_BITS = tuple(range(2, 17))
_ALL_WEIGHT_BITS = tuple(range(1, 17))


@dataclass(frozen=True)
class CoreSpec:
    """One neuromorphic core (every core of the mesh is identical)."""

    neuron_capacity: int = field(
        metadata=spec(
            minimum=1,
            maximum=1 << 24,
            unit="neurons",
            doc="neurons (lif or readout) one core can hold",
        )
    )
    weight_sram: SramSpec = field(metadata=spec(doc="synapse rows (weight codes)"))
    membrane_sram: SramSpec = field(
        metadata=spec(doc="membrane potentials (b bits each; readouts 64 bits)")
    )
    acc_sram: SramSpec = field(
        metadata=spec(doc="one accumulator per neuron per incoming projection")
    )
    spike_buffer_packets: int = field(
        default=256,
        metadata=spec(
            minimum=1, maximum=1 << 20, unit="packets", doc="input spike buffer depth"
        ),
    )
    synapse_lanes: int = field(
        default=1,
        metadata=spec(
            minimum=1, maximum=4096, doc="accumulates per cycle in the integrate phase"
        ),
    )
    neuron_lanes: int = field(
        default=1,
        metadata=spec(
            minimum=1, maximum=4096, doc="neurons updated per cycle in the fire phase"
        ),
    )
    integrate_pipeline_cycles: int = field(
        default=2,
        metadata=spec(
            minimum=0,
            maximum=1024,
            unit="cycles",
            doc="pipeline fill of the integrate phase",
        ),
    )
    fire_pipeline_cycles: int = field(
        default=2,
        metadata=spec(
            minimum=0,
            maximum=1024,
            unit="cycles",
            doc="pipeline fill of the fire phase",
        ),
    )
    soma_order: str = field(
        default="level",
        metadata=spec(
            choices=("level", "ready"),
            doc="fire order of a soma: the mapping's fixed order, or earliest ready first "
                "(work-conserving; docs/timing-model.md §10.2)",
        ),
    )
    dialects: tuple[str, ...] = field(
        default=("qsnn_lif",),
        metadata=spec(
            item_choices=SPIKING_DIALECTS,
            doc="neuron dialects the soma implements (DESIGN §2b); every core runs the readout",
        ),
    )
    membrane_bits_supported: tuple[int, ...] = field(
        default=_ALL_MEMBRANE_BITS,
        metadata=spec(
            item_minimum=2, item_maximum=16, doc="membrane widths the soma implements"
        ),
    )
    weight_bits_supported: tuple[int, ...] = field(
        default=_ALL_WEIGHT_BITS,
        metadata=spec(
            item_minimum=1,
            item_maximum=16,
            doc="weight widths the synapse unit decodes",
        ),
    )
    acc_bits_max: int = field(
        default=32,
        metadata=spec(
            minimum=2, maximum=32, unit="bits", doc="accumulator/adder width"
        ),
    )
    max_synapse_rows: int = field(
        default=0,
        metadata=spec(
            minimum=0,
            maximum=1 << 24,
            unit="rows",
            doc="synapse rows (axons) per core, 0 = limited by weight SRAM only",
        ),
    )


@dataclass(frozen=True)
class EnergyEntry:
    """One energy-table value with the citation it comes from."""

    value: float = field(
        metadata=spec(
            minimum=0,
            maximum=MAX_ENERGY_VALUE,
            doc="the value (pJ per action, or uW for leakage entries)",
        )
    )
    source: str = field(
        metadata=spec(doc="citation: paper, figure/table and technology node")
    )


#: The source of an energy entry an arch leaves out because none of its units performs the action.
NO_SUCH_UNIT = "not given: no core dialect of this arch performs this action (core.dialects)"


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action (pJ) and leakage (uW); entry names are the contract with the energy model."""

    weight_sram_read_pj: EnergyEntry = field(
        metadata=spec(doc="read of one weight-SRAM word")
    )
    weight_sram_write_pj: EnergyEntry = field(
        metadata=spec(doc="write of one weight-SRAM word")
    )
    membrane_sram_read_pj: EnergyEntry = field(
        metadata=spec(doc="read of one membrane-SRAM word")
    )
    membrane_sram_write_pj: EnergyEntry = field(
        metadata=spec(doc="write of one membrane-SRAM word")
    )
    acc_sram_read_pj: EnergyEntry = field(
        metadata=spec(doc="read of one accumulator-SRAM word")
    )
    acc_sram_write_pj: EnergyEntry = field(
        metadata=spec(doc="write of one accumulator-SRAM word")
    )
    spike_buffer_access_pj: EnergyEntry = field(
        metadata=spec(doc="one packet into or out of the spike buffer")
    )
    synaptic_add_pj: EnergyEntry = field(
        metadata=spec(doc="one accumulate triggered by a binary spike")
    )
    mac8_pj: EnergyEntry = field(
        metadata=spec(
            doc="multiply-accumulate of an analog input with a weight <= 8 bits"
        )
    )
    mac16_pj: EnergyEntry = field(
        metadata=spec(
            doc="multiply-accumulate of an analog input with a weight <= 16 bits"
        )
    )
    scale_mult_pj: EnergyEntry = field(
        metadata=spec(doc="acc * mult >> shift, per neuron per projection per step")
    )
    neuron_update_pj: EnergyEntry = field(
        metadata=spec(doc="decay + add + bias, per neuron per step")
    )
    compare_pj: EnergyEntry = field(
        metadata=spec(doc="threshold compare, per neuron per step")
    )
    flit_hop_pj: EnergyEntry = field(
        metadata=spec(doc="one flit across one router and link")
    )
    offchip_pj_per_bit: EnergyEntry = field(
        metadata=spec(doc="one bit to or from off-chip memory")
    )
    sram_leakage_uw_per_kib: EnergyEntry = field(
        metadata=spec(doc="SRAM leakage per KiB of capacity (uW)")
    )
    core_logic_leakage_uw: EnergyEntry = field(
        metadata=spec(doc="leakage of one core's logic (uW)")
    )
    router_leakage_uw: EnergyEntry = field(
        metadata=spec(doc="leakage of one router (uW)")
    )
    current_update_pj: EnergyEntry = field(
        default=EnergyEntry(0.0, NO_SUCH_UNIT),
        metadata=spec(doc="a synaptic current's decay and add, per current per neuron per step "
                          "(loihi_cuba, xylo_lif); required when core.dialects lists one"),
    )
    multi_spike_compare_pj: EnergyEntry = field(
        default=EnergyEntry(0.0, NO_SUCH_UNIT),
        metadata=spec(doc="a graded neuron's spike count min(max, v // theta), per neuron per step "
                          "(xylo_lif); required when core.dialects lists it"),
    )

    def entries(self) -> dict[str, EnergyEntry]:
        """Every entry by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


ENERGY_ENTRY_NAMES = tuple(f.name for f in fields(EnergyTable))

#: The source of a chip-to-chip link value of a one-chip arch, which has no such link.
ONE_CHIP = "one chip: no chip-to-chip link"


@dataclass(frozen=True)
class SourcedValue:
    """A chip-to-chip link value with the citation it comes from."""

    value: float = field(metadata=spec(minimum=0, maximum=MAX_ENERGY_VALUE, doc="the value, in the key's unit"))
    source: str = field(metadata=spec(doc="citation: paper, datasheet or derivation"))


def _one_chip(value: float = 1.0) -> SourcedValue:
    return SourcedValue(value, ONE_CHIP)


@dataclass(frozen=True)
class ChipLinkSpec:
    """Every chip-to-chip link of a system (docs/timing-model.md §12); each value with its source."""

    width_bits: SourcedValue = field(default_factory=_one_chip, metadata=spec(
        doc="wires per direction (bits moved per transfer); reported, the bandwidth decides the timing"))
    bandwidth_bits_per_cycle: SourcedValue = field(default_factory=_one_chip, metadata=spec(
        doc="bits per core clock cycle; a packet occupies the link ceil(flit_bits / this) cycles"))
    latency_cycles: SourcedValue = field(default_factory=_one_chip, metadata=spec(
        doc="core clock cycles from a packet entering the link to its head reaching the next chip's router"))
    pj_per_bit: SourcedValue = field(default_factory=lambda: _one_chip(0.0), metadata=spec(
        doc="energy per bit carried (every packet is flit_bits bits)"))


@dataclass(frozen=True)
class SystemSpec:
    """A mesh of identical chips joined by chip-to-chip links (DESIGN §12)."""

    chip_rows: int = field(default=1, metadata=spec(minimum=1, maximum=256, unit="chips", doc="rows of chips"))
    chip_cols: int = field(default=1, metadata=spec(minimum=1, maximum=256, unit="chips", doc="columns of chips"))
    io_chip: tuple[int, int] = field(default=(0, 0), metadata=spec(
        item_minimum=0, item_maximum=255, doc="[row, col] of the chip whose offchip.io_router the host attaches to"))
    link: ChipLinkSpec = field(default_factory=ChipLinkSpec, metadata=spec(doc="the chip-to-chip links"))

    @property
    def n_chips(self) -> int:
        return self.chip_rows * self.chip_cols


@dataclass(frozen=True)
class ArchSpec:
    """A whole architecture file, validated. Build it with :func:`load_arch` or :func:`arch_from_dict`."""

    format: str = field(
        metadata=spec(choices=(FORMAT_NAME,), doc=f"always '{FORMAT_NAME}'")
    )
    version: int = field(metadata=spec(doc="format version (1)"))
    name: str = field(metadata=spec(doc="short name shown in reports"))
    chip: ChipSpec = field(metadata=spec(doc="clock and mesh"))
    core: CoreSpec = field(metadata=spec(doc="the core"))
    energy: EnergyTable = field(
        metadata=spec(doc="energy per action and leakage, each with its source")
    )
    description: str = field(default="", metadata=spec(doc="free text"))
    noc: NocSpec = field(default_factory=NocSpec, metadata=spec(doc="network on chip"))
    offchip: OffchipSpec = field(
        default_factory=OffchipSpec,
        metadata=spec(doc="off-chip memory and host interface"),
    )
    system: SystemSpec = field(default_factory=SystemSpec, metadata=spec(
        doc="a mesh of these chips with chip-to-chip links (default: one chip)"))

    @property
    def grid_rows(self) -> int:
        """Rows of cores of the whole system (docs/timing-model.md §12)."""
        return self.system.chip_rows * self.chip.mesh_rows

    @property
    def grid_cols(self) -> int:
        return self.system.chip_cols * self.chip.mesh_cols

    @property
    def n_cores(self) -> int:
        """Cores of the whole system."""
        return self.grid_rows * self.grid_cols

    @property
    def io_core(self) -> int:
        """Core id (grid row * grid cols + grid col) of the router the host and off-chip memory attach to."""
        row, col = self.offchip.io_router
        chip_row, chip_col = self.system.io_chip
        return (chip_row * self.chip.mesh_rows + row) * self.grid_cols + chip_col * self.chip.mesh_cols + col

    @property
    def core_address_bits(self) -> int:
        """Bits that name one core: what a packet's routing header must at least hold."""
        return max(1, (self.n_cores - 1).bit_length())

    @property
    def spike_buffer_bits(self) -> int:
        """Capacity of one core's spike input buffer in bits (a packet is one flit)."""
        return self.core.spike_buffer_packets * self.noc.flit_bits

    def to_dict(self) -> dict:
        """The resolved spec as plain data (defaults filled in); :func:`arch_from_dict` reads it back."""
        return spec_to_dict(self)

    def _validate_system(self, file: str) -> None:
        system = self.system
        row, col = system.io_chip
        if row >= system.chip_rows or col >= system.chip_cols:
            raise ArchError(file, "system.io_chip",
                            f"[{row}, {col}] names a chip that does not exist in the "
                            f"{system.chip_rows}x{system.chip_cols} system",
                            f"use a row below {system.chip_rows} and a column below {system.chip_cols}")
        for name in ("width_bits", "bandwidth_bits_per_cycle", "latency_cycles", "pj_per_bit"):
            entry = getattr(system.link, name)
            if not entry.source.strip():
                raise ArchError(file, f"system.link.{name}.source", "is empty",
                                "cite the paper, datasheet or derivation the value comes from")
            if system.n_chips == 1:
                continue  # one chip has no link: its values are never read
            if entry.source == ONE_CHIP:
                raise ArchError(file, f"system.link.{name}", f"is required for a {system.chip_rows}x"
                                f"{system.chip_cols} system (chips are joined by links)",
                                "give its value and its source")
            if name != "pj_per_bit" and (entry.value != int(entry.value) or entry.value < 1):
                problem = (f"is {entry.value:g}: no packet could cross a chip-to-chip link, so every chip would be "
                           "unreachable from the others" if name == "bandwidth_bits_per_cycle" and entry.value < 1
                           else f"must be a whole number of at least 1 (got {entry.value:g})")
                raise ArchError(file, f"system.link.{name}.value", problem, "give a whole number >= 1")

    def validate(self, file: str = "<arch>") -> ArchSpec:
        """Cross-field checks; returns ``self`` or raises :class:`ArchError`."""
        row, col = self.offchip.io_router
        if row >= self.chip.mesh_rows or col >= self.chip.mesh_cols:
            raise ArchError(
                file,
                "offchip.io_router",
                f"[{row}, {col}] is outside the {self.chip.mesh_rows}x{self.chip.mesh_cols} mesh",
                f"use a row below {self.chip.mesh_rows} and a column below {self.chip.mesh_cols}",
            )
        self._validate_system(file)
        header = self.noc.packet_header_bits
        if header < self.core_address_bits:
            raise ArchError(
                file,
                "noc.packet_header_bits",
                f"{header} bits cannot name one of {self.n_cores} cores",
                f"set it to at least {self.core_address_bits}",
            )
        # A packet is one flit: routing header, source neuron address and (for an analog
        # input) an 8-bit value. The address width depends on the workload, so the engine
        # checks the whole packet when it maps one; here the header must leave room.
        if header >= self.noc.flit_bits:
            raise ArchError(
                file,
                "noc.packet_header_bits",
                f"{header} bits leave no room for a neuron address in a {self.noc.flit_bits}-bit flit",
                "a packet is one flit: make noc.flit_bits wider than the header",
            )
        widest = max(self.core.weight_bits_supported)
        if self.core.weight_sram.word_bits < widest:
            raise ArchError(
                file,
                "core.weight_sram.word_bits",
                f"{self.core.weight_sram.word_bits}-bit words cannot hold one {widest}-bit weight "
                "(core.weight_bits_supported)",
                f"use words of at least {widest} bits or drop the wider weight widths",
            )
        widest = max(self.core.membrane_bits_supported)
        if self.core.membrane_sram.word_bits < widest:
            raise ArchError(
                file,
                "core.membrane_sram.word_bits",
                f"{self.core.membrane_sram.word_bits}-bit words cannot hold one {widest}-bit membrane "
                "(core.membrane_bits_supported)",
                f"use words of at least {widest} bits or drop the wider membrane widths",
            )
        for dialect_name in self.core.dialects:
            for action, _ in dialect(dialect_name).counts:
                if getattr(self.energy, f"{action}_pj").source == NO_SUCH_UNIT:
                    raise ArchError(
                        file, f"energy.{action}_pj",
                        f"is required: core.dialects lists {dialect_name}, which counts {action}",
                        f"add energy.{action}_pj with its value and source, or drop {dialect_name}",
                    )
        for name, entry in self.energy.entries().items():
            if not entry.source.strip():
                raise ArchError(
                    file,
                    f"energy.{name}.source",
                    "is empty",
                    "cite the paper, figure/table and technology node the value comes from",
                )
        return self


def arch_from_dict(data, file: str = "<arch>") -> ArchSpec:
    """Build and validate an :class:`ArchSpec` from parsed YAML (or :meth:`ArchSpec.to_dict` output).

    Raises
    ------
    ArchError
        For a missing or unknown ``format``/``version``, an unknown or missing key, a wrong type,
        a value out of range, or a cross-field inconsistency.
    """
    if not isinstance(data, dict):
        raise ArchError(
            file,
            "",
            f"must be a YAML mapping at the top level (got {type(data).__name__})",
            f"start the file with 'format: {FORMAT_NAME}' and 'version: {FORMAT_VERSION}'",
        )
    if "format" not in data:
        raise ArchError(
            file, "format", "is required but missing", f"add 'format: {FORMAT_NAME}'"
        )
    if data["format"] != FORMAT_NAME:
        raise ArchError(
            file,
            "format",
            f"is {data['format']!r}, not {FORMAT_NAME!r}",
            "this is not a qsnnsim architecture file",
        )
    if "version" not in data:
        raise ArchError(
            file,
            "version",
            "is required but missing",
            f"add 'version: {FORMAT_VERSION}'",
        )
    version = data["version"]
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise ArchError(
            file,
            "version",
            f"{version!r} is not supported; this qsnnsim reads version "
            + ", ".join(map(str, SUPPORTED_VERSIONS)),
            f"write 'version: {FORMAT_VERSION}' and the keys of that version",
        )
    spec = build_spec(ArchSpec, data, file=file, error=ArchError)
    if not spec.name.strip():
        raise ArchError(file, "name", "is empty", "give the architecture a short name")
    check_name(file, "name", spec.name, ArchError, what="the architecture name")
    return spec.validate(file)


def load_arch(path: str | os.PathLike) -> ArchSpec:
    """Read, check and return an architecture file (``yaml.safe_load``; never executes YAML tags).

    Parameters
    ----------
    path : str or PathLike
        The ``.yaml`` file.

    Returns
    -------
    ArchSpec

    Raises
    ------
    ArchError
        One line naming the file, the field, the problem and the fix.
    """
    file = os.fspath(path)
    fix_read = "check the file is UTF-8 text"
    if file.endswith(".npz"):
        fix_read = "this looks like a workload: the architecture comes first (qsnnsim COMMAND ARCH.yaml WORKLOAD.npz)"
    data = load_yaml(file, max_bytes=MAX_ARCH_BYTES, error=ArchError, what="an architecture .yaml file",
                     fix_read=fix_read)
    if data is None:
        raise ArchError(
            file,
            "",
            "is empty",
            f"start with 'format: {FORMAT_NAME}' and 'version: {FORMAT_VERSION}'",
        )
    return arch_from_dict(data, file)
