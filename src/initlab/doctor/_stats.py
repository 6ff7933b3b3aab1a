"""Streaming statistics of one tensor: computed at hook time, nothing kept.

Each function reduces a tensor to a short vector *on the tensor's device* and
hands it to a :class:`Deferred`, which moves every statistic of the pass to the
host in one batched transfer at the end (no device sync per layer). Reductions
are few and cheap: a mean, two dot products (second moment; variance of the
centred tensor), one ``aminmax`` (maximum magnitude and histogram range) and one
zero count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "ACTIVATION_MODULES",
    "HIST_SAMPLE",
    "RECTIFIED",
    "SATURATING",
    "Deferred",
    "Slot",
    "activation_stats",
    "histogram",
    "unpack_histogram",
    "weight_group_stats",
    "weight_rows",
]

# Saturation: |tanh| > 0.99; sigmoid < 0.01 or > 0.99 (Glorot & Bengio 2010, section 3).
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01
SATURATING = ("tanh", "sigmoid", "hardtanh")
RECTIFIED = ("relu", "relu6")
# Histogram counts come from at most this many elements (a strided subsample);
# the range [min, max] is always the full tensor's.
HIST_SAMPLE = 1 << 16
# Weights stacked into one batched SVD hold at most this many elements (64 MiB float32).
SVD_BATCH_NUMEL = 1 << 24

ACTIVATION_MODULES: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.LeakyReLU: "leaky_relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.Hardtanh: "hardtanh",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.ELU: "elu",
    nn.SELU: "selu",
    nn.Softplus: "softplus",
    nn.Mish: "mish",
}

ACT_NAMES = ("act_mean", "act_std", "act_second_moment", "act_zero_frac", "act_max_abs")
WEIGHT_NAMES = ("weight_std", "weight_zero", "dup_unit_frac")
SPECTRUM_NAMES = ("top_sv", "cond", "effective_rank", "rank_frac")


@dataclass(frozen=True)
class Slot:
    """Where one reduced vector lives in a :class:`Deferred` batch."""

    group: tuple[torch.device, torch.dtype]
    start: int
    length: int


class Deferred:
    """Collects small statistic tensors; :meth:`fetch` moves them all to the host at once.

    Tensors are concatenated per (device, dtype) group, so a model on one device
    costs one ``.tolist()`` per dtype in use (normally one) for the whole pass.
    """

    def __init__(self) -> None:
        self._parts: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        self._sizes: dict[tuple[torch.device, torch.dtype], int] = {}
        self._values: dict[tuple[torch.device, torch.dtype], list[float]] = {}

    def add(self, tensor: torch.Tensor) -> Slot:
        """Queue ``tensor`` (any shape; flattened) and return its slot."""
        flat = tensor.detach().reshape(-1)
        group = (flat.device, flat.dtype)
        start = self._sizes.get(group, 0)
        self._parts.setdefault(group, []).append(flat)
        self._sizes[group] = start + flat.numel()
        return Slot(group, start, flat.numel())

    def fetch(self) -> None:
        """The one device-to-host transfer per group."""
        for group, parts in self._parts.items():
            self._values[group] = torch.cat(parts).tolist() if parts else []
        self._parts.clear()

    def get(self, slot: Slot) -> list[float]:
        """The values of ``slot`` as Python floats (after :meth:`fetch`)."""
        values = self._values[slot.group]
        return [float(v) for v in values[slot.start : slot.start + slot.length]]


def _as_float(x: torch.Tensor) -> torch.Tensor:
    # float16/bfloat16 are reduced in float32, as before; float32/float64 as they are.
    x = x.detach()
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _unit_axis(x: torch.Tensor) -> int:
    # Channels are axis 1 for (N, C, H, W...) and the last axis for (N, F) or (N, T, F).
    return 1 if x.dim() >= 4 else x.dim() - 1


def _saturated_count(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "sigmoid":
        return ((x - 0.5).abs() > 0.5 - SIGMOID_SATURATION).sum()
    return (x.abs() > TANH_SATURATION).sum()


def activation_stats(
    x: torch.Tensor, activation: str | None
) -> tuple[tuple[str, ...], torch.Tensor, torch.Tensor]:
    """Mean, std, second moment, zero fraction, max |x|; saturation or dead units.

    Returns the statistic names, their values as one device tensor, and the
    tensor's (min, max) for :func:`histogram`. Nothing is synchronized.
    """
    x = _as_float(x)
    flat = x.reshape(-1)
    numel = max(flat.numel(), 1)
    mean = flat.mean()
    centered = flat - mean  # two-pass variance: stable when |mean| >> std (sigmoid outputs)
    low, high = torch.aminmax(flat)
    names: tuple[str, ...] = ACT_NAMES
    values = [
        mean,
        (torch.dot(centered, centered) / numel).sqrt(),
        torch.dot(flat, flat) / numel,
        (flat == 0).sum().to(x.dtype) / numel,
        torch.maximum(-low, high),
    ]
    if activation in SATURATING:
        names += ("act_sat_frac",)
        values.append(_saturated_count(x, activation).to(x.dtype) / numel)
    if activation in RECTIFIED and x.dim() >= 2:
        axis = _unit_axis(x)
        # Max over every axis but the unit axis: no movedim copy.
        peak = x.amax(dim=[d for d in range(x.dim()) if d != axis])
        names += ("dead_unit_frac",)
        values.append((peak <= 0).sum().to(x.dtype) / max(peak.numel(), 1))
    return names, torch.stack(values), torch.stack([low, high])


def _subsample(x: torch.Tensor) -> torch.Tensor:
    """At most about HIST_SAMPLE elements of the flat ``x``, as a strided view (no copy).

    The stride is coprime with the element count, hence with every trailing block
    size (features, H·W, C·H·W): the sample visits every unit and position evenly.
    """
    if x.numel() <= HIST_SAMPLE:
        return x
    stride = -(-x.numel() // HIST_SAMPLE)
    while math.gcd(stride, x.numel()) != 1:
        stride += 1
    return x[::stride]


def histogram(x: torch.Tensor, bins: int, range_: torch.Tensor | None = None) -> torch.Tensor:
    """Fixed-bin histogram over [min, max] as one device tensor ``[low, high, *counts]``.

    Bins are assigned arithmetically (no ``histc``, whose range must be on the
    host). Tensors with more than :data:`HIST_SAMPLE` elements are binned on a
    strided subsample of at most that size (:func:`_subsample`) and the counts
    rescaled, so counts estimate the full tensor's and sum to its element count.
    """
    x = _as_float(x).reshape(-1)
    if range_ is None:
        range_ = torch.stack(torch.aminmax(x))
    low, high = range_[0], range_[1]
    sample = _subsample(x)
    scale = bins / (high - low).clamp_min(1e-12)
    index = ((sample - low) * scale).clamp_(0, bins - 1).nan_to_num_(0.0).long()
    counts = torch.bincount(index, minlength=bins).to(x.dtype)
    counts = counts * (x.numel() / sample.numel())
    return torch.cat([range_.to(x.dtype), counts])


def unpack_histogram(values: Sequence[float]) -> tuple[float, float, list[float]]:
    """(low, high, counts) from a fetched :func:`histogram`; no counts if not finite."""
    low, high, counts = values[0], values[1], list(values[2:])
    if not (math.isfinite(low) and math.isfinite(high)):
        return low, high, []
    return low, max(high, low + 1e-12), counts


def weight_rows(module: nn.Module, name: str, weight: torch.Tensor) -> torch.Tensor:
    """The weight as (units, fan): output units on rows (ConvTranspose stores them on axis 1)."""
    w = weight.detach().float()
    if isinstance(module, nn.modules.conv._ConvTransposeNd) and name == "weight":
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def _duplicate_fraction(w: torch.Tensor, tol: float, max_rows: int) -> torch.Tensor:
    """Per matrix of the (B, units, fan) stack: fraction of rows with a near twin."""
    w = w[:, :max_rows]
    if w.shape[1] < 2:
        return w.new_zeros(w.shape[0])
    scale = w.norm(dim=2).mean(dim=1).clamp_min(1e-30)
    dist = torch.cdist(w, w)
    dist.diagonal(dim1=1, dim2=2).fill_(math.inf)
    return (dist.amin(dim=2) <= tol * scale[:, None]).to(w.dtype).mean(dim=1)


def _spectrum(w: torch.Tensor) -> torch.Tensor:
    """(B, 4): top singular value, condition, effective rank, rank fraction."""
    s = torch.linalg.svdvals(w)
    top, bottom = s[:, 0], s[:, -1]
    cond = torch.where(bottom > 0, top / bottom.clamp_min(1e-30), math.inf)
    total = s.sum(dim=1)
    p = s / total.clamp_min(1e-30)[:, None]
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(dim=1)
    # Effective rank of Roy & Vetterli (2007): exp of the singular-value entropy.
    rank = torch.where(total > 0, entropy.exp(), 0.0)
    return torch.stack([top, cond, rank, rank / min(w.shape[1:])], dim=1)


def weight_group_stats(
    rows: Sequence[torch.Tensor], *, duplicate_tol: float, max_duplicate_rows: int, svd: bool
) -> tuple[tuple[str, ...], torch.Tensor]:
    """Statistics of same-shape (units, fan) weights in batched calls: one row per weight.

    Weight std, all-zero flag, duplicate-unit fraction, and with ``svd`` the
    spectrum (``torch.linalg.svdvals`` on the stack). Stacks are chunked to
    :data:`SVD_BATCH_NUMEL` elements.
    """
    names = WEIGHT_NAMES + (SPECTRUM_NAMES if svd else ())
    chunk = max(1, SVD_BATCH_NUMEL // max(rows[0].numel(), 1))
    out = []
    for start in range(0, len(rows), chunk):
        w = torch.stack(list(rows[start : start + chunk]))
        parts = [
            w.std(dim=(1, 2), correction=0)[:, None],
            (torch.count_nonzero(w, dim=(1, 2)) == 0).to(w.dtype)[:, None],
            _duplicate_fraction(w, duplicate_tol, max_duplicate_rows)[:, None],
        ]
        if svd:
            parts.append(_spectrum(w))
        out.append(torch.cat(parts, dim=1))
    return names, torch.cat(out)
