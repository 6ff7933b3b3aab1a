"""Streaming statistics of one tensor: computed at hook time, nothing kept.

Each function reduces a tensor to a few floats (or a fixed-size histogram), so
the doctor's memory does not grow with the activations it has seen.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "ACTIVATION_MODULES",
    "RECTIFIED",
    "SATURATING",
    "activation_stats",
    "histogram",
    "weight_rows",
    "weight_stats",
]

# Saturation: |tanh| > 0.99; sigmoid < 0.01 or > 0.99 (Glorot & Bengio 2010, section 3).
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01
SATURATING = ("tanh", "sigmoid", "hardtanh")
RECTIFIED = ("relu", "relu6")

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


def _unit_axis(x: torch.Tensor) -> int:
    # Channels are axis 1 for (N, C, H, W...) and the last axis for (N, F) or (N, T, F).
    return 1 if x.dim() >= 4 else x.dim() - 1


def _saturated(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "sigmoid":
        return (x < SIGMOID_SATURATION) | (x > 1 - SIGMOID_SATURATION)
    return x.abs() > TANH_SATURATION


def activation_stats(x: torch.Tensor, activation: str | None) -> dict[str, float]:
    """Mean, std, second moment, zero fraction; saturation or dead units by activation."""
    x = x.detach().float()
    names = ["act_mean", "act_std", "act_second_moment", "act_zero_frac", "act_max_abs"]
    values = [
        x.mean(),
        x.std(correction=0),
        x.square().mean(),
        (x == 0).float().mean(),
        x.abs().max(),
    ]
    if activation in SATURATING:
        names.append("act_sat_frac")
        values.append(_saturated(x, activation).float().mean())
    if activation in RECTIFIED and x.dim() >= 2:
        axis = _unit_axis(x)
        units = x.movedim(axis, -1).reshape(-1, x.shape[axis])
        names.append("dead_unit_frac")
        values.append((units.amax(dim=0) <= 0).float().mean())
    # One device sync for all of them.
    return dict(zip(names, torch.stack(values).tolist()))


def histogram(x: torch.Tensor, bins: int) -> tuple[float, float, list[float]]:
    """Fixed-size histogram over [min, max]: (low, high, counts)."""
    x = x.detach().float().flatten()
    low, high = torch.aminmax(x)
    lo, hi = float(low), float(high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return lo, hi, []
    if hi <= lo:
        hi = lo + 1e-12
    counts = torch.histc(x, bins=bins, min=lo, max=hi)
    return lo, hi, counts.tolist()


def weight_rows(module: nn.Module, name: str, weight: torch.Tensor) -> torch.Tensor:
    """The weight as (units, fan): output units on rows (ConvTranspose stores them on axis 1)."""
    w = weight.detach().float()
    if isinstance(module, nn.modules.conv._ConvTransposeNd) and name == "weight":
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def _duplicate_fraction(rows: torch.Tensor, tol: float, max_rows: int) -> float:
    rows = rows[:max_rows]
    if rows.shape[0] < 2:
        return 0.0
    scale = rows.norm(dim=1).mean().clamp_min(1e-30)
    dist = torch.cdist(rows, rows)
    dist.fill_diagonal_(math.inf)
    return float((dist.amin(dim=1) <= tol * scale).float().mean())


def weight_stats(
    rows: torch.Tensor, *, duplicate_tol: float, max_duplicate_rows: int, max_svd_numel: int
) -> dict[str, float]:
    """Spectrum (top singular value, condition, effective rank) and duplicate units."""
    out = {
        "weight_std": float(rows.std(correction=0)),
        "weight_zero": float(torch.count_nonzero(rows) == 0),
        "dup_unit_frac": _duplicate_fraction(rows, duplicate_tol, max_duplicate_rows),
    }
    if rows.numel() <= max_svd_numel and min(rows.shape) >= 1:
        s = torch.linalg.svdvals(rows)
        top = float(s[0])
        out["top_sv"] = top
        out["cond"] = top / float(s[-1]) if float(s[-1]) > 0 else math.inf
        total = float(s.sum())
        if total > 0:
            p = s / total
            entropy = float(-(p * torch.log(p.clamp_min(1e-30))).sum())
            # Effective rank of Roy & Vetterli (2007): exp of the singular-value entropy.
            out["effective_rank"] = math.exp(entropy)
            out["rank_frac"] = out["effective_rank"] / min(rows.shape)
        else:
            out["effective_rank"] = 0.0
            out["rank_frac"] = 0.0
    return out
