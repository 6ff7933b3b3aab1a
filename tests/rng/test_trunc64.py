"""rng="torch" truncated normal: the fused CPU route gives the pinned algorithm's bits.

:func:`initlab.rng._trunc64.reference_` is the documented sequence of torch ops; the fused
route (chunked uniforms, numba Φ⁻¹ and clamps) must equal it bit for bit in every dtype,
across chunk boundaries, in the tails, and consume the generator identically.
"""

from __future__ import annotations

import pytest
import torch

from initlab import trunc_normal_
from initlab.rng import _trunc64

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
CASES = [
    (0.0, 0.02, -0.04, 0.04),  # the usual ±2σ
    (1.0, 0.5, 1.2, 3.0),  # one-sided, mirrored into the lower tail
    (0.0, 1.0, 3.0, 4.0),  # tail piece of Φ⁻¹ (x < 8)
    (0.0, 1.0, -40.0, -38.0),  # deep tail (x >= 8)
    (0.0, 1.0, -9.0, 9.0),  # cdf_low rounds near 0: u = 0 gives Φ⁻¹ = -inf, clamped
    (0.0, 1e-3, -0.040001, 0.0400007),  # bounds that round outward in 16 bits
    (0.3, 2.0, -0.1, 0.05),  # a narrow window far from the mean
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("mean", "std", "low", "high"), CASES)
def test_fused_equals_reference(dtype, mean, std, low, high):
    for numel in (1, 7, 4097, _trunc64.CHUNK + 3):
        want = _trunc64.reference_(torch.empty(numel, dtype=dtype), mean, std, low, high,
                                   torch.Generator().manual_seed(numel))  # fmt: skip
        got = _trunc64.fused_(torch.empty(numel, dtype=dtype), mean, std, low, high,
                              torch.Generator().manual_seed(numel))  # fmt: skip
        assert torch.equal(got, want), numel


def test_fused_inverse_cdf_equals_torch_ndtri_on_many_values():
    # Mean 0, std 1 and bounds far outside: the values are Φ⁻¹(u) itself, over u in the
    # central piece and both tails.
    want = _trunc64.reference_(torch.empty(1 << 20), 0.0, 1.0, -38.0, 38.0,
                               torch.Generator().manual_seed(1))  # fmt: skip
    got = torch.empty(1 << 20, dtype=torch.float64)
    _trunc64.fused_(got, 0.0, 1.0, -38.0, 38.0, torch.Generator().manual_seed(1))
    assert torch.equal(got.float(), want)


def test_generator_consumed_as_by_one_call():
    g, ref = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    trunc_normal_(torch.empty(3 * _trunc64.CHUNK + 1), generator=g)
    torch.empty(3 * _trunc64.CHUNK + 1, dtype=torch.float64).uniform_(generator=ref)
    assert torch.equal(g.get_state(), ref.get_state())


def test_non_contiguous_takes_the_reference_and_gives_the_same_values():
    base = torch.empty(64, 32)
    view = base.t()
    assert not _trunc64.fusable(view)
    trunc_normal_(view, std=0.02, a=-0.04, b=0.04, generator=torch.Generator().manual_seed(2))
    want = trunc_normal_(torch.empty(32, 64), std=0.02, a=-0.04, b=0.04,
                         generator=torch.Generator().manual_seed(2))  # fmt: skip
    assert torch.equal(view, want)


def test_fused_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match=r"fused_ needs a contiguous CPU float tensor"):
        _trunc64.fused_(torch.empty(4, 4).t(), 0.0, 1.0, -2.0, 2.0, None)
