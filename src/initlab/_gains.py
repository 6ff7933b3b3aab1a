"""Gains: PyTorch's fixed table, and gains derived for any activation.

``calculate_gain`` reproduces ``torch.nn.init.calculate_gain`` exactly. ``gain``
derives the gain from the activation itself: with z ~ N(0, 1),

    gain(φ) = 1 / sqrt(E[φ(z)²])

so that a layer with Var(W) = gain² / fan_in maps unit-variance pre-activations
to unit-variance pre-activations of the next layer (the second-moment argument
of He et al. 2015, applied to any φ). ReLU gives √2 exactly, like the table;
the table's tanh 5/3 and SELU 3/4 are empirical choices and differ.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab._activations import ACTIVATIONS, activation_function, lookup_activation
from initlab._validation import check_finite

__all__ = [
    "ACTIVATIONS",
    "activation_function",
    "calculate_gain",
    "gain",
    "recommendation",
    "recommended_scheme",
    "second_moment",
]

_LINEAR_LIKE = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    """PyTorch's recommended gain for a nonlinearity, value for value.

    Same table and errors as ``torch.nn.init.calculate_gain``: 1 for linear,
    convolutions and sigmoid, 5/3 for tanh, √2 for relu, √(2/(1+slope²)) for
    leaky_relu (slope 0.01 by default) and 3/4 for selu. For activations the
    table lacks, or for gains derived from the activation, use :func:`gain`.

    >>> calculate_gain("tanh")
    1.6666666666666667
    >>> calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


# Gauss-Legendre pieces: kinks of the built-in activations sit on these points, so
# every piece is smooth and 64 nodes integrate it to double precision.
_BREAKPOINTS = (-12.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 12.0)
_NODES_PER_PIECE = 64


@functools.lru_cache(maxsize=1)
def _quadrature() -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes z and weights w with sum(w * f(z)) ≈ E[f(Z)], Z ~ N(0, 1)."""
    x, w = np.polynomial.legendre.leggauss(_NODES_PER_PIECE)
    nodes, weights = [], []
    for lo, hi in zip(_BREAKPOINTS[:-1], _BREAKPOINTS[1:]):
        half = (hi - lo) / 2
        z = lo + half * (x + 1)
        nodes.append(z)
        weights.append(half * w * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    return torch.from_numpy(np.concatenate(nodes)), torch.from_numpy(np.concatenate(weights))


def _cache_key(activation: object, params: dict[str, Any]) -> tuple[Any, ...]:
    return (activation, tuple(sorted(params.items())))


@functools.lru_cache(maxsize=256)
def _second_moment_cached(key: tuple[Any, ...]) -> float:
    activation, items = key
    return _second_moment_uncached(activation_function(activation, **dict(items)))


def _second_moment_uncached(fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
    nodes, weights = _quadrature()
    with torch.no_grad():
        values = fn(nodes.clone())
    if not isinstance(values, torch.Tensor) or values.shape != nodes.shape:
        raise ValueError(
            "the activation must map a 1-D float64 tensor to a tensor of the same shape"
        )
    moment = math.fsum((weights * values.double() ** 2).tolist())
    if not math.isfinite(moment):
        raise ValueError(f"E[φ(z)²] is not finite ({moment}) for this activation")
    return moment


def second_moment(
    activation: str | nn.Module | Callable[[torch.Tensor], torch.Tensor], **params: Any
) -> float:
    """E[φ(z)²] for z ~ N(0, 1), by piecewise Gauss-Legendre quadrature on [-12, 12].

    >>> round(second_moment("relu"), 12)
    0.5
    """
    defaults = lookup_activation(activation).defaults if isinstance(activation, str) else {}
    for name, value in params.items():
        numeric = isinstance(defaults.get(name), float)  # every numeric default is a float
        if numeric or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            params[name] = check_finite(name, value)
    try:
        key = _cache_key(activation, params)
        hash(key)
    except TypeError:
        return _second_moment_uncached(activation_function(activation, **params))
    return _second_moment_cached(key)


def gain(
    activation: str | nn.Module | Callable[[torch.Tensor], torch.Tensor], **params: Any
) -> float:
    """Gain derived from an activation: 1 / sqrt(E[φ(z)²]), z ~ N(0, 1).

    Accepts a name from :data:`ACTIVATIONS` (with its parameters, e.g.
    ``negative_slope`` for leaky_relu, ``alpha`` for elu, ``approximate`` for gelu),
    an ``nn.Module`` such as ``nn.GELU()``, or any callable on tensors. Results
    are cached per activation and parameters.

    Agrees with :func:`calculate_gain` for linear (1), relu (√2) and leaky_relu;
    differs where PyTorch's table is empirical: tanh (≈1.593 vs 5/3), SELU
    (1.0, self-normalizing, vs 3/4) and sigmoid (≈1.846 vs 1).

    >>> math.isclose(gain("relu"), math.sqrt(2), rel_tol=1e-14)
    True
    >>> round(gain("gelu"), 4), round(gain(nn.SiLU()), 4), round(gain("selu"), 4)
    (1.5335, 1.6765, 1.0)
    """
    moment = second_moment(activation, **params)
    if moment <= 0:
        raise ValueError(f"E[φ(z)²] = {moment} for this activation: it outputs (almost) only zeros")
    return 1.0 / math.sqrt(moment)


def recommended_scheme(
    activation: str | None, params: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The registered scheme (name, arguments) for a layer followed by ``activation``.

    One answer for the whole library: the ``auto`` preset applies it and the
    doctor recommends it. Rectifiers get He normal with their slope, symmetric
    saturating units Glorot uniform, SELU LeCun normal, no activation (or an
    unknown one: ``None``) variance scaling 1, and every other activation
    variance scaling with the derived gain squared (:func:`gain`).

    >>> recommended_scheme("leaky_relu", {"negative_slope": 0.2})
    ('he_normal', {'negative_slope': 0.2})
    >>> recommended_scheme("gelu")[1]["scale"] == gain("gelu") ** 2
    True
    """
    params = dict(params or {})
    if activation is None:
        return "variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}
    row = lookup_activation(activation)
    if row.family == "he":
        merged = {**row.defaults, **params}
        return "he_normal", {"negative_slope": float(merged.get("negative_slope", 0.0))}
    if row.family == "glorot":
        return "xavier_uniform", {}
    if row.family == "lecun":
        return "lecun_normal", {}
    scale = 1.0 if row.family == "linear" else gain(row.name, **params) ** 2
    return "variance_scaling", {"scale": scale, "mode": "fan_in", "distribution": "normal"}


def recommendation(activation: str | None, params: Mapping[str, Any] | None = None) -> str:
    """:func:`recommended_scheme` as advice a person reads, with the call to make.

    >>> recommendation("relu")  # doctest: +ELLIPSIS
    "use He: initlab.kaiming_normal_(w, mode='fan_in', nonlinearity='relu') (...)"
    """
    scheme, args = recommended_scheme(activation, params)
    if scheme == "he_normal":
        slope = args["negative_slope"]
        call = (
            "initlab.kaiming_normal_(w, mode='fan_in', nonlinearity='relu')"
            if slope == 0
            else f"initlab.kaiming_normal_(w, a={slope:g}, nonlinearity='leaky_relu')"
        )
        text = f"use He: {call}"
    elif scheme == "xavier_uniform":
        text = f"use Xavier (Glorot): initlab.xavier_uniform_(w) before {activation}"
    elif scheme == "lecun_normal":
        text = "use LeCun normal: initlab.lecun_normal_(w) (self-normalizing SELU)"
    elif activation is None or args["scale"] == 1.0:
        text = (
            "use a variance-preserving scheme: initlab.lecun_normal_(w) or initlab.orthogonal_(w)"
        )
    else:
        text = (
            f"use variance scaling with the derived gain: initlab.variance_scaling_(w, "
            f"scale=initlab.gain({activation!r}) ** 2, distribution='normal')"
        )
    return f"{text} (the 'auto' preset's choice)"
