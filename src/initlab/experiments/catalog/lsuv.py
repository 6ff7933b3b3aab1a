"""``lsuv``: a deep plain ReLU MLP without normalization, PyTorch's default init vs LSUV.

Mishkin & Matas (ICLR 2016): layer-sequential unit-variance init (orthonormal
pre-init, then each layer's weights rescaled until its output on a batch has unit
variance) lets very deep plain networks train where standard init stalls. The runs
are initlab.residual._evidence.lsuv_evidence on scikit-learn's digits,
full-batch SGD; initlab's LSUV caches each layer's input and re-runs only that
layer (O(L) layer evaluations), and the reference procedure (a full forward pass
per attempt, O(L²) layer evaluations) is run once beside it to count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from initlab.experiments import kit

__all__ = ["LSUVExperimentConfig"]

SCHEMES = ("torch-default", "lsuv")
LABELS = {"torch-default": "PyTorch default (U±1/√fan_in)", "lsuv": "LSUV"}
TOL = 0.1  # initlab.datadep.LSUVConfig's default tolerance on the std


@dataclass(kw_only=True)
class LSUVExperimentConfig(kit.ExperimentConfig):
    """A 30-hidden-layer plain ReLU MLP; ``n_train=0`` uses the whole split."""

    depth: int = 30
    width: int = 64
    steps: int = 300
    lr: float = 0.05
    log_every: int = 25
    n_train: int = 0
    data_seed: int = 0
    lsuv_batch: int = 256

    def validate(self) -> None:
        kit.check_fields(
            self,
            at_least={"depth": 1, "width": 1, "steps": 1, "log_every": 1, "n_train": 0,
                      "lsuv_batch": 2},
            positive=("lr",),
        )  # fmt: skip


def run(config: LSUVExperimentConfig, tick: kit.Tick) -> list[kit.Record]:
    from initlab.residual._evidence import lsuv_evidence

    rows = lsuv_evidence(
        depth=config.depth,
        seeds=config.seed_list,
        width=config.width,
        steps=config.steps,
        lr=config.lr,
        log_every=config.log_every,
        n_train=config.n_train or None,
        data_seed=config.data_seed,
        lsuv_batch=config.lsuv_batch,
    )
    records: list[kit.Record] = []
    for row in rows:
        seed = row["seed"]
        if row["kind"] == "layers":
            records += [
                kit.Record(setting="lsuv", seed=seed, metric=metric, value=float(row[key]))
                for metric, key in (
                    ("max_std_error", "max_std_error"),
                    ("layer_evaluations", "layer_evaluations"),
                    ("reference_layer_evaluations", "reference_layer_evaluations"),
                    ("full_forwards", "full_forwards"),
                    ("reference_full_forwards", "reference_full_forwards"),
                )
            ]
            continue
        name, step = row["scheme"], row["step"]
        loss = kit.finite_or_none(row["train_loss"])
        records.append(
            kit.Record(setting=name, seed=seed, metric="train_loss_curve", value=loss, index=step)
        )
        if step == config.steps:
            records += [
                kit.Record(setting=name, seed=seed, metric="train_loss", value=loss),
                kit.Record(setting=name, seed=seed, metric="test_acc", value=row["test_acc"]),
            ]
    tick(1, 1)
    return records


def _mean(values: list[float | None]) -> float:
    return sum(0.0 if v is None else v for v in values) / max(len(values), 1)


def check(result: kit.ExperimentResult, cfg: LSUVExperimentConfig) -> list[kit.SourceCheck]:
    default_acc = kit.scalar_values(result, "torch-default", "test_acc")
    lsuv_acc = kit.scalar_values(result, "lsuv", "test_acc")
    default_loss = kit.scalar_values(result, "torch-default", "train_loss")
    trained = sum(v is not None and v > 0.3 for v in lsuv_acc)
    stalled = all(v is not None and abs(v - math.log(10)) < 0.05 for v in default_loss)
    errors = kit.scalar_values(result, "lsuv", "max_std_error")
    ours = kit.scalar_values(result, "lsuv", "layer_evaluations")
    ref = kit.scalar_values(result, "lsuv", "reference_layer_evaluations")
    layers = cfg.depth + 1  # Linear layers LSUV scales
    return [
        kit.SourceCheck(
            claim=f"{cfg.depth} hidden layers, no normalization, {cfg.steps} SGD steps: "
            "standard init stalls, LSUV trains",
            ours=f"test acc default {kit.fmt_range(default_acc)} (loss at ln 10: "
            f"{'yes' if stalled else 'no'}), LSUV {kit.fmt_range(lsuv_acc)}; LSUV above 30% in "
            f"{trained} of {len(lsuv_acc)} seeds",
            published="very deep plain nets train with LSUV where standard init stalls "
            "(matching batch normalization)",
            agrees=stalled and trained > len(lsuv_acc) / 2,
        ),
        kit.SourceCheck(
            claim=f"after LSUV every layer's output std on the batch is 1 ± {TOL}",
            ours=f"worst |std − 1| over layers {kit.fmt_range(errors)}",
            published="unit variance per layer, to a tolerance (their Alg. 1, Tol_var = 0.1)",
            agrees=all(v is not None and v <= TOL for v in errors),
        ),
        kit.SourceCheck(
            claim=f"cost: layer evaluations for {layers} layers, initlab (cached inputs) vs the "
            "reference procedure (a full forward per attempt)",
            ours=f"initlab {kit.fmt_range(ours, '.0f')}; reference "
            f"{kit.fmt_range(ref, '.0f')} (one run)",
            published="the reference `lsuv` package: O(L²) layer evaluations (L full forwards "
            "of up to L layers); initlab aims at O(L)",
            agrees=all(v is not None and v <= 5 * layers for v in ours)
            and _mean(ours) < _mean(ref),
        ),
    ]


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    for i, scheme in enumerate(SCHEMES):
        kit.band(ax, result, scheme, "train_loss_curve", kit.COLORS[i], LABELS[scheme])
    ax.axhline(math.log(10), color="grey", ls="--", lw=1)
    ax.set_xlabel("SGD step (full batch)")
    ax.set_ylabel("training loss; dashed: ln 10")
    ax.set_title(f"plain ReLU MLP, {result.config['depth']} hidden layers")
    ax.legend(loc="lower left", fontsize=8)
    ours = [v for v in kit.scalar_values(result, "lsuv", "layer_evaluations") if v is not None]
    ref = [
        v for v in kit.scalar_values(result, "lsuv", "reference_layer_evaluations") if v is not None
    ]
    if ours and ref:
        bx.bar(["initlab LSUV", "reference"], [sum(ours) / len(ours), ref[0]],
               color=[kit.COLORS[1], kit.COLORS[4]])  # fmt: skip
        bx.set_ylabel("layer evaluations")
        bx.set_title("cost of LSUV")
    else:
        bx.set_axis_off()
    return [
        kit.figure_to_html(
            fig,
            "Left: training loss, mean over seeds, band min–max. Right: layer evaluations "
            "LSUV needed (initlab, mean over seeds) vs the reference full-forward procedure.",
        ),
        kit.aggregate_table(result),
    ]


TITLE = "LSUV: deep plain nets without normalization, default init vs LSUV"
DEMO: dict[str, object] = {"depth": 20, "width": 32, "steps": 60, "log_every": 10, "n_train": 500}
ORDER = 84
SOURCE = kit.SOURCES["lsuv-2016"]
