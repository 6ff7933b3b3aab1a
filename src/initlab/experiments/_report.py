"""HTML sections and figures for experiment results, read only from tidy records.

Each experiment has a renderer (figures for its records); every section starts
with the findings table (ours beside the published figure and its source) and
ends with the aggregate table. Bands are the min–max over seeds around the mean.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from initlab._report import figure_to_html as _figure_to_html
from initlab._report import html_table, write_report
from initlab.experiments._common import ExperimentResult, Record, aggregate, json_ready

__all__ = ["render_result", "write_results"]

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def figure_to_html(fig: Any, caption: str = "") -> str:
    """Lay the figure out tightly, then embed it."""
    fig.tight_layout()
    return _figure_to_html(fig, caption)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 10,
            "legend.frameon": False,
        }
    )
    return plt


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
) -> None:
    """Mean over seeds as a line, min–max over seeds as a shaded band."""
    x, values = seed_curves(result.select(setting=setting, metric=metric))
    if values.size == 0:
        return
    with np.errstate(all="ignore"):
        ok = np.isfinite(values).any(axis=0)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values[:, ok], axis=0)
            low, high = np.nanmin(values[:, ok], axis=0), np.nanmax(values[:, ok], axis=0)
    n = values.shape[0]
    ax.plot(x[ok], mean, color=color, lw=1.8, label=f"{label or setting} ({n} seeds)")
    if n > 1:
        ax.fill_between(x[ok], low, high, color=color, alpha=0.2, lw=0)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def findings_table(result: ExperimentResult) -> str:
    if not result.findings:
        return ""
    rows = []
    for f in result.findings:
        verdict = {True: "agrees", False: "differs", None: "—"}[f.agrees]
        pub = f.published or "—"
        if f.source:
            pub += f" [{f.source}]"
        rows.append((f.claim, f.ours, pub, verdict))
    table = html_table(
        ("claim", "ours (mean, min–max over seeds)", "published [source]", "verdict"), rows
    )
    table = table.replace("<table>", "<table class='findings'>", 1)
    return table.replace("<td>differs</td>", "<td class='sev-error'>differs</td>").replace(
        "<td>agrees</td>", "<td class='sev-ok'>agrees</td>"
    )


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


def _depth(result: ExperimentResult) -> list[str]:
    plt = _plt()
    variants = result.config.get("variants", ["fresh"])
    fig, axes = plt.subplots(
        1, len(variants), figsize=(6.2 * len(variants), 4.4), squeeze=False, sharey=True
    )
    for ax, variant in zip(axes[0], variants):
        for i, setting in enumerate(result.config["settings"]):
            name = setting if variant == "fresh" else f"{setting} (one matrix)"
            band(ax, result, name, "std_by_layer", COLORS[i % len(COLORS)], setting)
            firsts = [r.value for r in result.select(setting=name, metric="first_nonfinite_layer")]
            hit = [v for v in firsts if isinstance(v, (int, float))]
            if hit:
                ax.axvline(min(hit), color=COLORS[i % len(COLORS)], ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_ylim(1e-40, 1e38)
        ax.set_xlabel("layer")
        ax.set_title(
            "fresh matrix per layer" if variant == "fresh" else "one matrix reused (the notebook)"
        )
    axes[0][0].set_ylabel("std of activations (log scale)")
    axes[0][-1].legend(fontsize=8, loc="lower left")
    caption = (
        "Std of the activations after each layer (mean over seeds; band: min–max). Lines stop where "  # noqa: E501
        "values become inf/NaN (dotted: first non-finite layer) or exactly 0 (underflow)."
    )
    return [
        figure_to_html(fig, caption),
        aggregate_table(result, ("first_nonfinite_layer", "first_zero_layer", "final_std")),
    ]


def _circles(result: ExperimentResult) -> list[str]:
    plt = _plt()
    inits = result.config["inits"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, init in enumerate(inits):
        band(ax, result, init, "loss", COLORS[i], init)
    ax.set_yscale("log")
    ax.set_xlabel("iteration (full-batch gradient descent)")
    ax.set_ylabel("training loss (log scale)")
    ax.axhline(math.log(2), color="grey", ls="--", lw=1)
    ax.text(0, math.log(2) * 1.08, "ln 2", color="grey", fontsize=8)
    ax.legend()
    sections = [
        figure_to_html(fig, "Training loss per initialization: mean over seeds, band min–max.")
    ]
    sections.append(_boundaries(result, inits))
    sections.append(
        aggregate_table(result, ("train_acc", "test_acc", "initial_loss", "train_loss"))
    )
    return sections


def _boundaries(result: ExperimentResult, inits: Sequence[str]) -> str:
    plt = _plt()
    points = result.select(setting="data", metric="train_points")
    lim_rec = result.select(setting="data", metric="grid_limit")
    if not points or not lim_rec:
        return ""
    lim = float(lim_rec[0].value)  # type: ignore[arg-type]
    pts = np.asarray(points[0].value)
    seed = result.config["seed"]
    fig, axes = plt.subplots(1, len(inits), figsize=(4 * len(inits), 4), squeeze=False)
    for ax, init in zip(axes[0], inits):
        grid = result.select(setting=init, metric="boundary_grid", seed=seed)
        if not grid:
            continue
        g = np.asarray(grid[0].value)
        ax.contourf(
            np.linspace(-lim, lim, g.shape[1]),
            np.linspace(-lim, lim, g.shape[0]),
            g,
            levels=np.linspace(0, 1, 11),
            cmap="RdBu_r",
            alpha=0.55,
        )
        ax.contour(
            np.linspace(-lim, lim, g.shape[1]),
            np.linspace(-lim, lim, g.shape[0]),
            g,
            levels=[0.5],
            colors="k",
            linewidths=1,
        )
        ax.scatter(
            pts[:, 0], pts[:, 1], c=pts[:, 2], cmap="RdBu_r", s=9, edgecolors="k", linewidths=0.3
        )
        acc = result.select(setting=init, metric="train_acc", seed=seed)
        title = init + (f" — train acc {float(acc[0].value):.1%}" if acc else "")  # type: ignore[arg-type]
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.grid(False)
    return figure_to_html(
        fig, f"Decision boundaries after training (seed {seed}); colour: P(class 1)."
    )


def _symmetry(result: ExperimentResult) -> list[str]:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, init in enumerate(result.config["inits"]):
        band(axes[0], result, init, "distinct_units", COLORS[i], init)
        band(axes[1], result, init, "hidden_rank", COLORS[i], init)
    axes[0].set_ylabel("distinct hidden units")
    axes[1].set_ylabel("rank of hidden activations")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.set_ylim(0, result.config["hidden"] + 1)
        ax.legend()
    caption = "Distinct hidden units (incoming weights, bias, outgoing weight) and the rank of the hidden layer's activations on the training set."  # noqa: E501
    return [figure_to_html(fig, caption), aggregate_table(result, ("train_acc", "test_acc"))]


RENDERERS: dict[str, Callable[[ExperimentResult], list[str]]] = {
    "depth": _depth,
    "circles": _circles,
    "symmetry": _symmetry,
}


def register_renderer(name: str, renderer: Callable[[ExperimentResult], list[str]]) -> None:
    RENDERERS[name] = renderer


def render_result(result: ExperimentResult, doc: str = "") -> str:
    """One ``<section>``: title, description, findings, figures, tables."""
    renderer = RENDERERS.get(result.name, lambda r: [aggregate_table(r)])
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
    parts.append(findings_table(result))
    parts += renderer(result)
    parts.append("</section>")
    return "".join(parts)


def write_results(
    results: Sequence[ExperimentResult],
    out_dir: str | Path,
    *,
    title: str,
    intro: str = "",
    docs: dict[str, str] | None = None,
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
    sections += [render_result(r, (docs or {}).get(r.name, "")) for r in results]
    html_path = write_report(out / "index.html", title, sections)
    return html_path, json_path


def _summary_table(results: Sequence[ExperimentResult]) -> str:
    rows = []
    for r in results:
        agree = sum(1 for f in r.findings if f.agrees is True)
        differ = sum(1 for f in r.findings if f.agrees is False)
        rows.append((r.name, f"{agree} agree, {differ} differ", f"{r.seconds:.1f} s"))
    return html_table(("experiment", "findings vs sources", "wall time"), rows)


def _glorot(result: ExperimentResult) -> list[str]:
    plt = _plt()
    cfg = result.config
    seed = cfg["seed"]
    sections = []
    for metric, label, lim in (
        ("act_hist", "activation value", None),
        ("grad_hist", "gradient / top-layer gradient std", 4.0),
    ):
        fig, axes = plt.subplots(
            len(cfg["inits"]),
            len(cfg["activations"]),
            figsize=(4.2 * len(cfg["activations"]), 3 * len(cfg["inits"])),
            squeeze=False,
        )
        for i, init in enumerate(cfg["inits"]):
            for j, act in enumerate(cfg["activations"]):
                ax = axes[i][j]
                rows = sorted(
                    result.select(setting=f"{act}/{init}", metric=metric, seed=seed),
                    key=lambda r: r.index or 0,
                )
                low = 0.0 if (act == "sigmoid" and lim is None) else -(lim or 1.0)
                high = lim or 1.0
                for k, r in enumerate(rows):
                    counts = np.asarray(r.value)
                    centers = np.linspace(low, high, len(counts) + 1)
                    centers = (centers[:-1] + centers[1:]) / 2
                    ax.plot(
                        centers,
                        counts,
                        color=plt.cm.viridis(k / max(1, len(rows) - 1)),
                        lw=1.5,
                        label=f"layer {int(r.index or 0)}",
                    )
                ax.set_title(f"{act}, {init} init", fontsize=10)
                ax.set_xlabel(label, fontsize=9)
                if metric == "grad_hist":
                    ax.set_yscale("log")
        axes[0][-1].legend(fontsize=7)
        what = (
            "Activation"
            if metric == "act_hist"
            else "Back-propagated gradient (w.r.t. pre-activations)"
        )
        sections.append(
            figure_to_html(
                fig,
                f"{what} histograms at init, one line per hidden layer (seed {seed}; fraction of values per bin).",  # noqa: E501
            )
        )
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, act in enumerate(cfg["activations"]):
        for init in cfg["inits"]:
            style = "-" if init == "normalized" else "--"
            for ax, metric in zip(axes, ("act_std", "grad_std")):
                x, v = seed_curves(result.select(setting=f"{act}/{init}", metric=metric))
                if v.size:
                    ax.plot(
                        x, np.nanmean(v, axis=0), style, color=COLORS[k], label=f"{act}, {init}"
                    )
    axes[0].set_ylabel("activation std")
    axes[1].set_ylabel("gradient std")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("hidden layer (1 = nearest the input)")
    axes[1].legend(fontsize=7)
    sections.append(
        figure_to_html(
            fig,
            "Per-layer std at init (mean over seeds). Dashed: standard U[±1/√n]; solid: normalized (Glorot).",  # noqa: E501
        )
    )
    if any(r.metric == "test_acc_curve" for r in result.records):
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for k, act in enumerate(cfg["activations"]):
            for init in cfg["inits"]:
                name = f"{act}/{init}"
                band(ax, result, name, "test_acc_curve", COLORS[k], name)
                ax.lines[-1].set_linestyle("-" if init == "normalized" else "--")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("test accuracy (digits)")
        ax.legend(fontsize=7)
        sections.append(
            figure_to_html(
                fig, "Short training run on digits: test accuracy, mean and min–max over seeds."
            )
        )
    sections.append(aggregate_table(result, ("test_acc", "train_acc")))
    return sections


def _he(result: ExperimentResult) -> list[str]:
    plt = _plt()
    cfg = result.config
    depths = cfg["depths"]
    fig, axes = plt.subplots(
        1, len(depths), figsize=(4.2 * len(depths), 3.6), squeeze=False, sharey=True
    )
    for ax, depth in zip(axes[0], depths):
        for i, init in enumerate(cfg["inits"]):
            band(ax, result, f"{init}, depth {depth}", "loss", COLORS[i], init)
        ax.axhline(math.log(10), color="grey", ls="--", lw=1)
        ax.set_title(f"{depth} hidden layers")
        ax.set_xlabel("SGD step")
    axes[0][0].set_ylabel("training loss (dashed: ln 10, chance)")
    axes[0][-1].legend()
    sections = [
        figure_to_html(
            fig,
            f"Training loss of plain ReLU MLPs (width {cfg['width']}) on digits; "
            "mean and min–max over seeds.",
        )
    ]
    fig, axes = plt.subplots(1, len(depths), figsize=(4.2 * len(depths), 3.4), squeeze=False)
    for ax, depth in zip(axes[0], depths):
        for i, init in enumerate(cfg["inits"]):
            band(ax, result, f"{init}, depth {depth}", "grad_norm_step1", COLORS[i], init)
        ax.set_yscale("log")
        ax.set_title(f"{depth} hidden layers")
        ax.set_xlabel("layer (1 = input side)")
    axes[0][0].set_ylabel("‖∂loss/∂W‖ at step 1")
    axes[0][-1].legend()
    sections.append(figure_to_html(fig, "Per-layer weight-gradient norms at the first step."))
    sections.append(aggregate_table(result, ("train_acc", "test_acc")))
    return sections


def _orthogonal(result: ExperimentResult) -> list[str]:
    plt = _plt()
    cfg = result.config
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, init in enumerate(cfg["inits"]):
        band(axes[0], result, init, "log10_condition", COLORS[i], init)
        svs = result.select(setting=init, metric="log10_singular_values", seed=cfg["seed"])
        if svs:
            axes[1].hist(np.asarray(svs[0].value), bins=40, color=COLORS[i], alpha=0.6, label=init)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("depth (number of matrices)")
    axes[0].set_ylabel("log10(σ_max / σ_min)")
    axes[0].legend()
    axes[1].set_xlabel(f"log10 singular value at depth {max(cfg['depths'])}")
    axes[1].set_ylabel("count")
    axes[1].legend()
    caption = f"Spectrum of the product of {cfg['width']}×{cfg['width']} matrices: spread against depth (left) and all singular values at the deepest depth (right, seed {cfg['seed']})."  # noqa: E501
    return [figure_to_html(fig, caption)]


def _weight_decay(result: ExperimentResult) -> list[str]:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, name in enumerate(result.config["settings"]):
        for ax, metric in zip(axes, ("train_acc_curve", "test_acc_curve", "weight_norm_curve")):
            band(ax, result, name, metric, COLORS[i], name)
    for ax, label in zip(axes, ("train accuracy", "test accuracy", "weight norm ‖W‖")):
        ax.set_xlabel("step")
        ax.set_ylabel(label)
    axes[1].legend(fontsize=8)
    return [
        figure_to_html(
            fig,
            "Train and test accuracy and total weight norm over training; mean and min–max over seeds.",  # noqa: E501
        ),
        aggregate_table(result, ("train_acc", "test_acc", "gap", "weight_norm")),
    ]


def _shared(result: ExperimentResult) -> list[str]:
    return [aggregate_table(result)]


def _compare(result: ExperimentResult) -> list[str]:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, scheme in enumerate(result.config["schemes"]):
        band(axes[0], result, scheme, "train_loss_curve", COLORS[i % len(COLORS)], scheme)
        band(axes[1], result, scheme, "test_acc_curve", COLORS[i % len(COLORS)], scheme)
        band(axes[2], result, scheme, "early_grad_norm", COLORS[i % len(COLORS)], scheme)
    axes[0].set_yscale("log")
    for ax, (xl, yl) in zip(
        axes,
        (
            ("step", "training loss"),
            ("step", "test accuracy"),
            ("layer", f"mean ‖∂loss/∂W‖, first {result.config['grad_norm_steps']} steps"),
        ),
    ):
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    axes[1].legend(fontsize=8)
    return [
        figure_to_html(
            fig,
            "Loss and accuracy curves (mean, min–max band over seeds) and early per-layer gradient norms.",  # noqa: E501
        ),
        aggregate_table(result, ("train_acc", "test_acc", "train_loss", "test_loss")),
    ]


RENDERERS.update(
    {
        "glorot": _glorot,
        "he": _he,
        "orthogonal": _orthogonal,
        "weight-decay": _weight_decay,
        "shared": _shared,
        "compare": _compare,
    }
)
