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

from torch import nn

from initlab import initializers
from initlab._activations import lookup_activation
from initlab._validation import check_choice, unknown_name_error
from initlab.experiments import kit
from initlab.rules import PRESETS, init_model

__all__ = ["MODEL_KINDS", "CompareConfig", "resolve_scheme"]

NAME = "compare"
MODEL_KINDS = ("mlp", "cnn")


def resolve_scheme(name: str) -> str:
    """'scheme' for a registered initializer name, 'preset' for an ``initlab.rules`` preset."""
    if not isinstance(name, str):
        raise TypeError(f"scheme={name!r} must be a name such as 'he_normal'")
    if name in initializers.known_names():
        return "scheme"
    if name in PRESETS:
        return "preset"
    raise unknown_name_error("scheme", name, [*initializers.known_names(), *PRESETS])


# Specs are frozen, so one default instance can be shared by every config.
DATA = kit.DataSpec(dataset="digits")
TRAIN = kit.TrainSpec(
    lr=0.05, momentum=0.9, steps=600, batch_size=64, log_every=20, grad_norm_steps=20
)


@dataclass(kw_only=True)
class CompareConfig(kit.ExperimentConfig):
    """Schemes/presets, the data, the model (kind, sizes, activation) and the training run."""

    schemes: tuple[str, ...] = ("xavier_uniform", "kaiming_normal", "orthogonal", "lecun_normal")
    model: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    channels: tuple[int, ...] = (8, 16)
    activation: str = "relu"
    data: kit.DataSpec = DATA
    train: kit.TrainSpec = TRAIN

    def validate(self) -> None:
        if isinstance(self.schemes, str) or not self.schemes:
            raise ValueError(f"schemes={self.schemes!r} must be a non-empty sequence of names")
        for name in self.schemes:
            resolve_scheme(name)
        check_choice("model", self.model, MODEL_KINDS)
        lookup_activation(self.activation)
        kit.check_fields(self, at_least={"hidden": 1, "channels": 1})


def _build(cfg: CompareConfig, data: kit.Dataset, scheme: str, seed: int) -> nn.Module:
    if cfg.model == "cnn":
        side = round(math.sqrt(data.n_features))
        model = kit.small_cnn(side, cfg.channels, data.n_classes, cfg.activation)
    else:
        model = kit.mlp((data.n_features, *cfg.hidden, data.n_classes), cfg.activation)
    if resolve_scheme(scheme) == "preset":
        init_model(model, scheme, seed=seed)
        return model
    return kit.initialized(model, kit.Init(scheme), seed, NAME)


def run(config: CompareConfig, tick: kit.Tick) -> list[kit.Record]:
    """Train every scheme × seed as one vectorized model; curves and early gradient norms."""
    data = config.data.load()
    if config.model == "cnn":
        data = data.as_images()
    data = data.to(config.torch_device)
    runs = [(scheme, seed) for scheme in config.schemes for seed in config.seed_list]
    models = [_build(config, data, scheme, seed) for scheme, seed in runs]
    return kit.train_runs(
        runs, models, data, config.train, device=config.torch_device, tick=tick,
        curves=("train_loss", "test_acc"),
    ).records  # fmt: skip


def check(result: kit.ExperimentResult, cfg: CompareConfig) -> list[kit.SourceCheck]:
    def mean(values: list[float | None]) -> float:
        finite = [v for v in values if v is not None]
        return sum(finite) / len(finite) if finite else -math.inf

    best = max(cfg.schemes, key=lambda s: mean(kit.scalar_values(result, s, "test_acc")))
    return [
        kit.SourceCheck(
            claim=f"best final test accuracy: {best}",
            ours=kit.fmt_range(kit.scalar_values(result, best, "test_acc")),
        )
    ]


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    cfg = result.config
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, scheme in enumerate(cfg["schemes"]):
        color = kit.COLORS[i % len(kit.COLORS)]
        for ax, metric in zip(axes, ("train_loss_curve", "test_acc_curve", "early_grad_norm")):
            kit.band(ax, result, scheme, metric, color, scheme)
    axes[0].set_yscale("log")
    labels = (
        ("step", "training loss"),
        ("step", "test accuracy"),
        ("layer", f"mean ‖∂loss/∂W‖, first {cfg['train']['grad_norm_steps']} steps"),
    )
    for ax, (xl, yl) in zip(axes, labels):
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    axes[2].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    caption = (
        "Loss and accuracy curves (mean, min–max band over seeds) and early per-layer "
        "gradient norms."
    )
    return [
        kit.figure_to_html(fig, caption),
        kit.aggregate_table(result, ("train_acc", "test_acc", "train_loss", "test_loss")),
    ]


# What the catalog registers (see initlab.experiments.kit).
TITLE = "Compare initialization schemes on one task"
DEMO = None  # not part of `initlab demo`
ORDER = 90
SOURCE = None  # a tool, not a reproduction
