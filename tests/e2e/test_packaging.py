"""The wheel holds every module of the package and the shipped examples (issue: the user's run)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(out), ROOT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (path,) = [p for p in os.listdir(out) if p.endswith(".whl")]
    with zipfile.ZipFile(out / path) as zf:
        return path, set(zf.namelist())


def test_every_module_is_in_the_wheel(wheel):
    _name, names = wheel
    modules = set()
    for folder, dirs, files in os.walk(os.path.join(ROOT, "qsnnsim")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        modules.update(os.path.relpath(os.path.join(folder, f), ROOT).replace(os.sep, "/")
                       for f in files if f.endswith(".py"))
    assert "qsnnsim/engine/simulate.py" in modules
    assert sorted(modules - names) == []


def test_the_examples_ship_with_the_wheel(wheel):
    _name, names = wheel
    for folder, ext in (("archs", ".yaml"), ("workloads", ".npz")):
        shipped = {f for f in os.listdir(os.path.join(ROOT, folder)) if f.endswith(ext)}
        assert {f"qsnnsim/_examples/{folder}/{f}" for f in shipped} <= names
    assert not [n for n in names if n.startswith("qsnnsim/_examples/") and n.endswith(".py")]


def test_the_wheel_has_one_version(wheel):
    from qsnnsim import __version__

    name, names = wheel
    assert name.startswith(f"qsnnsim-{__version__}-")
    proc = subprocess.run([sys.executable, "-m", "qsnnsim", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == f"qsnnsim {__version__}"
