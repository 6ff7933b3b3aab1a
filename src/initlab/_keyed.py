"""Keyed, counter-based randomness: every value is a pure function of (seed, name, index).

The generator is Philox4x32-10 (Salmon, Moraes, Dror and Shaw, 2011, "Parallel Random
Numbers: As Easy as 1, 2, 3"), checked against the Random123 known-answer vectors.

Exact mapping (the contract every backend — torch reference, numba, Triton — follows):

* **Key.** ``(k0, k1)`` = the 64-bit BLAKE2b digest (little-endian halves) of the seed as
  8 little-endian bytes followed by the UTF-8 parameter name, personalised
  ``b"initlab-keyed-v1"``. Python's ``hash()`` is salted per process, so it is never used.
* **Counter.** Element ``e`` (row-major index in the logical, unsharded tensor passed to the
  sampler) uses Philox block ``b = e // 4`` and word ``j = e % 4`` of the output of
  counter ``(b mod 2^32, b div 2^32, stream, 0)``. ``stream`` counts the sampler's calls,
  so successive calls on one sampler (packed chunks, sparse's values then mask) are
  independent sub-streams.
* **Uniform.** ``u = (word >> 8) * 2^-24`` in [0, 1), exact in fp32;
  ``value = low + u * (high - low)`` in fp32.
* **Normal.** Box–Muller on the word pairs (0, 1) and (2, 3) of each block, so one Philox
  call gives four normals: ``r = sqrt(-2 ln(1 - u_even))``, ``θ = 2π u_odd``; word 0/2 gets
  ``r cos θ``, word 1/3 gets ``r sin θ``. ``|z| <= sqrt(48 ln 2) = 5.77``.
* **Truncated normal.** One pass by inverse CDF: ``p = Φ(α) + u (Φ(β) - Φ(α))``,
  ``z = Φ⁻¹(p)``, with the interval mirrored into the lower tail where Φ keeps its relative
  precision, then clamped into the bounds (so every value lies inside them). Φ(α), Φ(β) are
  computed in fp64 on the host; everything per element is fp32.
* **dtype.** Values are computed in fp32 and rounded once to the target dtype.

fp32 math uses only correctly rounded IEEE operations (+, -, ×, ÷, sqrt — see
:func:`sqrt_rn` —, floor, exact frexp), with this module's own polynomials for ``ln``,
``sin``/``cos`` and ``Φ⁻¹``, so every backend gives bit-identical floats — not just
bit-identical words — on any device and any shard layout (Triton kernels are compiled with
FMA contraction off for the same reason).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from initlab._sampling import inward_bounds, trunc_normal_cdf_range

__all__ = [
    "Draw",
    "KeyedSampler",
    "derive_key",
    "keyed_values",
    "keyed_words",
    "named_samplers",
    "orthogonal_batched_",
    "philox4x32_10",
]

MASK32 = 0xFFFFFFFF
# Philox4x32 round multipliers and Weyl key increments (Salmon et al. 2011, table 2).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10
KEY_PERSON = b"initlab-keyed-v1"
MAX_SEED = 2**64 - 1
# Elements per generated piece: large enough to amortize op launches, small enough for L2.
PIECE_ELEMENTS = 1 << 16


def f32(value: float) -> float:
    """``value`` rounded to the nearest fp32 (as a Python float)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


# ln2 split so that e * LN2_HI is exact for every fp32 exponent (Cody & Waite 1980).
LN2_HI = 0.693359375
LN2_LO = f32(math.log(2.0) - LN2_HI)
SQRT_HALF = f32(math.sqrt(0.5))
# atanh series: ln(1 + f) = 2s(1 + s²/3 + s⁴/5 + ...), s = f / (2 + f), |s| <= 0.1716.
LOG_COEFFS = tuple(f32(1.0 / k) for k in (11, 9, 7, 5, 3))
QUARTER_PI = f32(math.pi / 4)
# Taylor coefficients of sin and cos on [0, π/4] (truncation error < 2e-9).
SIN_COEFFS = tuple(f32((-1) ** k / math.factorial(2 * k + 1)) for k in (4, 3, 2, 1))
COS_COEFFS = tuple(f32((-1) ** k / math.factorial(2 * k)) for k in (5, 4, 3, 2, 1))
# Single-precision erfinv of Giles (2011, "Approximating the erfinv function"), in w = -ln(1-x²).
ERFINV_CENTRAL = tuple(f32(c) for c in (
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
    -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
))  # fmt: skip
ERFINV_TAIL = tuple(f32(c) for c in (
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
    -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
))  # fmt: skip
# Beyond Giles' fitted range (w >= 16, p < 1e-7): our least-squares fit of erfinv(x)/x in
# sqrt(w) - 6 over w in [16, 72] against scipy.special.ndtri (max relative error 3.5e-8).
ERFINV_DEEP = tuple(f32(c) for c in (
    3.70894260e-08, -2.78067977e-07, 1.16422745e-06, -5.13829686e-06, 2.13898244e-05,
    -4.31752079e-05, -0.000472680802, 1.00960520, 5.85991312,
))  # fmt: skip
DEEP_TAIL_W = 16.0
SQRT2 = f32(math.sqrt(2.0))
# Smallest CDF value fed to Φ⁻¹ (z ≈ -11.9): keeps every intermediate a normal fp32.
MIN_CDF = 2.0**-100
TWO_POW_M24 = 2.0**-24

KIND_UNIFORM, KIND_NORMAL, KIND_TRUNC = 0, 1, 2


# --------------------------------------------------------------------------- Philox


def _mulhilo(multiplier: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """High and low 32-bit halves of ``multiplier * x`` for uint32 values held in int64.

    The 64-bit product overflows signed int64, so split the multiplier into 16-bit limbs:
    each partial product stays below 2^48.
    """
    low_part = x * (multiplier & 0xFFFF)
    high_part = x * (multiplier >> 16)
    total = low_part + ((high_part & 0xFFFF) << 16)
    return (high_part >> 16) + (total >> 32), total & MASK32


def philox4x32_10(
    counter: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    key: tuple[int, int],
    rounds: int = PHILOX_ROUNDS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Philox4x32 on int64 tensors holding uint32 words (the pure-torch reference).

    >>> zero = torch.zeros(1, dtype=torch.int64)
    >>> [hex(int(w)) for w in philox4x32_10((zero, zero, zero, zero), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(rounds):
        hi0, lo0 = _mulhilo(PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0, k1 = (k0 + PHILOX_W0) & MASK32, (k1 + PHILOX_W1) & MASK32
    return c0, c1, c2, c3


def derive_key(seed: int, name: str = "") -> tuple[int, int]:
    """The Philox key of a parameter: BLAKE2b-64 of (seed, qualified name).

    >>> derive_key(0, "w") == derive_key(0, "w") != derive_key(1, "w")
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed={seed!r} must be an int in [0, 2**64 - 1]")
    digest = hashlib.blake2b(
        seed.to_bytes(8, "little") + name.encode("utf-8"), digest_size=8, person=KEY_PERSON
    ).digest()
    value = int.from_bytes(digest, "little")
    return value & MASK32, value >> 32


def _block_words(
    blocks: torch.Tensor, key: tuple[int, int], stream: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four Philox words of each block index (int64 tensor)."""
    c0 = blocks & MASK32
    c1 = blocks >> 32
    c2 = torch.full_like(blocks, stream & MASK32)
    return philox4x32_10((c0, c1, c2, torch.zeros_like(blocks)), key)


# ------------------------------------------------------- fp32 math from exact operations


def _horner(x: torch.Tensor, coeffs: Iterable[float]) -> torch.Tensor:
    """Evaluate a polynomial by Horner's rule with separate (never fused) mul and add."""
    it = iter(coeffs)
    acc = torch.full_like(x, next(it))
    for c in it:
        acc = acc.mul_(x).add_(c)
    return acc


def sqrt_rn(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded fp32 sqrt of non-negative fp32 values.

    torch's CPU fp32 ``sqrt`` is a vectorized approximation (about 15 % of results one ulp
    off here), so take the fp64 root, round, and fix the rounding with exact fp64 tests
    against the neighbouring midpoints (a midpoint squared has at most 50 bits).
    """
    y = torch.sqrt(x.double()).float()
    x64 = x.double()
    up = torch.nextafter(y, torch.full_like(y, math.inf))
    y = torch.where(((y.double() + up.double()) * 0.5).square() < x64, up, y)
    down = torch.nextafter(y, torch.zeros_like(y))
    return torch.where(((y.double() + down.double()) * 0.5).square() > x64, down, y)


def log_f32(x: torch.Tensor) -> torch.Tensor:
    """Natural log of positive normal fp32 values, built only from exact IEEE operations.

    >>> float(log_f32(torch.tensor([0.5])))
    -0.6931471...
    """
    mant, expo = torch.frexp(x)  # exact: mant in [0.5, 1)
    small = mant < SQRT_HALF
    mant = torch.where(small, mant * 2.0, mant)
    e = (expo - small.to(expo.dtype)).to(torch.float32)
    f = mant - 1.0  # exact by Sterbenz' lemma
    s = f / (f + 2.0)
    z = s * s
    r = _horner(z, (*LOG_COEFFS, 0.0))  # z/3 + z²/5 + ...: the series after its leading 1
    h = s + s
    log_m = h + h * r
    return e * LN2_HI + (e * LN2_LO + log_m)


def sincos_turns_f32(turns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos 2πt, sin 2πt) for t in [0, 1) with dyadic t, by exact octant reduction.

    >>> c, s = sincos_turns_f32(torch.tensor([0.125]))
    >>> round(float(c), 6), round(float(s), 6)
    (0.707107, 0.707107)
    """
    scaled = turns * 8.0
    octant = torch.floor(scaled)
    frac = scaled - octant  # exact: both are multiples of 2^-21 below 8
    odd = torch.remainder(octant, 2.0) == 1.0
    angle = torch.where(odd, 1.0 - frac, frac) * QUARTER_PI
    a2 = angle * angle
    sin_a = _horner(a2, (*SIN_COEFFS, 1.0)).mul_(angle)
    cos_a = _horner(a2, (*COS_COEFFS, 1.0))
    quadrant = torch.remainder(torch.floor((octant + 1.0) * 0.5), 4.0)
    # θ = quadrant·π/2 ± angle; sign is − for odd octants.
    signed_sin = torch.where(odd, -sin_a, sin_a)
    swap = torch.remainder(quadrant, 2.0) == 1.0
    cos_t = torch.where(swap, -signed_sin, cos_a)
    sin_t = torch.where(swap, cos_a, signed_sin)
    flip = quadrant >= 2.0
    return torch.where(flip, -cos_t, cos_t), torch.where(flip, -sin_t, sin_t)


def ndtri_f32(p: torch.Tensor) -> torch.Tensor:
    """Φ⁻¹(p) for fp32 p in [MIN_CDF, 1), via Giles' erfinv with w = -ln(4p(1-p)).

    Writing 1 - x² as 4p(1-p) keeps full relative precision in the lower tail; relative
    error below 5e-7 over the whole range (tested against scipy).

    >>> round(float(ndtri_f32(torch.tensor([0.975]))), 5)
    1.95996
    """
    q = 1.0 - p
    w = log_f32(p * q * 4.0).neg_()
    central = _horner(w - 2.5, ERFINV_CENTRAL)
    root_w = sqrt_rn(w)
    tail = _horner(root_w - 3.0, ERFINV_TAIL)
    deep = _horner(root_w - 6.0, ERFINV_DEEP)
    poly = torch.where(w < 5.0, central, torch.where(w < DEEP_TAIL_W, tail, deep))
    erfinv = poly * (p * 2.0 - 1.0)
    return erfinv * SQRT2


# ------------------------------------------------------------- words -> fp32 values


@dataclass(frozen=True)
class Draw:
    """One distribution, as the fp32 constants every backend uses (see the module docstring).

    Build with :meth:`uniform`, :meth:`normal` or :meth:`trunc_normal`.
    """

    kind: int
    p0: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    p3: float = 0.0
    clamp_low: float = -math.inf
    clamp_high: float = math.inf
    mirrored: bool = False

    @classmethod
    def uniform(cls, low: float, high: float) -> Draw:
        return cls(KIND_UNIFORM, f32(low), f32(high - low))

    @classmethod
    def normal(cls, mean: float, std: float) -> Draw:
        return cls(KIND_NORMAL, f32(mean), f32(std))

    @classmethod
    def trunc_normal(cls, mean: float, std: float, low: float, high: float) -> Draw:
        if not std > 0 or not low < high:
            raise ValueError(f"need std > 0 and low < high, got std={std}, [{low}, {high}]")
        cdf_low, cdf_high, mirrored = trunc_normal_cdf_range(
            (low - mean) / std, (high - mean) / std
        )
        clamp_low, clamp_high = inward_bounds(low, high, torch.float32)
        return cls(
            KIND_TRUNC, f32(mean), f32(std), f32(cdf_low), f32(cdf_high - cdf_low),
            clamp_low, clamp_high, mirrored,
        )  # fmt: skip


def uniform24(words: torch.Tensor) -> torch.Tensor:
    """Map uint32 words to fp32 in [0, 1) with 24 random bits (exact in fp32)."""
    return (words >> 8).to(torch.float32).mul_(TWO_POW_M24)


def values_from_words(
    words: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], draw: Draw
) -> torch.Tensor:
    """The four fp32 values of each Philox block, stacked on a new last axis."""
    u = [uniform24(w) for w in words]
    if draw.kind == KIND_UNIFORM:
        out = [x.mul_(draw.p1).add_(draw.p0) for x in u]
    elif draw.kind == KIND_NORMAL:
        out = []
        for even, odd in ((u[0], u[1]), (u[2], u[3])):
            radius = sqrt_rn(log_f32(1.0 - even).mul_(-2.0))
            cos_t, sin_t = sincos_turns_f32(odd)
            out += [(radius * t).mul_(draw.p1).add_(draw.p0) for t in (cos_t, sin_t)]
    else:
        out = [_trunc_from_uniform(x, draw) for x in u]
    return torch.stack(out, dim=-1)


def _trunc_from_uniform(u: torch.Tensor, draw: Draw) -> torch.Tensor:
    p = u.mul_(draw.p3).add_(draw.p2).clamp_(min=MIN_CDF)
    z = ndtri_f32(p)
    if draw.mirrored:
        z = z.neg_()
    return z.mul_(draw.p1).add_(draw.p0).clamp_(draw.clamp_low, draw.clamp_high)


# ------------------------------------------------------------ index layouts -> values


def _pieces(rows: int, length: int) -> Iterator[tuple[int, int, int, int]]:
    """Split an (rows, length) output into (row0, row1, col0, col1) pieces of bounded size."""
    cols_per = max(4, min(length, PIECE_ELEMENTS) // 4 * 4)
    rows_per = max(1, PIECE_ELEMENTS // max(length, 1))
    for r0 in range(0, rows, rows_per):
        for c0 in range(0, length, cols_per):
            yield r0, min(rows, r0 + rows_per), c0, min(length, c0 + cols_per)


def _torch_runs(
    key: tuple[int, int], stream: int, draw: Draw, starts: torch.Tensor, length: int
) -> torch.Tensor:
    """Reference: values of flat indices ``starts[r] + [0, length)`` as an (R, length) fp32."""
    first = starts >> 2
    lane = starts & 3
    n_blocks = (int(lane.max()) + length + 3) // 4
    blocks = first[:, None] + torch.arange(n_blocks, device=starts.device)
    vals = values_from_words(_block_words(blocks, key, stream), draw).reshape(len(starts), -1)
    if len(starts) == 1:
        offset = int(lane[0])
        return vals[:, offset : offset + length]
    cols = lane[:, None] + torch.arange(length, device=starts.device)
    return vals.gather(1, cols)


def keyed_runs(
    key: tuple[int, int],
    stream: int,
    draw: Draw,
    starts: torch.Tensor,
    length: int,
    backend: str = "auto",
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """fp32 values of flat element indices ``starts[r] + j`` for j < ``length`` → (R, length).

    ``backend`` is ``"auto"`` (numba for large CPU outputs when installed, else torch),
    ``"torch"`` or ``"numba"``. All give bit-identical values, so the choice may depend on size.
    ``out``, if given, is written in place (a contiguous fp32 (R, length) tensor).
    """
    if out is None:
        out = torch.empty((len(starts), length), dtype=torch.float32, device=starts.device)
    if out.shape != (len(starts), length) or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous fp32 ({len(starts)}, {length}) tensor")
    if out.numel() == 0:
        return out
    if backend not in ("auto", "torch", "numba"):
        raise ValueError(f"backend={backend!r} is not one of 'auto', 'torch', 'numba'")
    if backend == "numba" or (backend == "auto" and _numba_wanted(out)):
        return _numba_fill(out, key, stream, draw, starts)
    for r0, r1, c0, c1 in _pieces(len(starts), length):
        out[r0:r1, c0:c1] = _torch_runs(key, stream, draw, starts[r0:r1] + c0, c1 - c0)
    return out


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


def keyed_words(
    key: tuple[int, int], stream: int, start: int, count: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """uint32 words (in int64) of flat indices [start, start + count): the bit-level contract."""
    if torch.device(device).type == "cpu" and count >= NUMBA_MIN_ELEMENTS and numba_available():
        return numba_words(key, stream, start, count)
    first, last = start // 4, (start + count + 3) // 4
    blocks = torch.arange(first, last, dtype=torch.int64, device=device)
    words = torch.stack(_block_words(blocks, key, stream), dim=-1).reshape(-1)
    return words[start - 4 * first : start - 4 * first + count]


# ------------------------------------------------------------ numba (optional, CPU)
# The same arithmetic as the torch reference, written per element so one parallel loop runs
# on all cores. Every constant is an np.float32 / np.uint64 so no op silently widens to fp64.

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
# Below this many elements the torch path is as fast and needs no JIT compile.
NUMBA_MIN_ELEMENTS = 1 << 12
NUMBA_PARALLEL_MIN = 1 << 22  # elements; smaller outputs use the serial kernels
NUMBA_CHUNK = 512  # Philox blocks per chunk: 2048 values, L1-resident scratch
_numba_state: dict[str, object] = {}
_prange = range  # rebound to numba.prange when the kernels are compiled


def _nb_philox(c0, c1, c2, c3, k0, k1):
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


def _nb_horner(x, coeffs):
    acc = coeffs[0]
    for c in coeffs[1:]:
        acc = acc * x + c
    return acc


def _nb_log(x):
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
    r = _nb_horner(s * s, _NB_LOG)
    h = s + s
    return e * _F(LN2_HI) + (e * _F(LN2_LO) + (h + h * r))


def _nb_sincos(turns):
    scaled = turns * _F(8.0)
    octant = np.floor(scaled)
    frac = scaled - octant
    oct_i = int(octant)
    odd = oct_i & 1
    angle = ((_NB_ONE - frac) if odd else frac) * _F(QUARTER_PI)
    a2 = angle * angle
    sin_a = _nb_horner(a2, _NB_SIN) * angle
    cos_a = _nb_horner(a2, _NB_COS)
    signed_sin = -sin_a if odd else sin_a
    quadrant = ((oct_i + 1) >> 1) & 3
    cos_t, sin_t = (-signed_sin, cos_a) if quadrant & 1 else (cos_a, signed_sin)
    return (-cos_t, -sin_t) if quadrant >= 2 else (cos_t, sin_t)


def _nb_ndtri(p):
    # Branch-free (all three polynomials, then selects) so the loop vectorizes.
    w = -_nb_log((p * (_NB_ONE - p)) * _F(4.0))
    root_w = np.sqrt(w)
    central = _nb_horner(w - _F(2.5), _NB_CENTRAL)
    tail = _nb_horner(root_w - _F(3.0), _NB_TAIL)
    deep = _nb_horner(root_w - _F(6.0), _NB_DEEP)
    poly = central if w < _F(5.0) else (tail if w < _F(DEEP_TAIL_W) else deep)
    return (poly * (p * _NB_TWO - _NB_ONE)) * _F(SQRT2)


def _nb_u24(word):
    return _F(word >> np.uint64(8)) * _F(TWO_POW_M24)


def _nb_trunc(u, params):
    p = max(u * params[3] + params[2], _F(MIN_CDF))
    z = _nb_ndtri(p)
    z = -z if params[7] != _NB_ZERO else z
    return min(max(z * params[1] + params[0], params[4]), params[5])


def _nb_block(w0, w1, w2, w3, kind, params):
    u0, u1, u2, u3 = _nb_u24(w0), _nb_u24(w1), _nb_u24(w2), _nb_u24(w3)
    if kind == KIND_UNIFORM:
        a, b = params[1], params[0]
        return u0 * a + b, u1 * a + b, u2 * a + b, u3 * a + b
    if kind == KIND_NORMAL:
        r0 = np.sqrt(_nb_log(_NB_ONE - u0) * _F(-2.0))
        r1 = np.sqrt(_nb_log(_NB_ONE - u2) * _F(-2.0))
        c0, s0 = _nb_sincos(u1)
        c1, s1 = _nb_sincos(u3)
        m, sd = params[0], params[1]
        return (r0 * c0) * sd + m, (r0 * s0) * sd + m, (r1 * c1) * sd + m, (r1 * s1) * sd + m
    return (
        _nb_trunc(u0, params),
        _nb_trunc(u1, params),
        _nb_trunc(u2, params),
        _nb_trunc(u3, params),
    )


def _nb_store(out, row, col, value):
    if 0 <= col < out.shape[1]:
        out[row, col] = value


def _nb_fill(out, starts, k0, k1, stream, kind, params):
    length = out.shape[1]
    per_row = (3 + length + 3) // 4
    for t in _prange(out.shape[0] * per_row):
        row = t // per_row
        lane = starts[row] & 3
        col = (t % per_row) * 4 - lane
        if col >= length:
            continue
        block = np.uint64((starts[row] >> 2) + t % per_row)
        w = _nb_philox(block & _U32, block >> _SHIFT32, stream, np.uint64(0), k0, k1)
        v = _nb_block(w[0], w[1], w[2], w[3], kind, params)
        _nb_store(out, row, col, v[0])
        _nb_store(out, row, col + 1, v[1])
        _nb_store(out, row, col + 2, v[2])
        _nb_store(out, row, col + 3, v[3])


def _nb_philox_chunk(w0, w1, w2, w3, first_block, count, stream, ks0, ks1):
    """Philox of ``count`` consecutive blocks into four uint32 arrays (precomputed key schedule).

    Straight-line code with the round loop unrolled and uint32 storage (so the products are
    32x32->64): LLVM vectorizes it.
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


def _nb_chunk_values(w0, w1, w2, w3, count, vals, kind, p0, p1, p2, p3, lo, hi, mirrored):
    """fp32 values of ``count`` blocks in element order; scalar parameters (no aliasing) and
    simple loops, so LLVM vectorizes them."""
    if kind == KIND_UNIFORM:
        for i in range(count):
            vals[4 * i] = _nb_u24(np.uint64(w0[i])) * p1 + p0
            vals[4 * i + 1] = _nb_u24(np.uint64(w1[i])) * p1 + p0
            vals[4 * i + 2] = _nb_u24(np.uint64(w2[i])) * p1 + p0
            vals[4 * i + 3] = _nb_u24(np.uint64(w3[i])) * p1 + p0
    elif kind == KIND_NORMAL:
        for i in range(count):
            vals[4 * i] = np.sqrt(_nb_log(_NB_ONE - _nb_u24(np.uint64(w0[i]))) * _F(-2.0))
            vals[4 * i + 2] = np.sqrt(_nb_log(_NB_ONE - _nb_u24(np.uint64(w2[i]))) * _F(-2.0))
        for i in range(count):
            cos0, sin0 = _nb_sincos(_nb_u24(np.uint64(w1[i])))
            cos1, sin1 = _nb_sincos(_nb_u24(np.uint64(w3[i])))
            r0, r1 = vals[4 * i], vals[4 * i + 2]
            vals[4 * i] = (r0 * cos0) * p1 + p0
            vals[4 * i + 1] = (r0 * sin0) * p1 + p0
            vals[4 * i + 2] = (r1 * cos1) * p1 + p0
            vals[4 * i + 3] = (r1 * sin1) * p1 + p0
    else:
        params = (p0, p1, p2, p3, lo, hi, _NB_ZERO, mirrored)
        for i in range(count):
            vals[4 * i] = _nb_trunc(_nb_u24(np.uint64(w0[i])), params)
            vals[4 * i + 1] = _nb_trunc(_nb_u24(np.uint64(w1[i])), params)
            vals[4 * i + 2] = _nb_trunc(_nb_u24(np.uint64(w2[i])), params)
            vals[4 * i + 3] = _nb_trunc(_nb_u24(np.uint64(w3[i])), params)


def _nb_fill_flat(out, first_block, stream, ks0, ks1, kind, params):
    """Fast path for one aligned run: chunks of blocks, a Philox pass then a transform pass
    writing straight into ``out`` (a scratch buffer only for the ragged last chunk)."""
    n = out.shape[0]
    n_blocks = (n + 3) // 4
    n_chunks = (n_blocks + NUMBA_CHUNK - 1) // NUMBA_CHUNK
    p0, p1, p2, p3, lo, hi, mirrored = (params[0], params[1], params[2], params[3],
                                        params[4], params[5], params[7])  # fmt: skip
    for c in _prange(n_chunks):
        b0 = c * NUMBA_CHUNK
        count = min(NUMBA_CHUNK, n_blocks - b0)
        w0 = np.empty(count, np.uint32)
        w1 = np.empty(count, np.uint32)
        w2 = np.empty(count, np.uint32)
        w3 = np.empty(count, np.uint32)
        _nb_philox_chunk(w0, w1, w2, w3, np.uint64(first_block + b0), count, stream, ks0, ks1)
        if 4 * (b0 + count) <= n:
            dest = out[4 * b0 : 4 * (b0 + count)]
            _nb_chunk_values(w0, w1, w2, w3, count, dest, kind, p0, p1, p2, p3, lo, hi, mirrored)
        else:
            vals = np.empty(4 * count, np.float32)
            _nb_chunk_values(w0, w1, w2, w3, count, vals, kind, p0, p1, p2, p3, lo, hi, mirrored)
            out[4 * b0 :] = vals[: n - 4 * b0]


def _nb_fill_flat_bf16(out, first_block, stream, ks0, ks1, kind, params):
    """:func:`_nb_fill_flat` writing bf16 bits (uint16), rounded to nearest even from fp32.

    Same result as ``fp32_values.to(torch.bfloat16)`` (values are finite), one pass.
    """
    n = out.shape[0]
    n_blocks = (n + 3) // 4
    n_chunks = (n_blocks + NUMBA_CHUNK - 1) // NUMBA_CHUNK
    p0, p1, p2, p3, lo, hi, mirrored = (params[0], params[1], params[2], params[3],
                                        params[4], params[5], params[7])  # fmt: skip
    for c in _prange(n_chunks):
        b0 = c * NUMBA_CHUNK
        count = min(NUMBA_CHUNK, n_blocks - b0)
        w0 = np.empty(count, np.uint32)
        w1 = np.empty(count, np.uint32)
        w2 = np.empty(count, np.uint32)
        w3 = np.empty(count, np.uint32)
        _nb_philox_chunk(w0, w1, w2, w3, np.uint64(first_block + b0), count, stream, ks0, ks1)
        vals = np.empty(4 * count, np.float32)
        _nb_chunk_values(w0, w1, w2, w3, count, vals, kind, p0, p1, p2, p3, lo, hi, mirrored)
        bits = vals.view(np.uint32)
        for i in range(min(4 * count, n - 4 * b0)):
            b = bits[i]
            out[4 * b0 + i] = np.uint16(
                (b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
            )


def _key_schedule(key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The ten round keys of Philox4x32-10 (key + r * Weyl constant, mod 2^32)."""
    rounds = range(PHILOX_ROUNDS)
    ks0 = np.array([(key[0] + r * PHILOX_W0) & MASK32 for r in rounds], dtype=np.uint64)
    ks1 = np.array([(key[1] + r * PHILOX_W1) & MASK32 for r in rounds], dtype=np.uint64)
    return ks0, ks1


def _nb_words(out, start, k0, k1, stream):
    first = start >> 2
    lane = start & 3
    for t in _prange((out.shape[0] + lane + 3) // 4):
        block = np.uint64(first + t)
        w = _nb_philox(block & _U32, block >> _SHIFT32, stream, np.uint64(0), k0, k1)
        for j in range(4):
            idx = t * 4 + j - lane
            if 0 <= idx < out.shape[0]:
                out[idx] = w[j]


def numba_available() -> bool:
    """Whether the optional numba backend imports (``pip install numba``)."""
    return importlib.util.find_spec("numba") is not None


_NB_HELPERS = (
    "_nb_philox",
    "_nb_horner",
    "_nb_log",
    "_nb_sincos",
    "_nb_ndtri",
    "_nb_u24",
    "_nb_trunc",
    "_nb_block",
    "_nb_store",
    "_nb_philox_chunk",
    "_nb_chunk_values",
)


_NB_INLINE = ("_nb_philox_chunk", "_nb_chunk_values")


def _numba_kernels() -> dict[str, object]:
    """JIT the helpers once (cached on disk), rebinding the module names numba resolves."""
    if not _numba_state:
        import numba as nb

        module = globals()
        module["_prange"] = nb.prange
        for name in _NB_HELPERS:
            # Inlined at numba IR level so LLVM sees whole loops with their local arrays
            # (no aliasing doubts) and can vectorize them.
            jit = nb.njit(
                cache=True,
                error_model="numpy",
                inline="always" if name in _NB_INLINE else "never",
            )
            module[name] = jit(module[name])
        kernels: dict[str, Any] = {
            "fill": _nb_fill,
            "words": _nb_words,
            "flat": _nb_fill_flat,
            "flat_bf16": _nb_fill_flat_bf16,
        }
        for name, kernel in kernels.items():
            _numba_state[name] = nb.njit(parallel=True, cache=True, error_model="numpy")(kernel)
    return _numba_state


def _numba_call(name: str, numel: int, *args: object) -> None:
    """Run a parallel kernel, on one thread below NUMBA_PARALLEL_MIN elements.

    Waking the pool costs more than it saves on small tensors, and on a busy machine one
    descheduled worker stalls every parallel call (measured here: a 20 M-parameter model
    initialized 3.4x faster with one thread for its 512x512 matrices on 2 loaded cores).
    """
    kernel: Any = _numba_kernels()[name]
    if numel >= NUMBA_PARALLEL_MIN:
        kernel(*args)
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        kernel(*args)
    finally:
        numba.set_num_threads(before)


def _numba_wanted(out: torch.Tensor) -> bool:
    return out.device.type == "cpu" and out.numel() >= NUMBA_MIN_ELEMENTS and numba_available()


def _numba_params(draw: Draw) -> np.ndarray:
    values = (
        draw.p0,
        draw.p1,
        draw.p2,
        draw.p3,
        draw.clamp_low,
        draw.clamp_high,
        0.0,
        draw.mirrored,
    )
    return np.array(values, dtype=np.float32)


def _numba_fill(
    out: torch.Tensor, key: tuple[int, int], stream: int, draw: Draw, starts: torch.Tensor
) -> torch.Tensor:
    if out.device.type != "cpu":
        raise ValueError(f"the numba backend runs on CPU tensors only, got device {out.device}")
    u64 = np.uint64
    params = _numba_params(draw)
    if len(starts) == 1 and int(starts[0]) % 4 == 0:
        ks0, ks1 = _key_schedule(key)
        first = int(starts[0]) // 4
        flat_out = out.view(-1).numpy()
        _numba_call("flat", out.numel(), flat_out, first, u64(stream & MASK32), ks0, ks1,
                    draw.kind, params)  # fmt: skip
        return out
    _numba_call("fill", out.numel(), out.numpy(), starts.cpu().numpy(), u64(key[0]),
                u64(key[1]), u64(stream & MASK32), draw.kind, params)  # fmt: skip
    return out


def fill_bf16_numba_(
    out: torch.Tensor, key: tuple[int, int], stream: int, draw: Draw, start: int
) -> bool:
    """Write keyed values of flat indices [start, start + numel) into a contiguous CPU bf16
    tensor in one pass (no fp32 temporary). Returns False when this path does not apply."""
    applies = (
        out.dtype == torch.bfloat16
        and out.device.type == "cpu"
        and out.is_contiguous()
        and start % 4 == 0
        and _numba_wanted(out)
    )
    if applies:
        ks0, ks1 = _key_schedule(key)
        bits = out.view(-1).view(torch.int16).numpy().view(np.uint16)
        _numba_call("flat_bf16", out.numel(), bits, start // 4, np.uint64(stream & MASK32),
                    ks0, ks1, draw.kind, _numba_params(draw))  # fmt: skip
    return applies


def numba_words(key: tuple[int, int], stream: int, start: int, count: int) -> torch.Tensor:
    """:func:`keyed_words` computed by the numba backend (for cross-checking the two)."""
    out = np.empty(count, dtype=np.uint64)
    u64 = np.uint64
    _numba_call("words", count, out, start, u64(key[0]), u64(key[1]), u64(stream & MASK32))
    return torch.from_numpy(out.astype(np.int64))


# ------------------------------------------------------------------------ the sampler


class KeyedSampler:
    """A :class:`~initlab.Sampler` whose values depend only on (seed, name, call, index).

    Each method call uses the next sub-stream (``stream`` counts calls), and element ``e``
    of the tensor passed uses counter ``e`` — for a DTensor, its index in the global tensor,
    so every shard layout gives the same global values. The global RNG is never touched.

    >>> import initlab
    >>> w = torch.empty(2, 3)
    >>> _ = KeyedSampler(0, "fc.weight").normal_(w, 0.0, 1.0)
    >>> v = KeyedSampler(0, "fc.weight").normal_(torch.empty(2, 3), 0.0, 1.0)
    >>> bool(torch.equal(w, v)), isinstance(KeyedSampler(0), initlab.Sampler)
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
        from initlab._distributed import fill_keyed

        with torch.no_grad():
            return fill_keyed(tensor, self.key, stream, draw)

    def uniform_(self, tensor: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return self._fill(tensor, Draw.uniform(low, high))

    def normal_(self, tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
        return self._fill(tensor, Draw.normal(mean, std))

    def trunc_normal_(
        self, tensor: torch.Tensor, mean: float, std: float, low: float, high: float
    ) -> torch.Tensor:
        self._fill(tensor, Draw.trunc_normal(mean, std, low, high))
        if tensor.dtype != torch.float32 and tensor.device.type != "meta":
            # Rounding to a narrower dtype can step just past a bound: pull it back inside.
            with torch.no_grad():
                tensor.clamp_(*inward_bounds(low, high, tensor.dtype))
        return tensor

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


def orthogonal_batched_(
    tensors: Sequence[torch.Tensor], samplers: Sequence[KeyedSampler], gain: float = 1.0
) -> None:
    """Orthogonal init of many matrices: keyed Gaussians, one batched fp32 QR per shape.

    Each matrix draws from its own sampler (as ``initlab.orthogonal_`` would), then all
    matrices of one shape are factored in one ``torch.linalg.qr`` call, with the sign fix of
    Mezzadri (2007) for Haar-uniform Q. Low-precision tensors are factored in fp32 and
    rounded once.

    >>> ws = [torch.empty(4, 6) for _ in range(3)]
    >>> orthogonal_batched_(ws, [KeyedSampler(0, f"w{i}") for i in range(3)])
    >>> torch.allclose(ws[0] @ ws[0].T, torch.eye(4), atol=1e-5)
    True
    """
    by_shape: dict[tuple[tuple[int, ...], torch.device], list[int]] = {}
    for i, tensor in enumerate(tensors):
        if tensor.dim() < 2:
            raise ValueError(
                f"orthogonal_batched_ needs >= 2-D tensors, got shape {tuple(tensor.shape)} at {i}"
            )
        by_shape.setdefault((tuple(tensor.shape), tensor.device), []).append(i)
    for (shape, device), members in by_shape.items():
        rows, cols = shape[0], math.prod(shape) // shape[0]
        work = torch.float64 if tensors[members[0]].dtype == torch.float64 else torch.float32
        flat = torch.stack(
            [samplers[i].standard_normal((rows, cols), work, device) for i in members]
        )
        if rows < cols:
            flat = flat.transpose(1, 2)
        q, r = torch.linalg.qr(flat)
        q = q * torch.diagonal(r, dim1=1, dim2=2).sign()[:, None, :]
        if rows < cols:
            q = q.transpose(1, 2)
        with torch.no_grad():
            for j, i in enumerate(members):
                tensors[i].copy_(q[j].reshape(shape).mul_(gain))


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
