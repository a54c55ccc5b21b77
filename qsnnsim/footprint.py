"""Footprint stage: Workload + Mapping + ArchSpec -> Footprint (memory bits; DESIGN §7).

A pure function of its inputs, no simulation. Two views of memory:

- **model size**, the seed paper's accounting: every synaptic weight at its bit width, counted
  once (conv kernels once, not per position; identity codes and sumpool excluded), against the
  same network in float32, where a float network also carries two BatchNorm parameters
  (gamma, beta) per output channel of every conv2d and one bias per output of every linear.
  Membranes are reported separately (LIF neurons x membrane bits), the readout's 64-bit state
  on its own;
- **mapped SRAM**, what the chip holds: weight rows padded to whole words (and a kernel repeated
  for every row range of a split channel), packed membranes and accumulators, per core and
  pass, against each SRAM's capacity; spike buffers; the per-channel scale/threshold
  parameters; and, when the mapping has several passes, the weights reloaded from off-chip
  per sample.

All sizes are bits (``_bits``); :func:`qsnnsim.report.terminal.fmt_bytes` prints MB as 10^6
bytes, as the seed paper does.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnnsim.arch import ArchSpec
from qsnnsim.mapping import Mapping
from qsnnsim.workload import MULT_LIMIT, SHIFT_RANGE, Workload, dense_synaptic_ops

FLOAT32_BITS = 32
#: Widths of the per-channel parameters as the workload format bounds them: mult is a signed
#: value with |mult| < 2^24 (25 bits), shift is 0..31 (5 bits), threshold and bias are int32.
MULT_BITS = MULT_LIMIT.bit_length()
SHIFT_BITS = SHIFT_RANGE[1].bit_length()
THRESHOLD_BITS = 32
BIAS_BITS = 32


@dataclass(frozen=True)
class MemoryUse:
    """Bits used of one memory against its capacity."""

    used_bits: int
    capacity_bits: int

    @property
    def fraction(self) -> float:
        return self.used_bits / self.capacity_bits if self.capacity_bits else 0.0


@dataclass(frozen=True)
class CoreFootprint:
    """One core in one pass: what its slices occupy (SRAM words x word width)."""

    core: int
    pass_index: int
    n_slices: int
    n_neurons: int
    neuron_capacity: int
    weight: MemoryUse
    membrane: MemoryUse
    acc: MemoryUse
    spike_buffer_bits: int


@dataclass(frozen=True)
class Footprint:
    """Memory footprint of a mapped workload (every field in bits unless named otherwise).

    Model size: ``weight_bits`` (synaptic weights at their widths; ``weights_by_bits`` maps a
    width to its weight count) vs ``float32_bits`` (``float32_params`` x 32, the params being
    the weights plus ``batchnorm_params`` and ``bias_params``); ``membrane_bits`` (spiking
    neurons x their dialect's state bits, e.g. a qsnn_lif membrane's b; ``n_lif_neurons``),
    ``readout_state_bits`` (readout neurons x 64),
    ``identity_code_bits``, ``scale_param_bits`` (mult, shift per projection channel;
    threshold, bias per population channel).

    Mapped: ``cores`` (every core of every pass, ordered by pass then core id),
    ``mapped_*_bits`` (words x word width, padding included), ``stored_weight_bits`` (the
    codes in those words), ``spike_buffer_bits`` (the spike input buffers of every core),
    ``chip_*_capacity_bits`` (one pass), and ``offchip_weight_bits_per_sample`` (weights
    reloaded per sample when there are several passes).
    """

    workload_name: str
    arch_name: str
    n_passes: int
    weights_by_bits: dict
    n_weights: int
    weight_bits: int
    float32_params: int
    float32_bits: int
    batchnorm_params: int
    bias_params: int
    n_lif_neurons: int
    membrane_bits: int
    n_readout_neurons: int
    readout_state_bits: int
    identity_code_bits: int
    scale_param_bits: int
    cores: tuple[CoreFootprint, ...]
    mapped_weight_bits: int
    stored_weight_bits: int
    mapped_membrane_bits: int
    mapped_acc_bits: int
    spike_buffer_bits: int
    chip_weight_capacity_bits: int
    chip_membrane_capacity_bits: int
    chip_acc_capacity_bits: int
    offchip_weight_bits_per_sample: int

    @property
    def weight_saving_percent(self) -> float:
        """How much smaller the weights are than the float32 model, in percent."""
        return (
            100.0 * (1.0 - self.weight_bits / self.float32_bits)
            if self.float32_bits
            else 0.0
        )

    def membrane_bits_at(self, membrane_bits: int) -> int:
        """LIF membrane storage if every LIF population had ``membrane_bits``-bit membranes."""
        return self.n_lif_neurons * membrane_bits

    def core(self, core: int, pass_index: int = 0) -> CoreFootprint:
        """The entry of one core in one pass (``cores`` is ordered by pass, then core id)."""
        n_cores = len(self.cores) // self.n_passes
        if not (0 <= core < n_cores and 0 <= pass_index < self.n_passes):
            raise KeyError((core, pass_index))
        return self.cores[pass_index * n_cores + core]


@dataclass(frozen=True)
class ModelSize:
    """The workload-only part of the footprint: the seed paper's model-size accounting.

    ``weighted_synaptic_ops_per_step`` counts conv2d and linear synapses the way SNN papers do
    (a conv per output position; a linear after a global sum-pool once per pooled value);
    ``all_synaptic_ops_per_step`` is what the hardware does if every neuron spikes once
    (identity shortcuts, sum-pooling and a pooled linear per source position included).
    """

    weights_by_bits: dict
    n_weights: int
    weight_bits: int
    batchnorm_params: int
    bias_params: int
    float32_params: int
    float32_bits: int
    identity_code_bits: int
    scale_param_bits: int
    n_lif_populations: int
    n_lif_neurons: int
    membrane_bits: int
    n_readout_neurons: int
    readout_state_bits: int
    weighted_synaptic_ops_per_step: int
    all_synaptic_ops_per_step: int

    @property
    def weight_saving_percent(self) -> float:
        return 100.0 * (1.0 - self.weight_bits / self.float32_bits) if self.float32_bits else 0.0


def model_size(workload: Workload) -> ModelSize:
    """Weights at their widths against float32, membranes, parameters, synaptic operations."""
    pops = {p.name: p for p in workload.populations}
    weights_by_bits: dict[int, int] = {}
    batchnorm_params = bias_params = identity_code_bits = scale_param_bits = 0
    weighted_ops = all_ops = 0
    for proj in workload.projections:
        src, tgt = pops[proj.source], pops[proj.target]
        all_ops += dense_synaptic_ops(proj, src, tgt)
        if proj.kind in ("conv2d", "linear"):
            weights_by_bits[proj.weight_bits] = weights_by_bits.get(proj.weight_bits, 0) + proj.n_weights
            # A float network carries BatchNorm (gamma, beta) after a conv and a bias after a linear.
            if proj.kind == "conv2d":
                batchnorm_params += 2 * proj.weights.shape[0]
                weighted_ops += dense_synaptic_ops(proj, src, tgt)
            else:
                bias_params += proj.weights.shape[0]
                weighted_ops += proj.n_weights
        elif proj.kind == "identity":
            identity_code_bits += proj.weights.size * proj.weight_bits
        scale_param_bits += proj.mult.size * (MULT_BITS + SHIFT_BITS)
    lif = [p for p in workload.populations if p.kind == "lif"]
    readouts = [p for p in workload.populations if p.kind == "readout"]
    for pop in lif + readouts:
        scale_param_bits += pop.n_channels * (BIAS_BITS + (THRESHOLD_BITS if pop.kind == "lif" else 0))
    n_weights = sum(weights_by_bits.values())
    float32_params = n_weights + batchnorm_params + bias_params
    n_readout = sum(p.n_neurons for p in readouts)
    return ModelSize(
        weights_by_bits=dict(sorted(weights_by_bits.items())),
        n_weights=n_weights,
        weight_bits=sum(bits * n for bits, n in weights_by_bits.items()),
        batchnorm_params=batchnorm_params,
        bias_params=bias_params,
        float32_params=float32_params,
        float32_bits=FLOAT32_BITS * float32_params,
        identity_code_bits=identity_code_bits,
        scale_param_bits=scale_param_bits,
        n_lif_populations=len(lif),
        n_lif_neurons=sum(p.n_neurons for p in lif),
        membrane_bits=sum(p.n_neurons * p.neuron.state_bits(p) for p in lif),  # each dialect's state
        n_readout_neurons=n_readout,
        readout_state_bits=sum(p.n_neurons * p.neuron.state_bits(p) for p in readouts),
        weighted_synaptic_ops_per_step=weighted_ops,
        all_synaptic_ops_per_step=all_ops,
    )


def compute_footprint(
    workload: Workload, mapping: Mapping, arch: ArchSpec
) -> Footprint:
    """Count the bits of a mapped workload.

    Parameters
    ----------
    workload : Workload
        The workload that was mapped.
    mapping : Mapping
        Its mapping onto ``arch`` (from :func:`qsnnsim.mapping.map_workload`).
    arch : ArchSpec
        The architecture.

    Returns
    -------
    Footprint
    """
    if mapping.workload_name != workload.name or mapping.arch_name != arch.name:
        raise ValueError(
            f"mapping is of {mapping.workload_name!r} on {mapping.arch_name!r}, "
            f"not {workload.name!r} on {arch.name!r}"
        )
    size = model_size(workload)

    core = arch.core
    ww, mw, aw = (
        core.weight_sram.word_bits,
        core.membrane_sram.word_bits,
        core.acc_sram.word_bits,
    )
    on_core: dict[tuple[int, int], list] = {}
    for s in mapping.slices:
        on_core.setdefault((s.pass_index, s.core), []).append(s)
    cores = []
    for pass_index in range(mapping.n_passes):
        for core_id in range(mapping.n_cores):
            here = on_core.get((pass_index, core_id), [])
            cores.append(
                CoreFootprint(
                    core=core_id,
                    pass_index=pass_index,
                    n_slices=len(here),
                    n_neurons=sum(s.n_neurons for s in here),
                    neuron_capacity=core.neuron_capacity,
                    weight=MemoryUse(
                        sum(s.weight_words for s in here) * ww,
                        core.weight_sram.capacity_bits,
                    ),
                    membrane=MemoryUse(
                        sum(s.membrane_words for s in here) * mw,
                        core.membrane_sram.capacity_bits,
                    ),
                    acc=MemoryUse(
                        sum(s.acc_words for s in here) * aw, core.acc_sram.capacity_bits
                    ),
                    spike_buffer_bits=arch.spike_buffer_bits,
                )
            )
    mapped_weight_bits = sum(s.weight_words for s in mapping.slices) * ww
    # With one pass the weights are loaded once, at configuration; with several, every pass
    # reloads its weights from off-chip memory for every sample.
    offchip = mapped_weight_bits if mapping.n_passes > 1 else 0
    return Footprint(
        workload_name=workload.name,
        arch_name=arch.name,
        n_passes=mapping.n_passes,
        weights_by_bits=size.weights_by_bits,
        n_weights=size.n_weights,
        weight_bits=size.weight_bits,
        float32_params=size.float32_params,
        float32_bits=size.float32_bits,
        batchnorm_params=size.batchnorm_params,
        bias_params=size.bias_params,
        n_lif_neurons=size.n_lif_neurons,
        membrane_bits=size.membrane_bits,
        n_readout_neurons=size.n_readout_neurons,
        readout_state_bits=size.readout_state_bits,
        identity_code_bits=size.identity_code_bits,
        scale_param_bits=size.scale_param_bits,
        cores=tuple(cores),
        mapped_weight_bits=mapped_weight_bits,
        stored_weight_bits=sum(s.weight_bits_stored for s in mapping.slices),
        mapped_membrane_bits=sum(s.membrane_words for s in mapping.slices) * mw,
        mapped_acc_bits=sum(s.acc_words for s in mapping.slices) * aw,
        spike_buffer_bits=mapping.n_cores * arch.spike_buffer_bits,
        chip_weight_capacity_bits=mapping.n_cores * core.weight_sram.capacity_bits,
        chip_membrane_capacity_bits=mapping.n_cores * core.membrane_sram.capacity_bits,
        chip_acc_capacity_bits=mapping.n_cores * core.acc_sram.capacity_bits,
        offchip_weight_bits_per_sample=offchip,
    )
