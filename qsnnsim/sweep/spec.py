"""Sweep files: a sweep YAML -> a validated, frozen :class:`SweepSpec` and its expanded points.

A sweep file (docs/sweeps.md) names one base architecture, the workloads, the samples and
``vary:``, a map of dotted arch keys (``core.synapse_lanes``) or the mapping ``strategy`` to
lists of values. ``mode: grid`` (the default) takes every combination; ``mode: random``
takes ``points:`` distinct combinations of that grid, chosen by ``seed:``.

Everything is checked before any point runs, so a bad file writes nothing: unknown keys
(top level and dotted, each with the nearest valid key), empty or repeated value lists, and
every point's architecture, built with :func:`qsnnsim.arch.arch_from_dict` exactly as an
arch file is. Every problem is one :class:`SweepError` line naming the sweep file, the
field, the problem and the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import random
from dataclasses import dataclass

from qsnnsim._guard import MAX_SWEEP_BYTES, MAX_WORKLOAD_BYTES, check_name, escape_text, load_yaml, open_regular
from qsnnsim.arch import ArchSpec, arch_from_dict, load_arch
from qsnnsim.errors import ArchError, InputError, WorkloadError

FORMAT_NAME = "qsnnsim-sweep"
FORMAT_VERSION = 1
MODES = ("grid", "random")
CHECKS = ("all", "first", "none")  # qsnnsim.run.CHECKS
STRATEGIES = ("auto", "balanced", "proportional", "packed")  # qsnnsim.mapping.STRATEGIES
#: Varied keys that are run options, not arch keys.
OPTION_KEYS = ("strategy",)
#: Top-level keys of a sweep file, with whether each is required.
TOP_KEYS = {"format": True, "version": True, "name": False, "description": False, "arch": True,
            "workloads": True, "samples": False, "check": False, "strategy": False, "vary": True,
            "mode": False, "points": False, "seed": False}
#: At most this many points (arch variants x workloads) in one sweep (docs/sweeps.md).
MAX_POINTS = 100_000
#: At most this many workloads and this many values per varied key.
MAX_WORKLOADS = 256
MAX_VALUES = 4096


class SweepError(InputError):
    """A sweep file that cannot be loaded, or a point it describes that is not a valid arch."""


@dataclass(frozen=True)
class WorkloadRef:
    """One workload of a sweep: the path as given, the file used and its content hash."""

    given: str
    path: str
    sha256: str
    n_samples: int
    has_labels: bool


@dataclass(frozen=True)
class Variant:
    """One arch variant: its index in the grid, the varied values and the resolved arch dict."""

    grid_index: int
    values: tuple          # ((key, value), ...) in vary order
    arch: dict             # ArchSpec.to_dict() of the base arch with the values applied
    strategy: str


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file. Build it with :func:`load_sweep`."""

    file: str
    name: str
    description: str
    arch_path: str
    base_arch: dict
    workloads: tuple       # WorkloadRef, in file order
    samples: object        # int or "all"
    check: str
    strategy: str
    vary: tuple            # ((key, (value, ...)), ...) in file order
    mode: str
    n_points: int | None   # random mode: how many variants
    seed: int | None
    variants: tuple        # Variant, in grid order

    @property
    def varied_keys(self) -> tuple:
        return tuple(k for k, _ in self.vary)

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for _, v in self.vary)

    def sample_indices(self, ref: WorkloadRef) -> tuple:
        """The sample indices every point of ``ref`` runs."""
        n = ref.n_samples if self.samples == "all" else int(self.samples)
        return tuple(range(n))


# ---------------------------------------------------------------------- helpers


def _err(file: str, fld: str, problem: str, fix: str = "") -> SweepError:
    return SweepError(file, fld, problem, fix)


def _show(value) -> str:
    return escape_text(repr(value))[:80]


def arch_keys(arch: dict, prefix: str = "") -> list[str]:
    """Every dotted key of a resolved arch dict (mappings and leaves)."""
    keys = []
    for key, value in arch.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, dict):
            keys.extend(arch_keys(value, dotted + "."))
    return keys


def apply_overrides(arch: dict, values) -> dict:
    """A deep copy of ``arch`` with each ``(dotted key, value)`` of ``values`` set (option keys skipped)."""
    import copy

    out = copy.deepcopy(arch)
    for key, value in values:
        if key in OPTION_KEYS:
            continue
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return out


def hash_file(path: str, error: type[InputError] = WorkloadError) -> str:
    """sha256 of a regular file's bytes, read in bounded chunks through the input guard."""
    fd, _ = open_regular(path, max_bytes=MAX_WORKLOAD_BYTES, error=error, what="a workload .npz file")
    digest = hashlib.sha256()
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _plain_value(file: str, fld: str, value):
    """A varied value must be plain YAML data (scalars, lists, mappings of them)."""
    if isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _err(file, fld, f"{_show(value)} is not a finite number", "give finite values")
        return value
    if isinstance(value, list):
        return [_plain_value(file, fld, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain_value(file, fld, v) for k, v in value.items()}
    raise _err(file, fld, f"holds {_show(value)}, not a number, text, list or mapping", "give plain values")


# ---------------------------------------------------------------------- loading


def _check_top(file: str, data) -> None:
    if data is None:
        raise _err(file, "", "is empty", f"start with 'format: {FORMAT_NAME}' and 'version: {FORMAT_VERSION}'")
    if not isinstance(data, dict):
        raise _err(file, "", f"must be a YAML mapping at the top level (got {type(data).__name__})",
                   f"start the file with 'format: {FORMAT_NAME}' and 'version: {FORMAT_VERSION}'")
    for key in data:
        if not isinstance(key, str) or key not in TOP_KEYS:
            close = difflib.get_close_matches(str(key), list(TOP_KEYS), n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else "valid keys: " + ", ".join(TOP_KEYS)
            raise _err(file, escape_text(str(key))[:80], "unknown key at the top level", fix)
    for key, required in TOP_KEYS.items():
        if required and key not in data:
            raise _err(file, key, "is required but missing", f"add '{key}:' (docs/sweeps.md)")
    if data["format"] != FORMAT_NAME:
        raise _err(file, "format", f"is {_show(data['format'])}, not {FORMAT_NAME!r}",
                   "this is not a qsnnsim sweep file")
    version = data["version"]
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise _err(file, "version", f"{_show(version)} is not supported; this qsnnsim reads version {FORMAT_VERSION}",
                   f"write 'version: {FORMAT_VERSION}'")


def _choice(file: str, data: dict, key: str, choices: tuple, default: str) -> str:
    value = data.get(key, default)
    if value not in choices or not isinstance(value, str):
        raise _err(file, key, f"must be one of {', '.join(choices)} (got {_show(value)})", f"e.g. '{key}: {default}'")
    return value


def _int(file: str, data: dict, key: str, minimum: int, maximum: int, fix: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise _err(file, key, f"must be a whole number from {minimum} to {maximum:,} (got {_show(value)})", fix)
    return value


def _load_workloads(file: str, data: dict) -> tuple:
    from qsnnsim.examples import resolve
    from qsnnsim.workload import load_workload

    items = data["workloads"]
    if not isinstance(items, list) or not items:
        raise _err(file, "workloads", "must be a non-empty list of workload files",
                   "e.g. 'workloads: [workloads/tiny_mlp.npz]'")
    if len(items) > MAX_WORKLOADS:
        raise _err(file, "workloads", f"lists {len(items):,} files (at most {MAX_WORKLOADS})", "split the sweep")
    refs, seen = [], set()
    for k, given in enumerate(items):
        fld = f"workloads[{k}]"
        if not isinstance(given, str) or not given:
            raise _err(file, fld, f"must be a file path (got {_show(given)})", "e.g. workloads/tiny_mlp.npz")
        path = resolve(given, "workloads")[0]
        if os.path.abspath(path) in seen:
            raise _err(file, fld, f"{escape_text(given)} is listed twice", "list each workload once")
        seen.add(os.path.abspath(path))
        try:
            sha = hash_file(path)
            wl = load_workload(path)
        except InputError as exc:
            raise _err(file, fld, f"{exc.line()}", "fix the workload or its path") from None
        refs.append(WorkloadRef(given, os.path.abspath(path), sha, wl.n_samples, wl.labels is not None))
    return tuple(refs)


def _load_samples(file: str, data: dict, refs: tuple):
    samples = data.get("samples", 1)
    if samples == "all":
        return "all"
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise _err(file, "samples", f"must be a positive number or 'all' (got {_show(samples)})", "e.g. 'samples: 4'")
    for k, ref in enumerate(refs):
        if samples > ref.n_samples:
            raise _err(file, "samples", f"is {samples} but workloads[{k}] ({escape_text(ref.given)}) holds "
                       f"{ref.n_samples} sample(s)", f"use 'samples: {ref.n_samples}' or 'samples: all'")
    return samples


def _load_vary(file: str, data: dict, base: dict) -> tuple:
    vary = data["vary"]
    if not isinstance(vary, dict) or not vary:
        raise _err(file, "vary", "must map dotted arch keys to lists of values",
                   "e.g. 'vary: {core.synapse_lanes: [1, 2, 4]}'")
    valid = arch_keys(base) + list(OPTION_KEYS)
    fixed = ("format", "version")
    out = []
    for key, values in vary.items():
        fld = f"vary.{escape_text(str(key))[:80]}"
        if not isinstance(key, str) or key not in valid or key in fixed:
            close = difflib.get_close_matches(str(key), [v for v in valid if v not in fixed], n=1, cutoff=0.5)
            fix = f"did you mean '{close[0]}'?" if close else "give a dotted key of the arch, e.g. core.synapse_lanes"
            raise _err(file, fld, "is not a key of the arch or a run option", fix)
        if not isinstance(values, list):
            raise _err(file, fld, f"must be a list of values (got {_show(values)})", f"e.g. '{key}: [{_show(values)}]'")
        if not values:
            raise _err(file, fld, "is an empty list", "give at least one value")
        if len(values) > MAX_VALUES:
            raise _err(file, fld, f"lists {len(values):,} values (at most {MAX_VALUES})", "split the sweep")
        plain = [_plain_value(file, fld, v) for v in values]
        for i, v in enumerate(plain):
            if any(type(v) is type(w) and v == w for w in plain[:i]):
                raise _err(file, fld, f"lists {_show(v)} twice", "list each value once")
        if key == "strategy":
            for v in plain:
                if v not in STRATEGIES:
                    raise _err(file, fld, f"{_show(v)} is not a mapping strategy", "use " + ", ".join(STRATEGIES))
        out.append((key, tuple(plain)))
    keys = [k for k, _ in out]
    for a in keys:
        for b in keys:
            if a != b and b.startswith(a + "."):
                raise _err(file, f"vary.{b}", f"is inside vary.{a}, which is varied too", "vary one of the two")
    return tuple(out)


def grid_values(vary: tuple, index: int) -> tuple:
    """The ``index``-th combination of the grid (the last key varies fastest)."""
    values = []
    for key, options in reversed(vary):
        index, k = divmod(index, len(options))
        values.append((key, options[k]))
    return tuple(reversed(values))


def expand(vary: tuple, mode: str, n_points: int | None, seed: int | None) -> list[int]:
    """The grid indices a sweep runs: all of them, or ``n_points`` distinct ones chosen by ``seed`` (sorted)."""
    total = math.prod(len(v) for _, v in vary)
    if mode == "grid":
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), n_points))


def _build_variants(file: str, base: dict, vary: tuple, indices: list[int], strategy: str) -> tuple:
    variants = []
    for index in indices:
        values = grid_values(vary, index)
        arch = apply_overrides(base, values)
        shown = ", ".join(f"{k}={_show(v)}" for k, v in values if k not in OPTION_KEYS)
        try:
            spec = arch_from_dict(arch, file=f"{file} (point {shown})")
        except ArchError as exc:
            key = next((k for k, _ in values if exc.field == k or exc.field.startswith(k + ".")), None)
            fld = f"vary.{key}" if key else "vary"
            raise _err(file, fld, f"the point {shown} is not a valid arch: {exc.field}: {exc.problem}",
                       exc.fix or "change or remove that value") from None
        chosen = dict(values).get("strategy", strategy)
        variants.append(Variant(index, values, spec.to_dict(), chosen))
    return tuple(variants)


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """Read and check a sweep file, its arch and workloads, and every point's arch.

    Raises
    ------
    SweepError
        One line naming the file, the field, the problem and the fix; nothing has run.
    """
    from qsnnsim.examples import resolve

    file = os.fspath(path)
    data = load_yaml(file, max_bytes=MAX_SWEEP_BYTES, error=SweepError, what="a sweep .yaml file")
    _check_top(file, data)
    name = data.get("name", os.path.splitext(os.path.basename(file))[0] or "sweep")
    check_name(file, "name", name, SweepError, what="the sweep name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _err(file, "description", f"must be text (got {_show(description)})")
    arch_given = data["arch"]
    if not isinstance(arch_given, str) or not arch_given:
        raise _err(file, "arch", f"must be an architecture file path (got {_show(arch_given)})",
                   "e.g. 'arch: archs/core16.yaml'")
    arch_path = resolve(arch_given, "archs")[0]
    try:
        base_spec: ArchSpec = load_arch(arch_path)
    except ArchError as exc:
        raise _err(file, "arch", exc.line(), "fix the architecture file or its path") from None
    base = base_spec.to_dict()
    refs = _load_workloads(file, data)
    samples = _load_samples(file, data, refs)
    check = _choice(file, data, "check", CHECKS, "none")
    strategy = _choice(file, data, "strategy", STRATEGIES, "balanced")
    vary = _load_vary(file, data, base)
    mode = _choice(file, data, "mode", MODES, "grid")
    total = math.prod(len(v) for _, v in vary)
    n_points = seed = None
    if mode == "random":
        for key in ("points", "seed"):
            if key not in data:
                raise _err(file, key, "is required with 'mode: random'", f"add '{key}:' (e.g. '{key}: 20')")
        n_points = _int(file, data, "points", 1, total, f"choose at most the grid's {total:,} points")
        seed = _int(file, data, "seed", 0, 2**63 - 1, "e.g. 'seed: 1'")
    else:
        for key in ("points", "seed"):
            if key in data:
                raise _err(file, key, "is only read with 'mode: random'", "remove it or add 'mode: random'")
    indices = expand(vary, mode, n_points, seed)
    if len(indices) * len(refs) > MAX_POINTS:
        raise _err(file, "vary", f"describes {len(indices) * len(refs):,} points (at most {MAX_POINTS:,})",
                   "use 'mode: random' with 'points:', or split the sweep")
    variants = _build_variants(file, base, vary, indices, strategy)
    return SweepSpec(file=file, name=name, description=description, arch_path=os.path.abspath(arch_path),
                     base_arch=base, workloads=refs, samples=samples, check=check, strategy=strategy, vary=vary,
                     mode=mode, n_points=n_points, seed=seed, variants=variants)
