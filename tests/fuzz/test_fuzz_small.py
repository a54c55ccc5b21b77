"""The CI-sized fuzz run: structured mutations by hypothesis, seeded byte-level mutants by seed.

Every mutant must either load (or run) or fail with one InputError line; never a traceback.
The large run is ``python -m tests.fuzz.large`` (docs/input-limits.md, section Fuzzing).
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz import mutate
from fuzz.runner import REPO, SHIPPED_ARCHS, TINY_ARCH, TINY_MLP, argv_for, run_cli
from qsnnsim.arch import arch_from_dict
from qsnnsim.errors import ArchError, InputError, ResultError, WorkloadError
from qsnnsim.workload import load_workload

_TINY_MLP_BYTES = open(TINY_MLP, "rb").read()
_META = json.loads(np.load(TINY_MLP)["meta"].tobytes())
_ARCH = yaml.safe_load(open(TINY_ARCH, encoding="utf-8"))


def _with_meta(meta_text: bytes) -> bytes:
    members = mutate.read_members(_TINY_MLP_BYTES)
    out = io.BytesIO()
    np.save(out, np.frombuffer(meta_text, np.uint8), allow_pickle=False)
    return mutate.write_members([(n, out.getvalue() if n == "meta.npy" else b) for n, b in members])


@settings(max_examples=60)
@given(st.randoms(use_true_random=False), st.integers(1, 3))
def test_meta_mutations_load_or_give_one_workload_error(tmp_path_factory, rnd, n_changes):
    meta = mutate.mutate_tree(_META, rnd, n_changes)
    path = tmp_path_factory.mktemp("meta") / "w.npz"
    path.write_bytes(_with_meta(json.dumps(meta).encode("utf-8", "surrogatepass")))
    try:
        load_workload(path)
    except WorkloadError as exc:
        assert "\n" not in exc.line()


@settings(max_examples=150)
@given(st.randoms(use_true_random=False), st.integers(1, 3))
def test_arch_dict_mutations_build_or_give_one_arch_error(rnd, n_changes):
    data = mutate.mutate_tree(_ARCH, rnd, n_changes)
    try:
        arch_from_dict(data, "fuzz.yaml")
    except ArchError as exc:
        assert "\n" not in exc.line()


@pytest.fixture(scope="module")
def result_text(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    subprocess.run([sys.executable, "-m", "qsnnsim", "run", TINY_ARCH, TINY_MLP, "--out", str(out), "--no-report"],
                   check=True, capture_output=True, timeout=600, cwd=REPO)
    return (out / "result.json").read_text(encoding="utf-8")


@settings(max_examples=int(os.environ.get("QSNNSIM_FUZZ_RESULTS", "40")))
@given(rnd=st.randoms(use_true_random=False))
def test_result_mutations_summarise_or_give_one_result_error(result_text, rnd):
    # summarise is every check `qsnnsim report` makes before it draws anything.
    from qsnnsim.report.render import summarise

    data = mutate.mutate_tree(json.loads(result_text), rnd, rnd.randint(1, 3))
    try:
        if not isinstance(data, dict) or data.get("format") != "qsnnsim-result":
            raise ResultError("r.json", "format", "not a result")
        summarise(data, "r.json")
    except InputError as exc:
        assert "\n" not in exc.line()


@pytest.mark.parametrize("seed", range(40))
def test_seeded_workload_mutants_through_inspect(tmp_path, seed):
    names = ("tiny_mlp", "tiny_conv", "tiny_dvs")
    data = open(os.path.join(REPO, "workloads", names[seed % 3] + ".npz"), "rb").read()
    kind, mutant = mutate.mutate_workload(data, random.Random(seed))
    path = tmp_path / "w.npz"
    path.write_bytes(mutant)
    outcome = run_cli(argv_for("workload", str(path), str(tmp_path / "out")))
    assert outcome.ok, (kind, outcome.failure)


@pytest.mark.parametrize("seed", range(40))
def test_seeded_arch_mutants_through_map(tmp_path, seed):
    name = SHIPPED_ARCHS[seed % len(SHIPPED_ARCHS)]
    text = open(os.path.join(REPO, "archs", name + ".yaml"), encoding="utf-8").read()
    kind, mutant = mutate.mutate_arch(text, random.Random(seed))
    path = tmp_path / "a.yaml"
    path.write_bytes(mutant)
    outcome = run_cli(argv_for("arch", str(path), str(tmp_path / "out")))
    assert outcome.ok, (kind, outcome.failure)


@pytest.mark.parametrize("method", mutate.METHODS, ids=["stored", "deflate", "bzip2", "lzma"])
def test_every_compression_method_loads_the_same_workload(tmp_path, method):
    path = tmp_path / "w.npz"
    path.write_bytes(mutate.write_members(mutate.read_members(_TINY_MLP_BYTES), method))
    got, want = load_workload(path), load_workload(TINY_MLP)
    assert [p.name for p in got.populations] == [p.name for p in want.populations]
    assert np.array_equal(got.samples, want.samples)
    for a, b in zip(got.projections, want.projections):
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.mult, b.mult)
