"""Hypothesis strategies for small, valid architectures (:class:`qsnnsim.arch.ArchSpec`).

``small_archs()`` draws a 1..3 x 1..3 mesh of small cores. Given a workload
(``small_archs(workload=wl)``, e.g. from :func:`strategies.small_workloads` through
``st.data()``), every memory holds at least the smallest unit of every population of that
workload (one row of one channel, or one neuron), so the pair always maps, and at most about
four times that, so populations split into several slices, share cores and spill into passes.
``arch_dict()`` is the plain-dict form, for tests that edit one key and expect an error.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qsnnsim.arch import (
    ENERGY_ENTRY_NAMES,
    FORMAT_NAME,
    FORMAT_VERSION,
    ArchSpec,
    arch_from_dict,
)

__all__ = ["arch_dict", "small_archs", "unit_demand"]

# Smallest unit of a small_workloads population, see the module docstring.
_MIN_WEIGHT_WORDS = 144
_MIN_NEURONS = 8
_MIN_ACC_BITS = 96


def _energy(value: float = 1.0) -> dict:
    return {
        name: {"value": value, "source": "test value, no technology node"}
        for name in ENERGY_ENTRY_NAMES
    }


def arch_dict(**overrides) -> dict:
    """A valid arch as a dict (a small 2x2 chip); ``overrides`` replace top-level sections."""
    data = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": "test",
        "description": "test architecture",
        "chip": {"clock_mhz": 100.0, "mesh_rows": 2, "mesh_cols": 2},
        "noc": {
            "flit_bits": 32,
            "router_latency_cycles": 1,
            "link_latency_cycles": 1,
            "buffer_depth_flits": 2,
            "packet_header_bits": 4,
        },
        "offchip": {
            "bandwidth_bits_per_cycle": 16,
            "latency_cycles": 10,
            "io_router": [0, 0],
        },
        "core": {
            "neuron_capacity": 64,
            "weight_sram": {"banks": 2, "bank_words": 256, "word_bits": 16},
            "membrane_sram": {"banks": 2, "bank_words": 32, "word_bits": 16},
            "acc_sram": {"banks": 2, "bank_words": 64, "word_bits": 32},
            "spike_buffer_packets": 8,
            "synapse_lanes": 2,
            "neuron_lanes": 2,
            "integrate_pipeline_cycles": 1,
            "fire_pipeline_cycles": 1,
            "membrane_bits_supported": list(range(2, 17)),
            "weight_bits_supported": list(range(1, 17)),
            "acc_bits_max": 32,
            "max_synapse_rows": 0,
        },
        "energy": _energy(),
    }
    data.update(overrides)
    return data


def unit_demand(
    workload, weight_word_bits: int, membrane_word_bits: int, acc_word_bits: int
) -> dict:
    """The largest smallest-unit demand over ``workload``'s mapped populations.

    A unit is what the mapper can never split: one row of one channel of a (C, H, W)
    population, one neuron of an (N,) one. Written from the storage rules of
    docs/mapping.md, independently of qsnnsim.mapping.
    """
    pops = {p.name: p for p in workload.populations}
    need = {
        "neurons": 1,
        "weight_words": 0,
        "membrane_words": 1,
        "acc_words": 1,
        "synapse_rows": 0,
    }
    for pop in workload.populations:
        if pop.kind == "input":
            continue
        unit = pop.shape[2] if len(pop.shape) == 3 else 1
        state_bits = pop.neuron.state_bits(pop)
        # accumulator slots: one per timestep a delayed input can be ahead (timing-model.md §5b)
        slots = 1 + max((p.delay for p in workload.projections_into(pop.name)), default=0)
        rows = words = acc_bits = 0
        for proj in workload.projections_into(pop.name):
            acc_bits += proj.acc_bits
            src = pops[proj.source]
            if proj.kind == "conv2d":
                n = src.shape[0] * proj.kernel[0] * proj.kernel[1]
            elif proj.kind == "linear":
                n = src.shape[0] if proj.global_sum_pool else src.n_neurons
            elif proj.kind == "identity":
                n = 1
            else:
                continue
            rows += n
            words += n * -(-proj.weight_bits // weight_word_bits)
        need["neurons"] = max(need["neurons"], unit)
        need["weight_words"] = max(need["weight_words"], words)
        need["synapse_rows"] = max(need["synapse_rows"], rows)
        need["membrane_words"] = max(
            need["membrane_words"], -(-unit * state_bits // membrane_word_bits)
        )
        need["acc_words"] = max(need["acc_words"], slots * -(-unit * acc_bits // acc_word_bits))
    return need


@st.composite
def small_archs(
    draw, max_mesh_side: int = 3, min_cores: int = 1, workload=None
) -> ArchSpec:
    """A small valid :class:`ArchSpec` (a SearchStrategy when called).

    Parameters
    ----------
    max_mesh_side : int
        Upper bound on mesh rows and columns.
    min_cores : int
        Lower bound on rows x cols.
    workload : Workload, optional
        When given, every memory holds at least the smallest unit of every population of this
        workload (so it always maps) and at most about four times that (so it often splits).
    """
    while True:
        rows = draw(st.integers(1, max_mesh_side))
        cols = draw(st.integers(1, max_mesh_side))
        if rows * cols >= min_cores:
            break
    weight_word = draw(st.sampled_from([16, 32, 64]))
    membrane_word = draw(st.sampled_from([16, 24, 32]))
    acc_word = draw(st.sampled_from([16, 32, 64]))
    if workload is not None:
        need = unit_demand(workload, weight_word, membrane_word, acc_word)
    else:
        need = {
            "neurons": _MIN_NEURONS,
            "weight_words": _MIN_WEIGHT_WORDS,
            "membrane_words": 4,
            "acc_words": -(-_MIN_ACC_BITS * _MIN_NEURONS // acc_word),
            "synapse_rows": _MIN_WEIGHT_WORDS,
        }

    def sram(word_bits: int, min_words: int) -> dict:
        banks = draw(st.integers(1, 3))
        lo = max(1, -(-min_words // banks))
        return {
            "banks": banks,
            "bank_words": draw(st.integers(lo, 4 * lo + 4)),
            "word_bits": word_bits,
        }

    neuron_capacity = draw(st.integers(need["neurons"], 4 * need["neurons"] + 4))
    n_cores = rows * cols
    # A packet is one flit: routing header + source neuron address + an 8-bit analog value.
    header = max(1, (n_cores - 1).bit_length()) + draw(st.integers(0, 2))
    largest = (
        max(p.n_neurons for p in workload.populations) if workload is not None else 48
    )
    flit_bits = (
        header
        + max(1, (largest - 1).bit_length())
        + 8
        + draw(st.sampled_from([0, 0, 3, 16]))
    )
    data = arch_dict(
        name=draw(st.sampled_from(["a", "small", "arch-ü"])),
        chip={
            "clock_mhz": draw(st.sampled_from([50.0, 100.0, 333.3])),
            "mesh_rows": rows,
            "mesh_cols": cols,
        },
        noc={
            "flit_bits": flit_bits,
            "router_latency_cycles": draw(st.integers(1, 3)),
            "link_latency_cycles": draw(st.integers(1, 2)),
            "buffer_depth_flits": draw(st.integers(1, 4)),
            "packet_header_bits": header,
        },
        offchip={
            "bandwidth_bits_per_cycle": draw(st.sampled_from([8, 32, 64])),
            "latency_cycles": draw(st.integers(0, 50)),
            "io_router": [
                draw(st.integers(0, rows - 1)),
                draw(st.integers(0, cols - 1)),
            ],
        },
        energy=_energy(draw(st.sampled_from([0.0, 0.5, 2.0]))),
    )
    rows_limit = draw(
        st.sampled_from([0, 0, need["synapse_rows"], 2 * need["synapse_rows"]])
    )
    data["core"].update(
        neuron_capacity=neuron_capacity,
        weight_sram=sram(weight_word, need["weight_words"]),
        membrane_sram=sram(membrane_word, need["membrane_words"]),
        acc_sram=sram(acc_word, need["acc_words"]),
        spike_buffer_packets=draw(st.integers(1, 16)),
        synapse_lanes=draw(st.integers(1, 4)),
        neuron_lanes=draw(st.integers(1, 4)),
        integrate_pipeline_cycles=draw(st.integers(0, 3)),
        fire_pipeline_cycles=draw(st.integers(0, 3)),
        max_synapse_rows=rows_limit if rows_limit else 0,
        dialects=["qsnn_lif", "loihi_cuba", "xylo_lif"],
    )
    return arch_from_dict(data, "<small_archs>")
