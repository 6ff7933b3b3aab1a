"""The fast backends skip Φ⁻¹ pieces a draw cannot reach: check that claim on the reference."""

from __future__ import annotations

import math

import pytest
import torch

from initlab.rng._draws import Draw, ndtri_pieces
from initlab.rng._fp32 import DEEP_TAIL_W, MIN_CDF, log_f32

INTERVALS = [(-2.0, 2.0), (-1.0, 1.0), (-2.9, 2.9), (-3.0, 3.0), (3.0, 4.0), (-0.5, 5.0),
             (-7.0, -5.5), (-math.inf, 1.5), (5.0, 5.2), (-2.0, 0.5)]  # fmt: skip


def _reference_w(draw: Draw) -> torch.Tensor:
    """w = -ln(4p(1-p)) exactly as the reference computes it, over u from 0 to 1 - 2^-24."""
    words = torch.cat([torch.arange(0, 1 << 24, 97), torch.tensor([(1 << 24) - 1])])
    u = words.to(torch.float32) * 2.0**-24
    p = (u * draw.p3 + draw.p2).clamp(min=MIN_CDF)
    return -log_f32(p * (1.0 - p) * 4.0)


@pytest.mark.parametrize(("low", "high"), INTERVALS)
def test_pieces_cover_every_reachable_w(low, high):
    draw = Draw.trunc_normal(0.0, 1.0, low, high)
    w_max = float(_reference_w(draw).max())
    pieces = ndtri_pieces(draw)
    assert pieces == 3 or w_max < (5.0 if pieces == 1 else DEEP_TAIL_W)


def test_negative_control_pieces_are_not_always_all():
    # A check that always answered 3 would pass the test above: the common cases must be 1.
    assert ndtri_pieces(Draw.trunc_normal(0.0, 0.02, -0.04, 0.04)) == 1
    assert ndtri_pieces(Draw.trunc_normal(0.0, 1.0, 3.0, 4.0)) == 2
    assert ndtri_pieces(Draw.trunc_normal(0.0, 1.0, -7.0, -5.5)) == 3
    assert ndtri_pieces(Draw.normal(0.0, 1.0)) == 1


@pytest.mark.parametrize(("low", "high"), INTERVALS)
def test_numba_one_run_fill_equals_reference(low, high):
    # The single aligned run (a whole tensor) is where the numba kernels skip pieces.
    from initlab.rng import _numba_backend, keyed_runs

    draw = Draw.trunc_normal(0.1, 0.7, low * 0.7 + 0.1, high * 0.7 + 0.1)
    start = torch.tensor([0])
    ref = keyed_runs((5, 6), 3, draw, start, 10_001, backend="torch")
    assert torch.equal(keyed_runs((5, 6), 3, draw, start, 10_001, backend="numba"), ref)
    bf16 = torch.empty(10_001, dtype=torch.bfloat16)
    _numba_backend.fill_bf16_(bf16, (5, 6), 3, draw, 0)
    assert torch.equal(bf16, ref[0].to(torch.bfloat16))
