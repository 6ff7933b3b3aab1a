"""``he``: plain deep ReLU networks, Xavier vs Kaiming, at several depths.

He et al. (2015), "Delving deep into rectifiers", Fig. 3: a 30-layer plain ReLU
network (no normalization) initialized with Xavier "completely stalls" while
Kaiming's √(2/n) init converges; at 22 layers both converge, Kaiming sooner.
Scaled down: ReLU MLPs of width 64 on scikit-learn's digits, SGD with momentum,
per-layer gradient norms at the first step, and training curves.
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
from initlab.experiments._data import load_dataset
from initlab.experiments._vectorized import Stack, TrainSpec, init_model, mlp, train

__all__ = ["HE_INITS", "HeConfig", "run_he"]

NAME = "he"
TITLE = "He et al. 2015: deep plain ReLU nets, Xavier vs Kaiming"
SOURCE = "He et al. (2015), Delving deep into rectifiers, Fig. 3"

HE_INITS: dict[str, Callable[[torch.Tensor, torch.Generator], object]] = {
    "xavier": lambda w, g: initlab.xavier_normal_(w, generator=g),
    "kaiming": lambda w, g: initlab.kaiming_normal_(w, nonlinearity="relu", generator=g),
}


@dataclass(kw_only=True)
class HeConfig(ExperimentConfig):
    """Depths (hidden layers), width, and the SGD run."""

    depths: tuple[int, ...] = (10, 20, 30)
    inits: tuple[str, ...] = tuple(HE_INITS)
    width: int = 64
    steps: int = 1500
    batch_size: int = 64
    lr: float = 0.003
    momentum: float = 0.9
    log_every: int = 50
    data_seed: int = 0

    def validate(self) -> None:
        check_names("inits", self.inits, HE_INITS)
        check_fields(
            self,
            at_least={"depths": 1, "width": 2, "steps": 1, "batch_size": 1,
                      "log_every": 1, "data_seed": 0},
            positive=("lr",),
            non_negative=("momentum",),
        )  # fmt: skip


def setting(init: str, depth: int) -> str:
    return f"{init}, depth {depth}"


def run_he(config: HeConfig, progress: Progress | None = None) -> ExperimentResult:
    """One vectorized model per depth (all inits × seeds), trained together."""
    data = load_dataset("digits", data_seed=config.data_seed).to(config.torch_device)
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())
    total = config.steps * len(config.depths)
    for d, depth in enumerate(config.depths):
        runs = [(init, seed) for init in config.inits for seed in config.seed_list]
        sizes = [64] + [config.width] * depth + [10]
        models = [
            init_model(mlp(sizes, "relu"), HE_INITS[i], initlab.seeded_generator(s, NAME, depth))
            for i, s in runs
        ]
        spec = TrainSpec(
            lr=config.lr,
            steps=config.steps,
            batch_size=config.batch_size,
            momentum=config.momentum,
            log_every=config.log_every,
            grad_norm_steps=1,
        )

        def on_log(step: int, offset: int = d * config.steps) -> None:
            if progress is not None:
                progress(NAME, offset + step, total)

        log = train(
            Stack(models, config.torch_device), data, spec, [s for _, s in runs], on_log=on_log
        )
        for r, (init, seed) in enumerate(runs):
            name = setting(init, depth)
            for t, step in enumerate(log.steps):
                loss = float(log.metrics["train_loss"][r, t])
                result.records.append(
                    Record(
                        setting=name,
                        seed=seed,
                        metric="loss",
                        index=step,
                        value=loss if math.isfinite(loss) else None,
                    )
                )
            assert log.grad_norms is not None
            for layer, norm in enumerate(log.grad_norms[r, 0].tolist(), 1):
                result.records.append(
                    Record(
                        setting=name, seed=seed, metric="grad_norm_step1", index=layer, value=norm
                    )
                )
            for key in ("train_acc", "test_acc", "train_loss"):
                value = float(log.metrics[key][r, -1])
                result.records.append(
                    Record(
                        setting=name,
                        seed=seed,
                        metric=key,
                        value=value if math.isfinite(value) else None,
                    )
                )
    result.findings = _findings(result, config)
    return result


def _findings(result: ExperimentResult, cfg: HeConfig) -> list[Finding]:
    out = []
    deepest = max(cfg.depths)
    for init in cfg.inits:
        acc = scalar_values(result, setting(init, deepest), "train_acc")
        stalls = init == "xavier"
        out.append(
            Finding(
                claim=f"{init} at depth {deepest}: "
                + ("stalls (chance-level training accuracy)" if stalls else "trains"),
                ours=f"train accuracy after {cfg.steps} steps: " + fmt_range(acc),
                published="30-layer Xavier net “completely stalls”; Kaiming converges"
                if deepest >= 30
                else "qualitative",
                source=SOURCE,
                agrees=all(v is not None and (v < 0.3 if stalls else v > 0.8) for v in acc),
            )
        )
    return out
