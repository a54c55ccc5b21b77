"""The example architectures and workloads that ship with qsnnsim, found by name.

In a checkout they are the repository's ``archs/*.yaml`` and ``workloads/*.npz``; an installed
wheel carries copies in ``qsnnsim/_examples/`` (setup.py). A path the user gives that does not
exist, but names an example (``archs/core16.yaml``, ``core16.yaml`` or ``core16``), resolves
to the shipped file, so the README's commands work outside the checkout.
"""

from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
KINDS = {"archs": ".yaml", "workloads": ".npz"}


def examples_dir(kind: str) -> str | None:
    """The folder holding the shipped ``kind`` ("archs" or "workloads"), or None."""
    for folder in (os.path.join(_PACKAGE, "_examples", kind), os.path.join(os.path.dirname(_PACKAGE), kind)):
        if os.path.isdir(folder) and any(f.endswith(KINDS[kind]) for f in os.listdir(folder)):
            return folder
    return None


def list_examples(kind: str) -> list[str]:
    """Paths of the shipped ``kind`` files, sorted by name."""
    folder = examples_dir(kind)
    if folder is None:
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(KINDS[kind]))


def resolve(path: str, kind: str) -> tuple[str, bool]:
    """``path`` itself when it exists; else the shipped example it names, if any.

    Returns
    -------
    (path, is_example) : tuple[str, bool]
        ``is_example`` is True when ``path`` was not found and a shipped file stands in.
    """
    if os.path.exists(path) or os.path.isabs(path):
        return path, False
    parts = path.replace("\\", "/").split("/")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != kind):
        return path, False
    name = parts[-1]
    if not name.endswith(KINDS[kind]):
        name += KINDS[kind]
    folder = examples_dir(kind)
    if folder is not None and os.path.isfile(os.path.join(folder, name)):
        return os.path.join(folder, name), True
    return path, False
