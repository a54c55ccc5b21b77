"""The sweep folder: each point's record written atomically under ``DIR/points/``, read back safely.

Layout (docs/sweeps.md)::

    DIR/sweep.json          the resolved sweep: varied keys and every point in table order
    DIR/points/<key>.json   one finished point each (ok, or failed with its error line)
    DIR/sweep.csv, DIR/sweep.jsonl, DIR/report.html   the table and the page

Safety, as :mod:`qsnnsim.report.folder` keeps a run's folder:

- the folder is opened once as a directory descriptor and locked (``flock``): one sweep at a
  time per folder; a second is refused in one line. Two sweeps into different folders share
  nothing;
- ``points/`` is opened with ``O_NOFOLLOW``; every file is written as a temp file inside
  its folder (``O_EXCL | O_NOFOLLOW``), flushed, then renamed over its name with directory
  descriptors, so a killed sweep leaves whole records or none, and temp files it left are
  removed by the next sweep into the folder (it holds the lock, so they are not in use);
- a point file is read with a size cap, never through a link, and trusted only if it parses,
  has this format and carries the key its name says.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat

from qsnnsim._guard import loads_json
from qsnnsim.errors import InputError
from qsnnsim.report.folder import open_locked

POINTS = "points"
SWEEP_JSON = "sweep.json"
TMP_PREFIX = ".tmp-"
#: A point record is a few KB; anything larger is not ours.
MAX_POINT_BYTES = 1 << 20
#: sweep.json lists every point (at most spec.MAX_POINTS, a few hundred bytes each).
MAX_SWEEP_JSON_BYTES = 256 << 20
_FIX = "give --out a folder you can write"


class SweepFolderError(InputError):
    """A sweep folder that cannot be used (not a folder, not writable, busy, a link inside)."""


def _has_figures(figures) -> bool:
    from qsnnsim.sweep.table import RECORD_KEYS

    if not isinstance(figures, dict) or not all(k in figures for k in RECORD_KEYS):
        return False
    comps = figures["energy_components_pj"]
    numbers = [figures[k] for k in RECORD_KEYS if k not in ("energy_components_pj", "accuracy", "all_match")]
    return isinstance(comps, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in [*numbers, *comps.values()])


def _is_key(name: str) -> bool:
    return len(name) > 0 and all(c in "0123456789abcdef" for c in name)


class SweepFolder:
    """A sweep output folder opened, locked and written only inside. Use as a context manager.

    Parameters
    ----------
    path : str
        The folder; created (with its parents) if ``create``, else it must exist.
    """

    def __init__(self, path: str, create: bool = True):
        self.path = path
        self.create = create
        self.fd: int | None = None
        self.points_fd: int | None = None

    def __enter__(self) -> SweepFolder:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fail(self, fld: str, problem: str, fix: str = _FIX) -> SweepFolderError:
        return SweepFolderError(self.path, fld, problem, fix)

    def open(self) -> None:
        """Create (if asked), open and lock the folder and its ``points/``; remove stale temp files."""
        if not self.create and not os.path.isdir(self.path):
            raise self.fail("", "is not a sweep folder (no such folder)", "give the --out folder of a sweep")
        self.fd = open_locked(self.path, self.fail, "give --out a folder for the sweep",
                              "another qsnnsim sweep is writing into this folder", create=self.create)
        try:
            if self.create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(POINTS, dir_fd=self.fd)
            try:
                self.points_fd = os.open(POINTS, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self.fd)
            except FileNotFoundError:
                raise self.fail(POINTS, "is missing: this is not a sweep folder",
                                "give the --out folder of a sweep") from None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise self.fail(POINTS, "is not a real folder (a link?)",
                                    "remove it or give --out another folder") from None
                raise
            if self.create:
                self._remove_temp_files()
        except InputError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise self.fail("", f"cannot be written ({exc.strerror or exc})") from None

    def close(self) -> None:
        for name in ("points_fd", "fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)  # closing the folder's descriptor releases the flock
                setattr(self, name, None)

    def _remove_temp_files(self) -> None:
        for dir_fd in (self.fd, self.points_fd):
            for name in os.listdir(dir_fd):
                if name.startswith(TMP_PREFIX):
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                        os.unlink(name, dir_fd=dir_fd)

    # ------------------------------------------------------------------ writing

    def _write(self, dir_fd: int, name: str, data: bytes) -> None:
        tmp = f"{TMP_PREFIX}{secrets.token_hex(6)}-{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise

    def write_file(self, name: str, text: str) -> str:
        """Write ``DIR/name`` atomically (a plain name directly in the folder); its path."""
        if "/" in name or name in ("", ".", "..", POINTS):
            raise ValueError(f"not a plain file name: {name!r}")
        self._write(self.fd, name, text.encode("utf-8", errors="surrogateescape"))
        return os.path.join(self.path, name)

    def write_point(self, key: str, text: str) -> None:
        """Write ``DIR/points/<key>.json`` atomically."""
        if not _is_key(key):
            raise ValueError(f"not a point key: {key!r}")
        self._write(self.points_fd, f"{key}.json", text.encode("utf-8"))

    # ------------------------------------------------------------------ reading

    def _read(self, dir_fd: int, name: str, max_bytes: int) -> bytes | None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            return None  # missing, a link or unreadable
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            raw = fh.read(max_bytes + 1)
        return None if len(raw) > max_bytes else raw

    def read_point(self, key: str) -> dict | None:
        """The record of point ``key`` if a trusted one is stored, else None."""
        from qsnnsim.sweep.worker import POINT_FORMAT, POINT_VERSION

        if not _is_key(key):
            return None
        raw = self._read(self.points_fd, f"{key}.json", MAX_POINT_BYTES)
        if raw is None:
            return None
        try:
            data = loads_json(raw, file=os.path.join(self.path, POINTS, f"{key}.json"), error=SweepFolderError)
        except InputError:
            return None
        if not isinstance(data, dict) or data.get("format") != POINT_FORMAT or data.get("version") != POINT_VERSION \
                or data.get("key") != key or data.get("status") not in ("ok", "failed", "error"):
            return None
        if data["status"] == "ok" and not _has_figures(data.get("figures")):
            return None
        if not isinstance(data.get("error"), str) or not isinstance(data.get("values"), list):
            return None
        return data

    def read_sweep_json(self) -> dict:
        """``DIR/sweep.json`` parsed (for ``qsnnsim sweep --report``)."""
        raw = self._read(self.fd, SWEEP_JSON, MAX_SWEEP_JSON_BYTES)
        if raw is None:
            raise self.fail(SWEEP_JSON, "is missing or not a regular file: this is not a sweep folder",
                            "give the --out folder of a sweep")
        data = loads_json(raw, file=os.path.join(self.path, SWEEP_JSON), error=SweepFolderError)
        if not isinstance(data, dict) or data.get("format") != "qsnnsim-sweep-index" \
                or not isinstance(data.get("points"), list) or not isinstance(data.get("varied_keys"), list):
            raise self.fail(SWEEP_JSON, "is not a sweep index written by qsnnsim sweep", "re-run the sweep")
        return data

    def point_inode(self, key: str) -> tuple | None:
        """(inode, mtime_ns) of a stored point file, or None (tests use it to see a point was not re-run)."""
        try:
            st = os.stat(f"{key}.json", dir_fd=self.points_fd, follow_symlinks=False)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns
