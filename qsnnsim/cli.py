"""Command-line interface: `qsnnsim inspect | map | run | report | train`.

Loads the inputs, calls the stages in flow order and prints. Any InputError becomes one
line on stderr and exit status 2; nothing else in the package prints or exits.
"""

from __future__ import annotations

import argparse
import sys

from qsnnsim.errors import InputError


def _cmd_inspect(args) -> int:
    from qsnnsim.report.terminal import format_workload
    from qsnnsim.workload import load_workload

    wl = load_workload(args.workload)
    print(format_workload(wl, args.workload))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qsnnsim",
        description="Cycle-accurate simulator of quantized spiking neural networks on a neuromorphic core array.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("inspect", help="summarise a workload (.npz): populations, projections, weights, SOPs")
    p.add_argument("workload", help="workload file (.npz)")
    p.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
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
