"""sparse_'s zero pattern: Floyd's subset sampling gives every subset the same chance."""

import collections
import itertools

import pytest
import torch
from scipy import stats

from initlab.rng._seam import TorchSampler, floyd_column_mask

# Chi-square goodness of fit over all C(rows, zeros) subsets; a correct sampler fails with
# probability 1e-6 per case.
ALPHA = 1e-6


@pytest.mark.parametrize(("rows", "zeros"), [(4, 2), (5, 1), (5, 4), (6, 3)])
def test_every_subset_is_equally_likely(rows: int, zeros: int) -> None:
    cols = 60_000
    mask = TorchSampler(torch.Generator().manual_seed(rows * 10 + zeros)).column_zero_mask(
        rows, cols, zeros, torch.device("cpu")
    )
    assert (mask.sum(dim=0) == zeros).all()
    counts = collections.Counter(map(tuple, mask.t().tolist()))
    subsets = list(itertools.combinations(range(rows), zeros))
    assert len(counts) == len(subsets)
    observed = [counts[tuple(r in s for r in range(rows))] for s in subsets]
    assert stats.chisquare(observed).pvalue > ALPHA


def test_biased_pattern_is_rejected_negative_control() -> None:
    rows, zeros, cols = 4, 2, 60_000
    g = torch.Generator().manual_seed(0)
    # Always zeroing row 0 plus one random other row: a plausible-looking but wrong sampler.
    other = torch.randint(1, rows, (cols,), generator=g)
    mask = torch.zeros((rows, cols), dtype=torch.bool)
    mask[0] = True
    mask[other, torch.arange(cols)] = True
    counts = collections.Counter(map(tuple, mask.t().tolist()))
    subsets = list(itertools.combinations(range(rows), zeros))
    observed = [counts[tuple(r in s for r in range(rows))] for s in subsets]
    assert stats.chisquare(observed).pvalue < ALPHA


def test_wrong_number_of_uniform_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match="need 2 rows of uniforms, got 3"):
        floyd_column_mask(torch.rand(3, 5, dtype=torch.float64), 4, 2)
