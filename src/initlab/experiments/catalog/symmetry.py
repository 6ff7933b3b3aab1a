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

from initlab.experiments import kit

__all__ = ["SYMMETRY_INITS", "SymmetryConfig", "distinct_units"]

NAME = "symmetry"

SYMMETRY_INITS = {
    "constant": kit.Init("constant", {"value": 0.3}, "every weight 0.3"),
    "random": kit.Init("he_normal", label="He normal"),
}


# Specs are frozen, so one default instance can be shared by every config.
DATA = kit.DataSpec(dataset="circles", data_seed=1)
TRAIN = kit.TrainSpec(optimizer="adam", lr=0.03, steps=2000, log_every=50)


@dataclass(kw_only=True)
class SymmetryConfig(kit.ExperimentConfig):
    """Hidden width, the data and the optimizer; units are counted at every logged step."""

    inits: tuple[str, ...] = tuple(SYMMETRY_INITS)
    data: kit.DataSpec = DATA
    train: kit.TrainSpec = TRAIN
    hidden: int = 16

    def validate(self) -> None:
        kit.check_names("inits", self.inits, SYMMETRY_INITS)
        kit.check_fields(self, at_least={"hidden": 2})


def distinct_units(weight_in: torch.Tensor, bias: torch.Tensor, weight_out: torch.Tensor) -> int:
    """Hidden units that differ (relative tolerance 1e-6) in incoming weights, bias
    and outgoing weights; ``weight_in`` is (H, in), ``weight_out`` is (out, H)."""
    rows = torch.cat([weight_in, bias.unsqueeze(1), weight_out.T], dim=1)
    scale = rows.abs().max().clamp_min(1e-30)
    return int(torch.unique(torch.round(rows / scale * 1e6), dim=0).shape[0])


def _hidden_rank(stack: kit.Stack, r: int, data: kit.Dataset) -> int:
    w, b = stack.params["0.weight"][r], stack.params["0.bias"][r]
    hidden = torch.tanh(data.x_train @ w.T + b)
    return int(torch.linalg.matrix_rank(hidden.double(), rtol=1e-6))


def run(config: SymmetryConfig, tick: kit.Tick) -> list[kit.Record]:
    """Train constant and random inits; count distinct hidden units at each logged step."""
    data = config.data.load(binary=True).to(config.torch_device)
    runs = [(init, seed) for init in config.inits for seed in config.seed_list]
    models = [
        kit.initialized(kit.mlp((2, config.hidden, 1), "tanh"), SYMMETRY_INITS[init], seed, NAME)
        for init, seed in runs
    ]
    counts: list[kit.Record] = []

    def count(step: int, stack: kit.Stack) -> None:
        p = stack.params
        with torch.no_grad():
            for r, (init, seed) in enumerate(runs):
                row: dict[str, Any] = {"setting": init, "seed": seed, "index": step}
                units = distinct_units(p["0.weight"][r], p["0.bias"][r], p["2.weight"][r])
                counts.append(kit.Record(**row, metric="distinct_units", value=units))
                counts.append(
                    kit.Record(**row, metric="hidden_rank", value=_hidden_rank(stack, r, data))
                )

    trained = kit.train_runs(
        runs, models, data, config.train, device=config.torch_device, tick=tick, on_log=count
    )
    return counts + trained.records


def check(result: kit.ExperimentResult, cfg: SymmetryConfig) -> list[kit.SourceCheck]:
    out = []
    for init in cfg.inits:
        counts = [r.value for r in result.select(setting=init, metric="distinct_units")]
        final = [
            r.value
            for r in result.select(setting=init, metric="distinct_units", index=cfg.train.steps)
        ]
        acc = kit.scalar_values(result, init, "train_acc")
        expect_one = init == "constant"
        ok = all(c == 1 for c in counts) if expect_one else all(c == cfg.hidden for c in final)
        claim = (
            "one distinct hidden unit at every step"
            if expect_one
            else f"all {cfg.hidden} units distinct"
        )
        out.append(
            kit.SourceCheck(
                claim=f"{init}: {claim}",
                ours=(
                    f"distinct units over training: {min(counts)}–{max(counts)} "  # type: ignore[type-var]
                    f"of {cfg.hidden}; final train accuracy {kit.fmt_range(acc)}"
                ),
                published="qualitative (identical units get identical gradients)",
                agrees=ok,
            )
        )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, init in enumerate(result.config["inits"]):
        kit.band(axes[0], result, init, "distinct_units", kit.COLORS[i], init)
        kit.band(axes[1], result, init, "hidden_rank", kit.COLORS[i], init)
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
    return [
        kit.figure_to_html(fig, caption),
        kit.aggregate_table(result, ("train_acc", "test_acc")),
    ]


# What the catalog registers (see initlab.experiments.kit).
TITLE = "Symmetry: constant init leaves one distinct hidden unit"
DEMO: dict[str, object] = {}  # what `initlab demo` changes
ORDER = 30
SOURCE = kit.SOURCES["d2l-symmetry"]
