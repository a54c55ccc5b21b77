"""Mutations of qsnnsim's input files, as an attacker would make them (issue 18).

Three families, each seeded so a case can be replayed from its seed alone:

- workloads: byte flips anywhere in the archive; valid-CRC corruption of one member (its
  bytes changed, the member re-written with a correct CRC, so zipfile's checks pass);
  structured mutations of the meta JSON; every member re-compressed with another method
  (stored, deflate, bzip2, lzma);
- architectures: byte flips, inserts and deletes in the YAML text; structured mutations of
  the parsed dict; hostile YAML constructs (aliases, deep nesting, complex keys, huge
  integers);
- result files: structured mutations of a result.json a run wrote, raw-text mutations
  (huge integers, deep nesting, truncation, flipped bytes).

``mutate_tree`` is the structured mutation shared by the three (and by the hypothesis
strategies in tests/fuzz/strategies.py).
"""

from __future__ import annotations

import copy
import io
import json
import random
import zipfile

import yaml

#: Values a structured mutation puts in place of a field.
HOSTILE_VALUES = (
    None, True, False, 0, -1, 1, 2**31, -(2**31) - 1, 2**63, 2**64 + 1, 10**50, 1e308, -1e308, 1e-308, 0.5,
    float("inf"), float("nan"), "", "x", "a" * 5000, "\x1b[31mred\x1b[0m", "\ud800", "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>", "a|b", "$x^2$", "name\nnext", [], [1, 2, 3], [[[]]], {}, {"a": 1},
    [0] * 1000,
)

METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _paths(tree, prefix=()):
    """Every (path, value) in a JSON-like tree (dicts and lists), the root included."""
    out = [(prefix, tree)]
    stack = [(prefix, tree)]
    while stack:
        path, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            out.append((path + (k,), v))
            if isinstance(v, (dict, list)) and len(out) < 20000:
                stack.append((path + (k,), v))
    return out


def _set(tree, path, value):
    node = tree
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def mutate_tree(tree, rng: random.Random, n_changes: int = 1):
    """A deep copy of ``tree`` with ``n_changes`` fields replaced, deleted, added or duplicated."""
    tree = copy.deepcopy(tree)
    for _ in range(n_changes):
        paths = [p for p in _paths(tree) if p[0]]
        if not paths:
            return tree
        path, value = rng.choice(paths)
        parent = tree
        for k in path[:-1]:
            parent = parent[k]
        op = rng.randrange(7)
        if op == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == 1 and isinstance(parent, dict):
            parent[rng.choice(["extra", "nmae", path[-1] + "_", "\ud800", "\x1b"])] = rng.choice(HOSTILE_VALUES)
        elif op == 2 and isinstance(value, (int, float)) and not isinstance(value, bool):
            _set(tree, path, rng.choice([value + 1, value - 1, -value, value * 1000, value * 10**30, 0]))
        elif op == 3 and isinstance(value, list) and value:
            _set(tree, path, value * rng.choice([0, 2, 50]) if rng.random() < 0.5 else value[:-1])
        elif op == 4 and isinstance(value, str):
            _set(tree, path, rng.choice([value * 100, value + "\x00", value[::-1], "\udcff" + value, ""]))
        else:
            _set(tree, path, copy.deepcopy(rng.choice(HOSTILE_VALUES)))
    return tree


def flip_bytes(data: bytes, rng: random.Random, n: int | None = None) -> bytes:
    """``data`` with 1 to 8 random bytes changed, inserted or deleted."""
    out = bytearray(data)
    for _ in range(n or rng.randint(1, 8)):
        if not out:
            break
        i = rng.randrange(len(out))
        op = rng.randrange(4)
        if op == 0:
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[i] = rng.randrange(256)
        elif op == 2:
            out.insert(i, rng.randrange(256))
        else:
            del out[i]
    if rng.random() < 0.1:
        out = out[: rng.randrange(len(out) + 1)]
    return bytes(out)


# --------------------------------------------------------------------------- workloads


def read_members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(name, zf.read(name)) for name in zf.namelist()]


def write_members(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, blob in members:
            zf.writestr(name, blob)
    return buf.getvalue()


def _npy_header_mutation(blob: bytes, rng: random.Random) -> bytes:
    """A .npy member whose header text is damaged (quotes, brackets, shape, dtype), length kept."""
    if not blob.startswith(b"\x93NUMPY"):
        return flip_bytes(blob, rng)
    end = blob.find(b"\n")
    if end < 0:
        return flip_bytes(blob, rng)
    head = bytearray(blob[:end])
    choices = [b"'", b'"', b"(", b")", b"{", b"}", b"[", b",", b":", b"9", b"-", b"\\", b"#", b" ", b"\x00", b"\xff"]
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(10, len(head))
        head[i] = rng.choice(choices)[0]
    return bytes(head) + blob[end:]


def mutate_meta_json(blob: bytes, rng: random.Random) -> bytes:
    """The meta member with its JSON structurally mutated (or its text given a huge integer)."""
    import numpy as np

    arr = np.load(io.BytesIO(blob), allow_pickle=False)
    meta = json.loads(arr.tobytes())
    if rng.random() < 0.15:
        text = json.dumps(meta).replace('"version": 1', '"version": 1' + "0" * rng.choice([20, 5000]), 1)
    elif rng.random() < 0.1:
        text = json.dumps(meta).replace('"provenance": {', '"provenance": {"big": ' + "[" * 5000 + "]" * 5000 + ", ", 1)
    else:
        text = json.dumps(mutate_tree(meta, rng, rng.randint(1, 3)))
    out = io.BytesIO()
    np.save(out, np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8), allow_pickle=False)
    return out.getvalue()


def mutate_workload(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One workload mutant of the archive ``data``: (kind of mutation, bytes)."""
    kind = rng.choice(["bytes", "member", "member", "header", "meta", "meta", "meta", "recompress"])
    if kind == "bytes":
        return kind, flip_bytes(data, rng)
    members = read_members(data)
    method = rng.choice(METHODS)
    i = rng.randrange(len(members))
    name, blob = members[i]
    if kind == "member":
        blob = flip_bytes(blob, rng)
    elif kind == "header":
        blob = _npy_header_mutation(blob, rng)
    elif kind == "meta":
        i = next(j for j, (n, _) in enumerate(members) if n == "meta.npy")
        name, blob = members[i]
        blob = mutate_meta_json(blob, rng)
    members[i] = (name, blob)
    return f"{kind}-{method}", write_members(members, method)


# --------------------------------------------------------------------------- architectures

_HOSTILE_YAML = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nversion: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
    "version: " + "[" * 10000 + "]" * 10000 + "\n",
    "? [a, b]\n: 1\n",
    "version: 1" + "0" * 5000 + "\n",
    "name: !!python/object/apply:os.system ['echo pwned']\n",
    "name: \"\\ud800\"\n",
    "name: \"\\e[31m\"\n",
)


def mutate_arch(text: str, rng: random.Random) -> tuple[str, bytes]:
    """One architecture mutant of the YAML ``text``: (kind of mutation, bytes)."""
    kind = rng.choice(["bytes", "tree", "tree", "tree", "hostile"])
    if kind == "bytes":
        return kind, flip_bytes(text.encode("utf-8"), rng)
    if kind == "hostile":
        extra = rng.choice(_HOSTILE_YAML)
        keep = "\n".join(line for line in text.splitlines() if not line.startswith(("version:", "name:")))
        return kind, (keep + "\n" + extra).encode("utf-8", "surrogatepass")
    tree = mutate_tree(yaml.safe_load(text), rng, rng.randint(1, 3))
    try:
        dumped = yaml.safe_dump(tree, allow_unicode=True)
    except (yaml.YAMLError, UnicodeError):
        dumped = json.dumps(tree)  # JSON is YAML
    return kind, dumped.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- result files


def mutate_result(text: str, rng: random.Random) -> tuple[str, bytes]:
    """One result.json mutant: (kind of mutation, bytes)."""
    kind = rng.choice(["tree", "tree", "tree", "tree", "bytes", "bigint", "deep", "cut"])
    if kind == "bytes":
        return kind, flip_bytes(text.encode("utf-8"), rng)
    if kind == "bigint":
        return kind, text.replace('"version": ', '"version": ' + "9" * 5000, 1).encode("utf-8")
    if kind == "deep":
        return kind, text.replace('"format":', '"deep": ' + "[" * 100000 + "]" * 100000 + ', "format":', 1).encode()
    if kind == "cut":
        return kind, text.encode("utf-8")[: rng.randrange(len(text))]
    tree = mutate_tree(json.loads(text), rng, rng.randint(1, 3))
    return kind, json.dumps(tree).encode("utf-8", "surrogatepass")
