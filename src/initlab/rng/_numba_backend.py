"""The numba backend (CPU): the reference arithmetic per element, on all cores.

The same operations as the torch reference, written per element so one parallel loop runs
on all cores and LLVM vectorizes the Philox rounds and the transforms. Every constant is an
``np.float32`` / ``np.uint64`` so no op silently widens to fp64. The functions are compiled
on first call and cached on disk (``cache=True``). Importing this module imports numba; the
dispatch (:mod:`initlab.rng._dispatch`) imports it only when a CPU output is large enough.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import torch

from initlab.rng._draws import KIND_NORMAL, KIND_UNIFORM, Draw, ndtri_pieces
from initlab.rng._fp32 import (
    COS_COEFFS,
    DEEP_TAIL_W,
    ERFINV_CENTRAL,
    ERFINV_DEEP,
    ERFINV_TAIL,
    LN2_HI,
    LN2_LO,
    LOG_COEFFS,
    MIN_CDF,
    QUARTER_PI,
    SIN_COEFFS,
    SQRT2,
    SQRT_HALF,
    TWO_POW_M24,
)
from initlab.rng._philox import (
    MASK32,
    PHILOX_M0,
    PHILOX_M1,
    PHILOX_ROUNDS,
    PHILOX_W0,
    PHILOX_W1,
    round_keys,
)

__all__ = ["fill_bf16_", "fill_runs", "words"]

_U32 = np.uint64(MASK32)
_SHIFT32 = np.uint64(32)
_F = np.float32
_NB_LOG = tuple(_F(c) for c in (*LOG_COEFFS, 0.0))
_NB_SIN = tuple(_F(c) for c in (*SIN_COEFFS, 1.0))
_NB_COS = tuple(_F(c) for c in (*COS_COEFFS, 1.0))
_NB_CENTRAL = tuple(_F(c) for c in ERFINV_CENTRAL)
_NB_TAIL = tuple(_F(c) for c in ERFINV_TAIL)
_NB_DEEP = tuple(_F(c) for c in ERFINV_DEEP)
_NB_ONE, _NB_TWO, _NB_ZERO = _F(1.0), _F(2.0), _F(0.0)
PARALLEL_MIN = 1 << 22  # elements; smaller outputs run on one thread
CHUNK = 512  # Philox blocks per chunk: 2048 values, L1-resident scratch

# Scalar helpers are compiled once and called (or inlined at numba IR level, so LLVM sees
# whole loops with their local arrays and no aliasing doubts) by the parallel kernels.
_helper = numba.njit(cache=True, error_model="numpy")
_inlined = numba.njit(cache=True, error_model="numpy", inline="always")
_kernel = numba.njit(parallel=True, cache=True, error_model="numpy")


@_helper
def _philox(c0, c1, c2, c3, k0, k1):
    for _ in range(PHILOX_ROUNDS):
        p0 = np.uint64(PHILOX_M0) * c0
        p1 = np.uint64(PHILOX_M1) * c2
        c0, c1, c2, c3 = (
            (p1 >> _SHIFT32) ^ c1 ^ k0,
            p1 & _U32,
            (p0 >> _SHIFT32) ^ c3 ^ k1,
            p0 & _U32,
        )
        k0 = (k0 + np.uint64(PHILOX_W0)) & _U32
        k1 = (k1 + np.uint64(PHILOX_W1)) & _U32
    return c0, c1, c2, c3


@_helper
def _horner(x, coeffs):
    acc = coeffs[0]
    for c in coeffs[1:]:
        acc = acc * x + c
    return acc


@_helper
def _log(x):
    # frexp by bit manipulation (exact for normal x; a libm frexp call blocks vectorizing).
    bits = np.float32(x).view(np.int32)
    expo = ((bits >> 23) & 0xFF) - 126
    mant = np.int32((bits & 0x7FFFFF) | 0x3F000000).view(np.float32)
    if mant < _F(SQRT_HALF):
        mant = mant * _NB_TWO
        expo -= 1
    e = _F(expo)
    f = mant - _NB_ONE
    s = f / (f + _NB_TWO)
    r = _horner(s * s, _NB_LOG)
    h = s + s
    return e * _F(LN2_HI) + (e * _F(LN2_LO) + (h + h * r))


@_helper
def _sincos(turns):
    scaled = turns * _F(8.0)
    octant = np.floor(scaled)
    frac = scaled - octant
    oct_i = int(octant)
    odd = oct_i & 1
    angle = ((_NB_ONE - frac) if odd else frac) * _F(QUARTER_PI)
    a2 = angle * angle
    sin_a = _horner(a2, _NB_SIN) * angle
    cos_a = _horner(a2, _NB_COS)
    signed_sin = -sin_a if odd else sin_a
    quadrant = ((oct_i + 1) >> 1) & 3
    cos_t, sin_t = (-signed_sin, cos_a) if quadrant & 1 else (cos_a, signed_sin)
    return (-cos_t, -sin_t) if quadrant >= 2 else (cos_t, sin_t)


@_helper
def _ndtri(p):
    # Branch-free (all three polynomials, then selects) so the loop vectorizes.
    w = -_log((p * (_NB_ONE - p)) * _F(4.0))
    root_w = np.sqrt(w)
    central = _horner(w - _F(2.5), _NB_CENTRAL)
    tail = _horner(root_w - _F(3.0), _NB_TAIL)
    deep = _horner(root_w - _F(6.0), _NB_DEEP)
    poly = central if w < _F(5.0) else (tail if w < _F(DEEP_TAIL_W) else deep)
    return (poly * (p * _NB_TWO - _NB_ONE)) * _F(SQRT2)


@_helper
def _u24(word):
    return _F(word >> np.uint64(8)) * _F(TWO_POW_M24)


@_helper
def _trunc(u, params):
    p = max(u * params[3] + params[2], _F(MIN_CDF))
    z = _ndtri(p)
    z = -z if params[7] != _NB_ZERO else z
    return min(max(z * params[1] + params[0], params[4]), params[5])


@_helper
def _trunc_central(u, p0, p1, p2, p3, lo, hi, mirrored):
    """:func:`_trunc` for draws whose every p has w < 5 (see ``ndtri_pieces``): the same
    operations as the central piece of :func:`_ndtri`, without the two unreachable ones."""
    p = max(u * p3 + p2, _F(MIN_CDF))
    w = -_log((p * (_NB_ONE - p)) * _F(4.0))
    poly = _horner(w - _F(2.5), _NB_CENTRAL)
    z = (poly * (p * _NB_TWO - _NB_ONE)) * _F(SQRT2)
    z = -z if mirrored != _NB_ZERO else z
    return min(max(z * p1 + p0, lo), hi)


@_helper
def _block(w0, w1, w2, w3, kind, params):
    u0, u1, u2, u3 = _u24(w0), _u24(w1), _u24(w2), _u24(w3)
    if kind == KIND_UNIFORM:
        a, b = params[1], params[0]
        return u0 * a + b, u1 * a + b, u2 * a + b, u3 * a + b
    if kind == KIND_NORMAL:
        r0 = np.sqrt(_log(_NB_ONE - u0) * _F(-2.0))
        r1 = np.sqrt(_log(_NB_ONE - u2) * _F(-2.0))
        c0, s0 = _sincos(u1)
        c1, s1 = _sincos(u3)
        m, sd = params[0], params[1]
        return (r0 * c0) * sd + m, (r0 * s0) * sd + m, (r1 * c1) * sd + m, (r1 * s1) * sd + m
    return _trunc(u0, params), _trunc(u1, params), _trunc(u2, params), _trunc(u3, params)


@_helper
def _store(out, row, col, value):
    if 0 <= col < out.shape[1]:
        out[row, col] = value


@_inlined
def _philox_chunk(w0, w1, w2, w3, first_block, count, stream, ks0, ks1):
    """Philox of ``count`` consecutive blocks into four uint32 arrays (precomputed key schedule).

    Straight-line code with uint32 storage (so the products are 32x32->64): LLVM vectorizes it.
    """
    for i in range(count):
        block = first_block + np.uint64(i)
        c0, c1, c2, c3 = block & _U32, block >> _SHIFT32, stream, np.uint64(0)
        for r in range(PHILOX_ROUNDS):
            p0 = np.uint64(PHILOX_M0) * c0
            p1 = np.uint64(PHILOX_M1) * c2
            c0, c1, c2, c3 = (
                (p1 >> _SHIFT32) ^ c1 ^ ks0[r],
                p1 & _U32,
                (p0 >> _SHIFT32) ^ c3 ^ ks1[r],
                p0 & _U32,
            )
        w0[i], w1[i], w2[i], w3[i] = np.uint32(c0), np.uint32(c1), np.uint32(c2), np.uint32(c3)


@_inlined
def _chunk_values(w0, w1, w2, w3, count, vals, kind, p0, p1, p2, p3, lo, hi, mirrored,
                  central):  # fmt: skip
    """fp32 values of ``count`` blocks in element order; scalar parameters (no aliasing) and
    simple loops, so LLVM vectorizes them. ``central``: every Φ⁻¹ argument is in the central
    piece (the usual ±2σ truncation), so the tail polynomials are skipped."""
    if kind == KIND_UNIFORM:
        for i in range(count):
            vals[4 * i] = _u24(np.uint64(w0[i])) * p1 + p0
            vals[4 * i + 1] = _u24(np.uint64(w1[i])) * p1 + p0
            vals[4 * i + 2] = _u24(np.uint64(w2[i])) * p1 + p0
            vals[4 * i + 3] = _u24(np.uint64(w3[i])) * p1 + p0
    elif kind == KIND_NORMAL:
        for i in range(count):
            vals[4 * i] = np.sqrt(_log(_NB_ONE - _u24(np.uint64(w0[i]))) * _F(-2.0))
            vals[4 * i + 2] = np.sqrt(_log(_NB_ONE - _u24(np.uint64(w2[i]))) * _F(-2.0))
        for i in range(count):
            cos0, sin0 = _sincos(_u24(np.uint64(w1[i])))
            cos1, sin1 = _sincos(_u24(np.uint64(w3[i])))
            r0, r1 = vals[4 * i], vals[4 * i + 2]
            vals[4 * i] = (r0 * cos0) * p1 + p0
            vals[4 * i + 1] = (r0 * sin0) * p1 + p0
            vals[4 * i + 2] = (r1 * cos1) * p1 + p0
            vals[4 * i + 3] = (r1 * sin1) * p1 + p0
    elif central:
        for i in range(count):
            vals[4 * i] = _trunc_central(_u24(np.uint64(w0[i])), p0, p1, p2, p3, lo, hi,
                                         mirrored)  # fmt: skip
            vals[4 * i + 1] = _trunc_central(_u24(np.uint64(w1[i])), p0, p1, p2, p3, lo, hi,
                                             mirrored)  # fmt: skip
            vals[4 * i + 2] = _trunc_central(_u24(np.uint64(w2[i])), p0, p1, p2, p3, lo, hi,
                                             mirrored)  # fmt: skip
            vals[4 * i + 3] = _trunc_central(_u24(np.uint64(w3[i])), p0, p1, p2, p3, lo, hi,
                                             mirrored)  # fmt: skip
    else:
        params = (p0, p1, p2, p3, lo, hi, _NB_ZERO, mirrored)
        for i in range(count):
            vals[4 * i] = _trunc(_u24(np.uint64(w0[i])), params)
            vals[4 * i + 1] = _trunc(_u24(np.uint64(w1[i])), params)
            vals[4 * i + 2] = _trunc(_u24(np.uint64(w2[i])), params)
            vals[4 * i + 3] = _trunc(_u24(np.uint64(w3[i])), params)


@_kernel
def _fill_boxes(out, starts, k0, k1, stream, kind, params):
    """General layout: row r of ``out`` holds flat indices starts[r] + [0, length)."""
    length = out.shape[1]
    per_row = (3 + length + 3) // 4
    for t in numba.prange(out.shape[0] * per_row):
        row = t // per_row
        lane = starts[row] & 3
        col = (t % per_row) * 4 - lane
        if col >= length:
            continue
        block = np.uint64((starts[row] >> 2) + t % per_row)
        w = _philox(block & _U32, block >> _SHIFT32, stream, np.uint64(0), k0, k1)
        v = _block(w[0], w[1], w[2], w[3], kind, params)
        _store(out, row, col, v[0])
        _store(out, row, col + 1, v[1])
        _store(out, row, col + 2, v[2])
        _store(out, row, col + 3, v[3])


@_inlined
def _chunk_into(dest, c, n_blocks, first_block, stream, ks0, ks1, kind, params):
    """fp32 values of chunk ``c`` of a flat run (Philox blocks c·CHUNK onwards, at most
    CHUNK) into ``dest`` (4 values per block): the Philox pass, then the transform pass."""
    b0 = c * CHUNK
    count = min(CHUNK, n_blocks - b0)
    w0 = np.empty(count, np.uint32)
    w1 = np.empty(count, np.uint32)
    w2 = np.empty(count, np.uint32)
    w3 = np.empty(count, np.uint32)
    _philox_chunk(w0, w1, w2, w3, np.uint64(first_block + b0), count, stream, ks0, ks1)
    _chunk_values(w0, w1, w2, w3, count, dest, kind, params[0], params[1], params[2], params[3],
                  params[4], params[5], params[7], params[6] == _NB_ONE)  # fmt: skip


@_kernel
def _fill_flat(out, first_block, stream, ks0, ks1, kind, params):
    """Fast path for one aligned run: chunk by chunk straight into ``out`` (a scratch
    buffer only for the ragged last chunk)."""
    n = out.shape[0]
    n_blocks = (n + 3) // 4
    for c in numba.prange((n_blocks + CHUNK - 1) // CHUNK):
        start, stop = 4 * c * CHUNK, 4 * min((c + 1) * CHUNK, n_blocks)
        if stop <= n:
            _chunk_into(out[start:stop], c, n_blocks, first_block, stream, ks0, ks1, kind, params)
        else:
            vals = np.empty(stop - start, np.float32)
            _chunk_into(vals, c, n_blocks, first_block, stream, ks0, ks1, kind, params)
            out[start:] = vals[: n - start]


@_kernel
def _fill_flat_bf16(out, first_block, stream, ks0, ks1, kind, params):
    """:func:`_fill_flat` writing bf16 bits (uint16), rounded to nearest even from fp32.

    Same result as ``fp32_values.to(torch.bfloat16)`` (values are finite), one pass.
    """
    n = out.shape[0]
    n_blocks = (n + 3) // 4
    for c in numba.prange((n_blocks + CHUNK - 1) // CHUNK):
        start, stop = 4 * c * CHUNK, 4 * min((c + 1) * CHUNK, n_blocks)
        vals = np.empty(stop - start, np.float32)
        _chunk_into(vals, c, n_blocks, first_block, stream, ks0, ks1, kind, params)
        bits = vals.view(np.uint32)
        for i in range(min(stop, n) - start):
            b = bits[i]
            out[start + i] = np.uint16(
                (b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
            )


@_kernel
def _words(out, start, k0, k1, stream):
    first = start >> 2
    lane = start & 3
    for t in numba.prange((out.shape[0] + lane + 3) // 4):
        block = np.uint64(first + t)
        w = _philox(block & _U32, block >> _SHIFT32, stream, np.uint64(0), k0, k1)
        for j in range(4):
            idx = t * 4 + j - lane
            if 0 <= idx < out.shape[0]:
                out[idx] = w[j]


def _call(kernel: Any, numel: int, *args: object) -> None:
    """Run a parallel kernel, on one thread below PARALLEL_MIN elements.

    Waking the pool costs more than it saves on small tensors, and on a busy machine one
    descheduled worker stalls every parallel call (measured here: a 20 M-parameter model
    initialized 3.4x faster with one thread for its 512x512 matrices on 2 loaded cores).
    """
    if numel >= PARALLEL_MIN:
        kernel(*args)
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        kernel(*args)
    finally:
        numba.set_num_threads(before)


def _schedule(key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ks0, ks1 = round_keys(key)
    return np.array(ks0, dtype=np.uint64), np.array(ks1, dtype=np.uint64)


def _params(draw: Draw) -> np.ndarray:
    # Slot 6: how many Φ⁻¹ pieces the draw reaches (1: central only); slot 7: mirrored.
    values = (draw.p0, draw.p1, draw.p2, draw.p3, draw.clamp_low, draw.clamp_high,
              ndtri_pieces(draw), draw.mirrored)  # fmt: skip
    return np.array(values, dtype=np.float32)


def fill_runs(
    out: torch.Tensor, key: tuple[int, int], stream: int, draw: Draw, starts: torch.Tensor
) -> torch.Tensor:
    """Write the values of ``starts[r] + j`` into ``out[r, j]`` (a contiguous CPU fp32 tensor)."""
    if out.device.type != "cpu":
        raise ValueError(f"the numba backend runs on CPU tensors only, got device {out.device}")
    u64 = np.uint64
    params = _params(draw)
    if len(starts) == 1 and int(starts[0]) % 4 == 0:
        ks0, ks1 = _schedule(key)
        _call(_fill_flat, out.numel(), out.view(-1).numpy(), int(starts[0]) // 4,
              u64(stream & MASK32), ks0, ks1, draw.kind, params)  # fmt: skip
        return out
    _call(_fill_boxes, out.numel(), out.numpy(), starts.cpu().numpy(), u64(key[0]), u64(key[1]),
          u64(stream & MASK32), draw.kind, params)  # fmt: skip
    return out


def fill_bf16_(
    out: torch.Tensor, key: tuple[int, int], stream: int, draw: Draw, start: int
) -> None:
    """Write keyed values of flat indices [start, start + numel) into a contiguous CPU bf16
    tensor in one pass (no fp32 temporary); ``start`` must be a multiple of 4."""
    if start % 4 or out.dtype != torch.bfloat16 or not out.is_contiguous():
        raise ValueError("fill_bf16_ needs a contiguous bf16 tensor and a start divisible by 4")
    ks0, ks1 = _schedule(key)
    bits = out.view(-1).view(torch.int16).numpy().view(np.uint16)
    _call(_fill_flat_bf16, out.numel(), bits, start // 4, np.uint64(stream & MASK32), ks0, ks1,
          draw.kind, _params(draw))  # fmt: skip


def words(key: tuple[int, int], stream: int, start: int, count: int) -> torch.Tensor:
    """uint32 words (in int64) of flat indices [start, start + count), on CPU."""
    out = np.empty(count, dtype=np.uint64)
    u64 = np.uint64
    _call(_words, count, out, start, u64(key[0]), u64(key[1]), u64(stream & MASK32))
    return torch.from_numpy(out.astype(np.int64))
