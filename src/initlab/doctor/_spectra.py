"""Singular values of the input–output Jacobian without forming it.

Dynamical isometry (Saxe et al. 2013, "Exact solutions to the nonlinear
dynamics of learning in deep linear neural networks"; Pennington et al. 2017,
"Resurrecting the sigmoid in deep learning through dynamical isometry") asks
that all singular values of J = ∂output/∂input be close to 1. We run Lanczos
on JᵀJ, each step one Jacobian-vector product (``torch.func.jvp``) and one
vector-Jacobian product (``torch.func.vjp``), with full reorthogonalization;
the Ritz values bracket the spectrum's extremes after a few steps and are exact
once the Krylov space stops growing (e.g. J orthogonal: one step).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["lanczos_singular_values"]

# Relative size of the Lanczos residual below which the Krylov space is exhausted.
BREAKDOWN_TOL = 1e-6


def rank_tolerance(dtype: torch.dtype) -> float:
    """Singular values below this fraction of the largest are numerical zeros.

    Ritz values of JᵀJ carry an error of about eps·λ_max, so a singular value
    under √eps·σ_max (×10 for the accumulation over layers) cannot be told from
    zero: 3.5e-3 in float32, 1.5e-7 in float64.
    """
    return 10.0 * math.sqrt(torch.finfo(dtype).eps)


def _normal_operator(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    """v ↦ Jᵀ J v from one forward (a JVP by the double-VJP identity, then a VJP), and the
    output size.

    With u a dummy cotangent, g(u) = Jᵀu is linear in u, so J v = ∂⟨g(u), v⟩/∂u.
    Both products reuse the graph of a single forward pass (no re-evaluation per
    step, so dropout masks and batch statistics stay fixed). Vectors come and go
    in float64; J v is normalized before the VJP, so a deep net whose Jacobian is
    1e-25 does not underflow to exactly zero in float32 (σ² would be 1e-50).
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x)
        u = torch.zeros_like(out, requires_grad=True)
        (jt_u,) = torch.autograd.grad(out, x, u, create_graph=True)

    def apply(v: torch.Tensor) -> torch.Tensor:
        scale = v.abs().max().clamp_min(1e-300)
        (jv,) = torch.autograd.grad(jt_u, u, (v / scale).to(x.dtype), retain_graph=True)
        jv = jv.double()
        norm = torch.linalg.vector_norm(jv)
        if norm == 0:
            return torch.zeros_like(v)
        (jtjv,) = torch.autograd.grad(out, x, (jv / norm).to(x.dtype), retain_graph=True)
        return jtjv.detach().double() * norm * scale

    return apply, out.numel()


def lanczos_singular_values(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    steps: int,
    generator: torch.Generator,
) -> tuple[list[float], int, bool]:
    """Estimated singular values of the Jacobian of ``fn`` at ``x``, largest first, the
    numerical rank, and whether that rank is exact (the Krylov space was exhausted;
    otherwise the rank is at least that).

    At most ``min(steps, inputs, outputs + 1)`` Lanczos steps: the rank cannot
    exceed the smaller side. Ritz values under :func:`rank_tolerance` × the largest are
    numerical zeros: they are dropped, and the rank counts those kept.
    """
    operator, outputs = _normal_operator(fn, x)
    start = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x.device)
    q = start / start.norm()
    basis: list[torch.Tensor] = []
    alphas: list[float] = []
    betas: list[float] = []
    # JᵀJ has at most `outputs` nonzero eigenvalues; one more step spans the start vector's
    # null-space part, after which the Krylov space holds every nonzero one.
    cap = min(x.numel(), outputs + 1)
    limit = min(steps, cap)
    exhausted = limit == cap
    for _ in range(limit):
        basis.append(q)
        w = operator(q)
        alpha = float(torch.vdot(q.flatten(), w.flatten()))
        alphas.append(alpha)
        for _ in range(2):  # full reorthogonalization, twice is enough
            for b in basis:
                w = w - torch.vdot(b.flatten(), w.flatten()) * b
        beta = float(w.norm())
        if beta <= BREAKDOWN_TOL * max(abs(alpha), 1e-300):
            exhausted = True
            break
        betas.append(beta)
        q = w / beta
    k = len(alphas)
    tri = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    off = torch.tensor(betas[: k - 1], dtype=torch.float64)
    tri += torch.diag(off, 1) + torch.diag(off, -1)
    values = sorted(torch.linalg.eigvalsh(tri).clamp_min(0.0).sqrt().tolist(), reverse=True)
    if not values or values[0] == 0:
        return [], 0, exhausted
    kept = [v for v in values if v > rank_tolerance(x.dtype) * values[0]]
    return kept, len(kept), exhausted or len(kept) < len(values)
