"""Fused Triton kernels for keyed initialization (optional: needs ``triton``).

One kernel per scheme (uniform, normal, truncated normal — one source specialized on
``KIND``), each writing every element exactly once in the target dtype, with one Philox call
per four elements. The arithmetic is the torch reference's, op for op: uint32 Philox words,
exact frexp by bit manipulation, separate multiply and add (compiled with
``enable_fp_fusion=False``), ``div_rn`` and ``sqrt_rn``. So values equal the CPU reference
bit for bit. A grouped launch initializes many tensors of one dtype and scheme in one go.

Import never fails: :func:`available` says whether the kernels can run (a CUDA device, or
Triton's CPU interpreter with ``TRITON_INTERPRET=1`` set before triton is imported).
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
from collections.abc import Sequence
from typing import Any

import torch

from initlab.rng import _fp32
from initlab.rng._draws import Draw, ndtri_pieces
from initlab.rng._philox import MASK32, PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1
from initlab.rng._shards import box_runs

__all__ = [
    "available",
    "fill_box_",
    "fill_grouped_",
    "fill_runs_",
    "group_signature",
    "interpreted",
    "keyed_words",
    "launch_group",
]

BLOCK = 512  # Philox blocks per program: 2048 output elements (16 per thread at 4 warps)


def _import_triton() -> Any:
    if importlib.util.find_spec("triton") is None:
        return None
    import triton

    return triton


_triton = _import_triton()


def interpreted() -> bool:
    """Whether Triton runs in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def available() -> bool:
    """Whether the kernels can run here: triton installed, and CUDA or the interpreter."""
    return _triton is not None and (interpreted() or torch.cuda.is_available())


def _coefficient_table(device: torch.device) -> tuple[torch.Tensor, dict[str, int]]:
    """All polynomial coefficients in one fp32 tensor, with each polynomial's offset."""
    polys = {
        "log": (*_fp32.LOG_COEFFS, 0.0),
        "sin": (*_fp32.SIN_COEFFS, 1.0),
        "cos": (*_fp32.COS_COEFFS, 1.0),
        "central": _fp32.ERFINV_CENTRAL,
        "tail": _fp32.ERFINV_TAIL,
        "deep": _fp32.ERFINV_DEEP,
    }
    offsets: dict[str, int] = {}
    flat: list[float] = []
    for name, coeffs in polys.items():
        offsets[name] = len(flat)
        flat.extend(coeffs)
    return torch.tensor(flat, dtype=torch.float32, device=device), offsets


_, _OFFSETS = _coefficient_table(torch.device("cpu"))

if _triton is not None:
    import triton.language as tl

    _M0: tl.constexpr = tl.constexpr(PHILOX_M0)
    _M1: tl.constexpr = tl.constexpr(PHILOX_M1)
    _W0: tl.constexpr = tl.constexpr(PHILOX_W0)
    _W1: tl.constexpr = tl.constexpr(PHILOX_W1)
    _LOG: tl.constexpr = tl.constexpr(_OFFSETS["log"])
    _SIN: tl.constexpr = tl.constexpr(_OFFSETS["sin"])
    _COS: tl.constexpr = tl.constexpr(_OFFSETS["cos"])
    _CENTRAL: tl.constexpr = tl.constexpr(_OFFSETS["central"])
    _TAIL: tl.constexpr = tl.constexpr(_OFFSETS["tail"])
    _DEEP: tl.constexpr = tl.constexpr(_OFFSETS["deep"])
    _LN2_HI: tl.constexpr = tl.constexpr(_fp32.LN2_HI)
    _LN2_LO: tl.constexpr = tl.constexpr(_fp32.LN2_LO)
    _SQRT_HALF: tl.constexpr = tl.constexpr(_fp32.SQRT_HALF)
    _QUARTER_PI: tl.constexpr = tl.constexpr(_fp32.QUARTER_PI)
    _SQRT2: tl.constexpr = tl.constexpr(_fp32.SQRT2)
    _MIN_CDF: tl.constexpr = tl.constexpr(_fp32.MIN_CDF)
    _DEEP_W: tl.constexpr = tl.constexpr(_fp32.DEEP_TAIL_W)
    _INT_COLS: tl.constexpr = tl.constexpr(5)  # the grouped launch's per-tensor int64 row
    _SEARCH_STEPS: tl.constexpr = tl.constexpr(32)  # binary search over up to 2^32 tensors
    _U24: tl.constexpr = tl.constexpr(_fp32.TWO_POW_M24)
    # Round-to-nearest-even when narrowing, as torch's .to() does (the dtype rule).
    ROUNDING: tl.constexpr = tl.constexpr("rtne")

    @_triton.jit
    def _philox(c0, c1, c2, c3, k0, k1):
        m0 = tl.full(c0.shape, _M0, tl.uint32)
        m1 = tl.full(c0.shape, _M1, tl.uint32)
        for _ in tl.static_range(10):
            hi0 = tl.umulhi(m0, c0)
            lo0 = m0 * c0
            hi1 = tl.umulhi(m1, c2)
            lo1 = m1 * c2
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
            k0 = k0 + _W0
            k1 = k1 + _W1
        return c0, c1, c2, c3

    @_triton.jit
    def _horner(x, coeffs, OFFSET: tl.constexpr, N: tl.constexpr):
        acc = tl.zeros_like(x) + tl.load(coeffs + OFFSET)
        for i in tl.static_range(1, N):
            acc = acc * x + tl.load(coeffs + OFFSET + i)
        return acc

    @_triton.jit
    def _log(x, coeffs):
        bits = x.to(tl.int32, bitcast=True)
        expo = ((bits >> 23) & 0xFF) - 126
        mant = ((bits & 0x7FFFFF) | 0x3F000000).to(tl.float32, bitcast=True)  # [0.5, 1)
        small = mant < _SQRT_HALF
        mant = tl.where(small, mant * 2.0, mant)
        e = tl.where(small, expo - 1, expo).to(tl.float32)
        f = mant - 1.0
        s = tl.math.div_rn(f, f + 2.0)
        r = _horner(s * s, coeffs, _LOG, 6)
        h = s + s
        return e * _LN2_HI + (e * _LN2_LO + (h + h * r))

    @_triton.jit
    def _sincos(turns, coeffs):
        scaled = turns * 8.0
        octant = tl.floor(scaled)
        frac = scaled - octant
        oct_i = octant.to(tl.int32)
        odd = (oct_i & 1) == 1
        angle = tl.where(odd, 1.0 - frac, frac) * _QUARTER_PI
        a2 = angle * angle
        sin_a = _horner(a2, coeffs, _SIN, 5) * angle
        cos_a = _horner(a2, coeffs, _COS, 6)
        signed_sin = tl.where(odd, -sin_a, sin_a)
        quadrant = ((oct_i + 1) >> 1) & 3
        swap = (quadrant & 1) == 1
        cos_t = tl.where(swap, -signed_sin, cos_a)
        sin_t = tl.where(swap, cos_a, signed_sin)
        flip = quadrant >= 2
        return tl.where(flip, -cos_t, cos_t), tl.where(flip, -sin_t, sin_t)

    @_triton.jit
    def _ndtri(p, coeffs, PIECES: tl.constexpr):
        """Giles' erfinv in up to three pieces (central w < 5, tail w < 16, deep). Each element
        runs one Horner loop over the coefficients of its own piece, selected rather than
        blended: the same operations as the reference's separate polynomials, so the same
        bits. PIECES (from the host, see :func:`ndtri_pieces`) drops the pieces no element of
        this draw can reach: the usual ±2σ truncation needs only the central one."""
        w = -_log((p * (1.0 - p)) * 4.0, coeffs)
        if PIECES == 1:
            acc = _horner(w - 2.5, coeffs, _CENTRAL, 9)
        else:
            root_w = tl.sqrt_rn(w)
            central = w < 5.0
            if PIECES == 2:
                x = tl.where(central, w - 2.5, root_w - 3.0)
                acc = tl.where(central, tl.load(coeffs + _CENTRAL), tl.load(coeffs + _TAIL))
                for i in tl.static_range(1, 9):
                    c = tl.where(central, tl.load(coeffs + _CENTRAL + i),
                                 tl.load(coeffs + _TAIL + i))  # fmt: skip
                    acc = acc * x + c
            else:
                tail = w < _DEEP_W
                x = tl.where(central, w - 2.5, tl.where(tail, root_w - 3.0, root_w - 6.0))
                acc = tl.where(central, tl.load(coeffs + _CENTRAL),
                               tl.where(tail, tl.load(coeffs + _TAIL),
                                        tl.load(coeffs + _DEEP)))  # fmt: skip
                for i in tl.static_range(1, 9):
                    c = tl.where(central, tl.load(coeffs + _CENTRAL + i),
                                 tl.where(tail, tl.load(coeffs + _TAIL + i),
                                          tl.load(coeffs + _DEEP + i)))  # fmt: skip
                    acc = acc * x + c
        return (acc * (p * 2.0 - 1.0)) * _SQRT2

    @_triton.jit
    def _narrow(vals, out_dtype: tl.constexpr):
        """fp32 -> OUT_DTYPE with round-to-nearest-even (torch's .to()); bf16 by hand, since
        Triton's interpreter truncates when narrowing."""
        if out_dtype == tl.bfloat16:
            bits = vals.to(tl.uint32, bitcast=True)
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
            return bits.to(tl.uint16).to(tl.bfloat16, bitcast=True)
        else:
            return vals.to(out_dtype, fp_downcast_rounding=ROUNDING)

    @_triton.jit
    def _u24(word):
        return (word >> 8).to(tl.float32) * _U24

    @_triton.jit
    def _trunc(
        u,
        coeffs,
        mean,
        std,
        cdf_low,
        cdf_width,
        lo,
        hi,
        MIRRORED: tl.constexpr,
        PIECES: tl.constexpr,
    ):
        p = tl.maximum(u * cdf_width + cdf_low, _MIN_CDF)
        z = _ndtri(p, coeffs, PIECES)
        if MIRRORED:
            z = -z
        return tl.minimum(tl.maximum(z * std + mean, lo), hi)

    @_triton.jit
    def _values(w0, w1, w2, w3, coeffs, p0, p1, p2, p3, lo, hi, KIND: tl.constexpr,
                MIRRORED: tl.constexpr, PIECES: tl.constexpr):  # fmt: skip
        u0, u1, u2, u3 = _u24(w0), _u24(w1), _u24(w2), _u24(w3)
        if KIND == 0:
            v0, v1, v2, v3 = u0 * p1 + p0, u1 * p1 + p0, u2 * p1 + p0, u3 * p1 + p0
        elif KIND == 1:
            r0 = tl.sqrt_rn(_log(1.0 - u0, coeffs) * -2.0)
            r1 = tl.sqrt_rn(_log(1.0 - u2, coeffs) * -2.0)
            c0, s0 = _sincos(u1, coeffs)
            c1, s1 = _sincos(u3, coeffs)
            v0, v1 = (r0 * c0) * p1 + p0, (r0 * s0) * p1 + p0
            v2, v3 = (r1 * c1) * p1 + p0, (r1 * s1) * p1 + p0
        else:
            v0 = _trunc(u0, coeffs, p0, p1, p2, p3, lo, hi, MIRRORED, PIECES)
            v1 = _trunc(u1, coeffs, p0, p1, p2, p3, lo, hi, MIRRORED, PIECES)
            v2 = _trunc(u2, coeffs, p0, p1, p2, p3, lo, hi, MIRRORED, PIECES)
            v3 = _trunc(u3, coeffs, p0, p1, p2, p3, lo, hi, MIRRORED, PIECES)
        return v0, v1, v2, v3

    @_triton.jit
    def _counters(first_block, BLOCK_SIZE: tl.constexpr):
        """Philox counters (lo, hi) of blocks first_block + [0, BLOCK_SIZE): 64-bit math once
        per program on the scalar, then 32-bit adds with a carry per lane."""
        base_lo = (first_block & 0xFFFFFFFF).to(tl.uint32)
        base_hi = (first_block >> 32).to(tl.uint32)
        lanes = tl.arange(0, BLOCK_SIZE).to(tl.uint32)
        c0 = base_lo + lanes
        return c0, base_hi + (c0 < lanes).to(tl.uint32)

    @_triton.jit
    def _block_values(first_block, k0, k1, stream, coeffs, p0, p1, p2, p3, lo, hi,
                      KIND: tl.constexpr, MIRRORED: tl.constexpr, PIECES: tl.constexpr,
                      BLOCK_SIZE: tl.constexpr):  # fmt: skip
        """fp32 values of BLOCK_SIZE consecutive Philox blocks, in element order (4 per block).

        Keys and stream stay scalars: the round-key additions happen once per program."""
        c0, c1 = _counters(first_block, BLOCK_SIZE)
        zero = tl.zeros_like(c0)
        w0, w1, w2, w3 = _philox(c0, c1, zero + stream, zero, k0, k1)
        v0, v1, v2, v3 = _values(
            w0, w1, w2, w3, coeffs, p0, p1, p2, p3, lo, hi, KIND, MIRRORED, PIECES
        )
        # Interleave to element order so the four lanes go out as one contiguous store.
        return tl.interleave(tl.interleave(v0, v2), tl.interleave(v1, v3))

    @_triton.jit
    def _fill_runs(out_ptr, starts_ptr, length, chunks_per_row, k0, k1, stream, coeffs,
                   p0, p1, p2, p3, lo, hi, KIND: tl.constexpr, MIRRORED: tl.constexpr,
                   PIECES: tl.constexpr, BLOCK_SIZE: tl.constexpr):  # fmt: skip
        """Values of flat indices starts[r] + [0, length) into out[r, :] (row-major).

        One program = BLOCK_SIZE Philox blocks of one row; all 64-bit index math is on
        per-program scalars, the per-element offsets are 32-bit."""
        pid = tl.program_id(0).to(tl.int64)
        row = pid // chunks_per_row
        chunk = pid % chunks_per_row
        start = tl.load(starts_ptr + row)
        lane = start & 3
        vals = _block_values((start >> 2) + chunk * BLOCK_SIZE, k0.to(tl.uint32),
                             k1.to(tl.uint32), stream.to(tl.uint32), coeffs, p0, p1, p2, p3,
                             lo, hi, KIND, MIRRORED, PIECES, BLOCK_SIZE)  # fmt: skip
        col0 = chunk * (4 * BLOCK_SIZE) - lane  # column of this program's first value
        first = tl.maximum(-col0, 0).to(tl.int32)
        stop = tl.minimum(length - col0, 4 * BLOCK_SIZE).to(tl.int32)
        offs = tl.arange(0, 4 * BLOCK_SIZE)
        dest = out_ptr + (row * length + col0) + offs
        tl.store(
            dest, _narrow(vals, out_ptr.dtype.element_ty), mask=(offs >= first) & (offs < stop)
        )

    @_triton.jit
    def _fill_group(prog_starts, n_tensors, ints, floats, coeffs, OUT_DTYPE: tl.constexpr,
                    KIND: tl.constexpr, MIRRORED: tl.constexpr, PIECES: tl.constexpr,
                    BLOCK_SIZE: tl.constexpr):  # fmt: skip
        """One program = BLOCK_SIZE Philox blocks of one tensor of the group (whole tensors).

        ``prog_starts`` (n_tensors + 1): each tensor's first program, then the total; a
        program finds its tensor by binary search (a fixed 32 scalar steps: no per-program
        table on the host). ``ints`` holds one row per tensor: (pointer, numel, key 0,
        key 1, stream)."""
        pid = tl.program_id(0).to(tl.int64)
        lo = pid * 0  # invariant: prog_starts[lo] <= pid < prog_starts[hi]
        hi = lo + n_tensors
        for _ in tl.static_range(_SEARCH_STEPS):
            mid = (lo + hi) // 2
            below = tl.load(prog_starts + mid) <= pid
            lo = tl.where(below, mid, lo)
            hi = tl.where(below, hi, mid)
        which = lo
        local_pid = pid - tl.load(prog_starts + which)
        out_ptr = tl.load(ints + _INT_COLS * which).to(tl.pointer_type(OUT_DTYPE))
        numel = tl.load(ints + _INT_COLS * which + 1)
        k0 = tl.load(ints + _INT_COLS * which + 2).to(tl.uint32)
        k1 = tl.load(ints + _INT_COLS * which + 3).to(tl.uint32)
        stream = tl.load(ints + _INT_COLS * which + 4).to(tl.uint32)
        p0 = tl.load(floats + 6 * which)
        p1 = tl.load(floats + 6 * which + 1)
        p2 = tl.load(floats + 6 * which + 2)
        p3 = tl.load(floats + 6 * which + 3)
        lo = tl.load(floats + 6 * which + 4)
        hi = tl.load(floats + 6 * which + 5)
        first_block = local_pid * BLOCK_SIZE
        vals = _block_values(first_block, k0, k1, stream, coeffs, p0, p1, p2, p3,
                             lo, hi, KIND, MIRRORED, PIECES, BLOCK_SIZE)  # fmt: skip
        offs = tl.arange(0, 4 * BLOCK_SIZE)
        stop = tl.minimum(numel - 4 * first_block, 4 * BLOCK_SIZE).to(tl.int32)
        tl.store(out_ptr + 4 * first_block + offs, _narrow(vals, OUT_DTYPE), mask=offs < stop)

    @_triton.jit
    def _words_kernel(out_ptr, start, count, k0, k1, stream, BLOCK_SIZE: tl.constexpr):
        """Raw Philox words of flat indices [start, start + count) into an int64 tensor."""
        idx = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE) + start
        block = idx >> 2
        lane = idx & 3
        zero = tl.zeros_like(block).to(tl.uint32)
        w0, w1, w2, w3 = _philox((block & 0xFFFFFFFF).to(tl.uint32), (block >> 32).to(tl.uint32),
                                 zero + stream.to(tl.uint32), zero, zero + k0.to(tl.uint32),
                                 zero + k1.to(tl.uint32))  # fmt: skip
        word = tl.where(lane == 0, w0, tl.where(lane == 1, w1, tl.where(lane == 2, w2, w3)))
        tl.store(out_ptr + idx - start, word.to(tl.int64), mask=idx - start < count)

    _TL_DTYPES = {
        torch.float32: tl.float32,
        torch.float16: tl.float16,
        torch.bfloat16: tl.bfloat16,
        torch.float64: tl.float64,
    }


_COEFFS: dict[torch.device, torch.Tensor] = {}


def _coefficients(device: torch.device) -> torch.Tensor:
    if device not in _COEFFS:
        _COEFFS[device] = _coefficient_table(device)[0]
    return _COEFFS[device]


def _launch(out2d: torch.Tensor, starts: torch.Tensor, key: tuple[int, int], stream: int,
            draw: Draw) -> None:  # fmt: skip
    rows, length = out2d.shape
    chunks_per_row = math.ceil((3 + length + 3) // 4 / BLOCK)  # a row spans <= this many
    grid = (rows * chunks_per_row,)
    options: dict[str, Any] = {} if interpreted() else {"enable_fp_fusion": False}
    _fill_runs[grid](
        out2d, starts, length, chunks_per_row, key[0], key[1], stream & MASK32,
        _coefficients(out2d.device), draw.p0, draw.p1, draw.p2, draw.p3, draw.clamp_low,
        draw.clamp_high, KIND=draw.kind, MIRRORED=draw.mirrored, PIECES=ndtri_pieces(draw),
        BLOCK_SIZE=BLOCK, **options,
    )  # fmt: skip


def fill_box_(
    local: torch.Tensor,
    global_shape: tuple[int, ...],
    offset: tuple[int, ...],
    key: tuple[int, int],
    stream: int,
    draw: Draw,
) -> torch.Tensor:
    """Fill ``local`` (this rank's box of a global tensor) with keyed values, fused."""
    if not available():
        raise RuntimeError(
            "the Triton kernels need triton and a CUDA device (or TRITON_INTERPRET=1)"
        )
    starts, length = box_runs(global_shape, offset, tuple(local.shape), local.device)
    target = (
        local
        if local.is_contiguous()
        else torch.empty_like(local, memory_format=torch.contiguous_format)
    )
    _launch(target.view(len(starts), length), starts, key, stream, draw)
    if target is not local:
        local.copy_(target)
    return local


def fill_runs_(
    out2d: torch.Tensor, starts: torch.Tensor, key: tuple[int, int], stream: int, draw: Draw
) -> torch.Tensor:
    """Write the values of flat indices ``starts[r] + j`` into ``out2d[r, j]`` (contiguous)."""
    _launch(out2d, starts, key, stream, draw)
    return out2d


def keyed_words(
    key: tuple[int, int], stream: int, start: int, count: int, device: torch.device | str
) -> torch.Tensor:
    """The Triton twin of :func:`initlab.rng.keyed_words` (uint32 words in int64)."""
    out = torch.empty(count, dtype=torch.int64, device=device)
    grid = (math.ceil(count / (4 * BLOCK)),)
    _words_kernel[grid](out, start, count, key[0], key[1], stream & MASK32, BLOCK_SIZE=4 * BLOCK)
    return out


def fill_grouped_(
    tensors: Sequence[torch.Tensor],
    keys: Sequence[tuple[int, int]],
    draws: Sequence[Draw],
    stream: int | Sequence[int] = 0,
) -> None:
    """Initialize many whole contiguous tensors: one launch per (dtype, scheme) group.

    ``stream``: one sub-stream for all tensors, or one per tensor. The host builds one row
    per tensor (its first program, pointer, numel, key, stream, constants) and each program
    finds its tensor by binary search, so a model's hundreds of parameters cost one launch
    and a table of their size, not of the programs'. Groups launch in the order of
    :func:`group_signature`'s first appearance.
    """
    streams = [stream] * len(tensors) if isinstance(stream, int) else list(stream)
    if len(streams) != len(tensors):
        raise ValueError(f"got {len(streams)} streams for {len(tensors)} tensors")
    groups: dict[tuple[torch.dtype, int, bool, int], list[int]] = {}
    for i, (tensor, draw) in enumerate(zip(tensors, draws, strict=True)):
        if not tensor.is_contiguous():
            raise ValueError(f"fill_grouped_ needs contiguous tensors; tensor {i} is not")
        if tensor.numel():
            groups.setdefault(group_signature(tensor.dtype, draw), []).append(i)
    for signature, members in groups.items():
        launch_group(
            [tensors[i] for i in members], [keys[i] for i in members],
            [draws[i] for i in members], [streams[i] for i in members], signature,
        )  # fmt: skip


def group_signature(dtype: torch.dtype, draw: Draw) -> tuple[torch.dtype, int, bool, int]:
    """What one grouped launch shares: the output dtype and the kernel's specialization."""
    return (dtype, draw.kind, draw.mirrored, ndtri_pieces(draw))


def launch_group(
    tensors: Sequence[torch.Tensor],
    keys: Sequence[tuple[int, int]],
    draws: Sequence[Draw],
    streams: Sequence[int],
    signature: tuple[torch.dtype, int, bool, int],
) -> None:
    """One launch filling whole contiguous ``tensors`` that share ``signature``."""
    dtype, kind, mirrored, pieces = signature
    device = tensors[0].device
    programs = [math.ceil((t.numel() + 3) // 4 / BLOCK) for t in tensors]
    prog_starts = torch.tensor([0, *itertools.accumulate(programs)], dtype=torch.int64)
    ints = torch.tensor(
        [
            [t.data_ptr(), t.numel(), k0, k1, s & MASK32]
            for t, (k0, k1), s in zip(tensors, keys, streams, strict=True)
        ],
        dtype=torch.int64,
    )
    floats = torch.tensor(
        [[d.p0, d.p1, d.p2, d.p3, d.clamp_low, d.clamp_high] for d in draws], dtype=torch.float32
    )
    _fill_group[(int(prog_starts[-1]),)](
        prog_starts.to(device), len(tensors), ints.to(device), floats.to(device),
        _coefficients(device), OUT_DTYPE=_TL_DTYPES[dtype], KIND=kind, MIRRORED=mirrored,
        PIECES=pieces, BLOCK_SIZE=BLOCK,
        **({} if interpreted() else {"enable_fp_fusion": False}),
    )  # fmt: skip
