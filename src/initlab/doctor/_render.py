"""Renderers: a rich terminal table and a self-contained HTML report.

Everything here reads tidy records and findings (a :class:`Diagnosis`) and
nothing else; no statistic is computed from a model or a tensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from initlab._report import check_output_dir, figure_to_html, html_table, write_report
from initlab.doctor._records import (
    Diagnosis,
    block_table,
    histograms,
    jacobian_rank,
    jacobian_values,
    write_records,
)
from initlab.doctor._verdicts import row_activation

__all__ = ["render_findings", "render_html", "render_table", "write_html"]

SEVERITY_STYLE = {"ok": "green", "info": "blue", "warning": "yellow", "error": "bold red"}
SEVERITY_RANK = {"ok": 0, "info": 1, "warning": 2, "error": 3}
MAX_HIST_LAYERS = 6
# Text columns of the findings table read better left-aligned.
LOCAL_STYLE = "<style>.findings td{text-align:left;vertical-align:top}</style>"


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, str):
        return value
    return format(value, spec)


def _flags(diagnosis: Diagnosis) -> dict[str, str]:
    worst: dict[str, str] = {}
    for f in diagnosis.findings:
        for layer in f.layers:
            if SEVERITY_RANK[f.severity] > SEVERITY_RANK.get(worst.get(layer, "ok"), 0):
                worst[layer] = f.severity
    return worst


def _bounded(row: dict[str, Any]) -> str:
    if "act_sat_frac" in row:
        return f"sat {row['act_sat_frac']:.0%}"
    if "dead_unit_frac" in row:
        return f"dead {row['dead_unit_frac']:.0%}"
    return ""


def _table_rows(diagnosis: Diagnosis) -> list[list[str]]:
    flags = _flags(diagnosis)
    rows = []
    for row in diagnosis.layers():
        weight = row["params"].get("weight", {})
        rows.append(
            [
                str(row["index"]),
                row["name"],
                row["type"],
                _fmt(row.get("act_mean")),
                _fmt(row.get("act_std")),
                _bounded(row),
                _fmt(row.get("grad_norm")),
                _fmt(weight.get("grad_ratio")),
                _fmt(weight.get("cond")),
                _fmt(weight.get("rank_frac"), ".0%") if "rank_frac" in weight else "–",
                flags.get(row["name"], ""),
            ]
        )
    return rows


TABLE_HEADER = (
    "#",
    "layer",
    "type",
    "mean",
    "std",
    "sat/dead",
    "‖grad‖",
    "‖g‖/‖w‖",
    "cond(W)",
    "rank",
    "verdict",
)


def render_table(diagnosis: Diagnosis) -> Any:
    """A ``rich.table.Table`` of the layers with key statistics and verdict flags."""
    from rich.table import Table

    table = Table(title=f"initlab doctor: {diagnosis.run}", caption=diagnosis.probe)
    for i, head in enumerate(TABLE_HEADER):
        table.add_column(head, justify="left" if i in (1, 2, 10) else "right")
    for cells in _table_rows(diagnosis):
        flag = cells[-1]
        cells[-1] = f"[{SEVERITY_STYLE[flag]}]{flag}[/]" if flag else ""
        table.add_row(*cells)
    return table


def render_findings(diagnosis: Diagnosis) -> Any:
    """A ``rich.table.Table`` of the findings (severity, message, recommendation)."""
    from rich.table import Table

    table = Table(title="findings", show_lines=True)
    for head in ("severity", "statistic", "finding", "recommendation"):
        table.add_column(head)
    for f in diagnosis.findings:
        style = SEVERITY_STYLE[f.severity]
        table.add_row(f"[{style}]{f.severity}[/]", f.statistic, f.message, f.recommendation)
    return table


# -- HTML ---------------------------------------------------------------------------------
def _pyplot() -> Any:
    from initlab._report import pyplot

    return pyplot()


def _depth_figure(diagnoses: Sequence[Diagnosis]) -> str:
    plt = _pyplot()
    fig, (ax_act, ax_grad) = plt.subplots(1, 2, figsize=(11, 3.8))
    for d in diagnoses:
        rows = d.layers()
        depth = list(range(len(rows)))
        ax_act.semilogy(depth, [max(r.get("act_std", 0.0), 1e-30) for r in rows], label=d.run)
        graded = [(i, r["grad_rms"]) for i, r in enumerate(rows) if r.get("grad_rms")]
        if graded:
            ax_grad.semilogy(*zip(*graded), label=d.run)
    ax_act.set(title="activation std by depth", xlabel="layer call (execution order)")
    ax_grad.set(
        title="output-gradient RMS (per element) by depth", xlabel="layer call (execution order)"
    )
    for ax in (ax_act, ax_grad):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_to_html(fig, "Activation std and output-gradient RMS against depth (log scale).")


def _pick(items: list[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return items
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def _hist_axes(ax: Any, diagnosis: Diagnosis, statistic: str, title: str) -> None:
    """Per-layer histograms, each on its own scale: x is value / the layer's max |value|.

    Layers' scales can be 1e14 apart (vanishing gradients); one shared linear axis
    would show one spike and overlapping ticks. The legend gives each layer's scale.
    """
    layers = {r["name"] for r in diagnosis.layers() if row_activation(r) is not None}
    found = histograms(diagnosis.records, diagnosis.run, statistic)
    chosen = [h for h in found if h[0] in layers] or found
    for name, low, high, counts in _pick(chosen, MAX_HIST_LAYERS):
        total = sum(counts) or 1.0
        peak = max(abs(low), abs(high)) or 1.0
        width = (high - low) / max(len(counts), 1) / peak
        centers = [low / peak + (i + 0.5) * width for i in range(len(counts))]
        density = [c / (total * width) if c > 0 else float("nan") for c in counts]
        ax.plot(centers, density, label=f"{name} (max |x| {peak:.2g})", lw=1.2)
    ax.set(title=title, ylabel="density", yscale="log", xlabel="value / layer's max |value|")
    ax.set_xlim(-1.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _hist_figure(diagnosis: Diagnosis) -> str:
    plt = _pyplot()
    fig, (ax_act, ax_grad) = plt.subplots(1, 2, figsize=(11, 3.6))
    _hist_axes(ax_act, diagnosis, "act_hist", "activation values per layer")
    _hist_axes(ax_grad, diagnosis, "grad_hist", "output-gradient values per layer")
    fig.tight_layout()
    caption = (
        f"{diagnosis.run}: per-layer histograms of activations and back-propagated gradients "
        "(as in Glorot & Bengio 2010), up to 6 layers evenly spaced in depth; each layer is "
        "scaled by its own largest magnitude (in the legend), densities on a log axis."
    )
    return figure_to_html(fig, caption)


def _bars_figure(diagnosis: Diagnosis) -> str:
    rows = [r for r in diagnosis.layers() if "act_sat_frac" in r or "dead_unit_frac" in r]
    if not any(r.get("act_sat_frac", 0.0) or r.get("dead_unit_frac", 0.0) for r in rows):
        return "<p class='note'>No saturated or dead units.</p>" if rows else ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.2))
    sat = [r.get("act_sat_frac", 0.0) for r in rows]
    dead = [r.get("dead_unit_frac", 0.0) for r in rows]
    positions = list(range(len(rows)))
    ax.bar([p - 0.2 for p in positions], sat, width=0.4, label="saturated fraction")
    ax.bar([p + 0.2 for p in positions], dead, width=0.4, label="dead-unit fraction")
    labels = [r["name"] for r in rows]
    step = max(1, len(rows) // 25)
    ax.set_xticks(positions[::step], labels[::step], rotation=60, fontsize=7)
    ax.set(ylim=(0, 1), title="saturation and dead units by layer")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_to_html(fig, f"{diagnosis.run}: saturated and dead-unit fractions.")


def _rank_note(d: Diagnosis) -> str:
    rank = jacobian_rank(d.records, d.run)
    if rank is None:
        return ""
    value, exact = rank
    return f"rank {value}" if exact else f"rank ≥ {value}"


def _jacobian_figure(diagnoses: Sequence[Diagnosis]) -> str:
    series = [(d, jacobian_values(d.records, d.run)) for d in diagnoses]
    series = [(d, sv) for d, sv in series if sv]
    if not series:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for d, sv in series:
        label = f"{d.run} ({_rank_note(d)})" if _rank_note(d) else d.run
        style = "o-" if len(sv) > 1 else "o"
        ax.semilogy(range(1, len(sv) + 1), sv, style, ms=4, label=label)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set(title="input–output Jacobian singular values (Lanczos estimate)", xlabel="index")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    caption = (
        "Dynamical isometry means all values near 1 (dashed line). Only values above the "
        "numerical-zero tolerance are shown; the legend gives the numerical rank "
        "(≥ when Lanczos stopped before exhausting the Krylov space)."
    )
    return figure_to_html(fig, caption)


def _residual_figure(diagnoses: Sequence[Diagnosis]) -> str:
    series = [(d.run, block_table(d.records, d.run)) for d in diagnoses]
    series = [(run, rows) for run, rows in series if len(rows) >= 2]
    if not series:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for run, rows in series:
        var = [max(float(r.get("act_std", 0.0)) ** 2, 1e-30) for r in rows]
        ax.semilogy(range(len(rows)), var, "o-", ms=3, label=run)
    ax.set(title="residual stream variance by block", xlabel="block")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_to_html(fig, "Signal propagation plot (Brock et al. 2021): block outputs.")


def _findings_html(diagnosis: Diagnosis) -> str:
    rows = [
        [
            f.severity,
            ", ".join(f.layers[:4]) + (" …" if len(f.layers) > 4 else ""),
            f.statistic,
            f.message,
            f.recommendation,
        ]
        for f in diagnosis.findings
    ]
    table = html_table(("severity", "layers", "statistic", "finding", "recommendation"), rows)
    for severity in SEVERITY_RANK:  # colour the severity cells
        table = table.replace(f"<td>{severity}</td>", f'<td class="sev-{severity}">{severity}</td>')
    return f"<div class='findings'>{table}</div>"


def _summary_html(diagnoses: Sequence[Diagnosis]) -> str:
    header = ("run", "verdict", "errors", "warnings", "final std", "grad RMS spread", "Jacobian sv")
    rows = []
    for d in diagnoses:
        layers = d.layers()
        grads = [r["grad_rms"] for r in layers if r.get("grad_rms")]
        sv = jacobian_values(d.records, d.run)
        counts = {s: sum(f.severity == s for f in d.findings) for s in SEVERITY_RANK}
        rows.append(
            [
                d.run,
                "healthy" if d.healthy else "problems",
                counts["error"],
                counts["warning"],
                _fmt(layers[-1].get("act_std") if layers else None),
                _fmt(max(grads) / min(grads) if grads else None),
                (f"{sv[-1]:.3g}–{sv[0]:.3g} ({_rank_note(d)})" if sv else "–"),
            ]
        )
    return "<h2>Summary</h2>" + html_table(header, rows)


def render_html(diagnoses: Sequence[Diagnosis]) -> list[str]:
    """HTML sections for one diagnosis or several runs side by side (comparison)."""
    sections = [LOCAL_STYLE, _summary_html(diagnoses)]
    sections.append("<h2>Signal propagation</h2>" + _depth_figure(diagnoses))
    sections.append(_jacobian_figure(diagnoses) + _residual_figure(diagnoses))
    for d in diagnoses:
        sections.append(f"<h2>Run: {_escape(d.run)}</h2><p class='note'>{_escape(d.probe)}</p>")
        sections.append("<h3>Findings</h3>" + _findings_html(d))
        sections.append(_hist_figure(d) + _bars_figure(d))
        sections.append("<h3>Layers</h3>" + html_table(TABLE_HEADER, _table_rows(d)))
    return sections


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def write_html(
    directory: str | Path, diagnoses: Diagnosis | Sequence[Diagnosis], *, title: str = ""
) -> Path:
    """Write ``directory/index.html`` plus ``records.json`` and ``records.csv``."""
    runs = [diagnoses] if isinstance(diagnoses, Diagnosis) else list(diagnoses)
    if not runs:
        raise ValueError("diagnoses is empty: nothing to report")
    directory = check_output_dir("directory", directory)
    directory.mkdir(parents=True, exist_ok=True)
    records = [r for d in runs for r in d.records]
    write_records(directory / "records.json", records)
    write_records(directory / "records.csv", records)
    title = title or "initlab doctor: " + ", ".join(d.run for d in runs)
    return write_report(directory / "index.html", title, render_html(runs))
