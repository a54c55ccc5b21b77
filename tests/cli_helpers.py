"""Running ``python -m qsnnsim`` as a user does, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_qsnnsim(*args, cwd=ROOT, timeout=900) -> subprocess.CompletedProcess:
    """The CLI with ``args`` in ``cwd``; its exit status, stdout and stderr, never raising on a failure."""
    return subprocess.run([sys.executable, "-m", "qsnnsim", *args], check=False, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
