"""The activation vocabulary: one table that every part of initlab reads.

Each :class:`Activation` row says, for one nonlinearity φ:

- its name and its numeric parameters with PyTorch's defaults,
- the callable (``build(**params)``) that gains are derived from,
- the ``nn.Module`` classes that apply it and how to read their parameters,
- the ``torch.nn.functional`` / ``torch`` / ``Tensor`` callables that apply it,
- the *family* that decides which scheme suits the layer before it
  (He for the rectifiers, Glorot for the symmetric saturating ones, LeCun for
  SELU, variance scaling with the derived gain for everything else),
- whether it saturates (the doctor measures saturation for those).

The ``auto`` preset, the doctor's statistics and advice, and the experiments all
look activations up here, so they cannot disagree about what a layer is followed
by or what it should be initialized with (:func:`initlab.recommended_scheme`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab._validation import unknown_name_error

__all__ = [
    "ACTIVATIONS",
    "FAMILIES",
    "Activation",
    "activation_function",
    "activation_module",
    "function_activation",
    "lookup_activation",
    "module_activation",
]

ActivationFn = Callable[[torch.Tensor], torch.Tensor]

#: ``he``: rectifiers (He et al. 2015); ``glorot``: symmetric saturating units
#: (Glorot & Bengio 2010); ``lecun``: SELU (Klambauer et al. 2017, self-normalizing
#: with LeCun normal); ``linear``: no nonlinearity; ``derived``: variance scaling
#: with the gain derived from E[φ(z)²].
FAMILIES = ("he", "glorot", "lecun", "linear", "derived")


def _no_params(module: nn.Module) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Activation:
    """One nonlinearity: name, parameters, callable, modules, functions, family."""

    name: str
    fn: Callable[..., torch.Tensor]
    family: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    modules: tuple[type[nn.Module], ...] = ()
    #: Reads the activation's parameters off one of ``modules``.
    module_params: Callable[[nn.Module], dict[str, Any]] = _no_params
    functions: tuple[Any, ...] = ()
    saturating: bool = False

    def build(self, **params: Any) -> ActivationFn:
        """The activation as a callable on tensors, with ``params`` over the defaults."""
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"unexpected parameter(s) {sorted(unknown)} for activation {self.name!r}; "
                f"it takes {sorted(self.defaults) or 'no parameters'}"
            )
        merged = {**self.defaults, **params}
        return functools.partial(self.fn, **merged) if merged else self.fn

    __call__ = build

    def module(self, **params: Any) -> nn.Module:
        """A fresh module applying this activation (``nn.Identity`` for linear)."""
        if not self.modules:
            raise ValueError(f"activation {self.name!r} has no nn.Module in PyTorch")
        merged = {**self.defaults, **params}
        if self.name == "gelu_tanh":
            return nn.GELU(approximate="tanh")
        if self.name == "prelu":
            return nn.PReLU(init=merged["negative_slope"])
        return self.modules[0](**merged)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _swish(x: torch.Tensor, beta: float) -> torch.Tensor:
    return x * torch.sigmoid(beta * x)


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x)


def _prelu_slope(m: nn.Module) -> dict[str, Any]:
    weight = m.weight
    assert isinstance(weight, torch.Tensor)  # nn.PReLU always has one
    if weight.device.type == "meta":
        return {"negative_slope": float(m.init)}  # type: ignore[arg-type]
    return {"negative_slope": float(weight.detach().flatten()[0])}


def _hardtanh_params(m: Any) -> dict[str, Any]:
    return {"min_val": float(m.min_val), "max_val": float(m.max_val)}


def _row(name: str, fn: Callable[..., torch.Tensor], family: str, **kw: Any) -> Activation:
    return Activation(name=name, fn=fn, family=family, **kw)


_ROWS = (
    _row("linear", _identity, "linear", modules=(nn.Identity,)),
    _row("identity", _identity, "linear"),
    _row(
        "relu",
        torch.relu,
        "he",
        modules=(nn.ReLU,),
        functions=(F.relu, torch.relu, torch.relu_, F.relu_, torch.Tensor.relu, "relu"),
    ),
    _row("relu6", F.relu6, "he", modules=(nn.ReLU6,), functions=(F.relu6,)),
    _row(
        "leaky_relu",
        F.leaky_relu,
        "he",
        defaults={"negative_slope": 0.01},
        modules=(nn.LeakyReLU,),
        module_params=lambda m: {"negative_slope": float(m.negative_slope)},
        functions=(F.leaky_relu,),
    ),
    # PReLU learns its slope; at init it is a leaky ReLU with slope ``init``.
    _row(
        "prelu",
        F.leaky_relu,
        "he",
        defaults={"negative_slope": 0.25},
        modules=(nn.PReLU,),
        module_params=lambda m: (
            {"negative_slope": float(m.weight.detach().flatten()[0])}
            if m.weight.device.type != "meta"
            else {"negative_slope": float(m.init)}
        ),
    ),
    _row(
        "elu",
        F.elu,
        "derived",
        defaults={"alpha": 1.0},
        modules=(nn.ELU,),
        module_params=lambda m: {"alpha": float(m.alpha)},
        functions=(F.elu,),
    ),
    _row(
        "celu",
        F.celu,
        "derived",
        defaults={"alpha": 1.0},
        modules=(nn.CELU,),
        module_params=lambda m: {"alpha": float(m.alpha)},
        functions=(F.celu,),
    ),
    _row("selu", torch.selu, "lecun", modules=(nn.SELU,), functions=(F.selu, torch.selu)),
    _row("gelu", _gelu, "derived", modules=(nn.GELU,), functions=(F.gelu,)),
    _row("gelu_tanh", _gelu_tanh, "derived", modules=(nn.GELU,)),
    _row("silu", F.silu, "derived", modules=(nn.SiLU,), functions=(F.silu,)),
    _row("swish", _swish, "derived", defaults={"beta": 1.0}),
    _row("mish", F.mish, "derived", modules=(nn.Mish,), functions=(F.mish,)),
    _row(
        "softplus",
        F.softplus,
        "derived",
        defaults={"beta": 1.0, "threshold": 20.0},
        modules=(nn.Softplus,),
        module_params=lambda m: {"beta": float(m.beta), "threshold": float(m.threshold)},
        functions=(F.softplus,),
    ),
    _row("hardswish", F.hardswish, "derived", modules=(nn.Hardswish,), functions=(F.hardswish,)),
    _row(
        "hardsigmoid",
        F.hardsigmoid,
        "derived",
        modules=(nn.Hardsigmoid,),
        functions=(F.hardsigmoid,),
    ),
    _row(
        "hardtanh",
        F.hardtanh,
        "glorot",
        defaults={"min_val": -1.0, "max_val": 1.0},
        modules=(nn.Hardtanh,),
        module_params=_hardtanh_params,
        functions=(F.hardtanh,),
        saturating=True,
    ),
    _row(
        "tanh",
        torch.tanh,
        "glorot",
        modules=(nn.Tanh,),
        functions=(torch.tanh, F.tanh, torch.Tensor.tanh, "tanh"),
        saturating=True,
    ),
    _row(
        "sigmoid",
        torch.sigmoid,
        "glorot",
        modules=(nn.Sigmoid,),
        functions=(torch.sigmoid, F.sigmoid, torch.Tensor.sigmoid, "sigmoid"),
        saturating=True,
    ),
    _row(
        "softsign",
        F.softsign,
        "glorot",
        modules=(nn.Softsign,),
        functions=(F.softsign,),
        saturating=True,
    ),
    _row(
        "tanhshrink", F.tanhshrink, "derived", modules=(nn.Tanhshrink,), functions=(F.tanhshrink,)
    ),
)

#: Every activation initlab knows, by name.
ACTIVATIONS: dict[str, Activation] = {row.name: row for row in _ROWS}

# nn.ReLU6 subclasses nn.Hardtanh: exact classes first, then subclasses (most derived first).
_MODULE_INDEX: dict[type[nn.Module], Activation] = {}
for _row_ in _ROWS:
    for _cls in _row_.modules:
        if _row_.name not in ("gelu_tanh", "linear"):
            _MODULE_INDEX.setdefault(_cls, _row_)
_FUNCTION_INDEX: dict[Any, Activation] = {f: row for row in _ROWS for f in row.functions}


def lookup_activation(name: str) -> Activation:
    """The row for ``name`` (case and ``-``/``_`` insensitive); unknown names raise
    with the closest match."""
    key = name.lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise unknown_name_error("activation", name, ACTIVATIONS)
    return ACTIVATIONS[key]


def activation_function(
    activation: str | nn.Module | Callable[[torch.Tensor], torch.Tensor], **params: Any
) -> ActivationFn:
    """The callable for a named activation (with ``params``), a module or a callable."""
    if isinstance(activation, str):
        return lookup_activation(activation).build(**params)
    if params:
        raise TypeError(f"params {sorted(params)} are only accepted with an activation name")
    if callable(activation):
        return activation
    raise TypeError(
        f"activation={activation!r} must be a name, an nn.Module or a callable on tensors"
    )


def module_activation(module: nn.Module) -> tuple[str, dict[str, Any]] | None:
    """``(name, params)`` of the activation ``module`` applies, or None if it is not one.

    Exact classes first, then subclasses (so user subclasses of ``nn.ReLU`` count)."""
    row = _MODULE_INDEX.get(type(module))
    if row is None:
        row = next((r for cls, r in _MODULE_INDEX.items() if isinstance(module, cls)), None)
    if row is None or row.name == "linear":
        return None
    if isinstance(module, nn.GELU) and module.approximate == "tanh":
        return "gelu_tanh", {}
    return row.name, row.module_params(module)


def function_activation(func: Any) -> str | None:
    """The name of the activation a functional callable applies, or None."""
    try:
        return _FUNCTION_INDEX[func].name
    except (KeyError, TypeError):
        return None


def activation_module(name: str, **params: Any) -> nn.Module:
    """A fresh ``nn.Module`` for a named activation (``"linear"`` gives ``nn.Identity``)."""
    return lookup_activation(name).module(**params)
