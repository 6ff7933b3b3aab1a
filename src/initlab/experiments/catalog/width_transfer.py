"""``width-transfer``: the best learning rate per width under SP and under μP.

Yang et al. (2022, Tensor Programs V, Fig. 1): under the standard parametrization
(SP) the learning rate that minimizes the training loss moves as the model gets
wider, so a value tuned on a small proxy does not carry over; under μP it stays put,
and wider is better at every learning rate. The runs are
initlab.mup._evidence.lr_transfer: an MLP on a random teacher's labels and a
one-block transformer on a random Markov chain's tokens (generated, no download),
Adam, the same batches at every width and LR; each run's loss is the mean of its
last ``tail`` steps. Seeds are seed … seed + seeds − 1, as in every experiment; seed k
draws its init and its data (teacher or chain, and batches) from k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from initlab.experiments import kit

__all__ = ["WidthTransferConfig"]

MODELS = ("mlp", "transformer")
PARAMETRIZATIONS = ("sp", "mup")
LABELS = {"sp": "standard parametrization (SP)", "mup": "μP"}


@dataclass(kw_only=True)
class WidthTransferConfig(kit.ExperimentConfig):
    """An LR sweep (``lrs_log2``: the exponents of 2) at each width, both parametrizations."""

    models: tuple[str, ...] = MODELS
    widths: tuple[int, ...] = (32, 64, 128, 256)
    lrs_log2: tuple[int, ...] = tuple(range(-12, -2))
    steps: int = 120
    batch_size: int = 128
    optimizer: str = "adam"
    tail: int = 10
    coord_steps: int = 3  # coordinate check: Adam steps at lr coord_lr (0: no coord check)
    coord_lr: float = 1e-2

    def validate(self) -> None:
        kit.check_names("models", self.models, MODELS)
        kit.check_fields(
            self,
            at_least={"widths": 1, "steps": 1, "batch_size": 1, "tail": 1, "coord_steps": 0},
            positive=("coord_lr",),
        )
        self._transfer_config(self.models[0])  # checks widths, lrs, optimizer, tail

    def _transfer_config(self, model: str) -> Any:
        from initlab.mup._evidence import LRTransferConfig

        return LRTransferConfig(
            model=model,
            widths=self.widths,
            lrs=tuple(2.0**k for k in self.lrs_log2),
            seeds=self.seeds,
            seed=self.seed,
            steps=self.steps,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            tail=self.tail,
        )


def setting(model: str, parametrization: str, width: int) -> str:
    return f"{model} {parametrization}, width {width}"


def run(config: WidthTransferConfig, tick: kit.Tick) -> list[kit.Record]:
    from initlab.mup._evidence import lr_transfer, optimal_lrs, transfer_summary

    total = len(config.models) * config.seeds * len(PARAMETRIZATIONS) * len(config.widths)
    done = 0

    def progress(_: str) -> None:
        nonlocal done
        tick(done, total)
        done += 1

    records: list[kit.Record] = []
    for model in config.models:
        rows = lr_transfer(config._transfer_config(model), progress=progress)
        for r in rows:
            name = setting(r["model"], r["parametrization"], r["width"])
            records.append(
                kit.Record(setting=name, seed=r["seed"], metric="loss_by_lr",
                           value=kit.finite_or_none(r["loss"]), index=r["lr"])
            )  # fmt: skip
        for r in optimal_lrs(rows):
            name = setting(r["model"], r["parametrization"], r["width"])
            records.append(
                kit.Record(setting=name, seed=r["seed"], metric="best_log2_lr",
                           value=math.log2(r["lr"]))
            )  # fmt: skip
        for s in transfer_summary(rows):
            name = setting(s["model"], s["parametrization"], s["width"])
            records += [
                kit.Record(setting=name, seed=None, metric=key, value=kit.finite_or_none(s[key]))
                for key in ("shift", "regret", "best_loss_mean", "log2_lr_std")
            ]
        if config.coord_steps:
            records += _coord_records(config, model)
    tick(total, total)
    return records


def _coord_records(config: WidthTransferConfig, model: str) -> list[kit.Record]:
    """initlab.mup's coordinate check: mean |activation| per layer after ``coord_steps``
    steps, per width and seed, and how many layers it finds not flat in width."""
    import torch

    from initlab.mup._coord import CoordConfig, coord_check
    from initlab.mup._evidence import _factory

    inputs = None
    if model == "transformer":  # token ids: the probe cannot be inferred from an Embedding
        gen = torch.Generator().manual_seed(0)
        inputs = torch.randint(0, 32, (8, 16), generator=gen)
    records: list[kit.Record] = []
    for p in PARAMETRIZATIONS:
        coord = CoordConfig(
            widths=config.widths, parametrization=p, optimizer=config.optimizer,
            lr=config.coord_lr, steps=config.coord_steps, seeds=config.seeds, seed=config.seed,
        )  # fmt: skip
        result = coord_check(_factory(model, p), coord, inputs)
        for row in result.records:
            if row["step"] == config.coord_steps:
                records.append(
                    kit.Record(setting=f"coord {model} {p}, layer {row['layer']}",
                               seed=row["seed"], metric="l1_by_width", value=row["l1"],
                               index=row["width"])
                )  # fmt: skip
        broken = [v.layer for v in result.layers if v.verdict != "flat"]
        records.append(
            kit.Record(setting=f"coord {model} {p}", seed=None, metric="layers_not_flat",
                       value=[str(layer) for layer in broken])
        )  # fmt: skip
    return records


def _summary(result: kit.ExperimentResult, name: str, metric: str) -> float | None:
    found = result.select(setting=name, metric=metric, seed=None)
    return found[0].value if found else None  # type: ignore[return-value]


def check(result: kit.ExperimentResult, cfg: WidthTransferConfig) -> list[kit.SourceCheck]:
    out: list[kit.SourceCheck] = []
    narrow, wide = min(cfg.widths), max(cfg.widths)
    for model in cfg.models:
        shift = {p: _summary(result, setting(model, p, wide), "shift") for p in PARAMETRIZATIONS}
        regret = {p: _summary(result, setting(model, p, wide), "regret") for p in PARAMETRIZATIONS}
        best = {
            p: kit.scalar_values(result, setting(model, p, wide), "best_log2_lr")
            for p in PARAMETRIZATIONS
        }

        def fmt(v: float | None, spec: str = "+.2f") -> str:
            return "—" if v is None else format(v, spec)

        ok = shift["sp"] is not None and shift["mup"] is not None
        out.append(
            kit.SourceCheck(
                claim=f"{model}, width {narrow} → {wide}: the best LR moves under SP and stays "
                "under μP",
                ours=f"shift of log2(best LR), mean over seeds: SP {fmt(shift['sp'])}, "
                f"μP {fmt(shift['mup'])} (per seed at width {wide}: SP "
                f"{kit.fmt_range(best['sp'], '.1f')}, μP {kit.fmt_range(best['mup'], '.1f')}); "
                f"loss lost by reusing the narrow best LR: SP {fmt(regret['sp'], '.3f')}, "
                f"μP {fmt(regret['mup'], '.3f')}",
                published="SP: the optimum shifts with width; μP: it stays put (their Fig. 1, "
                "Transformers; Fig. 3, MLPs; widths up to 8192)",
                agrees=ok and abs(shift["mup"]) < abs(shift["sp"]),  # type: ignore[arg-type]
            )
        )
        losses = [_summary(result, setting(model, "mup", w), "best_loss_mean") for w in cfg.widths]
        finite = [v for v in losses if v is not None]
        out.append(
            kit.SourceCheck(
                claim=f"{model}, μP: wider is better (best loss falls with width)",
                ours="best loss by width: "
                + ", ".join(f"{w}: {fmt(v, '.3f')}" for w, v in zip(cfg.widths, losses)),
                published="under μP the loss improves monotonically with width at every LR "
                "(their Fig. 1, right)",
                agrees=len(finite) == len(losses)
                and all(a >= b - 1e-3 for a, b in zip(finite, finite[1:])),
            )
        )
        if cfg.coord_steps:
            broken = {
                p: _summary(result, f"coord {model} {p}", "layers_not_flat")
                for p in PARAMETRIZATIONS
            }
            out.append(
                kit.SourceCheck(
                    claim=f"{model}, coordinate check after {cfg.coord_steps} steps: activations "
                    "flat in width under μP, not under SP",
                    ours=f"layers not flat in width: SP {broken['sp'] or 'none'}, "
                    f"μP {broken['mup'] or 'none'}",
                    published="under SP some activations (the output's first) grow with width "
                    "after a few steps; under μP every layer's stay Θ(1) (their coordinate checks)",
                    agrees=broken["mup"] == [] and bool(broken["sp"]),
                )
            )
    return out


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    cfg = result.config
    models, widths = cfg["models"], cfg["widths"]
    fig, axes = plt.subplots(
        len(models), 2, figsize=(10, 3.8 * len(models)), squeeze=False, sharey="row"
    )
    for row, model in zip(axes, models):
        low = math.inf
        for ax, p in zip(row, PARAMETRIZATIONS):
            for i, width in enumerate(widths):
                name = setting(model, p, width)
                kit.band(ax, result, name, "loss_by_lr", kit.COLORS[i % len(kit.COLORS)],
                         f"width {width}")  # fmt: skip
                best = [v for v in kit.scalar_values(result, name, "best_log2_lr") if v is not None]
                if best:
                    ax.axvline(2 ** (sum(best) / len(best)), color=kit.COLORS[i], ls=":", lw=1)
                for r in result.select(setting=name, metric="loss_by_lr"):
                    if isinstance(r.value, float):
                        low = min(low, r.value)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("learning rate (Adam)")
            ax.set_title(f"{model}: {LABELS[p]}")
            ax.legend(loc="upper left", fontsize=8)
        row[0].set_ylabel(f"training loss (last {cfg['tail']} steps)")
        if math.isfinite(low):
            row[0].set_ylim(low * 0.95, low * 2.0)
    caption = (
        "Loss against learning rate per width: mean over seeds, band min–max; dotted: the mean "
        "best log2 LR per width. Under μP the minima line up; under SP they drift."
    )
    return [
        kit.figure_to_html(fig, caption),
        _render_coord(result),
        kit.aggregate_table(result, ("best_log2_lr",)),
    ]


def _render_coord(result: kit.ExperimentResult) -> str:
    cfg = result.config
    if not cfg.get("coord_steps"):
        return ""
    plt = kit.pyplot()
    models = cfg["models"]
    fig, axes = plt.subplots(
        len(models), 2, figsize=(10, 3.5 * len(models)), squeeze=False, sharey="row"
    )
    for row, model in zip(axes, models):
        for ax, p in zip(row, PARAMETRIZATIONS):
            prefix = f"coord {model} {p}, layer "
            layers = [s for s in result.settings() if s.startswith(prefix)]
            for i, name in enumerate(layers):
                kit.band(ax, result, name, "l1_by_width", kit.COLORS[i % len(kit.COLORS)],
                         name.removeprefix(prefix))  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width")
            ax.set_title(f"{model}: {LABELS[p]}, after {cfg['coord_steps']} steps")
            ax.legend(fontsize=7, title="layer", title_fontsize=7)
        row[0].set_ylabel("mean |activation|")
    return kit.figure_to_html(
        fig,
        "Coordinate check (initlab.mup.coord_check): each layer's mean |output| against "
        "width, mean over seeds, band min–max. Flat lines: the scale does not change with width.",
    )


TITLE = "Width transfer: the best learning rate per width, SP vs μP"
DEMO: dict[str, object] = {
    "models": ("mlp",),
    "widths": (32, 64, 128),
    "lrs_log2": tuple(range(-10, -2)),
    "steps": 60,
    "batch_size": 64,
}
ORDER = 88
SOURCE = kit.SOURCES["mup-2022"]
