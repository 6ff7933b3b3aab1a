"""``compare``: any schemes (or model-wide presets) × seeds, on an offline dataset.

The general tool: every weight of an MLP or small CNN gets the scheme (biases
0), or the whole model gets an ``initlab.rules`` preset; all runs of one model
shape train together as one vectorized model with the chosen optimizer. Reports
loss/accuracy curves (mean and min–max band over seeds), final metrics and
per-layer gradient norms over the first steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn

import initlab
from initlab._validation import unknown_name_error
from initlab.experiments._common import (
    ExperimentConfig,
    ExperimentResult,
    Finding,
    Progress,
    Record,
    check_fields,
    fmt_range,
    scalar_values,
)
from initlab.experiments._data import DATASETS, Dataset, load_dataset
from initlab.experiments._vectorized import (
    ACTIVATION_MODULES,
    OPTIMIZERS,
    Stack,
    TrainSpec,
    init_model,
    mlp,
    small_cnn,
)
from initlab.experiments._vectorized import train as train_stack

__all__ = ["MODEL_KINDS", "CompareConfig", "resolve_scheme", "run_compare"]

NAME = "compare"
TITLE = "Compare initialization schemes on one task"
MODEL_KINDS = ("mlp", "cnn")


def _presets() -> dict[str, Any]:
    try:
        from initlab import rules
    except ImportError:
        return {}
    return dict(getattr(rules, "PRESETS", {}))


def resolve_scheme(name: str) -> str:
    """'scheme' for a registered initializer name, 'preset' for an ``initlab.rules`` preset."""
    if not isinstance(name, str):
        raise TypeError(f"scheme={name!r} must be a name such as 'he_normal'")
    if name in initlab.known_names():
        return "scheme"
    if name in _presets():
        return "preset"
    raise unknown_name_error("scheme", name, [*initlab.known_names(), *_presets()])


@dataclass(kw_only=True)
class CompareConfig(ExperimentConfig):
    """Schemes/presets, dataset (a name or a .pt path), model, optimizer and schedule."""

    schemes: tuple[str, ...] = ("xavier_uniform", "kaiming_normal", "orthogonal", "lecun_normal")
    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    channels: tuple[int, ...] = (8, 16)
    activation: str = "relu"
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    steps: int = 600
    batch_size: int = 64
    log_every: int = 20
    grad_norm_steps: int = 20
    data_seed: int = 0

    def validate(self) -> None:
        if isinstance(self.schemes, str) or not self.schemes:
            raise ValueError(f"schemes={self.schemes!r} must be a non-empty sequence of names")
        for name in self.schemes:
            resolve_scheme(name)
        if self.dataset not in DATASETS and not self.dataset.endswith(".pt"):
            raise unknown_name_error("dataset", self.dataset, [*DATASETS, "<path to a .pt file>"])
        if self.model not in MODEL_KINDS:
            raise unknown_name_error("model", self.model, MODEL_KINDS)
        if self.activation not in ACTIVATION_MODULES:
            raise unknown_name_error("activation", self.activation, ACTIVATION_MODULES)
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name_error("optimizer", self.optimizer, OPTIMIZERS)
        check_fields(
            self,
            at_least={"hidden": 1, "channels": 1, "steps": 1, "batch_size": 1,
                      "log_every": 1, "grad_norm_steps": 0, "data_seed": 0},
            positive=("lr",),
            non_negative=("momentum",),
        )  # fmt: skip

    def spec(self) -> TrainSpec:
        momentum = self.momentum if self.optimizer in ("sgd", "rmsprop") else 0.0
        return TrainSpec(
            optimizer=self.optimizer,
            lr=self.lr,
            momentum=momentum,
            steps=self.steps,
            batch_size=self.batch_size,
            log_every=self.log_every,
            grad_norm_steps=self.grad_norm_steps,
        )


def _blank(cfg: CompareConfig, data: Dataset) -> nn.Sequential:
    if cfg.model == "cnn":
        side = round(math.sqrt(data.n_features))
        return small_cnn(side, cfg.channels, data.n_classes, cfg.activation)
    return mlp((data.n_features, *cfg.hidden, data.n_classes), cfg.activation)


def _build(cfg: CompareConfig, data: Dataset, scheme: str, seed: int) -> nn.Module:
    model = _blank(cfg, data)
    if resolve_scheme(scheme) == "preset":
        from initlab import rules

        rules.init_model(model, scheme, seed=seed)
        return model
    init = initlab.get(scheme)
    return init_model(
        model, lambda w, g: init(w, generator=g), initlab.seeded_generator(seed, NAME)
    )


def run_compare(config: CompareConfig, progress: Progress | None = None) -> ExperimentResult:
    """Train every scheme × seed as one vectorized model; record curves and gradient norms."""
    data = load_dataset(config.dataset, data_seed=config.data_seed)
    if config.model == "cnn":
        data = data.as_images()
    data = data.to(config.torch_device)
    runs = [(scheme, seed) for scheme in config.schemes for seed in config.seed_list]
    models = [_build(config, data, scheme, seed) for scheme, seed in runs]

    def on_log(step: int) -> None:
        if progress is not None:
            progress(NAME, step, config.steps)

    log = train_stack(
        Stack(models, config.torch_device), data, config.spec(), [s for _, s in runs], on_log=on_log
    )
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())
    for r, (scheme, seed) in enumerate(runs):
        for t, step in enumerate(log.steps):
            for key in ("train_loss", "test_acc"):
                value = float(log.metrics[key][r, t])
                result.records.append(
                    Record(
                        setting=scheme,
                        seed=seed,
                        metric=f"{key}_curve",
                        index=step,
                        value=value if math.isfinite(value) else None,
                    )
                )
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            value = float(log.metrics[key][r, -1])
            result.records.append(
                Record(
                    setting=scheme,
                    seed=seed,
                    metric=key,
                    value=value if math.isfinite(value) else None,
                )
            )
        if log.grad_norms is not None:
            early = log.grad_norms[r].mean(dim=0)  # mean over the first steps, per layer
            for layer, norm in enumerate(early.tolist(), 1):
                result.records.append(
                    Record(
                        setting=scheme, seed=seed, metric="early_grad_norm", index=layer, value=norm
                    )
                )
    best = max(config.schemes, key=lambda s: _mean(scalar_values(result, s, "test_acc")))
    result.findings = [
        Finding(
            claim=f"best final test accuracy: {best}",
            ours=fmt_range(scalar_values(result, best, "test_acc")),
        )
    ]
    return result


def _mean(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None]
    return sum(finite) / len(finite) if finite else -math.inf
