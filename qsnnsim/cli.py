"""Command-line interface: `qsnnsim inspect | map | run | report | train`.

Loads the inputs, calls the stages in flow order and prints. Any InputError becomes one
line on stderr and exit status 2; nothing else in the package prints or exits.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from qsnnsim.errors import InputError

STRATEGIES = ("balanced", "proportional", "packed")  # qsnnsim.mapping.STRATEGIES, without importing it


def _cmd_inspect(args) -> int:
    from qsnnsim.report.terminal import format_workload
    from qsnnsim.workload import load_workload

    wl = load_workload(args.workload)
    print(format_workload(wl, args.workload))
    return 0


def _cmd_map(args) -> int:
    from qsnnsim.arch import load_arch
    from qsnnsim.footprint import compute_footprint
    from qsnnsim.mapping import map_workload
    from qsnnsim.report.mapview import format_mapping
    from qsnnsim.workload import load_workload

    arch = load_arch(args.arch)
    wl = load_workload(args.workload)
    mapping = map_workload(wl, arch, arch_path=args.arch, workload_path=args.workload, strategy=args.strategy)
    print(format_mapping(mapping, compute_footprint(wl, mapping, arch), arch))
    return 0


def _progress_printer(label: str):
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total)
        rate = (time.monotonic() - started) / done
        print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} samples, {rate:.1f} s/sample",
              end="" if done < total else "\n", file=sys.stderr, flush=True)

    return show


def _parse_samples(text: str, n_available: int, workload_path: str) -> list[int]:
    if text == "all":
        return list(range(n_available))
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError("--samples", "", f"must be a positive number or 'all' (got {text!r})", "e.g. --samples 4")
    if n > n_available:
        raise InputError(workload_path, "samples", f"holds {n_available} sample(s), {n} asked",
                         f"use --samples {n_available} or --samples all")
    return list(range(n))


def _stem(path: str) -> str:
    """A file's name without folder and extension, safe as part of a folder name."""
    import os
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(os.path.basename(path))[0]) or "run"


def _check_writable_folder(out_dir: str) -> None:
    """Fail before simulating, in one line, if the output folder cannot be made or written."""
    import os
    import tempfile

    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(out_dir, "", "is a file, not a folder", "give --out a folder for result.json and the report")
    try:
        os.makedirs(out_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise InputError(out_dir, "", f"cannot be written ({exc.strerror or exc})",
                         "give --out a folder you can write") from None


def _cmd_run(args) -> int:
    import os

    from qsnnsim.arch import load_arch
    from qsnnsim.energy import estimate_run_energy, run_energy_to_dict
    from qsnnsim.engine.simulate import simulate
    from qsnnsim.footprint import compute_footprint
    from qsnnsim.golden import run_golden
    from qsnnsim.mapping import map_workload
    from qsnnsim.report.files import run_to_dict, write_json_atomic
    from qsnnsim.report.render import build_report
    from qsnnsim.report.terminal import format_run
    from qsnnsim.workload import load_workload

    arch = load_arch(args.arch)
    wl = load_workload(args.workload)
    samples = _parse_samples(args.samples, wl.n_samples, args.workload)
    out_dir = args.out or os.path.join("reports", f"{_stem(args.arch)}-{_stem(args.workload)}")
    mapping = map_workload(wl, arch, arch_path=args.arch, workload_path=args.workload, strategy=args.strategy)
    footprint = compute_footprint(wl, mapping, arch)
    # After the input checks (a network that cannot fit leaves no empty folder behind),
    # before the simulation (an unwritable folder is known before the time is spent).
    _check_writable_folder(out_dir)
    run = simulate(wl, arch, mapping, samples=samples, progress=_progress_printer("simulating"), arch_file=args.arch)
    checks = []
    for result in run.samples:
        gold = run_golden(wl, result.sample)
        same_spikes = all(np.array_equal(gold.spikes[name], result.spikes[name]) for name in result.spikes)
        same_membranes = all(np.array_equal(gold.membranes[name], result.membranes[name]) for name in result.membranes)
        checks.append({
            "predicted": gold.predicted,
            "readout_equal": bool(np.array_equal(gold.readout, result.readout)),
            "spikes_equal": bool(same_spikes),
            "membranes_equal": bool(same_membranes),
        })
    energy = estimate_run_energy([s.counters for s in run.samples], arch)
    result_path = os.path.join(out_dir, "result.json")
    data = run_to_dict(run, footprint, checks, args.workload, args.arch)
    data["energy"] = run_energy_to_dict(energy)
    write_json_atomic(result_path, data)
    report_path = None
    if not args.no_report:
        report_path = build_report(data, out_dir, result_path)[0]
    print(format_run(run, footprint, checks, result_path, energy, report_path))
    if not all(c["readout_equal"] and c["spikes_equal"] and c["membranes_equal"] for c in checks):
        print("qsnnsim: error: the simulation differs from the golden model (a simulator bug; please report it)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_report(args) -> int:
    import os

    from qsnnsim.report.files import read_result
    from qsnnsim.report.render import build_report

    data = read_result(args.result)
    out_dir = args.out or os.path.dirname(os.path.abspath(args.result))
    paths = build_report(data, out_dir, args.result)
    print(f"report: {paths[0]} ({len(paths)} files: report.md, figures/*.png, tables/*.csv)")
    return 0


def _add_strategy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", choices=STRATEGIES, default="balanced",
                   help="mapping: balanced spreads every layer over the cores; proportional gives each layer "
                        "neighbouring cores in proportion to its work; packed uses the fewest cores (docs/mapping.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qsnnsim",
        description="Cycle-accurate simulator of quantized spiking neural networks on a neuromorphic core array.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("inspect", help="summarise a workload (.npz): populations, projections, weights, SOPs")
    p.add_argument("workload", help="workload file (.npz)")
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
                   help="write result.json only, no report.md/report.html/figures/tables")
    _add_strategy(p)
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("report", help="re-render the report (Markdown, HTML, PNG, CSV) of a run from its result.json")
    p.add_argument("result", help="a result.json written by qsnnsim run")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (default: the result's folder)")
    p.set_defaults(func=_cmd_report)
    sub.add_parser("train", help="train a Q-SNN and export it as a workload (needs the train extra; see --help)",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "train":
        try:
            from qsnnsim.train.cli import main as train_main
        except ImportError as exc:
            print(f"qsnnsim: error: train needs PyTorch ({exc}); install it with "
                  "`pip install torch==2.13.0 && pip install -e .[train]`", file=sys.stderr)
            return 2
        return train_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"qsnnsim: error: {exc.line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qsnnsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
