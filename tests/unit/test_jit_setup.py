"""numba's one-time set-up (qsnnsim/kernels/_jit.py ``load_numba_target``): done without
importing scipy.linalg, kernels still run, and a run without a report never imports matplotlib."""

from __future__ import annotations

import subprocess
import sys

_SNIPPET = """
import sys
import numpy as np
from qsnnsim.kernels._jit import load_numba_target
from qsnnsim.kernels import sram
load_numba_target()
load_numba_target()  # a second call is harmless
assert sram._ceil_div(7, 2) == 4
assert "scipy.linalg" not in sys.modules, "scipy.linalg imported"
assert "scipy.linalg.cython_blas" not in sys.modules, "a hidden module left in sys.modules"
import qsnnsim.report.render
assert "matplotlib" not in sys.modules, "matplotlib imported by the report module"
print("ok")
"""


def test_numba_set_up_without_scipy_linalg_and_no_matplotlib_at_import():
    out = subprocess.run([sys.executable, "-c", _SNIPPET], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
