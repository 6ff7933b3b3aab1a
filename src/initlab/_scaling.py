"""The scheme core: pure std, bound and mixing math, used both to fill and to describe.

Every fan-based filler (``xavier_*_``, ``kaiming_*_``, ``variance_scaling_`` and its
presets) and every ``Initializer.spec`` compute their numbers here, so the std a plan
shows is the std that is drawn. Nothing here touches a tensor.

Zero-fan policy, the same for every scheme: a fan of 0 only occurs in a tensor with
no elements, where nothing is drawn, so its std is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from initlab._fans import Fans

__all__ = [
    "DISTRIBUTIONS",
    "TRUNC2_STD",
    "distribution_bound",
    "glorot_std",
    "identity_moments",
    "kaiming_std",
    "mix_chunks",
    "semi_orthogonal_std",
    "sparse_std",
    "truncated_moments",
    "truncated_sigma",
    "uniform_bound",
    "uniform_moments",
    "variance_std",
]

# Std of a standard normal truncated to (-2, 2): sqrt(1 - 4 φ(2) / (2 Φ(2) - 1)).
# Dividing by it makes a ±2σ truncated normal have exactly the intended variance.
TRUNC2_STD = 0.87962566103423978

#: Zero-mean distributions of the variance-scaling family.
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")


def variance_std(scale: float, fans: Fans, mode: str) -> float:
    """std = √(scale / n), n the fan chosen by ``mode``; 0 when n is 0 (an empty tensor).

    >>> variance_std(2.0, Fans(fan_in=128, fan_out=256), "fan_in")
    0.125
    """
    n = fans.fan(mode)
    return math.sqrt(scale / n) if n > 0 else 0.0


def glorot_std(gain: float, fans: Fans) -> float:
    """std = gain · √(2 / (fan_in + fan_out)), in PyTorch's exact expression (same bits).

    >>> glorot_std(1.0, Fans(fan_in=3, fan_out=5))
    0.5
    """
    total = fans.fan_in + fans.fan_out
    return gain * math.sqrt(2.0 / float(total)) if total > 0 else 0.0


def kaiming_std(gain: float, fans: Fans, mode: str) -> float:
    """std = gain / √n, n = fan_in or fan_out, in PyTorch's exact expression (same bits).

    >>> kaiming_std(math.sqrt(2.0), Fans(fan_in=8, fan_out=2), "fan_in")
    0.5
    """
    n = fans.fan(mode)
    return gain / math.sqrt(n) if n > 0 else 0.0


def uniform_bound(std: float) -> float:
    """Half-width b of the zero-mean U(-b, b) whose std is ``std``: b = √3 · std."""
    return math.sqrt(3.0) * std


def truncated_sigma(std: float) -> float:
    """σ of a ±2σ truncated normal whose std after truncation is ``std``."""
    return std / TRUNC2_STD


def distribution_bound(distribution: str, std: float) -> float | None:
    """Largest magnitude a zero-mean draw with ``std`` can take (None when unbounded)."""
    if distribution == "uniform":
        return uniform_bound(std)
    if distribution == "truncated_normal":
        return 2.0 * truncated_sigma(std)
    return None


def truncated_moments(mean: float, std: float, low: float, high: float) -> tuple[float, float]:
    """Mean and std of N(mean, std²) truncated to [low, high] (closed form).

    >>> round(truncated_moments(0.0, 1.0, -2.0, 2.0)[1], 12) == round(TRUNC2_STD, 12)
    True
    """
    alpha, beta = (low - mean) / std, (high - mean) / std

    def pdf(x: float) -> float:
        return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2))

    mass = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / mass
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - shift**2
    return mean + std * shift, std * math.sqrt(max(var, 0.0))


def uniform_moments(low: float, high: float) -> tuple[float, float]:
    """Mean and std of U(low, high).

    >>> uniform_moments(-1.0, 3.0)[0]
    1.0
    """
    return (low + high) / 2, (high - low) / 2 / math.sqrt(3.0)


def semi_orthogonal_std(rows: int, cols: int, gain: float) -> float:
    """RMS of the entries of a rows × cols (semi-)orthogonal matrix times ``gain``: its
    min(rows, cols) unit singular values spread over rows·cols entries (exact, not random).

    >>> semi_orthogonal_std(4, 4, 1.0)
    0.5
    """
    if rows == 0 or cols == 0:
        return 0.0
    return abs(gain) * math.sqrt(min(rows, cols) / (rows * cols))


def identity_moments(shape: Sequence[int], gain: float, groups: int) -> tuple[float, float]:
    """Mean and std of an identity (eye or Dirac) weight of ``shape`` times ``gain``:
    min(out/groups, in)·groups entries equal ``gain``, the rest 0.

    >>> identity_moments((2, 2), 1.0, 1)
    (0.5, 0.5)
    """
    total = math.prod(shape) or 1
    ones = min(shape[0] // groups, shape[1]) * groups
    share = ones / total
    return gain * share, abs(gain) * math.sqrt(max(share - share * share, 0.0))


def sparse_std(rows: int, sparsity: float, std: float) -> float:
    """RMS of a column with ceil(sparsity·rows) zeros and N(0, std²) elsewhere.

    >>> sparse_std(4, 0.5, 1.0) == math.sqrt(0.5)
    True
    """
    if rows == 0:
        return 0.0
    kept = (rows - math.ceil(sparsity * rows)) / rows
    return std * math.sqrt(kept)


def mix_chunks(parts: Sequence[tuple[int, float, float]]) -> tuple[float, float]:
    """Mean and std of a whole tensor from its chunks' ``(numel, mean, std)``.

    The law of total variance: each chunk contributes its size-weighted second
    moment (std² + mean²); the mean is the size-weighted mean.

    >>> mix_chunks([(2, 0.0, 1.0), (2, 0.0, 1.0)])
    (0.0, 1.0)
    >>> mix_chunks([(1, 1.0, 0.0), (1, -1.0, 0.0)])   # two constants, ±1
    (0.0, 1.0)
    """
    total = sum(n for n, _, _ in parts)
    if total == 0:
        return (parts[0][1], parts[0][2]) if parts else (0.0, 0.0)
    if len({(mean, std) for _, mean, std in parts}) == 1:
        return parts[0][1], parts[0][2]  # identical chunks: exact, no rounding
    mean = sum(n * m for n, m, _ in parts) / total
    second = sum(n * (s * s + m * m) for n, m, s in parts) / total
    return mean, math.sqrt(max(second - mean * mean, 0.0))
