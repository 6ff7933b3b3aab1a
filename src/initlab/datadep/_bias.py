"""Output-bias priors: start the loss at the entropy of the labels, not at log(C) plus noise.

A classifier whose logits start equal for every class predicts the uniform distribution;
on imbalanced labels its first steps are spent learning the class frequencies. Setting
the output bias to the log class prior (``b_c = log p_c``; for one sigmoid logit
``b = log(p / (1 - p))``) makes the initial prediction the prior, so with a zero head
weight the initial cross-entropy equals the prior's entropy ``H(p) = -Σ p_c log p_c``
exactly (with a small random head weight, approximately). A regression head's bias set
to the target mean makes the initial squared error the targets' variance. Advised in
Karpathy (2019), "A Recipe for Training Neural Networks" ("init well"), and used for
detection heads by Lin et al. (2017), "Focal Loss for Dense Object Detection".

The bias values go through :func:`initlab.init_model` (as supplied tensors, so the rest of
the model draws exactly what it would without them), and the plan says what they are: the
head bias's row has source ``"prior"`` (not ``"pretrained"``: no checkpoint is involved,
and the plan reports none), scheme ``log_prior`` or ``target_mean``, the prior and the
expected initial loss in ``scheme_config`` and the description; a dry run writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from initlab.residual._branches import find_classifier
from initlab.rules._plan import Plan
from initlab.rules._rules import Rule, RuleSet

__all__ = ["OutputPrior", "class_prior", "init_with_output_prior", "output_prior"]

KINDS = ("classification", "binary", "regression")


@dataclass(frozen=True, kw_only=True)
class OutputPrior:
    """The head, its new bias and what it implies.

    ``kind``: ``"classification"`` (softmax), ``"binary"`` (one sigmoid logit) or
    ``"regression"``; ``prior``: class probabilities (None for regression);
    ``initial_loss``: the loss at step 0 with a zero head weight (cross-entropy: the
    prior's entropy in nats; regression: the mean target variance).
    """

    head: str
    kind: str
    bias: torch.Tensor
    prior: tuple[float, ...] | None
    initial_loss: float
    source: str

    @property
    def scheme(self) -> str:
        return "target_mean" if self.kind == "regression" else "log_prior"

    def config(self) -> dict[str, Any]:
        """The plan row's ``scheme_config``: kind, prior (classification), initial loss, data."""
        return {
            "kind": self.kind,
            "prior": None if self.prior is None else list(self.prior),
            "initial_loss": self.initial_loss,
            "from": self.source,
        }

    def describe(self) -> str:
        if self.prior is None:
            return (
                f"output bias = target mean ({self.source}); initial MSE = target variance "
                f"= {self.initial_loss:.4g}"
            )
        shown = ", ".join(f"{p:.3g}" for p in self.prior[:8]) + (
            ", ..." if len(self.prior) > 8 else ""
        )
        return (
            f"output bias = log prior [{shown}] ({self.source}); initial loss = H(prior) "
            f"= {self.initial_loss:.4g} nats"
        )


def class_prior(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Class frequencies of integer ``labels`` (float64, sums to 1).

    >>> class_prior(torch.tensor([0, 0, 0, 1]))
    tensor([0.7500, 0.2500], dtype=torch.float64)
    """
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.numel() == 0:
        raise ValueError(
            f"labels must be a non-empty integer tensor of class indices, got dtype "
            f"{labels.dtype} with {labels.numel()} element(s)"
        )
    if int(labels.min()) < 0:
        raise ValueError(f"labels must be >= 0, got a minimum of {int(labels.min())}")
    counts = torch.bincount(labels.reshape(-1).long(), minlength=num_classes or 0)
    if num_classes is not None and counts.numel() > num_classes:
        raise ValueError(f"labels go up to {counts.numel() - 1} but num_classes={num_classes}")
    return counts.double() / counts.sum()


def _entropy(prior: torch.Tensor) -> float:
    p = prior[prior > 0]
    return float(-(p * p.log()).sum())


def _head(model: nn.Module, head: str) -> tuple[str, torch.Tensor]:
    name = find_classifier(model, ()) if head == "auto" else head
    if name is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear head; pass head='<name>'")
    bias = getattr(model.get_submodule(name), "bias", None)
    if not isinstance(bias, torch.Tensor):
        raise ValueError(f"head={name!r} has no bias to set; build it with bias=True")
    return name, bias


def _normalized(prior: Sequence[float] | torch.Tensor) -> torch.Tensor:
    p = torch.as_tensor(prior, dtype=torch.float64).reshape(-1)
    if p.numel() == 0 or not bool(torch.isfinite(p).all()) or bool((p <= 0).any()):
        raise ValueError(
            f"prior={list(p.tolist())!r} must be a non-empty list of positive, finite "
            "class probabilities (a class never seen has no finite log prior: smooth it)"
        )
    return p / p.sum()


def output_prior(
    model: nn.Module,
    *,
    labels: torch.Tensor | None = None,
    prior: Sequence[float] | torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    head: str = "auto",
) -> OutputPrior:
    """The output-bias prior for ``model``'s head (``"auto"``: its last ``nn.Linear``
    not tied to an embedding). Give exactly one of ``labels`` (class indices),
    ``prior`` (class probabilities) or ``targets`` (regression, shape ``(N, out)``).
    A head with one output and two classes is a sigmoid logit: ``b = log(p₁/p₀)``.
    """
    given = [x is not None for x in (labels, prior, targets)]
    if sum(given) != 1:
        raise ValueError("give exactly one of labels=, prior= or targets=")
    name, head_bias = _head(model, head)
    outputs = int(head_bias.shape[0])
    if targets is not None:
        t = targets.detach().double().reshape(targets.shape[0], -1)
        if t.shape[1] != outputs:
            raise ValueError(f"targets have {t.shape[1]} column(s); head {name!r} has {outputs}")
        mean = t.mean(0)
        loss = float(t.var(0, unbiased=False).mean())
        return OutputPrior(
            head=name,
            kind="regression",
            bias=mean,
            prior=None,
            initial_loss=loss,
            source=f"{t.shape[0]} targets",
        )
    if labels is not None:
        p = class_prior(labels, None if outputs == 1 else outputs)
        source = f"{labels.numel()} labels"
        if outputs == 1 and p.numel() == 1:
            p = torch.cat([p, torch.zeros(1, dtype=p.dtype)])
        p = _normalized(p)
    else:
        p, source = _normalized(prior), "given prior"  # type: ignore[arg-type]
    if outputs == 1:
        if p.numel() != 2:
            raise ValueError(f"a one-logit head needs a two-class prior, got {p.numel()}")
        bias, kind = (p[1] / p[0]).log().reshape(1), "binary"
    else:
        if p.numel() != outputs:
            raise ValueError(f"the prior has {p.numel()} classes; head {name!r} has {outputs}")
        bias, kind = p.log(), "classification"
    return OutputPrior(
        head=name,
        kind=kind,
        bias=bias,
        prior=tuple(float(v) for v in p),
        initial_loss=_entropy(p),
        source=source,
    )


def init_with_output_prior(
    model: nn.Module,
    rules_or_preset: Any,
    prior: OutputPrior,
    *,
    zero_head_weight: bool = False,
    **init_options: Any,
) -> Plan:
    """:func:`initlab.init_model` with the head's bias from ``prior`` (see
    :func:`output_prior`); ``zero_head_weight`` makes the initial loss exactly
    ``prior.initial_loss``. Other options go to ``init_model`` (not ``pretrained``).
    """
    from initlab.rules._activations import detect_activations
    from initlab.rules._apply import init_model
    from initlab.rules._presets import resolve_rules

    if "pretrained" in init_options:
        raise TypeError("init_with_output_prior supplies the head bias itself: no pretrained=")
    acts = detect_activations(model, init_options.get("example_input"))
    rules = resolve_rules(rules_or_preset, model, acts)
    if zero_head_weight:
        first = Rule(
            scheme="zeros", name=f"{prior.head}.weight", description="output prior: head weight 0"
        )
        rules = RuleSet(rules=[first, *rules.rules], name=rules.name, source=rules.source)
    bias_name = f"{prior.head}.bias"
    _, target = _head(model, prior.head)
    value = prior.bias.to(dtype=target.dtype, device="cpu" if target.is_meta else target.device)
    plan = init_model(model, rules, pretrained={bias_name: value}, **init_options)
    # The supplied tensor went in as a one-tensor "checkpoint"; say what it really is.
    plan.checkpoint = None
    entry = plan[bias_name]
    entry.source, entry.scheme, entry.scheme_config = "prior", prior.scheme, prior.config()
    entry.rule, entry.note = prior.describe(), prior.describe()
    entry.mean = float(prior.bias.mean())
    entry.std = float(prior.bias.std(unbiased=False)) if prior.bias.numel() > 1 else 0.0
    plan.rules = f"{plan.rules}+output-prior"
    return plan
