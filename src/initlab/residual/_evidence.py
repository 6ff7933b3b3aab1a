"""Evidence runs for Fixup, LSUV and output-bias priors: plain functions returning tidy records.

Each function trains several seeds of one configuration at once (parameters stacked with
``torch.func.stack_module_state`` and the model run through ``torch.vmap`` of
``torch.func.functional_call``; each seed's loss is its own mean loss, so its gradient is
its own) and returns one record per (scheme, seed, logged step). Default sizes are the
full runs; the tests call them tiny. Not yet wired into ``initlab experiment``/the demo.

The papers' claims, stated beside ours in the records (``claim``):
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab.rules._rules import Rule

__all__ = [
    "CLAIMS",
    "ResidualMLP",
    "fixup_evidence",
    "lsuv_evidence",
    "output_bias_evidence",
]

CLAIMS = {
    "fixup": "Zhang et al. 2019: without normalization, a deep ResNet with standard (He) init "
    "explodes at initialization and fails to train; with Fixup it trains stably at 100+ "
    "residual blocks (their Fig. 1 / Table 1).",
    "lsuv": "Mishkin & Matas 2016: LSUV lets very deep plain networks (no normalization) train "
    "where standard init stalls, matching or beating batch normalization.",
    "output_bias": "Karpathy 2019 ('init well'), Lin et al. 2017: a bias at the log prior removes "
    "the initial 'hockey stick' of the loss; the first loss is the prior's entropy.",
}


class ResidualBlock(nn.Module):
    """``relu(x + fc2(relu(fc1(x))))``: a BasicBlock with linear layers and no normalization."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1, self.relu, self.fc2 = nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.fc2(self.relu(self.fc1(x))))


class ResidualMLP(nn.Module):
    """A stem, ``depth`` residual blocks without normalization, and a linear classifier."""

    def __init__(self, n_in: int, width: int, depth: int, n_out: int) -> None:
        super().__init__()
        self.stem = nn.Linear(n_in, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(depth)])
        self.head = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(torch.relu(self.stem(x))))


def _meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build on the meta device so PyTorch's default init (global RNG) never runs."""
    with torch.device("meta"):
        model = build()
    return model.to_empty(device="cpu")


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _train(
    models: Sequence[nn.Module],
    data: tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn,
    *,
    steps: int,
    lr: float,
    log_every: int,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[dict[str, Any]]:
    """Full-batch SGD of every model at once; per-run loss (and test accuracy) when logged."""
    params, buffers = torch.func.stack_module_state(list(models))  # type: ignore[arg-type]
    params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    x, y = data

    def one(
        p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xs: torch.Tensor
    ) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(base, (p, b), (xs,))
        return out

    runs = torch.vmap(one, in_dims=(0, 0, None))

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return runs(p, b, x)

    optimizer = torch.optim.SGD(list(params.values()), lr=lr)
    rows: list[dict[str, Any]] = []
    for step in range(steps + 1):
        out = forward(params, buffers)
        losses = torch.stack([loss_fn(o, y) for o in out.unbind(0)])
        if step % log_every == 0 or step == steps:
            acc = None
            if test is not None:
                with torch.no_grad():
                    acc = (runs(params, buffers, test[0]).argmax(-1) == test[1]).float().mean(-1)
            for run in range(len(models)):
                row = {"step": step, "run": run, "train_loss": float(losses[run].detach())}
                if acc is not None:
                    row["test_acc"] = float(acc[run])
                rows.append(row)
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        # Non-finite runs would poison nothing else (each run has its own parameters),
        # but their NaN gradients are zeroed so the log shows the divergence, not errors.
        torch.nan_to_num(losses, nan=0.0, posinf=0.0).sum().backward()
        for p in params.values():
            if p.grad is not None:
                p.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        optimizer.step()
    return rows


def _seed_runs(
    build: Callable[[int], nn.Module],
    seeds: Sequence[int],
    train: Callable[[Sequence[nn.Module]], list[dict[str, Any]]],
    fields: dict[str, Any],
    at_init: Callable[[nn.Module], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One model per seed (``build(seed)``), trained together by ``train``; one record per
    (seed, logged step): ``fields``, the seed, the logged values and ``at_init(model)``
    (measured before training)."""
    models = [build(seed) for seed in seeds]
    initial = [at_init(m) if at_init is not None else {} for m in models]
    records = []
    for row in train(models):
        run = row.pop("run")
        records.append({**fields, "seed": seeds[run], **row, **initial[run]})
    return records


def _on_digits(
    data: Any, *, steps: int, lr: float, log_every: int
) -> Callable[[Sequence[nn.Module]], list[dict[str, Any]]]:
    """:func:`_train` on the digits' train split with cross-entropy, test accuracy logged."""
    return partial(
        _train,
        data=(data.x_train, data.y_train),
        loss_fn=F.cross_entropy,
        steps=steps,
        lr=lr,
        log_every=log_every,
        test=(data.x_test, data.y_test),
    )


def _default_init(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` with PyTorch's default init drawn from ``seed`` (through init_model)."""
    from initlab.rules._apply import init_model

    model = _meta(build)
    init_model(model, "torch-default", seed=seed)
    return model


def _digits(data_seed: int, n_train: int | None) -> Any:
    from initlab.experiments._data import load_dataset

    return load_dataset("digits", data_seed=data_seed, n_train=n_train)


def fixup_evidence(
    *,
    depths: Sequence[int] = (32, 100),
    seeds: Sequence[int] = (0, 1, 2),
    width: int = 32,
    steps: int = 300,
    lr: float = 0.05,
    log_every: int = 25,
    n_train: int | None = None,
    data_seed: int = 0,
) -> list[dict[str, Any]]:
    """He vs Fixup on :class:`ResidualMLP` (no normalization) on scikit-learn's digits.

    Records: ``experiment="fixup"``, ``depth``, ``scheme`` (``"he"``: He normal
    everywhere, zero biases; ``"fixup"``: :func:`fixup_transform` + the ``fixup``
    preset), ``seed``, ``step``, ``train_loss``, ``test_acc``, ``initial_logit_std``.
    """
    from initlab.residual._transform import fixup_transform
    from initlab.rules._apply import init_model

    data = _digits(data_seed, n_train)
    he = [Rule(scheme="he_normal", role="weight"), Rule(scheme="zeros", role="bias")]
    train = _on_digits(data, steps=steps, lr=lr, log_every=log_every)

    def logit_std(model: nn.Module) -> dict[str, Any]:
        with torch.no_grad():
            return {"initial_logit_std": float(model(data.x_train).std())}

    records: list[dict[str, Any]] = []
    for depth in depths:
        for scheme in ("he", "fixup"):

            def build(seed: int, depth: int = depth, scheme: str = scheme) -> nn.Module:
                model = _meta(partial(ResidualMLP, data.n_features, width, depth, data.n_classes))
                if scheme == "fixup":
                    fixup_transform(model)
                init_model(model, "fixup" if scheme == "fixup" else he, seed=seed)
                return model

            fields = {"experiment": "fixup", "depth": depth, "scheme": scheme}
            records += _seed_runs(build, seeds, train, fields, logit_std)
    return [{**r, "claim": CLAIMS["fixup"]} for r in records]


def lsuv_evidence(
    *,
    depth: int = 30,
    seeds: Sequence[int] = (0, 1, 2),
    width: int = 64,
    steps: int = 300,
    lr: float = 0.05,
    log_every: int = 25,
    n_train: int | None = None,
    data_seed: int = 0,
    lsuv_batch: int = 256,
) -> list[dict[str, Any]]:
    """PyTorch's default init vs LSUV on a deep plain ReLU MLP (no normalization), digits.

    Records: ``experiment="lsuv"``, ``scheme`` (``"torch-default"`` or ``"lsuv"``), ``seed``,
    ``step``, ``train_loss``; plus one ``kind="layers"`` record per seed with LSUV's worst
    |std − 1| over layers, its layer evaluations and those of the reference O(L²)
    procedure (run once, on seed ``seeds[0]``).
    """
    from initlab.datadep._lsuv import lsuv_

    data = _digits(data_seed, n_train)
    sizes = [data.n_features] + [width] * depth + [data.n_classes]

    def build() -> nn.Module:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    train = _on_digits(data, steps=steps, lr=lr, log_every=log_every)
    batch = data.x_train[:lsuv_batch]
    # The reference O(L²) procedure runs once, on the first seed.
    reference = lsuv_(_default_init(build, seeds[0]), batch, seed=seeds[0], mode="full")
    layers: list[dict[str, Any]] = []

    def with_lsuv(seed: int) -> nn.Module:
        model = _default_init(build, seed)
        report = lsuv_(model, batch, seed=seed)
        layers.append(
            {
                "experiment": "lsuv",
                "kind": "layers",
                "seed": seed,
                "depth": depth,
                "max_std_error": max(
                    abs(r.std_after - 1.0) for r in report.layers if r.std_after is not None
                ),
                "layer_evaluations": report.layer_evaluations,
                "reference_layer_evaluations": reference.layer_evaluations,
                "full_forwards": report.full_forwards,
                "reference_full_forwards": reference.full_forwards,
            }
        )
        return model

    records: list[dict[str, Any]] = []
    for scheme, make in (("torch-default", partial(_default_init, build)), ("lsuv", with_lsuv)):
        fields = {"experiment": "lsuv", "kind": "curve", "depth": depth, "scheme": scheme}
        records += _seed_runs(make, seeds, train, fields)
    return [*({**r, "claim": CLAIMS["lsuv"]} for r in records), *layers]


def imbalanced_blobs(
    *, n: int = 2000, classes: int = 5, features: int = 16, ratio: float = 0.4, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian blobs whose class prior falls geometrically (p_c ∝ ratio^c); returns
    ``(x, y, prior)``."""
    g = torch.Generator().manual_seed(seed)
    prior = torch.tensor([ratio**c for c in range(classes)], dtype=torch.float64)
    prior /= prior.sum()
    y = torch.multinomial(prior.float(), n, replacement=True, generator=g)
    centers = torch.randn(classes, features, generator=g)
    x = centers[y] + 1.5 * torch.randn(n, features, generator=g)
    return x, y, prior


OUTPUT_BIAS_SCHEMES = ("auto", "auto+prior", "zero-head", "zero-head+prior")


def output_bias_evidence(
    *,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 50,
    lr: float = 0.05,
    log_every: int = 1,
    hidden: int = 64,
    data_seed: int = 0,
    schemes: Sequence[str] = OUTPUT_BIAS_SCHEMES,
) -> list[dict[str, Any]]:
    """The first steps with and without the log-prior output bias, imbalanced blobs.

    Schemes: ``"auto"`` (the auto preset, head bias 0), ``"auto+prior"`` (head bias at
    the log prior), and the same two with the head weight zeroed (``"zero-head"``,
    ``"zero-head+prior"``: the clean contrast, log C against H(prior) at step 0).
    Records: ``experiment="output_bias"``, ``scheme``, ``seed``, ``step``,
    ``train_loss``, ``prior_entropy`` (the loss the prior predicts at step 0) and
    ``log_classes`` (the loss of a uniform prediction).
    """
    from initlab.datadep._bias import class_prior, init_with_output_prior, output_prior

    unknown = sorted(set(schemes) - set(OUTPUT_BIAS_SCHEMES))
    if unknown:
        raise ValueError(f"schemes={unknown!r} are not among {list(OUTPUT_BIAS_SCHEMES)}")
    x, y, prior = imbalanced_blobs(seed=data_seed)
    classes = prior.numel()
    empirical = class_prior(y, classes)  # the labels' frequencies: what the bias encodes
    entropy = float(-(empirical * empirical.log()).sum())

    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, classes))

    train = partial(
        _train, data=(x, y), loss_fn=F.cross_entropy, steps=steps, lr=lr, log_every=log_every
    )
    records: list[dict[str, Any]] = []
    for scheme in schemes:

        def init(seed: int, scheme: str = scheme) -> nn.Module:
            model = _meta(build)
            chosen = output_prior(model, labels=y) if scheme.endswith("prior") else None
            if chosen is None:
                chosen = output_prior(model, prior=[1.0] * classes)  # log-uniform: bias 0 + const
            init_with_output_prior(
                model, "auto", chosen, zero_head_weight=scheme.startswith("zero"), seed=seed
            )
            return model

        records += _seed_runs(init, seeds, train, {"experiment": "output_bias", "scheme": scheme})
    fixed = {"prior_entropy": entropy, "log_classes": math.log(classes)}
    return [{**r, **fixed, "claim": CLAIMS["output_bias"]} for r in records]
