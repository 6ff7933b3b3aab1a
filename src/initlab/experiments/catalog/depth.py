"""``depth``: a signal through 100 layers under six weight scales.

After the fastai course notebook "02b_initializing": x ∈ R^512, x ← act(W x) a
hundred times. N(0,1) overflows float32 after roughly 30 layers, ×0.01 vanishes
to 0, std 1/√n stays O(1); with tanh Xavier keeps a usable range, with ReLU
Xavier halves the second moment per layer while Kaiming (std √(2/n)) keeps it.
The notebook reuses one matrix for every layer; the usual retelling draws a
fresh matrix per layer. Both variants run, labelled ``fresh`` and ``one-matrix``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from initlab import rng
from initlab._activations import activation_function
from initlab._functional import normal_
from initlab.experiments import kit

__all__ = ["SETTINGS", "VARIANTS", "DepthConfig"]

NAME = "depth"
NOTEBOOK = kit.SOURCES["fastai-02b"]
RETELLING = kit.SOURCES["dellinger-2019"]

# setting → (activation after each layer, weight scheme)
SETTINGS: dict[str, tuple[str, kit.Init]] = {
    "normal": ("linear", kit.Init("normal", {"std": 1.0}, "linear, W ~ N(0, 1)")),
    "normal_x0.01": ("linear", kit.Init("normal", {"std": 0.01}, "linear, W ~ N(0, 1)·0.01")),
    "inv_sqrt_n": (
        "linear",
        kit.Init("variance_scaling", {"distribution": "normal"}, "linear, W ~ N(0, 1/n)"),
    ),
    "tanh_xavier": ("tanh", kit.Init("xavier_normal", label="tanh, Xavier normal")),
    "relu_xavier": ("relu", kit.Init("xavier_normal", label="ReLU, Xavier normal")),
    "relu_kaiming": ("relu", kit.Init("he_normal", label="ReLU, Kaiming normal")),
}
VARIANTS = ("fresh", "one-matrix")


@dataclass(kw_only=True)
class DepthConfig(kit.ExperimentConfig):
    """Width, depth, how many input vectors, which settings and variants."""

    width: int = 512
    depth: int = 100
    n_inputs: int = 64
    settings: tuple[str, ...] = tuple(SETTINGS)
    variants: tuple[str, ...] = VARIANTS

    def validate(self) -> None:
        kit.check_fields(self, at_least={"width": 2, "depth": 1, "n_inputs": 2})
        kit.check_names("settings", self.settings, SETTINGS)
        kit.check_names("variants", self.variants, VARIANTS)


def label(setting: str, variant: str) -> str:
    return setting if variant == "fresh" else f"{setting} (one matrix)"


def _propagate(setting: str, variant: str, seed: int, cfg: DepthConfig) -> list[float]:
    """Per-layer std of the activations (inf once any value is inf/nan)."""
    activation, init = SETTINGS[setting]
    act = activation_function(activation)
    x = normal_(
        torch.empty(cfg.n_inputs, cfg.width),
        generator=rng.seeded_generator(seed, NAME, "input"),
    ).to(cfg.torch_device)
    w = torch.empty(cfg.width, cfg.width)
    stds = []
    for layer in range(1, cfg.depth + 1):
        if layer == 1 or variant == "fresh":
            # Keyed by layer, not setting: every setting scales the same Gaussian draws.
            wd = init.fill(w, rng.seeded_generator(seed, NAME, variant, layer)).to(x.device)
        x = act(x @ wd.T)
        stds.append(float(x.std()) if bool(torch.isfinite(x).all()) else math.inf)
    return stds


def _records(name: str, seed: int, stds: list[float]) -> list[kit.Record]:
    rows = [
        kit.Record(
            setting=name, seed=seed, metric="std_by_layer", index=i, value=kit.finite_or_none(s)
        )
        for i, s in enumerate(stds, 1)
    ]
    summary = {
        "first_nonfinite_layer": next((i for i, s in enumerate(stds, 1) if math.isinf(s)), None),
        "first_zero_layer": next((i for i, s in enumerate(stds, 1) if s == 0.0), None),
        "final_std": kit.finite_or_none(stds[-1]),
    }
    return rows + [
        kit.Record(setting=name, seed=seed, metric=k, value=v) for k, v in summary.items()
    ]


def run(config: DepthConfig, tick: kit.Tick) -> list[kit.Record]:
    """Every setting × variant × seed: per-layer std and the layers where it fails."""
    jobs = [
        (s, v, seed) for v in config.variants for s in config.settings for seed in config.seed_list
    ]
    records: list[kit.Record] = []
    for done, (setting, variant, seed) in enumerate(jobs, 1):
        records += _records(
            label(setting, variant), seed, _propagate(setting, variant, seed, config)
        )
        tick(done, len(jobs))
    return records


# setting → (claim, lowest and highest std after the last layer that agree), fresh matrices
_SURVIVES = {
    "inv_sqrt_n": ("std 1/√n keeps a linear chain O(1)", 0.05, 20.0),
    "tanh_xavier": ("tanh with Xavier keeps a usable range", 1e-3, 1.0),
    "relu_kaiming": ("ReLU with Kaiming keeps the scale O(1)", 0.05, 20.0),
}


def check(result: kit.ExperimentResult, cfg: DepthConfig) -> list[kit.SourceCheck]:
    out: list[kit.SourceCheck] = []
    fresh = "fresh" in cfg.variants
    for variant, how, source, published in (
        ("one-matrix", "one matrix reused", NOTEBOOK, "the loop breaks on NaN at i = 28"),
        ("fresh", "a fresh matrix per layer", RETELLING, "overflow after roughly 30 layers"),
    ):
        if "normal" in cfg.settings and variant in cfg.variants:
            layers = kit.scalar_values(result, label("normal", variant), "first_nonfinite_layer")
            out.append(
                kit.SourceCheck(
                    claim=f"N(0,1), {how}: inf/NaN within ~30 layers",
                    ours="first non-finite layer " + kit.fmt_range(layers, ".0f"),
                    published=published,
                    source=source,
                    agrees=all(v is not None and v <= 40 for v in layers),
                )
            )
    if "normal_x0.01" in cfg.settings and fresh:
        finals = kit.scalar_values(result, "normal_x0.01", "final_std")
        out.append(
            kit.SourceCheck(
                claim="N(0,1)·0.01 weights make the activations vanish",
                ours=f"std after layer {cfg.depth}: " + kit.fmt_range(finals, ".2e"),
                published="mean and std 0.0 after 100 layers",
                agrees=all(v is not None and v < 1e-20 for v in finals),
            )
        )
    halving = 2 ** (-cfg.depth / 2)  # ReLU after Xavier halves the second moment per layer
    bounds = {
        **_SURVIVES,
        "relu_xavier": (
            "ReLU with Xavier decays like 2^(-L/2) in std",
            0.01 * halving,
            100 * halving,
        ),
    }
    for setting, (claim, low, high) in bounds.items():
        if setting in cfg.settings and fresh:
            finals = kit.scalar_values(result, setting, "final_std")
            out.append(
                kit.SourceCheck(
                    claim=claim,
                    ours=f"std after layer {cfg.depth}: " + kit.fmt_range(finals, ".2e"),
                    published="qualitative",
                    agrees=all(v is not None and low <= v <= high for v in finals),
                )
            )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    cfg: dict[str, Any] = result.config
    variants = cfg["variants"]
    fig, axes = plt.subplots(
        1, len(variants), figsize=(6.2 * len(variants), 4.4), squeeze=False, sharey=True
    )
    for ax, variant in zip(axes[0], variants):
        for i, setting in enumerate(cfg["settings"]):
            name, color = label(setting, variant), kit.COLORS[i % len(kit.COLORS)]
            kit.band(ax, result, name, "std_by_layer", color, SETTINGS[setting][1].label)
            hit = [v for v in kit.scalar_values(result, name, "first_nonfinite_layer") if v]
            if hit:
                ax.axvline(min(hit), color=color, ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_ylim(1e-40, 1e38)
        ax.set_xlabel("layer")
        ax.set_title(
            "fresh matrix per layer" if variant == "fresh" else "one matrix reused (the notebook)"
        )
    axes[0][0].set_ylabel("std of activations (log scale)")
    # Below the plots: every corner of the panels has a line in it.
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8,
               bbox_to_anchor=(0.5, -0.1))  # fmt: skip
    caption = (
        "Std of the activations after each layer (mean over seeds; band: min–max). Lines stop "
        "where values become inf/NaN (dotted: first non-finite layer) or exactly 0 (underflow)."
    )
    return [
        kit.figure_to_html(fig, caption),
        kit.aggregate_table(result, ("first_nonfinite_layer", "first_zero_layer", "final_std")),
    ]


# What the catalog registers (see initlab.experiments.kit).
TITLE = "100 layers: where the signal explodes, vanishes or survives"
DEMO: dict[str, object] = {}  # what `initlab demo` changes
ORDER = 10
SOURCE = NOTEBOOK
