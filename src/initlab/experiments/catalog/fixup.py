"""``fixup``: a deep residual MLP without normalization, He init vs Fixup, at two depths.

Zhang, Dauphin & Ma (ICLR 2019): without normalization, a residual network with
standard (He) init has an output that grows with the number of branches and does not
train; Fixup (last layer of each branch and the classifier at zero, the other branch
layers scaled by L^(-1/(2m-2)), scalar biases and multipliers) trains stably at 100+
blocks. The runs are initlab.residual._evidence.fixup_evidence: blocks
``relu(x + fc2(relu(fc1(x))))`` on scikit-learn's digits, full-batch SGD, all seeds
of one (depth, scheme) trained at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from initlab.experiments import kit

__all__ = ["FixupConfig"]

SCHEMES = ("he", "fixup")
LABELS = {"he": "He normal, zero biases", "fixup": "Fixup"}


@dataclass(kw_only=True)
class FixupConfig(kit.ExperimentConfig):
    """The issue's setup (32 and 100 residual blocks); ``n_train=0`` uses the whole split."""

    depths: tuple[int, ...] = (32, 100)
    width: int = 32
    steps: int = 300
    lr: float = 0.05
    log_every: int = 25
    n_train: int = 0
    data_seed: int = 0

    def validate(self) -> None:
        kit.check_fields(
            self,
            at_least={"depths": 1, "width": 1, "steps": 1, "log_every": 1, "n_train": 0},
            positive=("lr",),
        )


def setting(scheme: str, depth: int) -> str:
    return f"{scheme}, depth {depth}"


def run(config: FixupConfig, tick: kit.Tick) -> list[kit.Record]:
    """One fixup_evidence call per depth; its rows become records."""
    from initlab.residual._evidence import fixup_evidence

    records: list[kit.Record] = []
    for done, depth in enumerate(config.depths):
        rows = fixup_evidence(
            depths=(depth,),
            seeds=config.seed_list,
            width=config.width,
            steps=config.steps,
            lr=config.lr,
            log_every=config.log_every,
            n_train=config.n_train or None,
            data_seed=config.data_seed,
        )
        for row in rows:
            name, seed, step = setting(row["scheme"], depth), row["seed"], row["step"]
            loss = kit.finite_or_none(row["train_loss"])
            records.append(
                kit.Record(setting=name, seed=seed, metric="train_loss_curve", value=loss,
                           index=step)
            )  # fmt: skip
            if step == 0:
                std = kit.finite_or_none(row["initial_logit_std"])
                records.append(
                    kit.Record(setting=name, seed=seed, metric="initial_logit_std", value=std)
                )
            if step == config.steps:
                records += [
                    kit.Record(setting=name, seed=seed, metric="train_loss", value=loss),
                    kit.Record(setting=name, seed=seed, metric="test_acc", value=row["test_acc"]),
                ]
        tick(done + 1, len(config.depths))
    return records


def _mean(values: list[float | None], missing: float) -> float:
    return sum(missing if v is None else v for v in values) / max(len(values), 1)


def check(result: kit.ExperimentResult, cfg: FixupConfig) -> list[kit.SourceCheck]:
    out: list[kit.SourceCheck] = []
    deepest = max(cfg.depths)
    he_std = kit.scalar_values(result, setting("he", deepest), "initial_logit_std")
    fix_std = kit.scalar_values(result, setting("fixup", deepest), "initial_logit_std")
    out.append(
        kit.SourceCheck(
            claim=f"at initialization ({deepest} blocks): He's output grows with depth, "
            "Fixup's does not",
            ours=f"logit std: He {kit.fmt_range(he_std, '.3g')}; "
            f"Fixup {kit.fmt_range(fix_std, '.3g')} (classifier at zero)",
            published="He: output variance explodes with the number of residual branches; "
            "Fixup: bounded (Θ(η/L) update per branch)",
            agrees=all(v is None or v > 10 for v in he_std)
            and all(v is not None and v < 1 for v in fix_std),
        )
    )
    chance = 1.0 / 10
    for depth in cfg.depths:
        he_acc = kit.scalar_values(result, setting("he", depth), "test_acc")
        fix_acc = kit.scalar_values(result, setting("fixup", depth), "test_acc")
        he_loss = kit.scalar_values(result, setting("he", depth), "train_loss")
        fix_loss = kit.scalar_values(result, setting("fixup", depth), "train_loss")
        diverged = sum(v is None for v in he_loss)
        out.append(
            kit.SourceCheck(
                claim=f"{depth} blocks, no normalization, {cfg.steps} SGD steps: "
                "He diverges or trains poorly, Fixup trains",
                ours=f"test acc He {kit.fmt_range(he_acc)} (loss non-finite in {diverged} of "
                f"{len(he_loss)} seeds), Fixup {kit.fmt_range(fix_acc)}, Fixup loss "
                f"{kit.fmt_range(fix_loss)}",
                published="without normalization, standard init diverges or trains poorly; "
                "Fixup trains 100+ residual blocks stably (their Fig. 1, Table 1)",
                agrees=all(v is not None for v in fix_loss)
                and _mean(fix_acc, 0.0) > max(_mean(he_acc, 0.0), chance) + 0.1,
            )
        )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    depths = result.config["depths"]
    fig, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 3.8), squeeze=False)
    for ax, depth in zip(axes[0], depths):
        for i, scheme in enumerate(SCHEMES):
            kit.band(ax, result, setting(scheme, depth), "train_loss_curve", kit.COLORS[i],
                     LABELS[scheme])  # fmt: skip
            # A run that diverges after one step leaves a single point: mark every finite one.
            points = [
                (r.index, r.value)
                for r in result.select(setting=setting(scheme, depth), metric="train_loss_curve")
                if isinstance(r.value, float)
            ]
            if points:
                ax.scatter(*zip(*points), color=kit.COLORS[i], s=10, marker="x")
        ax.axhline(math.log(10), color="grey", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{depth} residual blocks, no normalization")
        ax.set_xlabel("SGD step (full batch)")
        ax.set_ylabel("training loss (log); dashed: ln 10")
        ax.legend(loc="upper right", fontsize=8)
    caption = (
        "Training loss, mean over seeds, band min–max, × each seed; a curve that stops has gone "
        "non-finite (He at depth diverges in its first steps)."
    )
    return [
        kit.figure_to_html(fig, caption),
        kit.aggregate_table(result, ("initial_logit_std", "train_loss", "test_acc")),
    ]


TITLE = "Fixup: deep residual nets without normalization, He vs Fixup"
DEMO: dict[str, object] = {
    "depths": (8, 32),
    "width": 16,
    "steps": 60,
    "log_every": 10,
    "n_train": 500,
}
ORDER = 82
SOURCE = kit.SOURCES["fixup-2019"]
