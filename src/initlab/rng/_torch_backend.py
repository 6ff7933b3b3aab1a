"""The pure-torch reference backend: vectorized int64 Philox and fp32 transforms.

Slow (dozens of tensor ops per element) but dependency-free and the definition the other
backends are tested against; the dispatch uses it only for small outputs or when neither
numba nor Triton can run.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from initlab.rng._draws import Draw, values_from_words
from initlab.rng._philox import block_words

__all__ = ["fill_runs", "words"]

# Elements per generated piece: large enough to amortize op launches, small enough for L2.
PIECE_ELEMENTS = 1 << 16


def _pieces(rows: int, length: int) -> Iterator[tuple[int, int, int, int]]:
    """Split an (rows, length) output into (row0, row1, col0, col1) pieces of bounded size."""
    cols_per = max(4, min(length, PIECE_ELEMENTS) // 4 * 4)
    rows_per = max(1, PIECE_ELEMENTS // max(length, 1))
    for r0 in range(0, rows, rows_per):
        for c0 in range(0, length, cols_per):
            yield r0, min(rows, r0 + rows_per), c0, min(length, c0 + cols_per)


def _runs(
    key: tuple[int, int], stream: int, draw: Draw, starts: torch.Tensor, length: int
) -> torch.Tensor:
    """Values of flat indices ``starts[r] + [0, length)`` as an (R, length) fp32 tensor."""
    first = starts >> 2
    lane = starts & 3
    n_blocks = (int(lane.max()) + length + 3) // 4
    blocks = first[:, None] + torch.arange(n_blocks, device=starts.device)
    vals = values_from_words(block_words(blocks, key, stream), draw).reshape(len(starts), -1)
    if len(starts) == 1:
        offset = int(lane[0])
        return vals[:, offset : offset + length]
    cols = lane[:, None] + torch.arange(length, device=starts.device)
    return vals.gather(1, cols)


def fill_runs(
    out: torch.Tensor, key: tuple[int, int], stream: int, draw: Draw, starts: torch.Tensor
) -> torch.Tensor:
    """Write the values of ``starts[r] + j`` into ``out[r, j]`` (an (R, length) fp32 tensor)."""
    starts = starts.to(out.device)
    for r0, r1, c0, c1 in _pieces(*out.shape):
        out[r0:r1, c0:c1] = _runs(key, stream, draw, starts[r0:r1] + c0, c1 - c0)
    return out


def words(
    key: tuple[int, int], stream: int, start: int, count: int, device: torch.device | str
) -> torch.Tensor:
    """uint32 words (in int64) of flat indices [start, start + count)."""
    first, last = start // 4, (start + count + 3) // 4
    blocks = torch.arange(first, last, dtype=torch.int64, device=device)
    stacked = torch.stack(block_words(blocks, key, stream), dim=-1).reshape(-1)
    return stacked[start - 4 * first : start - 4 * first + count]
