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

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from initlab._activations import activation_function
from initlab.experiments import kit

__all__ = ["GLOROT_ACTIVATIONS", "GLOROT_INITS", "GlorotConfig"]

NAME = "glorot"

GLOROT_ACTIVATIONS = ("tanh", "sigmoid", "softsign")
GLOROT_INITS = {
    # U[±√(3·scale/n)] with scale 1/3 is U[±1/√n], the paper's "standard" init
    "standard": kit.Init(
        "variance_scaling", {"scale": 1 / 3, "distribution": "uniform"}, "U[±1/√n]"
    ),
    "normalized": kit.Init("xavier_uniform", label="U[±√6/√(n_in+n_out)]"),
}
GRAD_RANGE = 4.0  # gradient histograms span ±4 × the top hidden layer's gradient std


# Specs are frozen, so one default instance can be shared by every config.
DATA = kit.DataSpec(dataset="digits")
TRAIN = kit.TrainSpec(lr=0.05, steps=1500, batch_size=32)


@dataclass(kw_only=True)
class GlorotConfig(kit.ExperimentConfig):
    """Network shape, probe batch and histogram bins at init; the short training run."""

    activations: tuple[str, ...] = GLOROT_ACTIVATIONS
    inits: tuple[str, ...] = tuple(GLOROT_INITS)
    width: int = 256
    hidden_layers: int = 5
    n_probe: int = 500
    bins: int = 41
    data: kit.DataSpec = DATA
    train: kit.TrainSpec = TRAIN

    def validate(self) -> None:
        kit.check_names("activations", self.activations, GLOROT_ACTIVATIONS)
        kit.check_names("inits", self.inits, GLOROT_INITS)
        kit.check_fields(self, at_least={"width": 2, "hidden_layers": 2, "n_probe": 2, "bins": 2})


def setting(activation: str, init: str) -> str:
    return f"{activation}/{init}"


def _model(cfg: GlorotConfig, data: kit.Dataset, activation: str, init: str, seed: int) -> Any:
    sizes = [data.n_features] + [cfg.width] * cfg.hidden_layers + [data.n_classes]
    return kit.initialized(kit.mlp(sizes, activation), GLOROT_INITS[init], seed, NAME)


def _probe(
    model: torch.nn.Sequential, activation: str, data: kit.Dataset, n: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hidden activations and d(loss)/d(pre-activation) per hidden layer, at init."""
    act = activation_function(activation)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    pres, acts = [], []
    h = data.x_train[:n]
    for layer in linears[:-1]:
        pre = layer(h)
        pre.retain_grad()
        h = act(pre)
        pres.append(pre)
        acts.append(h.detach())
    F.cross_entropy(linears[-1](h), data.y_train[:n]).backward()
    grads = [p.grad.detach() if p.grad is not None else torch.zeros_like(p) for p in pres]
    return acts, grads


def _histogram(values: torch.Tensor, low: float, high: float, bins: int) -> list[float]:
    counts = torch.histc(values.float().clamp(low, high), bins=bins, min=low, max=high)
    return (counts / counts.sum()).round(decimals=6).tolist()


def _init_records(
    cfg: GlorotConfig, data: kit.Dataset, activation: str, init: str, seed: int
) -> list[kit.Record]:
    model = _model(cfg, data, activation, init, seed)
    acts, grads = _probe(model, activation, data, cfg.n_probe)
    name = setting(activation, init)
    rows: list[kit.Record] = []
    for layer, (a, g) in enumerate(zip(acts, grads), 1):
        at: dict[str, Any] = {"setting": name, "seed": seed, "index": layer}
        rows += [
            kit.Record(**at, metric="act_std", value=float(a.std())),
            kit.Record(**at, metric="grad_std", value=float(g.std())),
        ]
        if seed == cfg.seed:  # histograms of the first seed only: they are figures, not stats
            low = 0.0 if activation == "sigmoid" else -1.0
            scaled = g / grads[-1].std().clamp_min(1e-30)
            rows += [
                kit.Record(**at, metric="act_hist", value=_histogram(a, low, 1.0, cfg.bins)),
                kit.Record(
                    **at,
                    metric="grad_hist",
                    value=_histogram(scaled, -GRAD_RANGE, GRAD_RANGE, cfg.bins),
                ),
            ]
    ratios = {
        "act_std_ratio_top_bottom": float(acts[-1].std() / acts[0].std()),
        "grad_std_ratio_bottom_top": float(grads[0].std() / grads[-1].std()),
    }
    return rows + [
        kit.Record(setting=name, seed=seed, metric=k, value=v) for k, v in ratios.items()
    ]


def run(config: GlorotConfig, tick: kit.Tick) -> list[kit.Record]:
    """Probe every activation × init × seed at init, then train each activation's runs together."""
    data = config.data.load()
    records: list[kit.Record] = []
    total = len(config.activations) * (1 + config.train.steps)
    for k, activation in enumerate(config.activations):
        runs = [(init, seed) for init in config.inits for seed in config.seed_list]
        for init, seed in runs:
            records += _init_records(config, data, activation, init, seed)
        done = k * (1 + config.train.steps) + 1
        tick(done, total)
        if config.train.steps:
            models = [_model(config, data, activation, init, seed) for init, seed in runs]
            named = [(setting(activation, init), seed) for init, seed in runs]
            trained = kit.train_runs(
                named, models, data.to(config.torch_device), config.train,
                device=config.torch_device, tick=tick, done=done, total=total,
                curves=("test_acc",),
            )  # fmt: skip
            records += trained.records + _classes_predicted(trained.stack, named, data)
    return records


def _classes_predicted(
    stack: kit.Stack, runs: list[tuple[str, int]], data: kit.Dataset
) -> list[kit.Record]:
    """How many distinct classes each trained run predicts on the test set."""
    with torch.no_grad():
        device = stack.parameters()[0].device
        predicted = stack.forward_shared(data.x_test.to(device)).argmax(dim=-1)
    return [
        kit.Record(
            setting=name, seed=seed, metric="classes_predicted", value=float(p.unique().numel())
        )
        for (name, seed), p in zip(runs, predicted)
    ]


def check(result: kit.ExperimentResult, cfg: GlorotConfig) -> list[kit.SourceCheck]:
    out = []
    for activation in ("tanh", "softsign"):
        for init in cfg.inits:
            if activation not in cfg.activations:
                continue
            grad = kit.scalar_values(result, setting(activation, init), "grad_std_ratio_bottom_top")
            shown = activation == "tanh"  # the paper's Fig. 7 shows tanh only
            going = (
                "shrink going down" if init == "standard" else "stay far more level than standard's"
            )
            out.append(
                kit.SourceCheck(
                    claim=f"{setting(activation, init)}: back-propagated gradients {going}",
                    ours="gradient std, bottom / top hidden layer: " + kit.fmt_range(grad, ".2f"),
                    published=(
                        "Fig. 7 (tanh): standard init's gradients shrink toward the input, "
                        "normalized init's stay level"
                        if shown
                        else "not shown in the paper (its Fig. 7 is tanh)"
                    ),
                    agrees=_agrees(result, activation, init) if shown else None,
                )
            )
    return out


def _agrees(result: kit.ExperimentResult, activation: str, init: str) -> bool:
    """standard: bottom/top gradient std < 0.8; normalized: at least 3× standard's ratio."""
    ratios = {
        i: [
            v or 0.0
            for v in kit.scalar_values(result, setting(activation, i), "grad_std_ratio_bottom_top")
        ]
        for i in GLOROT_INITS
    }
    if init == "standard":
        return all(v < 0.8 for v in ratios["standard"])
    if not ratios["standard"]:
        return all(v >= 0.5 for v in ratios["normalized"])
    return min(ratios["normalized"]) >= 3 * max(ratios["standard"])


def _histograms(result: kit.ExperimentResult, metric: str) -> str:
    plt = kit.pyplot()
    cfg: dict[str, Any] = result.config
    seed, inits, activations = cfg["seed"], cfg["inits"], cfg["activations"]
    fig, axes = plt.subplots(
        len(inits),
        len(activations),
        figsize=(4.2 * len(activations), 3 * len(inits)),
        squeeze=False,
    )
    for i, init in enumerate(inits):
        for j, act in enumerate(activations):
            ax = axes[i][j]
            rows = sorted(
                result.select(setting=setting(act, init), metric=metric, seed=seed),
                key=lambda r: r.index or 0,
            )
            if metric == "act_hist":
                low, high = (0.0 if act == "sigmoid" else -1.0), 1.0
            else:
                low, high = -GRAD_RANGE, GRAD_RANGE
                ax.set_yscale("log")
            for k, r in enumerate(rows):
                counts = np.asarray(r.value)
                edges = np.linspace(low, high, len(counts) + 1)
                color = plt.cm.viridis(k / max(1, len(rows) - 1))
                label = f"layer {int(r.index or 0)}"
                ax.plot((edges[:-1] + edges[1:]) / 2, counts, lw=1.5, label=label, color=color)
            ax.set_title(f"{act}, {init} init", fontsize=10)
            ax.set_xlabel(
                "activation value" if metric == "act_hist" else "gradient / top-layer gradient std",
                fontsize=9,
            )
    fig.legend(
        *axes[0][0].get_legend_handles_labels(),
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=8,
    )
    what = (
        "Activation"
        if metric == "act_hist"
        else "Back-propagated gradient (w.r.t. pre-activations)"
    )
    return kit.figure_to_html(
        fig,
        f"{what} histograms at init, one line per hidden layer (seed {seed}; fraction of values per bin).",  # noqa: E501
    )


def _chance_note(result: kit.ExperimentResult) -> str:
    """Why an activation's runs end at identical accuracies: each predicts one class."""
    notes = []
    for act in result.config["activations"]:
        names = [setting(act, init) for init in result.config["inits"]]
        classes = {v for n in names for v in kit.scalar_values(result, n, "classes_predicted")}
        if classes != {1.0}:
            continue
        accs = [v for n in names for v in kit.scalar_values(result, n, "test_acc") if v is not None]
        note = (
            f"Every {act} run ({len(accs)} runs: both inits, every seed) ends predicting one "
            f"single class for every test input: test accuracy {min(accs):.1%}–{max(accs):.1%}, "
            "that class's share of the test set (chance level). "
            "For a given seed both inits end at the same accuracy: they predict the same class, "
            "having seen the same mini-batches in the same order."
        )
        if act == "sigmoid":
            note += (
                " This is the plateau Glorot & Bengio describe for sigmoid networks (their "
                "Fig. 2): the top hidden layer saturates and learning stalls for a long time. "
                "The full-size run (initlab experiment glorot) trains longer."
            )
        notes.append(note)
    return "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)


def render(result: kit.ExperimentResult) -> list[str]:
    plt = kit.pyplot()
    cfg: dict[str, Any] = result.config
    sections = [_histograms(result, "act_hist"), _histograms(result, "grad_hist")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, act in enumerate(cfg["activations"]):
        for init in cfg["inits"]:
            style = "-" if init == "normalized" else "--"
            for ax, metric in zip(axes, ("act_std", "grad_std")):
                kit.band(
                    ax,
                    result,
                    setting(act, init),
                    metric,
                    kit.COLORS[k],
                    f"{act}, {init}",
                    ls=style,
                )
    axes[0].set_ylabel("activation std")
    axes[1].set_ylabel("gradient std")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("hidden layer (1 = nearest the input)")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    sections.append(
        kit.figure_to_html(
            fig,
            "Per-layer std at init (mean over seeds; band: min–max). "
            "Dashed: standard U[±1/√n]; solid: normalized (Glorot).",
        )
    )
    if any(r.metric == "test_acc_curve" for r in result.records):
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for k, act in enumerate(cfg["activations"]):
            for init in cfg["inits"]:
                name = setting(act, init)
                kit.band(
                    ax,
                    result,
                    name,
                    "test_acc_curve",
                    kit.COLORS[k],
                    name,
                    ls="-" if init == "normalized" else "--",
                )
        ax.set_xlabel("SGD step")
        ax.set_ylabel("test accuracy (digits)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        sections.append(
            kit.figure_to_html(
                fig, "Short training run on digits: test accuracy, mean and min–max over seeds."
            )
        )
    table = kit.aggregate_table(result, ("test_acc", "train_acc", "classes_predicted"))
    sections += [table, _chance_note(result)]
    return sections


# What the catalog registers (see initlab.experiments.kit).
TITLE = "Glorot & Bengio 2010: standard vs normalized init at depth 5"
DEMO = {"width": 128, "train": {"steps": 400, "log_every": 20}}  # what `initlab demo` changes
ORDER = 40
SOURCE = kit.SOURCES["glorot-2010"]
