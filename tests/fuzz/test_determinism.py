"""The same result.json, byte for byte, whatever the thread count and the hash seed.

Each run is a fresh process (numba's thread pool and Python's string hashing are fixed at
start-up), from the same working folder and into an --out folder of the same name, since
the result records the paths it was given. Nothing is blanked: the ``run_id`` is a hash of
the result itself (qsnnsim.run.content_id), so it is equal too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from fuzz.runner import REPO

CONFIGS = [("1", "0"), ("2", "0"), ("1", "4242"), ("2", "4242"), ("2", "random")]  # (NUMBA_NUM_THREADS,
# PYTHONHASHSEED)


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["tiny_mlp", "tiny_conv", "tiny_dvs"])
def test_result_json_is_identical_across_threads_and_hash_seeds(tmp_path, workload):
    blobs = {}
    for threads, seed in CONFIGS:
        out = tmp_path / "out"
        shutil.rmtree(out, ignore_errors=True)
        env = dict(os.environ, NUMBA_NUM_THREADS=threads, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-m", "qsnnsim", "run", "archs/tiny.yaml", f"workloads/{workload}.npz",
                        "--out", str(out), "--no-report"], cwd=REPO, env=env, check=True, capture_output=True,
                       timeout=600)
        blobs[(threads, seed)] = (out / "result.json").read_bytes()
    first = blobs[CONFIGS[0]]
    for config, blob in blobs.items():
        assert blob == first, f"{workload}: result.json differs for NUMBA_NUM_THREADS, PYTHONHASHSEED = {config}"
