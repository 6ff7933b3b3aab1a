"""``shared``: one ``nn.Linear`` used twice: one tensor, initialized once, gradients summed.

Seed article 004: reusing a layer object inside ``nn.Sequential`` shares its
parameters. ``model.parameters()`` lists the tensor once, a module-wise init
(``model.apply`` or iterating ``model.modules()``) visits it once, and after
``backward`` its ``.grad`` is the sum of the gradients of both uses, which we
check against an untied copy whose two layers start from the same values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import initlab
from initlab.experiments._common import (
    ExperimentConfig,
    ExperimentResult,
    Finding,
    Progress,
    Record,
    check_fields,
    fmt_range,
    scalar_values,
)

__all__ = ["SharedConfig", "run_shared"]

NAME = "shared"
TITLE = "Shared parameters: one tensor, one init, summed gradients"
SOURCE = "seed article 004 (a Linear reused in nn.Sequential); PyTorch autograd semantics"


@dataclass(kw_only=True)
class SharedConfig(ExperimentConfig):
    """Width of the shared layer and the probe batch."""

    width: int = 8
    batch: int = 32

    def validate(self) -> None:
        check_fields(self, at_least={"width": 1, "batch": 1})


def _models(width: int, seed: int) -> tuple[nn.Sequential, nn.Sequential, int]:
    """(tied model, untied copy with equal values, how many times the init ran on the tied one)."""
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
    g = initlab.seeded_generator(seed, NAME)
    calls = 0
    for module in tied.modules():  # visits the shared Linear once
        if isinstance(module, nn.Linear):
            initlab.kaiming_normal_(module.weight, nonlinearity="relu", generator=g)
            initlab.zeros_(module.bias)
            calls += 1
    untied = copy.deepcopy(tied)
    untied[4] = copy.deepcopy(untied[2])  # the second use gets its own tensor, same values
    return tied, untied, calls


def run_shared(config: SharedConfig, progress: Progress | None = None) -> ExperimentResult:
    """Per seed: parameter counts, init calls, and |grad_tied − (grad_use1 + grad_use2)|."""
    result = ExperimentResult(name=NAME, title=TITLE, config=config.to_dict())
    for done, seed in enumerate(config.seed_list, 1):
        tied, untied, calls = _models(config.width, seed)
        g = initlab.seeded_generator(seed, NAME, "batch")
        x = torch.randn(config.batch, 4, generator=g)
        y = torch.randn(config.batch, 1, generator=g)
        for model in (tied, untied):
            F.mse_loss(model(x), y).backward()
        use1: nn.Linear = untied[2]  # type: ignore[assignment]
        use2: nn.Linear = untied[4]  # type: ignore[assignment]
        shared: nn.Linear = tied[2]  # type: ignore[assignment]
        g1, g2, grad_tied = use1.weight.grad, use2.weight.grad, shared.weight.grad
        if g1 is None or g2 is None or grad_tied is None:
            raise RuntimeError("backward produced no gradient for the shared layer")
        grad_sum = g1 + g2
        error = float((grad_tied - grad_sum).abs().max())
        rows = {
            "same_tensor": float(tied[2] is tied[4]),
            "parameter_tensors_tied": float(len(list(tied.parameters()))),
            "parameter_tensors_untied": float(len(list(untied.parameters()))),
            "init_calls_on_linears": float(calls),
            "grad_sum_max_error": error,
            "grad_norm_use1": float(g1.norm()),
            "grad_norm_use2": float(g2.norm()),
            "grad_norm_shared": float(grad_tied.norm()),
        }
        result.records += [
            Record(setting="shared", seed=seed, metric=k, value=v) for k, v in rows.items()
        ]
        if progress is not None:
            progress(NAME, done, config.seeds)
    errors = scalar_values(result, "shared", "grad_sum_max_error")
    tied_n = scalar_values(result, "shared", "parameter_tensors_tied")
    untied_n = scalar_values(result, "shared", "parameter_tensors_untied")
    calls_n = scalar_values(result, "shared", "init_calls_on_linears")
    result.findings = [
        Finding(
            claim="the shared layer's gradient is the sum of both uses' gradients",
            ours="max |grad_shared − (grad_use1 + grad_use2)| = " + fmt_range(errors, ".1e"),
            published="autograd accumulates into one .grad",
            source=SOURCE,
            agrees=all(v is not None and v < 1e-6 for v in errors),
        ),
        Finding(
            claim="one tensor: parameters() lists it once, init visits it once",
            ours=(
                f"{tied_n[0]:.0f} parameter tensors tied vs {untied_n[0]:.0f} untied; "
                f"a modules() walk initialized {calls_n[0]:.0f} Linears for 4 uses"
            ),
            published="qualitative",
            source=SOURCE,
            agrees=all(a == b - 2 for a, b in zip(tied_n, untied_n)),  # type: ignore[operator]
        ),
    ]
    return result
