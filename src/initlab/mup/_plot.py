"""Plots and files of the coordinate check; they read only the tidy records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from initlab._report import write_records
from initlab.mup._coord import CoordCheck

__all__ = ["plot_coord_check", "write_coord_records"]

_MAX_PANELS = 12


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            f"plotting the coordinate check needs matplotlib ({exc}): pip install 'initlab[report]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(check: CoordCheck) -> list[str]:
    """Layers to draw: the broken ones first, then the rest in model order."""
    broken = [v.layer for v in check.broken]
    rest = [v.layer for v in check.layers if v.layer not in broken]
    return (broken + rest)[:_MAX_PANELS]


def plot_coord_check(check: CoordCheck, path: str | Path) -> Path:
    """One panel per layer (broken layers first, at most 12): mean |x| against step on a
    log scale, one line per width (darker = wider); zeros (a zero-initialized readout at
    step 0) are left out. Writes ``path`` (.png, .svg, .pdf)."""
    plt = _pyplot()
    layers = _panels(check)
    if not layers:
        raise ValueError("the coordinate check has no layer with a verdict to plot")
    cols = min(4, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    widths = check.config.widths
    cmap = plt.get_cmap("viridis")
    verdict = {v.layer: v for v in check.layers}
    types = {r["layer"]: r.get("module_type", "") for r in check.records}
    for ax, layer in zip(axes.flat, layers):
        for i, width in enumerate(widths):
            points = _mean_by_step(check.records, layer, width)
            steps = [s for s in sorted(points) if points[s] > 0]  # log axis: zeros left out
            color = cmap(i / max(1, len(widths) - 1))
            values = [points[s] for s in steps]
            ax.plot(steps, values, color=color, label=str(width), marker="o", ms=3)
        ax.set_yscale("log")
        v = verdict[layer]
        ax.set_title(
            f"{layer} {types.get(layer, '')}: {v.verdict} ({v.slope:+.2f})",
            fontsize=9,
            color="black" if v.verdict == "flat" else "crimson",
        )
        ax.set_xlabel("step", fontsize=8)
    for ax in list(axes.flat)[len(layers) :]:
        ax.axis("off")
    axes.flat[0].legend(title="width", fontsize=7, title_fontsize=7)
    fig.suptitle(f"coordinate check: {check.summary()}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _mean_by_step(records: Sequence[dict[str, Any]], layer: str, width: int) -> dict[int, float]:
    sums: dict[int, list[float]] = {}
    for r in records:
        if r["layer"] == layer and r["width"] == width:
            sums.setdefault(r["step"], []).append(r["l1"])
    return {s: sum(v) / len(v) for s, v in sums.items()}


#: Columns of the coordinate-check records.
COORD_FIELDS = (
    "parametrization",
    "optimizer",
    "width",
    "seed",
    "step",
    "layer",
    "module_type",
    "l1",
)


def write_coord_records(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the tidy records as ``.json`` or ``.csv`` (by suffix)."""
    return write_records(path, records, COORD_FIELDS, "records")
