"""Truncation bounds, shared by both truncated normals (bottom layer: torch only).

:func:`trunc_normal_cdf_range` gives the CDF interval an inverse-CDF draw samples and
:func:`inward_bounds` the dtype's representable bounds inside [low, high] (the keyed draws in
:mod:`initlab.rng._draws`; the float64 algorithm in :mod:`initlab.rng._trunc64`).
"""

from __future__ import annotations

import math

import torch

__all__ = ["inward_bounds", "trunc_normal_cdf_range"]


def trunc_normal_cdf_range(alpha: float, beta: float) -> tuple[float, float, bool]:
    """CDF interval for inverse-CDF sampling of a standard normal truncated to [alpha, beta].

    The interval is mirrored into the lower tail (returned flag ``True``) so that
    Phi keeps full relative precision: Phi(-40) is representable, 1 - Phi(40) is not.
    """
    mirrored = alpha > -beta
    if mirrored:
        alpha, beta = -beta, -alpha
    cdf_low = 0.5 * math.erfc(-alpha / math.sqrt(2.0))
    cdf_high = 0.5 * math.erfc(-beta / math.sqrt(2.0))
    if not cdf_high > cdf_low:
        raise ValueError(
            f"the truncation interval [{alpha:g}, {beta:g}] (in std units from the mean) has "
            "probability that underflows double precision; move the bounds closer to the mean"
        )
    return cdf_low, cdf_high, mirrored


def _adjacent_value(value: torch.Tensor, toward: float) -> torch.Tensor:
    """The representable value of ``value``'s dtype next to it in the direction of ``toward``."""
    if value.dtype in (torch.float32, torch.float64):
        return torch.nextafter(value, torch.tensor(toward, dtype=value.dtype))
    return _step_16bit(value, toward)


def _step_16bit(value: torch.Tensor, toward: float) -> torch.Tensor:
    bits = value.view(torch.int16).clone()
    going_down = float(value) > toward
    # For IEEE-style sign-magnitude floats, moving away from zero increments the magnitude bits.
    away_from_zero = going_down == (float(value) < 0)
    bits += 1 if away_from_zero else -1
    return bits.view(value.dtype)


def inward_bounds(low: float, high: float, dtype: torch.dtype) -> tuple[float, float]:
    """The representable values of ``dtype`` nearest to [low, high] that lie inside it."""
    out = []
    for bound, inward in ((low, high), (high, low)):
        rounded = torch.tensor(bound, dtype=dtype)
        if (float(rounded) > bound) if inward < bound else (float(rounded) < bound):
            rounded = _adjacent_value(rounded, inward)
        out.append(float(rounded))
    if out[0] > out[1]:
        raise ValueError(
            f"no value of dtype {dtype} lies in [{low!r}, {high!r}]; widen the interval "
            "or use a more precise dtype"
        )
    return out[0], out[1]
