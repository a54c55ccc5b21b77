"""The live oracle harness on a few networks, when the vendor venvs exist (slow; skipped otherwise).

``python -m tests.oracles.run`` creates the venvs; this test never does (an install takes
minutes and needs the network).
"""

import pytest

from tests.oracles import run, venvs


@pytest.mark.slow
@pytest.mark.parametrize("vendor", ["loihi", "xylo"])
def test_live_harness_on_a_few_networks(vendor):
    if not venvs.is_ready(run.VENV[vendor]):
        pytest.skip(f"no {run.VENV[vendor]} venv under {venvs.cache_dir()} (python -m tests.oracles.run makes it)")
    result = run.check_vendor(vendor, n_networks=4, steps=40, seed=7, jobs=1, record=False)
    assert result["steps"] == 160
    assert result["mismatched_steps"] == 0, result["first_mismatch"]


@pytest.mark.slow
def test_live_lava_reproduces_the_nir_cpu_trace():
    if not venvs.is_ready("lava"):
        pytest.skip(f"no lava venv under {venvs.cache_dir()}")
    result = run.live_silicon_network()
    assert result["lava_here_vs_lava_cpu_csv"]["matching"] == 1000
    assert result["lava_here_vs_qsnnsim"] == 0
