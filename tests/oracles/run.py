"""The oracle harness: qsnnsim's loihi_cuba and xylo_lif against Lava, xylosim and Loihi 2 silicon.

    python -m tests.oracles.run [--networks 500] [--steps 200] [--vendor loihi xylo]
                                [--seed 0] [--jobs 2] [--record] [--no-doc]

Creates the vendor venvs when missing (tests/oracles/venvs.py), draws random networks
(networks.py), runs them in the vendor's simulator as a subprocess in its venv
(lava_side.py, xylo_side.py: they write the traces to an .npz), computes the same traces
with qsnnsim (networks.qsnnsim_trace_*), compares every recorded value at every step, checks
the Loihi 2 silicon trace (silicon.py), prints the summary and writes it into
docs/oracles.md. ``--record`` also stores a small subset (10 networks x 50 steps per vendor)
of networks and vendor traces under tests/data/oracles/ for tests/oracles/test_recorded.py.
Exit status 1 when anything mismatches.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tests.oracles import networks, silicon, venvs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "oracles.md"
RECORDED = silicon.DATA
SIDE_SCRIPT = {"loihi": HERE / "lava_side.py", "xylo": HERE / "xylo_side.py"}
VENV = {"loihi": "lava", "xylo": "xylo"}
RECORD_NETWORKS, RECORD_STEPS = 10, 50
BEGIN, END = "<!-- oracle-results:begin -->", "<!-- oracle-results:end -->"


def run_vendor(vendor: str, nets: list[dict], jobs: int) -> list[dict]:
    """Vendor traces of ``nets``: ``jobs`` subprocesses in the vendor's venv, a chunk each."""
    python = str(venvs.ensure(VENV[vendor]))
    chunks = [c for c in np.array_split(np.arange(len(nets)), max(1, min(jobs, len(nets)))) if c.size]
    with tempfile.TemporaryDirectory(prefix=f"qsnnsim-oracle-{vendor}-") as tmp:

        def one(index: int, members: np.ndarray) -> list[dict]:
            nets_path = Path(tmp) / f"nets{index}.npz"
            out_path = Path(tmp) / f"traces{index}.npz"
            np.savez(nets_path, **networks.pack([nets[i] for i in members]))
            done = subprocess.run([python, str(SIDE_SCRIPT[vendor]), str(nets_path), str(out_path)],
                                  capture_output=True, text=True, cwd=tmp)
            if done.returncode != 0:
                raise RuntimeError(f"{vendor} side failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
            with np.load(out_path, allow_pickle=False) as flat:
                return networks.unpack(flat)

        with ThreadPoolExecutor(len(chunks)) as pool:
            parts = list(pool.map(one, range(len(chunks)), chunks))
    return [trace for part in parts for trace in part]


def variants(vendor: str, nets: list[dict], vendor_traces: list[dict]) -> dict:
    """Mismatching steps of the simpler rules the vendor's exact rule replaces (its quirks)."""
    keys = networks.KEYS[vendor]
    if vendor == "loihi":
        raw = [networks.qsnnsim_trace_loihi(net, drop_lsb=False) for net in nets]
        return {"weights used as given (no clip, no LSB drop)": networks.compare(vendor_traces, raw, keys)}
    summed = [networks.qsnnsim_trace_xylo(net, ordered=False) for net in nets]
    v2 = [i for i, net in enumerate(nets) if net["version"] == 2]
    v1_rule = [networks.qsnnsim_trace_xylo(nets[i], version=1) for i in v2]
    return {
        "events summed before one saturation": networks.compare(vendor_traces, summed, keys),
        "v1 membrane rule on the v2 networks": networks.compare([vendor_traces[i] for i in v2], v1_rule, keys),
    }


def check_vendor(vendor: str, n_networks: int, steps: int, seed: int, jobs: int, record: bool) -> dict:
    """Draw, run on both sides, compare; optionally record the small subset."""
    nets = networks.make_networks(vendor, n_networks, steps, seed)
    start = time.perf_counter()
    theirs = run_vendor(vendor, nets, jobs)
    vendor_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = [networks.QSNNSIM_TRACE[vendor](net) for net in nets]
    qsnnsim_s = time.perf_counter() - start
    result = networks.compare(theirs, ours, networks.KEYS[vendor])
    if vendor == "loihi":
        # The same networks (those that start at rest) through the whole workload path: a
        # workload file's projection with delay 1 and the golden model of DESIGN §2b.
        rest = [i for i, net in enumerate(nets) if not (net["u0"].any() or net["v0"].any())]
        through = [networks.qsnnsim_trace_loihi_workload(nets[i]) for i in rest]
        result["through_workload"] = networks.compare([theirs[i] for i in rest], through, networks.LOIHI_KEYS)
    result["variants"] = {name: {k: v[k] for k in ("networks", "mismatched_steps")}
                          for name, v in variants(vendor, nets, theirs).items()}
    result["seconds"] = {"vendor": round(vendor_s, 1), "qsnnsim": round(qsnnsim_s, 1)}
    if record:
        write_recorded(vendor, nets, theirs)
    return result


def truncate(item: dict, steps: int, time_keys) -> dict:
    return {k: (v[:steps] if k in time_keys else v) for k, v in item.items()}


def write_recorded(vendor: str, nets: list[dict], traces: list[dict]) -> None:
    """First RECORD_NETWORKS networks, first RECORD_STEPS steps (traces are causal: a prefix
    of the input gives a prefix of the trace)."""
    input_key = {"loihi": "spikes", "xylo": "counts"}[vendor]
    small_nets = [truncate(n, RECORD_STEPS, {input_key}) for n in nets[:RECORD_NETWORKS]]
    small_traces = [truncate(t, RECORD_STEPS, set(t)) for t in traces[:RECORD_NETWORKS]]
    RECORDED.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(RECORDED / f"{vendor}_nets.npz", **networks.pack(small_nets))
    np.savez_compressed(RECORDED / f"{vendor}_traces.npz", **networks.pack(small_traces))


def live_silicon_network() -> dict:
    """The NIR network run in Lava here, against the paper's Lava CPU file and against qsnnsim."""
    csv = silicon.load_csv(silicon.LAVA_CPU_CSV)
    net = silicon.nir_network(csv["input"])
    (trace,) = run_vendor("loihi", [net], 1)
    ours = networks.qsnnsim_trace_loihi(net)
    return {"lava_here_vs_lava_cpu_csv": silicon.matching_steps(trace, csv),
            "lava_here_vs_qsnnsim": networks.compare([trace], [ours], networks.LOIHI_KEYS)["mismatched_steps"]}


def summary_markdown(command: str, results: dict) -> str:
    lines = [f"Command: `{command}`", "", f"Run: {results['date']} (Python {sys.version.split()[0]})", ""]
    lines += ["| vendor | networks | steps | values compared | mismatched steps | first mismatch | vendor s | qsnnsim s |",
              "|---|---|---|---|---|---|---|---|"]
    for vendor, name in (("loihi", "lava-nc 0.10 PyLifModelBitAcc + Dense"), ("xylo", "xylosim 0.1.3 XyloLayer")):
        if vendor in results:
            r = results[vendor]
            first = json.dumps(r["first_mismatch"]) if r["first_mismatch"] else "none"
            lines.append(f"| {name} | {r['networks']} | {r['steps']} | {r['values']} | {r['mismatched_steps']} | "
                         f"{first} | {r['seconds']['vendor']} | {r['seconds']['qsnnsim']} |")
    if "through_workload" in results.get("loihi", {}):
        r = results["loihi"]["through_workload"]
        lines += ["", f"Through a workload (`tests/oracles/networks.py: loihi_workload`; the {r['networks']} networks "
                  f"that start at rest, as a workload's neurons do): {r['steps']} steps, {r['values']} values, "
                  f"{r['mismatched_steps']} mismatched steps."]
    lines += ["", "What the vendor's exact rule changes (mismatched steps of a simpler rule, same networks):", ""]
    for vendor in ("loihi", "xylo"):
        for name, v in results.get(vendor, {}).get("variants", {}).items():
            lines.append(f"- {vendor}: {name}: {v['mismatched_steps']} mismatched steps over {v['networks']} networks")
    lines += ["", "Loihi 2 silicon (NIR paper trace, 1000 steps, spikes and v):", ""]
    for name, v in results["silicon"].items():
        if isinstance(v, dict):
            lines.append(f"- {name}: {v['matching']}/{v['steps']} steps match; differ at {v['differ_at']}")
        else:
            lines.append(f"- {name}: {v} mismatched steps")
    return "\n".join(lines)


def write_doc(markdown: str) -> None:
    """Replace the results block of docs/oracles.md (between its two markers)."""
    text = DOC.read_text() if DOC.exists() else f"# Oracles\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n{markdown}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.oracles.run", description=__doc__.split("\n")[0])
    parser.add_argument("--networks", type=int, default=500, help="random networks per vendor (default 500)")
    parser.add_argument("--steps", type=int, default=200, help="timesteps per network (default 200)")
    parser.add_argument("--vendor", nargs="+", choices=["loihi", "xylo"], default=["loihi", "xylo"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="vendor subprocesses in parallel (default 2)")
    parser.add_argument("--record", action="store_true", help="rewrite the recorded subset in tests/data/oracles")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the results in docs/oracles.md")
    args = parser.parse_args(argv)
    command = "python -m tests.oracles.run " + " ".join(argv if argv is not None else sys.argv[1:])

    results = {"date": datetime.date.today().isoformat(), "silicon": silicon.compare_silicon()}
    if "loihi" in args.vendor:
        results["silicon"].update(live_silicon_network())
    for vendor in args.vendor:
        results[vendor] = check_vendor(vendor, args.networks, args.steps, args.seed, args.jobs, args.record)
    markdown = summary_markdown(command.strip(), results)
    print(markdown)
    if not args.no_doc:
        write_doc(markdown)
    sil = results["silicon"]
    ok = all(results[v]["mismatched_steps"] == 0 for v in args.vendor)
    ok &= sil["silicon_option_vs_silicon"]["matching"] == 1000 and sil["lava_rule_vs_lava_cpu_csv"]["matching"] == 1000
    ok &= sil.get("lava_here_vs_qsnnsim", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
