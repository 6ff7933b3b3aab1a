"""Keyed, counter-based randomness: every value is a pure function of (seed, name, index).

:class:`KeyedSampler` is the :class:`~initlab.rng.Sampler` users hold. The contract it
follows is split by layer: :mod:`initlab.rng._philox` (key and counter → words),
:mod:`initlab.rng._draws` (words → fp32 values, then one rounding to the dtype), and
:mod:`initlab.rng._dispatch` (which backend computes them: all give the same bits).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from initlab.rng._dispatch import fill_keyed, keyed_runs, keyed_words
from initlab.rng._draws import Draw
from initlab.rng._philox import derive_key

__all__ = ["KeyedSampler", "keyed_values", "named_samplers"]


def keyed_values(
    seed: int,
    name: str,
    shape: tuple[int, ...],
    draw: Draw,
    stream: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """A new fp32 tensor of ``shape`` drawn from ``draw`` under key (seed, name).

    >>> x = keyed_values(0, "w", (2, 3), Draw.uniform(-1.0, 1.0))
    >>> bool(x.abs().max() <= 1.0), x.dtype
    (True, torch.float32)
    """
    numel = math.prod(shape)
    starts = torch.zeros(1, dtype=torch.int64, device=device)
    return keyed_runs(derive_key(seed, name), stream, draw, starts, numel).reshape(shape)


class KeyedSampler:
    """A :class:`~initlab.rng.Sampler` whose values depend only on (seed, name, call, index).

    Each method call uses the next sub-stream (``stream`` counts calls), and element ``e``
    of the tensor passed uses counter ``e`` — for a DTensor, its index in the global tensor,
    so every shard layout gives the same global values. The global RNG is never touched.

    >>> import initlab
    >>> w = torch.empty(2, 3)
    >>> _ = KeyedSampler(0, "fc.weight").normal_(w, 0.0, 1.0)
    >>> v = KeyedSampler(0, "fc.weight").normal_(torch.empty(2, 3), 0.0, 1.0)
    >>> bool(torch.equal(w, v)), isinstance(KeyedSampler(0), initlab.rng.Sampler)
    (True, True)
    """

    def __init__(self, seed: int, name: str = "", stream: int = 0) -> None:
        self.key = derive_key(seed, name)
        self.seed = seed
        self.name = name
        self.stream = stream

    def __repr__(self) -> str:
        return f"KeyedSampler(seed={self.seed}, name={self.name!r}, stream={self.stream})"

    def child(self, name: str) -> KeyedSampler:
        """The sampler of a sub-name, e.g. a parameter's qualified name under a model's."""
        return KeyedSampler(self.seed, f"{self.name}.{name}" if self.name else name)

    def _next_stream(self) -> int:
        stream = self.stream
        self.stream += 1
        return stream

    def _fill(self, tensor: torch.Tensor, draw: Draw) -> torch.Tensor:
        stream = self._next_stream()
        if tensor.device.type == "meta" or tensor.numel() == 0:
            return tensor
        with torch.no_grad():
            return fill_keyed(tensor, self.key, stream, draw)

    def uniform_(self, tensor: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return self._fill(tensor, Draw.uniform(low, high))

    def normal_(self, tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
        return self._fill(tensor, Draw.normal(mean, std))

    def trunc_normal_(
        self, tensor: torch.Tensor, mean: float, std: float, low: float, high: float
    ) -> torch.Tensor:
        # The draw clamps to the dtype's own inward bounds: no pass after the rounding.
        return self._fill(tensor, Draw.trunc_normal(mean, std, low, high, tensor.dtype))

    def standard_normal(
        self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        return self.normal_(torch.empty(shape, dtype=dtype, device=device), 0.0, 1.0)

    def column_zero_mask(
        self, rows: int, cols: int, zeros: int, device: torch.device
    ) -> torch.Tensor:
        """``zeros`` entries per column with the smallest keyed words (ties: lower row first).

        Appending the row index makes every key unique, so a per-column threshold from one
        ``topk`` (of the smaller side) picks exactly ``zeros`` entries, deterministically on
        any device — no per-column loop, no sort.
        """
        stream = self._next_stream()
        if zeros <= 0 or zeros >= rows or cols == 0:
            return torch.full((rows, cols), zeros >= rows > 0, dtype=torch.bool, device=device)
        words = keyed_words(self.key, stream, 0, rows * cols, device).reshape(rows, cols)
        keys = (words << max(rows - 1, 1).bit_length()) | torch.arange(rows, device=device)[:, None]
        by_column = keys.t().contiguous()
        if 2 * zeros <= rows:
            low = torch.topk(by_column, zeros, dim=1, largest=False).values.amax(dim=1)
            return keys <= low
        high = torch.topk(by_column, rows - zeros, dim=1, largest=True).values.amin(dim=1)
        return keys < high


def named_samplers(
    named_parameters: Iterable[tuple[str, torch.Tensor]], seed: int, prefix: str = ""
) -> dict[str, KeyedSampler]:
    """One :class:`KeyedSampler` per qualified parameter name (order-independent).

    >>> samplers = named_samplers(torch.nn.Linear(2, 2).named_parameters(), seed=7)
    >>> sorted(samplers), samplers["bias"].name
    (['bias', 'weight'], 'bias')
    """
    root = KeyedSampler(seed, prefix)
    return {name: root.child(name) for name, _ in named_parameters}
