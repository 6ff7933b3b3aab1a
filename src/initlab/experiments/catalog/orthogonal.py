"""``orthogonal``: singular values of deep linear networks' input–output maps.

Saxe, McClelland & Ganguli (2013), "Exact solutions to the nonlinear dynamics
of learning in deep linear networks": a product of orthogonal matrices keeps
every singular value at exactly 1 at any depth (dynamical isometry), while a
product of Gaussian matrices scaled to preserve the norm on average (std 1/√n)
spreads its spectrum ever wider with depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from initlab import rng
from initlab.experiments import kit

__all__ = ["ORTHOGONAL_INITS", "OrthogonalConfig"]

NAME = "orthogonal"

ORTHOGONAL_INITS = {
    "gaussian": kit.Init("variance_scaling", {"distribution": "normal"}, "N(0, 1/n)"),
    "orthogonal": kit.Init("orthogonal", label="Haar-random orthogonal"),
}


@dataclass(kw_only=True)
class OrthogonalConfig(kit.ExperimentConfig):
    """Width and the depths at which the product's spectrum is measured."""

    width: int = 128
    depths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    inits: tuple[str, ...] = tuple(ORTHOGONAL_INITS)

    def validate(self) -> None:
        kit.check_fields(self, at_least={"width": 2, "depths": 1})
        kit.check_names("inits", self.inits, ORTHOGONAL_INITS)


def run(config: OrthogonalConfig, tick: kit.Tick) -> list[kit.Record]:
    """Multiply fresh float64 matrices up to the largest depth; the spectrum at each listed one."""
    jobs = [(init, seed) for init in config.inits for seed in config.seed_list]
    deepest, records = max(config.depths), []
    for done, (init, seed) in enumerate(jobs, 1):
        product = torch.eye(config.width, dtype=torch.float64)
        w = torch.empty(config.width, config.width, dtype=torch.float64)
        for depth in range(1, deepest + 1):
            product = (
                ORTHOGONAL_INITS[init].fill(w, rng.seeded_generator(seed, NAME, depth)) @ product
            )
            if depth in config.depths:
                keep_all = depth == deepest and seed == config.seed
                records += _spectrum(init, seed, depth, product, keep_all)
        tick(done, len(jobs))
    return records


def _spectrum(
    init: str, seed: int, depth: int, product: torch.Tensor, keep_all: bool
) -> list[kit.Record]:
    sv = torch.linalg.svdvals(product)
    log_sv = torch.log10(sv.clamp_min(1e-300))
    stats = {
        "log10_condition": float(log_sv.max() - log_sv.min()),
        "sv_max": float(sv.max()),
        "sv_min": float(sv.min()),
    }
    rows = [
        kit.Record(setting=init, seed=seed, metric=k, index=depth, value=v)
        for k, v in stats.items()
    ]
    if keep_all:
        rows.append(
            kit.Record(
                setting=init,
                seed=seed,
                metric="log10_singular_values",
                value=log_sv.round(decimals=4).tolist(),
            )
        )
    return rows


def check(result: kit.ExperimentResult, cfg: OrthogonalConfig) -> list[kit.SourceCheck]:
    deepest = max(cfg.depths)
    out = []
    for init in cfg.inits:
        cond = [
            r.value for r in result.select(setting=init, metric="log10_condition", index=deepest)
        ]
        ortho = init == "orthogonal"
        out.append(
            kit.SourceCheck(
                claim=f"{init}: "
                + (
                    "every singular value stays 1 at any depth"
                    if ortho
                    else "the spectrum spreads with depth"
                ),
                ours=f"log10(σ_max/σ_min) at depth {deepest}: " + kit.fmt_range(cond, ".3g"),  # type: ignore[arg-type]
                published="exactly 0 for orthogonal products; grows with depth for Gaussian (qualitative)",  # noqa: E501
                agrees=all(isinstance(v, float) and (v < 1e-6 if ortho else v > 1.0) for v in cond),
            )
        )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    cfg = result.config
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    spectra = {}
    for i, init in enumerate(cfg["inits"]):
        kit.band(axes[0], result, init, "log10_condition", kit.COLORS[i], init)
        svs = result.select(setting=init, metric="log10_singular_values", seed=cfg["seed"])
        if svs:
            spectra[init] = (np.asarray(svs[0].value), kit.COLORS[i])
    if spectra:
        # One set of bins for all: an orthogonal spectrum (all ≈ 0) gets a visible bar.
        values = np.concatenate([v for v, _ in spectra.values()])
        edges = np.linspace(min(values.min(), -0.5), max(values.max(), 0.5), 41)
        for init, (v, color) in spectra.items():
            axes[1].hist(v, bins=edges, color=color, alpha=0.6, label=init)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("depth (number of matrices)")
    axes[0].set_ylabel("log10(σ_max / σ_min)")
    axes[0].legend(loc="upper left")
    axes[1].set_xlabel(f"log10 singular value at depth {max(cfg['depths'])}")
    axes[1].set_ylabel("count")
    axes[1].legend(loc="upper left")
    caption = (
        f"Spectrum of the product of {cfg['width']}×{cfg['width']} matrices: spread against "
        f"depth (left) and all singular values at the deepest depth (right, seed {cfg['seed']})."
    )
    return [kit.figure_to_html(fig, caption)]


# What the catalog registers (see initlab.experiments.kit).
TITLE = "Saxe et al. 2013: orthogonal products keep every singular value at 1"
DEMO: dict[str, object] = {}  # what `initlab demo` changes
ORDER = 60
SOURCE = kit.SOURCES["saxe-2013"]
