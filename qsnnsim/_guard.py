"""Bounded, safe reading of user files: the one guard every input passes through.

Workloads (.npz), architectures (.yaml), result files (.json) and, later, sweep files and
NIR graphs are all opened here. The guard owns the limits of docs/input-limits.md:

- only regular files are read (a folder, device, FIFO or socket is refused without
  blocking: the file is opened with ``O_NONBLOCK`` and checked with ``fstat`` first);
- every kind of file has a size cap, checked before reading and again while reading;
- YAML is loaded with ``yaml.SafeLoader`` semantics (no tag ever runs code), a key given
  twice, a complex (non-scalar) key, an alias count or an alias-expanded size beyond the
  limits, nesting deeper than the limit and integers of more than ``MAX_INT_DIGITS`` digits
  are refused;
- JSON is parsed with the same integer, depth and size limits.

Every refusal is one :class:`~qsnnsim.errors.InputError` (of the caller's subclass) naming
the file, the field where known, the problem and the fix. :func:`escape_text` is the other
side: text from a file made safe to show in a terminal (no escape sequences, no lone
surrogates).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import unicodedata
from typing import Any

import yaml

from qsnnsim.errors import InputError

#: Size caps per kind of file (bytes), with the reason in docs/input-limits.md.
MAX_ARCH_BYTES = 1 << 20
MAX_SWEEP_BYTES = 1 << 20
MAX_NIR_BYTES = 1 << 30
MAX_RESULT_BYTES = 256 << 20
MAX_WORKLOAD_BYTES = 2 << 30

#: YAML: at most this many aliases (``*name``) in one file, and at most this many nodes
#: once every alias is expanded (a "billion laughs" file is refused before it is built).
MAX_YAML_ALIASES = 64
MAX_YAML_NODES = 100_000
#: Nesting depth of YAML or JSON (lists and mappings inside each other).
MAX_DEPTH = 32
#: Decimal digits of one integer in YAML or JSON (int64 needs 19; Python refuses 4,300).
MAX_INT_DIGITS = 40
#: Characters in a name (population, projection, arch, workload, class).
MAX_NAME_CHARS = 128

_CHUNK_BYTES = 1 << 20


# --------------------------------------------------------------------------- regular files


def open_regular(file: str, *, max_bytes: int, error: type[InputError], what: str, fix: str = "") -> tuple[int, int]:
    """Open ``file`` for reading if it is a regular file of at most ``max_bytes``.

    Returns ``(fd, size_bytes)``; the caller closes ``fd``. Opening never blocks (a FIFO is
    opened with ``O_NONBLOCK`` and refused by ``fstat``), and a device is never read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(file, flags)
    except FileNotFoundError:
        raise error(file, "", "no such file", fix or "check the path") from None
    except IsADirectoryError:
        raise error(file, "", f"is a folder, not {what}", fix or f"give {what}") from None
    except OSError as exc:
        raise error(file, "", f"cannot be read ({exc.strerror or exc})", "check the file's permissions") from None
    except (ValueError, UnicodeError) as exc:  # a NUL or a lone surrogate in the path
        raise error(repr(file), "", f"is not a usable path ({exc})", "give a plain file path") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(file, "", f"is a folder, not {what}", fix or f"give {what}")
        if not stat.S_ISREG(st.st_mode):
            raise error(file, "", f"is not a regular file (a device, pipe or socket), not {what}",
                        f"give {what} stored on disk")
        if st.st_size > max_bytes:
            raise error(file, "", f"is {st.st_size:,} bytes, more than the {max_bytes:,} bytes {what} may be "
                        "(docs/input-limits.md)", "give the right file, or split it")
    except BaseException:
        os.close(fd)
        raise
    return fd, int(st.st_size)


def read_regular(file: str, *, max_bytes: int, error: type[InputError], what: str, fix: str = "") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, read in bounded chunks.

    Parameters
    ----------
    file : str
        The path as the user gave it.
    max_bytes : int
        Size cap; a file that grows past it while being read is refused too.
    error : type of InputError
        The error class to raise (``ArchError``, ``ResultError``, ...).
    what : str
        What the file should be, for messages ("an architecture .yaml file").

    Raises
    ------
    InputError
        (as ``error``) for a missing, unreadable, non-regular or too large file.
    """
    fd, _ = open_regular(file, max_bytes=max_bytes, error=error, what=what, fix=fix)
    chunks = []
    total = 0
    try:
        while True:
            chunk = os.read(fd, _CHUNK_BYTES)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise error(file, "", f"holds more than the {max_bytes:,} bytes {what} may be (docs/input-limits.md)",
                            "give the right file, or split it")
            chunks.append(chunk)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise error(file, "", f"is a folder, not {what}", fix or f"give {what}") from None
        raise error(file, "", f"cannot be read ({exc.strerror or exc})", "check the file") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


# --------------------------------------------------------------------------- text


def text_problem(text: str, *, max_chars: int | None = MAX_NAME_CHARS) -> str:
    """Why ``text`` is not a safe name ("" if it is): too long, a control character, a lone surrogate."""
    if max_chars is not None and len(text) > max_chars:
        return f"is {len(text):,} characters long (at most {max_chars})"
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cs":
            return f"holds a lone surrogate {ch.encode('utf-8', 'backslashreplace').decode('ascii')}"
        if cat in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn"):
            return f"holds the non-printable character U+{ord(ch):04X}"
    return ""


def text_tree_problem(obj: Any, where: str) -> tuple[str, str] | None:
    """The first string (or key) under ``obj`` (dicts and lists, walked without recursion)
    holding a control character or a lone surrogate, as ``(field, problem)``; None if none.
    Tabs and newlines are allowed (free text such as provenance notes)."""
    stack = [(obj, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item.replace("\n", " ").replace("\t", " "), max_chars=None)
            if problem:
                return at, problem
        elif isinstance(item, dict):
            for k, v in item.items():
                stack.append((k, at))
                stack.append((v, f"{at}.{k}"))
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item))
    return None


def check_name(file: str, fld: str, value: Any, error: type[InputError], what: str = "name") -> str:
    """``value`` if it is a non-empty printable string of at most MAX_NAME_CHARS characters."""
    if not isinstance(value, str) or not value:
        raise error(file, fld, f"{what} must be a non-empty string (got {escape_text(repr(value))[:80]})")
    problem = text_problem(value)
    if problem:
        raise error(file, fld, f"{what} {problem}", "use printable characters only (docs/input-limits.md)")
    return value


def escape_text(text: Any) -> str:
    """``text`` safe for a terminal or a UTF-8 file: control and format characters, lone
    surrogates and other non-printables become backslash escapes (``\\x1b``, ``\\ud800``)."""
    text = str(text)
    if text.isprintable() and not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    out = []
    for ch in text:
        if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(ch)
        elif ch == " ":
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii") if ord(ch) > 0xFF or ord(ch) < 0x80
                       else f"\\x{ord(ch):02x}")
    return "".join(out)


def escape_lines(text: str) -> str:
    """:func:`escape_text` on every line of ``text`` (newlines are kept)."""
    return "\n".join(escape_text(line) for line in str(text).split("\n"))


# --------------------------------------------------------------------------- YAML


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader with bounded aliases, expanded size and depth; scalar keys only, each once.

    Tags are resolved exactly as ``yaml.safe_load`` resolves them (no Python objects).
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._n_aliases = 0
        self._depth = 0
        self._weight: dict[int, int] = {}

    def _refuse(self, problem: str, node_or_event) -> None:
        mark = getattr(node_or_event, "start_mark", None)
        raise yaml.constructor.ConstructorError(None, None, problem, mark)

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            self._n_aliases += 1
            if self._n_aliases > MAX_YAML_ALIASES:
                self._refuse(f"more than {MAX_YAML_ALIASES} aliases (*name)", self.peek_event())
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                self._refuse(f"nesting deeper than {MAX_DEPTH} levels", self.peek_event())
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        # Size of the node once every alias is expanded, from its children's sizes: a file
        # whose expansion exceeds MAX_YAML_NODES is refused before anything is constructed.
        if id(node) not in self._weight:
            weight = 1
            if isinstance(node, yaml.SequenceNode):
                weight += sum(self._weight.get(id(child), 1) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                weight += sum(self._weight.get(id(k), 1) + self._weight.get(id(v), 1) for k, v in node.value)
            if weight > MAX_YAML_NODES:
                self._refuse(f"more than {MAX_YAML_NODES:,} values once aliases are expanded", node)
            self._weight[id(node)] = weight
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
        seen = set()
        for key_node, _value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._refuse("a key is a list or mapping (a complex key); keys are names", key_node)
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                self._refuse("a key is not a plain value", key_node)
            if key in seen:
                self._refuse(f"key {key!r} appears twice in one mapping", key_node)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        digits = sum(ch.isdigit() or ch in "abcdefABCDEF" for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            self._refuse(f"an integer of {digits:,} digits (at most {MAX_INT_DIGITS})", node)
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def load_yaml(file: str, *, max_bytes: int, error: type[InputError], what: str, fix_read: str = "") -> Any:
    """Parse a YAML file within the guard's limits (``yaml.safe_load`` semantics).

    Raises
    ------
    InputError
        (as ``error``) naming the line of the first problem.
    """
    data = read_regular(file, max_bytes=max_bytes, error=error, what=what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(file, "", f"is not UTF-8 text (byte {exc.start})", fix_read or "check the file is UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = escape_text(getattr(exc, "problem", None) or str(exc))
        fix = "keep one of the two" if "appears twice" in problem else (
            "write a smaller, plainer file (docs/input-limits.md)" if any(
                w in problem for w in ("aliases", "nesting", "digits", "complex key", "plain value"))
            else "fix the indentation or quoting there")
        raise error(file, where, f"is not valid YAML ({problem})", fix) from None
    except RecursionError:
        raise error(file, "", f"is nested too deeply (at most {MAX_DEPTH} levels)", "write a plainer file") from None


# --------------------------------------------------------------------------- JSON


class _JsonLimit(ValueError):
    pass


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _JsonLimit(f"an integer of {digits:,} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _check_depth(value: Any, file: str, fld: str, error: type[InputError], max_depth: int) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise error(file, fld, f"is nested deeper than {max_depth} levels", "write a plainer file")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def loads_json(data: bytes, *, file: str, fld: str = "", error: type[InputError], max_depth: int = MAX_DEPTH,
               fix: str = "", label: str = "valid JSON") -> Any:
    """Parse UTF-8 JSON bytes within the guard's limits (integers, depth); one line on any problem."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(file, fld, f"is not UTF-8 JSON (byte {exc.start})", fix) from None
    try:
        value = json.loads(text, parse_int=_parse_int)
    except _JsonLimit as exc:
        raise error(file, fld, f"is refused: {exc}", "write integers within their field's range") from None
    except RecursionError:
        raise error(file, fld, f"is nested deeper than {max_depth} levels", fix or "write a plainer file") from None
    except ValueError as exc:  # JSONDecodeError and int() limits
        raise error(file, fld, f"is not {label} ({escape_text(exc)})", fix) from None
    _check_depth(value, file, fld, error, max_depth)
    return value


def load_json(file: str, *, max_bytes: int, error: type[InputError], what: str, max_depth: int = MAX_DEPTH,
              fix: str = "") -> Any:
    """Read and parse a JSON file within the guard's limits (size, depth, integer digits)."""
    data = read_regular(file, max_bytes=max_bytes, error=error, what=what)
    return loads_json(data, file=file, error=error, max_depth=max_depth, fix=fix)
