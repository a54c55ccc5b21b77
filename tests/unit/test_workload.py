"""Unit tests of qsnnsim/workload.py: the v1 .npz layout, the loader's refusals and the
builder's validation (DESIGN.md §3 and §9)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies.workloads import MALFORMED_CASE_NAMES, _write_npz, malformed_workload_files, reference_workload

from qsnnsim.errors import WorkloadError
from qsnnsim.workload import (
    MAX_PROJECTIONS_PER_TARGET,
    MULT_LIMIT,
    WorkloadBuilder,
    dense_synaptic_ops,
    load_workload,
    save_workload,
    workload_to_arrays,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL_SHIPPED = os.path.join(ROOT, "workloads", "tiny_mlp.npz")


@pytest.fixture(scope="module")
def malformed(tmp_path_factory):
    return {c.name: c for c in malformed_workload_files(tmp_path_factory.mktemp("malformed"))}




def test_malformed_case_list_is_complete(malformed):
    assert sorted(malformed) == sorted(MALFORMED_CASE_NAMES)


@pytest.mark.parametrize("name", MALFORMED_CASE_NAMES)
def test_loader_refuses_malformed_file(malformed, name):
    case = malformed[name]
    with pytest.raises(WorkloadError) as info:
        load_workload(case.path)
    err = info.value
    assert err.file == case.path
    assert err.field == case.field
    assert case.problem in err.problem
    line = err.line()
    assert "\n" not in line and line.startswith(case.path + ": ")
    assert case.problem in line
    if case.canary is not None:
        assert not os.path.exists(case.canary), "the loader unpickled an object"


def test_reference_workload_loads(malformed):
    # The malformed files are one change away from this one, which must load.
    wl = load_workload(os.path.join(os.path.dirname(malformed["truncated"].path), "good.npz"))
    assert [p.name for p in wl.populations] == ["in", "hidden", "out"]


# ------------------------------------------------------------ loader defects found by tests


def _reference_entries():
    arrays = workload_to_arrays(reference_workload())
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    return arrays, meta


def _expect_workload_error(path, field):
    with pytest.raises(WorkloadError) as info:
        load_workload(path)
    assert info.value.field == field
    assert "\n" not in info.value.line()


@pytest.mark.parametrize("shape", [[2, None, 1, 4, 4], [2, "2", 1, 4, 4], [[2], 2, 1, 4, 4], "22144"])
def test_non_integer_samples_shape_is_a_workload_error(tmp_path, shape):
    # Found by test_any_meta_mutation_loads_or_raises_workload_error: the loader multiplies
    # meta.samples.shape without checking it, and numpy raises TypeError/ValueError.
    arrays, meta = _reference_entries()
    meta["samples"]["shape"] = shape
    _expect_workload_error(_write_npz(str(tmp_path / "w.npz"), arrays, meta), "meta.samples.shape")


@pytest.mark.parametrize("value", [np.array("3"), np.array(2.5), np.array(1 + 2j)])
def test_zero_d_non_integer_shift_entry_is_refused(tmp_path, value):
    # A 0-d entry is broadcast with np.full(..., int64): a string raises ValueError, and a
    # float or complex is silently truncated to an integer shift.
    arrays, meta = _reference_entries()
    arrays["proj1.shift"] = value
    _expect_workload_error(_write_npz(str(tmp_path / "w.npz"), arrays, meta), "projections.fc.shift")


@pytest.mark.parametrize("class_names", [5, "abc", {"a": 1, "b": 2, "c": 3}])
def test_class_names_must_be_a_list_of_strings(tmp_path, class_names):
    # 5 raises TypeError; a string or an object is split into its characters or keys.
    arrays, meta = _reference_entries()
    meta["class_names"] = class_names
    _expect_workload_error(_write_npz(str(tmp_path / "w.npz"), arrays, meta), "class_names")


@pytest.mark.parametrize("version", [True, 1.0])
def test_version_must_be_the_integer_1(tmp_path, version):
    # JSON true and 1.0 compare equal to 1 in Python; strict checking refuses both.
    arrays, meta = _reference_entries()
    meta["version"] = version
    _expect_workload_error(_write_npz(str(tmp_path / "w.npz"), arrays, meta), "meta.version")


# ------------------------------------------- files the zip and .npy layers cannot read
# Each must be one WorkloadError naming the file (and the entry, where there is one), never
# an exception from zipfile, zlib or numpy and never a huge allocation.


def _expect_one_line(path, field, problem):
    with pytest.raises(WorkloadError) as info:
        load_workload(path)
    err = info.value
    assert err.file == str(path)
    assert err.field == field, err.line()
    assert problem in err.problem, err.line()
    assert "\n" not in err.line()
    return err


def _good_file(tmp_path) -> bytes:
    path = tmp_path / "good.npz"
    save_workload(reference_workload(), path)
    return path.read_bytes()


def _central_entry(data: bytes, member: str) -> int:
    """Offset of ``member``'s record in the zip central directory (signature PK\1\2)."""
    end = data.rfind(b"PK\x05\x06")
    pos = struct.unpack_from("<I", data, end + 16)[0]
    while data[pos:pos + 4] == b"PK\x01\x02":
        n_name, n_extra, n_comment = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46:pos + 46 + n_name].decode() == member:
            return pos
        pos += 46 + n_name + n_extra + n_comment
    raise KeyError(member)


def _patch(data: bytes, offset: int, fmt: str, change) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, change(struct.unpack_from(fmt, data, offset)[0]))
    return bytes(out)


def _local_data_start(data: bytes, member: str) -> int:
    local = struct.unpack_from("<I", data, _central_entry(data, member) + 42)[0]
    n_name, n_extra = struct.unpack_from("<HH", data, local + 26)
    return local + 30 + n_name + n_extra


# Central-directory fields (APPNOTE 4.3.12): 6 version needed, 8 flags, 10 method,
# 16 CRC-32, 20 compressed size, 42 local header offset.
@pytest.mark.parametrize(
    "offset, fmt, change, field, problem",
    [
        (6, "<H", lambda v: 120, "", "NotImplementedError: zip file version 12.0"),
        (8, "<H", lambda v: v | 0x41, "samples", "NotImplementedError: strong encryption"),
        (8, "<H", lambda v: v | 0x01, "samples", "RuntimeError: File 'samples.npy' is encrypted"),
        (10, "<H", lambda v: 99, "samples", "NotImplementedError: That compression method is not supported"),
        (16, "<I", lambda v: v ^ 1, "samples", "BadZipFile: Bad CRC-32"),
        (20, "<I", lambda v: v - 4, "samples", "truncated or corrupt array"),
        (42, "<I", lambda v: v + 1, "samples", "BadZipFile: Bad magic number for file header"),
    ],
    ids=["zip_version", "strong_encryption", "encrypted", "compression_method", "crc", "short_member", "offset"],
)
def test_corrupt_zip_directory_is_one_error(tmp_path, offset, fmt, change, field, problem):
    # The reviewer's reproductions flipped bytes of workloads/tiny_conv.npz's directory
    # (4774, 4963, 5089) and got NotImplementedError tracebacks; these make the same
    # changes, field by field, to the samples entry of a fresh file.
    data = _good_file(tmp_path)
    path = tmp_path / "bad.npz"
    path.write_bytes(_patch(data, _central_entry(data, "samples.npy") + offset, fmt, change))
    _expect_one_line(path, field, problem)


def test_corrupt_deflate_stream_is_one_error(tmp_path):
    # Garbage in the middle of an entry's compressed data: zlib.error or a bad CRC.
    data = bytearray(_good_file(tmp_path))
    start = _local_data_start(bytes(data), "proj1.weights.npy")
    data[start + 5:start + 25] = bytes(range(101, 121))
    path = tmp_path / "bad.npz"
    path.write_bytes(bytes(data))
    _expect_one_line(path, "proj1.weights", "truncated or corrupt array")


def test_any_flipped_directory_byte_loads_or_is_one_error(tmp_path):
    # Every byte of the central directory and end record, flipped: it still loads (a
    # timestamp, say) or is one WorkloadError, never another exception (zipfile checks
    # versions, flags, methods, sizes and offsets there).
    good = _good_file(tmp_path)
    directory = struct.unpack_from("<I", good, good.rfind(b"PK\x05\x06") + 16)[0]
    path = tmp_path / "flipped.npz"
    refused = 0
    for at in range(directory, len(good)):
        bad = bytearray(good)
        bad[at] ^= 0x55
        path.write_bytes(bytes(bad))
        try:
            load_workload(path)
        except WorkloadError as err:
            assert err.file == str(path) and "\n" not in err.line(), at
            refused += 1
    assert refused > (len(good) - directory) // 2


@given(st.data())
def test_any_flipped_byte_loads_or_is_one_error(tmp_path_factory, data):
    # The same anywhere in the file, at hypothesis-drawn offsets and masks.
    folder = tmp_path_factory.mktemp("flip")
    good = _good_file(folder)
    at = data.draw(st.integers(0, len(good) - 1), label="offset")
    bad = bytearray(good)
    bad[at] ^= data.draw(st.integers(1, 255), label="xor")
    path = folder / "flipped.npz"
    path.write_bytes(bytes(bad))
    try:
        load_workload(path)
    except WorkloadError as err:
        assert err.file == str(path) and "\n" not in err.line()


@pytest.fixture
def write_bytes(tmp_path):
    def write(n, data):
        path = str(tmp_path / f"cut{n}.npz")
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    return write


def _cuts(data: bytes):
    return range(0, len(data), 97)


def test_truncated_anywhere_is_one_error(write_bytes):
    # Every 97th cut of a small shipped workload, from nothing to one byte short.
    data = open(SMALL_SHIPPED, "rb").read()
    assert len(_cuts(data)) > 40
    for n in [*_cuts(data), len(data) - 1]:
        with pytest.raises(WorkloadError) as info:
            load_workload(write_bytes(n, data[:n]))
        assert info.value.field == "" and "not a readable .npz workload" in info.value.problem, n


def test_hole_anywhere_is_one_error(write_bytes):
    # 97 bytes cut out of the middle keep the end-of-archive record, so the damage is found
    # in the directory, a local header or an entry's data, wherever the hole falls.
    data = open(SMALL_SHIPPED, "rb").read()
    for n in _cuts(data):
        path = write_bytes(n, data[:n] + data[n + 97:])
        with pytest.raises(WorkloadError) as info:
            load_workload(path)
        assert info.value.file == path and "\n" not in info.value.line(), n


def _forged_npz(path, forged: dict, compressed: bool = True) -> str:
    """The reference workload's entries, with ``forged`` .npy headers: key -> (shape, descr or None).

    The forged entries keep their real data; only the header lies about its size.
    """
    arrays = workload_to_arrays(reference_workload())
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            if key in forged:
                shape, descr = forged[key]
                header = {"descr": descr or np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False,
                          "shape": shape}
                np.lib.format.write_array_header_1_0(buf, header)
                buf.write(arr.tobytes())
            else:
                np.lib.format.write_array(buf, arr)
            zf.writestr(key + ".npy", buf.getvalue())
    return str(path)


@pytest.mark.parametrize(
    "key, shape, descr, field, problem",
    [
        # meta knows the shape: refused before reading, with the usual message
        ("samples", (10**12,), None, "samples", "packed spike samples need 8 bytes for shape [2, 2, 1, 4, 4] "
                                                "(got (1000000000000,))"),
        ("labels", (10**12,), None, "labels", "must be 2 integers, one per sample (got (1000000000000,) int64)"),
        ("proj1.weights", (2**40, 2**40), None, "proj1.weights", "shape (1099511627776, 1099511627776) does not "
                                                                 "match weights_shape [3, 32]"),
        ("pop1.threshold", (10**12,), None, "populations.hidden.threshold", "does not match the 2 channels"),
        ("proj1.mult", (10**12,), None, "projections.fc.mult", "does not match the 3 channels"),
        # meta itself is bounded by its own size limit (docs/input-limits.md)
        ("meta", (10**12,), None, "meta", "is 1,000,000,000,000 bytes (at most 16,777,216)"),
        ("pop1.threshold", (2,), "|V1000000000", "pop1.threshold", "(2,000,000,000 bytes), more than the entry's"),
        ("meta", (-1, -1), None, "meta", "negative dimension"),
    ],
    ids=["samples", "labels", "weights_overflow", "threshold", "mult", "meta", "huge_dtype", "negative"],
)
def test_npy_header_claiming_a_huge_shape_is_refused_before_loading(tmp_path, key, shape, descr, field, problem):
    # numpy would allocate the claimed shape first (931 GiB for 10**12 int8): the loader
    # reads each header alone and checks it against meta and the member's size.
    _expect_one_line(_forged_npz(tmp_path / "huge.npz", {key: (shape, descr)}), field, problem)


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
def test_zip_directory_size_that_also_lies_is_bounded_by_the_compressed_size(tmp_path, compressed):
    # Header and directory agree on 3 GB, but a stored member is its compressed size and a
    # deflated one at most 1032 times it.
    # (meta has its own 16 MiB limit in load_workload, so the archive reader is asked directly.)
    from qsnnsim._npz import open_npz

    path = _forged_npz(tmp_path / "huge.npz", {"meta": ((3 * 10**9,), None)}, compressed)
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(_patch(data, _central_entry(data, "meta.npy") + 24, "<I", lambda v: 0xF0000000))
    with open_npz(str(path)) as entries, pytest.raises(WorkloadError, match=r"\(3,000,000,000 bytes\), more than the entry's"):
        entries.get("meta", "meta")


def test_memory_error_while_reading_is_one_error(tmp_path, monkeypatch):
    # The last resort: whatever runs out of memory becomes one line naming the entry.
    path = tmp_path / "w.npz"
    save_workload(reference_workload(), path)

    def no_memory(self, buf):
        raise MemoryError()

    monkeypatch.setattr("qsnnsim._npz._MemberStream.readinto_array", no_memory)
    _expect_one_line(path, "meta", "needs more memory than is free")


def test_folder_is_one_error(tmp_path):
    _expect_one_line(tmp_path, "", "is a folder, not a workload .npz")


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_device_is_one_error():
    _expect_one_line("/dev/null", "", "is not a regular file")


def test_missing_and_empty_files_are_one_error(tmp_path):
    _expect_one_line(tmp_path / "absent.npz", "", "no such file")
    (tmp_path / "empty.npz").write_bytes(b"")
    _expect_one_line(tmp_path / "empty.npz", "", "not a readable .npz workload")


def test_unreadable_file_is_one_error(tmp_path, monkeypatch):
    path = tmp_path / "locked.npz"
    save_workload(reference_workload(), path)
    path.chmod(0)
    if os.access(path, os.R_OK):
        # root reads any file: make open() refuse it as it would for anyone else
        def locked(file, *args, **kwargs):
            raise PermissionError(13, "Permission denied", os.fspath(file))

        monkeypatch.setattr("qsnnsim._guard.os.open", locked)
    _expect_one_line(path, "", "cannot be read (Permission denied)")


# ----------------------------------------------------------------------------- file layout


def test_one_bit_codes_pack_msb_first_with_one_meaning_plus_one():
    # codes +1 -1 -1 +1 +1 +1 -1 -1 | +1 -> bits 1001 1100 | 1000 0000 (zero padded)
    # -> bytes 0x9C, 0x80.
    b = WorkloadBuilder("pack", timesteps=1, input_kind="spikes")
    b.input("in", (9,))
    b.readout("out", (1,))
    b.linear("in", "out", [[+1, -1, -1, +1, +1, +1, -1, -1, +1]], weight_bits=1)
    b.set_samples(np.zeros((1, 1, 9), np.uint8))
    arrays = workload_to_arrays(b.build())
    assert arrays["proj0.weights"].dtype == np.uint8
    assert arrays["proj0.weights"].tolist() == [0x9C, 0x80]


def test_meta_keys_are_the_documented_ones():
    # docs/workload-format.md lists exactly these keys; a change here changes the docs.
    arrays = workload_to_arrays(reference_workload())
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    assert set(meta) == {"format", "version", "name", "timesteps", "input_kind", "input_population",
                         "populations", "projections", "samples", "labels", "class_names", "provenance"}
    assert set(meta["populations"][0]) == {"name", "kind", "shape"}
    assert set(meta["populations"][1]) == {"name", "kind", "shape", "membrane_bits", "decay_mult", "decay_shift",
                                           "rounding", "fire_cmp", "reset", "threshold", "bias"}
    assert set(meta["projections"][0]) == {"name", "kind", "source", "target", "weight_bits", "acc_bits", "kernel",
                                           "stride", "padding", "global_sum_pool", "mult", "shift", "weights",
                                           "weights_shape", "weights_packed"}
    assert set(meta["samples"]) == {"entry", "packed", "shape"}
    assert sorted(k for k in arrays if k != "meta") == [
        "labels", "pop1.bias", "pop1.threshold", "pop2.bias", "pop2.threshold", "proj0.mult", "proj0.shift",
        "proj0.weights", "proj1.mult", "proj1.shift", "proj1.weights", "samples"]
    assert arrays["meta"].dtype == np.uint8
    assert {arrays[k].dtype.name for k in arrays if k.endswith((".mult", ".shift", ".threshold", ".bias"))} == {"int32"}
    assert arrays["labels"].dtype == np.int64
    assert arrays["proj1.weights"].dtype == np.int8


def test_sumpool_projection_has_no_weight_entry():
    b = WorkloadBuilder("pool", timesteps=1)
    b.input("in", (1, 2, 2))
    b.readout("out", (1, 1, 1))
    b.sumpool2d("in", "out", kernel=2)
    b.set_samples(np.zeros((1, 1, 2, 2), np.int8))
    arrays = workload_to_arrays(b.build())
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    assert meta["projections"][0]["weights"] is None and "proj0.weights" not in arrays


def test_save_refuses_an_invalid_workload_and_writes_nothing(tmp_path):
    wl = dataclasses.replace(reference_workload(), timesteps=0)
    path = tmp_path / "bad.npz"
    with pytest.raises(WorkloadError, match=r"timesteps: must be an integer in 1\.\.4096"):
        save_workload(wl, path)
    assert list(tmp_path.iterdir()) == []


def test_save_leaves_no_temporary_file(tmp_path):
    save_workload(reference_workload(), tmp_path / "w.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_dense_synaptic_ops_by_kind():
    wl = reference_workload()
    pops = {p.name: p for p in wl.populations}
    conv, fc = wl.projections
    # conv: C_out * C_in * kH * kW * H_out * W_out = 2 * 1 * 3 * 3 * 4 * 4 = 288
    assert dense_synaptic_ops(conv, pops["in"], pops["hidden"]) == 288
    # linear: the weight matrix, 3 x 32 = 96
    assert dense_synaptic_ops(fc, pops["hidden"], pops["out"]) == 96


# ----------------------------------------------------------------------- builder validation


def _base(timesteps=1, input_kind="analog", in_shape=(1, 4, 4)):
    b = WorkloadBuilder("v", timesteps=timesteps, input_kind=input_kind)
    b.input("in", in_shape)
    return b


def _samples(b, shape=(1, 4, 4)):
    b.set_samples(np.zeros((1,) + shape, np.int8))


def test_projection_to_undeclared_population():
    b = _base()
    with pytest.raises(WorkloadError, match=r"<builder>: populations\.ghost: is not declared yet"):
        b.linear("in", "ghost", np.ones((2, 16), np.int8), weight_bits=2)


def test_unknown_population_in_a_workload_built_directly():
    wl = reference_workload()
    fc = dataclasses.replace(wl.projections[1], source="nowhere")
    bad = dataclasses.replace(wl, projections=(wl.projections[0], fc))
    with pytest.raises(WorkloadError, match=r"projections\.fc\.source: names unknown population 'nowhere'"):
        save_workload(bad, os.devnull)


def test_backward_edge_is_a_cycle_error():
    b = _base()
    b.lif("a", (2,))
    b.readout("out", (2,))
    b.linear("in", "a", np.ones((2, 16), np.int8), weight_bits=2)
    b.linear("a", "out", np.ones((2, 2), np.int8), weight_bits=2)
    b.lif("late", (2,))
    b.linear("late", "a", np.ones((2, 2), np.int8), weight_bits=2, name="back")
    b.linear("in", "late", np.ones((2, 16), np.int8), weight_bits=2)
    _samples(b)
    with pytest.raises(WorkloadError, match=r"projections\.back: goes from 'late' to 'a', which is not later"):
        b.build()


def test_self_loop_is_refused():
    b = _base()
    b.lif("a", (2,))
    b.linear("in", "a", np.ones((2, 16), np.int8), weight_bits=2)
    b.linear("a", "a", np.ones((2, 2), np.int8), weight_bits=2, name="loop")
    b.readout("out", (2,))
    b.linear("a", "out", np.ones((2, 2), np.int8), weight_bits=2)
    _samples(b)
    with pytest.raises(WorkloadError, match=r"projections\.loop: closes the cycle a -> a with no delay \("
                                            r"give one projection of the cycle a delay >= 1"):
        b.build()


def test_mismatched_conv_geometry():
    # 4x4 input, kernel 3, no padding -> 2x2, but the target says 4x4.
    b = _base()
    b.readout("out", (2, 4, 4))
    b.conv2d("in", "out", np.ones((2, 1, 3, 3), np.int8), weight_bits=2, name="conv")
    _samples(b)
    maps = r"projections\.conv: conv2d with kernel \(3, 3\).* maps \(4, 4\) to \(2, 2\)"
    with pytest.raises(WorkloadError, match=maps):
        b.build()


def test_conv_weights_must_match_channels():
    b = _base()
    b.readout("out", (2, 4, 4))
    b.conv2d("in", "out", np.ones((3, 1, 3, 3), np.int8), weight_bits=2, padding=1, name="conv")
    _samples(b)
    with pytest.raises(WorkloadError, match=r"projections\.conv\.weights: shape \(3, 1, 3, 3\) does not match"):
        b.build()


@pytest.mark.parametrize(
    "change, field, problem",
    [
        ({"membrane_bits": 17}, "populations.h.membrane_bits", "must be in 2..16"),
        ({"membrane_bits": 1}, "populations.h.membrane_bits", "must be in 2..16"),
        ({"decay_shift": 32}, "populations.h.decay_shift", "must be in 0..31"),
        ({"rounding": "nearest"}, "populations.h.rounding", "must be one of floor, toward_zero"),
        ({"fire_cmp": "lt"}, "populations.h.fire_cmp", "must be one of gt, ge"),
        ({"reset": "zero"}, "populations.h.reset", "must be one of hard, soft"),
        ({"threshold": [1, 2, 3]}, "populations.h.threshold", "does not match the 2 channels"),
        ({"threshold": [1 << 31, 0]}, "populations.h.threshold", "values must be in"),
    ],
)
def test_population_field_errors(change, field, problem):
    b = _base(in_shape=(4,))
    b.lif("h", (2,), **change)
    b.linear("in", "h", np.ones((2, 4), np.int8), weight_bits=2)
    b.readout("out", (2,))
    b.linear("h", "out", np.ones((2, 2), np.int8), weight_bits=2)
    b.set_samples(np.zeros((1, 4), np.int8))
    with pytest.raises(WorkloadError) as info:
        b.build()
    assert info.value.field == field and problem in info.value.problem


@pytest.mark.parametrize(
    "weights, kwargs, field, problem",
    [
        ([[2, 0, 0, 0]], {"weight_bits": 2}, "weights", "code out of range for 2-bit weights"),
        ([[-3, 0, 0, 0]], {"weight_bits": 2}, "weights", "code out of range for 2-bit weights"),
        ([[1, 0, 1, 1]], {"weight_bits": 1}, "weights", "1-bit codes must be -1 or +1"),
        ([[1, 1, 1, 1]], {"weight_bits": 17}, "weight_bits", "must be in 1..16"),
        ([[1, 1, 1, 1]], {"weight_bits": 2, "acc_bits": 1}, "acc_bits", "must be in 2..32"),
        ([[1, 1, 1, 1]], {"weight_bits": 2, "acc_bits": 33}, "acc_bits", "must be in 2..32"),
        ([[1, 1, 1, 1]], {"weight_bits": 2, "shift": 32}, "shift", "values must be in 0..31"),
        ([[1, 1, 1, 1]], {"weight_bits": 2, "shift": -1}, "shift", "values must be in 0..31"),
        ([[1, 1, 1, 1]], {"weight_bits": 2, "mult": MULT_LIMIT}, "mult", "values must be in"),
        ([[1, 1, 1, 1]], {"weight_bits": 2, "mult": -MULT_LIMIT}, "mult", "values must be in"),
        ([[1, 1, 1]], {"weight_bits": 2}, "weights", "linear weights must be (1, 4)"),
    ],
)
def test_projection_field_errors(weights, kwargs, field, problem):
    b = _base(in_shape=(4,))
    b.readout("out", (1,))
    b.linear("in", "out", np.array(weights, np.int16), name="fc", **kwargs)
    b.set_samples(np.zeros((1, 4), np.int8))
    with pytest.raises(WorkloadError) as info:
        b.build()
    assert info.value.field == "projections.fc." + field
    assert problem in info.value.line()


def test_largest_legal_values_are_accepted():
    b = _base(in_shape=(4,))
    b.readout("out", (1,))
    b.linear("in", "out", [[-(1 << 15), (1 << 15) - 1, 0, 0]], weight_bits=16, mult=MULT_LIMIT - 1, shift=31,
             acc_bits=32)
    b.set_samples(np.array([[-128, 127, 0, 0]], np.int8))
    wl = b.build()
    assert wl.projections[0].weights.tolist() == [[-(1 << 15), (1 << 15) - 1, 0, 0]]


def test_at_most_16_projections_into_one_population():
    b = _base(in_shape=(1,))
    b.readout("out", (1,))
    for i in range(MAX_PROJECTIONS_PER_TARGET + 1):
        b.linear("in", "out", [[1]], weight_bits=2, name=f"p{i}")
    b.set_samples(np.zeros((1, 1), np.int8))
    with pytest.raises(WorkloadError, match=r"populations\.out: has 17 incoming projections \(at most 16\)"):
        b.build()


@pytest.mark.parametrize("timesteps", [0, 4097])
def test_timesteps_limits(timesteps):
    b = _base(timesteps=timesteps, in_shape=(1,))
    b.readout("out", (1,))
    b.linear("in", "out", [[1]], weight_bits=2)
    b.set_samples(np.zeros((1, 1), np.int8))
    with pytest.raises(WorkloadError, match=r"timesteps: must be an integer in 1..4096"):
        b.build()


@pytest.mark.parametrize(
    "input_kind, samples, problem",
    [
        ("analog", np.array([[200]]), "analog samples must be int8"),
        ("analog", np.zeros((1, 2), np.int8), "does not match (N,) + input shape (1,)"),
        ("spikes", np.array([[[2], [0]]]), "spike samples must be 0/1"),
        ("spikes", np.zeros((1, 3, 1), np.uint8), "does not match (N, T=2) + input shape (1,)"),
        ("spikes", np.zeros((0, 2, 1), np.uint8), "holds no sample"),
    ],
)
def test_sample_errors(input_kind, samples, problem):
    b = _base(timesteps=2, input_kind=input_kind, in_shape=(1,))
    b.readout("out", (1,))
    b.linear("in", "out", [[1]], weight_bits=2)
    b.set_samples(samples)
    with pytest.raises(WorkloadError) as info:
        b.build()
    assert info.value.field == "samples" and problem in info.value.problem


def test_graph_shape_errors():
    b = _base(in_shape=(1,))
    b.lif("h", (1,))
    b.linear("in", "h", [[1]], weight_bits=2)
    b.set_samples(np.zeros((1, 1), np.int8))
    with pytest.raises(WorkloadError, match=r"populations: needs exactly one readout population \(found 0\)"):
        b.build()
    b.readout("out", (1,))
    with pytest.raises(WorkloadError, match=r"populations\.out: has no incoming projection"):
        b.build()
    b.linear("h", "out", [[1]], weight_bits=2)
    b.set_samples(np.zeros((1, 1), np.int8), labels=[0, 1])
    with pytest.raises(WorkloadError, match=r"labels: must be 1 integers, one per sample"):
        b.build()
    b.set_samples(np.zeros((1, 1), np.int8), class_names=["a", "b"])
    with pytest.raises(WorkloadError, match=r"class_names: has 2 names for 1 readout neurons"):
        b.build()
    b.set_samples(np.zeros((1, 1), np.int8))
    assert b.build().n_samples == 1


def test_identity_and_sumpool_shape_rules():
    b = _base()
    b.readout("out", (2, 4, 4))
    b.identity("in", "out", codes=[1, 1], name="skip")
    _samples(b)
    with pytest.raises(WorkloadError, match=r"projections\.skip: identity needs equal shapes"):
        b.build()
    b = _base()
    b.readout("out", (2, 2, 2))
    b.sumpool2d("in", "out", kernel=2, name="pool")
    _samples(b)
    with pytest.raises(WorkloadError, match=r"projections\.pool: sumpool2d keeps channels"):
        b.build()


def test_duplicate_names_are_refused():
    b = _base(in_shape=(1,))
    b.readout("out", (1,))
    b.linear("in", "out", [[1]], weight_bits=2, name="fc")
    b.linear("in", "out", [[1]], weight_bits=2, name="fc")
    b.set_samples(np.zeros((1, 1), np.int8))
    with pytest.raises(WorkloadError, match=r"projections\.fc: name used twice"):
        b.build()


def test_global_sum_pool_needs_a_chw_source():
    b = _base(in_shape=(3,))
    b.readout("out", (1,))
    b.linear("in", "out", [[1, 1, 1]], weight_bits=2, global_sum_pool=True, name="fc")
    b.set_samples(np.zeros((1, 3), np.int8))
    with pytest.raises(WorkloadError, match=r"projections\.fc\.global_sum_pool: only a linear projection"):
        b.build()


@pytest.mark.parametrize("note,problem", [("x\x1b[2J", "holds the non-printable character U+001B"),
                                          ("x\udcff", "holds a lone surrogate")])
def test_a_provenance_with_control_text_is_refused_at_load(tmp_path, note, problem):
    # Before: accepted by inspect and run, refused only when the report read the result back,
    # after the whole simulation (review of the hostile-input change).
    import json as _json

    arrays = dict(np.load(os.path.join(ROOT, "workloads", "tiny_mlp.npz")))
    meta = _json.loads(arrays["meta"].tobytes().decode("utf-8"))
    meta["provenance"] = {"note": note}
    arrays["meta"] = np.frombuffer(_json.dumps(meta).encode("utf-8", "surrogatepass"), np.uint8)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(WorkloadError, match=r"bad\.npz: meta\.provenance\.note: " + re.escape(problem)):
        load_workload(str(path))
