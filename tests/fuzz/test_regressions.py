"""Each failure class of issue 18 as a named regression: one line on stderr and exit 2
(or a clean success where the input is legal), never a traceback, a hang or a huge allocation.

A representative few go through a subprocess (the real entry point, pipes and signals); the
rest call ``qsnnsim.cli.main`` in-process so CI stays fast.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from fuzz import mutate
from fuzz.runner import REPO, TINY_ARCH, TINY_MLP, run_cli
from qsnnsim.arch import arch_from_dict
from qsnnsim.errors import ArchError

_TINY_MLP_BYTES = open(TINY_MLP, "rb").read()
_ARCH_TEXT = open(TINY_ARCH, encoding="utf-8").read()


def _cli(*argv, timeout=120, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "qsnnsim", *argv], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env, **kwargs)


def _one_line(outcome, *needles):
    assert outcome.returncode == 2, outcome
    assert outcome.failure == "", outcome.failure
    line = outcome.stderr.strip()
    assert "\n" not in line and line.startswith("qsnnsim: error: "), line
    for needle in needles:
        assert needle in line, line
    return line


def _meta_of(data: bytes) -> dict:
    return json.loads(np.load(io.BytesIO(data))["meta"].tobytes())


def _npy(arr) -> bytes:
    out = io.BytesIO()
    np.save(out, arr, allow_pickle=False)
    return out.getvalue()


def _npy_header(shape) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return out.getvalue()


def _workload(tmp_path, meta=None, replace=None, method=zipfile.ZIP_DEFLATED, meta_text=None) -> str:
    members = dict(mutate.read_members(_TINY_MLP_BYTES))
    if meta is not None or meta_text is not None:
        text = meta_text if meta_text is not None else json.dumps(meta).encode("utf-8", "surrogatepass")
        members["meta.npy"] = _npy(np.frombuffer(text, np.uint8))
    members.update(replace or {})
    path = tmp_path / "w.npz"
    path.write_bytes(mutate.write_members(list(members.items()), method))
    return str(path)


def _arch(tmp_path, text: str) -> str:
    path = tmp_path / "a.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return str(path)


# --------------------------------------------------------------------------- small files that eat time or memory


def test_billion_laughs_yaml_is_refused_at_once(tmp_path):
    # 1 KB that expands to 9^9 items: was 85 s and 5.5 GB, then a MemoryError traceback.
    text = _ARCH_TEXT.replace("version: 1", "version: *g", 1)
    anchors = "".join(f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]\n"
                      for p, c in zip("abcdefg", "bcdefgh"))
    path = _arch(tmp_path, "a: &a [x, x, x, x, x, x, x, x, x]\n" + anchors.replace("&h", "&g2") + text)
    out = _cli("map", path, TINY_MLP, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "aliases" in out.stderr


def test_bzip2_bomb_workload_is_refused_before_decompressing(tmp_path):
    # 6 KB of bzip2 declaring ~64 MB of samples: was 2.2 GB for inspect. The member cannot
    # hold more than 1032 times its compressed size, whatever the method.
    meta = _meta_of(_TINY_MLP_BYTES)
    n = 1 << 20
    meta["samples"]["shape"] = [n, 4, 64]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in mutate.read_members(_TINY_MLP_BYTES):
            if name == "meta.npy":
                blob = _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))
            if name == "samples.npy":
                # 32 MiB of zeros behind a valid header: bzip2 makes it a few KB.
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_BZIP2
                zf.writestr(info, _npy_header((n * 32,)) + bytes(n * 32))
                continue
            zf.writestr(name, blob)
    path = tmp_path / "bomb.npz"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 100_000
    line = _one_line(run_cli(["inspect", str(path)]), "samples")
    assert "more than the entry's" in line


def test_200000_populations_are_refused_by_count(tmp_path):
    # Was over 10 minutes (quadratic name checks).
    meta = _meta_of(_TINY_MLP_BYTES)
    extra = {"name": "p", "kind": "input", "shape": [1]}
    meta["populations"] += [{**extra, "name": f"p{i}"} for i in range(200_000)]
    _one_line(run_cli(["inspect", _workload(tmp_path, meta)]), "meta.populations", "at most 4,096")


def test_many_lif_populations_sharing_arrays_load_linearly(tmp_path):
    # 12,000 were over 30 s (each shared entry re-read, names checked pairwise). 2,000 in a
    # chain, all naming the same threshold, bias, mult and shift entries, load and validate.
    meta = _meta_of(_TINY_MLP_BYTES)
    pops, projs = meta["populations"], meta["projections"]
    hidden = next(p for p in pops if p["name"] == "hidden2")
    fc2 = next(p for p in projs if p["name"] == "fc2")
    chain = [dict(hidden, name=f"h{i}") for i in range(2000)]
    ident = {k: v for k, v in fc2.items() if k not in ("weights", "weights_shape", "weights_packed")}
    members = dict(mutate.read_members(_TINY_MLP_BYTES))
    members["ones.npy"] = _npy(np.ones(16, np.int16))
    links = [dict(ident, name=f"id{i}", kind="identity", source="hidden2" if i == 0 else f"h{i - 1}",
                  target=f"h{i}", weight_bits=2, weights="ones", weights_shape=[16], weights_packed=False,
                  kernel=[1, 1], stride=[1, 1], padding=[0, 0]) for i in range(2000)]
    readout = next(i for i, p in enumerate(pops) if p["kind"] == "readout")
    meta["populations"] = pops[:readout] + chain + pops[readout:]
    fc3 = next(p for p in projs if p["name"] == "fc3")
    fc3["source"] = "h1999"
    meta["projections"] = [p for p in projs if p["name"] != "fc3"] + links + [fc3]
    members["meta.npy"] = _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    path = tmp_path / "chain.npz"
    path.write_bytes(mutate.write_members(list(members.items())))
    outcome = run_cli(["inspect", str(path)])
    assert outcome.returncode == 0, outcome


def test_fifo_as_arch_does_not_block(tmp_path):
    fifo = tmp_path / "arch.yaml"
    os.mkfifo(fifo)
    out = _cli("map", str(fifo), TINY_MLP, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "not a regular file" in out.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_as_arch_is_refused():
    _one_line(run_cli(["map", "/dev/zero", TINY_MLP]), "not a regular file")


def test_large_provenance_is_refused(tmp_path):
    # A 50 MB provenance was accepted and printed as 1.9 M lines; 100 KB is over the limit
    # (and 50 MB of meta is over the meta limit).
    meta = _meta_of(_TINY_MLP_BYTES)
    meta["provenance"] = {"notes": ["x" * 100] * 1000}
    _one_line(run_cli(["inspect", _workload(tmp_path, meta)]), "meta.provenance", "at most 65,536")
    meta["provenance"] = {"notes": "x" * (50 << 20)}
    _one_line(run_cli(["inspect", _workload(tmp_path, meta)]), "meta", "at most 16,777,216")


def test_oversized_arch_file_is_refused(tmp_path):
    _one_line(run_cli(["map", _arch(tmp_path, _ARCH_TEXT + "#" * (2 << 20)), TINY_MLP]), "more than the 1,048,576 bytes")


# --------------------------------------------------------------------------- tracebacks that became one line


def test_damaged_npy_header_with_valid_crc_is_one_line(tmp_path):
    # Was tokenize.TokenError: the header text is damaged but the member's CRC is right.
    members = dict(mutate.read_members(_TINY_MLP_BYTES))
    blob = members["samples.npy"]
    end = blob.index(b"\n")
    members["samples.npy"] = blob[:10] + b"{'descr': '|u1', 'shape': ((" + b" " * (end - 39) + blob[end:]
    path = tmp_path / "w.npz"
    path.write_bytes(mutate.write_members(list(members.items())))
    _one_line(run_cli(["inspect", str(path)]), "samples", "header")


@pytest.mark.parametrize("method", mutate.METHODS, ids=["stored", "deflate", "bzip2", "lzma"])
def test_valid_crc_member_corruption_is_one_line_for_every_method(tmp_path, method):
    members = dict(mutate.read_members(_TINY_MLP_BYTES))
    members["proj0.weights.npy"] = members["proj0.weights.npy"][:-7]
    path = tmp_path / "w.npz"
    path.write_bytes(mutate.write_members(list(members.items()), method))
    _one_line(run_cli(["inspect", str(path)]), "proj0.weights")


def test_huge_integer_in_meta_json_is_one_line(tmp_path):
    text = json.dumps(_meta_of(_TINY_MLP_BYTES)).replace('"timesteps": 4', '"timesteps": 4' + "0" * 5000)
    _one_line(run_cli(["inspect", _workload(tmp_path, meta_text=text.encode())]), "meta", "5,001 digits")


def test_huge_integer_in_yaml_is_one_line(tmp_path):
    path = _arch(tmp_path, _ARCH_TEXT.replace("version: 1", "version: 1" + "0" * 5000, 1))
    _one_line(run_cli(["map", path, TINY_MLP]), "digits")


def test_yaml_complex_key_is_one_line(tmp_path):
    _one_line(run_cli(["map", _arch(tmp_path, "? [a, b]\n: 1\n" + _ARCH_TEXT), TINY_MLP]), "complex key")


def test_yaml_deep_nesting_is_one_line(tmp_path):
    path = _arch(tmp_path, _ARCH_TEXT + "deep: " + "[" * 50_000 + "]" * 50_000 + "\n")
    _one_line(run_cli(["map", path, TINY_MLP]), "nesting deeper than 32")


def test_integer_too_big_for_a_float_field_is_one_line():
    import yaml

    data = yaml.safe_load(_ARCH_TEXT)
    data["chip"]["clock_mhz"] = 10**400
    with pytest.raises(ArchError, match=r"chip\.clock_mhz: is too large for a number"):
        arch_from_dict(data, "a.yaml")


@pytest.mark.parametrize("text", ['"\\ud800x"', '"\\u001b[31mred"', '"a\\u0000b"'], ids=["surrogate", "escape", "nul"])
def test_hostile_population_name_is_one_line(tmp_path, text):
    meta_text = json.dumps(_meta_of(_TINY_MLP_BYTES)).replace('"hidden1"', text).encode()
    line = _one_line(run_cli(["inspect", _workload(tmp_path, meta_text=meta_text)]), "name")
    assert "\x1b" not in line


def test_hostile_arch_name_is_one_line(tmp_path):
    path = _arch(tmp_path, _ARCH_TEXT.replace("name: tiny", 'name: "\\e[2Jboom"', 1))
    line = _one_line(run_cli(["map", path, TINY_MLP]), "name", "U+001B")
    assert "\x1b" not in line


@pytest.mark.parametrize("value, needle", [("1.0e+308", "must be <= 1e+06"), (10**30, "<= 1e+06")])
def test_energy_value_beyond_the_bound_is_one_line(tmp_path, value, needle):
    text = _ARCH_TEXT.replace("value: 2.5", f"value: {value}", 1)
    _one_line(run_cli(["map", _arch(tmp_path, text), TINY_MLP]), "energy.", needle)


# --------------------------------------------------------------------------- result files


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    subprocess.run([sys.executable, "-m", "qsnnsim", "run", TINY_ARCH, TINY_MLP, "--out", str(out), "--no-report"],
                   check=True, capture_output=True, timeout=600, cwd=REPO)
    return out


def test_huge_integer_in_result_json_is_one_line(run_dir, tmp_path):
    text = (run_dir / "result.json").read_text().replace('"version": ', '"version": ' + "9" * 5000, 1)
    path = tmp_path / "r.json"
    path.write_text(text)
    _one_line(run_cli(["report", str(path), "--out", str(tmp_path / "rep")]), "digits")


def test_surrogate_name_in_result_json_is_one_line(run_dir, tmp_path):
    text = (run_dir / "result.json").read_text().replace('"hidden1"', '"\\ud800"')
    path = tmp_path / "r.json"
    path.write_text(text)
    _one_line(run_cli(["report", str(path), "--out", str(tmp_path / "rep")]), "surrogate")


def test_deeply_nested_result_json_is_one_line(run_dir, tmp_path):
    text = (run_dir / "result.json").read_text().replace('"format":', '"x": ' + "[" * 100_000 + "]" * 100_000
                                                         + ', "format":', 1)
    path = tmp_path / "r.json"
    path.write_text(text)
    _one_line(run_cli(["report", str(path), "--out", str(tmp_path / "rep")]), "nested")


@pytest.mark.slow
def test_all_zero_energy_table_runs_and_reports_from_the_run_folder(tmp_path):
    # All dynamic energies 0 broke the layer figure (an empty stacked matrix); `qsnnsim
    # report DIR` given a run folder was IsADirectoryError (exit 1).
    import re

    text = re.sub(r"value: [0-9.]+", "value: 0", _ARCH_TEXT)
    arch = _arch(tmp_path, text)
    out = tmp_path / "run"
    assert run_cli(["run", arch, TINY_MLP, "--out", str(out), "--no-report"]).returncode == 0
    outcome = run_cli(["report", str(out), "--out", str(tmp_path / "rep")])
    assert outcome.returncode == 0, outcome
    assert (tmp_path / "rep" / "report.md").exists()


# --------------------------------------------------------------------------- the CLI's own output


def test_closed_stdout_is_a_quiet_exit():
    proc = subprocess.Popen([sys.executable, "-m", "qsnnsim", "inspect", "workloads/resnet19.npz"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert err == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_on_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "qsnnsim", "inspect", "workloads/resnet19.npz"], cwd=REPO,
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "No space left on device" in out.stderr


@pytest.mark.slow
def test_run_without_jit(tmp_path):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = _cli("run", TINY_ARCH, TINY_MLP, "--out", str(tmp_path / "x"), "--no-report", timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    jit = _cli("run", TINY_ARCH, TINY_MLP, "--out", str(tmp_path / "x"), "--no-report", timeout=600)
    assert jit.returncode == 0, jit.stderr[-2000:]
    assert jit.stdout == out.stdout  # same outputs, cycles and energy, and the same run id
