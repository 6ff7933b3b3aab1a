"""fp32 math built only from correctly rounded IEEE operations, identical on every backend.

+, -, ×, ÷, sqrt (see :func:`sqrt_rn`), floor and exact frexp are correctly rounded on every
device; ``ln``, ``sin``/``cos`` and ``Φ⁻¹`` are this module's own polynomials evaluated with
separate (never fused) multiply and add. So the torch reference, the numba kernels and the
Triton kernels (compiled with FMA contraction off) return bit-identical floats. The
constants here are the ones every backend reads.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

import torch

__all__ = ["f32", "log_f32", "ndtri_f32", "sincos_turns_f32", "sqrt_rn"]


def f32(value: float) -> float:
    """``value`` rounded to the nearest fp32 (as a Python float)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


# ln2 split so that e * LN2_HI is exact for every fp32 exponent (Cody & Waite 1980).
LN2_HI = 0.693359375
LN2_LO = f32(math.log(2.0) - LN2_HI)
SQRT_HALF = f32(math.sqrt(0.5))
# atanh series: ln(1 + f) = 2s(1 + s²/3 + s⁴/5 + ...), s = f / (2 + f), |s| <= 0.1716.
LOG_COEFFS = tuple(f32(1.0 / k) for k in (11, 9, 7, 5, 3))
QUARTER_PI = f32(math.pi / 4)
# Taylor coefficients of sin and cos on [0, π/4] (truncation error < 2e-9).
SIN_COEFFS = tuple(f32((-1) ** k / math.factorial(2 * k + 1)) for k in (4, 3, 2, 1))
COS_COEFFS = tuple(f32((-1) ** k / math.factorial(2 * k)) for k in (5, 4, 3, 2, 1))
# Single-precision erfinv of Giles (2011, "Approximating the erfinv function"), in w = -ln(1-x²).
ERFINV_CENTRAL = tuple(f32(c) for c in (
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
    -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
))  # fmt: skip
ERFINV_TAIL = tuple(f32(c) for c in (
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
    -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
))  # fmt: skip
# Beyond Giles' fitted range (w >= 16, p < 1e-7): our least-squares fit of erfinv(x)/x in
# sqrt(w) - 6 over w in [16, 72] against scipy.special.ndtri (max relative error 3.5e-8).
ERFINV_DEEP = tuple(f32(c) for c in (
    3.70894260e-08, -2.78067977e-07, 1.16422745e-06, -5.13829686e-06, 2.13898244e-05,
    -4.31752079e-05, -0.000472680802, 1.00960520, 5.85991312,
))  # fmt: skip
DEEP_TAIL_W = 16.0
SQRT2 = f32(math.sqrt(2.0))
# Smallest CDF value fed to Φ⁻¹ (z ≈ -11.9): keeps every intermediate a normal fp32.
MIN_CDF = 2.0**-100
TWO_POW_M24 = 2.0**-24


def horner(x: torch.Tensor, coeffs: Iterable[float]) -> torch.Tensor:
    """Evaluate a polynomial by Horner's rule with separate (never fused) mul and add."""
    it = iter(coeffs)
    acc = torch.full_like(x, next(it))
    for c in it:
        acc = acc.mul_(x).add_(c)
    return acc


def sqrt_rn(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded fp32 sqrt of non-negative fp32 values.

    torch's CPU fp32 ``sqrt`` is a vectorized approximation (about 15 % of results one ulp
    off here), so take the fp64 root, round, and fix the rounding with exact fp64 tests
    against the neighbouring midpoints (a midpoint squared has at most 50 bits).
    """
    y = torch.sqrt(x.double()).float()
    x64 = x.double()
    up = torch.nextafter(y, torch.full_like(y, math.inf))
    y = torch.where(((y.double() + up.double()) * 0.5).square() < x64, up, y)
    down = torch.nextafter(y, torch.zeros_like(y))
    return torch.where(((y.double() + down.double()) * 0.5).square() > x64, down, y)


def log_f32(x: torch.Tensor) -> torch.Tensor:
    """Natural log of positive normal fp32 values, built only from exact IEEE operations.

    >>> float(log_f32(torch.tensor([0.5])))
    -0.6931471...
    """
    mant, expo = torch.frexp(x)  # exact: mant in [0.5, 1)
    small = mant < SQRT_HALF
    mant = torch.where(small, mant * 2.0, mant)
    e = (expo - small.to(expo.dtype)).to(torch.float32)
    f = mant - 1.0  # exact by Sterbenz' lemma
    s = f / (f + 2.0)
    z = s * s
    r = horner(z, (*LOG_COEFFS, 0.0))  # z/3 + z²/5 + ...: the series after its leading 1
    h = s + s
    log_m = h + h * r
    return e * LN2_HI + (e * LN2_LO + log_m)


def sincos_turns_f32(turns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos 2πt, sin 2πt) for t in [0, 1) with dyadic t, by exact octant reduction.

    >>> c, s = sincos_turns_f32(torch.tensor([0.125]))
    >>> round(float(c), 6), round(float(s), 6)
    (0.707107, 0.707107)
    """
    scaled = turns * 8.0
    octant = torch.floor(scaled)
    frac = scaled - octant  # exact: both are multiples of 2^-21 below 8
    odd = torch.remainder(octant, 2.0) == 1.0
    angle = torch.where(odd, 1.0 - frac, frac) * QUARTER_PI
    a2 = angle * angle
    sin_a = horner(a2, (*SIN_COEFFS, 1.0)).mul_(angle)
    cos_a = horner(a2, (*COS_COEFFS, 1.0))
    quadrant = torch.remainder(torch.floor((octant + 1.0) * 0.5), 4.0)
    # θ = quadrant·π/2 ± angle; sign is − for odd octants.
    signed_sin = torch.where(odd, -sin_a, sin_a)
    swap = torch.remainder(quadrant, 2.0) == 1.0
    cos_t = torch.where(swap, -signed_sin, cos_a)
    sin_t = torch.where(swap, cos_a, signed_sin)
    flip = quadrant >= 2.0
    return torch.where(flip, -cos_t, cos_t), torch.where(flip, -sin_t, sin_t)


def ndtri_f32(p: torch.Tensor) -> torch.Tensor:
    """Φ⁻¹(p) for fp32 p in [MIN_CDF, 1), via Giles' erfinv with w = -ln(4p(1-p)).

    Writing 1 - x² as 4p(1-p) keeps full relative precision in the lower tail; relative
    error below 5e-7 over the whole range (tested against scipy).

    >>> round(float(ndtri_f32(torch.tensor([0.975]))), 5)
    1.95996
    """
    q = 1.0 - p
    w = log_f32(p * q * 4.0).neg_()
    central = horner(w - 2.5, ERFINV_CENTRAL)
    root_w = sqrt_rn(w)
    tail = horner(root_w - 3.0, ERFINV_TAIL)
    deep = horner(root_w - 6.0, ERFINV_DEEP)
    poly = torch.where(w < 5.0, central, torch.where(w < DEEP_TAIL_W, tail, deep))
    erfinv = poly * (p * 2.0 - 1.0)
    return erfinv * SQRT2
