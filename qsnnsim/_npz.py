"""Safe reading of a workload .npz: opening the archive and reading its entries one by one.

Part of the workload stage (qsnnsim/workload.py owns the format; this module owns the bytes).
Nothing is ever unpickled (``allow_pickle=False``), and every way a damaged or hostile file
can fail inside zipfile, zlib or numpy's .npy reader becomes one :class:`WorkloadError`
naming the file and the entry. Each entry's .npy header is read and checked before its data,
so a header that claims a huge shape is an error, never a huge allocation.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from qsnnsim.errors import WorkloadError


def _err(file: str, fld: str, problem: str, fix: str = "") -> WorkloadError:
    return WorkloadError(file, fld, problem, fix)


# Everything zipfile, zlib and numpy's .npy reader raise on a damaged or hostile file: a bad
# directory or local header (BadZipFile), an unsupported zip version, encryption or
# compression method (NotImplementedError, RuntimeError), a deflate stream cut short or
# garbled (EOFError, zlib.error), a bad CRC, an unparsable .npy header or short data
# (ValueError, UnicodeDecodeError), a packed field too short (struct.error), an offset too
# large to seek to (OverflowError). Caught around the I/O calls only, never around
# qsnnsim's own checks.
READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
                struct.error, zlib.error, OverflowError, KeyError)

# Deflate expands at most 1032:1 (one 258-byte match per two bits), so a member's data can
# be no longer than this many times its compressed size, whatever its zip directory claims.
_DEFLATE_MAX_RATIO = 1032


def reading_problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class NpzEntries:
    """Reads npz entries one at a time, turning every numpy/zip failure into a WorkloadError.

    Before an entry's data is read, its .npy header is read alone and checked: no object
    dtype, no negative dimension, no more data than the zip member can hold, then whatever
    the caller's ``check(shape, dtype)`` knows from ``meta``. A header that claims a huge
    shape is thus an error naming the entry, never a huge allocation.
    """

    def __init__(self, npz, file: str):
        self.npz = npz
        self.file = file
        self.members = set(npz.zip.namelist())
        self.archive_bytes = os.path.getsize(file)

    def _corrupt(self, key: str, exc: BaseException) -> WorkloadError:
        if isinstance(exc, ValueError) and "pickle" in str(exc):
            return _err(self.file, key, "holds a pickled object, which qsnnsim never loads",
                        "re-export with plain integer arrays")
        return _err(self.file, key, f"truncated or corrupt array ({reading_problem(exc)})",
                    "re-export or re-copy the file")

    def _room(self, info: zipfile.ZipInfo) -> int:
        """Most bytes the member can decompress to: its directory size, bounded by its compressed size."""
        compressed = min(info.compress_size, self.archive_bytes)
        room = info.file_size
        if info.compress_type == zipfile.ZIP_STORED:
            room = min(room, compressed)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            room = min(room, compressed * _DEFLATE_MAX_RATIO)
        return room

    def header(self, key: str, check=None) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of entry ``key`` from its .npy header, read without its data.

        ``check(shape, dtype)`` compares them with what meta declares; then the data the
        header claims must fit in what the zip member can hold.
        """
        fmt = np.lib.format
        member = key if key in self.members else key + ".npy"  # the member np.load would read
        try:
            info = self.npz.zip.getinfo(member)
            with self.npz.zip.open(member) as fh:
                if fh.read(len(fmt.MAGIC_PREFIX)) != fmt.MAGIC_PREFIX:
                    # numpy hands back raw bytes for a zip member stored without the .npy suffix
                    raise _err(self.file, key, "is not a .npy array entry", "re-export the workload")
                fh.seek(0)
                version = fmt.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(fh)
                else:
                    raise _err(self.file, key, f"is a .npy format {version[0]}.{version[1]} array; "
                               "a workload's integer arrays are format 1.0 or 2.0", "re-export the workload")
                data_start = fh.tell()
        except WorkloadError:
            raise
        except READ_ERRORS as exc:
            raise self._corrupt(key, exc) from None
        if dtype.hasobject:
            raise _err(self.file, key, "holds a pickled object, which qsnnsim never loads",
                       "re-export with plain integer arrays")
        if any(s < 0 for s in shape):
            raise _err(self.file, key, f"its .npy header gives a negative dimension (shape {shape})",
                       "the file is corrupt; re-export or re-copy it")
        if check is not None:
            check(tuple(shape), dtype)
        need = math.prod(shape) * dtype.itemsize
        room = max(0, self._room(info) - data_start)
        if need > room:
            raise _err(self.file, key, f"its .npy header claims shape {shape} of {dtype} ({need:,} bytes), "
                       f"more than the entry's {room:,} bytes can hold", "the file is corrupt; re-export or re-copy it")
        return tuple(shape), dtype

    def get(self, key: Any, fld: str, check=None) -> np.ndarray:
        """Load entry ``key`` (named by meta field ``fld``); ``check(shape, dtype)`` may refuse its header first."""
        if not isinstance(key, str):
            raise _err(self.file, fld, f"must name an array entry (got {key!r})")
        if key not in self.npz.files:
            raise _err(self.file, fld, f"names missing array entry {key!r}", "re-export the workload")
        shape, dtype = self.header(key, check)
        try:
            value = self.npz[key]
        except MemoryError:
            raise _err(self.file, key, f"needs more memory than is free ({math.prod(shape) * dtype.itemsize:,} bytes)",
                       "free memory or load a smaller workload") from None
        except READ_ERRORS as exc:
            raise self._corrupt(key, exc) from None
        if not isinstance(value, np.ndarray):
            raise _err(self.file, key, "is not a .npy array entry", "re-export the workload")
        return value


def open_npz(file: str):
    """Open ``file`` as an .npz archive, never unpickling; every failure is one WorkloadError."""
    if not os.path.exists(file):
        raise _err(file, "", "no such file", "check the path")
    if os.path.isdir(file):
        raise _err(file, "", "is a folder, not a workload .npz", "give one workload file, e.g. workloads/tiny_conv.npz")
    if not os.path.isfile(file):
        raise _err(file, "", "is not a regular file (a device, pipe or socket), not a workload .npz",
                   "give a workload .npz file")
    try:
        with open(file, "rb") as fh:
            is_npy = fh.read(6) == b"\x93NUMPY"
    except OSError as exc:
        raise _err(file, "", f"cannot be read ({exc.strerror or exc})", "check the file's permissions") from None
    if is_npy:
        raise _err(file, "", "is a single .npy array, not an .npz workload", "export with qsnnsim's save_workload")
    if not zipfile.is_zipfile(file):
        raise _err(file, "", "not a readable .npz workload (not a zip archive: truncated, or another kind of file)",
                   "give a workload .npz (qsnnsim COMMAND ARCH.yaml WORKLOAD.npz), re-export or re-copy it")
    try:
        npz = np.load(file, allow_pickle=False)
    except (*READ_ERRORS, MemoryError) as exc:
        raise _err(file, "", f"not a readable .npz workload ({reading_problem(exc)})",
                   "the file is truncated or not a workload; re-export or re-copy it") from None
    if not hasattr(npz, "files"):
        raise _err(file, "", "is a single .npy array, not an .npz workload", "export with qsnnsim's save_workload")
    return npz
