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
from initlab.experiments._data import Dataset, load_dataset
from initlab.experiments._vectorized import Stack, TrainLog, TrainSpec, init_model, mlp, train

__all__ = ["CIRCLES_INITS", "CirclesConfig", "run_circles"]

NAME = "circles"
TITLE = "Zeros vs large random vs He on make_circles"
SOURCE = 'deeplearning.ai "Improving Deep Neural Networks", week 1 assignment "Initialization"'

CIRCLES_INITS: dict[str, tuple[Callable[[torch.Tensor, torch.Generator], object], str]] = {
    "zeros": (lambda w, g: initlab.zeros_(w), "all weights 0"),
    "large_random": (lambda w, g: initlab.normal_(w, std=10.0, generator=g), "N(0,1)·10"),
    "he": (
        lambda w, g: initlab.kaiming_normal_(w, nonlinearity="relu", generator=g),
        "N(0,1)·√(2/n_in)",
    ),
}
# (train accuracy, test accuracy) printed by the assignment's reference solution.
PUBLISHED = {"zeros": (0.50, 0.50), "large_random": (0.83, 0.86), "he": (0.9933, 0.96)}


@dataclass(kw_only=True)
class CirclesConfig(ExperimentConfig):
    """The assignment's setup; every field can be changed."""

    inits: tuple[str, ...] = tuple(CIRCLES_INITS)
    sizes: tuple[int, ...] = (2, 10, 5, 1)
    n_train: int = 300
    n_test: int = 100
    noise: float = 0.05
    data_seed: int = 1
    lr: float = 0.01
    iterations: int = 15_000
    log_every: int = 100
    grid: int = 80

    def validate(self) -> None:
        check_names("inits", self.inits, CIRCLES_INITS)
        check_fields(
            self,
            at_least={"sizes": 1, "n_train": 2, "n_test": 2, "data_seed": 0,
                      "iterations": 1, "log_every": 1, "grid": 2},
            positive=("lr",),
            non_negative=("noise",),
        )  # fmt: skip
        if len(self.sizes) < 2 or self.sizes[0] != 2 or self.sizes[-1] != 1:
            raise ValueError(f"sizes={self.sizes!r} must start with 2 inputs and end with 1 output")


def _runs(cfg: CirclesConfig) -> list[tuple[str, int]]:
    return [(init, seed) for init in cfg.inits for seed in cfg.seed_list]


def run_circles(config: CirclesConfig, progress: Progress | None = None) -> ExperimentResult:
    """Train every init × seed for ``iterations`` full-batch steps as one model."""
    data = load_dataset(
        "circles",
        data_seed=config.data_seed,
        n_train=config.n_train,
        n_test=config.n_test,
        noise=config.noise,
        binary=True,
    ).to(config.torch_device)
    runs = _runs(config)
    models = [
        init_model(
            mlp(config.sizes, "relu"), CIRCLES_INITS[init][0], initlab.seeded_generator(seed, NAME)
        )
        for init, seed in runs
    ]
    stack = Stack(models, config.torch_device)
    spec = TrainSpec(lr=config.lr, steps=config.iterations, log_every=config.log_every)

    def on_log(step: int) -> None:
        if progress is not None:
            progress(NAME, step, config.iterations)

    log = train(stack, data, spec, [seed for _, seed in runs], on_log=on_log)
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())
    result.records = _records(runs, log) + _boundaries(stack, runs, data, config)
    result.findings = _findings(result, config)
    return result


def _records(runs: list[tuple[str, int]], log: TrainLog) -> list[Record]:
    rows: list[Record] = []
    m = log.metrics
    for r, (init, seed) in enumerate(runs):
        for t, step in enumerate(log.steps):
            rows.append(
                Record(
                    setting=init,
                    seed=seed,
                    metric="loss",
                    index=step,
                    value=_f(m["train_loss"][r, t]),
                )
            )
        for key in ("train_acc", "test_acc", "train_loss", "test_loss"):
            rows.append(Record(setting=init, seed=seed, metric=key, value=_f(m[key][r, -1])))
        rows.append(
            Record(setting=init, seed=seed, metric="initial_loss", value=_f(m["train_loss"][r, 0]))
        )
    return rows


def _f(x: torch.Tensor) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


def _boundaries(
    stack: Stack, runs: list[tuple[str, int]], data: Dataset, cfg: CirclesConfig
) -> list[Record]:
    """P(class 1) on a grid for every run, and the points, for the decision-boundary plots."""
    lim = 1.5
    axis = torch.linspace(-lim, lim, cfg.grid)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([gx.flatten(), gy.flatten()], dim=1).to(data.x_train.device)
    with torch.no_grad():
        prob = torch.sigmoid(stack.forward_shared(grid)[..., 0]).reshape(
            len(runs), cfg.grid, cfg.grid
        )
    rows = [
        Record(
            setting=init,
            seed=seed,
            metric="boundary_grid",
            value=[[round(float(v), 3) for v in row] for row in prob[r].cpu()],
        )
        for r, (init, seed) in enumerate(runs)
        if seed == cfg.seed
    ]
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        points = torch.cat([x.cpu(), y.cpu().unsqueeze(1)], dim=1)
        rows.append(
            Record(
                setting="data",
                seed=None,
                metric=f"{split}_points",
                value=[[round(float(v), 4) for v in p] for p in points],
            )
        )
    rows.append(Record(setting="data", seed=None, metric="grid_limit", value=lim))
    return rows


def _findings(result: ExperimentResult, cfg: CirclesConfig) -> list[Finding]:
    out: list[Finding] = []
    for init in cfg.inits:
        train_acc = scalar_values(result, init, "train_acc")
        test_acc = scalar_values(result, init, "test_acc")
        pub_train, pub_test = PUBLISHED[init]
        mean_train = sum(v or 0.0 for v in train_acc) / len(train_acc)
        mean_test = sum(v or 0.0 for v in test_acc) / len(test_acc)
        out.append(
            Finding(
                claim=f"{init} ({CIRCLES_INITS[init][1]}): final train / test accuracy",
                ours=f"train {fmt_range(train_acc)}; test {fmt_range(test_acc)}",
                published=f"train {pub_train:.2%}, test {pub_test:.0%}",
                source=SOURCE,
                agrees=abs(mean_train - pub_train) <= 0.05 and abs(mean_test - pub_test) <= 0.05,
            )
        )
    if "zeros" in cfg.inits:
        losses = [r.value for r in result.select(setting="zeros", metric="loss")]
        worst = max(abs(float(v) - math.log(2)) for v in losses if isinstance(v, float))
        out.append(
            Finding(
                claim="zeros: the loss never leaves ln 2 (every hidden unit stays 0)",
                ours=f"max |loss − ln 2| over all logged steps and seeds = {worst:.1e}",
                published="cost 0.6931471805599453 at every iteration",
                source=SOURCE,
                agrees=worst < 1e-5,
            )
        )
    if "large_random" in cfg.inits:
        initial = scalar_values(result, "large_random", "initial_loss")
        out.append(
            Finding(
                claim="large random (×10): huge initial loss",
                ours="initial loss " + fmt_range(initial, ".2f"),
                published="cost inf at iteration 0 (log(0) in the assignment's float64 loss)",
                source=SOURCE,
                agrees=all(v is None or v > 1.0 for v in initial),
            )
        )
    return out
