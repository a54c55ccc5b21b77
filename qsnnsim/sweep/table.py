"""The sweep table: one row per (arch variant, workload), columns defined once, CSV and JSON lines.

Rows follow the sweep's own order (grid order of the variants, then the workloads in file
order), never the order points finished in, and every value comes from the stored point
records, so serial, process and Dask runs of one sweep write byte-identical tables.

Columns (docs/sweeps.md): ``variant`` and ``workload``, one column per varied key (named by
the key, e.g. ``core.synapse_lanes``), ``status`` and ``error``, then the figures of
:data:`FIGURE_COLUMNS` and ``point_hash``. A number is written exactly (``repr``), an absent
value (a failed point's figures, accuracy without labels) as an empty cell; a text cell
starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'`` so a
spreadsheet never runs it.
"""

from __future__ import annotations

import csv
import io
import json

from qsnnsim.energy import COMPONENTS

#: (column, what it holds) of the figures, after the varied keys; units are in the names.
FIGURE_COLUMNS = (
    ("latency_cycles", "mean latency of one inference (cycles)"),
    ("latency_us", "mean latency of one inference (us at the arch's clock)"),
    ("energy_per_inference_pj", "total energy per inference, dynamic and leakage (pJ)"),
    ("top_components", "the three largest energy components and their shares"),
    *((f"energy_{c}_pj", f"energy per inference in the {c} component (pJ)") for c in COMPONENTS),
    ("weight_sram_bits", "bits the mapping holds in weight SRAM over all cores"),
    ("membrane_sram_bits", "bits the mapping holds in membrane SRAM over all cores"),
    ("acc_sram_bits", "bits the mapping holds in accumulator SRAM over all cores"),
    ("sram_bits", "weight + membrane + accumulator SRAM bits"),
    ("spike_buffer_bits", "spike input buffer bits over the cores used"),
    ("accuracy", "share of labelled samples predicted right (empty without labels)"),
    ("n_labelled", "labelled samples run"),
    ("n_samples", "samples run"),
    ("n_passes", "passes the network needs on the chip"),
    ("synaptic_ops_per_inference", "synaptic operations per inference"),
    ("weight_bits", "bits of the network's weights"),
    ("membrane_bits", "bits of the network's membranes"),
    ("all_match", "every checked sample equals the golden model (empty: none checked)"),
    ("point_hash", "the point's key: its file under points/"),
)
LEAD_COLUMNS = (("variant", "the arch variant's place in the sweep (grid order)"),
                ("workload", "the workload file as the sweep file names it"))
STATUS_COLUMNS = (("status", "ok, failed (its error: e.g. the network does not fit), error (the worker "
                   "failed; re-run next time) or pending (not run yet)"),
                  ("error", "the one-line error of a point that did not run"))
TOP_N = 3
#: The entries of a point's figures the table reads (a stored record without them is run again).
RECORD_KEYS = ("latency_cycles_mean", "latency_us_mean", "energy_per_inference_pj", "energy_components_pj",
               "mapped_weight_bits", "mapped_membrane_bits", "mapped_acc_bits", "spike_buffer_bits", "accuracy",
               "n_labelled", "n_samples", "n_passes", "synaptic_ops_per_inference", "weight_bits",
               "membrane_bits", "all_match")


def columns(varied_keys) -> list[str]:
    """Every column of a sweep's table, in order."""
    return [c for c, _ in LEAD_COLUMNS] + list(varied_keys) + [c for c, _ in STATUS_COLUMNS] + \
        [c for c, _ in FIGURE_COLUMNS]


def _figures(fig: dict) -> dict:
    comps = fig["energy_components_pj"]
    total = fig["energy_per_inference_pj"]
    top = sorted(comps.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    sram = fig["mapped_weight_bits"] + fig["mapped_membrane_bits"] + fig["mapped_acc_bits"]
    return {
        "latency_cycles": fig["latency_cycles_mean"], "latency_us": fig["latency_us_mean"],
        "energy_per_inference_pj": total,
        "top_components": ", ".join(f"{c} {100 * v / total:.1f}%" if total else f"{c} 0%" for c, v in top),
        **{f"energy_{c}_pj": comps.get(c, 0.0) for c in COMPONENTS},
        "weight_sram_bits": fig["mapped_weight_bits"], "membrane_sram_bits": fig["mapped_membrane_bits"],
        "acc_sram_bits": fig["mapped_acc_bits"], "sram_bits": sram, "spike_buffer_bits": fig["spike_buffer_bits"],
        "accuracy": fig["accuracy"], "n_labelled": fig["n_labelled"], "n_samples": fig["n_samples"],
        "n_passes": fig["n_passes"], "synaptic_ops_per_inference": fig["synaptic_ops_per_inference"],
        "weight_bits": fig["weight_bits"], "membrane_bits": fig["membrane_bits"], "all_match": fig["all_match"],
    }


def build_rows(index: dict, records: dict) -> list[dict]:
    """The table's rows from a sweep index (``sweep.json``) and the stored records by key."""
    keys = index["varied_keys"]
    rows = []
    for entry in index["points"]:
        record = records.get(entry["key"])
        row = {"variant": entry["order"][0], "workload": entry["workload"]}
        values = dict((k, v) for k, v in entry["values"])
        row.update({k: values.get(k) for k in keys})
        row["status"] = record["status"] if record else "pending"
        row["error"] = record["error"] if record else ""
        figures = _figures(record["figures"]) if record and record["status"] == "ok" else {}
        row.update({c: figures.get(c) for c, _ in FIGURE_COLUMNS})
        row["point_hash"] = entry["key"]
        rows.append(row)
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, dict)):
        value = json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: list[dict], varied_keys) -> str:
    """The table as CSV text (header = :func:`columns`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cols = columns(varied_keys)
    writer.writerow(cols)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in cols])
    return out.getvalue()


def to_jsonl(rows: list[dict], varied_keys) -> str:
    """The table as JSON lines (one object per row, keys in column order)."""
    cols = columns(varied_keys)
    return "".join(json.dumps({c: row.get(c) for c in cols}, ensure_ascii=False, allow_nan=False) + "\n"
                   for row in rows)
