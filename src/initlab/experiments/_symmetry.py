"""``symmetry``: constant init keeps every hidden unit identical, forever.

A [2, H, 1] tanh network on ``make_circles``, trained full-batch. With every
weight set to the same constant, each hidden unit computes the same function and
receives the same gradient, so after any number of steps the layer still holds
one distinct unit (the hidden activations have rank 1). Random (He) init breaks
the tie at step 0. The constant runs do not depend on the seed: the seeds only
change the random runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import initlab
from initlab._validation import check_choice
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
from initlab.experiments._vectorized import OPTIMIZERS, Stack, TrainSpec, init_model, mlp, train

__all__ = ["SYMMETRY_INITS", "SymmetryConfig", "distinct_units", "run_symmetry"]

NAME = "symmetry"
TITLE = "Symmetry: constant init leaves one distinct hidden unit"
SOURCE = "seed articles 000, 002, 003 (the symmetry argument)"

SYMMETRY_INITS: dict[str, Callable[[torch.Tensor, torch.Generator], object]] = {
    "constant": lambda w, g: initlab.constant_(w, 0.3),
    "random": lambda w, g: initlab.kaiming_normal_(w, generator=g),
}


@dataclass(kw_only=True)
class SymmetryConfig(ExperimentConfig):
    """Hidden width, optimizer settings and how often units are counted."""

    inits: tuple[str, ...] = tuple(SYMMETRY_INITS)
    hidden: int = 16
    steps: int = 2000
    lr: float = 0.03
    optimizer: str = "adam"
    log_every: int = 50
    data_seed: int = 1

    def validate(self) -> None:
        check_names("inits", self.inits, SYMMETRY_INITS)
        check_fields(
            self,
            at_least={"hidden": 2, "steps": 1, "log_every": 1, "data_seed": 0},
            positive=("lr",),
        )
        check_choice("optimizer", self.optimizer, OPTIMIZERS)


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


def run_symmetry(config: SymmetryConfig, progress: Progress | None = None) -> ExperimentResult:
    """Train constant and random inits; count distinct hidden units at each log step."""
    data = load_dataset("circles", data_seed=config.data_seed, binary=True)
    data = data.to(config.torch_device)
    runs = [(init, seed) for init in config.inits for seed in config.seed_list]
    models = [
        init_model(
            mlp((2, config.hidden, 1), "tanh"),
            SYMMETRY_INITS[init],
            initlab.seeded_generator(seed, NAME),
            bias_value=0.0,
        )
        for init, seed in runs
    ]
    stack = Stack(models, config.torch_device)
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())

    def count(step: int) -> None:
        with torch.no_grad():
            p = stack.params
            for r, (init, seed) in enumerate(runs):
                n = distinct_units(p["0.weight"][r], p["0.bias"][r], p["2.weight"][r])
                result.records += [
                    Record(setting=init, seed=seed, metric="distinct_units", index=step, value=n),
                    Record(
                        setting=init,
                        seed=seed,
                        metric="hidden_rank",
                        index=step,
                        value=_hidden_rank(stack, r, data),
                    ),
                ]
        if progress is not None:
            progress(NAME, step, config.steps)

    count(0)
    spec = TrainSpec(
        optimizer=config.optimizer, lr=config.lr, steps=config.steps, log_every=config.log_every
    )
    log = train(stack, data, spec, [s for _, s in runs], on_log=count)
    for r, (init, seed) in enumerate(runs):
        for key in ("train_acc", "test_acc"):
            value = float(log.metrics[key][r, -1])
            result.records.append(Record(setting=init, seed=seed, metric=key, value=value))
    result.findings = _findings(result, config)
    return result


def _findings(result: ExperimentResult, cfg: SymmetryConfig) -> list[Finding]:
    out = []
    for init in cfg.inits:
        counts = [r.value for r in result.select(setting=init, metric="distinct_units")]
        final = [
            r.value for r in result.select(setting=init, metric="distinct_units", index=cfg.steps)
        ]
        acc = scalar_values(result, init, "train_acc")
        expect_one = init == "constant"
        ok = all(c == 1 for c in counts) if expect_one else all(c == cfg.hidden for c in final)
        out.append(
            Finding(
                claim=(
                    f"{init}: "
                    + (
                        "one distinct hidden unit at every step"
                        if expect_one
                        else f"all {cfg.hidden} units distinct"
                    )
                ),
                ours=(
                    f"distinct units over training: {min(counts)}–{max(counts)} "  # type: ignore[type-var]
                    f"of {cfg.hidden}; final train accuracy {fmt_range(acc)}"
                ),
                published="qualitative (the symmetry argument)",
                source=SOURCE,
                agrees=ok,
            )
        )
    return out
