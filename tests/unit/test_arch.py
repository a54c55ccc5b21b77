"""Architecture files: every shipped arch round-trips, every energy entry cites a source, and
every class of bad arch file is one ArchError naming the file, the field, the problem and the fix."""

from __future__ import annotations

import copy
import glob
import os
import re

import pytest
import yaml
from strategies import arch_dict

from qsnnsim._spec import describe_fields
from qsnnsim.arch import (
    ENERGY_ENTRY_NAMES,
    ArchSpec,
    NocSpec,
    OffchipSpec,
    arch_from_dict,
    load_arch,
)
from qsnnsim.errors import ArchError, InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = sorted(glob.glob(os.path.join(ROOT, "archs", "*.yaml")))

# The contract with the engine and the energy model (DESIGN §7): these names never change.
CONTRACT_ENERGY_NAMES = (
    "weight_sram_read_pj",
    "weight_sram_write_pj",
    "membrane_sram_read_pj",
    "membrane_sram_write_pj",
    "acc_sram_read_pj",
    "acc_sram_write_pj",
    "spike_buffer_access_pj",
    "synaptic_add_pj",
    "mac8_pj",
    "mac16_pj",
    "scale_mult_pj",
    "neuron_update_pj",
    "compare_pj",
    "flit_hop_pj",
    "offchip_pj_per_bit",
    "sram_leakage_uw_per_kib",
    "core_logic_leakage_uw",
    "router_leakage_uw",
    "current_update_pj",
    "multi_spike_compare_pj",
)


def test_the_shipped_archs_are_there():
    names = {os.path.basename(p) for p in SHIPPED}
    assert {
        "core16.yaml",
        "tiny.yaml",
        "large.yaml",
        "truenorth_like.yaml",
        "loihi_like.yaml",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_shipped_arch_round_trips_through_to_dict(path, tmp_path):
    arch = load_arch(path)
    assert arch_from_dict(arch.to_dict()) == arch
    # And through a YAML file, as a report writes the resolved arch next to its results.
    out = tmp_path / "resolved.yaml"
    out.write_text(yaml.safe_dump(arch.to_dict(), sort_keys=False), encoding="utf-8")
    assert load_arch(out) == arch


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_every_energy_entry_has_a_value_and_a_source(path):
    arch = load_arch(path)
    entries = arch.energy.entries()
    assert tuple(entries) == CONTRACT_ENERGY_NAMES
    for name, entry in entries.items():
        assert entry.value >= 0, name
        assert entry.source.strip(), name
        # A source names its technology node (e.g. "45 nm") or says where the value is folded in.
        assert re.search(r"\d+ nm|included|folded|not published|test|no core dialect", entry.source), (
            name,
            entry.source,
        )


def test_energy_names_are_the_contract():
    assert ENERGY_ENTRY_NAMES == CONTRACT_ENERGY_NAMES


def test_core16_totals_match_its_comment():
    arch = load_arch(os.path.join(ROOT, "archs", "core16.yaml"))
    core = arch.core
    # 256 + 192 + 384 KiB per core, 16 cores.
    assert (
        core.weight_sram.capacity_kib,
        core.membrane_sram.capacity_kib,
        core.acc_sram.capacity_kib,
    ) == (256, 192, 384)
    assert arch.n_cores == 16
    assert arch.io_core == 0
    # 512 packets, each one 32-bit flit.
    assert arch.spike_buffer_bits == 512 * 32


def test_defaults_fill_optional_sections():
    data = arch_dict()
    for key in ("noc", "offchip", "description"):
        del data[key]
    for key in (
        "spike_buffer_packets",
        "synapse_lanes",
        "neuron_lanes",
        "integrate_pipeline_cycles",
        "fire_pipeline_cycles",
        "membrane_bits_supported",
        "weight_bits_supported",
        "acc_bits_max",
        "max_synapse_rows",
    ):
        del data["core"][key]
    arch = arch_from_dict(data)
    assert arch.noc == NocSpec()
    assert arch.offchip == OffchipSpec()
    assert arch.offchip.io_router == (0, 0)
    assert arch.core.membrane_bits_supported == tuple(range(2, 17))
    assert arch.core.weight_bits_supported == tuple(range(1, 17))
    assert (
        arch.core.acc_bits_max,
        arch.core.synapse_lanes,
        arch.core.max_synapse_rows,
    ) == (
        32,
        1,
        0,
    )
    assert arch.description == ""


def test_docs_describe_every_key():
    with open(
        os.path.join(ROOT, "docs", "architecture-format.md"), encoding="utf-8"
    ) as fh:
        doc = fh.read()
    for key, _type, _default, _doc in describe_fields(ArchSpec):
        leaf = key.split(".")[-1]
        if key.startswith("energy."):
            leaf = key.split(".")[1]
        assert f"`{leaf}`" in doc, key


# --------------------------------------------------------------------------- errors


def _edit(change):
    data = copy.deepcopy(arch_dict())
    change(data)
    return data


BAD = [
    # (case id, edit, field, problem regex, fix regex)
    (
        "unknown_key_suggests",
        lambda d: d["core"]["weight_sram"].update(bnaks=2),
        "core.weight_sram.bnaks",
        "unknown key in core.weight_sram",
        "did you mean 'banks'",
    ),
    (
        "unknown_top_key_lists",
        lambda d: d.update(zzz=1),
        "zzz",
        "unknown key in the top level",
        "valid keys here: format",
    ),
    (
        "missing_required",
        lambda d: d["core"].pop("acc_sram"),
        "core.acc_sram",
        "is required but missing",
        "add 'acc_sram:' to core",
    ),
    (
        "negative_size",
        lambda d: d["core"]["weight_sram"].update(bank_words=-4),
        "core.weight_sram.bank_words",
        r"must be >= 1 words \(got -4\)",
        "at least 1",
    ),
    (
        "zero_banks",
        lambda d: d["core"]["weight_sram"].update(banks=0),
        "core.weight_sram.banks",
        r"must be >= 1 \(got 0\)",
        "",
    ),
    (
        "zero_lanes",
        lambda d: d["core"].update(neuron_lanes=0),
        "core.neuron_lanes",
        r"must be >= 1 \(got 0\)",
        "",
    ),
    (
        "bool_is_not_int",
        lambda d: d["chip"].update(mesh_rows=True),
        "chip.mesh_rows",
        "must be an integer, not a boolean",
        "",
    ),
    (
        "string_is_not_coerced",
        lambda d: d["chip"].update(mesh_cols="4"),
        "chip.mesh_cols",
        r"must be an integer \(got '4'\)",
        "without quotes",
    ),
    (
        "float_for_int",
        lambda d: d["core"].update(neuron_capacity=16.5),
        "core.neuron_capacity",
        "must be an integer",
        "",
    ),
    (
        "clock_zero",
        lambda d: d["chip"].update(clock_mhz=0),
        "chip.clock_mhz",
        r"must be > 0 MHz \(got 0\)",
        "",
    ),
    (
        "clock_nan",
        lambda d: d["chip"].update(clock_mhz=float("nan")),
        "chip.clock_mhz",
        "must be a finite number",
        "",
    ),
    (
        "clock_string",
        lambda d: d["chip"].update(clock_mhz="fast"),
        "chip.clock_mhz",
        "must be a number",
        "",
    ),
    (
        "membrane_width_out_of_range",
        lambda d: d["core"].update(membrane_bits_supported=[2, 17]),
        r"core.membrane_bits_supported\[1\]",
        r"must be <= 16 \(got 17\)",
        "",
    ),
    (
        "duplicate_width",
        lambda d: d["core"].update(weight_bits_supported=[1, 1]),
        "core.weight_bits_supported",
        "lists 1 more than once",
        "",
    ),
    (
        "empty_width_list",
        lambda d: d["core"].update(weight_bits_supported=[]),
        "core.weight_bits_supported",
        "must not be empty",
        "",
    ),
    (
        "width_not_a_list",
        lambda d: d["core"].update(weight_bits_supported=8),
        "core.weight_bits_supported",
        "must be a list",
        "",
    ),
    (
        "acc_bits_max_too_wide",
        lambda d: d["core"].update(acc_bits_max=40),
        "core.acc_bits_max",
        r"must be <= 32 bits \(got 40\)",
        "",
    ),
    (
        "io_router_pair",
        lambda d: d["offchip"].update(io_router=[0]),
        "offchip.io_router",
        "must be a list of 2 items",
        "",
    ),
    (
        "io_router_outside_mesh",
        lambda d: d["offchip"].update(io_router=[0, 2]),
        "offchip.io_router",
        r"\[0, 2\] is outside the 2x2 mesh",
        "column below 2",
    ),
    (
        "section_not_mapping",
        lambda d: d.update(chip=[1, 2]),
        "chip",
        "must be a mapping",
        "",
    ),
    (
        "energy_entry_missing",
        lambda d: d["energy"].pop("flit_hop_pj"),
        "energy.flit_hop_pj",
        "is required",
        "",
    ),
    (
        "energy_negative",
        lambda d: d["energy"]["compare_pj"].update(value=-0.1),
        "energy.compare_pj.value",
        r"must be >= 0",
        "",
    ),
    (
        "energy_source_empty",
        lambda d: d["energy"]["compare_pj"].update(source="  "),
        "energy.compare_pj.source",
        "is empty",
        "cite the paper",
    ),
    (
        "energy_source_missing",
        lambda d: d["energy"]["compare_pj"].pop("source"),
        "energy.compare_pj.source",
        "is required",
        "",
    ),
    (
        "energy_bare_number",
        lambda d: d["energy"].update(compare_pj=0.1),
        "energy.compare_pj",
        "must be a mapping",
        "key: value",
    ),
    (
        "header_too_small",
        lambda d: d["chip"].update(mesh_rows=4, mesh_cols=5),
        "noc.packet_header_bits",
        "4 bits cannot name one of 20 cores",
        "at least 5",
    ),
    (
        "header_fills_the_flit",
        lambda d: d["noc"].update(packet_header_bits=32),
        "noc.packet_header_bits",
        "32 bits leave no room for a neuron address in a 32-bit flit",
        "a packet is one flit",
    ),
    (
        "weight_word_narrower_than_weight",
        lambda d: d["core"]["weight_sram"].update(word_bits=8),
        "core.weight_sram.word_bits",
        "cannot hold one 16-bit weight",
        "",
    ),
    (
        "membrane_word_narrower",
        lambda d: d["core"]["membrane_sram"].update(word_bits=8),
        "core.membrane_sram.word_bits",
        "cannot hold one 16-bit membrane",
        "",
    ),
    (
        "wrong_format",
        lambda d: d.update(format="accelergy"),
        "format",
        "is 'accelergy', not 'qsnnsim-arch'",
        "",
    ),
    (
        "missing_format",
        lambda d: d.pop("format"),
        "format",
        "is required but missing",
        "qsnnsim-arch",
    ),
    (
        "unknown_version",
        lambda d: d.update(version=2),
        "version",
        "2 is not supported; this qsnnsim reads version 1",
        "version: 1",
    ),
    (
        "missing_version",
        lambda d: d.pop("version"),
        "version",
        "is required but missing",
        "",
    ),
    ("empty_name", lambda d: d.update(name=" "), "name", "is empty", ""),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_arch_is_one_arch_error(case, tmp_path):
    _id, change, field, problem, fix = case
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(_edit(change), sort_keys=False), encoding="utf-8")
    with pytest.raises(ArchError, match=problem) as info:
        load_arch(path)
    err = info.value
    assert isinstance(err, InputError)
    assert err.file == str(path)
    assert re.fullmatch(field, err.field), (err.field, field)
    if fix:
        assert re.search(fix, err.fix), err.fix
    line = err.line()
    assert "\n" not in line
    assert line.startswith(f"{path}: ")


def test_example_message_from_the_style_guide(tmp_path):
    path = tmp_path / "x.yaml"
    data = _edit(lambda d: d["core"]["weight_sram"].update(banks=0))
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ArchError) as info:
        load_arch(path)
    assert info.value.line().startswith(
        f"{path}: core.weight_sram.banks: must be >= 1 (got 0)"
    )


@pytest.mark.parametrize(
    "text, field, problem",
    [
        ("", "", "is empty"),
        ("chip: [unclosed\n", "line 2", "is not valid YAML"),
        ("- a\n- b\n", "", "must be a YAML mapping at the top level"),
        ("!!python/object/apply:os.system ['true']\n", "line 1", "is not valid YAML"),
    ],
)
def test_unreadable_files(tmp_path, text, field, problem):
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ArchError, match=problem) as info:
        load_arch(path)
    assert info.value.field == field


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ArchError, match="no such file"):
        load_arch(tmp_path / "absent.yaml")
    with pytest.raises(ArchError, match="is a folder"):
        load_arch(tmp_path)


def test_spec_is_frozen():
    arch = arch_from_dict(arch_dict())
    with pytest.raises(AttributeError):
        arch.chip.mesh_rows = 3


@pytest.mark.parametrize("text,fix", [("1e30", "write 1.0e+30"), ("2.5e3", "write 2.5e+3"), ("'4'", "without quotes")])
def test_a_number_yaml_reads_as_text_gets_the_fix_that_works(tmp_path, text, fix):
    """PyYAML (YAML 1.1) reads 1e30 and 2.5e3 as strings; the line says how to write them."""
    with open(os.path.join(ROOT, "archs", "core16.yaml"), encoding="utf-8") as fh:
        src = fh.read()
    path = tmp_path / "a.yaml"
    path.write_text(src.replace("buffer_depth_flits: 4", f"buffer_depth_flits: {text}"), encoding="utf-8")
    with pytest.raises(ArchError) as caught:
        load_arch(str(path))
    assert "noc.buffer_depth_flits" in caught.value.line() and fix in caught.value.line()
