"""Strict loading of specs: the one path from a plain dict (parsed YAML) to a frozen dataclass.

Every spec dataclass declares its fields as ``field(metadata=spec(...))``: :func:`spec` puts
the bounds, the unit and a one-line description in the field's metadata, next to the field.
:func:`build_spec` then checks a dict against the dataclass:

- unknown keys are errors, with the nearest valid key suggested (difflib);
- a missing key without a default is an error;
- scalars are type-checked strictly: a bool is not an int, a string is never coerced, a float
  field accepts an int (YAML writes ``400`` for 400.0) but not NaN or infinity;
- integers beyond 64 bits and text with control characters or lone surrogates are refused
  (docs/input-limits.md);
- ranges come from the metadata; lists of ints are checked item by item and for duplicates;
- nested dataclasses are built recursively, and every message carries the dotted field path
  (``core.weight_sram.banks``).

Errors are raised as the caller's :class:`~qsnnsim.errors.InputError` subclass, so an arch
file gives an ``ArchError`` whose one line names the file, the field, the problem and the fix.
:func:`spec_to_dict` is the inverse (tuples become lists), used for round trips.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any

from qsnnsim._guard import text_problem
from qsnnsim.errors import InputError

#: Magnitude bound of every integer field (a 64-bit register), before its own range.
INT64_LIMIT = 1 << 63
#: Characters in one free-text field (descriptions, energy sources).
MAX_TEXT_CHARS = 4096



def nearest(word: str, choices) -> str | None:
    """The choice closest to a misspelt ``word`` (difflib, ratio >= 0.6), or None: the one rule
    every "did you mean" in qsnnsim uses (keys, flags)."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None

def spec(
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    unit: str = "",
    choices: tuple | None = None,
    item_minimum: int | None = None,
    item_maximum: int | None = None,
    item_choices: tuple | None = None,
    doc: str = "",
) -> dict:
    """Validation rules of one spec field, for ``dataclasses.field(metadata=spec(...))``.

    Parameters
    ----------
    minimum, maximum : float, optional
        Inclusive bounds of a scalar (``exclusive_minimum`` makes the lower bound strict).
    unit : str
        Unit shown in messages and docs ("MHz", "bits", "cycles").
    choices : tuple, optional
        The allowed values of a scalar.
    item_minimum, item_maximum : int, optional
        Inclusive bounds of every item of a ``tuple[int, ...]`` field.
    item_choices : tuple, optional
        The allowed names of every item of a ``tuple[str, ...]`` field.
    doc : str
        One line on what the field means.

    Returns
    -------
    dict
        The field metadata :func:`build_spec` reads. A field without a default is required.
    """
    return {
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
        "unit": unit,
        "choices": choices,
        "item_minimum": item_minimum,
        "item_maximum": item_maximum,
        "item_choices": item_choices,
        "doc": doc,
    }


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (an empty value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _unit(meta: dict) -> str:
    return f" {meta['unit']}" if meta.get("unit") else ""


def _fmt_num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _check_range(value: float, meta: dict, error, file: str, path: str) -> None:
    lo, hi = meta.get("minimum"), meta.get("maximum")
    unit = _unit(meta)
    if lo is not None:
        if meta.get("exclusive_minimum") and not value > lo:
            raise error(
                file,
                path,
                f"must be > {_fmt_num(lo)}{unit} (got {_fmt_num(value)})",
                f"set a value above {_fmt_num(lo)}",
            )
        if not meta.get("exclusive_minimum") and value < lo:
            raise error(
                file,
                path,
                f"must be >= {_fmt_num(lo)}{unit} (got {_fmt_num(value)})",
                f"set a value of at least {_fmt_num(lo)}",
            )
    if hi is not None and value > hi:
        raise error(
            file,
            path,
            f"must be <= {_fmt_num(hi)}{unit} (got {_fmt_num(value)})",
            f"set a value of at most {_fmt_num(hi)}",
        )


def _number_fix(value: Any, default: str) -> str:
    """The fix for a value that should be a number: YAML reads ``1e30`` (no dot) as text, and a
    quoted number is text too."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return default
        mantissa, _, exponent = value.lower().partition("e")
        if exponent and ("." not in mantissa or exponent[0] not in "+-"):
            # YAML 1.1 (PyYAML) reads a float only with a dot and a signed exponent
            fixed = (mantissa if "." in mantissa else mantissa + ".0") + "e" + \
                (exponent if exponent[0] in "+-" else "+" + exponent)
            return f"YAML reads {value} as text: write {fixed}"
        return "write it without quotes"
    return default


def _check_int(value: Any, error, file: str, path: str) -> int:
    if isinstance(value, bool):
        raise error(
            file,
            path,
            f"must be an integer, not a boolean (got {_describe(value)})",
            "write a number",
        )
    if not isinstance(value, int):
        raise error(
            file,
            path,
            f"must be an integer (got {_describe(value)})",
            _number_fix(value, "write a whole number such as 4"),
        )
    if not -INT64_LIMIT <= value < INT64_LIMIT:
        raise error(
            file, path, f"is too large ({len(str(abs(value))):,} digits; at most a 64-bit integer)",
            "write a value within the field's range",
        )
    return value


def _convert(tp: Any, value: Any, meta: dict, error, file: str, path: str) -> Any:
    """Check one value against its annotated type and metadata; returns the typed value."""
    if dataclasses.is_dataclass(tp):
        return build_spec(tp, value, file=file, error=error, path=path)
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise error(
                file,
                path,
                f"must be a list (got {_describe(value)})",
                "write it as [a, b, ...]",
            )
        fixed = not (len(args) == 2 and args[1] is Ellipsis)
        if fixed and len(value) != len(args):
            raise error(
                file,
                path,
                f"must be a list of {len(args)} items (got {len(value)})",
                f"write exactly {len(args)} values",
            )
        if not fixed and not value:
            raise error(file, path, "must not be empty", "list at least one value")
        items = []
        for i, item in enumerate(value):
            item_path = f"{path}[{i}]"
            item_tp = args[i] if fixed else args[0]
            if item_tp is str:
                # A list of names from a fixed set (e.g. core.dialects).
                item_choices = meta.get("item_choices") or ()
                if not isinstance(item, str) or item not in item_choices:
                    near = nearest(item, item_choices) if isinstance(item, str) else None
                    raise error(file, item_path, f"must be one of {', '.join(item_choices)} (got {_describe(item)})",
                                f"did you mean {near!r}?" if near else "")
                items.append(item)
                continue
            if item_tp is not int:
                raise TypeError(f"spec tuples hold ints or names only ({path})")
            item = _check_int(item, error, file, item_path)
            _check_range(
                item,
                {
                    "minimum": meta.get("item_minimum"),
                    "maximum": meta.get("item_maximum"),
                },
                error,
                file,
                item_path,
            )
            items.append(item)
        if not fixed and len(set(items)) != len(items):
            dup = next(v for v in items if items.count(v) > 1)
            raise error(
                file, path, f"lists {dup} more than once", "list every value once"
            )
        return tuple(items)
    if tp is int:
        value = _check_int(value, error, file, path)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(
                file,
                path,
                f"must be a number (got {_describe(value)})",
                _number_fix(value, "write a plain number such as 2.5"),
            )
        try:
            value = float(value)
        except OverflowError:
            raise error(
                file, path, f"is too large for a number ({len(str(abs(value))):,} digits)",
                "write a value within the field's range",
            ) from None
        if not math.isfinite(value):
            raise error(file, path, f"must be a finite number (got {value})")
    elif tp is str:
        if not isinstance(value, str):
            raise error(
                file,
                path,
                f"must be a string (got {_describe(value)})",
                "quote the text" if isinstance(value, (int, float, bool)) or value is None else "write one name",
            )
        problem = text_problem(value.replace("\n", " ").replace("\t", " "), max_chars=MAX_TEXT_CHARS)
        if problem:
            raise error(file, path, problem, "use printable characters only (docs/input-limits.md)")
    elif tp is bool:
        if not isinstance(value, bool):
            raise error(file, path, f"must be true or false (got {_describe(value)})")
    else:
        raise TypeError(f"unsupported spec type {tp!r} at {path}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise error(
            file,
            path,
            f"must be one of {', '.join(map(str, choices))} (got {_describe(value)})",
        )
    if tp in (int, float):
        _check_range(value, meta, error, file, path)
    return value


def build_spec(
    cls: type, data: Any, *, file: str, error: type[InputError], path: str = ""
) -> Any:
    """Build the frozen dataclass ``cls`` from ``data``, checking every key and value.

    Parameters
    ----------
    cls : type
        A dataclass whose fields carry :func:`spec` metadata.
    data : Any
        The parsed YAML (must be a dict).
    file : str
        File name used in error messages.
    error : type of InputError
        The error class to raise (e.g. ``ArchError``).
    path : str
        Dotted path of ``data`` inside the file ("" at the top).

    Returns
    -------
    An instance of ``cls``.

    Raises
    ------
    InputError
        (as ``error``) for an unknown or missing key, a wrong type or an out-of-range value.
    """
    where = path or "the top level"
    if not isinstance(data, dict):
        raise error(
            file,
            path,
            f"must be a mapping of keys to values (got {_describe(data)})",
            f"write {where} as 'key: value' lines",
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if not isinstance(key, str):
            raise error(
                file,
                _join(path, str(key)),
                f"key {key!r} is not a name",
                "keys are lower_case names",
            )
        if key not in fields:
            close = nearest(key, fields)
            if close:
                fix = f"did you mean '{close}'?"
            else:
                fix = "valid keys here: " + ", ".join(fields)
            raise error(file, _join(path, key), f"unknown key in {where}", fix)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, fld in fields.items():
        fpath = _join(path, name)
        if name not in data:
            if (
                fld.default is dataclasses.MISSING
                and fld.default_factory is dataclasses.MISSING
            ):
                raise error(
                    file, fpath, "is required but missing", f"add '{name}:' to {where}"
                )
            continue
        values[name] = _convert(
            hints[name], data[name], dict(fld.metadata), error, file, fpath
        )
    return cls(**values)


def spec_to_dict(obj: Any) -> Any:
    """The plain-dict form of a spec (nested dicts, tuples as lists), in field order."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: spec_to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
        }
    if isinstance(obj, tuple):
        return [spec_to_dict(v) for v in obj]
    return obj


def describe_fields(cls: type, path: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default or "required", doc) for every leaf field, for docs and tests."""
    rows = []
    hints = typing.get_type_hints(cls)
    for fld in dataclasses.fields(cls):
        fpath = _join(path, fld.name)
        tp = hints[fld.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe_fields(tp, fpath))
            continue
        if fld.default is not dataclasses.MISSING:
            default = repr(fld.default)
        elif fld.default_factory is not dataclasses.MISSING:
            default = repr(fld.default_factory())
        else:
            default = "required"
        rows.append(
            (
                fpath,
                getattr(tp, "__name__", str(tp)),
                default,
                fld.metadata.get("doc", ""),
            )
        )
    return rows
