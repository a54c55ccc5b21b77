"""The `qsnnsim run` summary: 100 columns at most, rows for a few samples, distributions for many."""

from __future__ import annotations

import dataclasses

import pytest

from qsnnsim.report.summary import MAX_SAMPLE_ROWS, WIDTH, format_summary
from qsnnsim.run import SampleRecord, run_point


@pytest.fixture(scope="module")
def record():
    return run_point("archs/tiny.yaml", "workloads/tiny_mlp.npz", samples=2, check="all")


def test_a_few_samples_get_one_row_each(record):
    text = format_summary(record, "out/result.json", "out/report.html")
    lines = text.splitlines()
    assert lines[-2:] == ["result: out/result.json", "report: out/report.html"]
    assert any(line.split()[:2] == ["sample", "label"] for line in lines)
    assert "golden-model check: every sample bit-exact" in text
    assert "note: this workload is calibrated, not trained" in text
    assert all(len(line) <= WIDTH for line in lines)


def test_many_samples_get_distributions_not_rows(record):
    many = tuple(dataclasses.replace(record.samples[i % 2], sample=i) for i in range(MAX_SAMPLE_ROWS + 1))
    text = format_summary(dataclasses.replace(record, samples=many))
    assert "per sample (17 samples; one row each in tables/samples.csv):" in text
    assert "sample  label" not in text
    assert len(text.splitlines()) < 20 and all(len(line) <= WIDTH for line in text.splitlines())


def test_a_sample_that_differs_from_golden_is_named(record):
    bad = (record.samples[0], dataclasses.replace(record.samples[1], matches_golden=False))
    text = format_summary(dataclasses.replace(record, samples=bad, all_match=False))
    assert f"golden-model check: NOT bit-exact on sample(s) {record.samples[1].sample}" in text


def test_names_are_shown_escaped(record):
    hostile = dataclasses.replace(record, workload_name="bad\x1b[31mred\udcff")
    first = format_summary(hostile).splitlines()[0]
    assert first.startswith("bad\\x1b[31mred\\udcff on ") and "\x1b" not in first


def test_sample_records_are_plain():
    fields = {f.name for f in dataclasses.fields(SampleRecord)}
    assert {"latency_cycles", "energy_pj", "matches_golden"} <= fields
