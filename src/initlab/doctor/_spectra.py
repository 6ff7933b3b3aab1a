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

from collections.abc import Callable

import torch

__all__ = ["lanczos_singular_values"]

# Relative size of the Lanczos residual below which the Krylov space is exhausted.
BREAKDOWN_TOL = 1e-6


def _normal_operator(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ Jᵀ J v from one forward: a JVP by the double-VJP identity, then a VJP.

    With u a dummy cotangent, g(u) = Jᵀu is linear in u, so J v = ∂⟨g(u), v⟩/∂u.
    Both products reuse the graph of a single forward pass (no re-evaluation per
    step, so dropout masks and batch statistics stay fixed).
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x)
        u = torch.zeros_like(out, requires_grad=True)
        (jt_u,) = torch.autograd.grad(out, x, u, create_graph=True)

    def apply(v: torch.Tensor) -> torch.Tensor:
        (jv,) = torch.autograd.grad(jt_u, u, v, retain_graph=True)
        (jtjv,) = torch.autograd.grad(out, x, jv, retain_graph=True)
        return jtjv.detach()

    return apply


def lanczos_singular_values(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    steps: int,
    generator: torch.Generator,
) -> list[float]:
    """Estimated singular values of the Jacobian of ``fn`` at ``x``, largest first."""
    operator = _normal_operator(fn, x)
    start = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    q = (start / start.norm()).to(x.dtype).to(x.device)
    basis: list[torch.Tensor] = []
    alphas: list[float] = []
    betas: list[float] = []
    for _ in range(min(steps, x.numel())):
        basis.append(q)
        w = operator(q)
        alpha = float(torch.vdot(q.flatten(), w.flatten()))
        alphas.append(alpha)
        for _ in range(2):  # full reorthogonalization, twice is enough
            for b in basis:
                w = w - torch.vdot(b.flatten(), w.flatten()) * b
        beta = float(w.norm())
        if beta <= BREAKDOWN_TOL * max(abs(alpha), 1e-30):
            break
        betas.append(beta)
        q = w / beta
    k = len(alphas)
    tri = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    off = torch.tensor(betas[: k - 1], dtype=torch.float64)
    tri += torch.diag(off, 1) + torch.diag(off, -1)
    eigenvalues = torch.linalg.eigvalsh(tri).clamp_min(0.0)
    return sorted(eigenvalues.sqrt().tolist(), reverse=True)
