"""The output folder: everything ``run`` and ``report`` write or delete, kept inside it.

A run's folder may have come from someone else (a report folder sent by a colleague, an
archive unpacked), so nothing inside it is trusted:

- The folder the user names is opened once, as a directory file descriptor, and every
  later write, rename and delete is made relative to that descriptor. ``figures/`` and
  ``tables/`` are opened with ``O_NOFOLLOW``: a symbolic link in their place is refused before
  any work starts, so a write can never land where a link points.
- Staging happens inside the folder (``.qsnnsim-stage-*``), so it needs no write permission
  on the parent and the final renames never cross a filesystem; a stage is removed on any
  exit, and stages left by a killed run are removed by the next run into the folder.
- The manifest of files an earlier report wrote (``.qsnnsim-report-files``) is read with a
  size cap and trusted only for plain file names directly inside ``figures/`` or
  ``tables/`` (or the two documents) that are regular files, never links: only those are
  ever deleted.
- One run at a time: the folder's descriptor is locked (``flock``) from the pre-flight check
  to the last rename, so two runs into one folder never mix their files; the second is
  refused in one line. Each commit carries a run id, written into the manifest and into
  ``result.json``, and the whole set of renames runs with SIGINT and SIGTERM held back, so an
  interrupt leaves the previous run's files or this run's, not a mix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import signal
import stat
import tempfile
import threading
import weakref

from qsnnsim.errors import InputError

MANIFEST = ".qsnnsim-report-files"
STAGE_PREFIX = ".qsnnsim-stage-"
SUBFOLDERS = ("figures", "tables")
DOCUMENTS = ("report.md", "report.html")
RESULT = "result.json"
MANIFEST_MAX_BYTES = 1 << 20  # a report lists tens of files; a larger manifest is not ours
_FIX = "give --out a folder you can write"


def new_run_id() -> str:
    """A short random id that tells one run's files from another's."""
    return secrets.token_hex(6)


def _is_plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def _trusted_entry(rel: str) -> tuple[str | None, str] | None:
    """A manifest line -> (subfolder or None, file name), or None if it is not one we write."""
    if rel in DOCUMENTS or rel == RESULT:
        return None, rel
    sub, _, name = rel.partition("/")
    if sub in SUBFOLDERS and _is_plain_name(name):
        return sub, name
    return None


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT/SIGTERM back while a commit's renames run (milliseconds), then deliver them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


#: Folders this process holds open (and locked).
_OPEN_FOLDERS: weakref.WeakSet = weakref.WeakSet()


def _release_in_child() -> None:
    # A forked child (an os.fork by the program that holds the folder open, or by a library it
    # calls) shares the parent's open folder and with it the flock; it closes its copy, so that
    # if the parent dies the lock dies with it instead of living on in an orphaned child.
    for folder in list(_OPEN_FOLDERS):
        if folder.fd is not None:
            with contextlib.suppress(OSError):
                os.close(folder.fd)
            folder.fd = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_release_in_child)


def open_locked(path: str, fail, what_fix: str, busy: str, create: bool = True) -> int:
    """Open the folder ``path`` as a directory descriptor and lock it (``flock``, non-blocking).

    ``fail(field, problem, fix)`` makes the caller's one-line error: ``path`` is a file
    (``what_fix`` says what to give instead), cannot be created or opened, or is locked by
    another process (``busy`` says by what). Run and sweep folders both open this way.
    """
    if os.path.lexists(path) and not os.path.isdir(path):
        raise fail("", "is a file, not a folder", what_fix)
    try:
        if create:
            os.makedirs(path, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise fail("", f"cannot be created or opened ({exc.strerror or exc})", _FIX) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise fail("", busy, "wait for it to finish or give --out another folder") from None
        raise fail("", f"cannot be locked ({exc.strerror or exc})", _FIX) from None
    return fd


class OutputFolder:
    """An output folder opened for one run: checked, locked, written only inside.

    Use as a context manager; :meth:`open` runs the pre-flight checks (before any simulation)
    and :meth:`close` releases the lock and removes this run's stage.

    Parameters
    ----------
    path : str
        The folder, as the user gave it; created if missing (with its parents).
    """

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None
        self._stages: list[str] = []

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> OutputFolder:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fail(self, field: str, problem: str, fix: str = _FIX) -> InputError:
        return InputError(self.path, field, problem, fix)

    def open(self) -> None:
        """Create, open and lock the folder; refuse links in place of its subfolders.

        Raises
        ------
        InputError
            The path is a file, cannot be created or written, another run holds it, or
            ``figures``/``tables`` inside it is not a real folder.
        """
        self.fd = open_locked(self.path, self.fail, "give --out a folder for result.json and the report",
                              "another qsnnsim run is writing into this folder")
        _OPEN_FOLDERS.add(self)
        try:
            self._check_subfolders()
            self._remove_stale_stages()
            probe = tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.path)
            os.rmdir(probe)
        except InputError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise self.fail("", f"cannot be written ({exc.strerror or exc})") from None

    def close(self) -> None:
        for stage in self._stages:
            self._remove_stage(os.path.basename(stage))
        self._stages = []
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None

    # ------------------------------------------------------------------ checks

    def _lstat(self, name: str, dir_fd: int | None = None):
        try:
            return os.stat(name, dir_fd=self.fd if dir_fd is None else dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _check_subfolders(self) -> None:
        for sub in SUBFOLDERS:
            st = self._lstat(sub)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
                raise self.fail(sub, f"is {what}; qsnnsim writes its figures and tables only into real "
                                "folders inside the output folder", "remove it or give --out another folder")
        for doc in (*DOCUMENTS, RESULT, MANIFEST):
            st = self._lstat(doc)
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise self.fail(doc, "is a folder", "remove it or give --out another folder")

    def _remove_stage(self, name: str) -> None:
        st = self._lstat(name)
        if st is None or self.fd is None:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=self.fd, ignore_errors=True)  # fd-based: never follows links

    def _remove_stale_stages(self) -> None:
        # We hold the lock, so no other run is using a stage here: any left is a killed run's.
        for name in os.listdir(self.fd):
            if name.startswith(STAGE_PREFIX):
                self._remove_stage(name)

    # ------------------------------------------------------------------ writing

    def stage(self) -> str:
        """A new empty staging folder inside the output folder (removed at :meth:`close`)."""
        path = tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.path)
        self._stages.append(path)
        return path

    def _open_subfolder(self, sub: str) -> int:
        try:
            os.mkdir(sub, dir_fd=self.fd)
        except FileExistsError:
            pass
        try:
            return os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self.fail(sub, "is not a real folder (a link?)", "remove it or give --out another folder") \
                    from None
            raise

    def read_manifest(self) -> list[tuple[str | None, str]]:
        """The trusted entries of an earlier report's manifest (plain names only)."""
        try:
            fd = os.open(MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self.fd)
        except OSError:
            return []  # missing, a link or unreadable: trust nothing
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return []
            raw = fh.read(MANIFEST_MAX_BYTES + 1)
        if len(raw) > MANIFEST_MAX_BYTES:
            return []
        entries = []
        for line in raw.decode("utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                entry = _trusted_entry(line)
                if entry is not None:
                    entries.append(entry)
        return entries

    def commit(self, stage: str, run_id: str) -> list[str]:
        """Move a complete stage into the folder; remove what the previous report wrote and
        this one does not. Returns the paths written, documents first.

        The stage may hold ``result.json``, ``report.md``, ``report.html``, ``figures/*`` and
        ``tables/*``; anything else in the folder (a user's own files) is left alone, and a
        ``result.json`` already there is replaced only when the stage has one.
        """
        staged: list[tuple[str | None, str]] = []
        for name in sorted(os.listdir(stage)):
            if name in SUBFOLDERS:
                staged += [(name, f) for f in sorted(os.listdir(os.path.join(stage, name)))]
            elif name in DOCUMENTS or name == RESULT:
                staged.append((None, name))
        old = self.read_manifest()
        new = set(staged)
        stage_fd = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)
        sub_fds: dict[str | None, int] = {None: self.fd}
        try:
            with _signals_held():
                for sub in SUBFOLDERS:
                    if any(s == sub for s, _ in staged):
                        sub_fds[sub] = self._open_subfolder(sub)
                    elif any(s == sub for s, _ in old) and self._lstat(sub) is not None:
                        sub_fds[sub] = self._open_subfolder(sub)  # only to remove the old files
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(MANIFEST, dir_fd=self.fd)  # no manifest while the set is changing
                # Figures and tables first, then result.json, then the documents that point at them.
                order = sorted(staged, key=lambda e: (e[0] is None, e[1] in DOCUMENTS))
                for sub, name in order:
                    src_fd = stage_fd if sub is None else os.open(sub, os.O_RDONLY | os.O_DIRECTORY,
                                                                   dir_fd=stage_fd)
                    try:
                        os.replace(name, name, src_dir_fd=src_fd, dst_dir_fd=sub_fds[sub])
                    finally:
                        if sub is not None:
                            os.close(src_fd)
                for sub, name in set(old) - new:
                    if name == RESULT and sub is None:
                        continue  # a run's result is replaced, never deleted
                    if sub is not None and sub not in sub_fds:
                        continue
                    st = self._lstat(name, sub_fds[sub])
                    if st is not None and stat.S_ISREG(st.st_mode):
                        os.unlink(name, dir_fd=sub_fds[sub])
                lines = [f"# qsnnsim output files, run {run_id}"]
                lines += [name if sub is None else f"{sub}/{name}" for sub, name in staged]
                self._write_manifest("\n".join(lines) + "\n")
        finally:
            os.close(stage_fd)
            for sub, fd in sub_fds.items():
                if sub is not None:
                    os.close(fd)

        def shown_first(entry):  # report.html, report.md, figures, tables, result.json
            sub, name = entry
            if sub is None and name in DOCUMENTS:
                return (0, -DOCUMENTS.index(name))
            return (1 if sub is not None else 2, SUBFOLDERS.index(sub) if sub else 0)

        return [os.path.join(self.path, *(p for p in e if p)) for e in sorted(staged, key=shown_first)]

    def _write_manifest(self, text: str) -> None:
        tmp = f"{MANIFEST}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=self.fd)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, MANIFEST, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self.fd)
            raise
