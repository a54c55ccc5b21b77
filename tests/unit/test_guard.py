"""The guarded reader's public API: regular files with a cap, bounded YAML, bounded JSON."""

from __future__ import annotations

import os

import pytest

from qsnnsim import _guard
from qsnnsim.errors import ArchError, ResultError


def test_read_regular_returns_the_bytes_and_refuses_beyond_the_cap(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes(b"x" * 100)
    assert _guard.read_regular(str(path), max_bytes=100, error=ArchError, what="a file") == b"x" * 100
    with pytest.raises(ArchError, match="is 100 bytes, more than the 99 bytes a file may be"):
        _guard.read_regular(str(path), max_bytes=99, error=ArchError, what="a file")


def test_read_regular_refuses_folders_fifos_and_missing_files(tmp_path):
    with pytest.raises(ArchError, match="is a folder"):
        _guard.read_regular(str(tmp_path), max_bytes=10, error=ArchError, what="a file")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ArchError, match="not a regular file"):
        _guard.read_regular(str(tmp_path / "fifo"), max_bytes=10, error=ArchError, what="a file")
    with pytest.raises(ArchError, match="no such file"):
        _guard.read_regular(str(tmp_path / "absent"), max_bytes=10, error=ArchError, what="a file")


def _yaml(tmp_path, text):
    path = tmp_path / "a.yaml"
    path.write_text(text, encoding="utf-8")
    return _guard.load_yaml(str(path), max_bytes=1 << 20, error=ArchError, what="a file")


def test_load_yaml_keeps_safe_load_semantics(tmp_path):
    assert _yaml(tmp_path, "a: &x [1, 2]\nb: *x\nc: {<<: {d: 1}}\n") == {"a": [1, 2], "b": [1, 2], "c": {"d": 1}}
    with pytest.raises(ArchError, match="is not valid YAML"):
        _yaml(tmp_path, "a: !!python/object/apply:os.system ['true']\n")


@pytest.mark.parametrize("text, problem", [
    ("a: 1\na: 2\n", "appears twice"),
    ("? [a]\n: 1\n", "complex key"),
    ("a: " + "[" * 40 + "]" * 40 + "\n", "nesting deeper than 32"),
    ("a: " + "9" * 41 + "\n", "41 digits"),
    ("".join(f"k{i}: &a{i} 1\n" for i in range(65)) + "l: [" + ", ".join(f"*a{i}" for i in range(65)) + "]\n",
     "more than 64 aliases"),
    # 201 values x 30 x 20 = 120,000 once expanded, from 50 aliases
    ("a: &a [" + ", ".join(["x"] * 200) + "]\nb: &b [" + ", ".join(["*a"] * 30) + "]\nc: [" + ", ".join(["*b"] * 20)
     + "]\n", "more than 100,000 values"),
], ids=["duplicate", "complex_key", "deep", "digits", "aliases", "expanded"])
def test_load_yaml_refuses_with_one_line(tmp_path, text, problem):
    with pytest.raises(ArchError, match=problem) as info:
        _yaml(tmp_path, text)
    assert "\n" not in info.value.line()


def test_loads_json_limits():
    assert _guard.loads_json(b'{"a": [1, 2]}', file="r.json", error=ResultError) == {"a": [1, 2]}
    with pytest.raises(ResultError, match="an integer of 50 digits"):
        _guard.loads_json(b'{"a": ' + b"1" * 50 + b"}", file="r.json", error=ResultError)
    with pytest.raises(ResultError, match="nested deeper than 4 levels"):
        _guard.loads_json(b"[[[[[1]]]]]", file="r.json", error=ResultError, max_depth=4)
    with pytest.raises(ResultError, match="nested deeper than"):
        _guard.loads_json(b"[" * 200_000 + b"]" * 200_000, file="r.json", error=ResultError)
    with pytest.raises(ResultError, match="is not valid JSON"):
        _guard.loads_json(b"{nope", file="r.json", error=ResultError)
