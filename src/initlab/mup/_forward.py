"""The forward-side changes μP needs, and how to check that a model has them.

μP changes two things in the forward pass besides init and learning rates
(Yang et al. 2022, "Tensor Programs V"):

* **Readout multiplier.** In the formulation of TP5 Table 8 the output layer's
  weights keep a width-independent init and the layer's input is multiplied by
  ``output_mult / m`` (``m`` = the readout's fan-in width multiplier), so logits stay
  Θ(1) while the weights can be tied to the input embedding. :class:`Readout` is an
  ``nn.Linear`` that does this, sharing the original layer's parameters (names, ties
  and rules keep working).
* **Attention logits scaled by 1/d instead of 1/√d** (TP5, μP for Transformers: after
  training, query and key become correlated, so q·k grows like d, not √d). HF attention modules keep
  their scale in a ``scaling`` attribute; some configs set it (Granite's
  ``attention_multiplier``, Gemma's ``query_pre_attn_scalar``). ``nn.MultiheadAttention``
  hard-codes 1/√d and cannot be checked or changed.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ChangeStatus",
    "Readout",
    "attention_changes",
    "hf_mup_config",
    "set_attention_scale",
]

#: Status of one required forward change.
STATUSES = ("done", "missing", "unverifiable")


@dataclass(frozen=True)
class ChangeStatus:
    """One forward change μP requires at one module, and whether the model has it;
    ``value`` is the required multiplier where there is one."""

    change: str
    module: str
    status: str
    detail: str
    value: float | None = None

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class Readout(nn.Linear):
    """``nn.Linear`` whose input is multiplied by ``multiplier`` (μP's readout, TP5 Table 8).

    ``y = (multiplier · x) Wᵀ + b``; the bias is not scaled. Build it around an existing
    layer with :meth:`from_linear`, which shares (does not copy) its parameters.

    >>> layer = nn.Linear(8, 2)
    >>> readout = Readout.from_linear(layer, multiplier=0.25)
    >>> readout.weight is layer.weight
    True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        multiplier: float = 1.0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if not (isinstance(multiplier, (int, float)) and math.isfinite(multiplier)):
            raise ValueError(f"multiplier={multiplier!r} must be a finite number")
        self.multiplier = float(multiplier)

    @classmethod
    def from_linear(cls, layer: nn.Linear, multiplier: float) -> Readout:
        """A Readout holding ``layer``'s own weight and bias Parameters."""
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"layer={type(layer).__name__} must be an nn.Linear")
        readout = cls(
            layer.in_features,
            layer.out_features,
            layer.bias is not None,
            multiplier=multiplier,
            device="meta",
        )
        readout.weight = layer.weight
        readout.bias = layer.bias
        readout.train(layer.training)
        return readout

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.linear(input * self.multiplier, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, multiplier={self.multiplier:.6g}"


def _head_dim(module: nn.Module) -> int | None:
    value = getattr(module, "head_dim", None)
    return int(value) if isinstance(value, int) and value > 0 else None


# Where attention modules keep their logit scale: HF transformers 5 ("scaling"), timm ("scale").
_SCALE_ATTRIBUTES = ("scaling", "scale")


def _scale_attribute(module: nn.Module) -> str | None:
    for attr in _SCALE_ATTRIBUTES:
        value = getattr(module, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return attr
    return None


def _is_attention(module: nn.Module) -> bool:
    return isinstance(module, nn.MultiheadAttention) or "Attention" in type(module).__name__


def _attention_status(name: str, module: nn.Module, checked: Sequence[str]) -> ChangeStatus:
    change = "attention logits x 1/d (not 1/sqrt(d))"
    if any(fnmatch.fnmatchcase(name, p) for p in checked):
        return ChangeStatus(change, name, "done", "declared 1/d by the user (checked_attention)")
    if isinstance(module, nn.MultiheadAttention):
        return ChangeStatus(
            change,
            name,
            "unverifiable",
            "nn.MultiheadAttention hard-codes 1/sqrt(head_dim); use an attention that takes "
            "a scale (F.scaled_dot_product_attention(..., scale=1/head_dim))",
        )
    attr, head_dim = _scale_attribute(module), _head_dim(module)
    scaling = getattr(module, attr, None) if attr else None
    if isinstance(scaling, (int, float)) and head_dim is not None:
        target = 1.0 / head_dim
        if math.isclose(float(scaling), target, rel_tol=1e-6):
            return ChangeStatus(change, name, "done", f"scaling = 1/{head_dim}")
        return ChangeStatus(
            change,
            name,
            "missing",
            f"scaling = {float(scaling):.6g}, need 1/{head_dim} = {target:.6g}: "
            "initlab.mup.hf_mup_config(config) or set_attention_scale(model)",
        )
    return ChangeStatus(
        change,
        name,
        "unverifiable",
        f"{type(module).__name__} has no readable 'scaling' (or 'scale') and 'head_dim'; "
        "make its logits 1/d and declare it with checked_attention=",
    )


def _readable(module: nn.Module) -> bool:
    return isinstance(module, nn.MultiheadAttention) or (
        _scale_attribute(module) is not None and _head_dim(module) is not None
    )


def attention_changes(model: nn.Module, checked: Sequence[str] = ()) -> list[ChangeStatus]:
    """One status per attention module (class name containing ``Attention``): those whose
    scale can be read, and wrappers with no readable attention inside or around them."""
    found = [(n, m) for n, m in model.named_modules() if _is_attention(m)]
    readable = [n for n, m in found if _readable(m)]

    def covered(name: str) -> bool:
        return any(r.startswith(f"{name}.") or name.startswith(f"{r}.") for r in readable)

    return [
        _attention_status(name, module, checked)
        for name, module in found
        if name in readable or not covered(name)
    ]


def set_attention_scale(model: nn.Module) -> list[str]:
    """Set the logit scale to ``1/head_dim`` on every attention module that keeps it in a
    ``scaling`` (HF transformers 5, passed as ``scaling=self.scaling`` to the kernel) or
    ``scale`` (timm) attribute next to ``head_dim``; returns the module names changed. Run
    the coord check to confirm the effect.
    """
    changed = []
    for name, module in model.named_modules():
        attr, head_dim = _scale_attribute(module), _head_dim(module)
        if _is_attention(module) and attr is not None and head_dim is not None:
            setattr(module, attr, 1.0 / head_dim)
            changed.append(name)
    return changed


# Config fields that set the attention scale, and the value that gives 1/head_dim.
_HF_ATTENTION_FIELDS = {
    "attention_multiplier": lambda head_dim: 1.0 / head_dim,  # Granite: scaling = field
    "query_pre_attn_scalar": lambda head_dim: float(head_dim**2),  # Gemma 2/3: field**-0.5
}


def _config_head_dim(config: Any) -> int:
    head_dim = getattr(config, "head_dim", None)
    if isinstance(head_dim, int) and head_dim > 0:
        return head_dim
    hidden = getattr(config, "hidden_size", None)
    heads = getattr(config, "num_attention_heads", None)
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        return hidden // heads
    raise ValueError(
        f"cannot find the head dimension of {type(config).__name__}: it has no head_dim and "
        "no hidden_size / num_attention_heads"
    )


def hf_mup_config(config: Any, *, width_mult: float | None = None) -> Any:
    """A copy of an HF config with 1/d attention, set through the config's own field.

    Supported fields: ``attention_multiplier`` (Granite) and ``query_pre_attn_scalar``
    (Gemma 2/3). With ``width_mult`` and a ``logits_scaling`` field (Granite divides
    the logits by it), the readout multiplier is set too. Any other config is refused:
    build the model and use :func:`set_attention_scale` and :class:`Readout`, then check
    with the plan and the coord check.
    """
    found = [f for f in _HF_ATTENTION_FIELDS if hasattr(config, f)]
    if not found:
        raise ValueError(
            f"{type(config).__name__} has no attention-scale field "
            f"({', '.join(_HF_ATTENTION_FIELDS)}); build the model, then call "
            "initlab.mup.set_attention_scale(model) and check the plan"
        )
    config = copy.deepcopy(config)
    head_dim = _config_head_dim(config)
    for field_name in found:
        setattr(config, field_name, _HF_ATTENTION_FIELDS[field_name](head_dim))
    if width_mult is not None and hasattr(config, "logits_scaling"):
        config.logits_scaling = float(width_mult)
    return config
