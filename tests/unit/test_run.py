"""run_point: the one composition of the stages, its typed record and the record's JSON round trip."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from qsnnsim import run_point
from qsnnsim.errors import InputError
from qsnnsim.report.files import dumps_result
from qsnnsim.run import RunRecord, record_fields

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_ARCH = os.path.join(ROOT, "archs", "tiny.yaml")
TINY_MLP = os.path.join(ROOT, "workloads", "tiny_mlp.npz")


@pytest.fixture(scope="module")
def record():
    return run_point(TINY_ARCH, TINY_MLP, samples=3, check="all")


def test_a_record_holds_plain_numbers(record):
    assert record.n_samples == 3 and len(record.samples) == 3
    for name in record_fields():
        value = getattr(record, name)
        assert value is None or type(value) in (int, float, str, bool, dict), (name, type(value))
    assert all(type(v) is float for v in record.energy_components_pj.values())
    assert record.all_match is True and record.n_checked == 3 and record.check == "all"
    assert record.accuracy == record.n_correct / 3
    assert record.is_calibrated  # tiny_mlp is calibrated, not trained


def test_the_record_agrees_with_its_samples(record):
    mean_cycles = sum(s.latency_cycles for s in record.samples) / 3
    assert record.latency_cycles_mean == mean_cycles
    assert record.energy_per_inference_pj == pytest.approx(sum(s.energy_pj for s in record.samples) / 3, rel=1e-12)
    assert sum(record.energy_components_pj.values()) == pytest.approx(record.energy_per_inference_pj, rel=1e-12)


def test_to_json_round_trips(record):
    text = record.to_json()
    again = RunRecord.from_json(text)
    assert again == record
    assert again.to_json() == text
    assert json.loads(text) == record.result


def test_the_written_file_is_the_record(record, tmp_path):
    paths = record.save(str(tmp_path / "run"), report=False)
    assert [os.path.basename(p) for p in paths] == ["result.json"]
    assert RunRecord.load(str(tmp_path / "run")) == record            # a run folder
    assert RunRecord.load(paths[0]) == record                          # or its result.json


def test_check_first_checks_one_sample_and_says_so():
    rec = run_point(TINY_ARCH, TINY_MLP, samples=2, check="first")
    assert [s.matches_golden for s in rec.samples] == [True, None]
    assert rec.n_checked == 1 and rec.all_match is True and rec.check == "first"
    assert rec.result["samples"][1]["golden"] is None


def test_trace_keeps_every_sample_s_fires_and_trains():
    plain = run_point(TINY_ARCH, TINY_MLP, samples=2)
    traced = run_point(TINY_ARCH, TINY_MLP, samples=2, trace=True)
    assert "trace" in plain.result["samples"][0] and "trace" not in plain.result["samples"][1]
    assert all("trace" in s for s in traced.result["samples"])
    # The same simulation: tracing changes what is kept, never a number.
    assert traced.samples == plain.samples and traced.result["counters"] == plain.result["counters"]


@pytest.mark.parametrize("samples,match", [(0, "must be a positive number"), (99, "holds 8 sample"),
                                           ("some", "must be a positive number or 'all'"),
                                           ([70], "has no sample 70"), (2.5, "must be a count"),
                                           ([0, 0], "lists a sample twice"), (["0"], "must be a count")])
def test_bad_sample_choices_are_input_errors(samples, match):
    with pytest.raises(InputError, match=match):
        run_point(TINY_ARCH, TINY_MLP, samples=samples)


def test_a_bad_strategy_is_an_input_error():
    with pytest.raises(InputError, match="strategy: must be one of"):
        run_point(TINY_ARCH, TINY_MLP, strategy="x")


def test_a_bad_check_is_an_input_error():
    with pytest.raises(InputError, match="--check: must be one of all, first, none"):
        run_point(TINY_ARCH, TINY_MLP, check="some")


def test_the_result_text_has_one_line_per_sample(record):
    text = dumps_result(record.result)
    sample_lines = [line for line in text.splitlines() if line.lstrip().startswith('{"sample":')]
    assert len(sample_lines) == 3


def test_the_readme_python_example_runs_as_written(tmp_path):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no ```python example"
    proc = subprocess.run([sys.executable, "-c", blocks[0]], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=600, env={**os.environ, "QSNNSIM_README_TEST": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "energy per inference" in proc.stdout
    for block in blocks[1:]:  # every other example runs as written too
        proc = subprocess.run([sys.executable, "-c", block], cwd=str(tmp_path), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
