"""`qsnnsim train` / `python -m qsnnsim.train`: help, a tiny real run, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from qsnnsim.train.cli import main
from qsnnsim.train.data import load_digits
from qsnnsim.workload import load_workload

pytestmark = pytest.mark.torch

PROVENANCE_KEYS = {
    "trainer", "dataset", "split", "network", "T", "membrane_bits", "weight_bits", "ws_dr", "lambda", "epochs",
    "seed", "accuracy_float", "accuracy_quantized", "n_test",
}


def test_module_help_works():
    out = subprocess.run([sys.executable, "-m", "qsnnsim.train", "--help"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: qsnnsim train")
    for option in ("--network", "--arch", "--membrane-bits", "--binary-first-last", "--input-encoding",
                   "--input-levels", "--no-ws-dr", "--lambda", "--float", "--seed", "--output"):
        assert option in out.stdout


def test_tiny_run_writes_a_loadable_workload(tmp_path, capsys):
    path = tmp_path / "sub" / "tiny.npz"
    rc = main(["--network", "mlp", "--width", "16", "-T", "2", "--membrane-bits", "2", "--epochs", "1",
               "--train-samples", "200", "--seed", "5", "-o", str(path)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "wrote" in captured.out and "test accuracy" in captured.out
    wl = load_workload(path)
    prov = wl.provenance
    assert PROVENANCE_KEYS <= set(prov)
    assert (prov["network"], prov["T"], prov["membrane_bits"], prov["seed"], prov["epochs"]) == ("mlp", 2, 2, 5, 1)
    assert prov["n_test"] == wl.n_samples == 450
    assert prov["accuracy_quantized"] == prov["n_correct_quantized"] / 450
    digits = load_digits()
    assert np.array_equal(wl.samples, digits.x_test) and np.array_equal(wl.labels, digits.y_test)
    assert wl.timesteps == 2 and wl.input_kind == "analog"
    assert {p.membrane_bits for p in wl.populations if p.kind == "lif"} == {2}
    assert prov["command"].startswith("qsnnsim train ") and "--membrane-bits 2" in prov["command"]


def test_deprecated_arch_option_still_works_with_a_one_line_warning(tmp_path, capsys):
    path = tmp_path / "old.npz"
    rc = main(["--arch", "mlp", "--width", "8", "-T", "1", "--epochs", "1", "--train-samples", "64", "-q",
               "-o", str(path)])
    err = capsys.readouterr().err
    assert rc == 0
    assert err == "qsnnsim train: warning: --arch is deprecated (the arch is the chip); use --network\n"
    prov = load_workload(path).provenance
    assert prov["network"] == "mlp" and "--network mlp" in prov["command"]


def test_deprecated_arch_conflicting_with_network_is_refused(tmp_path, capsys):
    assert main(["--arch", "mlp", "--network", "conv", "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("qsnnsim: error: qsnnsim train: --network: given as 'conv' and as --arch 'mlp'")


def test_binary_thermometer_run_writes_an_all_one_bit_spike_workload(tmp_path, capsys):
    path = tmp_path / "tn.npz"
    rc = main(["--network", "conv", "--width", "4", "-T", "2", "--epochs", "1", "--train-samples", "100",
               "--binary-first-last", "--input-encoding", "thermometer", "--input-levels", "3", "-q",
               "-o", str(path)])
    assert rc == 0, capsys.readouterr().err
    wl = load_workload(path)
    assert wl.input_kind == "spikes" and wl.samples.shape == (450, 2, 3, 8, 8)
    assert {p.weight_bits for p in wl.projections if p.kind in ("conv2d", "linear")} == {1}
    # Thresholds 22, 64, 106 of codes 0..127 (ceil((2k+1) * 127 / 6)); the frame repeats over T.
    codes = load_digits().x_test.astype(np.int64)
    want = np.stack([codes[:, 0] >= t for t in (22, 64, 106)], axis=1)
    assert np.array_equal(wl.samples[:, 0], want) and np.array_equal(wl.samples[:, 1], want)
    prov = wl.provenance
    assert prov["first_last_weight_bits"] == 1 and prov["input_encoding"] == "thermometer, 3 levels"
    assert "--binary-first-last" in prov["command"] and "--input-levels 3" in prov["command"]


def test_progress_goes_to_stderr(tmp_path, capsys):
    path = tmp_path / "p.npz"
    assert main(["--network", "mlp", "--width", "8", "-T", "1", "--epochs", "2", "--train-samples", "64",
                 "-o", str(path)]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "[" in err


@pytest.mark.parametrize(
    "args, field",
    [
        (["--membrane-bits", "1"], "--membrane-bits"),
        (["--epochs", "three"], "--epochs"),
        (["--network", "transformer"], "--network"),
        (["--input-encoding", "rate"], "--input-encoding"),
        (["--input-levels", "0"], "--input-levels"),
        (["--float", "--binary-first-last"], "--binary-first-last"),
        (["--dataset", "imagenet"], "--dataset"),
        (["--lr", "0"], "--lr"),
        (["--lambda", "-1"], "--lambda"),
        (["--timesteps", "0"], "--timesteps"),
        (["--bogus"], "unrecognized"),
    ],
)
def test_bad_option_gives_one_line_and_exit_2(tmp_path, capsys, args, field):
    path = tmp_path / "never.npz"
    rc = main(args + ["-o", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("qsnnsim: error: qsnnsim train: ")
    assert field in err
    assert not path.exists()


def test_bad_output_path_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    assert main(["-o", str(folder)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["-o", str(tmp_path / "model.pt")]) == 2
    assert "--output: must name a .npz file" in capsys.readouterr().err


def test_bad_option_through_the_module_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-m", "qsnnsim.train", "--membrane-bits", "99", "-o",
                          str(tmp_path / "x.npz")], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert out.stderr == "qsnnsim: error: qsnnsim train: --membrane-bits: must be in 2..16 (got 99)\n"
    assert out.stdout == ""
