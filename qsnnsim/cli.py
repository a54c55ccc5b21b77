"""Command-line interface: `qsnnsim inspect | map | run | report | examples | train`.

Loads the inputs, calls the stages in flow order (a run through :func:`qsnnsim.run.run_point`'s
parts) and prints. Any InputError becomes one line on stderr and exit status 2; nothing else
in the package prints or exits.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time

from qsnnsim._spec import nearest
from qsnnsim.errors import DeadlockError, InputError

STRATEGIES = ("auto", "balanced", "proportional", "packed")  # qsnnsim.mapping.STRATEGIES, without importing it
CHECKS = ("all", "first", "none")  # qsnnsim.run.CHECKS, without importing it


# ---------------------------------------------------------------------- feedback


class Progress:
    """Feedback on stderr while a run works: a spinner for steps of unknown length (the first
    run's kernel compile, the report) and a bar with an ETA over samples. Silent unless
    stderr is a terminal, so logs and pipes get only the summary."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self._label = ""
        self._stop = threading.Event()
        self._thread = None

    def _write(self, text: str) -> None:
        import shutil

        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)  # never wrap: one line redrawn
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()

    def spin(self, label: str) -> None:
        """Show ``label`` with a spinner until :meth:`done` or the next bar update."""
        if not self.enabled:
            return
        self.done()
        self._label, self._stop = label, threading.Event()
        started = time.monotonic()

        def loop(stop=self._stop):
            frames = "|/-\\"
            k = 0
            while not stop.wait(0.1):
                self._write(f"{frames[k % 4]} {label} ({time.monotonic() - started:.0f} s)")
                k += 1

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def done(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._write("")
            self.stream.write("\r")
            self.stream.flush()

    def __call__(self, stage: str, done: float, total: int) -> None:
        """A :func:`qsnnsim.run.simulate_point` progress callback (``done`` may be fractional:
        it moves with every fire inside a sample)."""
        if not self.enabled:
            return
        now = time.monotonic()
        finished = done >= total and stage != "simulate" or (stage == "simulate" and done >= total)
        if not finished and now - getattr(self, "_drawn", 0.0) < 0.1:
            return  # at most ten redraws a second
        self._drawn = now
        self.done()
        if not hasattr(self, "started_samples"):
            self.started_samples = now
        elapsed = now - self.started_samples
        width = 30
        filled = int(width * done / total)
        # An ETA only once a tenth of the work (or a whole sample) is done: the first fires
        # of a run include numba's start-up and would promise hours.
        eta = elapsed / done * (total - done) if done >= min(1.0, 0.1 * total) else None
        verb = "simulating" if stage == "simulate" else "checking"
        shown = f"{done:.0f}" if float(done).is_integer() else f"{done:.1f}"
        self._write(f"{verb} [{'#' * filled}{'.' * (width - filled)}] {shown}/{total} samples"
                    + (f", ETA {eta:.0f} s" if eta is not None and not finished and elapsed > 1.0 else ""))
        if finished:
            self._write("")
            self.stream.write("\r")
            self.stream.flush()


def _kernels_compiled() -> bool:
    """Whether numba's cache holds compiled kernels (else the first run compiles them)."""
    import glob

    import qsnnsim.kernels as kernels

    if os.environ.get("NUMBA_CACHE_DIR"):  # numba then caches there and only there
        folders = [os.environ["NUMBA_CACHE_DIR"]]
    else:  # next to the source, or the user-wide cache when the package folder is read-only
        folders = [os.path.join(os.path.dirname(kernels.__file__), "__pycache__"),
                   os.path.join(os.path.expanduser("~"), ".cache", "numba")]
    return any(glob.glob(os.path.join(f, "**", "lif.*.nbi"), recursive=True) for f in folders)


# ---------------------------------------------------------------------- commands


def _resolve(path: str, kind: str) -> str:
    """The path itself, or the shipped example it names (said once on stderr)."""
    from qsnnsim.examples import resolve

    resolved, is_example = resolve(path, kind)
    if is_example:
        print(f"qsnnsim: {path}: not in this folder; using the shipped example", file=sys.stderr)
    return resolved


def _cmd_inspect(args) -> int:
    from qsnnsim.report.terminal import format_workload
    from qsnnsim.workload import load_workload

    path = _resolve(args.workload, "workloads")
    print(format_workload(load_workload(path), path))
    return 0


def _cmd_map(args) -> int:
    from qsnnsim.report.mapview import format_mapping
    from qsnnsim.run import prepare_point

    point = prepare_point(_resolve(args.arch, "archs"), _resolve(args.workload, "workloads"), 1, args.strategy)
    print(format_mapping(point.mapping, point.footprint, point.arch))
    return 0


def _stem(path: str) -> str:
    """A file's name without folder and extension, safe as part of a folder name."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(os.path.basename(path))[0]) or "run"


def _cmd_run(args) -> int:
    from qsnnsim.report.folder import OutputFolder
    from qsnnsim.report.summary import format_summary
    from qsnnsim.run import prepare_point, simulate_point, write_outputs

    progress = Progress()
    arch_path, wl_path = _resolve(args.arch, "archs"), _resolve(args.workload, "workloads")
    point = prepare_point(arch_path, wl_path, args.samples, args.strategy)
    if args.out is not None and not args.out.strip():
        raise InputError("--out", "", "is empty", "give a folder, or leave --out out for reports/<arch>-<workload>")
    out_dir = args.out or os.path.join("reports", f"{_stem(args.arch)}-{_stem(args.workload)}")
    # After the input checks (a network that cannot fit leaves no folder behind), before the
    # simulation (an unwritable or busy folder is known before the time is spent).
    with OutputFolder(out_dir) as folder:
        if not _kernels_compiled():
            progress.spin("compiling kernels, first run only (about 10-20 s)")
        else:
            progress.spin("building the plan")
        trace = {None: False, "trains": True, "packets": "packets"}[args.trace]
        record = simulate_point(point, check=args.check, trace=trace, progress=progress,
                                executor="dask" if args.scheduler else args.executor, workers=args.workers,
                                scheduler=args.scheduler)
        progress.spin("writing result.json" + ("" if args.no_report else " and the report"))
        try:
            paths = write_outputs(record, folder, report=not args.no_report)
        finally:
            progress.done()
    result_path = next(p for p in paths if p.endswith("result.json"))
    report_path = None if args.no_report else paths[0]
    print(format_summary(record, result_path, report_path))
    if record.all_match is False:
        print("qsnnsim: error: the simulation differs from the golden model (a simulator bug; please report it)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_report(args) -> int:
    from qsnnsim.report.files import read_result
    from qsnnsim.report.render import build_report

    source = args.result
    data = read_result(source)
    folder = source if os.path.isdir(source) else os.path.dirname(os.path.abspath(source))
    out_dir = args.out or folder
    progress = Progress()
    progress.spin("writing the report")
    try:
        paths = build_report(data, out_dir, source)
    finally:
        progress.done()
    print(f"report: {paths[0]} ({len(paths)} files: report.html, report.md, figures/*.svg, tables/*.csv)")
    return 0


def _cmd_import(args) -> int:
    from qsnnsim.importers.nir import ImportOptions, check_outputs, import_nir, write_import

    check_outputs(args.out, [args.model, args.samples], ".npz", args.model)
    options = ImportOptions(dialect=args.dialect, dt=args.dt, rule=args.rule, reset=args.reset,
                            weight_bits=args.weight_bits, membrane_bits=args.membrane_bits,
                            timesteps=args.timesteps, name=args.name)
    result = import_nir(args.model, args.samples, options)
    for line in write_import(result, args.out):
        print(line)
    return 0


def _cmd_export_nir(args) -> int:
    from qsnnsim.errors import NirImportError
    from qsnnsim.importers.nir import check_outputs
    from qsnnsim.workload import load_workload

    try:
        import nir
    except ImportError:
        raise NirImportError(args.workload, "", "export needs the nir package", 'pip install "qsnnsim[import]"') from None
    from qsnnsim.importers.nir_export import export_nir

    if not (args.dt > 0 and math.isfinite(args.dt)):
        raise NirImportError(args.out, "--dt", f"is {args.dt}", "give the timestep in seconds, e.g. 1e-4")
    path = _resolve(args.workload, "workloads")
    check_outputs(args.out, [path], ".nir", path)
    workload = load_workload(path)
    graph = export_nir(workload, dt=args.dt)
    try:
        nir.write(args.out, graph)
    except OSError as exc:
        raise NirImportError(args.out, "", f"cannot be written ({exc})", "choose a file in a folder you can write") from None
    resets = sorted(set(graph.metadata["resets"].values()))
    reset = "subtract" if resets == ["soft"] else "zero" if resets in ([], ["hard"]) else "per layer (see metadata)"
    units = "the original sample units" if "input_scale" in workload.provenance else "the workload's int8 codes"
    print(f"exported {path} -> {args.out}: {len(graph.nodes)} NIR nodes, {len(graph.edges)} edges; input in {units}")
    print(f"import it back: qsnnsim import {args.out} -o NEW.npz --samples SAMPLES.npz --dt {args.dt:g} "
          f"--reset {reset if reset in ('zero', 'subtract') else 'zero'}" + ("" if reset in ("zero", "subtract") else
                                                                           "  (resets differ by layer)"))
    return 0


def _cmd_examples(args) -> int:
    from qsnnsim.examples import list_examples

    for kind, label in (("archs", "architectures"), ("workloads", "workloads")):
        paths = list_examples(kind)
        print(f"{label} ({os.path.dirname(paths[0]) if paths else 'none shipped'}):")
        for path in paths:
            print(f"  {kind}/{os.path.basename(path)}")
    print("use them by these names, e.g. qsnnsim run archs/tiny.yaml workloads/tiny_mlp.npz")
    return 0


def _cmd_sweep(args) -> int:
    from qsnnsim.sweep.executors import EXECUTORS

    def refuse(problem: str, fix: str) -> InputError:
        return InputError("qsnnsim sweep", "", problem, fix)

    if args.report is not None:
        if args.sweep_file is not None or args.out is not None:
            raise refuse("--report DIR re-renders a finished sweep's page and takes no sweep file or --out",
                         "qsnnsim sweep --report DIR")
        from qsnnsim.sweep.runner import report_sweep

        summary = report_sweep(args.report)
        print(f"sweep: {summary.n_points} points ({summary.n_ok} ok, {summary.n_failed} failed, "
              f"{summary.n_error} error, {summary.n_pending} pending) -> {', '.join(summary.paths)}")
        return 0
    if args.sweep_file is None or args.out is None:
        raise refuse("needs a sweep file and --out DIR (or --report DIR)",
                     "qsnnsim sweep SWEEP.yaml --out DIR (docs/sweeps.md)")
    executor = args.executor or ("dask" if args.scheduler else "processes")
    if args.scheduler and executor != "dask":
        raise refuse(f"--scheduler needs --executor dask (got --executor {executor})", "drop one of the two")
    if executor not in EXECUTORS:
        raise refuse(f"--executor must be one of {', '.join(EXECUTORS)}", "e.g. --executor processes")
    if args.workers is not None and args.workers < 1:
        raise refuse(f"--workers must be at least 1 (got {args.workers})", "e.g. --workers 2")
    from qsnnsim.sweep.runner import run_sweep
    from qsnnsim.sweep.spec import load_sweep

    progress = Progress()
    progress.spin("checking the sweep file and every point's arch")
    try:
        spec = load_sweep(args.sweep_file)  # every check before the folder is touched: a bad file writes nothing
    finally:
        progress.done()
    summary = run_sweep(spec, args.out, executor=executor, workers=args.workers, scheduler=args.scheduler)
    print(f"sweep: {summary.n_points} points ({summary.n_run} run now, {summary.n_skipped} found done; "
          f"{summary.n_ok} ok, {summary.n_failed} failed, {summary.n_error} error) in {summary.elapsed_s:.1f} s "
          f"-> {', '.join(summary.paths)}")
    return 1 if summary.n_error else 0


# ---------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations, whose errors name the nearest known flag."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if "unrecognized arguments:" in message:
            known = [s for a in self._actions for s in a.option_strings]
            for word in message.split("unrecognized arguments:", 1)[1].split():
                flag = word.split("=", 1)[0]
                near = nearest(flag, known) if flag.startswith("-") else None
                if near:
                    message += f" (did you mean {near}?)"
                    break
        super().error(message)


def _add_strategy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="mapping: balanced spreads every layer over the cores; proportional gives each layer "
                        "neighbouring cores in proportion to its work; packed uses the fewest cores; auto "
                        "(default) is balanced on one chip and proportional on a system of chips (docs/mapping.md)")


def build_parser() -> argparse.ArgumentParser:
    from qsnnsim import __version__

    parser = _Parser(
        prog="qsnnsim",
        description="Cycle-accurate simulator of quantized spiking neural networks on a neuromorphic core array.",
    )
    parser.add_argument("--version", action="version", version=f"qsnnsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parser._subcommands = sub
    p = sub.add_parser("inspect", help="summarise a workload (.npz): populations, projections, weights, SOPs")
    p.add_argument("workload", help="workload file (.npz), or a shipped example's name (qsnnsim examples)")
    p.set_defaults(func=_cmd_inspect)
    p = sub.add_parser("map", help="map a workload onto an architecture: slices per core, passes, SRAM footprint")
    p.add_argument("arch", help="architecture file (.yaml), e.g. archs/core16.yaml")
    p.add_argument("workload", help="workload file (.npz)")
    _add_strategy(p)
    p.set_defaults(func=_cmd_map)
    p = sub.add_parser("run", help="simulate samples cycle-accurately: outputs, latency, counters, report files")
    p.add_argument("arch", help="architecture file (.yaml), e.g. archs/core16.yaml")
    p.add_argument("workload", help="workload file (.npz)")
    p.add_argument("--samples", default="1", metavar="N", help="how many samples to run, from the first, or 'all' (default 1)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where to write result.json and the report (default reports/<arch>-<workload>)")
    p.add_argument("--no-report", action="store_true",
                   help="write result.json only, no report.md/report.html/figures/tables (faster)")
    p.add_argument("--check", choices=CHECKS, default="first",
                   help="which samples are checked bit for bit against the golden model: the first (default; "
                        "the dense golden model costs about 3x a simulated sample), all, or none")
    p.add_argument("--trace", nargs="?", const="trains", choices=("trains", "packets"), default=None,
                   help="keep every sample's per-core counters, fires, trains and NoC figures in result.json "
                        "(large; without it only the first sample's, for the timeline and the NoC page); "
                        "'--trace packets' also keeps every packet's spike-buffer entry and integrate start "
                        "(docs/timing-model.md §9; small runs)")
    p.add_argument("--executor", choices=("serial", "processes", "dask"), default="serial",
                   help="run the samples in chunks on local processes or a Dask cluster (the sweep extra); "
                        "the result is identical to a serial run's (default serial)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes for --executor processes|dask (default: the CPUs available)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); implies --executor dask")
    _add_strategy(p)
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("report", help="re-render the report (Markdown, HTML, SVG, CSV) of a run from its result.json")
    p.add_argument("result", help="a result.json written by qsnnsim run, or its run folder")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (default: the result's folder)")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("sweep", help="design-space sweep: many arch variants x workloads, one table "
                       "(sweep.csv) and Pareto page; resumable (docs/sweeps.md)")
    p.add_argument("sweep_file", nargs="?", default=None, metavar="SWEEP.yaml", help="the sweep file")
    p.add_argument("--out", default=None, metavar="DIR", help="the sweep's folder (points/, sweep.csv, report.html)")
    p.add_argument("--executor", choices=("serial", "processes", "dask"), default=None,
                   help="serial, local processes (default) or Dask distributed (the sweep extra)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); without it --executor dask starts a LocalCluster")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (default: the CPUs available; ignored with --scheduler)")
    p.add_argument("--report", default=None, metavar="DIR", help="re-render DIR's table and page from its points")
    p.set_defaults(func=_cmd_sweep)
    p = sub.add_parser("import", help="import a NIR graph (.nir) as an integer workload, with its agreement "
                       "report (needs the import extra)")
    p.add_argument("model", metavar="MODEL.nir")
    p.add_argument("-o", "--out", required=True, metavar="WORKLOAD.npz", help="the workload to write")
    p.add_argument("--samples", required=True, metavar="SAMPLES.npz",
                   help="x: (N, *input) static or (N, T, *input) events; y: labels (optional)")
    p.add_argument("--dialect", default=None, choices=("qsnn_lif", "loihi_cuba"),
                   help="what LIF and IF nodes become (default: qsnn_lif, or loihi_cuba for a layer whose decays "
                        "differ by channel; CubaLIF always becomes loihi_cuba)")
    p.add_argument("--dt", type=float, default=1e-4, metavar="SECONDS",
                   help="timestep of the discretisation (default 1e-4, snnTorch's export)")
    p.add_argument("--rule", default="euler", choices=("euler", "exp"),
                   help="decay 1 - dt/tau (forward Euler, as snnTorch exports) or exp(-dt/tau)")
    p.add_argument("--reset", default=None, choices=("zero", "subtract"),
                   help="NIR does not say: reset to zero (the dialect's default) or by subtraction")
    p.add_argument("--weight-bits", type=int, default=8, metavar="N",
                   help="bits of a weight code (default 8; binary +-alpha weights stay 1-bit)")
    p.add_argument("--membrane-bits", type=int, default=16, metavar="N",
                   help="bits of a qsnn_lif membrane (default 16)")
    p.add_argument("--timesteps", type=int, default=None, metavar="T", help="T for a static input")
    p.add_argument("--name", default=None, help="the workload's name (default: the model file's)")
    p.set_defaults(func=_cmd_import)
    p = sub.add_parser("export-nir", help="write a workload as a NIR graph (.nir), for Lava, SpiNNaker2 or any "
                       "NIR consumer (needs the import extra)")
    p.add_argument("workload", metavar="WORKLOAD.npz")
    p.add_argument("-o", "--out", required=True, metavar="MODEL.nir", help="the NIR file to write")
    p.add_argument("--dt", type=float, default=1e-4, metavar="SECONDS", help="the timestep the graph's taus assume")
    p.set_defaults(func=_cmd_export_nir)
    p = sub.add_parser("examples", help="list the architectures and workloads shipped with qsnnsim")
    p.set_defaults(func=_cmd_examples)
    sub.add_parser("train", help="train a Q-SNN and export it as a workload (needs the train extra; see --help)",
                   add_help=False)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C (staging folder and lock released), exit status 143."""


def _terminate(signum, frame):
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if threading.current_thread() is threading.main_thread():
        import signal

        signal.signal(signal.SIGTERM, _terminate)
    if argv and argv[0] == "train":
        try:
            from qsnnsim.train.cli import main as train_main
        except ImportError as exc:
            print(f"qsnnsim: error: train needs PyTorch ({exc}); install it with "
                  "`pip install torch==2.13.0 && pip install -e .[train]`", file=sys.stderr)
            return 2
        return train_main(argv[1:])
    import errno

    def silence_stdout() -> None:
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # A misspelt flag gets the subcommand's usage and the nearest of its flags.
        target = parser._subcommands.choices.get(args.command, parser) if args.command else parser
        target.error("unrecognized arguments: " + " ".join(extras))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except InputError as exc:
        print(f"qsnnsim: error: {exc.line()}", file=sys.stderr)
        return 2
    except DeadlockError as exc:  # docs/timing-model.md §10.4: never a hang, never silence
        print(f"qsnnsim: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        print("qsnnsim: terminated" if terminated else "qsnnsim: interrupted", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        # `qsnnsim inspect ... | head`: the reader has gone; exit quietly.
        silence_stdout()
        return 0
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            raise
        silence_stdout()
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"qsnnsim: error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
