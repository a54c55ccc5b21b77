"""Run one fuzz case through the CLI and classify the outcome.

A case passes when ``qsnnsim.cli.main`` returns 0, or returns 2 with exactly one line
``qsnnsim: error: ...`` on stderr; anything else (an exception escaping ``main``, another
exit status, several lines) is a failure whose text is kept for the report.
"""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_ARCH = os.path.join(REPO, "archs", "tiny.yaml")
TINY_MLP = os.path.join(REPO, "workloads", "tiny_mlp.npz")
SHIPPED_WORKLOADS = ("tiny_mlp", "tiny_conv", "tiny_dvs", "digits_conv_m4", "resnet19")
SHIPPED_ARCHS = ("tiny", "core16", "large", "loihi_like", "truenorth_like", "xylo_like")


@dataclass(frozen=True)
class Outcome:
    returncode: int | None
    stderr: str
    failure: str  # "" when the case passed

    @property
    def ok(self) -> bool:
        return not self.failure


def classify(returncode, stderr: str, crash: str = "") -> Outcome:
    if crash:
        return Outcome(returncode, stderr, crash)
    if returncode == 0:
        return Outcome(0, stderr, "")
    lines = stderr.splitlines()
    if returncode == 2 and len(lines) == 1 and lines[0].startswith("qsnnsim: error: "):
        return Outcome(2, stderr, "")
    return Outcome(returncode, stderr, f"exit {returncode}, stderr: {stderr[-2000:]}")


def run_cli(argv: list[str]) -> Outcome:
    """``qsnnsim.cli.main(argv)`` in this process, stdout discarded and stderr captured."""
    from qsnnsim.cli import main

    err = io.StringIO()
    crash = ""
    code = None
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001 - a traceback is exactly what the fuzzer looks for
            crash = traceback.format_exc()
    return classify(code, err.getvalue(), crash)


def argv_for(family: str, path: str, out_dir: str, run: bool = False) -> list[str]:
    """The command a mutant of ``family`` is given to."""
    if family == "workload":
        if run:
            return ["run", TINY_ARCH, path, "--out", out_dir, "--no-report"]
        return ["inspect", path]
    if family == "arch":
        return ["map", path, TINY_MLP]
    return ["report", path, "--out", out_dir]
