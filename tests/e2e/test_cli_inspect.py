"""`python -m qsnnsim inspect FILE` end to end, in a subprocess: the summary of a good
workload, and for every class of malformed file one line on stderr, exit status 2, no
traceback and nothing on stdout (DESIGN.md §9)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from strategies.workloads import MALFORMED_CASE_NAMES, MalformedCase, malformed_workload_files, reference_workload

from qsnnsim.workload import WorkloadBuilder, save_workload, workload_to_arrays

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL_SHIPPED = os.path.join(ROOT, "workloads", "tiny_mlp.npz")


def inspect(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qsnnsim", "inspect", str(path)], check=False,
                          capture_output=True, text=True, timeout=120)


def test_inspect_prints_neuron_and_weight_counts(tmp_path):
    path = tmp_path / "reference.npz"
    save_workload(reference_workload(), path)
    proc = inspect(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    # conv 2x1x3x3 = 18 one-bit codes; fc 3x32 = 96 two-bit codes; hidden 2x4x4 = 32 neurons.
    assert "weights:   18 1-bit weights and 96 2-bit weights" in out
    assert "neurons:   32 spiking neurons in 1 LIF populations" in out
    # dense SOPs: conv 2*1*9*16 = 288 plus fc 96 = 384.
    assert "dense synaptic operations per timestep: 384" in out
    assert "T = 2 timesteps, input spikes (1, 4, 4), 2 sample(s), labelled" in out
    assert "classes:   a, b, c" in out
    assert "  note: calibrated, untrained" in out


def test_inspect_groups_thousands(tmp_path):
    b = WorkloadBuilder("wide", timesteps=1, input_kind="analog")
    b.input("in", (1, 16, 16))
    b.lif("h", (4, 16, 16))
    b.conv2d("in", "h", np.ones((4, 1, 3, 3), np.int8), weight_bits=1, padding=1)
    b.readout("out", (10,))
    b.linear("h", "out", np.ones((10, 1024), np.int8), weight_bits=8)
    b.set_samples(np.zeros((1, 1, 16, 16), np.int8))
    path = tmp_path / "wide.npz"
    save_workload(b.build(), path)
    proc = inspect(path)
    assert proc.returncode == 0, proc.stderr
    assert "weights:   36 1-bit weights and 10,240 8-bit weights" in proc.stdout
    assert "neurons:   1,024 spiking neurons in 1 LIF populations" in proc.stdout
    # 4*1*9*256 = 9,216 conv plus 10,240 linear = 19,456.
    assert "dense synaptic operations per timestep: 19,456 (19.456 k;" in proc.stdout


@pytest.fixture(scope="module")
def malformed_runs(tmp_path_factory):
    """Every malformed case, inspected by concurrent subprocesses (startup dominates)."""
    return _inspect_all(malformed_workload_files(tmp_path_factory.mktemp("malformed")))


def _inspect_all(cases, command=("-m", "qsnnsim")) -> dict:
    procs = [(case, subprocess.Popen([sys.executable, *command, "inspect", case.path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
             for case in cases]
    runs = {}
    for case, proc in procs:
        out, err = proc.communicate(timeout=120)
        runs[case.name] = (case, proc.returncode, out, err)
    return runs


# Files the zip and .npy layers cannot read, which once ended in a traceback (exit 1).
TRUNCATION_POINTS = (1, 97, 1000, 2500, 4000, -22, -1)  # -22: inside the end-of-archive record
ZIP_DAMAGE_CASES = ("folder", "zip_version", "strong_encryption", "compression_method", "huge_samples_header",
                    "huge_meta_header") + tuple(f"truncated_at_{n}" for n in TRUNCATION_POINTS)


def _central_entry(data: bytes, member: str) -> int:
    """Offset of ``member``'s record in the zip central directory."""
    pos = struct.unpack_from("<I", data, data.rfind(b"PK\x05\x06") + 16)[0]
    while data[pos:pos + 4] == b"PK\x01\x02":
        n_name, n_extra, n_comment = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46:pos + 46 + n_name] == member.encode():
            return pos
        pos += 46 + n_name + n_extra + n_comment
    raise KeyError(member)


def _forged_header_npz(path: str, key: str, shape: tuple) -> None:
    """The reference workload with entry ``key``'s .npy header claiming ``shape`` (data unchanged)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in workload_to_arrays(reference_workload()).items():
            buf = io.BytesIO()
            if name == key:
                np.lib.format.write_array_header_1_0(
                    buf, {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False, "shape": shape})
                buf.write(arr.tobytes())
            else:
                np.lib.format.write_array(buf, arr)
            zf.writestr(name + ".npy", buf.getvalue())


def zip_damage_files(folder) -> list[MalformedCase]:
    folder = os.fspath(folder)
    good_path = os.path.join(folder, "good.npz")
    save_workload(reference_workload(), good_path)
    with open(good_path, "rb") as fh:
        good = fh.read()
    cases = [MalformedCase("folder", folder, "", "is a folder, not a workload .npz")]

    def write(name, data, field, problem):
        path = os.path.join(folder, name + ".npz")
        with open(path, "wb") as fh:
            fh.write(data)
        cases.append(MalformedCase(name, path, field, problem))

    def directory_field(offset, value):
        data = bytearray(good)
        struct.pack_into("<H", data, _central_entry(good, "samples.npy") + offset, value)
        return bytes(data)

    # version needed to extract, flags (bit 6: strong encryption), compression method
    write("zip_version", directory_field(6, 120), "", "zip file version 12.0")
    write("strong_encryption", directory_field(8, 0x41), "samples", "strong encryption")
    write("compression_method", directory_field(10, 99), "samples", "compression method is not supported")
    for name, key, field, problem in [("huge_samples_header", "samples", "samples", "packed spike samples need"),
                                      ("huge_meta_header", "meta", "meta",
                                       "is 1,000,000,000,000 bytes (at most 16,777,216)")]:
        path = os.path.join(folder, name + ".npz")
        _forged_header_npz(path, key, (10**12,))
        cases.append(MalformedCase(name, path, field, problem))
    with open(SMALL_SHIPPED, "rb") as fh:
        shipped = fh.read()
    for n in TRUNCATION_POINTS:
        write(f"truncated_at_{n}", shipped[:n], "", "not a readable .npz workload")
    return cases


@pytest.fixture(scope="module")
def zip_damage_runs(tmp_path_factory):
    return _inspect_all(zip_damage_files(tmp_path_factory.mktemp("damage")))


def test_every_malformed_case_is_run(malformed_runs, zip_damage_runs):
    assert sorted(malformed_runs) == sorted(MALFORMED_CASE_NAMES)
    assert sorted(zip_damage_runs) == sorted(ZIP_DAMAGE_CASES)


@pytest.mark.parametrize("name", MALFORMED_CASE_NAMES)
def test_inspect_malformed_file_one_line_exit_2(malformed_runs, name):
    assert_one_line_exit_2(*malformed_runs[name])


@pytest.mark.parametrize("name", ZIP_DAMAGE_CASES)
def test_inspect_damaged_zip_one_line_exit_2(zip_damage_runs, name):
    assert_one_line_exit_2(*zip_damage_runs[name])


# Run as root, chmod 000 does not stop open(): make the guarded reader's os.open refuse instead.
LOCKED_OPEN = ("import os, sys\n"
               "real_open = os.open\n"
               "def locked(file, *args, **kwargs):\n"
               "    if str(file).endswith('locked.npz'): raise PermissionError(13, 'Permission denied', file)\n"
               "    return real_open(file, *args, **kwargs)\n"
               "os.open = locked\n"
               "from qsnnsim.cli import main\n"
               "sys.exit(main(sys.argv[1:]))")


def test_inspect_unreadable_file_one_line_exit_2(tmp_path):
    path = tmp_path / "locked.npz"
    save_workload(reference_workload(), path)
    path.chmod(0)
    command = ("-c", LOCKED_OPEN) if os.access(path, os.R_OK) else ("-m", "qsnnsim")
    case = MalformedCase("unreadable", str(path), "", "cannot be read (Permission denied)")
    assert_one_line_exit_2(*_inspect_all([case], command)["unreadable"])


def assert_one_line_exit_2(case, returncode, out, err):
    assert returncode == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    field = f": {case.field}: " if case.field else ": "
    assert lines[0].startswith(f"qsnnsim: error: {case.path}{field}"), lines[0]
    assert case.problem in lines[0]


def test_inspect_non_integer_samples_shape_no_traceback(tmp_path):
    # A meta.samples.shape holding null: the loader must refuse it like any other bad field
    # (found by tests/property/test_workload_roundtrip.py; today numpy raises TypeError).
    import json

    from strategies.workloads import _write_npz

    from qsnnsim.workload import workload_to_arrays

    arrays = workload_to_arrays(reference_workload())
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    meta["samples"]["shape"] = [2, None, 1, 4, 4]
    path = _write_npz(str(tmp_path / "w.npz"), arrays, meta)
    proc = inspect(path)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith(f"qsnnsim: error: {path}: meta.samples.shape: ")
