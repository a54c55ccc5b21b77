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
    "trainer", "dataset", "split", "arch", "T", "membrane_bits", "weight_bits", "ws_dr", "lambda", "epochs",
    "seed", "accuracy_float", "accuracy_quantized", "n_test",
}


def test_module_help_works():
    out = subprocess.run([sys.executable, "-m", "qsnnsim.train", "--help"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: qsnnsim train")
    for option in ("--arch", "--membrane-bits", "--no-ws-dr", "--lambda", "--float", "--seed", "--output"):
        assert option in out.stdout


def test_tiny_run_writes_a_loadable_workload(tmp_path, capsys):
    path = tmp_path / "sub" / "tiny.npz"
    rc = main(["--arch", "mlp", "--width", "16", "-T", "2", "--membrane-bits", "2", "--epochs", "1",
               "--train-samples", "200", "--seed", "5", "-o", str(path)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "wrote" in captured.out and "test accuracy" in captured.out
    wl = load_workload(path)
    prov = wl.provenance
    assert PROVENANCE_KEYS <= set(prov)
    assert (prov["arch"], prov["T"], prov["membrane_bits"], prov["seed"], prov["epochs"]) == ("mlp", 2, 2, 5, 1)
    assert prov["n_test"] == wl.n_samples == 450
    assert prov["accuracy_quantized"] == prov["n_correct_quantized"] / 450
    digits = load_digits()
    assert np.array_equal(wl.samples, digits.x_test) and np.array_equal(wl.labels, digits.y_test)
    assert wl.timesteps == 2 and wl.input_kind == "analog"
    assert {p.membrane_bits for p in wl.populations if p.kind == "lif"} == {2}
    assert prov["command"].startswith("qsnnsim train ") and "--membrane-bits 2" in prov["command"]


def test_progress_goes_to_stderr(tmp_path, capsys):
    path = tmp_path / "p.npz"
    assert main(["--arch", "mlp", "--width", "8", "-T", "1", "--epochs", "2", "--train-samples", "64",
                 "-o", str(path)]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "[" in err


@pytest.mark.parametrize(
    "args, field",
    [
        (["--membrane-bits", "1"], "--membrane-bits"),
        (["--epochs", "three"], "--epochs"),
        (["--arch", "transformer"], "--arch"),
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
