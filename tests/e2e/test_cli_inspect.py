"""`python -m qsnnsim inspect FILE` end to end, in a subprocess: the summary of a good
workload, and for every class of malformed file one line on stderr, exit status 2, no
traceback and nothing on stdout (DESIGN.md §9)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from strategies.workloads import MALFORMED_CASE_NAMES, malformed_workload_files, reference_workload

from qsnnsim.workload import WorkloadBuilder, save_workload


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
    cases = malformed_workload_files(tmp_path_factory.mktemp("malformed"))
    procs = [(case, subprocess.Popen([sys.executable, "-m", "qsnnsim", "inspect", case.path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
             for case in cases]
    runs = {}
    for case, proc in procs:
        out, err = proc.communicate(timeout=120)
        runs[case.name] = (case, proc.returncode, out, err)
    return runs




def test_every_malformed_case_is_run(malformed_runs):
    assert sorted(malformed_runs) == sorted(MALFORMED_CASE_NAMES)


@pytest.mark.parametrize("name", MALFORMED_CASE_NAMES)
def test_inspect_malformed_file_one_line_exit_2(malformed_runs, name):
    case, returncode, out, err = malformed_runs[name]
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
