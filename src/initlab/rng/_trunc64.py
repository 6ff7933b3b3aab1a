"""The pinned float64 truncated normal of ``rng="torch"``: the reference and a fused CPU route.

The algorithm (documented under ``initlab.trunc_normal_``): one float64
``U(Φ(α), Φ(β))`` per element from the ``torch.Generator``, ``z = Φ⁻¹(u)`` (negated when
the interval was mirrored into the lower tail), ``x = z·σ + μ`` (a multiply, then an add),
clamped to [low, high] in float64, rounded once to the tensor's dtype (16-bit dtypes through
float32, as torch's ``copy_`` does) and clamped to the dtype's inward bounds.

* :func:`reference_` is that sequence in whole-tensor torch ops.
* :func:`fused_` gives the same bits on CPU, chunk by chunk: the generator draws each chunk's
  uniforms (mt19937 is serial, so chunks consume it in the same order as one call), and one
  numba kernel does Φ⁻¹, the affine map, both clamps and the rounding. Φ⁻¹ is Cephes'
  ``ndtri`` (S. Moshier, Cephes Math Library, 1989) evaluated as torch's ``calc_ndtri`` is
  compiled on x86-64 (Horner steps and the central ``y + y·r`` as fused multiply-adds, glibc
  ``log``): equal to ``torch.special.ndtri`` on every value tested (tests/rng). Every
  element is first evaluated by the central piece (e⁻² < u ≤ 1 - e⁻², about 76 % of a ±2σ
  draw), branch-free so LLVM vectorizes it; the tail elements are then gathered and
  evaluated in vectorized passes around two scalar loops of glibc ``log``. Float64 scratch
  is two chunks, not the tensor; a helper thread draws the next chunk's uniforms meanwhile.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
import torch
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from initlab.rng._bounds import inward_bounds, trunc_normal_cdf_range

__all__ = ["CHUNK", "fused_", "reference_"]

CHUNK = 1 << 16  # elements per generator call: 512 KiB of float64 uniforms, L2-resident
_OUT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

# Cephes ndtri coefficients (highest power first); the published values, needed verbatim for
# the same bits as torch.special.ndtri.
_P0 = np.array([-5.99633501014107895267e1, 9.80010754185999661536e1, -5.66762857469070293439e1,
                1.39312609387279679503e1, -1.23916583867381258016e0])  # fmt: skip
_Q0 = np.array([1.0, 1.95448858338141759834e0, 4.67627912898881538453e0, 8.63602421390890590575e1,
                -2.25462687854119370527e2, 2.00260212380060660359e2, -8.20372256168333339912e1,
                1.59056225126211695515e1, -1.18331621121330003142e0])  # fmt: skip
_P1 = np.array([4.05544892305962419923e0, 3.15251094599893866154e1, 5.71628192246421288162e1,
                4.40805073893200834700e1, 1.46849561928858024014e1, 2.18663306850790267539e0,
                -1.40256079171354495875e-1, -3.50424626827848203418e-2,
                -8.57456785154685413611e-4])  # fmt: skip
_Q1 = np.array([1.0, 1.57799883256466749731e1, 4.53907635128879210584e1, 4.13172038254672030440e1,
                1.50425385692907503408e1, 2.50464946208309415979e0, -1.42182922854787788574e-1,
                -3.80806407691578277194e-2, -9.33259480895457427372e-4])  # fmt: skip
_P2 = np.array([3.23774891776946035970e0, 6.91522889068984211695e0, 3.93881025292474443415e0,
                1.33303460815807542389e0, 2.01485389549179081538e-1, 1.23716634817820021358e-2,
                3.01581553508235416007e-4, 2.65806974686737550832e-6,
                6.23974539184983293730e-9])  # fmt: skip
_Q2 = np.array([1.0, 6.02427039364742014255e0, 3.67983563856160859403e0, 1.37702099489081330271e0,
                2.16236993594496635890e-1, 1.34204006088543189037e-2, 3.28014464682127739104e-4,
                2.89247864745380683936e-6, 6.79019408009981274425e-9])  # fmt: skip
_EXP_M2 = 0.13533528323661269189  # e^-2: below it (or above 1 - it) the tail pieces apply
_SQRT_2PI = 2.50662827463100050242


def reference_(
    tensor: torch.Tensor,
    mean: float,
    std: float,
    low: float,
    high: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The pinned algorithm in whole-tensor torch ops (any device; float64 scratch of the
    tensor's size)."""
    inside = inward_bounds(low, high, tensor.dtype)  # raises before anything is written
    cdf_low, cdf_high, mirrored = trunc_normal_cdf_range((low - mean) / std, (high - mean) / std)
    u = torch.empty(tensor.shape, dtype=torch.float64, device=tensor.device)
    u.uniform_(cdf_low, cdf_high, generator=generator)
    z = torch.special.ndtri(u)
    if mirrored:
        z.neg_()
    values = z.mul_(std).add_(mean).clamp_(low, high)
    tensor.copy_(values)
    # Rounding to a low-precision dtype can step just past a bound: pull it back inside.
    return tensor.clamp_(*inside)


def fusable(tensor: torch.Tensor) -> bool:
    """Whether :func:`fused_` applies: a contiguous CPU tensor of a float dtype, and numba
    without Intel SVML (which would vectorize ``log`` with other roundings than glibc's)."""
    return (
        tensor.device.type == "cpu"
        and tensor.is_contiguous()
        and tensor.dtype in _OUT_DTYPES
        and not getattr(numba.config, "USING_SVML", False)
    )


def fused_(
    tensor: torch.Tensor,
    mean: float,
    std: float,
    low: float,
    high: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """:func:`reference_`'s bits on a contiguous CPU tensor, chunked and fused (see above).

    Two threads: one draws the next chunk's uniforms (the generator, serial, in order)
    while this one runs the kernel on the current chunk (numba, without the GIL).
    """
    if not fusable(tensor):
        raise ValueError(f"fused_ needs a contiguous CPU float tensor, got {tensor.dtype} on "
                         f"{tensor.device} (contiguous={tensor.is_contiguous()})")  # fmt: skip
    inside = inward_bounds(low, high, tensor.dtype)
    cdf_low, cdf_high, mirrored = trunc_normal_cdf_range((low - mean) / std, (high - mean) / std)
    consts = np.array([-1.0 if mirrored else 1.0, std, mean, *inside])
    flat = tensor.detach().view(-1)  # written through NumPy views of its memory
    starts = range(0, flat.numel(), CHUNK)
    buffers = [torch.empty(min(CHUNK, flat.numel()), dtype=torch.float64) for _ in range(2)]

    def draw(k: int) -> np.ndarray:
        u = buffers[k % 2][: min(CHUNK, flat.numel() - starts[k])]
        return u.uniform_(cdf_low, cdf_high, generator=generator).numpy()

    finish = _finisher(tensor.dtype, consts, len(buffers[0]))
    if len(starts) == 1:
        finish(draw(0), flat.numpy() if tensor.dtype in _NUMPY_DTYPES else flat)
        return tensor
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="initlab-trunc") as pool:
        pending = pool.submit(draw, 0)
        for k, start in enumerate(starts):
            u = pending.result()
            if k + 1 < len(starts):
                pending = pool.submit(draw, k + 1)
            out = flat[start : start + len(u)]
            finish(u, out.numpy() if tensor.dtype in _NUMPY_DTYPES else out)
    return tensor


_NUMPY_DTYPES = (torch.float32, torch.float64)


def _finisher(dtype: torch.dtype, consts: np.ndarray, size: int) -> Any:
    """``finish(u, out)``: the pinned values of uniforms ``u`` (at most ``size``) into ``out``."""
    index, work = np.empty(size, dtype=np.int64), np.empty((3, size))
    if dtype in _NUMPY_DTYPES:
        return lambda u, out: _trunc_kernel(u, out, consts, index, work)
    scratch = np.empty(size, dtype=np.float32)
    if dtype == torch.bfloat16:
        return lambda u, out: _bf16_kernel(
            u, scratch, out.view(torch.int16).numpy().view(np.uint16), consts, index, work
        )

    def half(u: np.ndarray, out: torch.Tensor) -> None:  # float16: torch rounds float32
        _trunc_kernel(u, scratch[: len(u)], consts, index, work)
        out.copy_(torch.from_numpy(scratch[: len(u)]))

    return half


def _fma_typing(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """a·b + c rounded once (LLVM's ``llvm.fma.f64``: exact in hardware or in libm)."""
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        f64 = ir.DoubleType()
        fma = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))
        return builder.call(fma, args)

    return signature, codegen


_fma: Any = intrinsic(_fma_typing)


_inline = numba.njit(cache=True, error_model="numpy", inline="always")


@_inline
def _horner(x: float, coeffs: np.ndarray) -> float:
    acc = 0.0
    for c in coeffs:
        acc = _fma(acc, x, c)
    return acc


@_inline
def _central(y0: float) -> float:
    y = y0 - 0.5
    y2 = y * y
    return _fma(y, y2 * _horner(y2, _P0) / _horner(y2, _Q0), y) * _SQRT_2PI


@_inline
def _is_central(y0: float) -> bool:
    return _EXP_M2 < y0 <= 1.0 - _EXP_M2


@_inline
def _tail_poly(x: float, log_x: float) -> float:
    """Φ⁻¹'s tail piece magnitude from x = sqrt(-2 ln y) and ln x (both polynomials, then a
    select: branch-free, so the loop vectorizes)."""
    z = 1.0 / x
    near = z * _horner(z, _P1) / _horner(z, _Q1)  # y > e^-32
    far = z * _horner(z, _P2) / _horner(z, _Q2)
    return (x - log_x / x) - (near if x < 8.0 else far)


@_inline
def _value(z: float, consts: np.ndarray) -> float:
    """z·sign·σ + μ (a multiply, then an add, as torch's ops), clamped to the dtype's inward
    bounds in float64: before the rounding this equals torch's clamp to [low, high], round,
    clamp inward (rounding is monotone and keeps representable bounds)."""
    v = (z * consts[0]) * consts[1] + consts[2]
    v = consts[3] if v < consts[3] else v
    return consts[4] if v > consts[4] else v


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _trunc_kernel(
    u: np.ndarray, out: np.ndarray, consts: np.ndarray, index: np.ndarray, work: np.ndarray
) -> None:
    """out[i] = the pinned value of u[i], rounded by the store (out: float32 or float64).

    ``index`` (int64) and ``work`` ((3, n) float64): scratch of at least len(u). Every
    element is first evaluated as central (branch-free, vectorized); the tail elements
    (about a quarter of a ±2σ draw) are then gathered and evaluated in vectorized passes,
    with the two glibc ``log`` calls in scalar loops of their own.
    """
    for i in range(u.shape[0]):
        out[i] = _value(_central(u[i]), consts)
    m = 0
    for i in range(u.shape[0]):  # gather the tail indices without a branch
        index[m] = i
        m += not _is_central(u[i])
    for j in range(m):  # y of the lower tail, then x = sqrt(-2 ln y)
        y0 = u[index[j]]
        work[2, j] = y0
        work[0, j] = math.log(y0 if y0 <= 1.0 - _EXP_M2 else 1.0 - y0)
    for j in range(m):
        work[0, j] = math.sqrt(-2.0 * work[0, j])
    for j in range(m):
        work[1, j] = math.log(work[0, j])
    for j in range(m):  # contiguous rows only: vectorized
        y0 = work[2, j]
        x = _tail_poly(work[0, j], work[1, j])
        z = -x if y0 <= 1.0 - _EXP_M2 else x
        z = -math.inf if y0 == 0.0 else (math.inf if y0 == 1.0 else z)  # Φ⁻¹'s end points
        work[1, j] = _value(z, consts)
    for j in range(m):
        out[index[j]] = work[1, j]


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _bf16_kernel(
    u: np.ndarray,
    scratch: np.ndarray,
    out: np.ndarray,
    consts: np.ndarray,
    index: np.ndarray,
    work: np.ndarray,
) -> None:
    """The bfloat16 bits of the pinned values: float32 first, then round to nearest even
    (torch rounds a float64 to bfloat16 through float32 too)."""
    _trunc_kernel(u, scratch, consts, index, work)
    bits = scratch.view(np.uint32)
    for i in range(u.shape[0]):
        b = bits[i]
        out[i] = np.uint16((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> 16)
