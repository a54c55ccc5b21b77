"""Safe reading of a workload .npz: opening the archive and reading its entries one by one.

Part of the workload stage (qsnnsim/workload.py owns the format; this module owns the bytes).
The archive is opened through :mod:`qsnnsim._guard` (regular file, size cap) and read with
zipfile's directory but this module's own member reader, so that every compression method
zipfile accepts (stored, deflate, bzip2, lzma) is decompressed in bounded pieces:

- an entry's .npy header is read and checked before its data, so a header that claims a
  huge shape is an error, never a huge allocation;
- the data an entry declares must fit in what its zip member can hold (its compressed size
  times :data:`MAX_EXPANSION_RATIO`, deflate's largest possible ratio, for every method) and,
  summed over the entries, in the memory free now;
- the data is then decompressed into the array in chunks of at most ``_CHUNK_BYTES`` and the
  member's CRC-32 and size are checked.

Nothing is ever unpickled, and every way a damaged or hostile file can fail inside zipfile,
zlib, bz2, lzma or numpy's .npy header parser becomes one :class:`WorkloadError` naming the
file and the entry.
"""

from __future__ import annotations

import bz2
import lzma
import math
import os
import struct
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np

from qsnnsim._guard import MAX_WORKLOAD_BYTES, open_regular
from qsnnsim.errors import WorkloadError

# Everything zipfile, zlib, bz2, lzma and the file system raise on a damaged or hostile file:
# a bad directory or local header (BadZipFile), an unsupported zip version, encryption or
# compression method (NotImplementedError, RuntimeError), a stream cut short or garbled
# (EOFError, zlib.error, OSError from bz2, LZMAError), a packed field too short
# (struct.error), an offset too large to seek to (OverflowError). Caught around the I/O
# calls only, never around qsnnsim's own checks.
READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
               NotImplementedError, struct.error, zlib.error, lzma.LZMAError, OverflowError, KeyError)

#: Deflate expands at most 1032:1 (one 258-byte match per two bits). Every method is held to
#: that ratio: a member may decompress to at most this many times its compressed size,
#: whatever its zip directory claims (a bzip2 or lzma member that compresses better than
#: deflate ever could is refused; qsnnsim writes deflate).
MAX_EXPANSION_RATIO = 1032
#: Members in one archive (a workload has 2 per population and 2-3 per projection).
MAX_MEMBERS = 100_000
#: Methods read: stored, deflate, bzip2, lzma (zipfile's full list).
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
           zipfile.ZIP_LZMA: "lzma"}

_CHUNK_BYTES = 1 << 20
_RAW_CHUNK_BYTES = 64 << 10
_MAX_NPY_HEADER_BYTES = 10_000  # numpy's own default limit


def _err(file: str, fld: str, problem: str, fix: str = "") -> WorkloadError:
    return WorkloadError(file, fld, problem, fix)


def reading_problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def available_memory_bytes() -> int:
    """Memory free now (Linux MemAvailable; elsewhere free physical pages), or a large number."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


class _MemberStream:
    """The decompressed bytes of one zip member, produced in bounded pieces (``read(n)``).

    Reads the raw member from the archive file itself (local header at the directory's
    offset), so no decompressor is ever asked for unbounded output; counts the bytes and
    the CRC-32 as they come.
    """

    def __init__(self, fh, info: zipfile.ZipInfo, archive_bytes: int):
        # The same checks, in the same words, as zipfile.ZipFile.open.
        if info.flag_bits & 0x40:
            raise NotImplementedError("strong encryption (flag bit 6)")
        if info.flag_bits & 0x1:
            raise RuntimeError(f"File {info.filename!r} is encrypted, password required for extraction")
        if info.compress_type not in METHODS:
            raise NotImplementedError(f"That compression method is not supported ({info.compress_type}; "
                                      f"qsnnsim reads {', '.join(METHODS.values())})")
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("Bad magic number for file header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        if fh.read(name_len) != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
            raise zipfile.BadZipFile(f"File name in directory {info.orig_filename!r} and header differ")
        self.fh = fh
        self.pos = info.header_offset + 30 + name_len + extra_len
        self.left = max(0, min(info.compress_size, archive_bytes - self.pos))
        self.method = info.compress_type
        self.crc = 0
        self.n_out = 0
        self.done = False
        if self.method == zipfile.ZIP_DEFLATED:
            self.dec = zlib.decompressobj(-15)
        elif self.method == zipfile.ZIP_BZIP2:
            self.dec = bz2.BZ2Decompressor()
        elif self.method == zipfile.ZIP_LZMA:
            head = self._raw(4)
            if len(head) != 4:
                raise EOFError("lzma header cut short")
            (psize,) = struct.unpack("<H", head[2:4])
            props = self._raw(psize)
            if len(props) != psize:
                raise EOFError("lzma properties cut short")
            self.dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[
                lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)])  # as zipfile does
        else:
            self.dec = None

    def _raw(self, n: int) -> bytes:
        n = min(n, self.left)
        if n <= 0:
            return b""
        self.fh.seek(self.pos)
        data = self.fh.read(n)
        self.pos += len(data)
        self.left = 0 if not data else self.left - len(data)
        return data

    def _piece(self, n: int) -> bytes:
        if self.dec is None:
            data = self._raw(min(n, _CHUNK_BYTES))
            if not data:
                self.done = True
            return data
        if self.method == zipfile.ZIP_DEFLATED:
            data = self.dec.unconsumed_tail or self._raw(_RAW_CHUNK_BYTES)
            out = self.dec.decompress(data, n)
            if self.dec.eof or (not out and not data):
                self.done = True
            return out
        if self.dec.eof:
            self.done = True
            return b""
        data = self._raw(_RAW_CHUNK_BYTES) if self.dec.needs_input else b""
        if self.dec.needs_input and not data:
            self.done = True
            return b""
        return self.dec.decompress(data, max_length=n)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` decompressed bytes (fewer only at the end of the member)."""
        if n is None or n < 0:
            raise ValueError("unbounded read")
        out = []
        got = 0
        while got < n and not self.done:
            piece = self._piece(min(n - got, _CHUNK_BYTES))
            out.append(piece)
            got += len(piece)
        data = b"".join(out)
        self.crc = zlib.crc32(data, self.crc)
        self.n_out += len(data)
        return data

    def readinto_array(self, buf: np.ndarray) -> int:
        """Fill the uint8 array ``buf`` in bounded pieces; returns the bytes filled."""
        filled = 0
        while filled < buf.size and not self.done:
            piece = self.read(min(_CHUNK_BYTES, buf.size - filled))
            if not piece:
                break
            buf[filled:filled + len(piece)] = np.frombuffer(piece, np.uint8)
            filled += len(piece)
        return filled

    def drain(self, limit: int) -> None:
        """Read the rest (at most ``limit`` bytes in all) so the CRC covers the whole member."""
        while not self.done:
            if self.n_out > limit:
                raise ValueError(f"the entry decompresses to more than {limit:,} bytes")
            self.read(_CHUNK_BYTES)


class _HeaderReader:
    """A file-like view numpy's header parser reads from, bounded to the header's size."""

    def __init__(self, stream: _MemberStream):
        self.stream = stream

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > _MAX_NPY_HEADER_BYTES + 16:
            raise ValueError(".npy header too long")
        return self.stream.read(n)


class NpzEntries:
    """An open workload archive whose entries are read one at a time, bounded.

    Before an entry's data is read, its .npy header is read alone and checked: no object
    dtype, no negative dimension, no more data than the zip member can hold or than memory
    is free, then whatever the caller's ``check(shape, dtype)`` knows from ``meta``. Arrays
    are cached by entry name, so entries that many populations share are read once.
    """

    def __init__(self, fh, zf: zipfile.ZipFile, file: str, archive_bytes: int):
        self.fh = fh
        self.zip = zf
        self.file = file
        self.archive_bytes = archive_bytes
        self.members = {info.filename: info for info in zf.infolist()}
        self.files = {name[:-4] if name.endswith(".npy") else name for name in self.members}
        self.free_bytes = available_memory_bytes()
        self.declared_bytes = 0
        self._cache: dict[str, np.ndarray] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.zip.close()
        self.fh.close()

    def _corrupt(self, key: str, exc: BaseException) -> WorkloadError:
        return _err(self.file, key, f"truncated or corrupt array ({reading_problem(exc)})",
                    "re-export or re-copy the file")

    def _room(self, info: zipfile.ZipInfo) -> int:
        """Most bytes the member can decompress to: its directory size, bounded by its compressed size."""
        compressed = min(info.compress_size, self.archive_bytes)
        if info.compress_type == zipfile.ZIP_STORED:
            return min(info.file_size, compressed)
        return min(info.file_size, compressed * MAX_EXPANSION_RATIO)

    def _member(self, key: str) -> zipfile.ZipInfo:
        name = key + ".npy" if key + ".npy" in self.members else key  # the member np.load would read
        return self.members[name]

    def _header(self, key: str, info: zipfile.ZipInfo):
        fmt = np.lib.format
        stream = _MemberStream(self.fh, info, self.archive_bytes)
        magic = stream.read(len(fmt.MAGIC_PREFIX) + 2)
        if magic[:-2] != fmt.MAGIC_PREFIX:
            raise _err(self.file, key, "is not a .npy array entry", "re-export the workload")
        head = _HeaderReader(stream)
        major, minor = magic[-2], magic[-1]
        if (major, minor) not in ((1, 0), (2, 0)):
            raise _err(self.file, key, f"is a .npy format {major}.{minor} array; "
                       "a workload's integer arrays are format 1.0 or 2.0", "re-export the workload")
        read = fmt.read_array_header_1_0 if (major, minor) == (1, 0) else fmt.read_array_header_2_0
        try:
            with warnings.catch_warnings():
                # numpy warns (on stderr) when it needs its Python 2 header fallback: a damaged
                # header is one error line or accepted, never a warning.
                warnings.simplefilter("ignore")
                shape, fortran, dtype = read(head, max_header_size=_MAX_NPY_HEADER_BYTES)
        except WorkloadError:
            raise
        except Exception as exc:  # noqa: BLE001 - numpy parses the header with tokenize/ast: any failure is corruption
            raise _err(self.file, key, f"its .npy header is corrupt ({reading_problem(exc)})",
                       "re-export or re-copy the file") from None
        return stream, tuple(shape), bool(fortran), dtype

    def header(self, key: str, check=None) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of entry ``key`` from its .npy header, read without its data."""
        _, shape, _, dtype, _ = self._open_checked(key, check)
        return shape, dtype

    def _open_checked(self, key: str, check):
        try:
            info = self._member(key)
            stream, shape, fortran, dtype = self._header(key, info)
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
            check(shape, dtype)
        need = math.prod(shape) * dtype.itemsize
        room = max(0, self._room(info) - stream.n_out)
        if need > room:
            raise _err(self.file, key, f"its .npy header claims shape {shape} of {dtype} ({need:,} bytes), "
                       f"more than the entry's {room:,} bytes can hold", "the file is corrupt; re-export or re-copy it")
        if dtype.kind not in "biufcUS" or dtype.fields is not None or dtype.subdtype is not None:
            raise _err(self.file, key, f"has dtype {dtype}; workload arrays are plain integers",
                       "re-export the workload")
        return stream, shape, fortran, dtype, info

    def size_check(self, key: str, max_bytes: int):
        """A header check refusing entry ``key`` if its array is over ``max_bytes``."""

        def check(shape, dtype):
            n_bytes = math.prod(shape) * dtype.itemsize
            if n_bytes > max_bytes:
                raise _err(self.file, key, f"is {n_bytes:,} bytes (at most {max_bytes:,})", "re-export the workload")

        return check

    def reserve(self, key: str, n_bytes: int) -> None:
        """Count ``n_bytes`` more of memory for entry ``key`` (its array, or what it unpacks to);
        refuse once the arrays of this workload would need more than is free."""
        self.declared_bytes += n_bytes
        if self.declared_bytes > self.free_bytes:
            raise _err(self.file, key, f"the arrays read so far need {self.declared_bytes:,} bytes, more than the "
                       f"{self.free_bytes:,} bytes of memory free", "free memory or load a smaller workload")

    def get(self, key: Any, fld: str, check=None) -> np.ndarray:
        """Load entry ``key`` (named by meta field ``fld``); ``check(shape, dtype)`` may refuse its header first."""
        if not isinstance(key, str):
            raise _err(self.file, fld, f"must name an array entry (got {key!r})")
        if key not in self.files:
            raise _err(self.file, fld, f"names missing array entry {key!r}", "re-export the workload")
        if key in self._cache:
            value = self._cache[key]
            if check is not None:
                check(value.shape, value.dtype)
            return value
        stream, shape, fortran, dtype, info = self._open_checked(key, check)
        need = math.prod(shape) * dtype.itemsize
        self.reserve(key, need)
        try:
            buf = np.empty(need, np.uint8)
            filled = stream.readinto_array(buf)
            if filled != need:
                raise EOFError(f"{filled:,} of {need:,} data bytes")
            stream.drain(self._room(info))
            if stream.n_out != info.file_size:
                raise zipfile.BadZipFile(f"entry is {stream.n_out:,} bytes, its directory says {info.file_size:,}")
            if stream.crc != info.CRC:
                raise zipfile.BadZipFile("Bad CRC-32")
        except MemoryError:
            raise _err(self.file, key, f"needs more memory than is free ({need:,} bytes)",
                       "free memory or load a smaller workload") from None
        except READ_ERRORS as exc:
            raise self._corrupt(key, exc) from None
        value = buf.view(dtype)
        value = value.reshape(shape[::-1]).transpose() if fortran else value.reshape(shape)
        if not value.dtype.isnative:
            value = value.astype(value.dtype.newbyteorder("="))
        value.setflags(write=False)
        self._cache[key] = value
        return value


def open_npz(file: str) -> NpzEntries:
    """Open ``file`` as an .npz archive, never unpickling; every failure is one WorkloadError."""
    fd, size = open_regular(file, max_bytes=MAX_WORKLOAD_BYTES, error=WorkloadError, what="a workload .npz",
                            fix="give one workload file, e.g. workloads/tiny_conv.npz")
    fh = os.fdopen(fd, "rb")
    try:
        try:
            is_npy = fh.read(6) == b"\x93NUMPY"
            fh.seek(0)
        except OSError as exc:
            raise _err(file, "", f"cannot be read ({exc.strerror or exc})", "check the file's permissions") from None
        if is_npy:
            raise _err(file, "", "is a single .npy array, not an .npz workload", "export with qsnnsim's save_workload")
        try:
            zf = zipfile.ZipFile(fh)
        except (*READ_ERRORS, MemoryError) as exc:
            if isinstance(exc, zipfile.BadZipFile) and "not a zip file" in str(exc).lower():
                raise _err(file, "", "not a readable .npz workload (not a zip archive: truncated, or another kind "
                           "of file)", "give a workload .npz (qsnnsim COMMAND ARCH.yaml WORKLOAD.npz), re-export or "
                           "re-copy it") from None
            raise _err(file, "", f"not a readable .npz workload ({reading_problem(exc)})",
                       "the file is truncated or not a workload; re-export or re-copy it") from None
        if len(zf.infolist()) > MAX_MEMBERS:
            zf.close()
            raise _err(file, "", f"holds {len(zf.infolist()):,} entries (at most {MAX_MEMBERS:,})",
                       "re-export the workload")
        return NpzEntries(fh, zf, file, size)
    except BaseException:
        fh.close()
        raise
