"""Philox4x32-10 and the key of a parameter: the bit-level half of the keyed contract.

The generator is Philox4x32-10 (Salmon, Moraes, Dror and Shaw, 2011, "Parallel Random
Numbers: As Easy as 1, 2, 3"), checked against the Random123 known-answer vectors.

* **Key.** ``(k0, k1)`` = the 64-bit BLAKE2b digest (little-endian halves) of the seed as
  8 little-endian bytes followed by the UTF-8 parameter name, personalised
  ``b"initlab-keyed-v1"``. Python's ``hash()`` is salted per process, so it is never used.
* **Counter.** Element ``e`` (row-major index in the logical, unsharded tensor) uses Philox
  block ``b = e // 4`` and word ``j = e % 4`` of the output of counter
  ``(b mod 2^32, b div 2^32, stream, 0)``.

This module holds the pure-torch reference (uint32 words carried in int64 tensors); the
numba and Triton backends implement the same rounds with native 32-bit arithmetic.
"""

from __future__ import annotations

import hashlib

import torch

__all__ = [
    "MASK32",
    "PHILOX_M0",
    "PHILOX_M1",
    "PHILOX_ROUNDS",
    "PHILOX_W0",
    "PHILOX_W1",
    "block_words",
    "derive_key",
    "philox4x32_10",
    "round_keys",
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


def round_keys(key: tuple[int, int]) -> tuple[list[int], list[int]]:
    """The ten round keys of Philox4x32-10 (key + r * Weyl constant, mod 2^32)."""
    rounds = range(PHILOX_ROUNDS)
    return (
        [(key[0] + r * PHILOX_W0) & MASK32 for r in rounds],
        [(key[1] + r * PHILOX_W1) & MASK32 for r in rounds],
    )


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


def block_words(
    blocks: torch.Tensor, key: tuple[int, int], stream: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four Philox words of each block index (int64 tensor)."""
    c0 = blocks & MASK32
    c1 = blocks >> 32
    c2 = torch.full_like(blocks, stream & MASK32)
    return philox4x32_10((c0, c1, c2, torch.zeros_like(blocks)), key)
