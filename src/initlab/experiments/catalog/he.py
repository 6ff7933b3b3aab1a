"""``he``: plain deep ReLU networks, Xavier vs Kaiming, at several depths.

He et al. (2015), "Delving deep into rectifiers", Fig. 3: a 30-layer plain ReLU
network (no normalization) initialized with Xavier "completely stalls" while
Kaiming's √(2/n) init converges; at 22 layers both converge, Kaiming sooner.
Scaled down: ReLU MLPs of width 64 on scikit-learn's digits, SGD with momentum,
per-layer gradient norms at the first step, and training curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from initlab.experiments import kit

__all__ = ["HE_INITS", "HeConfig"]

NAME = "he"

HE_INITS = {
    "xavier": kit.Init("xavier_normal", label="Xavier normal"),
    "kaiming": kit.Init("he_normal", label="Kaiming normal, √(2/n_in)"),
}


# Specs are frozen, so one default instance can be shared by every config.
DATA = kit.DataSpec(dataset="digits")
TRAIN = kit.TrainSpec(
    lr=0.003, momentum=0.9, steps=1500, batch_size=64, log_every=50, grad_norm_steps=1
)


@dataclass(kw_only=True)
class HeConfig(kit.ExperimentConfig):
    """Depths (hidden layers) and width of the plain ReLU MLPs, the data and the SGD run."""

    depths: tuple[int, ...] = (10, 20, 30)
    inits: tuple[str, ...] = tuple(HE_INITS)
    width: int = 64
    data: kit.DataSpec = DATA
    train: kit.TrainSpec = TRAIN

    def validate(self) -> None:
        kit.check_names("inits", self.inits, HE_INITS)
        kit.check_fields(self, at_least={"depths": 1, "width": 2})


def setting(init: str, depth: int) -> str:
    return f"{init}, depth {depth}"


def run(config: HeConfig, tick: kit.Tick) -> list[kit.Record]:
    """One vectorized model per depth (all inits × seeds), trained together."""
    data = config.data.load().to(config.torch_device)
    records: list[kit.Record] = []
    for d, depth in enumerate(config.depths):
        runs = [(init, seed) for init in config.inits for seed in config.seed_list]
        sizes = [data.n_features] + [config.width] * depth + [data.n_classes]
        models = [
            kit.initialized(kit.mlp(sizes), HE_INITS[i], seed, NAME, depth) for i, seed in runs
        ]
        records += kit.train_runs(
            [(setting(init, depth), seed) for init, seed in runs], models, data, config.train,
            device=config.torch_device, tick=tick, done=d * config.train.steps,
            total=len(config.depths) * config.train.steps, curves=("train_loss",),
        ).records  # fmt: skip
    return records


def check(result: kit.ExperimentResult, cfg: HeConfig) -> list[kit.SourceCheck]:
    out = []
    deepest = max(cfg.depths)
    for init in cfg.inits:
        acc = kit.scalar_values(result, setting(init, deepest), "train_acc")
        stalls = init == "xavier"
        out.append(
            kit.SourceCheck(
                claim=f"{init} at depth {deepest}: "
                + ("stalls (chance-level training accuracy)" if stalls else "trains"),
                ours=f"train accuracy after {cfg.train.steps} steps: " + kit.fmt_range(acc),
                published="30-layer Xavier net “completely stalls”; Kaiming converges"
                if deepest >= 30
                else "qualitative",
                agrees=all(v is not None and (v < 0.3 if stalls else v > 0.8) for v in acc),
            )
        )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    cfg = result.config
    depths = cfg["depths"]
    sections = []
    for metric, ylabel, caption in (
        (
            "train_loss_curve",
            "training loss (dashed: ln 10, chance)",
            f"Training loss of plain ReLU MLPs (width {cfg['width']}) on digits; "
            "mean and min–max over seeds.",
        ),
        (
            "early_grad_norm",
            "‖∂loss/∂W‖ at step 1",
            "Per-layer weight-gradient norms at the first step.",
        ),
    ):
        fig, axes = plt.subplots(
            1, len(depths), figsize=(4.2 * len(depths), 3.6), squeeze=False, sharey=True
        )
        for ax, depth in zip(axes[0], depths):
            for i, init in enumerate(cfg["inits"]):
                kit.band(ax, result, setting(init, depth), metric, kit.COLORS[i], init)
            ax.set_title(f"{depth} hidden layers")
            if metric == "train_loss_curve":
                ax.axhline(math.log(10), color="grey", ls="--", lw=1)
                ax.set_xlabel("SGD step")
            else:
                ax.set_yscale("log")
                ax.set_xlabel("layer (1 = input side)")
        axes[0][0].set_ylabel(ylabel)
        axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        sections.append(kit.figure_to_html(fig, caption))
    sections.append(kit.aggregate_table(result, ("train_acc", "test_acc")))
    return sections


# What the catalog registers (see initlab.experiments.kit).
TITLE = "He et al. 2015: deep plain ReLU nets, Xavier vs Kaiming"
DEMO = {"train": {"steps": 600}}  # what `initlab demo` changes
ORDER = 50
SOURCE = kit.SOURCES["he-2015"]
