"""The large fuzz run of issue 18: thousands of mutants, each in its own forked process.

    python -m tests.fuzz.large --workloads 5000 --archs 5000 --results 500 --jobs 2

Every case is a mutant of a shipped file (tests/fuzz/mutate.py), given to the CLI in a
child forked from a process that has already imported qsnnsim, so each case's peak memory
(``ru_maxrss`` from ``wait4``, the child's own peak, which includes the ~100 MB it shares
with its parent) and wall time are its own. Records, and prints as JSON: mutants per
family, tracebacks (must be 0), cases over 20 s (must be 0), the slowest case, the
largest peak memory of a case whose input is under 1 MB (must be < 1 GB). A failing case
is kept under --keep (default /tmp/qsnnsim-fuzz) with its seed, to replay.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from tests.fuzz import mutate
from tests.fuzz.runner import REPO, SHIPPED_ARCHS, SHIPPED_WORKLOADS, argv_for, run_cli

CASE_TIMEOUT_S = 60.0
LIMIT_S = 20.0
LIMIT_RSS_BYTES = 1 << 30


def _make_result(tmp: str) -> str:
    out = os.path.join(tmp, "run")
    subprocess.run([sys.executable, "-m", "qsnnsim", "run", os.path.join(REPO, "archs", "tiny.yaml"),
                    os.path.join(REPO, "workloads", "tiny_mlp.npz"), "--out", out, "--no-report"],
                   check=True, capture_output=True, timeout=600)
    with open(os.path.join(out, "result.json"), encoding="utf-8") as fh:
        return fh.read()


def _cases(n_workloads: int, n_archs: int, n_results: int, n_run: int, seed: int, result_text: str):
    """(family, seed, kind, bytes, run) for every case, deterministic in ``seed``."""
    rng = random.Random(seed)
    blobs = {w: open(os.path.join(REPO, "workloads", w + ".npz"), "rb").read() for w in SHIPPED_WORKLOADS}
    texts = {a: open(os.path.join(REPO, "archs", a + ".yaml"), encoding="utf-8").read() for a in SHIPPED_ARCHS}
    for i in range(n_workloads):
        case_seed = rng.randrange(2**32)
        name = SHIPPED_WORKLOADS[i % len(SHIPPED_WORKLOADS)]
        kind, data = mutate.mutate_workload(blobs[name], random.Random(case_seed))
        yield "workload", case_seed, f"{name}:{kind}", data, i < n_run
    for i in range(n_archs):
        case_seed = rng.randrange(2**32)
        name = SHIPPED_ARCHS[i % len(SHIPPED_ARCHS)]
        kind, data = mutate.mutate_arch(texts[name], random.Random(case_seed))
        yield "arch", case_seed, f"{name}:{kind}", data, False
    for _ in range(n_results):
        case_seed = rng.randrange(2**32)
        kind, data = mutate.mutate_result(result_text, random.Random(case_seed))
        yield "result", case_seed, kind, data, False


def _child(family: str, path: str, out_dir: str, run: bool, wfd: int) -> None:
    outcome = run_cli(argv_for(family, path, out_dir, run))
    os.write(wfd, json.dumps({"rc": outcome.returncode, "failure": outcome.failure}).encode())
    os.close(wfd)


def _start(case, tmp: str):
    family, seed, kind, data, run = case
    work = tempfile.mkdtemp(dir=tmp)
    ext = {"workload": ".npz", "arch": ".yaml", "result": ".json"}[family]
    path = os.path.join(work, "input" + ext)
    with open(path, "wb") as fh:
        fh.write(data)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        code = 0
        try:
            _child(family, path, os.path.join(work, "out"), run, wfd)
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    os.close(wfd)
    return {"pid": pid, "rfd": rfd, "start": time.monotonic(), "case": case, "work": work, "path": path,
            "size": len(data)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", type=int, default=5000)
    ap.add_argument("--archs", type=int, default=5000)
    ap.add_argument("--results", type=int, default=500)
    ap.add_argument("--run-sample", type=int, default=250, help="workload mutants also given to `qsnnsim run`")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--keep", default=os.path.join(tempfile.gettempdir(), "qsnnsim-fuzz"))
    args = ap.parse_args(argv)
    os.makedirs(args.keep, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="qsnnsim-fuzz-")
    import qsnnsim.cli  # noqa: F401 - imported once here, shared by every forked child
    import qsnnsim.report.render  # noqa: F401

    result_text = _make_result(tmp)
    counts: dict = {}
    exits: dict = {}
    failures = []
    slowest = (0.0, "")
    peak = (0, "")
    over_time = 0
    started = time.monotonic()
    running: list = []
    cases = _cases(args.workloads, args.archs, args.results, args.run_sample, args.seed, result_text)
    exhausted = False
    while running or not exhausted:
        while not exhausted and len(running) < args.jobs:
            try:
                running.append(_start(next(cases), tmp))
            except StopIteration:
                exhausted = True
        time.sleep(0.005)
        for job in list(running):
            pid, status, usage = os.wait4(job["pid"], os.WNOHANG)
            elapsed = time.monotonic() - job["start"]
            if pid == 0:
                if elapsed > CASE_TIMEOUT_S:
                    os.kill(job["pid"], signal.SIGKILL)
                continue
            running.remove(job)
            family, seed, kind, data, run = job["case"]
            with os.fdopen(job["rfd"], "rb") as fh:
                report = fh.read()
            key = family + (" (run)" if run else "")
            counts[key] = counts.get(key, 0) + 1
            rc = json.loads(report)["rc"] if report else None
            exits[f"{key} exit {rc}"] = exits.get(f"{key} exit {rc}", 0) + 1
            rss = usage.ru_maxrss * 1024  # kB on Linux
            label = f"{family} seed={seed} {kind}"
            if elapsed > slowest[0]:
                slowest = (elapsed, label)
            if job["size"] < 1 << 20 and rss > peak[0]:
                peak = (rss, label)
            if elapsed > LIMIT_S:
                over_time += 1
            failure = ""
            if not report:
                failure = f"child died (status {status})"
            else:
                failure = json.loads(report)["failure"]
            if failure or elapsed > LIMIT_S or (job["size"] < 1 << 20 and rss > LIMIT_RSS_BYTES):
                keep = os.path.join(args.keep, f"{family}-{seed}" + os.path.splitext(job["path"])[1])
                shutil.copy(job["path"], keep)
                failures.append({"case": label, "kept": keep, "failure": failure[-3000:], "seconds": elapsed,
                                 "peak_rss_mb": rss / 2**20})
            shutil.rmtree(job["work"], ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "command": "python -m tests.fuzz.large " + " ".join(argv if argv is not None else sys.argv[1:]),
        "mutants": counts,
        "exit_statuses": exits,
        "tracebacks_or_bad_exits": sum(1 for f in failures if f["failure"]),
        "cases_over_20_s": over_time,
        "slowest_case_s": round(slowest[0], 2),
        "slowest_case": slowest[1],
        "peak_rss_mb_input_under_1mb": round(peak[0] / 2**20, 1),
        "peak_rss_case": peak[1],
        "own_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "failures": failures[:50],
    }
    print(json.dumps(summary, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
