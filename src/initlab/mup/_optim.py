"""μP optimizer parameter groups for stock ``torch.optim`` optimizers.

Each parameter gets the LR multiplier of its width class (TP5 Table 3 / Table 8, see
:mod:`initlab.mup._plan`) for the optimizer family, and the weight-decay decision of
:func:`initlab.param_groups` (biases, norms and friends excluded). Parameters with
the same (multiplier, decay) share a group, so the list stays short.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from initlab._validation import check_choice, check_finite, check_positive
from initlab.mup._plan import OPTIMIZERS, MupPlan
from initlab.rules._weight_decay import DecayConfig, decay_report

__all__ = ["mup_param_groups"]


def _decay_config(weight_decay: float | DecayConfig) -> DecayConfig:
    if isinstance(weight_decay, DecayConfig):
        return weight_decay
    check_finite("weight_decay", weight_decay)
    return DecayConfig(weight_decay=float(weight_decay))


def mup_param_groups(
    model: nn.Module,
    plan: MupPlan,
    *,
    optimizer: str = "adam",
    lr: float,
    weight_decay: float | DecayConfig = 0.0,
) -> list[dict[str, Any]]:
    """Parameter groups ``{"params", "lr", "weight_decay", "lr_mult", "kind"}``.

    ``optimizer``: ``"sgd"`` or ``"adam"``/``"adamw"`` (the multipliers differ, TP5
    Table 3). ``lr``: the global (base-width) learning rate η. ``weight_decay``: a
    number, or a :class:`initlab.DecayConfig` for the exclusions; with the plan's
    ``scale_weight_decay`` each group's decay is divided by its LR multiplier so
    ``lr * weight_decay`` stays width-independent. LR schedulers keep the ratios.

    >>> from initlab.mup import mup_plan
    >>> net = lambda w: nn.Sequential(nn.Linear(4, w), nn.Linear(w, w), nn.Linear(w, 2))
    >>> groups = mup_param_groups(net(64), mup_plan(net(64), net(16)), lr=1e-2)
    >>> sorted((g["kind"], g["lr"]) for g in groups)
    [('fixed', 0.01), ('hidden', 0.0025), ('input', 0.01), ('output', 0.01), ('vector', 0.01)]
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_positive("lr", lr)
    config = _decay_config(weight_decay)
    params = dict(model.named_parameters())
    groups: dict[tuple[str, float, bool], dict[str, Any]] = {}
    for row in decay_report(model, config):
        entry = plan[row.name]
        mult = entry.lr_mult(optimizer)
        key = (entry.kind, mult, row.decay)
        if key not in groups:
            decay = config.weight_decay if row.decay else 0.0
            if plan.config.scale_weight_decay:
                decay /= mult
            groups[key] = {
                "params": [],
                "lr": lr * mult,
                "weight_decay": decay,
                "lr_mult": mult,
                "kind": entry.kind,
            }
        groups[key]["params"].append(params[row.name])
    return list(groups.values())
