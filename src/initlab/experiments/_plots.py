"""The pieces every experiment's report is made of, read only from tidy records.

Each experiment's module renders its own figures with these helpers (:func:`band`,
:func:`aggregate_table`); :func:`render_result` frames them: title, description,
the source-check table (ours beside the published figure and its citation), then
the experiment's figures and tables. Bands are the min–max over seeds around the mean.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from initlab._report import figure_to_html as _figure_to_html
from initlab._report import html_table, pyplot, write_report
from initlab.experiments._base import ExperimentResult, Record, Source, aggregate, json_ready
from initlab.experiments._registry import EXPERIMENTS

__all__ = [
    "COLORS",
    "aggregate_table",
    "band",
    "figure_to_html",
    "pyplot",
    "render_result",
    "seed_curves",
    "write_results",
]

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def figure_to_html(fig: Any, caption: str = "") -> str:
    """Lay the figure out tightly, then embed it."""
    fig.tight_layout()
    return _figure_to_html(fig, caption)


def seed_curves(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    """(index, values[seed, index]) from one setting's curve records; None → NaN."""
    index = sorted({float(r.index) for r in records if r.index is not None})
    seeds = sorted({r.seed for r in records if r.seed is not None})
    pos = {x: i for i, x in enumerate(index)}
    values = np.full((len(seeds), len(index)), np.nan)
    for r in records:
        if r.index is not None and r.seed is not None and isinstance(r.value, (int, float)):
            values[seeds.index(r.seed), pos[float(r.index)]] = float(r.value)
    return np.asarray(index), values


def band(
    ax: Any,
    result: ExperimentResult,
    setting: str,
    metric: str,
    color: str,
    label: str | None = None,
    ls: str = "-",
) -> Any:
    """Mean over seeds as a line, min–max over seeds as a shaded band; returns the line."""
    x, values = seed_curves(result.select(setting=setting, metric=metric))
    if values.size == 0:
        return None
    ok = np.isfinite(values).any(axis=0)  # columns where at least one seed is finite
    mean = np.nanmean(values[:, ok], axis=0)
    low, high = np.nanmin(values[:, ok], axis=0), np.nanmax(values[:, ok], axis=0)
    n = values.shape[0]
    (line,) = ax.plot(
        x[ok], mean, color=color, ls=ls, lw=1.8, label=f"{label or setting} ({n} seeds)"
    )
    if n > 1:
        ax.fill_between(x[ok], low, high, color=color, alpha=0.2, lw=0)
    return line


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def citation_html(source: Source) -> str:
    """The citation, linked to its address when it has one."""
    text = html.escape(source.citation)
    return f"<a href='{html.escape(source.url)}'>{text}</a>" if source.url else text


def _cite(source: Source | None) -> str:
    return "" if source is None else f" [{citation_html(source)}]"


def findings_table(result: ExperimentResult, source: Source | None = None) -> str:
    """Each claim checked against the source: ours beside the published figure; a check
    citing another work than the experiment's ``source`` names it in its row."""
    if not result.findings:
        return ""
    verdicts = {True: "<td class='sev-ok'>agrees</td>", False: "<td class='sev-error'>differs</td>"}
    rows = [
        "<tr>"
        + f"<td>{html.escape(f.claim)}</td><td>{html.escape(f.ours)}</td>"
        + f"<td>{html.escape(f.published or '—')}{_cite(None if f.source == source else f.source)}"
        + "</td>"
        + verdicts.get(f.agrees, "<td>—</td>")  # type: ignore[arg-type]
        + "</tr>"
        for f in result.findings
    ]
    head = "".join(
        f"<th>{h}</th>"
        for h in ("claim", "ours (mean, min–max over seeds)", "published", "verdict")
    )
    body = "".join(rows)
    return f"<table class='findings'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def aggregate_table(result: ExperimentResult, metrics: Sequence[str] | None = None) -> str:
    agg = aggregate(result.records)
    rows = []
    for setting, by_metric in agg.items():
        for metric, s in by_metric.items():
            if (metrics is not None and metric not in metrics) or s["n"] == 0:
                continue
            rows.append(
                (
                    setting,
                    metric,
                    _fmt(s["mean"]),
                    _fmt(s["std"]),
                    _fmt(s["min"]),
                    _fmt(s["max"]),
                    f"{s['n']}" + (f" (+{s['missing']} none)" if s["missing"] else ""),
                )
            )
    if not rows:
        return ""
    return html_table(("setting", "metric", "mean", "std", "min", "max", "seeds"), rows)


def render_result(result: ExperimentResult) -> str:
    """One ``<section>``: title, description, source checks, figures, tables."""
    exp = EXPERIMENTS.get(result.name)
    renderer = exp.render if exp is not None else lambda r: [aggregate_table(r)]
    doc = exp.doc if exp is not None else ""
    parts = [
        f"<section id='{html.escape(result.name)}'><h2>{html.escape(result.name)}: {html.escape(result.title)}</h2>"  # noqa: E501
    ]
    if doc:
        paragraphs = doc.split("\n\n")[1:] or [doc]
        parts += [
            f"<p>{html.escape(' '.join(p.replace('``', '').split()))}</p>" for p in paragraphs
        ]
    seeds = result.config.get("seeds")
    parts.append(
        f"<p class='note'>Seeds: {seeds} · device: {html.escape(str(result.config.get('device')))} · wall time {result.seconds:.1f} s</p>"  # noqa: E501
    )
    if exp is not None and exp.source is not None:
        parts.append(f"<p>Source: {citation_html(exp.source)}</p>")
    parts.append(findings_table(result, exp.source if exp is not None else None))
    parts += renderer(result)
    parts.append("</section>")
    return "".join(parts)


def write_results(
    results: Sequence[ExperimentResult],
    out_dir: str | Path,
    *,
    title: str,
    intro: str = "",
) -> tuple[Path, Path]:
    """Write ``out_dir/index.html`` and ``out_dir/results.json``; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {r.name: r.to_json() for r in results}
    json_path = out / "results.json"
    json_path.write_text(
        json.dumps(json_ready(payload), indent=1, allow_nan=False), encoding="utf-8"
    )
    toc = "".join(
        f"<li><a href='#{html.escape(r.name)}'>{html.escape(r.name)}</a>: {html.escape(r.title)}</li>"  # noqa: E501
        for r in results
    )
    sections = [
        f"<p>{html.escape(intro)}</p>" if intro else "",
        f"<ul>{toc}</ul>",
        _summary_table(results),
    ]
    sections += [render_result(r) for r in results]
    html_path = write_report(out / "index.html", title, sections)
    return html_path, json_path


def _summary_table(results: Sequence[ExperimentResult]) -> str:
    rows = []
    for r in results:
        agree = sum(1 for f in r.findings if f.agrees is True)
        differ = sum(1 for f in r.findings if f.agrees is False)
        rows.append((r.name, f"{agree} agree, {differ} differ", f"{r.seconds:.1f} s"))
    return html_table(("experiment", "findings vs sources", "wall time"), rows)
