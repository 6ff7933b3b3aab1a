"""Explicit model transformations for residual schemes, each with a report of what it changed.

Initialization never edits the module tree; these functions do, and only when called:

* :func:`fixup_transform` — Fixup's architectural part (Zhang, Dauphin & Ma, 2019): a
  scalar bias before every branch layer and after it (that is, before the activation
  that follows), a scalar multiplier on the last layer's output, and normalization
  layers replaced by ``nn.Identity``.
* :func:`add_residual_gains` — SkipInit / ReZero's scalar multiplier ``residual_gain``
  on each branch's output.

New scalars are registered as parameters of the module they act on (so parameter names
stay stable, ``conv1.weight`` is still ``conv1.weight``) and act through forward hooks
that read them from the module (so ``copy.deepcopy``, ``state_dict`` and
``torch.func.functional_call`` see them). Each function returns a :class:`TransformReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initlab.residual._branches import BLOCK_TYPES, find_branches
from initlab.rules._roles import is_norm_module

__all__ = ["Change", "TransformReport", "add_residual_gains", "fixup_transform"]


@dataclass(frozen=True, kw_only=True)
class Change:
    """One edit: ``kind`` (``"added_parameter"``, ``"replaced_module"``, ``"hook"``),
    the qualified ``name`` it touched and a ``detail``."""

    kind: str
    name: str
    detail: str


@dataclass(kw_only=True)
class TransformReport:
    """What a transformation changed, one :class:`Change` per edit."""

    transform: str
    changes: list[Change] = field(default_factory=list)

    def to_records(self) -> list[dict[str, Any]]:
        return [{"transform": self.transform, **vars(c)} for c in self.changes]

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.changes)

    def __str__(self) -> str:
        lines = [f"{self.transform}: {len(self.changes)} change(s)"]
        lines += [f"  {c.kind:16s} {c.name}: {c.detail}" for c in self.changes]
        return "\n".join(lines)


def _bias_in_hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (args[0] + module.fixup_bias_in, *args[1:])


def _scale_bias_out_hook(module: nn.Module, args: Any, output: Any) -> Any:
    scale = getattr(module, "fixup_scale", None)
    out = output if scale is None else output * scale
    return out + module.fixup_bias_out


def _gain_hook(module: nn.Module, args: Any, output: Any) -> Any:
    # Attention modules return (hidden, weights, ...): the branch output is the first item.
    if isinstance(output, tuple):
        return (output[0] * module.residual_gain, *output[1:])
    return output * module.residual_gain


def _scalar(module: nn.Module, value: float) -> nn.Parameter:
    reference = next(module.parameters(), None)
    dtype = reference.dtype if reference is not None else torch.get_default_dtype()
    device = reference.device if reference is not None else None
    return nn.Parameter(torch.full((1,), float(value), dtype=dtype, device=device))


def _add(module: nn.Module, qualified: str, local: str, value: float, report: TransformReport):
    if hasattr(module, local):
        raise ValueError(f"{qualified} already has an attribute {local!r}: transformed twice?")
    module.register_parameter(local, _scalar(module, value))
    report.changes.append(
        Change(kind="added_parameter", name=f"{qualified}.{local}", detail=f"scalar = {value:g}")
    )


def _replace(model: nn.Module, name: str, report: TransformReport) -> None:
    parent_name, _, local = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, local)
    setattr(parent, local, nn.Identity())
    report.changes.append(
        Change(kind="replaced_module", name=name, detail=f"{type(old).__name__} -> Identity")
    )


def fixup_transform(
    model: nn.Module,
    *,
    branches: Mapping[str, Sequence[Any]] | None = None,
    remove_norms: str = "all",
    block_types: Sequence[str] = BLOCK_TYPES,
) -> TransformReport:
    """Add Fixup's scalar biases and multipliers in place; remove normalization.

    Every branch layer gets ``fixup_bias_in`` (added to its input) and ``fixup_bias_out``
    (added to its output, i.e. before the activation that follows); the last layer of
    each branch also gets ``fixup_scale`` (its output multiplied by it before the bias).
    ``remove_norms``: ``"all"`` replaces every normalization module of the model with
    ``nn.Identity``, ``"branches"`` only those inside residual blocks, ``"none"`` keeps
    them. Initialize afterwards with :func:`fixup_rules` (biases 0, multipliers 1).
    """
    if remove_norms not in ("all", "branches", "none"):
        raise ValueError(f"remove_norms={remove_norms!r} is not one of 'all', 'branches', 'none'")
    found = find_branches(model, branches=branches, block_types=block_types)
    report = TransformReport(transform="fixup")
    for branch in found:
        for layer in branch.layers:
            module = model.get_submodule(layer)
            _add(module, layer, "fixup_bias_in", 0.0, report)
            if layer in branch.last:
                _add(module, layer, "fixup_scale", 1.0, report)
            _add(module, layer, "fixup_bias_out", 0.0, report)
            module.register_forward_pre_hook(_bias_in_hook)
            module.register_forward_hook(_scale_bias_out_hook)
            report.changes.append(
                Change(kind="hook", name=layer, detail="input + bias_in; output·scale + bias_out")
            )
    blocks = tuple(f"{b.block}." for b in found)
    norms = [
        name
        for name, module in model.named_modules()
        if name
        and is_norm_module(module)
        and (remove_norms == "all" or (remove_norms == "branches" and name.startswith(blocks)))
    ]
    for name in norms:
        _replace(model, name, report)
    return report


def add_residual_gains(
    model: nn.Module,
    *,
    value: float = 0.0,
    branches: Mapping[str, Sequence[Any]] | None = None,
    block_types: Sequence[str] = BLOCK_TYPES,
) -> TransformReport:
    """Add a scalar ``residual_gain`` (SkipInit / ReZero's α) on each branch's output.

    The parameter lives on the branch's output module (``ResidualBranch.output``) and
    multiplies its output through a forward hook; :func:`rezero_rules` initializes it.
    """
    found = find_branches(model, branches=branches, block_types=block_types)
    report = TransformReport(transform="residual_gains")
    for branch in found:
        module = model.get_submodule(branch.output)
        _add(module, branch.output, "residual_gain", value, report)
        module.register_forward_hook(_gain_hook)
        report.changes.append(
            Change(kind="hook", name=branch.output, detail="branch output × residual_gain")
        )
    return report
