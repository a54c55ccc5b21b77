"""The vendors' virtual environments: where they live, how they are made, whether they work.

Lava (lava-nc 0.10) installs only on Python 3.10; xylosim 0.1.3 on the main Python. Each
venv lives under the cache directory (``$QSNNSIM_ORACLE_CACHE``, default
``~/.cache/qsnnsim-oracles``) with the install log next to it (``lava.log``, ``xylo.log``,
ending in ``<name>-done <exit status>``). samna is never installed and
``rockpool.devices.xylo`` never imported: samna's PyPI package downloads at import time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SPECS = {
    "lava": {
        "packages": ["lava-nc==0.10.0", "numpy<2", "scipy<1.15", "scikit-learn<1.6"],
        "python": "3.10",
        "probe": "import numpy, lava.proc.lif.models, lava.proc.dense.models",
    },
    "xylo": {
        "packages": ["xylosim==0.1.3", "numpy"],
        "python": None,  # the running interpreter
        "probe": "import numpy, xylosim.v1, xylosim.v2",
    },
}


def cache_dir() -> Path:
    """Where the venvs and their logs live."""
    return Path(os.environ.get("QSNNSIM_ORACLE_CACHE", Path.home() / ".cache" / "qsnnsim-oracles"))


def venv_python(name: str) -> Path:
    return cache_dir() / name / "bin" / "python"


def is_ready(name: str) -> bool:
    """True when the venv exists and imports its vendor's simulator."""
    python = venv_python(name)
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", SPECS[name]["probe"]], capture_output=True)
    return probe.returncode == 0


def _find_python310() -> list[str]:
    """A Python 3.10 interpreter: python3.10 on PATH (pyenv's shim needs PYENV_VERSION)."""
    candidates = [shutil.which("python3.10")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob("versions/3.10*/bin/python3.10"))
    for candidate in filter(None, candidates):
        env = dict(os.environ, PYENV_VERSION=os.environ.get("PYENV_VERSION", "3.10.13"))
        check = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                               text=True, env=env)
        if check.returncode == 0 and check.stdout.strip() == "(3, 10)":
            return [candidate]
    raise RuntimeError("no Python 3.10 found (lava-nc 0.10 needs it): install one, e.g. `pyenv install 3.10`")


def ensure(name: str) -> Path:
    """Create the venv ``name`` if it is missing or broken; return its python. Logs to <name>.log."""
    if is_ready(name):
        return venv_python(name)
    spec = SPECS[name]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    log_path = root / f"{name}.log"
    base = _find_python310() if spec["python"] == "3.10" else [sys.executable]
    env = dict(os.environ, PYENV_VERSION=os.environ.get("PYENV_VERSION", "3.10.13"))
    print(f"creating the {name} venv at {target} (log: {log_path}) ...", flush=True)
    with open(log_path, "w") as log:
        status = subprocess.run(base + ["-m", "venv", "--clear", str(target)], stdout=log, stderr=subprocess.STDOUT,
                                env=env).returncode
        if status == 0:
            status = subprocess.run([str(target / "bin" / "pip"), "install", "--prefer-binary", *spec["packages"]],
                                    stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        log.write(f"{name}-done {status}\n")
    if status != 0 or not is_ready(name):
        raise RuntimeError(f"could not create the {name} venv (exit {status}): see {log_path}")
    return venv_python(name)
