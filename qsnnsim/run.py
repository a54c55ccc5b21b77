"""One design point, end to end: the one composition of the stages that every caller uses.

``run_point(arch, workload, samples=..., check=...)`` loads and validates the inputs, maps
the workload, simulates the samples one at a time (each sample's arrays are dropped once
its result entry is written), checks them against the golden model, estimates the energy
and returns a :class:`RunRecord`. The CLI (`qsnnsim run`), the bench, the tests and sweeps
call it; nothing else composes the stages.

A :class:`RunRecord` has two faces:

- typed headline figures in plain ints and floats (latency, energy per inference and its
  components, accuracy, footprint), for scripts and tables;
- ``result``: the run's result object exactly as ``result.json`` holds it (exact energies
  as whole pJ that add up, every counter), which :meth:`RunRecord.to_json` writes and
  :meth:`RunRecord.from_json` reads back: the headline figures are always derived from it,
  so a record and its file can never disagree.

Example::

    import qsnnsim
    record = qsnnsim.run_point("archs/tiny.yaml", "workloads/tiny_mlp.npz", samples=2)
    print(record.latency_cycles_mean, record.energy_per_inference_pj)
    record.save("reports/tiny")        # result.json + report.html, report.md, figures/, tables/
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qsnnsim.arch import ArchSpec, load_arch
from qsnnsim.errors import InputError
from qsnnsim.footprint import Footprint, compute_footprint
from qsnnsim.mapping import Mapping, map_workload
from qsnnsim.workload import Workload, load_workload

#: What the golden-model check covers: every sample, the first only, or none.
CHECKS = ("all", "first", "none")


@dataclass(frozen=True)
class SampleRecord:
    """One simulated sample's headline figures."""

    sample: int
    label: int | None
    predicted: int
    latency_cycles: int
    latency_us: float
    energy_pj: float
    synaptic_ops: int
    spikes: int
    packets: int
    matches_golden: bool | None  # None: not checked


@dataclass(frozen=True)
class RunRecord:
    """A run's headline figures (plain numbers) and its full result object (``result``).

    Build one with :func:`run_point` or :meth:`from_json`; every field but ``result`` is
    derived from ``result``.
    """

    run_id: str
    workload_name: str
    workload_path: str
    arch_name: str
    arch_path: str
    timesteps: int
    n_samples: int
    n_passes: int
    clock_mhz: float
    samples: tuple
    latency_cycles_mean: float
    latency_us_mean: float
    energy_per_inference_pj: float
    energy_components_pj: dict        # per inference, by component (docs/energy-model.md)
    synaptic_ops_per_inference: float
    n_labelled: int
    n_correct: int
    accuracy: float | None            # n_correct / n_labelled, None without labels
    check: str                        # "all" | "first" | "none"
    n_checked: int
    all_match: bool | None            # None when nothing was checked
    weight_bits: int
    float32_weight_bits: int
    membrane_bits: int
    mapped_sram_bits: int
    is_calibrated: bool               # calibrated, not trained: predictions mean nothing
    result: dict = field(repr=False)
    bottleneck: str = ""              # the first traced sample's bottleneck line (docs/timing-model.md §11)

    # ------------------------------------------------------------------ files

    def to_json(self) -> str:
        """``result.json``'s text (:func:`qsnnsim.report.files.dumps_result`)."""
        from qsnnsim.report.files import dumps_result

        return dumps_result(self.result)

    @classmethod
    def from_json(cls, text: str, source: str = "<result>") -> RunRecord:
        """A record from ``result.json`` text, checked like ``qsnnsim report`` checks it.

        Raises
        ------
        ResultError
            Naming the field that is missing or inconsistent.
        """
        from qsnnsim.report.files import parse_result

        return record_from_result(parse_result(text, source), source)

    @classmethod
    def load(cls, path: str) -> RunRecord:
        """A record from a ``result.json`` file (or a run folder holding one)."""
        from qsnnsim.report.files import read_result

        return record_from_result(read_result(path), path)

    def report(self, out_dir: str) -> list[str]:
        """Render the report (HTML, Markdown, figures, tables) into ``out_dir``; the files written."""
        from qsnnsim.report.render import build_report

        return build_report(self.result, out_dir, f"run {self.run_id}")

    def save(self, out_dir: str, report: bool = True) -> list[str]:
        """Write ``result.json`` (and the report) into ``out_dir``; the files written."""
        from qsnnsim.report.folder import OutputFolder

        with OutputFolder(out_dir) as folder:
            return write_outputs(self, folder, report)


def record_from_result(data: dict, source: str = "<result>", energy=None) -> RunRecord:
    """Derive a :class:`RunRecord`'s headline figures from a result object (checked).

    ``energy`` is the result's :class:`qsnnsim.energy.RunEnergy` when the caller has it already.
    """
    from qsnnsim.energy import energy_from_result

    if energy is None:
        energy = energy_from_result(data, source)
    wl, arch, fp = data["workload"], data["arch"], data["footprint"]
    entries = data["samples"]
    samples = []
    for entry, b in zip(entries, energy.samples):
        gold = entry.get("golden")
        ok = None if not isinstance(gold, dict) else bool(
            gold.get("readout_equal") and gold.get("spikes_equal") and gold.get("membranes_equal", True))
        samples.append(SampleRecord(
            sample=int(entry["sample"]), label=entry.get("label"), predicted=int(entry["predicted"]),
            latency_cycles=b.latency_cycles, latency_us=float(b.latency_us), energy_pj=float(b.total_pj),
            synaptic_ops=b.synaptic_ops, spikes=b.counts["spike"], packets=b.counts["packet"],
            matches_golden=ok))
    n = len(samples)
    labelled = [s for s in samples if s.label is not None]
    correct = sum(1 for s in labelled if s.label == s.predicted)
    checked = [s for s in samples if s.matches_golden is not None]
    run = energy.run
    return RunRecord(
        run_id=str(data.get("run_id", "")),
        workload_name=str(wl.get("name", "")), workload_path=str(wl.get("path", "")),
        arch_name=str(arch.get("name", "")), arch_path=str(arch.get("path", "")),
        timesteps=int(wl["timesteps"]), n_samples=n, n_passes=int(data["mapping"]["n_passes"]),
        clock_mhz=float(run.clock_mhz), samples=tuple(samples),
        latency_cycles_mean=run.latency_cycles / n, latency_us_mean=float(run.latency_us) / n,
        energy_per_inference_pj=float(run.energy_per_inference_pj),
        energy_components_pj={c: float(v) / n for c, v in run.by_component.items()},
        synaptic_ops_per_inference=run.synaptic_ops / n,
        n_labelled=len(labelled), n_correct=correct,
        accuracy=correct / len(labelled) if labelled else None,
        check=str(data.get("options", {}).get("check", "all")), n_checked=len(checked),
        all_match=all(s.matches_golden for s in checked) if checked else None,
        weight_bits=int(fp["weight_bits"]), float32_weight_bits=int(fp["float32_bits"]),
        membrane_bits=int(fp["membrane_bits"]),
        mapped_sram_bits=int(fp["mapped_weight_bits"] + fp["mapped_membrane_bits"] + fp["mapped_acc_bits"]),
        is_calibrated=wl.get("is_calibrated") is True,
        result=data,
        bottleneck=_bottleneck(entries),
    )


def _bottleneck(entries: list) -> str:
    from qsnnsim.report.critical import bottleneck_line

    for entry in entries:
        path = entry.get("critical_path") if isinstance(entry, dict) else None
        if isinstance(path, dict) and isinstance(path.get("units"), list):
            return f"sample {entry.get('sample')}: " + bottleneck_line(path)
    return ""


# ---------------------------------------------------------------------- the point


@dataclass(frozen=True, eq=False)
class PreparedPoint:
    """A point's loaded, validated and mapped inputs: everything before the simulation."""

    arch: ArchSpec
    workload: Workload
    mapping: Mapping
    footprint: Footprint
    samples: tuple
    arch_path: str
    workload_path: str
    strategy: str


def parse_samples(samples, n_available: int, workload_path: str = "<workload>") -> tuple:
    """``samples`` (a count, ``"all"``, or a list of indices) -> the sample indices to run."""
    if isinstance(samples, str):
        if samples == "all":
            return tuple(range(n_available))
        try:
            samples = int(samples)
        except ValueError:
            raise InputError("--samples", "", f"must be a positive number or 'all' (got {samples!r})",
                             "e.g. --samples 4") from None
    if isinstance(samples, (int, np.integer)) and not isinstance(samples, bool):
        n = int(samples)
        if n < 1:
            raise InputError("--samples", "", f"must be a positive number or 'all' (got {n})", "e.g. --samples 4")
        if n > n_available:
            raise InputError(workload_path, "samples", f"holds {n_available} sample(s), {n} asked",
                             f"use --samples {n_available} or --samples all")
        return tuple(range(n))
    try:
        indices = tuple(int(i) for i in samples if isinstance(i, (int, np.integer)) and not isinstance(i, bool))
        given = len(samples)
    except TypeError:
        indices, given = (), -1
    if not indices or len(indices) != given:
        raise InputError("samples", "", f"must be a count, 'all' or a list of sample indices (got {samples!r})",
                         "e.g. samples=4 or samples=[0, 5, 9]")
    bad = [i for i in indices if not 0 <= i < n_available]
    if bad:
        raise InputError(workload_path, "samples", f"has no sample {bad[0]}", f"give indices from 0 to {n_available - 1}")
    if len(set(indices)) != len(indices):
        raise InputError("samples", "", "lists a sample twice", "give each index once")
    return indices


def prepare_point(arch, workload, samples=1, strategy: str = "auto") -> PreparedPoint:
    """Load (when given paths) and validate the inputs, choose the samples, map and size the point.

    Raises
    ------
    InputError
        A bad file, a bad sample choice, or a network that cannot be mapped.
    """
    from qsnnsim.examples import resolve

    arch_path = "" if isinstance(arch, ArchSpec) else resolve(os.fspath(arch), "archs")[0]
    wl_path = "" if isinstance(workload, Workload) else resolve(os.fspath(workload), "workloads")[0]
    arch_spec = arch if isinstance(arch, ArchSpec) else load_arch(arch_path)
    wl = workload if isinstance(workload, Workload) else load_workload(wl_path)
    indices = parse_samples(samples, wl.n_samples, wl_path or wl.name)
    from qsnnsim.mapping import STRATEGIES

    if strategy not in STRATEGIES:
        raise InputError("strategy", "", f"must be one of {', '.join(STRATEGIES)} (got {strategy!r})",
                         "see docs/mapping.md")
    mapping = map_workload(wl, arch_spec, arch_path=arch_path, workload_path=wl_path, strategy=strategy)
    return PreparedPoint(arch_spec, wl, mapping, compute_footprint(wl, mapping, arch_spec), indices,
                         arch_path, wl_path, strategy)


def golden_check(workload: Workload, result, gold=None) -> dict:
    """Compare one simulated sample with the golden model: outputs, spikes and membranes.

    ``gold`` is the sample's :class:`qsnnsim.golden.GoldenResult` when it was computed
    already (e.g. on another thread); otherwise it is computed here.
    """
    if gold is None:
        from qsnnsim.golden import run_golden

        gold = run_golden(workload, result.sample)
    return {
        "predicted": gold.predicted,
        "readout_equal": bool(np.array_equal(gold.readout, result.readout)),
        "spikes_equal": all(np.array_equal(gold.spikes[k], v) for k, v in result.spikes.items()),
        "membranes_equal": all(np.array_equal(gold.membranes[k], v) for k, v in result.membranes.items()),
    }


#: Golden results computed ahead of the simulation, at most this many samples ahead.
GOLDEN_LOOKAHEAD = 2


def simulate_point(point: PreparedPoint, check: str = "first", trace: bool = False,
                   progress: Callable[[str, int, int], None] | None = None, run_id: str = "",
                   executor: str = "serial", workers: int | None = None, scheduler: str | None = None) -> RunRecord:
    """Simulate a prepared point's samples, check them and estimate the energy.

    ``run_id`` names the run in its result and manifest (default: :func:`content_id`).
    ``progress(stage, done, total)`` is called as samples advance (stage ``"simulate"``;
    ``done`` is fractional within a sample, moving with every fire) and as they are checked
    (``"check"``). ``executor`` (``serial``, ``processes``, ``dask``; :mod:`qsnnsim._parallel`)
    runs the samples in chunks on ``workers`` processes or a Dask cluster at ``scheduler``;
    the result is the same, byte for byte, as a serial run's.
    """
    if check not in CHECKS:
        raise InputError("--check", "", f"must be one of {', '.join(CHECKS)} (got {check!r})", "e.g. --check all")
    from qsnnsim.energy import energy_from_result, run_energy_to_dict
    from qsnnsim.report.files import ResultBuilder

    options = {"samples": list(point.samples), "check": check, "trace": trace, "strategy": point.strategy}
    builder = ResultBuilder(point.workload, point.arch, point.mapping, point.footprint, point.workload_path,
                            point.arch_path, options=options, trace=trace, run_id="")
    if executor == "serial":
        _simulate_into(builder, point, range(len(point.samples)), check, trace, progress)
    else:
        _simulate_chunks(builder, point, check, trace, progress, executor, workers, scheduler)
    data = builder.result()
    energy = energy_from_result(data, "<run>")
    data["energy"] = run_energy_to_dict(energy)
    data["run_id"] = run_id or content_id(data)
    return record_from_result(data, "<run>", energy)


def _simulate_into(builder, point: PreparedPoint, positions, check: str, trace: bool, progress) -> None:
    """Simulate ``point.samples`` into ``builder``; ``positions`` are their places in the run
    (a chunk's samples sit anywhere in it), which decide the first-sample check and trace."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from qsnnsim.golden import run_golden

    wl = point.workload
    positions = list(positions)
    to_check = [k for k, pos in enumerate(positions) if check == "all" or (check == "first" and pos == 0)]
    # The golden model (numpy matrix products, which release the GIL) runs on a second
    # thread, ahead of the engine: from the start it overlaps the engine's imports, plan
    # build and simulation, so a check costs about max(golden, engine) per sample, not the sum.
    # One BLAS thread: the engine holds the other core, and BLAS threads fighting it for a
    # core made the whole run slower than the two stages one after the other.
    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsnnsim-golden") as pool:
        golden_futures: dict = {}

        def look_ahead(k: int) -> None:
            for j in to_check:
                if k <= j < k + GOLDEN_LOOKAHEAD and j not in golden_futures:
                    golden_futures[j] = pool.submit(run_golden, wl, point.samples[j])

        look_ahead(0)
        from qsnnsim.engine.build import build_plan
        from qsnnsim.engine.simulate import pass_topology

        plan = build_plan(wl, point.arch, point.mapping, point.arch_path)
        topologies = [pass_topology(plan, p) for p in range(point.mapping.n_passes)]
        try:
            _simulate_samples(point, plan, topologies, builder, golden_futures, look_ahead, progress,
                              [bool(trace) or pos == 0 for pos in positions], record_packets=trace == "packets")
        finally:
            for future in golden_futures.values():
                future.cancel()  # an interrupted or failed run does not wait for checks it will not use


def simulate_chunk(task: tuple) -> tuple:
    """A worker's part of a chunked run: ``(arch path, workload path, strategy, sample indices,
    their positions in the run, check, trace)`` -> the chunk's sample entries, summed counters
    and link loads (:meth:`qsnnsim.report.files.ResultBuilder.absorb`)."""
    from qsnnsim.report.files import ResultBuilder

    arch_path, workload_path, strategy, indices, positions, check, trace = task
    point = prepare_point(arch_path, workload_path, list(indices), strategy)
    builder = ResultBuilder(point.workload, point.arch, point.mapping, point.footprint, trace=trace)
    _simulate_into(builder, point, positions, check, trace, None)
    return builder.parts()


#: A chunked run cuts its samples into about this many chunks per worker (load balance).
CHUNKS_PER_WORKER = 4


def _simulate_chunks(builder, point: PreparedPoint, check: str, trace: bool, progress, executor: str,
                     workers: int | None, scheduler: str | None) -> None:
    from qsnnsim._parallel import default_workers, map_tasks

    if not point.arch_path or not point.workload_path:
        raise InputError("--executor", executor, "needs the arch and workload as files (workers load them)",
                         "give paths, or run serially")
    total = len(point.samples)
    n_chunks = max(1, min(total, (workers or default_workers()) * CHUNKS_PER_WORKER))
    bounds = [round(i * total / n_chunks) for i in range(n_chunks + 1)]
    tasks = [(point.arch_path, point.workload_path, point.strategy, point.samples[a:b], list(range(a, b)),
              check, trace) for a, b in zip(bounds, bounds[1:]) if b > a]
    parts: list = [None] * len(tasks)
    done = [0]

    def on_result(i: int, part, error) -> None:
        if error is not None:
            raise error
        parts[i] = part
        done[0] += len(tasks[i][3])
        if progress is not None:
            progress("simulate", done[0], total)

    map_tasks(simulate_chunk, tasks, on_result, executor, workers, scheduler,
              key_prefix=f"qsnnsim-run-{os.getpid()}-{id(builder)}")
    for entries, counters, link_flits in parts:  # in the run's order, whatever order they finished in
        builder.absorb(entries, counters, link_flits)


def content_id(data: dict) -> str:
    """A run's id: a hash of its result (without the id), so the same inputs give the same id
    and the same bytes, whatever the thread count or hash seed, and different results
    different ids."""
    import hashlib

    from qsnnsim.report.files import dumps_result

    text = dumps_result({**data, "run_id": ""})
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def _simulate_samples(point, plan, topologies, builder, golden_futures, look_ahead, progress, traced,
                      record_packets: bool = False) -> None:
    """Simulate the samples in order, each compared with its golden result when one is due.
    ``traced[k]`` keeps sample k's trace and NoC figures; ``record_packets`` adds, to a traced
    sample, every packet's ejection and integrate start (``--trace packets``)."""
    from qsnnsim.engine.simulate import simulate_sample

    wl, total = point.workload, len(point.samples)
    for k, index in enumerate(point.samples):
        look_ahead(k)
        within = None if progress is None else (
            lambda fires_done, fires_total, k=k: progress("simulate", k + fires_done / fires_total, total))
        result = simulate_sample(plan, index, topologies, record_packets and traced[k], within,
                                 noc_figures=traced[k])
        if progress is not None:
            progress("simulate", k + 1, total)
        golden = None
        if k in golden_futures:
            golden = golden_check(wl, result, golden_futures.pop(k).result())
            if progress is not None:
                progress("check", k + 1, total)
        builder.add(result, golden, traced[k])
        del result  # its spikes and membranes go now, not at the end of the run


def run_point(arch, workload, samples=1, check: str = "first", strategy: str = "auto", trace: bool = False,
              progress: Callable[[str, int, int], None] | None = None) -> RunRecord:
    """Run one design point: ``arch`` on ``workload`` for ``samples``; returns its :class:`RunRecord`.

    Parameters
    ----------
    arch : str | os.PathLike | ArchSpec
        An architecture file (or a loaded spec); a shipped example's name (``archs/tiny.yaml``)
        works outside the checkout too (:mod:`qsnnsim.examples`).
    workload : str | os.PathLike | Workload
        A workload file (or a loaded workload), likewise.
    samples : int | "all" | list[int]
        How many samples from the first, all of them, or which ones.
    check : "first" | "all" | "none"
        Which samples are checked bit for bit against the golden model (default the first:
        the golden model computes the network densely and costs more than the simulation).
    strategy : str
        The mapping strategy (docs/mapping.md).
    trace : bool
        Keep every sample's per-core counters, fires and trains in the result (large).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Raises
    ------
    InputError
        Bad input or a network that cannot be mapped (one line: file, field, fix).
    """
    point = prepare_point(arch, workload, samples, strategy)
    return simulate_point(point, check=check, trace=trace, progress=progress)


def write_outputs(record: RunRecord, folder, report: bool = True) -> list[str]:
    """Stage ``result.json`` (and the report) and commit them into an open output folder.

    Returns the paths written: ``report.html`` first when there is a report, ``result.json``
    last.
    """
    stage = folder.stage()
    with open(os.path.join(stage, "result.json"), "w", encoding="utf-8") as fh:
        fh.write(record.to_json())
    if report:  # imported here: a --no-report run never loads the report's modules
        from qsnnsim.report.render import write_report_files

        write_report_files(record.result, stage, f"run {record.run_id}")
    return folder.commit(stage, record.run_id)


def record_fields() -> list[str]:
    """The names of a record's plain fields (what a sweep table takes as columns)."""
    return [f.name for f in dataclasses.fields(RunRecord) if f.name not in ("samples", "result")]
