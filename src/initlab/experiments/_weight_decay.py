"""``weight-decay``: L2 in the optimizer vs decoupled (AdamW) vs none, on a task that overfits.

Seed articles 003 and 004: weight decay λ‖w‖² pulls weights toward 0 and fights
overfitting. With SGD, ``weight_decay`` is exactly L2 regularization; with Adam
the same gradient term gets rescaled per coordinate, which is why Loshchilov &
Hutter (2019) decouple it (AdamW). A ReLU MLP on 150 digits overfits quickly;
we report the train/test gap and the weight norm through training.
"""

from __future__ import annotations

from dataclasses import dataclass

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

__all__ = ["WD_SETTINGS", "WeightDecayConfig", "run_weight_decay"]

NAME = "weight-decay"
TITLE = "Weight decay: L2 vs decoupled (AdamW) vs none"
SOURCE = "seed articles 003, 004; Loshchilov & Hutter (2019), Decoupled weight decay regularization"

# setting → (optimizer, learning rate, weight_decay)
WD_SETTINGS: dict[str, tuple[str, float, float]] = {
    "sgd": ("sgd", 0.05, 0.0),
    "sgd + L2": ("sgd", 0.05, 5e-3),
    "adam": ("adam", 1e-3, 0.0),
    "adam + L2": ("adam", 1e-3, 5e-3),
    "adamw": ("adamw", 1e-3, 0.5),
}


@dataclass(kw_only=True)
class WeightDecayConfig(ExperimentConfig):
    """The small task and the settings compared."""

    settings: tuple[str, ...] = tuple(WD_SETTINGS)
    n_train: int = 150
    n_test: int = 600
    hidden: tuple[int, ...] = (256, 256)
    steps: int = 2000
    batch_size: int = 32
    momentum: float = 0.9
    log_every: int = 50
    data_seed: int = 0

    def validate(self) -> None:
        check_names("settings", self.settings, WD_SETTINGS)
        check_fields(
            self,
            at_least={"n_train": 2, "n_test": 2, "hidden": 1, "steps": 1,
                      "batch_size": 1, "log_every": 1, "data_seed": 0},
            non_negative=("momentum",),
        )  # fmt: skip


def run_weight_decay(
    config: WeightDecayConfig, progress: Progress | None = None
) -> ExperimentResult:
    """One vectorized model per setting (its seeds); same init and batches across settings."""
    data = load_dataset(
        "digits", data_seed=config.data_seed, n_train=config.n_train, n_test=config.n_test
    )
    data = data.to(config.torch_device)
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())
    sizes = (64, *config.hidden, 10)
    he = lambda w, g: initlab.kaiming_normal_(w, nonlinearity="relu", generator=g)  # noqa: E731
    for k, name in enumerate(config.settings):
        optimizer, lr, wd = WD_SETTINGS[name]
        models = [
            init_model(mlp(sizes, "relu"), he, initlab.seeded_generator(s, NAME))
            for s in config.seed_list
        ]
        momentum = config.momentum if optimizer == "sgd" else 0.0
        spec = TrainSpec(
            optimizer=optimizer,
            lr=lr,
            weight_decay=wd,
            momentum=momentum,
            steps=config.steps,
            batch_size=config.batch_size,
            log_every=config.log_every,
        )

        def on_log(step: int, offset: int = k * config.steps) -> None:
            if progress is not None:
                progress(NAME, offset + step, config.steps * len(config.settings))

        log = train(Stack(models, config.torch_device), data, spec, config.seed_list, on_log=on_log)
        m = log.metrics
        for r, seed in enumerate(config.seed_list):
            for t, step in enumerate(log.steps):
                for key in ("train_acc", "test_acc", "weight_norm"):
                    result.records.append(
                        Record(
                            setting=name,
                            seed=seed,
                            metric=f"{key}_curve",
                            index=step,
                            value=float(m[key][r, t]),
                        )
                    )
            gap = float(m["train_acc"][r, -1] - m["test_acc"][r, -1])
            for key in ("train_acc", "test_acc", "weight_norm"):
                result.records.append(
                    Record(setting=name, seed=seed, metric=key, value=float(m[key][r, -1]))
                )
            result.records.append(Record(setting=name, seed=seed, metric="gap", value=gap))
    result.findings = _findings(result, config)
    return result


def _mean(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None]
    return sum(finite) / max(1, len(finite))


def _findings(result: ExperimentResult, cfg: WeightDecayConfig) -> list[Finding]:
    out = []
    for base, decayed in (("sgd", "sgd + L2"), ("adam", "adam + L2"), ("adam", "adamw")):
        if base not in cfg.settings or decayed not in cfg.settings:
            continue
        norm_b, norm_d = (scalar_values(result, s, "weight_norm") for s in (base, decayed))
        gap_b, gap_d = (scalar_values(result, s, "gap") for s in (base, decayed))
        out.append(
            Finding(
                claim=f"{decayed} vs {base}: smaller weights and a smaller train/test gap",
                ours=(
                    f"weight norm {fmt_range(norm_d, '.1f')} vs {fmt_range(norm_b, '.1f')}; "
                    f"gap {fmt_range(gap_d)} vs {fmt_range(gap_b)}"
                ),
                published="qualitative (weight decay reduces overfitting)",
                source=SOURCE,
                agrees=_mean(norm_d) < _mean(norm_b) and _mean(gap_d) <= _mean(gap_b),
            )
        )
    return out
