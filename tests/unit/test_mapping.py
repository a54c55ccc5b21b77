"""map_workload on hand-computed cases: slicing, SRAM words, placement, destinations, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from strategies import arch_dict

from qsnnsim.arch import arch_from_dict, load_arch
from qsnnsim.errors import MappingError
from qsnnsim.mapping import Slice, map_workload, snake_path
from qsnnsim.workload import WorkloadBuilder, load_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_arch(**core):
    """The 2x2 test chip of strategies.arch_dict with some core keys replaced."""
    data = arch_dict()
    data["core"].update(core)
    return arch_from_dict(data)


def conv_net(membrane_bits=8, readout_bits=8, readout_acc=16):
    """spikes (2,4,4) -conv3x3 p1, 1-bit-> hid (8,4,4) -linear 8-bit-> out (10,)."""
    b = WorkloadBuilder("convnet", timesteps=2, input_kind="spikes")
    b.input("in", (2, 4, 4))
    b.lif("hid", (8, 4, 4), threshold=1, membrane_bits=membrane_bits)
    b.conv2d(
        "in",
        "hid",
        np.ones((8, 2, 3, 3), np.int16),
        weight_bits=1,
        padding=1,
        acc_bits=8,
    )
    b.readout("out", (10,))
    b.linear(
        "hid",
        "out",
        np.ones((10, 128), np.int16),
        weight_bits=readout_bits,
        acc_bits=readout_acc,
    )
    b.set_samples(np.zeros((1, 2, 2, 4, 4), np.uint8))
    return b.build()


# Words of the example chip: weight SRAM 16-bit words, 1,024 of them; membrane SRAM 16-bit
# words, 64; accumulator SRAM 32-bit words, 128; 64 neurons per core.
ARCH = {
    "neuron_capacity": 64,
    "weight_sram": {"banks": 4, "bank_words": 256, "word_bits": 16},
    "membrane_sram": {"banks": 2, "bank_words": 32, "word_bits": 16},
    "acc_sram": {"banks": 2, "bank_words": 64, "word_bits": 32},
}


def test_hand_computed_slices_words_and_placement():
    m = map_workload(conv_net(), make_arch(**ARCH), strategy="packed")
    # hid: a slice of n channels holds 16n neurons, so the 64-neuron cores take 4 channels.
    #   weight: 2 source channels x 3 x 3 = 18 rows of n <= 16 bits -> 18 one-word rows
    #   membrane: 16n x 8 bits / 16 = 8n words; accumulator: 16n x 8 bits / 32 = 4n words
    # out: 128 rows (one per source neuron) of 10 x 8 = 80 bits -> 5 words each = 640 words;
    #   membrane 10 x 64 / 16 = 40 words; accumulator 10 x 16 / 32 = 5 words.
    # Path over the 2x2 mesh from router [0, 0]: cores 0, 1, 3, 2. hid[0:4) fills core 0's
    # neurons, hid[4:8) goes to core 1, out fits neither, the nearest free core is 3.
    assert m.slices == (
        Slice(
            0,
            "hid",
            0,
            64,
            0,
            4,
            core=0,
            pass_index=0,
            weight_words=18,
            membrane_words=32,
            acc_words=16,
            weight_bits_stored=72,
            membrane_bits_stored=512,
            acc_bits_stored=512,
            row_start=0,
            row_stop=4,
            synapse_rows=18,
        ),
        Slice(
            1,
            "hid",
            64,
            128,
            4,
            8,
            core=1,
            pass_index=0,
            weight_words=18,
            membrane_words=32,
            acc_words=16,
            weight_bits_stored=72,
            membrane_bits_stored=512,
            acc_bits_stored=512,
            row_start=0,
            row_stop=4,
            synapse_rows=18,
        ),
        Slice(
            2,
            "out",
            0,
            10,
            0,
            10,
            core=3,
            pass_index=0,
            weight_words=640,
            membrane_words=40,
            acc_words=5,
            weight_bits_stored=10240,
            membrane_bits_stored=640,
            acc_bits_stored=160,
            row_start=0,
            row_stop=1,
            synapse_rows=128,
        ),
    )
    assert m.n_passes == 1
    # Both hid slices feed the readout (linear: everything depends on everything); the input
    # (a 3x3 conv with padding 1) reaches both hid slices; the readout sends nothing.
    assert m.destinations == ((2,), (2,), ())
    assert m.input_destinations == (0, 1)
    assert m.core_of_input == 0
    assert (m.arch_name, m.workload_name, m.mesh_rows, m.mesh_cols) == (
        "test",
        "convnet",
        2,
        2,
    )
    assert [s.label for s in m.slices] == ["hid[0:4)", "hid[4:8)", "out[0:10)"]


def test_balanced_spreads_every_layer_over_the_cores():
    m = map_workload(conv_net(), make_arch(**ARCH), strategy="balanced")
    # Every population is cut into (up to) one slice per core: hid's 8 channels into 4 x 2
    # (a granule of 16 channels would fill 16-bit words, but it does not fit a core, so the
    # unit is 1 channel); out's 8-bit codes fill 16-bit words in pairs, so its 10 channels
    # are 5 units of 2, cut 2+1+1+1. Each layer lands on 4 different cores along the path
    # 0, 1, 3, 2; out continues from where hid ended.
    got = [(s.population, s.channel_start, s.channel_stop, s.core) for s in m.slices]
    assert got == [
        ("hid", 0, 2, 0),
        ("hid", 2, 4, 1),
        ("hid", 4, 6, 3),
        ("hid", 6, 8, 2),
        ("out", 0, 4, 2),
        ("out", 4, 6, 3),
        ("out", 6, 8, 1),
        ("out", 8, 10, 0),
    ]
    assert m.n_passes == 1
    assert m.strategy == "balanced"


def test_proportional_gives_a_layer_cores_in_proportion_to_its_work():
    m = map_workload(conv_net(), make_arch(**ARCH), strategy="proportional")
    # hid carries 2,432 of the 3,722 units of work (dense synaptic ops + neurons): round(4 x
    # 0.65) = 3 slices of 3, 3 and 2 channels, each on its own core under the work budget;
    # out (1,290 units, round(1.39) = 1 slice) takes the next core on the path.
    got = [(s.population, s.channel_start, s.channel_stop, s.core) for s in m.slices]
    assert got == [
        ("hid", 0, 3, 0),
        ("hid", 3, 6, 1),
        ("hid", 6, 8, 3),
        ("out", 0, 10, 2),
    ]
    assert m.n_passes == 1


def test_passes_when_the_chip_is_too_small():
    # One core: the two hid slices and the readout cannot share its 64 neurons.
    data = arch_dict()
    data["chip"].update(mesh_rows=1, mesh_cols=1)
    data["core"].update(ARCH)
    m = map_workload(conv_net(), arch_from_dict(data), strategy="packed")
    assert [(s.population, s.pass_index, s.core) for s in m.slices] == [
        ("hid", 0, 0),
        ("hid", 1, 0),
        ("out", 2, 0),
    ]
    assert m.n_passes == 3
    assert m.destinations == ((2,), (2,), ())


def rows_net():
    """spikes (1,8,4) -conv3x3 p1-> a (1,8,4) -conv3x3 p1-> b (1,8,4) -linear-> out (2,)."""
    b = WorkloadBuilder("rows", timesteps=1, input_kind="spikes")
    b.input("in", (1, 8, 4))
    b.lif("a", (1, 8, 4), threshold=1)
    b.conv2d("in", "a", np.ones((1, 1, 3, 3), np.int16), padding=1, acc_bits=8)
    b.lif("b", (1, 8, 4), threshold=1)
    b.conv2d("a", "b", np.ones((1, 1, 3, 3), np.int16), padding=1, acc_bits=8)
    b.readout("out", (2,))
    b.linear("b", "out", np.ones((2, 32), np.int16), weight_bits=1, acc_bits=8)
    b.set_samples(np.zeros((1, 1, 1, 8, 4), np.uint8))
    return b.build()


def test_a_channel_too_big_for_a_core_is_split_into_row_ranges():
    m = map_workload(
        rows_net(), make_arch(**{**ARCH, "neuron_capacity": 12}), strategy="packed"
    )
    a = m.slices_of("a")
    # 12 neurons = 3 rows of 4; 8 rows -> 3 ranges as even as possible: rows 0-2, 3-5, 6-7.
    assert [(s.row_start, s.row_stop, s.neuron_start, s.neuron_stop) for s in a] == [
        (0, 3, 0, 12),
        (3, 6, 12, 24),
        (6, 8, 24, 32),
    ]
    assert all(s.is_row_range and s.n_channels == 1 for s in a)
    assert [s.label for s in a] == ["a[c0 r0:3)", "a[c0 r3:6)", "a[c0 r6:8)"]
    # Each row range stores its channel's kernel again: 9 rows of one 1-bit code = 9 words.
    assert [s.weight_words for s in a] == [9, 9, 9]
    assert [s.membrane_words for s in a] == [6, 6, 4]  # 12 or 8 neurons x 8 bits / 16
    b = m.slices_of("b")
    # Target row y reads source rows y-1..y+1: a's rows 0-2 reach b's rows 0-3, rows 3-5 reach
    # rows 2-6, rows 6-7 reach rows 5-7.
    ia, ib = [s.index for s in a], [s.index for s in b]
    assert [m.destinations[i] for i in ia] == [
        (ib[0], ib[1]),
        (ib[0], ib[1], ib[2]),
        (ib[1], ib[2]),
    ]
    out = m.slices_of("out")[0].index
    assert all(m.destinations[i] == (out,) for i in ib)
    assert m.input_destinations == tuple(ia)


def test_a_strided_window_skips_rows():
    # s (1,4,2) in single-row slices; t (1,2,1) = 1x1 conv, stride 2, reads rows 0 and 2 only.
    b = WorkloadBuilder("stride", timesteps=1, input_kind="spikes")
    b.input("in", (1, 4, 2))
    b.lif("s", (1, 4, 2), threshold=0)
    b.identity("in", "s", codes=1, weight_bits=2, acc_bits=4)
    b.lif("t", (1, 2, 1), threshold=0)
    b.conv2d("s", "t", np.ones((1, 1, 1, 1), np.int16), stride=2, acc_bits=4)
    b.readout("out", (1,))
    b.linear("t", "out", np.ones((1, 2), np.int16), acc_bits=4)
    b.set_samples(np.zeros((1, 1, 1, 4, 2), np.uint8))
    m = map_workload(
        b.build(), make_arch(**{**ARCH, "neuron_capacity": 2}), strategy="packed"
    )
    s = m.slices_of("s")
    assert [(x.row_start, x.row_stop) for x in s] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    t = m.slices_of("t")[0].index
    assert [m.destinations[x.index] for x in s] == [(t,), (), (t,), ()]


def test_snake_path_starts_next_to_the_io_router():
    data = arch_dict()
    data["chip"].update(mesh_rows=2, mesh_cols=3)
    data["noc"]["packet_header_bits"] = 8
    assert snake_path(arch_from_dict(data)) == [0, 1, 2, 5, 4, 3]
    data["offchip"]["io_router"] = [1, 2]
    assert snake_path(arch_from_dict(data)) == [5, 4, 3, 0, 1, 2]


def test_mapping_helpers():
    m = map_workload(conv_net(), make_arch(**ARCH), strategy="packed")
    assert m.n_cores == 4
    assert m.core_position(3) == (1, 1)
    assert m.hops(0, 3) == 2
    assert m.cores_used(0) == (0, 1, 3)
    assert [s.index for s in m.slices_on(1, 0)] == [1]


# --------------------------------------------------------------------------- errors


def test_unsupported_membrane_width():
    with pytest.raises(
        MappingError,
        match=r"population 'hid' has 8-bit membranes; this core supports 2, 4 bits",
    ) as info:
        map_workload(
            conv_net(),
            make_arch(**ARCH, membrane_bits_supported=[2, 4]),
            arch_path="archs/x.yaml",
        )
    assert (info.value.file, info.value.field) == (
        "archs/x.yaml",
        "core.membrane_bits_supported",
    )
    assert "add 8 to core.membrane_bits_supported" in info.value.fix


def test_unsupported_weight_width():
    with pytest.raises(
        MappingError,
        match=r"projection 'hid->out' has 8-bit weights; this core supports 1, 2 bits",
    ) as info:
        map_workload(conv_net(), make_arch(**ARCH, weight_bits_supported=[1, 2]))
    assert info.value.field == "core.weight_bits_supported"


def test_accumulator_wider_than_the_adder():
    with pytest.raises(
        MappingError,
        match=r"projection 'hid->out' needs 16-bit accumulators; this core's adders are 12 bits",
    ):
        map_workload(conv_net(), make_arch(**ARCH, acc_bits_max=12))


def test_a_row_that_fits_no_core_names_population_memory_and_shortfall():
    b = WorkloadBuilder("wide", timesteps=1, input_kind="spikes")
    b.input("in", (1, 1, 8))
    b.lif("x", (1, 1, 8), threshold=1, membrane_bits=8)
    b.identity("in", "x", codes=1, weight_bits=2, acc_bits=4)
    b.readout("out", (1,))
    b.linear("x", "out", np.ones((1, 8), np.int16), acc_bits=8)
    b.set_samples(np.zeros((1, 1, 1, 1, 8), np.uint8))
    arch = make_arch(
        **{**ARCH, "membrane_sram": {"banks": 1, "bank_words": 2, "word_bits": 16}}
    )
    # One row of x: 8 neurons x 8 bits = 64 bits = 4 words of 16 bits; a core has 2 words.
    with pytest.raises(
        MappingError,
        match=r"population 'x' cannot be mapped: one row of one channel \(8 neurons\) "
        r"needs 64 bits of membrane_sram \(4 words of 16 bits\) but a core has 32: "
        r"short by 32 bits",
    ) as info:
        map_workload(b.build(), arch, arch_path="archs/x.yaml")
    assert info.value.field == "core.membrane_sram"


def test_a_neuron_whose_synapses_fit_no_core():
    b = WorkloadBuilder("fanin", timesteps=1, input_kind="spikes")
    b.input("in", (48,))
    b.lif("x", (2,), threshold=1)
    b.linear("in", "x", np.ones((2, 48), np.int16), weight_bits=1, acc_bits=8)
    b.readout("out", (1,))
    b.linear("x", "out", np.ones((1, 2), np.int16), acc_bits=8)
    b.set_samples(np.zeros((1, 1, 48), np.uint8))
    arch = make_arch(
        **{**ARCH, "weight_sram": {"banks": 1, "bank_words": 16, "word_bits": 16}}
    )
    # 48 rows (one per source neuron) of one 1-bit code = 48 words; a core has 16.
    with pytest.raises(
        MappingError,
        match=r"population 'x' cannot be mapped: a single neuron needs 768 bits of "
        r"weight_sram \(48 words of 16 bits\) but a core has 256: short by 512 bits",
    ):
        map_workload(b.build(), arch)


def test_synapse_row_limit():
    with pytest.raises(
        MappingError, match=r"needs 18 synapse rows but a core has 10"
    ) as info:
        map_workload(conv_net(), make_arch(**ARCH, max_synapse_rows=10))
    assert info.value.field == "core.max_synapse_rows"


def test_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        map_workload(conv_net(), make_arch(**ARCH), strategy="random")


# --------------------------------------------------------------------------- shipped files

RESNET = os.path.join(ROOT, "workloads", "resnet19.npz")


@pytest.mark.skipif(
    not os.path.exists(RESNET), reason="workloads/resnet19.npz not generated"
)
def test_resnet19_fits_core16_in_one_pass():
    wl = load_workload(RESNET)
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    for strategy in ("balanced", "proportional", "packed"):
        m = map_workload(wl, arch, strategy=strategy)
        assert m.n_passes == 1
        assert {s.population for s in m.slices} == {
            p.name for p in wl.populations if p.kind != "input"
        }
