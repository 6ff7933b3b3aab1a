"""``circles``: zeros vs large random vs He on ``make_circles``, as in the original assignment.

deeplearning.ai "Improving Deep Neural Networks", week 1, "Initialization":
300 training / 100 test points from ``make_circles(noise=0.05)``, a [2, 10, 5, 1]
ReLU network with a sigmoid output, zero biases, full-batch gradient descent at
lr 0.01 for 15,000 iterations. All seeds and initializations train at once as
one vectorized model. The loss is computed from logits, so where the
assignment's float64 ``log(sigmoid)`` printed ``inf`` we report the finite
value; the gradients are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from initlab._validation import check_choice
from initlab.experiments import kit

__all__ = ["CIRCLES_INITS", "CirclesConfig"]

NAME = "circles"

CIRCLES_INITS = {
    "zeros": kit.Init("zeros", label="all weights 0"),
    "large_random": kit.Init("normal", {"std": 10.0}, "N(0,1)·10"),
    "he": kit.Init("he_normal", label="N(0,1)·√(2/n_in)"),
}
# (train accuracy, test accuracy) printed by the assignment's reference solution.
PUBLISHED = {"zeros": (0.50, 0.50), "large_random": (0.83, 0.86), "he": (0.9933, 0.96)}
GRID_LIMIT = 1.5  # the decision-boundary grid spans [-1.5, 1.5]², around both circles


# Specs are frozen, so one default instance can be shared by every config.
DATA = kit.DataSpec(dataset="circles", data_seed=1, n_train=300, n_test=100, noise=0.05)
TRAIN = kit.TrainSpec(lr=0.01, steps=15_000, log_every=100)


@dataclass(kw_only=True)
class CirclesConfig(kit.ExperimentConfig):
    """The assignment's setup; every field can be changed."""

    inits: tuple[str, ...] = tuple(CIRCLES_INITS)
    sizes: tuple[int, ...] = (2, 10, 5, 1)
    data: kit.DataSpec = DATA
    train: kit.TrainSpec = TRAIN
    grid: int = 80

    def validate(self) -> None:
        kit.check_names("inits", self.inits, CIRCLES_INITS)
        kit.check_fields(self, at_least={"sizes": 1, "grid": 2})
        check_choice("data.dataset", self.data.dataset, ("circles", "moons"))
        if len(self.sizes) < 2 or self.sizes[0] != 2 or self.sizes[-1] != 1:
            raise ValueError(f"sizes={self.sizes!r} must start with 2 inputs and end with 1 output")


def run(config: CirclesConfig, tick: kit.Tick) -> list[kit.Record]:
    """Train every init × seed for ``train.steps`` full-batch steps as one model."""
    data = config.data.load(binary=True).to(config.torch_device)
    runs = [(init, seed) for init in config.inits for seed in config.seed_list]
    models = [
        kit.initialized(kit.mlp(config.sizes, "relu"), CIRCLES_INITS[init], seed, NAME)
        for init, seed in runs
    ]
    trained = kit.train_runs(
        runs, models, data, config.train, device=config.torch_device, tick=tick,
        curves=("train_loss",),
    )  # fmt: skip
    initial = trained.log.metrics["train_loss"][:, 0].tolist()
    return (
        trained.records
        + [
            kit.Record(setting=init, seed=seed, metric="initial_loss", value=loss)
            for (init, seed), loss in zip(runs, initial)
        ]
        + _boundaries(trained.stack, runs, data, config)
    )


def _boundaries(
    stack: kit.Stack, runs: list[tuple[str, int]], data: kit.Dataset, cfg: CirclesConfig
) -> list[kit.Record]:
    """P(class 1) on a grid for the first seed's runs, and the points, for the plots."""
    axis = torch.linspace(-GRID_LIMIT, GRID_LIMIT, cfg.grid)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([gx.flatten(), gy.flatten()], dim=1).to(data.x_train.device)
    with torch.no_grad():
        prob = torch.sigmoid(stack.forward_shared(grid)[..., 0]).reshape(len(runs), cfg.grid, -1)
    rows = [
        kit.Record(
            setting=init,
            seed=seed,
            metric="boundary_grid",
            value=prob[r].round(decimals=3).tolist(),
        )
        for r, (init, seed) in enumerate(runs)
        if seed == cfg.seed
    ]
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        points = torch.cat([x.cpu(), y.cpu().unsqueeze(1)], dim=1).round(decimals=4).tolist()
        rows.append(kit.Record(setting="data", seed=None, metric=f"{split}_points", value=points))
    return rows


def check(result: kit.ExperimentResult, cfg: CirclesConfig) -> list[kit.SourceCheck]:
    out: list[kit.SourceCheck] = []
    for init in cfg.inits:
        train_acc = kit.scalar_values(result, init, "train_acc")
        test_acc = kit.scalar_values(result, init, "test_acc")
        pub_train, pub_test = PUBLISHED[init]
        mean_train = sum(v or 0.0 for v in train_acc) / len(train_acc)
        mean_test = sum(v or 0.0 for v in test_acc) / len(test_acc)
        out.append(
            kit.SourceCheck(
                claim=f"{init} ({CIRCLES_INITS[init].label}): final train / test accuracy",
                ours=f"train {kit.fmt_range(train_acc)}; test {kit.fmt_range(test_acc)}",
                published=f"train {pub_train:.2%}, test {pub_test:.0%}",
                agrees=abs(mean_train - pub_train) <= 0.05 and abs(mean_test - pub_test) <= 0.05,
            )
        )
    if "zeros" in cfg.inits:
        losses = [r.value for r in result.select(setting="zeros", metric="train_loss_curve")]
        worst = max(abs(float(v) - math.log(2)) for v in losses if isinstance(v, float))
        out.append(
            kit.SourceCheck(
                claim="zeros: the loss never leaves ln 2 (every hidden unit stays 0)",
                ours=f"max |loss − ln 2| over all logged steps and seeds = {worst:.1e}",
                published="cost 0.6931471805599453 at every iteration",
                agrees=worst < 1e-5,
            )
        )
    if "large_random" in cfg.inits:
        initial = kit.scalar_values(result, "large_random", "initial_loss")
        out.append(
            kit.SourceCheck(
                claim="large random (×10): huge initial loss",
                ours="initial loss " + kit.fmt_range(initial, ".2f"),
                published="cost inf at iteration 0 (log(0) in the assignment's float64 loss)",
                agrees=all(v is None or v > 1.0 for v in initial),
            )
        )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    inits = result.config["inits"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, init in enumerate(inits):
        kit.band(ax, result, init, "train_loss_curve", kit.COLORS[i], init)
    ax.set_yscale("log")
    ax.set_xlabel("iteration (full-batch gradient descent)")
    ax.set_ylabel("training loss (log scale)")
    ax.axhline(math.log(2), color="grey", ls="--", lw=1)
    # The label sits at the right end, where no curve starts; the legend in the empty top right.
    ax.text(1.0, math.log(2) * 1.1, "ln 2", color="grey", fontsize=8, ha="right",
            transform=ax.get_yaxis_transform())  # fmt: skip
    ax.legend(loc="upper right")
    return [
        kit.figure_to_html(fig, "Training loss per initialization: mean over seeds, band min–max."),
        _render_boundaries(result, inits),
        kit.aggregate_table(result, ("train_acc", "test_acc", "initial_loss", "train_loss")),
    ]


def _render_boundaries(result: kit.ExperimentResult, inits: list[str]) -> str:
    plt = kit.pyplot()
    points = result.select(setting="data", metric="train_points")
    if not points:
        return ""
    pts = np.asarray(points[0].value)
    cfg: dict[str, Any] = result.config
    fig, axes = plt.subplots(1, len(inits), figsize=(4 * len(inits), 4), squeeze=False)
    for ax, init in zip(axes[0], inits):
        grid = result.select(setting=init, metric="boundary_grid", seed=cfg["seed"])
        if not grid:
            continue
        g = np.asarray(grid[0].value)
        axis = np.linspace(-GRID_LIMIT, GRID_LIMIT, g.shape[0])
        ax.contourf(axis, axis, g, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
        ax.contour(axis, axis, g, levels=[0.5], colors="k", linewidths=1)
        ax.scatter(
            pts[:, 0], pts[:, 1], c=pts[:, 2], cmap="RdBu_r", s=9, edgecolors="k", linewidths=0.3
        )
        acc = [r.value for r in result.select(setting=init, metric="train_acc", seed=cfg["seed"])]
        ax.set_title(init + (f" — train acc {acc[0]:.1%}" if acc and acc[0] is not None else ""))
        ax.set_aspect("equal")
        ax.grid(False)
    return kit.figure_to_html(
        fig, f"Decision boundaries after training (seed {cfg['seed']}); colour: P(class 1)."
    )


# What the catalog registers (see initlab.experiments.kit).
TITLE = "Zeros vs large random vs He on make_circles"
DEMO: dict[str, object] = {}  # what `initlab demo` changes
ORDER = 20
SOURCE = kit.SOURCES["deeplearning-ai-initialization"]
