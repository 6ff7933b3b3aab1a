"""``glorot``: activations and back-propagated gradients at init, standard vs normalized.

Glorot & Bengio (2010), "Understanding the difficulty of training deep
feedforward neural networks": 5 hidden layers (1000 units there; 256 here by
default) with tanh, sigmoid or softsign. "Standard" init draws U[−1/√n, 1/√n]
(n = fan-in); "normalized" init draws U[±√6/√(n_in + n_out)]. At init, standard
init shrinks the activations going up and the back-propagated gradients
(w.r.t. pre-activations) going down; normalized init keeps both roughly level.
A short training run on scikit-learn's digits compares the six combinations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

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
from initlab.experiments._data import Dataset, load_dataset
from initlab.experiments._vectorized import Stack, TrainSpec, init_model, mlp, train

__all__ = ["GLOROT_ACTIVATIONS", "GLOROT_INITS", "GlorotConfig", "run_glorot"]

NAME = "glorot"
TITLE = "Glorot & Bengio 2010: standard vs normalized init at depth 5"
SOURCE = (
    "Glorot & Bengio (2010), Understanding the difficulty of training deep feedforward networks"
)

GLOROT_ACTIVATIONS = ("tanh", "sigmoid", "softsign")
GLOROT_INITS: dict[str, Callable[[torch.Tensor, torch.Generator], object]] = {
    "standard": lambda w, g: initlab.uniform_(
        w, -1 / math.sqrt(w.shape[1]), 1 / math.sqrt(w.shape[1]), generator=g
    ),
    "normalized": lambda w, g: initlab.xavier_uniform_(w, generator=g),
}
GRAD_RANGE = 4.0  # gradient histograms span ±4 × the top hidden layer's gradient std
_ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "softsign": F.softsign}


@dataclass(kw_only=True)
class GlorotConfig(ExperimentConfig):
    """Network shape, probe batch, histogram bins and the short training run."""

    activations: tuple[str, ...] = GLOROT_ACTIVATIONS
    inits: tuple[str, ...] = tuple(GLOROT_INITS)
    width: int = 256
    hidden_layers: int = 5
    n_probe: int = 500
    bins: int = 41
    train_steps: int = 1500
    batch_size: int = 32
    lr: float = 0.05
    data_seed: int = 0

    def validate(self) -> None:
        check_names("activations", self.activations, GLOROT_ACTIVATIONS)
        check_names("inits", self.inits, GLOROT_INITS)
        check_fields(
            self,
            at_least={"width": 2, "hidden_layers": 2, "n_probe": 2, "bins": 2,
                      "train_steps": 0, "batch_size": 1, "data_seed": 0},
            positive=("lr",),
        )  # fmt: skip


def setting(activation: str, init: str) -> str:
    return f"{activation}/{init}"


def _model(cfg: GlorotConfig, activation: str, init: str, seed: int) -> torch.nn.Sequential:
    sizes = [64] + [cfg.width] * cfg.hidden_layers + [10]
    return init_model(
        mlp(sizes, activation), GLOROT_INITS[init], initlab.seeded_generator(seed, NAME)
    )  # type: ignore[return-value]


def _probe(
    model: torch.nn.Sequential, activation: str, data: Dataset, n: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hidden activations and d(loss)/d(pre-activation) per hidden layer, at init."""
    x, y = data.x_train[:n], data.y_train[:n]
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    pres, acts = [], []
    h = x
    for layer in linears[:-1]:
        pre = layer(h)
        pre.retain_grad()
        h = _ACT[activation](pre)
        pres.append(pre)
        acts.append(h.detach())
    F.cross_entropy(linears[-1](h), y).backward()
    grads = [p.grad.detach() if p.grad is not None else torch.zeros_like(p) for p in pres]
    return acts, grads


def _histogram(values: torch.Tensor, low: float, high: float, bins: int) -> list[float]:
    counts = torch.histc(values.float().clamp(low, high), bins=bins, min=low, max=high)
    return [round(float(c), 6) for c in counts / counts.sum()]


def _init_records(
    cfg: GlorotConfig, data: Dataset, activation: str, init: str, seed: int
) -> list[Record]:
    acts, grads = _probe(_model(cfg, activation, init, seed), activation, data, cfg.n_probe)
    name, rows = setting(activation, init), []
    for layer, (a, g) in enumerate(zip(acts, grads), 1):
        rows.append(
            Record(setting=name, seed=seed, metric="act_std", index=layer, value=float(a.std()))
        )
        rows.append(
            Record(setting=name, seed=seed, metric="grad_std", index=layer, value=float(g.std()))
        )
        if seed == cfg.seed:
            low = 0.0 if activation == "sigmoid" else -1.0
            rows.append(
                Record(
                    setting=name,
                    seed=seed,
                    metric="act_hist",
                    index=layer,
                    value=_histogram(a, low, 1.0, cfg.bins),
                )
            )
            scaled = g / grads[-1].std().clamp_min(1e-30)
            hist = _histogram(scaled, -GRAD_RANGE, GRAD_RANGE, cfg.bins)
            rows.append(
                Record(setting=name, seed=seed, metric="grad_hist", index=layer, value=hist)
            )
    first_last = (acts[-1].std() / acts[0].std(), grads[0].std() / grads[-1].std())
    rows.append(
        Record(
            setting=name, seed=seed, metric="act_std_ratio_top_bottom", value=float(first_last[0])
        )
    )
    rows.append(
        Record(
            setting=name, seed=seed, metric="grad_std_ratio_bottom_top", value=float(first_last[1])
        )
    )
    return rows


def run_glorot(config: GlorotConfig, progress: Progress | None = None) -> ExperimentResult:
    """Probe every activation × init × seed at init, then train each briefly."""
    data = load_dataset("digits", data_seed=config.data_seed)
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())
    total = len(config.activations) * (1 + config.train_steps)
    done = 0
    for activation in config.activations:
        runs = [(init, seed) for init in config.inits for seed in config.seed_list]
        for init, seed in runs:
            result.records += _init_records(config, data, activation, init, seed)
        done += 1
        if progress is not None:
            progress(NAME, done, total)
        if config.train_steps:
            result.records += _train(
                config, data.to(config.torch_device), activation, runs, progress, done, total
            )
            done += config.train_steps
    result.findings = _findings(result, config)
    return result


def _train(
    cfg: GlorotConfig,
    data: Dataset,
    activation: str,
    runs: list[tuple[str, int]],
    progress: Progress | None,
    done: int,
    total: int,
) -> list[Record]:
    models = [_model(cfg, activation, init, seed) for init, seed in runs]
    spec = TrainSpec(
        lr=cfg.lr,
        steps=cfg.train_steps,
        batch_size=cfg.batch_size,
        log_every=max(1, cfg.train_steps // 30),
    )

    def on_log(step: int) -> None:
        if progress is not None:
            progress(NAME, done + step, total)

    log = train(Stack(models, cfg.torch_device), data, spec, [s for _, s in runs], on_log=on_log)
    rows = []
    for r, (init, seed) in enumerate(runs):
        name = setting(activation, init)
        for t, step in enumerate(log.steps):
            rows.append(
                Record(
                    setting=name,
                    seed=seed,
                    metric="test_acc_curve",
                    index=step,
                    value=float(log.metrics["test_acc"][r, t]),
                )
            )
        for key in ("train_acc", "test_acc", "train_loss"):
            rows.append(
                Record(setting=name, seed=seed, metric=key, value=float(log.metrics[key][r, -1]))
            )
    return rows


def _findings(result: ExperimentResult, cfg: GlorotConfig) -> list[Finding]:
    out = []
    for activation in ("tanh", "softsign"):
        for init in cfg.inits:
            if activation not in cfg.activations:
                continue
            name = setting(activation, init)
            grad = scalar_values(result, name, "grad_std_ratio_bottom_top")
            standard = init == "standard"
            shown = activation == "tanh"  # the paper's Fig. 7 shows tanh only
            out.append(
                Finding(
                    claim=f"{name}: back-propagated gradients "
                    + ("shrink going down" if standard else "stay far more level than standard's"),
                    ours="gradient std, bottom / top hidden layer: " + fmt_range(grad, ".2f"),
                    published=(
                        "Fig. 7 (tanh): standard init's gradients shrink toward the input, "
                        "normalized init's stay level"
                        if shown
                        else "not shown in the paper (its Fig. 7 is tanh)"
                    ),
                    source=SOURCE,
                    agrees=_agrees(result, activation, init) if shown else None,
                )
            )
    return out


def _agrees(result: ExperimentResult, activation: str, init: str) -> bool:
    """standard: bottom/top gradient std < 0.8; normalized: at least 3× standard's ratio."""
    ratios = {
        i: [
            v or 0.0
            for v in scalar_values(result, setting(activation, i), "grad_std_ratio_bottom_top")
        ]
        for i in GLOROT_INITS
    }
    if init == "standard":
        return all(v < 0.8 for v in ratios["standard"])
    if not ratios["standard"]:
        return all(v >= 0.5 for v in ratios["normalized"])
    return min(ratios["normalized"]) >= 3 * max(ratios["standard"])
