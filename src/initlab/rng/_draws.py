"""Words → fp32 values: the distribution half of the keyed contract.

* **Uniform.** ``u = (word >> 8) * 2^-24`` in [0, 1), exact in fp32;
  ``value = low + u * (high - low)`` in fp32.
* **Normal.** Box–Muller on the word pairs (0, 1) and (2, 3) of each block, so one Philox
  call gives four normals: ``r = sqrt(-2 ln(1 - u_even))``, ``θ = 2π u_odd``; word 0/2 gets
  ``r cos θ``, word 1/3 gets ``r sin θ``. ``|z| <= sqrt(48 ln 2) = 5.77``.
* **Truncated normal.** One pass by inverse CDF: ``p = Φ(α) + u (Φ(β) - Φ(α))``,
  ``z = Φ⁻¹(p)``, with the interval mirrored into the lower tail where Φ keeps its relative
  precision, then clamped into the bounds (so every value lies inside them; for a 16-bit
  output, into its own representable bounds, so the rounded value is inside too). Φ(α), Φ(β) are
  computed in fp64 on the host; everything per element is fp32 (:mod:`initlab.rng._fp32`).
* **dtype.** Values are computed in fp32 and rounded once to the target dtype.

A :class:`Draw` carries the fp32 constants of one distribution; every backend reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from initlab.rng._bounds import inward_bounds, trunc_normal_cdf_range
from initlab.rng._fp32 import (
    DEEP_TAIL_W,
    MIN_CDF,
    TWO_POW_M24,
    f32,
    log_f32,
    ndtri_f32,
    sincos_turns_f32,
    sqrt_rn,
)

__all__ = [
    "KIND_NORMAL",
    "KIND_TRUNC",
    "KIND_UNIFORM",
    "Draw",
    "ndtri_pieces",
    "uniform24",
    "values_from_words",
]

KIND_UNIFORM, KIND_NORMAL, KIND_TRUNC = 0, 1, 2


@dataclass(frozen=True)
class Draw:
    """One distribution, as the fp32 constants every backend uses (see the module docstring).

    Build with :meth:`uniform`, :meth:`normal` or :meth:`trunc_normal`.
    """

    kind: int
    p0: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    p3: float = 0.0
    clamp_low: float = -math.inf
    clamp_high: float = math.inf
    mirrored: bool = False

    @classmethod
    def uniform(cls, low: float, high: float) -> Draw:
        return cls(KIND_UNIFORM, f32(low), f32(high - low))

    @classmethod
    def normal(cls, mean: float, std: float) -> Draw:
        return cls(KIND_NORMAL, f32(mean), f32(std))

    @classmethod
    def trunc_normal(
        cls, mean: float, std: float, low: float, high: float, dtype: torch.dtype = torch.float32
    ) -> Draw:
        """``dtype``: the output's; a narrower one than fp32 moves the clamp to its own
        inward bounds (representable in fp32). Rounding to nearest is monotone and keeps
        those bounds, so clamping before the one rounding equals clamping after it: every
        value lands inside [low, high] with no second pass over the output."""
        if not std > 0 or not low < high:
            raise ValueError(f"need std > 0 and low < high, got std={std}, [{low}, {high}]")
        cdf_low, cdf_high, mirrored = trunc_normal_cdf_range(
            (low - mean) / std, (high - mean) / std
        )
        narrow = dtype.is_floating_point and dtype.itemsize < 4
        clamp_low, clamp_high = inward_bounds(low, high, dtype if narrow else torch.float32)
        return cls(
            KIND_TRUNC, f32(mean), f32(std), f32(cdf_low), f32(cdf_high - cdf_low),
            clamp_low, clamp_high, mirrored,
        )  # fmt: skip


def uniform24(words: torch.Tensor) -> torch.Tensor:
    """Map uint32 words to fp32 in [0, 1) with 24 random bits (exact in fp32)."""
    return (words >> 8).to(torch.float32).mul_(TWO_POW_M24)


def values_from_words(
    words: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], draw: Draw
) -> torch.Tensor:
    """The four fp32 values of each Philox block, stacked on a new last axis."""
    u = [uniform24(w) for w in words]
    if draw.kind == KIND_UNIFORM:
        out = [x.mul_(draw.p1).add_(draw.p0) for x in u]
    elif draw.kind == KIND_NORMAL:
        out = []
        for even, odd in ((u[0], u[1]), (u[2], u[3])):
            radius = sqrt_rn(log_f32(1.0 - even).mul_(-2.0))
            cos_t, sin_t = sincos_turns_f32(odd)
            out += [(radius * t).mul_(draw.p1).add_(draw.p0) for t in (cos_t, sin_t)]
    else:
        out = [_trunc_from_uniform(x, draw) for x in u]
    return torch.stack(out, dim=-1)


def _trunc_from_uniform(u: torch.Tensor, draw: Draw) -> torch.Tensor:
    p = u.mul_(draw.p3).add_(draw.p2).clamp_(min=MIN_CDF)
    z = ndtri_f32(p)
    if draw.mirrored:
        z = z.neg_()
    return z.mul_(draw.p1).add_(draw.p0).clamp_(draw.clamp_low, draw.clamp_high)


# Margin on w when ruling a piece out: w is computed in fp32 (relative error ~1e-6).
_W_MARGIN = 1e-3


def ndtri_pieces(draw: Draw) -> int:
    """How many of Φ⁻¹'s pieces (central w < 5, tail w < 16, deep) a draw can reach: 1, 2, 3.

    The reference (:func:`~initlab.rng._fp32.ndtri_f32`) picks a piece per element; a
    backend may skip the pieces no element of this draw can reach and get the same bits.

    Every element's p lies in [max(cdf_low, MIN_CDF), cdf_low + cdf_width]; w = -ln(4p(1-p))
    is largest at the end farthest from 1/2. Uniform and normal draws do not use Φ⁻¹ (1).

    >>> ndtri_pieces(Draw.trunc_normal(0.0, 1.0, -2.0, 2.0)), ndtri_pieces(Draw.normal(0, 1))
    (1, 1)
    >>> ndtri_pieces(Draw.trunc_normal(0.0, 1.0, 3.0, 4.0))
    2
    """
    if draw.kind != KIND_TRUNC:
        return 1
    ends = (max(draw.p2, MIN_CDF), min(draw.p2 + draw.p3, 1.0))
    w_max = max(-math.log(4.0 * p * (1.0 - p)) if 0.0 < p < 1.0 else math.inf for p in ends)
    if w_max + _W_MARGIN < 5.0:
        return 1
    return 2 if w_max + _W_MARGIN < DEEP_TAIL_W else 3
