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
from collections.abc import Callable
from dataclasses import dataclass

import torch

import initlab
from initlab.experiments._common import (
    ExperimentConfig,
    ExperimentResult,
    Finding,
    Progress,
    Record,
    check_fields,
    check_names,
    fmt_range,
    scalar_values,
)

__all__ = ["SETTINGS", "VARIANTS", "DepthConfig", "run_depth"]

NAME = "depth"
TITLE = "100 layers: where the signal explodes, vanishes or survives"
SOURCE = 'fastai course v3 notebook "02b_initializing" (retold in seed article 003)'


def _normal(std_of_n: Callable[[int], float]) -> Callable[[torch.Tensor, torch.Generator], object]:
    return lambda w, g: initlab.normal_(w, std=std_of_n(w.shape[1]), generator=g)


# setting → (activation, weight initializer, description)
SETTINGS: dict[str, tuple[str, Callable[[torch.Tensor, torch.Generator], object], str]] = {
    "normal": ("linear", _normal(lambda n: 1.0), "linear, W ~ N(0, 1)"),
    "normal_x0.01": ("linear", _normal(lambda n: 0.01), "linear, W ~ N(0, 1)·0.01"),
    "inv_sqrt_n": ("linear", _normal(lambda n: 1 / math.sqrt(n)), "linear, W ~ N(0, 1/n)"),
    "tanh_xavier": (
        "tanh",
        lambda w, g: initlab.xavier_normal_(w, generator=g),
        "tanh, Xavier normal",
    ),
    "relu_xavier": (
        "relu",
        lambda w, g: initlab.xavier_normal_(w, generator=g),
        "ReLU, Xavier normal",
    ),
    "relu_kaiming": (
        "relu",
        lambda w, g: initlab.kaiming_normal_(w, nonlinearity="relu", generator=g),
        "ReLU, Kaiming normal",
    ),
}
VARIANTS = ("fresh", "one-matrix")
_ACT: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "tanh": torch.tanh,
    "relu": torch.relu,
}


@dataclass(kw_only=True)
class DepthConfig(ExperimentConfig):
    """Width, depth, how many input vectors, which settings and variants."""

    width: int = 512
    depth: int = 100
    n_inputs: int = 64
    settings: tuple[str, ...] = tuple(SETTINGS)
    variants: tuple[str, ...] = VARIANTS

    def validate(self) -> None:
        check_fields(self, at_least={"width": 2, "depth": 1, "n_inputs": 2})
        check_names("settings", self.settings, SETTINGS)
        check_names("variants", self.variants, VARIANTS)


def _propagate(setting: str, variant: str, seed: int, cfg: DepthConfig) -> list[float]:
    """Per-layer std of the activations (inf/nan kept as such)."""
    activation, init, _ = SETTINGS[setting]
    device = cfg.torch_device
    x = torch.empty(cfg.n_inputs, cfg.width)
    initlab.normal_(x, std=1.0, generator=initlab.seeded_generator(seed, NAME, "input"))
    x = x.to(device)
    w = torch.empty(cfg.width, cfg.width)
    stds = []
    for layer in range(1, cfg.depth + 1):
        if layer == 1 or variant == "fresh":
            # Keyed by layer, not setting: every setting scales the same Gaussian draws.
            init(w, initlab.seeded_generator(seed, NAME, variant, layer))
            wd = w.to(device)
        x = _ACT[activation](x @ wd.T)
        stds.append(float(x.std()) if bool(torch.isfinite(x).all()) else math.inf)
    return stds


def _records(label: str, seed: int, stds: list[float]) -> list[Record]:
    rows = [
        Record(
            setting=label,
            seed=seed,
            metric="std_by_layer",
            index=i + 1,
            value=s if math.isfinite(s) else None,
        )
        for i, s in enumerate(stds)
    ]
    nonfinite = next((i + 1 for i, s in enumerate(stds) if not math.isfinite(s)), None)
    zero = next((i + 1 for i, s in enumerate(stds) if s == 0.0), None)
    final = stds[-1] if math.isfinite(stds[-1]) else None
    rows += [
        Record(setting=label, seed=seed, metric="first_nonfinite_layer", value=nonfinite),
        Record(setting=label, seed=seed, metric="first_zero_layer", value=zero),
        Record(setting=label, seed=seed, metric="final_std", value=final),
    ]
    return rows


def label(setting: str, variant: str) -> str:
    return setting if variant == "fresh" else f"{setting} (one matrix)"


def run_depth(config: DepthConfig, progress: Progress | None = None) -> ExperimentResult:
    """Run every setting × variant × seed; records per-layer std and failure layers."""
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())
    jobs = [
        (s, v, seed) for v in config.variants for s in config.settings for seed in config.seed_list
    ]
    for done, (setting, variant, seed) in enumerate(jobs, 1):
        stds = _propagate(setting, variant, seed, config)
        result.records += _records(label(setting, variant), seed, stds)
        if progress is not None:
            progress(NAME, done, len(jobs))
    result.findings = _findings(result, config)
    return result


def _findings(result: ExperimentResult, cfg: DepthConfig) -> list[Finding]:
    out: list[Finding] = []
    if "normal" in cfg.settings and "one-matrix" in cfg.variants:
        layers = scalar_values(result, label("normal", "one-matrix"), "first_nonfinite_layer")
        out.append(
            Finding(
                claim="N(0,1), one matrix reused (the notebook's loop): NaN within ~30 layers",
                ours="first non-finite layer " + fmt_range(layers, ".0f"),
                published="the loop breaks on NaN at i = 28",
                source=SOURCE,
                agrees=all(v is not None and v <= 40 for v in layers),
            )
        )
    if "normal" in cfg.settings and "fresh" in cfg.variants:
        layers = scalar_values(result, "normal", "first_nonfinite_layer")
        out.append(
            Finding(
                claim="N(0,1), a fresh matrix per layer: inf/nan after roughly 30 layers",
                ours="first non-finite layer " + fmt_range(layers, ".0f"),
                published="“after roughly 30 layers” (retellings)",
                source="seed article 003",
                agrees=all(v is not None and v <= 40 for v in layers),
            )
        )
    if "normal_x0.01" in cfg.settings and "fresh" in cfg.variants:
        finals = scalar_values(result, "normal_x0.01", "final_std")
        out.append(
            Finding(
                claim="N(0,1)·0.01 weights make the activations vanish",
                ours=f"std after layer {cfg.depth}: " + fmt_range(finals, ".2e"),
                published="mean and std 0.0 after 100 layers",
                source=SOURCE,
                agrees=all(v is not None and v < 1e-20 for v in finals),
            )
        )
    for setting, claim, low, high in (
        ("inv_sqrt_n", "std 1/√n keeps a linear chain O(1)", 0.05, 20.0),
        ("tanh_xavier", "tanh with Xavier keeps a usable range", 1e-3, 1.0),
        ("relu_kaiming", "ReLU with Kaiming keeps the scale O(1)", 0.05, 20.0),
        (
            "relu_xavier",
            "ReLU with Xavier decays like 2^(-L/2) in std",
            0.01 * 2 ** (-cfg.depth / 2),
            100 * 2 ** (-cfg.depth / 2),
        ),
    ):
        if setting in cfg.settings and "fresh" in cfg.variants:
            finals = scalar_values(result, setting, "final_std")
            out.append(
                Finding(
                    claim=claim,
                    ours=f"std after layer {cfg.depth}: " + fmt_range(finals, ".2e"),
                    published="qualitative",
                    source=SOURCE,
                    agrees=all(v is not None and low <= v <= high for v in finals),
                )
            )
    return out
