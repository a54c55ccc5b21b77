"""Running a whole sweep into its folder: skip finished points, run the rest, write the table and page.

:func:`run_sweep` is what ``qsnnsim sweep SWEEP.yaml --out DIR`` calls once the sweep file
has been checked (:func:`qsnnsim.sweep.spec.load_sweep`): it opens and locks ``DIR``, writes
the sweep's index (``sweep.json``), runs every point whose record is not stored yet, stores
each record as it arrives, and finally writes ``sweep.csv``, ``sweep.jsonl`` and
``report.html`` from the stored records. :func:`report_sweep` re-renders the three from a
folder (``qsnnsim sweep --report DIR``).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

from qsnnsim.sweep.executors import run_points
from qsnnsim.sweep.points import Point, sweep_points
from qsnnsim.sweep.spec import SweepSpec
from qsnnsim.sweep.store import SWEEP_JSON, SweepFolder
from qsnnsim.sweep.table import build_rows, to_csv, to_jsonl

INDEX_FORMAT = "qsnnsim-sweep-index"
TABLE_CSV = "sweep.csv"
TABLE_JSONL = "sweep.jsonl"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did: points in all, run now, found done, and how they ended."""

    n_points: int
    n_run: int
    n_skipped: int
    n_ok: int
    n_failed: int
    n_error: int
    n_pending: int
    paths: tuple           # sweep.csv, sweep.jsonl, report.html
    elapsed_s: float


class SweepProgress:
    """A bar over points with an ETA on stderr, in the style of :class:`qsnnsim.cli.Progress`;
    silent unless stderr is a terminal."""

    def __init__(self, total: int, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, record: dict) -> None:
        self.done += 1
        self.failed += record["status"] != "ok"
        if not self.enabled:
            return
        now = time.monotonic()
        if self.done < self.total and now - self._drawn < 0.1:
            return
        self._drawn = now
        elapsed = now - self.started
        width = 30
        filled = int(width * self.done / max(1, self.total))
        eta = elapsed / self.done * (self.total - self.done)
        failed = f", {self.failed} failed" if self.failed else ""
        text = (f"sweeping [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} points{failed}"
                + (f", ETA {eta:.0f} s" if self.done < self.total and elapsed > 1.0 else ""))
        self.stream.write("\r" + text[:99].ljust(99))
        if self.done >= self.total:
            self.stream.write("\r" + " " * 99 + "\r")
        self.stream.flush()


def sweep_index(spec: SweepSpec, points: list[Point]) -> dict:
    """The sweep's index (``sweep.json``): what ``--report`` needs to rebuild the table."""
    return {
        "format": INDEX_FORMAT, "version": 1, "name": spec.name, "description": spec.description,
        "sweep_file": spec.file, "arch": spec.arch_path, "mode": spec.mode, "seed": spec.seed,
        "samples": spec.samples, "check": spec.check, "strategy": spec.strategy,
        "varied_keys": list(spec.varied_keys),
        "vary": [[k, list(v)] for k, v in spec.vary],
        "workloads": [{"given": r.given, "path": r.path, "sha256": r.sha256} for r in spec.workloads],
        "points": [{"key": p.key, "order": list(p.order), "workload": p.workload,
                    "values": [list(kv) for kv in p.values]} for p in points],
    }


def _write_outputs(folder: SweepFolder, index: dict) -> tuple[tuple, list[dict]]:
    from qsnnsim.sweep.report import render_report

    records = {}
    for entry in index["points"]:
        record = folder.read_point(entry["key"])
        if record is not None:
            records[entry["key"]] = record
    rows = build_rows(index, records)
    keys = index["varied_keys"]
    paths = (folder.write_file(TABLE_CSV, to_csv(rows, keys)),
             folder.write_file(TABLE_JSONL, to_jsonl(rows, keys)),
             folder.write_file(REPORT_HTML, render_report(index, rows)))
    return paths, rows


def _count(rows: list[dict], status: str) -> int:
    return sum(1 for r in rows if r["status"] == status)


def run_sweep(spec: SweepSpec, out_dir: str, executor: str = "processes", workers: int | None = None,
              scheduler: str | None = None, progress: bool = True) -> SweepSummary:
    """Run a checked sweep into ``out_dir``; finished points already stored there are not run again.

    Raises
    ------
    InputError
        The folder cannot be used, or the executor cannot start.
    """
    started = time.monotonic()
    points = sweep_points(spec)
    with SweepFolder(out_dir) as folder:
        index = sweep_index(spec, points)
        folder.write_file(SWEEP_JSON, json.dumps(index, indent=1, allow_nan=False) + "\n")
        todo = []
        for point in points:
            stored = folder.read_point(point.key)
            if stored is None or stored["status"] == "error":
                todo.append(point)
        bar = SweepProgress(len(todo)) if progress else None

        def on_record(point: Point, record: dict) -> None:
            folder.write_point(point.key, json.dumps(record, sort_keys=True, indent=1, allow_nan=False) + "\n")
            if bar is not None:
                bar.update(record)

        run_points(todo, on_record, executor=executor, workers=workers, scheduler=scheduler)
        paths, rows = _write_outputs(folder, index)
    return SweepSummary(n_points=len(points), n_run=len(todo), n_skipped=len(points) - len(todo),
                        n_ok=_count(rows, "ok"), n_failed=_count(rows, "failed"), n_error=_count(rows, "error"),
                        n_pending=_count(rows, "pending"), paths=paths, elapsed_s=time.monotonic() - started)


def report_sweep(out_dir: str) -> SweepSummary:
    """Re-render ``sweep.csv``, ``sweep.jsonl`` and ``report.html`` of a sweep folder from its stored points."""
    started = time.monotonic()
    with SweepFolder(out_dir, create=False) as folder:
        index = folder.read_sweep_json()
        try:
            paths, rows = _write_outputs(folder, index)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise folder.fail(SWEEP_JSON, f"is not a sweep index qsnnsim can read ({type(exc).__name__}: {exc})",
                              "re-run the sweep") from None
    n = len(rows)
    return SweepSummary(n_points=n, n_run=0, n_skipped=n, n_ok=_count(rows, "ok"), n_failed=_count(rows, "failed"),
                        n_error=_count(rows, "error"), n_pending=_count(rows, "pending"), paths=paths,
                        elapsed_s=time.monotonic() - started)
