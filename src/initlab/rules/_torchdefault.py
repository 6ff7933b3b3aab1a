"""PyTorch's own module defaults, as initlab initializers (``torch_default`` scheme).

Sources: ``reset_parameters`` of ``torch.nn.Linear``, ``_ConvNd``, ``Bilinear``,
``Embedding``, ``_NormBase``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm``,
``RNNBase``/``RNNCellBase``, ``PReLU`` and ``MultiheadAttention._reset_parameters``
(torch 2.x). Each default maps to a registered initializer that makes the same
sampler calls, so with one shared generator in construction order the values
are bit-identical to PyTorch's.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from initlab._fans import compute_fans
from initlab._initializers import (
    Constant,
    GlorotUniform,
    Initializer,
    KaimingUniform,
    Ones,
    RandomNormal,
    RandomUniform,
    XavierNormal,
    Zeros,
)
from initlab.rules._roles import is_norm_module

__all__ = ["TorchDefault", "has_torch_reset", "is_offset_norm", "torch_default"]

_LINEAR_LIKE = (nn.Linear, nn.modules.conv._ConvNd)


@dataclass(frozen=True)
class TorchDefault:
    """PyTorch's default for one tensor; ``predraw`` is a draw PyTorch makes and then
    overwrites (MHA's ``out_proj.bias``), replayed only in parity mode."""

    initializer: Initializer
    predraw: Initializer | None = None


def _uniform(bound: float) -> RandomUniform:
    return RandomUniform(low=-bound, high=bound, seed=0)


def _bias_default(weight: torch.Tensor) -> Initializer:
    fan_in = compute_fans(tuple(weight.shape), "torch").fan_in
    if fan_in == 0:
        return Zeros(seed=0)
    return _uniform(1 / math.sqrt(fan_in))


def _linear_like(module: nn.Module, local: str, parent: nn.Module | None) -> TorchDefault | None:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)  # Linear and _ConvNd always have one
    if local == "weight":
        return TorchDefault(KaimingUniform(a=math.sqrt(5), seed=0))
    if local != "bias":
        return None
    if isinstance(parent, nn.MultiheadAttention) and module is parent.out_proj:
        return TorchDefault(Zeros(seed=0), predraw=_bias_default(weight))
    return TorchDefault(_bias_default(weight))


def _recurrent(module: nn.Module) -> TorchDefault:
    hidden = int(getattr(module, "hidden_size", 0))
    return TorchDefault(_uniform(1.0 / math.sqrt(hidden)) if hidden > 0 else Zeros(seed=0))


def _attention(local: str) -> TorchDefault | None:
    if local in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
        return TorchDefault(GlorotUniform(seed=0))
    if local == "in_proj_bias":
        return TorchDefault(Zeros(seed=0))
    if local in ("bias_k", "bias_v"):
        return TorchDefault(XavierNormal(seed=0))
    return None


def _norm(local: str) -> TorchDefault | None:
    if local == "weight":
        return TorchDefault(Ones(seed=0))
    if local == "bias":
        return TorchDefault(Zeros(seed=0))
    return None


def torch_default(module: nn.Module, local: str, parent: nn.Module | None) -> TorchDefault | None:
    """PyTorch's default for ``module.<local>``, or None when PyTorch has none
    (a custom ``nn.Parameter`` whose values come from user code)."""
    if isinstance(module, _LINEAR_LIKE):
        return _linear_like(module, local, parent)
    if isinstance(module, nn.Bilinear):
        return TorchDefault(_uniform(1 / math.sqrt(module.weight.size(1))))
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return _recurrent(module)
    if isinstance(module, nn.MultiheadAttention):
        return _attention(local)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and local == "weight":
        return TorchDefault(RandomNormal(mean=0.0, std=1.0, seed=0))
    if isinstance(module, nn.PReLU) and local == "weight":
        return TorchDefault(Constant(value=float(module.init), seed=0))
    if type(module).__name__ == "Conv1D" and local in ("weight", "bias"):
        return _transposed_linear(module, local)
    if is_norm_module(module):
        return _norm_default(module, local)
    return None


def _defining_class(module: nn.Module, method: str) -> type | None:
    """The class in ``module``'s MRO that defines ``method`` (None when none does)."""
    for cls in type(module).__mro__:
        if method in vars(cls):
            return cls
    return None


def has_torch_reset(module: nn.Module) -> bool:
    """True when ``module``'s ``reset_parameters`` is PyTorch's own (subclasses such as
    timm's ``LayerNorm2d`` or ``BatchNormAct2d`` inherit it)."""
    owner = _defining_class(module, "reset_parameters")
    return owner is not None and owner.__module__.startswith("torch.nn")


def _norm_default(module: nn.Module, local: str) -> TorchDefault | None:
    """PyTorch's norm default; a norm with no ``reset_parameters`` of its own (HF's
    ``LlamaRMSNorm``, ``T5LayerNorm``) gets ``nn.RMSNorm``'s: gain 1, shift 0. A norm that
    computes x·(1+w) (Gemma) gets 0, the same effective gain of 1."""
    if has_torch_reset(module):
        return _norm(local)
    if _defining_class(module, "reset_parameters") is not None:
        return None  # the class wrote its own reset: not PyTorch's default
    if local == "weight" and is_offset_norm(module):
        return TorchDefault(Zeros(seed=0))
    return _norm(local)


_OFFSET_GAIN = re.compile(r"1(\.0)?\s*\+\s*self\.weight|self\.weight\s*\+\s*1(\.0)?\b")


@functools.lru_cache(maxsize=256)
def _offset_class(cls: type) -> bool:
    try:
        source = inspect.getsource(cls.forward)  # type: ignore[attr-defined]
    except (OSError, TypeError, AttributeError):
        return False
    return _OFFSET_GAIN.search(source) is not None


def is_offset_norm(module: nn.Module) -> bool:
    """True for norms whose forward scales by ``1 + weight`` (Gemma's RMSNorm), read from
    the class's ``forward`` source; their gain is initialized to 0, not 1."""
    return is_norm_module(module) and _offset_class(type(module))  # type: ignore[arg-type]


def _transposed_linear(module: nn.Module, local: str) -> TorchDefault:
    """GPT-2's ``Conv1D`` is a Linear stored (in, out): PyTorch's Linear default with the
    fans read from that layout (``kaiming_uniform(a=√5)``, bias U(±1/√fan_in))."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    if local == "weight":
        return TorchDefault(KaimingUniform(a=math.sqrt(5), layout="keras", seed=0))
    fan_in = int(weight.shape[0])
    return TorchDefault(_uniform(1 / math.sqrt(fan_in)) if fan_in else Zeros(seed=0))


def running_stat_default(local: str) -> Initializer | None:
    """What ``reset_running_stats`` writes: mean 0, var 1, num_batches_tracked 0."""
    return {
        "running_mean": Zeros(seed=0),
        "running_var": Ones(seed=0),
        "num_batches_tracked": Zeros(seed=0),
    }.get(local)
