"""Atomic file writes: a temp file in the target's folder, then one rename.

A reader never sees a half-written workload or result: either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb", suffix: str = ""):
    """Open a temp file next to ``path`` for writing; on success rename it over ``path``.

    The file gets the usual 0644 permissions (mkstemp creates 0600); on any error the temp
    file is removed and ``path`` is untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
