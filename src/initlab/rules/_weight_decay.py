"""Optimizer parameter groups that keep weight decay off biases, norms and friends.

Decisions come from roles (the owning module's type), not from ``ndim`` or name
heuristics alone, so custom norms (RMSNorm classes, anything whose class name
contains "Norm", or types the user declares) are recognised. Tied parameters
appear once (under their first name).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from initlab.rules._activations import unwrap_model
from initlab.rules._roles import parameter_role, parameter_sites
from initlab.rules._rules import check_glob

__all__ = ["DecayAssignment", "DecayConfig", "decay_report", "declared_no_decay", "param_groups"]

_ALWAYS_EXCLUDED = (
    "bias",
    "norm_scale",
    "norm_shift",
    "recurrent_bias",
    "attention_bias_kv",
    # timm's and HF's recipes: tokens, position tables, layer-scale gammas and the like
    "token",
    "position_embedding",
    "relative_position",
    "layer_scale",
    "logit_scale",
    "state_space",
)


def declared_no_decay(model: nn.Module) -> tuple[set[str], tuple[str, ...]]:
    """Names a model declares without weight decay, timm's convention: every submodule's
    ``no_weight_decay()`` (names relative to it) and ``no_weight_decay_keywords()``
    (substrings), plus parameters flagged ``_no_weight_decay`` (mamba_ssm's convention)."""
    names: set[str] = set()
    keywords: list[str] = []
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        for method, found in (("no_weight_decay", names), ("no_weight_decay_keywords", None)):
            declared = getattr(module, method, None)
            if not callable(declared):
                continue
            try:
                entries = list(declared())
            except TypeError:  # a method with required arguments is not timm's
                continue
            if found is None:
                keywords.extend(str(e) for e in entries)
            else:
                found.update(f"{dot}{e}" for e in entries)
    for name, param in model.named_parameters():
        if getattr(param, "_no_weight_decay", False):
            names.add(name)
    return names, tuple(keywords)


@dataclass(kw_only=True, frozen=True)
class DecayConfig:
    """Which parameters are excluded from weight decay.

    Always excluded: biases, normalization scales and shifts, tokens, position tables,
    layer-scale gammas, logit scales, state-space parameters, and what the model declares
    (``no_weight_decay()``, see :func:`declared_no_decay`). ``embeddings``,
    ``scalars`` (one-element gates and learnable scales) and ``vectors`` (any other
    1-D parameter, timm's ``ndim <= 1`` rule) are optional. ``no_decay_names`` are
    globs on qualified names; ``norm_types`` extra norm classes or class-name globs.
    """

    weight_decay: float = 0.01
    embeddings: bool = False
    scalars: bool = True
    vectors: bool = False
    no_decay_names: tuple[str, ...] = ()
    norm_types: tuple[str | type, ...] = ()

    def __post_init__(self) -> None:
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not math.isfinite(wd):
            raise TypeError(f"weight_decay={wd!r} must be a finite number >= 0")
        if wd < 0:
            raise ValueError(f"weight_decay={wd!r} must be >= 0")
        for pattern in self.no_decay_names:
            if not isinstance(pattern, str) or not pattern:
                raise TypeError(f"no_decay_names entry {pattern!r} must be a non-empty glob")
            check_glob("no_decay_names", pattern)


@dataclass(frozen=True)
class DecayAssignment:
    """Where one parameter went and why."""

    name: str
    role: str
    decay: bool
    reason: str
    tied_names: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _reason(
    name: str, role: str, ndim: int, numel: int, config: DecayConfig, declared: tuple
) -> str | None:
    if role in _ALWAYS_EXCLUDED:
        return f"role {role}"
    names, keywords = declared
    if name in names or any(k in name for k in keywords):
        return "declared by the model (no_weight_decay)"
    if any(fnmatch.fnmatchcase(name, p) for p in config.no_decay_names):
        return "no_decay_names"
    if config.embeddings and role == "embedding":
        return "embedding"
    if config.scalars and numel == 1:
        return "scalar"
    if config.vectors and ndim <= 1:
        return "1-D"
    return None


def decay_report(model: nn.Module, config: DecayConfig | None = None) -> list[DecayAssignment]:
    """One assignment per trainable parameter storage, in model order. A wrapped model
    (``nn.DataParallel``, DDP, ``torch.compile``) reports under the bare model's names, as
    ``init_model`` plans it, so ``no_decay_names`` and ``no_weight_decay()`` apply alike."""
    model = unwrap_model(model)
    config = config or DecayConfig()
    rows = []
    declared = declared_no_decay(model)
    for site in parameter_sites(model):
        if not site.tensor.requires_grad:
            continue
        role = parameter_role(site.module, site.local_name, site.tensor, config.norm_types)
        shape = site.tensor.dim(), site.tensor.numel()
        reason = _reason(site.name, role, *shape, config, declared)
        rows.append(
            DecayAssignment(
                site.name,
                role,
                reason is None,
                reason or "decayed",
                tuple(a[0] for a in site.aliases),
            )
        )
    return rows


def param_groups(
    model: nn.Module, config: DecayConfig | None = None, **options: Any
) -> list[dict[str, Any]]:
    """``[{"params": decayed, "weight_decay": wd}, {"params": excluded, "weight_decay": 0.0}]``
    for any ``torch.optim`` optimizer. ``options`` build a :class:`DecayConfig` when
    ``config`` is not given.

    >>> net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    >>> [len(g["params"]) for g in param_groups(net, weight_decay=0.1)]
    [1, 3]
    """
    if config is None:
        allowed = [f.name for f in dataclasses.fields(DecayConfig)]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TypeError(f"param_groups got unknown option(s) {unknown}; allowed: {allowed}")
        config = DecayConfig(**_tuples(options))
    elif options:
        raise TypeError("pass either config= or keyword options, not both")
    model = unwrap_model(model)
    params = dict(model.named_parameters())
    rows = decay_report(model, config)
    decayed = [params[r.name] for r in rows if r.decay]
    excluded = [params[r.name] for r in rows if not r.decay]
    return [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": excluded, "weight_decay": 0.0},
    ]


def _tuples(options: dict[str, Any]) -> dict[str, Any]:
    return {
        k: tuple(v) if isinstance(v, Iterable) and not isinstance(v, (str, bytes)) else v
        for k, v in options.items()
    }
