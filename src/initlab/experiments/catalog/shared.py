"""``shared``: one ``nn.Linear`` used twice: one tensor, initialized once, gradients summed.

Reusing a layer object inside ``nn.Sequential`` shares its parameters (Dive into
Deep Learning's "tied parameters"). ``model.parameters()`` lists the tensor
once, :func:`initlab.rules.init_model` draws it once and marks the second use as
tied in its plan, and after ``backward`` its ``.grad`` is the sum of the gradients
of both uses, which we check against an untied copy whose two layers start from
the same values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from initlab import rng
from initlab.experiments import kit
from initlab.rules import init_model

__all__ = ["SharedConfig"]

NAME = "shared"
HE = kit.Init("he_normal", label="He normal")


@dataclass(kw_only=True)
class SharedConfig(kit.ExperimentConfig):
    """Width of the shared layer and the probe batch."""

    width: int = 8
    batch: int = 32

    def validate(self) -> None:
        kit.check_fields(self, at_least={"width": 1, "batch": 1})


def _models(width: int, seed: int) -> tuple[nn.Sequential, nn.Sequential, dict[str, float]]:
    """(tied model, untied copy with equal values, what the init plan says about the tie)."""
    with torch.device("meta"):
        shared = nn.Linear(width, width)
        tied = nn.Sequential(
            nn.Linear(4, width),
            nn.ReLU(),
            shared,
            nn.ReLU(),
            shared,
            nn.ReLU(),
            nn.Linear(width, 1),
        )
    tied = tied.to_empty(device="cpu")
    plan = init_model(tied, HE.rules(bias=0.0), generator=rng.seeded_generator(seed, NAME))
    weights = [e for e in plan.entries if e.role == "weight"]
    untied = copy.deepcopy(tied)
    untied[4] = copy.deepcopy(untied[2])  # the second use gets its own tensor, same values
    counts = {
        "weight_uses_in_plan": float(len(weights)),
        "weights_drawn": float(sum(e.tied_to is None for e in weights)),
    }
    return tied, untied, counts


def _weight_grad(layer: nn.Module) -> torch.Tensor:
    grad = layer.weight.grad if isinstance(layer, nn.Linear) else None
    if grad is None:
        raise RuntimeError("backward produced no gradient for the shared layer")
    return grad


def run(config: SharedConfig, tick: kit.Tick) -> list[kit.Record]:
    """Per seed: parameter counts, what init drew, and |grad_tied − (grad_use1 + grad_use2)|."""
    records: list[kit.Record] = []
    for done, seed in enumerate(config.seed_list, 1):
        tied, untied, counts = _models(config.width, seed)
        g = rng.seeded_generator(seed, NAME, "batch")
        x = torch.randn(config.batch, 4, generator=g)
        y = torch.randn(config.batch, 1, generator=g)
        for model in (tied, untied):
            F.mse_loss(model(x), y).backward()
        g1, g2, grad_tied = (_weight_grad(m) for m in (untied[2], untied[4], tied[2]))
        rows = {
            **counts,
            "same_tensor": float(tied[2] is tied[4]),
            "parameter_tensors_tied": float(len(list(tied.parameters()))),
            "parameter_tensors_untied": float(len(list(untied.parameters()))),
            "grad_sum_max_error": float((grad_tied - (g1 + g2)).abs().max()),
            "grad_norm_use1": float(g1.norm()),
            "grad_norm_use2": float(g2.norm()),
            "grad_norm_shared": float(grad_tied.norm()),
        }
        records += [
            kit.Record(setting="shared", seed=seed, metric=k, value=v) for k, v in rows.items()
        ]
        tick(done, config.seeds)
    return records


def check(result: kit.ExperimentResult, cfg: SharedConfig) -> list[kit.SourceCheck]:
    def values(metric: str) -> list[float | None]:
        return kit.scalar_values(result, "shared", metric)

    errors, tied_n, untied_n = (
        values(m)
        for m in ("grad_sum_max_error", "parameter_tensors_tied", "parameter_tensors_untied")
    )
    uses, drawn = values("weight_uses_in_plan")[0], values("weights_drawn")[0]
    return [
        kit.SourceCheck(
            claim="the shared layer's gradient is the sum of both uses' gradients",
            ours="max |grad_shared − (grad_use1 + grad_use2)| = " + kit.fmt_range(errors, ".1e"),
            published="autograd accumulates into one .grad",
            agrees=all(v is not None and v < 1e-6 for v in errors),
        ),
        kit.SourceCheck(
            claim="one tensor: parameters() lists it once, init draws it once",
            ours=(
                f"{tied_n[0]:.0f} parameter tensors tied vs {untied_n[0]:.0f} untied; "
                f"init_model's plan lists {uses:.0f} weight uses and draws {drawn:.0f}"
            ),
            published="qualitative",
            agrees=all(a == b - 2 for a, b in zip(tied_n, untied_n))  # type: ignore[operator]
            and drawn == uses - 1,  # type: ignore[operator]
        ),
    ]


def render(result: kit.ExperimentResult) -> list[str]:
    return [kit.aggregate_table(result)]


# What the catalog registers (see initlab.experiments.kit).
TITLE = "Shared parameters: one tensor, one init, summed gradients"
DEMO: dict[str, object] = {}  # what `initlab demo` changes
ORDER = 80
SOURCE = kit.SOURCES["d2l-tied-parameters"]
