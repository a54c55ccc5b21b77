"""The package layout stays honest: imports point downward in the flow (STYLE.md §1, §4)."""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "qsnnsim")


def modules():
    for folder, _dirs, files in os.walk(PKG):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def imports_of(path: str) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


MODULES = sorted(modules())


@pytest.mark.parametrize("rel,path", MODULES, ids=[m[0] for m in MODULES])
def test_imports_point_down_the_flow(rel, path):
    deps = {d for d in imports_of(path) if d.startswith("qsnnsim")}
    if rel.startswith("qsnnsim/kernels/"):
        assert all(d.startswith("qsnnsim.kernels") for d in deps), f"{rel} imports {deps}"
    if rel.startswith("qsnnsim/engine/"):
        assert not any(d.startswith(("qsnnsim.energy", "qsnnsim.report")) for d in deps), f"{rel} imports {deps}"
    if rel == "qsnnsim/golden.py" or rel.startswith("qsnnsim/reference"):
        assert not any(d.startswith(("qsnnsim.engine", "qsnnsim.kernels")) for d in deps), f"{rel} imports {deps}"
    if not rel.startswith("qsnnsim/train/") and rel != "qsnnsim/cli.py":
        assert not any(d.startswith("qsnnsim.train") for d in deps), f"{rel} imports the optional trainer"
        assert "torch" not in imports_of(path)


@pytest.mark.parametrize("rel,path", MODULES, ids=[m[0] for m in MODULES])
def test_numba_options_live_in_one_place(rel, path):
    if rel == "qsnnsim/kernels/_jit.py":
        return
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert "njit" not in text and "numba.jit" not in text, f"{rel} compiles with numba directly; use kernels._jit.jit"


@pytest.mark.parametrize("rel,path", MODULES, ids=[m[0] for m in MODULES])
def test_no_module_over_800_lines(rel, path):
    with open(path, encoding="utf-8") as fh:
        assert sum(1 for _ in fh) <= 800, f"{rel} is over 800 lines: split it"
