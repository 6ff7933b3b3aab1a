"""trunc_normal_: the pinned inverse-CDF algorithm, its bounds, tails and low precision.

Statistical thresholds: a Kolmogorov–Smirnov test rejects when D exceeds the
1 - 1e-6 quantile of its exact finite-n null distribution (``kstwo``), plus, for
float16/bfloat16, the largest CDF shift one rounding can cause (see ``_ks_passes``).
A correct sampler therefore fails a given check with probability below 1e-6; the seeds
are fixed, so the suite is deterministic.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch import nn

import initlab
from initlab import TRUNC2_STD, trunc_normal_

ALPHA = 1e-6
FLOAT_DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


def _ks_passes(values: torch.Tensor, dist) -> bool:
    """KS test of (possibly rounded) samples against a continuous scipy distribution.

    Rounding to a dtype with unit roundoff u moves each value by at most u·|x| (plus half
    the smallest subnormal step), which shifts the empirical CDF by at most
    u · sup |x| f(x) (+ f_max · step): that deterministic slack is added to the threshold.
    """
    x = values.double().flatten().numpy()
    n = x.size
    finfo = torch.finfo(values.dtype)
    grid = np.linspace(dist.ppf(1e-12), dist.ppf(1 - 1e-12), 20001)
    pdf = dist.pdf(grid)
    unit_roundoff = finfo.eps / 2 if values.dtype != torch.float64 else 0.0
    slack = unit_roundoff * np.max(np.abs(grid) * pdf) + np.max(pdf) * finfo.smallest_normal
    statistic = stats.kstest(x, dist.cdf).statistic
    return statistic <= stats.kstwo.ppf(1 - ALPHA, n) + slack


def _draw(n, dtype=torch.float64, seed=0, **kwargs) -> torch.Tensor:
    return trunc_normal_(
        torch.empty(n, dtype=dtype), generator=torch.Generator().manual_seed(seed), **kwargs
    )


# --- the correction constant -----------------------------------------------------------------


def test_trunc2_std_matches_scipy_and_closed_form():
    assert math.isclose(TRUNC2_STD, stats.truncnorm(-2, 2).std(), rel_tol=1e-15)
    phi2, cdf2 = stats.norm.pdf(2), stats.norm.cdf(2)
    assert math.isclose(TRUNC2_STD, math.sqrt(1 - 4 * phi2 / (2 * cdf2 - 1)), rel_tol=1e-15)


# --- the pinned algorithm ----------------------------------------------------------------------


def test_pinned_regression_values():
    # Fixed-seed outputs of the pinned algorithm: a change here changes every user's weights.
    assert _draw(4, seed=2024).tolist() == [
        -0.6282112150864485,
        0.7134140594423412,
        -0.4050623229453237,
        0.5531870851594684,
    ]
    assert _draw(3, seed=2024, mean=1.0, std=0.5, a=1.2, b=3.0).tolist() == [
        1.6783050875079883,
        1.3110266587788022,
        1.5988164768987223,
    ]


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [(0.0, 1.0, -2.0, 2.0), (1.0, 0.5, 1.2, 3.0), (0.0, 1.0, -1.0, 5.0), (0.0, 1.0, 3.0, 4.0)],
)
def test_algorithm_is_inverse_cdf_of_one_float64_uniform(mean, std, a, b):
    # Re-derive the documented algorithm with scipy from the same generator draws: one
    # float64 U(Φ(α), Φ(β)) per element, mirrored into the lower tail when α > -β.
    alpha, beta = (a - mean) / std, (b - mean) / std
    mirrored = alpha > -beta
    lo, hi = (-beta, -alpha) if mirrored else (alpha, beta)
    u = torch.empty(1000, dtype=torch.float64).uniform_(
        special.ndtr(lo), special.ndtr(hi), generator=torch.Generator().manual_seed(7)
    )
    z = special.ndtri(u.numpy())
    expected = mean + std * (-z if mirrored else z)
    got = _draw(1000, seed=7, mean=mean, std=std, a=a, b=b).numpy()
    # Two ndtri implementations agree to a few ulps; near the median (z ≈ 0) that is an
    # absolute, not relative, agreement: ulp(0.5)·√(2π) ≈ 3e-16 per ulp of u.
    np.testing.assert_allclose(got, np.clip(expected, a, b), rtol=1e-13, atol=2e-15 * std)


def test_generator_equals_seeded_global_generator(preserve_global_rng):
    torch.manual_seed(42)
    global_run = trunc_normal_(torch.empty(100))
    explicit = trunc_normal_(torch.empty(100), generator=torch.Generator().manual_seed(42))
    assert torch.equal(global_run, explicit)


def test_one_draw_per_element_and_sampler_consumption():
    g = torch.Generator().manual_seed(0)
    trunc_normal_(torch.empty(10), generator=g)
    reference = torch.Generator().manual_seed(0)
    torch.empty(10, dtype=torch.float64).uniform_(generator=reference)
    assert torch.equal(g.get_state(), reference.get_state())


# --- correctness in the hard cases ----------------------------------------------------------


def test_tiny_std_has_no_outliers():
    # PyTorch's erfinv-and-clamp algorithm gave kurtosis ~28,000 here (pytorch#155588).
    std = 0.002
    x = _draw(100_000, dtype=torch.float32, seed=1, std=std, a=-2.0, b=2.0).double()
    # Truncation at ±1000σ is no truncation: Pearson kurtosis 3, SE sqrt(24/n) ≈ 0.0155;
    # 0.1 is 6.4 SE (two-sided p ≈ 2e-10).
    assert stats.kurtosis(x.numpy(), fisher=False) == pytest.approx(3.0, abs=0.1)
    # P(|z| > 6) = 2e-9 per draw, 2e-4 for the sample.
    assert x.abs().max().item() <= 6 * std
    assert _ks_passes(x, stats.norm(scale=std))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_low_precision_std_002_is_not_skewed(dtype):
    # PyTorch's old algorithm stuck ~0.4% at `a` and gave std ≈ 0.127 (pytorch#145498).
    n, std = 100_000, 0.02
    x = _draw(n, dtype=dtype, seed=2, std=std)
    assert x.dtype == dtype
    values = x.double()
    # Thresholds at 6 standard errors (p ≈ 2e-9), plus the rounding bound u·E|x| / u·2E[x²].
    u = torch.finfo(dtype).eps / 2
    assert abs(values.mean().item()) <= 6 * std / math.sqrt(n) + u * std
    assert values.std().item() == pytest.approx(std, rel=6 * math.sqrt(0.5 / n) + 2 * u)
    assert (values.abs() >= 2.0).sum().item() == 0
    assert values.abs().max().item() <= 6 * std
    assert _ks_passes(x, stats.norm(scale=std))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_standard_case_matches_scipy(dtype):
    x = _draw(10_000, dtype=dtype, seed=3)
    assert _ks_passes(x, stats.truncnorm(-2, 2))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_narrow_interval_far_from_mean(dtype):
    mean, std, a, b = -3.0, 1.0, -0.5, 0.5
    x = _draw(10_000, dtype=dtype, seed=4, mean=mean, std=std, a=a, b=b)
    values = x.double()
    assert values.min().item() >= a
    assert values.max().item() <= b
    assert _ks_passes(x, stats.truncnorm((a - mean) / std, (b - mean) / std, mean, std))


@pytest.mark.parametrize(("a", "b"), [(30.0, 31.0), (-31.0, -30.0), (8.0, 40.0)])
def test_far_tails_are_sampled_without_clamping(a, b):
    # The mirrored inverse CDF keeps precision where 1 - Φ(30) underflows.
    x = _draw(10_000, seed=5, a=a, b=b)
    assert a <= x.min().item() and x.max().item() <= b
    assert _ks_passes(x, stats.truncnorm(a, b))
    assert torch.unique(x).numel() == x.numel()


def test_random_parameters_respect_rounded_bounds_and_distribution():
    rng = random.Random(2718)
    for trial in range(20):
        mean = rng.uniform(-3, 3)
        std = rng.uniform(0.01, 1)
        a = rng.uniform(mean - 2 * std, mean)
        b = rng.uniform(mean, mean + 2 * std)
        for dtype in (torch.float32, torch.float64):
            x = _draw(10_000, dtype=dtype, seed=trial, mean=mean, std=std, a=a, b=b)
            values = x.double()
            # Stronger than PyTorch's check against the dtype-rounded bounds: inside [a, b].
            assert a <= values.min().item() and values.max().item() <= b
            dist = stats.truncnorm((a - mean) / std, (b - mean) / std, mean, std)
            assert _ks_passes(x, dist), (mean, std, a, b, dtype)


@pytest.mark.parametrize(
    ("dtype", "floor"),
    [(torch.float32, 5000), (torch.float64, 5000), (torch.float16, 3000), (torch.bfloat16, 1000)],
    ids=str,
)
def test_unique_value_floors(dtype, floor):
    x = _draw(10_000, dtype=dtype, seed=6)
    assert torch.isfinite(x).all()
    assert torch.unique(x).numel() > floor


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_no_samples_at_bounds(dtype):
    x = _draw(10_000, dtype=dtype, seed=8, std=0.1, a=-2.0, b=2.0)
    assert (x.double().abs() == 2.0).sum().item() == 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_rounding_never_steps_outside_bounds(dtype):
    # ±0.1 is not representable in these dtypes; nearest-rounding would step outside.
    a, b = -0.1, 0.1
    x = _draw(100_000, dtype=dtype, seed=9, std=1.0, a=a, b=b).double()
    assert a <= x.min().item() and x.max().item() <= b


def test_interval_without_representable_values_raises_before_writing():
    t = torch.full((5,), 7.0, dtype=torch.bfloat16)
    with pytest.raises(ValueError, match=r"no value of dtype torch.bfloat16 lies in \[-2.701"):
        trunc_normal_(t, mean=-2.7, std=0.001, a=-2.701, b=-2.699)
    assert (t == 7).all()


def test_zero_std_fills_clamped_mean():
    assert torch.equal(
        trunc_normal_(torch.empty(3), mean=5.0, std=0.0, a=-1.0, b=1.0), torch.ones(3)
    )
    assert torch.equal(trunc_normal_(torch.empty(3), mean=0.25, std=0.0), torch.full((3,), 0.25))


def test_underflowing_interval_raises():
    with pytest.raises(ValueError, match=r"probability that underflows double precision"):
        trunc_normal_(torch.empty(3), a=50.0, b=51.0)


def test_argument_errors():
    with pytest.raises(ValueError, match=r"a=2.0 must be less than b=2.0 in trunc_normal_"):
        trunc_normal_(torch.empty(3), a=2.0, b=2.0)
    with pytest.raises(ValueError, match=r"std=-0.1 must be >= 0"):
        trunc_normal_(torch.empty(3), std=-0.1)
    with pytest.raises(ValueError, match=r"mean=nan must be finite"):
        trunc_normal_(torch.empty(3), mean=math.nan)
    with pytest.raises(ValueError, match=r"b=inf must be finite"):
        trunc_normal_(torch.empty(3), b=math.inf)


def test_differs_from_pytorch_by_design_but_not_in_distribution():
    ours = _draw(20_000, dtype=torch.float32, seed=10)
    theirs = nn.init.trunc_normal_(torch.empty(20_000), generator=torch.Generator().manual_seed(10))
    assert not torch.equal(ours, theirs)
    assert _ks_passes(ours, stats.truncnorm(-2, 2))


def test_truncated_variance_scaling_has_exact_variance():
    # σ = std / TRUNC2_STD truncated at ±2σ has std exactly `std` (Keras/JAX convention).
    fan_in = 256
    w = initlab.variance_scaling_(
        torch.empty(512, fan_in, dtype=torch.float64),
        2.0,
        generator=torch.Generator().manual_seed(11),
    )
    std = math.sqrt(2.0 / fan_in)
    sigma = std / TRUNC2_STD
    assert w.abs().max().item() <= 2 * sigma
    assert _ks_passes(w, stats.truncnorm(-2, 2, scale=sigma))
    assert stats.truncnorm(-2, 2, scale=sigma).std() == pytest.approx(std, rel=1e-14)
