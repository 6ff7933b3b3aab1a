"""``symmetry``: constant init keeps every hidden unit identical, forever.

A [2, H, 1] tanh network on ``make_circles``, trained full-batch. With every
weight set to the same constant, each hidden unit computes the same function and
receives the same gradient, so after any number of steps the layer still holds
one distinct unit (the hidden activations have rank 1). Random (He) init breaks
the tie at step 0. The constant runs do not depend on the seed: the seeds only
change the random runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from initlab.experiments._base import (
    ExperimentConfig,
    ExperimentResult,
    Record,
    Source,
    SourceCheck,
    Tick,
    check_fields,
    check_names,
    fmt_range,
    scalar_values,
)
from initlab.experiments._data import Dataset, DataSpec
from initlab.experiments._plots import COLORS, aggregate_table, band, figure_to_html, pyplot
from initlab.experiments._registry import Experiment, register_experiment
from initlab.experiments._training import Init, Stack, TrainSpec, initialized, mlp, train_runs

__all__ = ["SYMMETRY_INITS", "SymmetryConfig", "distinct_units"]

NAME = "symmetry"
SOURCE = Source(
    citation="A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, Dive into Deep Learning, "
    "“Numerical Stability and Initialization”, “Breaking the Symmetry”; "
    "I. Goodfellow, Y. Bengio, A. Courville, Deep Learning (2016), §8.4",
    url="https://d2l.ai/chapter_multilayer-perceptrons/numerical-stability-and-init.html",
)

SYMMETRY_INITS = {
    "constant": Init("constant", {"value": 0.3}, "every weight 0.3"),
    "random": Init("he_normal", label="He normal"),
}


# Specs are frozen, so one default instance can be shared by every config.
DATA = DataSpec(dataset="circles", data_seed=1)
TRAIN = TrainSpec(optimizer="adam", lr=0.03, steps=2000, log_every=50)


@dataclass(kw_only=True)
class SymmetryConfig(ExperimentConfig):
    """Hidden width, the data and the optimizer; units are counted at every logged step."""

    inits: tuple[str, ...] = tuple(SYMMETRY_INITS)
    hidden: int = 16
    data: DataSpec = DATA
    train: TrainSpec = TRAIN

    def validate(self) -> None:
        check_names("inits", self.inits, SYMMETRY_INITS)
        check_fields(self, at_least={"hidden": 2})


def distinct_units(weight_in: torch.Tensor, bias: torch.Tensor, weight_out: torch.Tensor) -> int:
    """Hidden units that differ (relative tolerance 1e-6) in incoming weights, bias
    and outgoing weights; ``weight_in`` is (H, in), ``weight_out`` is (out, H)."""
    rows = torch.cat([weight_in, bias.unsqueeze(1), weight_out.T], dim=1)
    scale = rows.abs().max().clamp_min(1e-30)
    return int(torch.unique(torch.round(rows / scale * 1e6), dim=0).shape[0])


def _hidden_rank(stack: Stack, r: int, data: Dataset) -> int:
    w, b = stack.params["0.weight"][r], stack.params["0.bias"][r]
    hidden = torch.tanh(data.x_train @ w.T + b)
    return int(torch.linalg.matrix_rank(hidden.double(), rtol=1e-6))


def run(config: SymmetryConfig, tick: Tick) -> list[Record]:
    """Train constant and random inits; count distinct hidden units at each logged step."""
    data = config.data.load(binary=True).to(config.torch_device)
    runs = [(init, seed) for init in config.inits for seed in config.seed_list]
    models = [
        initialized(mlp((2, config.hidden, 1), "tanh"), SYMMETRY_INITS[init], seed, NAME)
        for init, seed in runs
    ]
    counts: list[Record] = []

    def count(step: int, stack: Stack) -> None:
        p = stack.params
        with torch.no_grad():
            for r, (init, seed) in enumerate(runs):
                row: dict[str, Any] = {"setting": init, "seed": seed, "index": step}
                units = distinct_units(p["0.weight"][r], p["0.bias"][r], p["2.weight"][r])
                counts.append(Record(**row, metric="distinct_units", value=units))
                counts.append(
                    Record(**row, metric="hidden_rank", value=_hidden_rank(stack, r, data))
                )

    trained = train_runs(
        runs, models, data, config.train, device=config.torch_device, tick=tick, on_log=count
    )
    return counts + trained.records


def check(result: ExperimentResult, cfg: SymmetryConfig) -> list[SourceCheck]:
    out = []
    for init in cfg.inits:
        counts = [r.value for r in result.select(setting=init, metric="distinct_units")]
        final = [
            r.value
            for r in result.select(setting=init, metric="distinct_units", index=cfg.train.steps)
        ]
        acc = scalar_values(result, init, "train_acc")
        expect_one = init == "constant"
        ok = all(c == 1 for c in counts) if expect_one else all(c == cfg.hidden for c in final)
        claim = (
            "one distinct hidden unit at every step"
            if expect_one
            else f"all {cfg.hidden} units distinct"
        )
        out.append(
            SourceCheck(
                claim=f"{init}: {claim}",
                ours=(
                    f"distinct units over training: {min(counts)}–{max(counts)} "  # type: ignore[type-var]
                    f"of {cfg.hidden}; final train accuracy {fmt_range(acc)}"
                ),
                published="qualitative (identical units get identical gradients)",
                agrees=ok,
            )
        )
    return out


def render(result: ExperimentResult) -> list[str]:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, init in enumerate(result.config["inits"]):
        band(axes[0], result, init, "distinct_units", COLORS[i], init)
        band(axes[1], result, init, "hidden_rank", COLORS[i], init)
    axes[0].set_ylabel("distinct hidden units")
    axes[1].set_ylabel("rank of hidden activations")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.set_ylim(0, result.config["hidden"] + 1)
        ax.legend(loc="center right")
    caption = (
        "Distinct hidden units (incoming weights, bias, outgoing weight) and the rank of the "
        "hidden layer's activations on the training set."
    )
    return [figure_to_html(fig, caption), aggregate_table(result, ("train_acc", "test_acc"))]


register_experiment(
    Experiment(
        name=NAME,
        title="Symmetry: constant init leaves one distinct hidden unit",
        config=SymmetryConfig,
        run=run,
        check=check,
        render=render,
        source=SOURCE,
        demo={},
        order=30,
        doc=__doc__ or "",
    )
)
