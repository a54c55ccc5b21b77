"""The sweep page: one self-contained HTML file with Pareto fronts and one plot per varied key.

Figures (matplotlib, imported only here and only when a page is rendered) are embedded as
PNG data, so ``report.html`` is one file written atomically. Per workload: energy per
inference against latency and against SRAM bits, every ok point drawn and its Pareto
front (no other point is at least as good on both axes and better on one) joined and
listed in a table; then, per varied key, energy and latency against the key's values.
Every text from a file is HTML-escaped; figure labels never start mathtext.
"""

from __future__ import annotations

import base64
import html
import io
import json


def pareto_front(points: list[tuple[float, float, int]]) -> list[int]:
    """Row ids of the points ``(x, y, id)`` no other point dominates (both minimised), by x."""
    front, best_y = [], None
    for _x, y, rid in sorted(points):
        if best_y is None or y < best_y:
            front.append(rid)
            best_y = y
    return front


def _label(text) -> str:
    text = str(text)
    return text.replace("$", r"\$")


def _value_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _scatter(plt, rows, xcol: str, xlabel: str, workload: str):
    ok = [(float(r[xcol]), float(r["energy_per_inference_pj"]), k) for k, r in enumerate(rows)]
    front = pareto_front(ok)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter([p[0] for p in ok], [p[1] / 1e6 for p in ok], s=14, color="#9bb", label="points")
    fx = [float(rows[k][xcol]) for k in front]
    fy = [float(rows[k]["energy_per_inference_pj"]) / 1e6 for k in front]
    ax.plot(fx, fy, "o-", color="#c33", ms=5, label="Pareto front")
    ax.set_xlabel(_label(xlabel))
    ax.set_ylabel("energy per inference (uJ)")
    ax.set_title(_label(workload), fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    png = _png(fig)
    plt.close(fig)
    return png, front


def _key_plot(plt, rows_by_workload: dict, key: str, values: list):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = [_value_text(v) for v in values]  # the sweep file's order, the same for every workload
    for workload, rows in rows_by_workload.items():
        ok = [r for r in rows if r["status"] == "ok" and _value_text(r[key]) in labels]
        for ax, col, scale, ylabel in ((axes[0], "energy_per_inference_pj", 1e6, "energy per inference (uJ)"),
                                       (axes[1], "latency_cycles", 1.0, "latency (cycles)")):
            xs = [labels.index(_value_text(r[key])) for r in ok]
            ax.scatter(xs, [float(r[col]) / scale for r in ok], s=12, label=_label(workload), alpha=0.7)
            ax.set_ylabel(ylabel)
        for ax in axes:
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels([_label(t)[:16] for t in labels], fontsize=8, rotation=30)
            ax.set_xlabel(_label(key))
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return png


def _table(rows: list[dict], ids: list[int], keys: list[str]) -> str:
    cols = ["variant", *keys, "latency_cycles", "energy_per_inference_pj", "sram_bits", "accuracy", "point_hash"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for k in ids:
        row = rows[k]
        cells = []
        for c in cols:
            v = row.get(c)
            text = "" if v is None else (f"{v:,.6g}" if isinstance(v, float) else _value_text(v))
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_report(index: dict, rows: list[dict]) -> str:
    """The page's HTML for a sweep index and its table rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(index["varied_keys"])
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    by_workload = {w: [r for r in rows if r["workload"] == w] for w in workloads}
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("ok", "failed", "error", "pending")}
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>qsnnsim sweep {html.escape(str(index.get('name', '')))}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1100px}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>Sweep {html.escape(str(index.get('name', '')))}</h1>",
        f"<p>{html.escape(str(index.get('description', '')))}</p>",
        f"<p>{len(rows)} points ({counts['ok']} ok, {counts['failed']} failed, {counts['error']} error, "
        f"{counts['pending']} pending) over {len(workloads)} workload(s); varied: "
        f"{html.escape(', '.join(keys))}. The full table is <code>sweep.csv</code> (and "
        "<code>sweep.jsonl</code>).</p>",
    ]
    failed = [r for r in rows if r["status"] in ("failed", "error")]
    if failed:
        parts.append("<h2>Points that did not run</h2><ul>")
        parts += [f"<li>variant {r['variant']}, {html.escape(r['workload'])}: {html.escape(r['error'])}</li>"
                  for r in failed[:50]]
        parts.append("</ul>" + (f"<p>... and {len(failed) - 50} more (sweep.csv)</p>" if len(failed) > 50 else ""))
    for workload, wrows in by_workload.items():
        ok = [r for r in wrows if r["status"] == "ok"]
        parts.append(f"<h2>{html.escape(workload)}</h2>")
        if not ok:
            parts.append("<p>No point of this workload ran.</p>")
            continue
        for xcol, xlabel, title in (("latency_cycles", "latency (cycles)", "energy vs latency"),
                                    ("sram_bits", "SRAM bits (weight + membrane + accumulator)", "energy vs SRAM")):
            png, front = _scatter(plt, ok, xcol, xlabel, workload)
            parts.append(f"<h3>Pareto front: {title}</h3><img src='data:image/png;base64,{png}' alt='{title}'>")
            parts.append(_table(ok, front, keys))
    if any(r["status"] == "ok" for r in rows):
        parts.append("<h2>Per varied key</h2>")
        vary = {k: list(v) for k, v in index.get("vary", [])}
        for key in keys:
            values = vary.get(key) or list(dict.fromkeys(_value_text(r[key]) for r in rows))
            png = _key_plot(plt, by_workload, key, values)
            parts.append(f"<h3>{html.escape(key)}</h3><img src='data:image/png;base64,{png}' alt='{html.escape(key)}'>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
