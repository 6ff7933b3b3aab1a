"""The one seam through which every initializer draws randomness (bottom layer: torch only).

Schemes compute *what* distribution to draw (a bound, a std, truncation points);
a :class:`Sampler` decides *how* the numbers are produced. Today's sampler wraps
a ``torch.Generator`` and reproduces ``torch.nn.init`` bit for bit; a keyed,
counter-based sampler (device- and sharding-invariant) plugs in behind the same
five methods without any scheme changing.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

import torch

from initlab.rng._bounds import inward_bounds, trunc_normal_cdf_range

__all__ = [
    "GeneratorLike",
    "Sampler",
    "TorchSampler",
    "as_sampler",
    "derive_seed",
    "floyd_column_mask",
    "inward_bounds",
    "seeded_generator",
    "trunc_normal_cdf_range",
]


@runtime_checkable
class Sampler(Protocol):
    """Source of random numbers for initializers.

    Every method writes or returns values on the tensor's own device. ``low``,
    ``high`` bounds of :meth:`trunc_normal_` are absolute (not in units of std).
    """

    def uniform_(self, tensor: torch.Tensor, low: float, high: float) -> torch.Tensor:
        """Fill ``tensor`` with U(low, high) in place and return it."""
        ...

    def normal_(self, tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
        """Fill ``tensor`` with N(mean, std^2) in place and return it."""
        ...

    def trunc_normal_(
        self, tensor: torch.Tensor, mean: float, std: float, low: float, high: float
    ) -> torch.Tensor:
        """Fill ``tensor`` with N(mean, std^2) truncated to [low, high]; every value inside."""
        ...

    def standard_normal(
        self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """Return a new tensor of N(0, 1) draws (orthogonal's Gaussian matrix)."""
        ...

    def column_zero_mask(
        self, rows: int, cols: int, zeros: int, device: torch.device
    ) -> torch.Tensor:
        """Return a bool (rows, cols) mask with exactly ``zeros`` True entries per column,
        chosen uniformly at random (sparse's pattern)."""
        ...


GeneratorLike = torch.Generator | Sampler | None


class TorchSampler:
    """Draws from a ``torch.Generator`` (or PyTorch's default one when ``None``).

    ``uniform_``, ``normal_`` and ``standard_normal`` make exactly the calls
    ``torch.nn.init`` makes, so results are bit-identical for the same generator
    state. ``trunc_normal_`` is initlab's pinned inverse-CDF algorithm (float64
    uniforms, one draw per element), and ``column_zero_mask`` runs Floyd's subset
    sampling on all columns at once from one float64 uniform matrix of
    min(zeros, rows - zeros) rows.
    """

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator

    def __repr__(self) -> str:
        return f"TorchSampler(generator={self.generator!r})"

    def uniform_(self, tensor: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return tensor.uniform_(low, high, generator=self.generator)

    def normal_(self, tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
        return tensor.normal_(mean, std, generator=self.generator)

    def standard_normal(
        self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        return torch.empty(shape, dtype=dtype, device=device).normal_(
            0, 1, generator=self.generator
        )

    def trunc_normal_(
        self, tensor: torch.Tensor, mean: float, std: float, low: float, high: float
    ) -> torch.Tensor:
        # The pinned algorithm lives in _trunc64 (imported here, not at the top: it needs
        # numba, and this module is the bottom layer): fused on contiguous CPU tensors,
        # whole-tensor torch ops elsewhere. Both give the same bits.
        from initlab.rng import _trunc64

        if _trunc64.fusable(tensor):
            return _trunc64.fused_(tensor, mean, std, low, high, self.generator)
        return _trunc64.reference_(tensor, mean, std, low, high, self.generator)

    def column_zero_mask(
        self, rows: int, cols: int, zeros: int, device: torch.device
    ) -> torch.Tensor:
        steps = min(zeros, rows - zeros)
        uniforms = torch.empty((steps, cols), dtype=torch.float64, device=device)
        return floyd_column_mask(uniforms.uniform_(generator=self.generator), rows, zeros)


def floyd_column_mask(uniforms: torch.Tensor, rows: int, zeros: int) -> torch.Tensor:
    """A (rows, cols) bool mask with exactly ``zeros`` True per column, every subset equally likely.

    Floyd's algorithm (Bentley & Floyd, 1987), run on all columns at once: step s draws
    t uniform on [0, j] (j = rows - m + s) and adds t to the column's set, or j if t is
    already in it. It takes m = min(zeros, rows - zeros) steps (the complement is drawn
    when zeros > rows / 2), each O(cols), and needs ``uniforms`` of shape (m, cols) in
    [0, 1): PyTorch's per-column ``randperm`` loop becomes m small vector steps.
    """
    steps, cols = uniforms.shape
    if steps != min(zeros, rows - zeros):
        raise ValueError(f"need {min(zeros, rows - zeros)} rows of uniforms, got {steps}")
    device = uniforms.device
    chosen = torch.zeros((cols, rows), dtype=torch.bool, device=device)
    columns = torch.arange(cols, device=device)
    for step in range(steps):
        top = rows - steps + step
        pick = (uniforms[step] * (top + 1)).long().clamp_(max=top)
        taken = chosen[columns, pick]
        chosen[columns, torch.where(taken, torch.full_like(pick, top), pick)] = True
    mask = chosen.t()
    return mask if steps == zeros else ~mask


def as_sampler(generator: GeneratorLike) -> Sampler:
    """Accept what users pass as ``generator=``: a ``torch.Generator``, a Sampler or None."""
    if generator is None or isinstance(generator, torch.Generator):
        return TorchSampler(generator)
    if isinstance(generator, Sampler):
        return generator
    raise TypeError(
        f"generator={generator!r} must be a torch.Generator, an initlab Sampler or None, "
        f"got {type(generator).__name__}"
    )


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``keys`` (e.g. a parameter name).

    Stable across processes and Python versions (BLAKE2b, not ``hash()``), so a
    parameter's values do not depend on construction order or on other parameters.

    >>> derive_seed(0, "fc1.weight") == derive_seed(0, "fc1.weight") != derive_seed(0, "fc2.weight")
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed={seed!r} must be an int")
    text = "\x1f".join([str(seed), *(repr(k) for k in keys)])
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seeded_generator(
    seed: int, *keys: object, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded by :func:`derive_seed`."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, *keys))
