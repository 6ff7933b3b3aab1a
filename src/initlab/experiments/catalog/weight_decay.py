"""``weight-decay``: L2 in the optimizer vs decoupled (AdamW) vs none, on a task that overfits.

Weight decay λ‖w‖² pulls weights toward 0 and fights overfitting (Krogh & Hertz
1991). With SGD, ``weight_decay`` is exactly L2 regularization; with Adam the
same gradient term gets rescaled per coordinate, which is why Loshchilov &
Hutter (2019) decouple it (AdamW). A ReLU MLP on 150 digits overfits quickly;
we report the train/test gap and the weight norm through training.
"""

from __future__ import annotations

from dataclasses import dataclass

from initlab.experiments import kit

__all__ = ["WD_SETTINGS", "WeightDecayConfig"]

NAME = "weight-decay"

# setting → (optimizer, learning rate, weight_decay)
WD_SETTINGS: dict[str, tuple[str, float, float]] = {
    "sgd": ("sgd", 0.05, 0.0),
    "sgd + L2": ("sgd", 0.05, 5e-3),
    "adam": ("adam", 1e-3, 0.0),
    "adam + L2": ("adam", 1e-3, 5e-3),
    "adamw": ("adamw", 1e-3, 0.5),
}
HE = kit.Init("he_normal", label="He normal")


# Specs are frozen, so one default instance can be shared by every config.
DATA = kit.DataSpec(dataset="digits", n_train=150, n_test=600)
TRAIN = kit.TrainSpec(momentum=0.9, steps=2000, batch_size=32, log_every=50)


@dataclass(kw_only=True)
class WeightDecayConfig(kit.ExperimentConfig):
    """The small task and the settings compared (each sets optimizer, lr and weight decay)."""

    settings: tuple[str, ...] = tuple(WD_SETTINGS)
    hidden: tuple[int, ...] = (256, 256)
    data: kit.DataSpec = DATA
    train: kit.TrainSpec = TRAIN

    def validate(self) -> None:
        kit.check_names("settings", self.settings, WD_SETTINGS)
        kit.check_fields(self, at_least={"hidden": 1})


def run(config: WeightDecayConfig, tick: kit.Tick) -> list[kit.Record]:
    """One vectorized model per setting (its seeds); same init and batches across settings."""
    data = config.data.load().to(config.torch_device)
    sizes = (data.n_features, *config.hidden, data.n_classes)
    records: list[kit.Record] = []
    for k, name in enumerate(config.settings):
        optimizer, lr, wd = WD_SETTINGS[name]
        spec = config.train.replace(
            optimizer=optimizer,
            lr=lr,
            weight_decay=wd,
            momentum=config.train.momentum if optimizer == "sgd" else 0.0,
        )
        models = [kit.initialized(kit.mlp(sizes), HE, seed, NAME) for seed in config.seed_list]
        trained = kit.train_runs(
            [(name, seed) for seed in config.seed_list], models, data, spec,
            device=config.torch_device, tick=tick, done=k * spec.steps,
            total=spec.steps * len(config.settings),
            curves=("train_acc", "test_acc", "weight_norm"),
        )  # fmt: skip
        gaps = trained.log.metrics["train_acc"][:, -1] - trained.log.metrics["test_acc"][:, -1]
        records += trained.records + [
            kit.Record(setting=name, seed=seed, metric="gap", value=gap)
            for seed, gap in zip(config.seed_list, gaps.tolist())
        ]
    return records


def _mean(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None]
    return sum(finite) / max(1, len(finite))


def check(result: kit.ExperimentResult, cfg: WeightDecayConfig) -> list[kit.SourceCheck]:
    out = []
    for base, decayed in (("sgd", "sgd + L2"), ("adam", "adam + L2"), ("adam", "adamw")):
        if base not in cfg.settings or decayed not in cfg.settings:
            continue
        norm_b, norm_d = (kit.scalar_values(result, s, "weight_norm") for s in (base, decayed))
        gap_b, gap_d = (kit.scalar_values(result, s, "gap") for s in (base, decayed))
        norms = f"{kit.fmt_range(norm_d, '.1f')} vs {kit.fmt_range(norm_b, '.1f')}"
        gaps = f"{kit.fmt_range(gap_d)} vs {kit.fmt_range(gap_b)}"
        out.append(
            kit.SourceCheck(
                claim=f"{decayed} vs {base}: smaller weights and a smaller train/test gap",
                ours=f"weight norm {norms}; gap {gaps}",
                published="qualitative (weight decay reduces overfitting)",
                agrees=_mean(norm_d) < _mean(norm_b) and _mean(gap_d) <= _mean(gap_b),
            )
        )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, name in enumerate(result.config["settings"]):
        for ax, metric in zip(axes, ("train_acc_curve", "test_acc_curve", "weight_norm_curve")):
            kit.band(ax, result, name, metric, kit.COLORS[i], name)
    for ax, label in zip(axes, ("train accuracy", "test accuracy", "weight norm ‖W‖")):
        ax.set_xlabel("step")
        ax.set_ylabel(label)
    axes[2].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return [
        kit.figure_to_html(
            fig,
            "Train and test accuracy and total weight norm over training; "
            "mean and min–max over seeds.",
        ),
        kit.aggregate_table(result, ("train_acc", "test_acc", "gap", "weight_norm")),
    ]


# What the catalog registers (see initlab.experiments.kit).
TITLE = "Weight decay: L2 vs decoupled (AdamW) vs none"
DEMO = {"train": {"steps": 1000}}  # what `initlab demo` changes
ORDER = 70
SOURCE = kit.SOURCES["weight-decay"]
